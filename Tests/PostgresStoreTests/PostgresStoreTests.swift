import ProcessHarness
import CostModel
import Foundation
import PostgresScratch
import PostgresStore
import SQLiteStore
import StorePort
import Synchronization
import Testing

let acme = OrgKey(.anthropic, "acme")
let warehouse = OrgKey(.clickhouse, "wh")
let fetched = Timestamp(rfc3339: "2025-03-05T12:00:00Z")!

func day(_ text: String) -> Day { Day(text)! }

func line(_ key: String, cents: String, workspace: String? = "wrkspc_1") -> CostLine {
    CostLine(lineKey: key, scopeID: workspace ?? "default", item: "Claude usage \(key)",
             amount: try! Money.anthropicCents(cents), dimensions: Dimensions(workspaceID: workspace, description: "Claude usage \(key)"))
}

func chLine(_ key: String, credits: String) -> CostLine {
    CostLine(lineKey: key, scopeID: "svc-\(key)", item: "computeCHC", amount: try! Money.parse(credits),
             dimensions: Dimensions(entityType: "service", entityID: "svc-\(key)", entityName: "service \(key)", serviceID: "svc-\(key)",
                                    dataWarehouseID: "dw-1", metric: "computeCHC"))
}

/// A store on a schema of its own in the suite's cluster, closed afterwards.
func withStore<T>(_ label: String, attempts: Int = 6, _ body: (PostgresCostStore, String) async throws -> T) async throws -> T {
    let schema = freshSchema(label)
    let store = try await PostgresCostStore(endpoint: PGCluster.shared().endpoint(schema: schema), logger: testLogger, backoff: attempts)
    do {
        let value = try await body(store, schema)
        await store.close()
        return value
    } catch {
        await store.close()
        throw error
    }
}

/// Comparable projections of what each store holds, so SQLite and
/// PostgreSQL can be held to the same answers.
struct Snapshot: Equatable, CustomStringConvertible {
    var lines: [String: [StoredLine]]
    var revisions: [String]
    var state: OrgSyncState
    var nextDay: Day?
    var spend: Int64
    var final: Set<Day>
    var description: String { "lines \(lines)\nrevisions \(revisions)\nstate \(state)" }
}

func snapshot(_ store: any CostStore, lines: (Day) async throws -> [StoredLine], key: OrgKey, days: [Day], now: Timestamp) async throws -> Snapshot {
    var all: [String: [StoredLine]] = [:]
    for d in days { all[d.description] = try await lines(d) }
    let revisions = try await store.revisions(key, in: nil).map {
        "\($0.day) \($0.lineKey) \($0.change) \($0.oldAmount ?? "-")/\($0.oldNanos.map(String.init) ?? "-") → "
            + "\($0.newAmount ?? "-")/\($0.newNanos.map(String.init) ?? "-") final=\($0.wasFinal) at \($0.observedAt) fetch \($0.fetchID.map(String.init) ?? "-")"
    }
    let range = DayRange(days.min()!, days.max()!)
    return Snapshot(lines: all, revisions: revisions, state: try await store.state(of: key, since: days.min()!, now: now),
                    nextDay: try await store.nextDay(key), spend: try await store.spendNanos(key, in: range),
                    final: try await store.finalDays(key, in: range))
}

