import CostModel
import PostgresScratch
import PostgresStore
import SQLiteStore
import StorePort
import Testing

/// The budgets story on the shared database: the ledger answers as SQLite's
/// does, and two instances raising the same alert deliver it once.
@Suite("PostgreSQL alert ledger", .serialized)
struct AlertLedgerTests {
    static func alert(_ id: String, at seconds: Int64, spent: Int64 = 80_500_000_123, forecast: Int64? = 101_000_000_000) -> AlertRecord {
        AlertRecord(id: id, kind: .budget, budget: "ai", provider: .anthropic, org: "acme", workspaceID: nil, currency: "USD",
                    period: "2025-03", thresholdPercent: 80, spentNanos: spent, limitNanos: 100_000_000_000, forecastNanos: forecast,
                    text: "acme spent $80.50 of its $100.00 budget", raisedAt: fetched.adding(seconds: seconds))
    }

    /// Everything a ledger answers, in one comparable text.
    static func answers(_ ledger: any AlertLedger, now: Timestamp) async throws -> String {
        let range = DayRange(day("2025-03-01"), day("2025-03-04"))
        let spend = try await ledger.dailySpend(acme, scopeID: nil, in: range).sorted { $0.key < $1.key }
        let scoped = try await ledger.dailySpend(acme, scopeID: "wrkspc_1", in: range).sorted { $0.key < $1.key }
        return """
            spend \(spend)
            scoped \(scoped)
            pending \(try await ledger.pendingDeliveries(targets: ["ops", "slack"]))
            pending to slack only \(try await ledger.pendingDeliveries(targets: ["slack"]))
            pending to another instance's target \(try await ledger.pendingDeliveries(targets: ["ops-eu"]))
            pending to no target \(try await ledger.pendingDeliveries(targets: []))
            alerts \(try await ledger.alerts(limit: 10))
            health \(try await ledger.targetHealth(since: now.adding(seconds: -86_400)))
            """
    }

