import ProcessHarness
import CostModel
import Foundation
import Simulator
import SQLite
import Testing

extension EndToEnd {
    /// What changed since the invoice: revisions, re-checks, the fetch log.
    @Suite("restatement history")
    struct History {
        typealias Line = [String: Int64]  // line_key → amount_nanos

        /// Every stored line of `days`, by org and day.
        func lines(_ fx: Fixture, _ days: DayRange) throws -> [String: Line] {
            try fx.withDatabase { db in
                var out: [String: Line] = [:]
                for (org, day, key, nanos) in try db.query("""
                    SELECT org, day, line_key, amount_nanos FROM costs WHERE day BETWEEN ?1 AND ?2
                    """, [.text("\(days.first)"), .text("\(days.last)")], { ($0.text(0)!, $0.text(1)!, $0.text(2)!, $0.int64(3)) }) {
                    out["\(org) \(day)", default: [:]][key] = nanos
                }
                return out
            }
        }

        /// `org day line_key change old new` of every revision.
        func revisions(_ fx: Fixture) throws -> Set<String> {
            try fx.withDatabase { db in
                Set(try db.query("""
                    SELECT org, day, line_key, change, old_amount_nanos, new_amount_nanos FROM cost_revisions
                    """) { s in
                    "\(s.text(0)!) \(s.text(1)!) \(s.text(2)!) \(s.text(3)!) \(s.isNull(4) ? "-" : "\(s.int64(4))") \(s.isNull(5) ? "-" : "\(s.int64(5))")"
                })
            }
        }

        /// The diff of two snapshots, as `revisions` spells it.
        func diff(_ before: [String: Line], _ after: [String: Line]) -> Set<String> {
            var out = Set<String>()
            for (day, old) in before {
                let new = after[day] ?? [:]
                for (key, nanos) in old {
                    if let n = new[key] {
                        if n != nanos { out.insert("\(day) \(key) changed \(nanos) \(n)") }
                    } else {
                        out.insert("\(day) \(key) vanished \(nanos) -")
                    }
                }
                for (key, n) in new where old[key] == nil { out.insert("\(day) \(key) appeared - \(n)") }
            }
            return out
        }

        /// For every day: its total as first seen plus the revisions' deltas is its stored total.
        func expectSumsCheckOut(_ fx: Fixture, _ when: String) throws {
            let off = try fx.count("""
                SELECT COUNT(*) FROM sync_days d
                WHERE d.first_amount_nanos + COALESCE((SELECT SUM(COALESCE(r.new_amount_nanos, 0) - COALESCE(r.old_amount_nanos, 0))
                      FROM cost_revisions r WHERE r.provider = d.provider AND r.org = d.org AND r.day = d.day), 0) != d.amount_nanos
                """)
            #expect(off == 0, "\(off) days whose first total plus revisions is not their stored total, \(when)")
        }

