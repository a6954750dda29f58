import ProcessHarness
import CostModel
import Foundation
import Simulator
import SQLite
import Testing

extension EndToEnd {
    @Suite("syncing")
    struct Syncing {
        @Test("a 400-day backfill of two orgs of each provider equals the simulator's data exactly")
        func fourHundredDayBackfill() async throws {
            let today = pinnedToday
            let first = today.advanced(by: -399)
            try await Fixture.with(smallWorld(today: today), sync: SyncSection(startDate: first)) { fx in
                try await fx.runOK(["backfill", "--from", "\(first)", "--to", "\(today)"], timeout: .seconds(180))
                let range = DayRange(first, today)
                expectNoProblems(try fx.mismatches(in: range), "after the backfill")
                #expect(try fx.count("SELECT COUNT(*) FROM sync_days") == 4 * 400)

                // Finality as product.md states it: Anthropic days settle 3 days
                // after they end; ClickHouse days are final once every record is locked.
                let settled = try fx.withDatabase { db in try syncDays(db) }
                for (key, row) in settled {
                    let day = Day(key.day)!
                    let expectedFinal = key.provider == "anthropic"
                        ? today >= day.advanced(by: 4)
                        : !fx.world.isUnlocked(day)
                    #expect(row.isFinal == expectedFinal, "\(key): is_final \(row.isFinal)")
                }
                #expect(try fx.count("SELECT COUNT(*) FROM costs WHERE is_final = 1 AND day >= ?1",
                                     [.text(today.description)]) == 0, "today is never final")

                // The cursor of every org stands on its first day that is not final.
                for org in fx.orgs {
                    let cursor = try #require(try fx.cursor(org.provider, org.name))
                    let expected = org.provider == .anthropic ? today.advanced(by: -3) : today.advanced(by: -(fx.world.unlockedDays - 1))
                    #expect(cursor.nextDay == expected, "\(org.provider)/\(org.name)")
                    #expect(cursor.lastError == nil)
                    #expect(cursor.lastSuccessAt != nil)
                }