@Suite("PostgreSQL store", .serialized)
struct PostgresStoreTests {
    @Test("the same writes give the same rows, summaries, revisions, cursor and status as SQLite")
    func parityWithSQLite() async throws {
        try await withStore("parity") { pg, _ in
            let sqlite = try SQLiteCostStore.inMemory()
            let d1 = day("2025-03-01"), d2 = day("2025-03-02"), d3 = day("2025-03-03"), d4 = day("2025-03-04")
            let rule = CursorRule(limit: day("2025-03-06"))
            let mismatch = TotalMismatch(providerTotal: try Money.parse("10.5"), recordsTotal: try Money.parse("10.25"))
            // Each step: (time, writes); the cursor rule applies to all.
            let steps: [(Int64, [DayWrite])] = [
                (0, [DayWrite(day: d1, lines: [line("a", cents: "100"), line("b", cents: "200"), line("c", cents: "300")], isFinal: true),
                     DayWrite(day: d2, lines: [line("a", cents: "999")], isFinal: true),
                     DayWrite(day: d3, lines: [line("a", cents: "1.50")], isFinal: false)]),
                // A final day restated: changed, appeared, vanished, unchanged; 1.50 → 1.5 is a change of text.
                (3600, [DayWrite(day: d1, lines: [line("a", cents: "100"), line("b", cents: "250"), line("d", cents: "400")], isFinal: true),
                        DayWrite(day: d3, lines: [line("a", cents: "1.5")], isFinal: false)]),
                // An emptying answer for a final day is held, and reopens the cursor.
                (7200, [DayWrite(day: d2, lines: [], isFinal: true)]),
                // The second emptying answer confirms it.
                (10800, [DayWrite(day: d2, lines: [], isFinal: true)]),
                // A provider total that disagrees keeps the day open.
                (14400, [DayWrite(day: d4, lines: [line("z", cents: "1025", workspace: nil)], isFinal: true, mismatch: mismatch)]),
                // The same page again: nothing changes.
                (18000, [DayWrite(day: d4, lines: [line("z", cents: "1025", workspace: nil)], isFinal: true, mismatch: mismatch)]),
                (21600, [DayWrite(day: d3, lines: [line("a", cents: "1.5")], isFinal: true),
                         DayWrite(day: d4, lines: [line("z", cents: "1025", workspace: nil)], isFinal: true)]),
            ]
            try await sqlite.recordAttempt(acme, at: fetched, start: d1)
            try await pg.recordAttempt(acme, at: fetched, start: d1)
            for (offset, writes) in steps {
                let at = fetched.adding(seconds: offset)
                let fetchS = try await sqlite.beginFetch(acme, DayRange(d1, d4), kind: .poll, at: at, keepSince: fetched)
                let fetchP = try await pg.beginFetch(acme, DayRange(d1, d4), kind: .poll, at: at, keepSince: fetched)
                #expect(fetchS == fetchP)
                let s = try await sqlite.replaceDays(writes, for: acme, fetchedAt: at, cursor: rule, fetch: fetchS)
                let p = try await pg.replaceDays(writes, for: acme, fetchedAt: at, cursor: rule, fetch: fetchP)
                #expect(s == p, "step at +\(offset)s")
                try await sqlite.finishFetch(fetchS, at: at, requestIDs: ["r1"], summary: s, error: nil)
                try await pg.finishFetch(fetchP, at: at, requestIDs: ["r1"], summary: p, error: nil)
                let days = [d1, d2, d3, d4]
                let now = at.adding(seconds: 60)
                let a = try await snapshot(sqlite, lines: { try await sqlite.lines(acme, day: $0) }, key: acme, days: days, now: now)
                let b = try await snapshot(pg, lines: { try await pg.lines(acme, day: $0) }, key: acme, days: days, now: now)
                #expect(a == b, "step at +\(offset)s")
            }
            // Each kind of step above really happened.
            let revisions = try await pg.revisions(acme, in: nil)
            #expect(Set(revisions.map(\.change)) == ["changed", "appeared", "vanished"])
            #expect(try await pg.state(of: acme, since: d1, now: fetched).mismatches.isEmpty)
        }
    }

    @Test("the daily view is exact and a ClickHouse line is billed in USD rounded half-even to the nano")
    func views() async throws {
        try await withStore("views") { store, schema in
            try await store.replaceDays([DayWrite(day: day("2025-03-01"), lines: [line("a", cents: "0.000001"), line("b", cents: "41280.000000")],
                                                  isFinal: true)], for: acme, fetchedAt: fetched, cursor: nil)
            let cluster = try PGCluster.shared()
            #expect(try cluster.psql("SELECT amount_nanos, amount FROM \(schema).daily_costs") == "412800000010|412.80000001\n")
            // 0.000000003 credits × 0.5 USD = 1.5 nano-USD: half-even gives 2; 0.000000001 × 0.5 = 0.5 → 0.
            try await store.saveAccount(warehouse, ProviderAccount(id: "org-1", name: "Warehouse", creditPrice: try Money.parse("0.5")), at: fetched)
            try await store.replaceDays([DayWrite(day: day("2025-03-01"), lines: [chLine("x", credits: "0.000000003"), chLine("y", credits: "0.000000001")],
                                                  isFinal: true)], for: warehouse, fetchedAt: fetched, cursor: nil)
            let billed = try cluster.psql("""
                SELECT "x_LineKey", "x_BilledNanos", "BilledCost", "PricingCurrencyEffectiveCost" FROM \(schema).focus_costs
                WHERE "x_Provider" = 'clickhouse' ORDER BY 1
                """)
            #expect(billed == "x|2|0.000000002|0.000000003\ny|0|0.000000000|0.000000001\n")
            for (nanos, price) in [(Int64(3), "0.5"), (1, "0.5")] {
                #expect(try Money.billedNanos(creditNanos: nanos, price: try Money.parse(price)) == (nanos == 3 ? 2 : 0))
            }
            // Large and awkward: 100000001.499999996 credits at 0.000000001 USD are 100000001.499999996 nano-USD,
            // which rounds down; a NUMERIC quotient kept to 8 decimals (.50000000) would round it up. And a refund
            // (a negative line) is rounded half to even away from zero just the same.
            let other = OrgKey(.clickhouse, "wh-2")
            try await store.saveAccount(other, ProviderAccount(id: "org-2", name: "Other", creditPrice: try Money.parse("0.000000001")), at: fetched)
            try await store.saveAccount(warehouse, ProviderAccount(id: "org-1", name: "Warehouse", creditPrice: try Money.parse("0.5")), at: fetched)
            try await store.replaceDays([DayWrite(day: day("2025-03-02"), lines: [chLine("big", credits: "100000001.499999996")], isFinal: true)],
                                        for: other, fetchedAt: fetched, cursor: nil)
            try await store.replaceDays([DayWrite(day: day("2025-03-02"), lines: [chLine("refund", credits: "-0.000000003")], isFinal: true)],
                                        for: warehouse, fetchedAt: fetched, cursor: nil)
            let edges = try cluster.psql("""
                SELECT "x_LineKey", "x_BilledNanos" FROM \(schema).focus_costs WHERE "x_Day" = '2025-03-02' ORDER BY 1
                """)
            #expect(edges == "big|100000001\nrefund|-2\n")
            #expect(try Money.billedNanos(creditNanos: 100_000_001_499_999_996, price: try Money.parse("0.000000001")) == 100_000_001)
            #expect(try Money.billedNanos(creditNanos: -3, price: try Money.parse("0.5")) == -2)
        }
    }

