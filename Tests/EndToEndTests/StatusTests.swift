import ProcessHarness
import CostModel
import Foundation
import Simulator
import SQLite
import Testing

extension EndToEnd {
    @Suite("status")
    struct StatusReport {
        struct Report: Decodable {
            var healthy: Bool
            var orgs: [OrgStatus]
        }

        struct OrgStatus: Decodable {
            var provider: String
            var healthy: Bool
            var problems: [String]
            var org: String
            var next_day: String?
            var last_attempt_at: String?
            var last_success_at: String?
            var last_error: String?
            var consecutive_failures: Int
            var days_stored: Int
            var rows_stored: Int
            var first_day: String?
            var gaps: [[String]]
        }

        /// `status --json`, checking that its exit status agrees with its `healthy`.
        func report(_ fx: Fixture, env: [String: String?] = [:]) async throws -> Report {
            let result = try await fx.run(["status", "--json"], env: env)
            do {
                let report = try JSONDecoder().decode(Report.self, from: Data(result.stdout.utf8))
                #expect(result.exitedNormally && result.status == (report.healthy ? 0 : 1), "\(result)")
                #expect(report.healthy == report.orgs.allSatisfy(\.healthy))
                return report
            } catch {
                Issue.record("status --json is not the expected JSON: \(error)\n\(result)")
                throw error
            }
        }

        func status(_ fx: Fixture) async throws -> [OrgStatus] { try await report(fx).orgs }

        @Test("status --json reports cursor, rows and gaps")
        func statusJSON() async throws {
            let today = pinnedToday
            let first = today.advanced(by: -29)
            try await Fixture.with(smallWorld(today: today, linesPerDay: 12), sync: SyncSection(startDate: first)) { fx in
                // Before any sync: every org is listed, never synced.
                let never = try await report(fx)
                #expect(!never.healthy)
                let empty = never.orgs
                #expect(empty.map(\.org).sorted() == fx.orgs.map(\.name).sorted())
                for s in empty {
                    #expect(s.next_day == nil && s.last_success_at == nil && s.days_stored == 0 && s.rows_stored == 0, "\(s)")
                    #expect(s.problems == ["it has never been synced"], "\(s)")
                }

                try await fx.runOK(["run", "--once"])
                func expectedRows(_ org: (provider: Provider, name: String), _ range: DayRange) -> Int {
                    range.reduce(0) { $0 + fx.world.expectedDayTotals(provider: org.provider, org: org.name, day: $1).rows }
                }
                let synced = try await status(fx)
                for org in fx.orgs {
                    let s = try #require(synced.first { $0.org == org.name })
                    let cursor = try #require(try fx.cursor(org.provider, org.name))
                    #expect(s.provider == org.provider.rawValue)
                    #expect(s.next_day == cursor.nextDay?.description)
                    #expect(s.next_day == (org.provider == .anthropic ? today.advanced(by: -3) : today.advanced(by: -2)).description)
                    #expect(s.last_success_at != nil && s.last_error == nil && s.consecutive_failures == 0)
                    #expect(s.days_stored == 30)
                    #expect(s.rows_stored == expectedRows(org, DayRange(first, today)))
                    #expect(s.first_day == first.description)
                    #expect(s.gaps.isEmpty, "\(s.gaps)")
                }

                // Moving start_date earlier leaves a hole before the stored days: a gap, until backfilled.
                let earlier = today.advanced(by: -59)
                try fx.writeConfig(SyncSection(startDate: earlier))
                let gapped = try await status(fx)
                for s in gapped {
                    #expect(s.gaps == [[earlier.description, first.advanced(by: -1).description]], "\(s.org): \(s.gaps)")
                }
                let text = try await fx.runOK(["status"])
                #expect(text.stdout.hasPrefix("healthy: all 4 orgs"), "\(text.stdout)")
                #expect(text.stdout.contains("gaps: 30 days in 1 ranges"), "\(text.stdout)")
                #expect(text.stdout.contains("costsync backfill"), "\(text.stdout)")

                try await fx.runOK(["backfill", "--from", "\(earlier)", "--to", "\(first.advanced(by: -1))"])
                let filled = try await status(fx)
                for org in fx.orgs {
                    let s = try #require(filled.first { $0.org == org.name })
                    #expect(s.gaps.isEmpty, "\(s.org): \(s.gaps)")
                    #expect(s.days_stored == 60)
                    #expect(s.first_day == earlier.description)
                    #expect(s.rows_stored == expectedRows(org, DayRange(earlier, today)))
                }
                expectNoProblems(try fx.mismatches(in: DayRange(earlier, today)), "after filling the gap")
            }
        }

        @Test("status is a monitoring check: every key for every org, exit 0 when healthy, 1 for a failing or a stale org, with the problem named")
        func healthExitCodes() async throws {
            let today = pinnedToday
            try await Fixture.with(smallWorld(today: today, linesPerDay: 6), sync: SyncSection(startDate: today.advanced(by: -9))) { fx in
                try await fx.runOK(["run", "--once"])
                let raw = try await fx.runOK(["status", "--json"])
                let object = try #require(try JSONSerialization.jsonObject(with: Data(raw.stdout.utf8)) as? [String: Any])
                #expect(object["healthy"] as? Bool == true)
                let orgs = try #require(object["orgs"] as? [[String: Any]])
                let keys: Set<String> = ["provider", "org", "healthy", "problems", "next_day", "last_attempt_at", "last_success_at",
                                         "last_error", "consecutive_failures", "days_stored", "rows_stored", "first_day",
                                         "oldest_pending_day", "gaps", "emptyings_pending", "reconciliation_mismatches",
                                         "revisions_last_7_days", "last_final_day_change_at"]
                for org in orgs {
                    #expect(Set(org.keys) == keys, "\(org.keys.sorted())")
                    #expect(org["last_error"] is NSNull, "a null is written, not left out")
                }

                // Failing: one org's key is revoked.
                let keyVar = SimulatorWorld.environmentName(org: "globex-ai", "ADMIN_KEY")
                _ = try await fx.run(["run", "--once"], env: [keyVar: "sk-ant-admin01-revoked-000000000000"])
                let failing = try await report(fx)
                #expect(!failing.healthy)
                let globex = try #require(failing.orgs.first { $0.org == "globex-ai" })
                #expect(!globex.healthy && globex.problems.first?.hasPrefix("the last sync failed") == true, "\(globex)")
                #expect(failing.orgs.filter(\.healthy).count == 3)

                // Stale: the same database read four hours later (poll_interval is 1h).
                try await fx.runOK(["run", "--once"])
                let later = try await report(fx, env: ["COSTSYNC_NOW": "\(today)T16:00:01Z"])
                #expect(!later.healthy)
                for s in later.orgs {
                    #expect(s.problems.contains { $0.contains("more than three poll intervals") }, "\(s)")
                }
                let text = try await fx.run(["status"], env: ["COSTSYNC_NOW": "\(today)T16:00:01Z"])
                #expect(text.status == 1 && text.stdout.hasPrefix("UNHEALTHY: 4 of 4 orgs"), "\(text)")
                #expect(text.stdout.contains("problem: the last successful sync was 4 hours ago"), "\(text.stdout)")
            }
        }
    }
}