                // Running it again writes nothing new and duplicates nothing.
                let again = try await fx.runOK(["backfill", "--from", "\(first)", "--to", "\(today)"])
                _ = again
                expectNoProblems(try fx.mismatches(in: range, lineDays: [today, today.advanced(by: -1)]), "after the same backfill again")
            }
        }

        @Test("run --once right after a backfill asks only for the days that are not final yet")
        func runAfterBackfill() async throws {
            let today = pinnedToday
            let first = today.advanced(by: -89)
            let settle = 3
            // Without the daily re-check of settled days (the history suite covers it).
            try await Fixture.with(smallWorld(today: today, linesPerDay: 20),
                                   sync: SyncSection(startDate: first, settleDays: settle, extra: "recheck_days = 0\n")) { fx in
                try await fx.runOK(["backfill", "--from", "\(first)", "--to", "\(today)"])
                var cursors: [String: Day] = [:]
                for org in fx.orgs {
                    cursors[org.name] = try #require(try fx.cursor(org.provider, org.name)?.nextDay)
                }

                fx.simulator.resetRequests()
                try await fx.runOK(["run", "--once"])
                let requests = fx.simulator.costRequests.filter { $0.provider != nil }
                for org in fx.orgs {
                    let cursor = try #require(cursors[org.name])
                    #expect(cursor >= today.advanced(by: -(settle + 1)), "\(org.name): cursor \(cursor) is too far back")
                    #expect(cursor > first, "\(org.name): the cursor never moved past start_date")
                    let mine = requests.filter { $0.org == org.name }
                    #expect(mine.count == 1, "\(org.name): \(mine.count) requests: \(mine.map { "\($0.path)?\($0.query)" })")
                    guard let request = mine.first else { continue }
                    #expect(request.status == 200)
                    switch org.provider {
                    case .anthropic:
                        #expect(request.queryValue("starting_at") == cursor.startTimestamp, "\(request.query)")
                        #expect(request.queryValue("page") == nil)
                    case .clickhouse:
                        #expect(request.queryValue("from_date") == cursor.description, "\(request.query)")
                        #expect(request.queryValue("to_date") == today.description, "\(request.query)")
                    }
                }
                #expect(requests.count == fx.orgs.count, "no request for anyone else: \(requests.map(\.path))")
                expectNoProblems(try fx.mismatches(in: DayRange(first, today)), "after run --once")
            }
        }

        @Test("a restated unlocked day replaces its old rows")
        func restatement() async throws {
            let today = pinnedToday
            let first = today.advanced(by: -19)
            try await Fixture.with(smallWorld(today: today), sync: SyncSection(startDate: first)) { fx in
                try await fx.runOK(["run", "--once"])
                let range = DayRange(first, today)
                let before = fx.world
                expectNoProblems(try fx.mismatches(in: range, lineDays: Set(range)), "after the first run")

                fx.simulator.update { $0.revision += 1 }
                let after = fx.world
                let recent = DayRange(today.advanced(by: -(after.unlockedDays - 1)), today)

                // The restatement must really change lines, or this test proves nothing.
                var vanished = 0
                var changedAmounts = 0
                for org in fx.orgs {
                    for day in recent {
                        let old = before.expectedLines(org.provider, org: org.name, day: day)
                        let new = after.expectedLines(org.provider, org: org.name, day: day)
                        vanished += Set(old.map(\.identity)).subtracting(new.map(\.identity)).count
                        if old != new { changedAmounts += 1 }
                    }
                    // Days older than the unlocked window never change.
                    let old = before.expectedDayTotals(provider: org.provider, org: org.name, day: recent.first.advanced(by: -1))
                    let new = after.expectedDayTotals(provider: org.provider, org: org.name, day: recent.first.advanced(by: -1))
                    #expect(old == new)
                }
                #expect(vanished > 0, "the simulator dropped no line in the restatement")
                #expect(changedAmounts > 0)

                // The comparison is not vacuous: before the next poll, the stored
                // recent days differ from the restated ones.
                let stale = try fx.mismatches(in: recent, lineDays: Set(recent))
                #expect(stale.count >= fx.orgs.count * recent.count, "\(stale)")

                try await fx.runOK(["run", "--once"])
                expectNoProblems(try fx.mismatches(in: range, lineDays: Set(range)), "after the restatement")
                // Lines that vanished upstream are gone, line by line.
                try fx.withDatabase { db in
                    for org in fx.orgs where org.provider == .anthropic {
                        for day in recent {
                            let stored = Set(try storedLines(db, org.provider, org: org.name, day: day).map(\.identity))
                            let gone = Set(before.expectedLines(org.provider, org: org.name, day: day).map(\.identity))
                                .subtracting(after.expectedLines(org.provider, org: org.name, day: day).map(\.identity))
                            #expect(stored.isDisjoint(with: gone), "\(org.name) \(day): vanished lines still stored")
                        }
                    }
                }
            }
        }

        @Test("as days go by, yesterday's partial day is completed and settled days become final")
        func daysGoBy() async throws {
            let start = pinnedToday
            let first = start.advanced(by: -6)
            try await Fixture.with(smallWorld(today: start, linesPerDay: 12), sync: SyncSection(startDate: first)) { fx in
                for offset in [0, 1, 2, 6] {
                    let today = start.advanced(by: offset)
                    fx.simulator.update { $0.today = today }
                    let now = "\(today)T12:00:00Z"
                    try await fx.runOK(["run", "--once"], env: ["COSTSYNC_NOW": now])
                    expectNoProblems(try fx.mismatches(in: DayRange(first, today), lineDays: Set(DayRange(today.advanced(by: -3), today))),
                                     "on \(today)")
                    for org in fx.orgs {
                        let cursor = try #require(try fx.cursor(org.provider, org.name)?.nextDay)
                        let expected = org.provider == .anthropic ? today.advanced(by: -3) : today.advanced(by: -(fx.world.unlockedDays - 1))
                        #expect(cursor == expected, "\(org.name) on \(today)")
                    }
                    // Rows written by this poll carry its time; today is never final.
                    #expect(try fx.count("SELECT COUNT(*) FROM costs WHERE day = ?1 AND fetched_at = ?2",
                                         [.text(today.description), .text(now)])
                            == fx.orgs.reduce(0) { $0 + fx.world.expectedDayTotals(provider: $1.provider, org: $1.name, day: today).rows })
                    #expect(try fx.count("SELECT COUNT(*) FROM sync_days WHERE day = ?1 AND is_final = 1", [.text(today.description)]) == 0)
                }
                // The views people query agree with the table to the nano.
                try fx.withDatabase { db in
                    let fromCosts = try db.query("SELECT SUM(amount_nanos), COUNT(*) FROM costs") { [$0.int64(0), $0.int64(1)] }.first
                    let fromDaily = try db.query("SELECT SUM(amount_nanos), SUM(lines) FROM daily_costs") { [$0.int64(0), $0.int64(1)] }.first
                    let fromMonthly = try db.query("SELECT SUM(amount_nanos) FROM monthly_costs") { $0.int64(0) }.first
                    let focusRows = try db.query("SELECT COUNT(*), SUM(x_AmountNanos) FROM focus_costs") { [$0.int64(0), $0.int64(1)] }.first
                    #expect(fromDaily == fromCosts)
                    #expect(fromMonthly == fromCosts?.first)
                    #expect(focusRows.map { [$0[1], $0[0]] } == fromCosts)
                }
            }
        }

        @Test("the daemon polls again after poll_interval and picks up restated days")
        func daemonPollsAgain() async throws {
            let today = pinnedToday
            let first = today.advanced(by: -9)
            // 10 s is the shortest interval the config accepts; jitter adds up to a tenth.
            try await Fixture.with(smallWorld(today: today, linesPerDay: 10),
                                   sync: SyncSection(pollInterval: "10s", startDate: first)) { fx in
                let daemon = try fx.start(["run"])
                let orgs = fx.orgs
                let firstPass = await eventually(timeout: .seconds(30)) {
                    try orgs.allSatisfy { try fx.cursor($0.provider, $0.name)?.lastSuccessAt != nil }
                }
                fx.simulator.update { $0.revision += 1 }
                fx.simulator.resetRequests()
                let polledAgain = await eventually(timeout: .seconds(30), every: .milliseconds(200)) {
                    try fx.mismatches(in: DayRange(first, today), lineDays: []).isEmpty
                }
                daemon.signal(SIGTERM)
                let result = await daemon.wait(timeout: .seconds(30))
                #expect(firstPass, "\(result)")
                #expect(polledAgain, "the restatement never arrived: \(result)")
                #expect(result.exitedNormally && result.status == 0, "\(result)")
                let second = fx.simulator.costRequests.filter { $0.provider != nil }
                #expect(Set(second.compactMap(\.org)) == Set(orgs.map(\.name)))
                #expect(second.count == orgs.count, "one request per org per poll: \(second.count)")
                expectNoProblems(try fx.mismatches(in: DayRange(first, today), lineDays: Set(DayRange(today.advanced(by: -2), today))),
                                 "after the second poll")
            }
        }

        @Test("a failed org's stored data is untouched, and it recovers at the next poll")
        func failedOrgKeepsItsData() async throws {
            let today = pinnedToday
            let first = today.advanced(by: -9)
            try await Fixture.with(smallWorld(today: today, linesPerDay: 10), sync: SyncSection(startDate: first)) { fx in
                try await fx.runOK(["run", "--once"])
                let snapshot = try fx.withDatabase { db in
                    try db.query("SELECT day, line_key, amount, fetched_at FROM costs WHERE org = 'acme-ai' ORDER BY day, line_key") {
                        [$0.text(0), $0.text(1), $0.text(2), $0.text(3)]
                    }
                }
                let cursorBefore = try #require(try fx.cursor(.anthropic, "acme-ai"))
                fx.simulator.update { $0.revision += 1 }

                let keyVar = SimulatorWorld.environmentName(org: "acme-ai", "ADMIN_KEY")
                let failed = try await fx.run(["run", "--once"], env: [keyVar: "sk-ant-admin01-revoked-key-0000"])
                #expect(failed.exitedNormally && failed.status == 1, "\(failed)")
                let after = try fx.withDatabase { db in
                    try db.query("SELECT day, line_key, amount, fetched_at FROM costs WHERE org = 'acme-ai' ORDER BY day, line_key") {
                        [$0.text(0), $0.text(1), $0.text(2), $0.text(3)]
                    }
                }
                #expect(after == snapshot, "the failed org's rows changed")
                let cursorFailed = try #require(try fx.cursor(.anthropic, "acme-ai"))
                #expect(cursorFailed.nextDay == cursorBefore.nextDay)
                #expect(cursorFailed.lastSuccessAt == cursorBefore.lastSuccessAt)
                #expect(cursorFailed.consecutiveFailures == 1)
                // The others took the restatement.
                expectNoProblems(try fx.mismatches(in: DayRange(first, today), orgs: fx.orgs.filter { $0.name != "acme-ai" }),
                                 "the healthy orgs")

                try await fx.runOK(["run", "--once"])
                let recovered = try #require(try fx.cursor(.anthropic, "acme-ai"))
                #expect(recovered.lastError == nil)
                #expect(recovered.consecutiveFailures == 0)
                expectNoProblems(try fx.mismatches(in: DayRange(first, today)), "after the key was fixed")
            }
        }
    }
}