    @Test("two instances opening one new schema at once migrate it once")
    func concurrentMigration() async throws {
        let schema = freshSchema("migrate")
        let endpoint = try PGCluster.shared().endpoint(schema: schema)
        async let a = PostgresCostStore(endpoint: endpoint, logger: testLogger)
        async let b = PostgresCostStore(endpoint: endpoint, logger: testLogger)
        let (first, second) = try await (a, b)
        await first.close()
        await second.close()
        #expect(try PGCluster.shared().psql("SELECT count(*), max(version) FROM \(schema).costsync_migrations") == "\(PGSchema.migrations.count)|\(PGSchema.currentVersion)\n")
    }

    @Test("a schema migrated by a newer costsync is refused, naming both versions")
    func tooNew() async throws {
        let schema = freshSchema("toonew")
        let endpoint = try PGCluster.shared().endpoint(schema: schema)
        await (try PostgresCostStore(endpoint: endpoint, logger: testLogger)).close()
        _ = try PGCluster.shared().psql("INSERT INTO \(schema).costsync_migrations (version, name) VALUES (999, 'from the future')")
        do {
            _ = try await PostgresCostStore(endpoint: endpoint, logger: testLogger)
            Issue.record("a schema at version 999 was opened")
        } catch {
            #expect("\(error)".contains("version 999") && "\(error)".contains("(\(PGSchema.currentVersion))"), "\(error)")
        }
    }