    @Test("sums, alerts, deliveries, retries and target health answer exactly as the SQLite ledger does")
    func parityWithSQLite() async throws {
        try await withStore("ledger") { pg, _ in
            let sqlite = try SQLiteCostStore.inMemory()
            let writes = [
                DayWrite(day: day("2025-03-01"), lines: [line("a", cents: "1234.5"), line("b", cents: "99", workspace: nil)], isFinal: true),
                DayWrite(day: day("2025-03-02"), lines: [], isFinal: true),
                DayWrite(day: day("2025-03-03"), lines: [line("a", cents: "0.000001")], isFinal: false),
            ]
            let stores: [any AlertLedger & CostStore] = [sqlite, pg]
            for store in stores {
                try await store.recordAttempt(acme, at: fetched, start: day("2025-03-01"))
                _ = try await store.replaceDays(writes, for: acme, fetchedAt: fetched, cursor: nil, fetch: nil)
            }
            var last: [String] = []
            // Each step runs on both stores; after each, they must agree.
            let steps: [(String, (any AlertLedger) async throws -> Void)] = [
                ("recorded", { l in
                    let new = try await l.recordIfNew(Self.alert("alert_1", at: 10), targets: ["ops", "slack"])
                    let again = try await l.recordIfNew(Self.alert("alert_1", at: 10), targets: ["ops", "slack"])
                    let untargeted = try await l.recordIfNew(Self.alert("alert_2", at: 20, forecast: nil), targets: [])
                    #expect(new && !again && untargeted, "the same id is recorded once")
                }),
                ("claimed by one dispatcher, then by another once the first one's claim ran out", { (l: any AlertLedger) async throws in
                    let claim = { (now: Int64, until: Int64) in
                        try await l.claimDelivery(alertID: "alert_1", target: "ops", now: fetched.adding(seconds: now),
                                                  until: fetched.adding(seconds: until))
                    }
                    #expect(try await claim(10, 40), "due since it was raised: the first claim gets it")
                    #expect(try await claim(20, 50) == false, "held until 40: a second dispatcher does not send it too")
                    #expect(try await claim(40, 70), "the first never reported back: after its claim it is free again")
                    #expect(try await l.claimDelivery(alertID: "alert_1", target: "pager", now: fetched.adding(seconds: 40),
                                                      until: fetched.adding(seconds: 70)) == false, "no such delivery")
                }),
                ("a failed attempt", { (l: any AlertLedger) async throws in
                    try await l.recordFailedAttempt(alertID: "alert_1", target: "ops", at: fetched.adding(seconds: 30),
                                                    error: "HTTP 500 from the receiver", nextAttemptAt: fetched.adding(seconds: 60))
                }),
                ("delivered and given up", { l in
                    try await l.markDelivered(alertID: "alert_1", target: "slack", at: fetched.adding(seconds: 40))
                    try await l.markAbandoned(alertID: "alert_1", target: "ops", at: fetched.adding(seconds: 3700),
                                              reason: "an hour of retries is over")
                    // An instance that read the slack delivery as pending before it was delivered.
                    try await l.markAbandoned(alertID: "alert_1", target: "slack", at: fetched.adding(seconds: 3700),
                                              reason: "an hour of retries is over")
                    for target in ["ops", "slack"] {
                        #expect(try await l.claimDelivery(alertID: "alert_1", target: target, now: fetched.adding(seconds: 3800),
                                                          until: fetched.adding(seconds: 3830)) == false, "\(target) is done with")
                    }
                }),
            ]
            for (name, step) in steps {
                var results: [String] = []
                for store in stores {
                    try await step(store)
                    results.append(try await Self.answers(store, now: fetched.adding(seconds: 3800)))
                }
                #expect(results[0] == results[1], "after '\(name)':\nSQLite\n\(results[0])\nPostgreSQL\n\(results[1])")
                last = results
            }
            // The story really happened: a sum, a delivery, a given-up target.
            #expect(last[1].contains("(key: 2025-03-01, value: 13335000000)"), "$12.345 + $0.99, to the nano")
            let health = try await pg.targetHealth(since: fetched)
            #expect(health.first { $0.target == "ops" }?.isFailing == true)
            #expect(health.first { $0.target == "slack" }?.isFailing == false)
            #expect(try await pg.pendingDeliveries(targets: ["ops", "slack"]).isEmpty)
            #expect(try await pg.alerts(limit: 10).first { $0.alert.id == "alert_1" }?.deliveries.first { $0.target == "slack" }?.abandonedAt == nil,
                    "a delivered delivery is not given up after the fact")
        }
    }

    @Test("two instances raising the same alert at once record it once, and claiming its delivery at once, one of them sends it")
    func racingInstances() async throws {
        try await withStore("ledger_race") { first, schema in
            let second = try await PostgresCostStore(endpoint: PGCluster.shared().endpoint(schema: schema), logger: testLogger)
            let candidates = (0..<20).map { Self.alert("alert_race_\($0)", at: Int64($0)) }
            let wins = try await withThrowingTaskGroup(of: Int.self) { group in
                for store in [first, second] {
                    group.addTask {
                        var won = 0
                        for alert in candidates where try await store.recordIfNew(alert, targets: ["ops"]) { won += 1 }
                        return won
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(wins == candidates.count, "each alert is won by exactly one instance")
            #expect(try await first.pendingDeliveries(targets: ["ops"]).count == candidates.count, "one delivery each, not two")
            // Both have a target named ops, so both dispatchers read every delivery as due.
            let now = fetched.adding(seconds: 60)
            let claims = try await withThrowingTaskGroup(of: Int.self) { group in
                for store in [first, second] {
                    group.addTask {
                        var claimed = 0
                        for alert in candidates
                        where try await store.claimDelivery(alertID: alert.id, target: "ops", now: now, until: now.adding(seconds: 30)) {
                            claimed += 1
                        }
                        return claimed
                    }
                }
                return try await group.reduce(0, +)
            }
            await second.close()
            #expect(claims == candidates.count, "each delivery is claimed by exactly one instance")
        }
    }
}