        @Test("restating unlocked days writes exactly the revisions of what changed; replaying writes none; the sums check out")
        func restatement() async throws {
            let today = pinnedToday
            let first = today.advanced(by: -29)
            var world = smallWorld(today: today, linesPerDay: 12)
            world.unlockedDays = 5
            try await Fixture.with(world, sync: SyncSection(startDate: first)) { fx in
                try await fx.runOK(["run", "--once"])
                #expect(try fx.count("SELECT COUNT(*) FROM cost_revisions") == 0, "a first write records no revision")
                let recent = DayRange(today.advanced(by: -6), today)
                let before = try lines(fx, recent)

                fx.simulator.update { $0.revision += 1 }
                try await fx.runOK(["run", "--once"])
                let after = try lines(fx, recent)
                let expected = diff(before, after)
                #expect(!expected.isEmpty, "the restatement changed nothing")
                #expect(try revisions(fx) == expected)
                expectNoProblems(try fx.mismatches(in: DayRange(first, today)), "after the restatement")
                // Every revision points at the fetch that caused it.
                #expect(try fx.count("""
                    SELECT COUNT(*) FROM cost_revisions r LEFT JOIN sync_fetches f USING (fetch_id) WHERE f.fetch_id IS NULL
                    """) == 0)
                #expect(try fx.count("SELECT COUNT(*) FROM sync_fetches WHERE finished_at IS NULL OR requests = 0") == 0)

                // The same answers again: nothing new.
                try await fx.runOK(["run", "--once"])
                #expect(try revisions(fx) == expected)
                try expectSumsCheckOut(fx, "after the restatement")

                let history = try await fx.runOK(["history", "--json"])
                let rows = try #require(try JSONSerialization.jsonObject(with: Data(history.stdout.utf8)) as? [[String: Any]])
                #expect(rows.count == expected.count)
                #expect(rows.allSatisfy { $0["delta_nanos"] is Int && $0.keys.contains("old_amount") })
                let text = try await fx.runOK(["history", "--org", "acme-ai"])
                #expect(text.stdout.contains(" → ") && text.stdout.contains("total "), "\(text.stdout.prefix(1500))")
                let status = try await fx.runOK(["status"])
                #expect(status.stdout.contains("revisions in the last 7 days: "), "\(status.stdout)")
                let view = try fx.count("SELECT SUM(changes) FROM day_revisions")
                #expect(view == expected.count)
            }
        }

        @Test("a final Anthropic day restated after settle_days is caught by the daily re-check, applied, recorded and warned about; days outside the window are not fetched")
        func recheckCatchesFinalDays() async throws {
            let today = pinnedToday
            let first = today.advanced(by: -29)
            var world = smallWorld(today: today, linesPerDay: 12)
            world.unlockedDays = 6   // the simulator restates the last 6 days; costsync settles after 3
            try await Fixture.with(world, sync: SyncSection(startDate: first)) { fx in
                try await fx.runOK(["run", "--once"])
                let settled = today.advanced(by: -4)
                #expect(try fx.count("SELECT is_final FROM sync_days WHERE org = 'acme-ai' AND day = ?1", [.text("\(settled)")]) == 1)

                fx.simulator.update { $0.revision += 1 }
                fx.simulator.resetRequests()
                let rechecked = try await fx.runOK(["run", "--once"])
                #expect(rechecked.stderr.contains("a final day changed"), "\(rechecked.stderr)")
                expectNoProblems(try fx.mismatches(in: DayRange(first, today)), "after the re-check")
                #expect(try fx.count("SELECT COUNT(*) FROM cost_revisions WHERE was_final = 1 AND org = 'acme-ai' AND day = ?1",
                                     [.text("\(settled)")]) > 0)
                #expect(try fx.count("SELECT COUNT(*) FROM sync_fetches WHERE kind = 'recheck'") == 4)
                let starts = fx.simulator.costRequests.filter { $0.provider == .anthropic }.compactMap { $0.queryValue("starting_at") }
                #expect(!starts.isEmpty && starts.allSatisfy { $0 >= today.advanced(by: -7).startTimestamp }, "\(starts)")
                // One request per org, re-check included.
                #expect(fx.simulator.costRequests.filter { $0.provider != nil }.count == 4)
                try expectSumsCheckOut(fx, "after the re-check")

                // Once a day: the next poll today asks from the cursor again.
                fx.simulator.resetRequests()
                try await fx.runOK(["run", "--once"])
                let later = fx.simulator.costRequests.filter { $0.provider == .anthropic }.compactMap { $0.queryValue("starting_at") }
                #expect(later.allSatisfy { $0 >= today.advanced(by: -3).startTimestamp }, "\(later)")
                let status = try await fx.runOK(["status", "--json"])
                #expect(status.stdout.contains("\"last_final_day_change_at\" : \"\(today)T12:00:00Z\""), "\(status.stdout.prefix(3000))")
            }
        }

        @Test("a kill -9 in the middle of a revision-writing sync leaves rows, revisions and cursor consistent")
        func killNineWhileRestating() async throws {
            let today = pinnedToday
            let first = today.advanced(by: -119)
            var world = smallWorld(today: today, linesPerDay: 30)
            world.unlockedDays = 120   // every day is restated
            try await Fixture.with(world, sync: SyncSection(startDate: first, maxConcurrentOrgs: 1)) { fx in
                try await fx.runOK(["backfill", "--from", "\(first)", "--to", "\(today)"])
                fx.simulator.update { $0.revision += 1 }
                fx.simulator.setFaults(FaultPlan(latency: .milliseconds(300)))
                let process = try fx.start(["backfill", "--from", "\(first)", "--to", "\(today)"])
                let some = await eventually(timeout: .seconds(60)) { try fx.count("SELECT COUNT(*) FROM cost_revisions") > 0 }
                process.signal(SIGKILL)
                _ = await process.wait(timeout: .seconds(10))
                try #require(some, "no revision was written before the kill")
                try expectSumsCheckOut(fx, "after kill -9")
                // Rows and their days' totals agree: nothing half-written.
                #expect(try fx.count("""
                    SELECT COUNT(*) FROM sync_days d WHERE d.amount_nanos != COALESCE((SELECT SUM(amount_nanos) FROM costs c
                        WHERE c.provider = d.provider AND c.org = d.org AND c.day = d.day), 0)
                    """) == 0)

                fx.simulator.setFaults(.none)
                try await fx.runOK(["backfill", "--from", "\(first)", "--to", "\(today)"])
                // A backfill skips final days: the unlocked ClickHouse days are the ones fetched again.
                expectNoProblems(try fx.mismatches(in: DayRange(first, today), orgs: fx.orgs.filter { $0.provider == .clickhouse }),
                                 "after the backfill ran again")
                try expectSumsCheckOut(fx, "after the backfill ran again")
            }
        }
    }
}