    @Test("an org claimed by one instance is refused to another until released or the holder's connection dies")
    func claims() async throws {
        try await withStore("claims") { a, schema in
            let b = try await PostgresCostStore(endpoint: PGCluster.shared().endpoint(schema: schema), logger: testLogger)
            #expect(try await a.claim(acme))
            #expect(try await b.claim(acme) == false)
            #expect(try await b.claim(warehouse), "another org is free")
            await a.release(acme)
            #expect(try await b.claim(acme))
            // A holder that dies (here: its connections closed) frees the org,
            // once the server has ended its backend, which it does in its own time.
            await b.close()
            var freed = false
            let deadline = ContinuousClock.now + .seconds(30)
            while !freed && ContinuousClock.now < deadline {
                freed = try await a.claim(acme)
                if !freed { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(freed, "the dead holder's lock was never dropped")
        }
    }

    @Test("a pass whose lock session the server ended stops before its next page, and the org is free for another instance")
    func claimLost() async throws {
        try await withStore("claim_lost") { a, schema in
            try await a.recordAttempt(acme, at: fetched, start: day("2025-03-01"))
            #expect(try await a.claim(acme))
            // A restart or a failover, as far as this store can tell: every session it had is gone.
            _ = try PGCluster.shared().psql("""
                SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                WHERE pid <> pg_backend_pid() AND backend_type = 'client backend' AND application_name = ''
                """)
            let page = [DayWrite(day: day("2025-03-01"), lines: [line("a", cents: "100")], isFinal: true)]
            do {
                _ = try await a.replaceDays(page, for: acme, fetchedAt: fetched, cursor: nil)
                Issue.record("a page was written without the org's lock")
            } catch {
                #expect("\(error)".contains("lock ended"), "\(error)")
            }
            #expect(try await a.lines(acme, day: day("2025-03-01")).isEmpty, "nothing was written")
            let b = try await PostgresCostStore(endpoint: PGCluster.shared().endpoint(schema: schema), logger: testLogger)
            // Free once the server has ended the old backend, in its own time.
            var freed = false
            let deadline = ContinuousClock.now + .seconds(30)
            while !freed && ContinuousClock.now < deadline {
                freed = try await b.claim(acme)
                if !freed { try await Task.sleep(for: .milliseconds(50)) }
            }
            await b.close()
            #expect(freed, "the org is free for another instance")
        }
    }

    @Test("a role whose DateStyle and TimeZone differ (SQL, DMY; New York) still reads and writes ISO days and UTC times")
    func sessionSettings() async throws {
        let cluster = try PGCluster.shared()
        _ = try cluster.psql("ALTER ROLE \(cluster.user) SET datestyle = 'SQL, DMY'; ALTER ROLE \(cluster.user) SET timezone = 'America/New_York'")
        defer { _ = try? cluster.psql("ALTER ROLE \(cluster.user) RESET datestyle; ALTER ROLE \(cluster.user) RESET timezone") }
        // The role's settings are in force for new sessions: psql sees them.
        #expect(try cluster.psql("SELECT '2025-03-01'::date::text").hasPrefix("01/03/2025"))
        try await withStore("session") { store, _ in
            try await store.recordAttempt(acme, at: fetched, start: day("2025-03-01"))
            _ = try await store.replaceDays([DayWrite(day: day("2025-03-01"), lines: [line("a", cents: "100")], isFinal: true)],
                                            for: acme, fetchedAt: fetched, cursor: CursorRule(limit: day("2025-03-05")))
            #expect(try await store.nextDay(acme) == day("2025-03-02"))
            #expect(try await store.lines(acme, day: day("2025-03-01")).count == 1)
            let rows = Mutex<[[String?]]>([])
            try await store.eachRow(of: .costs, columns: ["day", "fetched_at"], in: nil) { row in rows.withLock { $0.append(row) } }
            #expect(rows.withLock { $0 } == [["2025-03-01", "2025-03-05T12:00:00Z"]])
        }
    }

    @Test("connections killed under the store are replaced on the next call, transparently")
    func reconnects() async throws {
        try await withStore("reconnect") { store, _ in
            try await store.recordAttempt(acme, at: fetched, start: day("2025-01-01"))
            let killed = try PGCluster.shared().psql("""
                SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                WHERE pid <> pg_backend_pid() AND backend_type = 'client backend' AND application_name = ''
                """)
            #expect((Int(killed.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) >= 1, "the store's connection was killed")
            #expect(try await store.nextDay(acme) == day("2025-01-01"))
        }
    }

    @Test("an unreachable server is retried, then reported with where and what to do, without the password")
    func unreachable() async throws {
        var endpoint = try PGCluster.shared().endpoint(schema: "nowhere")
        endpoint.host = FileManager.default.temporaryDirectory.appendingPathComponent("no-server-\(UUID().uuidString)").path
        endpoint.password = Secret("pg-s3cret-value")
        let started = ContinuousClock.now
        do {
            _ = try await PostgresCostStore(endpoint: endpoint, logger: testLogger, backoff: 3)
            Issue.record("connected to nothing")
        } catch {
            let text = "\(error)"
            #expect(text.contains("unreachable") && text.contains("after 3 attempts") && text.contains(endpoint.host), "\(text)")
            #expect(!text.contains("pg-s3cret-value"))
            #expect(ContinuousClock.now - started >= .milliseconds(500), "it backed off between attempts")
        }
    }

    @Test("a page of many lines is written in a few statements, and names fill scope_name")
    func namesAndBatch() async throws {
        try await withStore("names") { store, schema in
            try await store.saveAccount(acme, ProviderAccount(id: "org-acme", name: "Acme"), at: fetched)
            try await store.saveNames(acme, .workspaces([WorkspaceInfo(id: "wrkspc_1", name: "Research"),
                                                          WorkspaceInfo(id: "wrkspc_0", name: "Default", isDefault: true, archivedAt: nil)]),
                                      at: fetched)
            let lines = (0..<2000).map { line(String(format: "k%05d", $0), cents: "\($0)", workspace: $0 % 2 == 0 ? "wrkspc_1" : nil) }
            let before = Int(try PGCluster.shared().psql("SELECT sum(xact_commit) FROM pg_stat_database").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            let summary = try await store.replaceDays([DayWrite(day: day("2025-03-01"), lines: lines, isFinal: true)], for: acme,
                                                      fetchedAt: fetched, cursor: nil)
            #expect(summary.inserted == 2000)
            let after = Int(try PGCluster.shared().psql("SELECT sum(xact_commit) FROM pg_stat_database").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            #expect(after - before < 20, "one transaction of a few statements, not one per row")
            #expect(try PGCluster.shared().psql("SELECT scope_name, count(*) FROM \(schema).costs GROUP BY 1 ORDER BY 1") == "Default|1000\nResearch|1000\n")
            let account = try await store.account(acme)
            #expect(account?.account.name == "Acme" && account?.namesRefreshedAt == fetched)
        }
    }
}
