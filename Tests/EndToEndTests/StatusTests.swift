import CostModel
import Foundation
import Simulator
import SQLite
import Testing

extension EndToEnd {
    @Suite("status")
    struct StatusReport {
        struct OrgStatus: Decodable {
            var provider: String
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

        func status(_ fx: Fixture) async throws -> [OrgStatus] {
            let result = try await fx.runOK(["status", "--json"])
            do {
                return try JSONDecoder().decode([OrgStatus].self, from: Data(result.stdout.utf8))
            } catch {
                Issue.record("status --json is not the expected JSON: \(error)\n\(result)")
                throw error
            }
        }

        @Test("status --json reports cursor, rows and gaps")
        func statusJSON() async throws {
            let today = pinnedToday
            let first = today.advanced(by: -29)
            try await Fixture.with(smallWorld(today: today, linesPerDay: 12), sync: SyncSection(startDate: first)) { fx in
                // Before any sync: every org is listed, never synced.
                let empty = try await status(fx)
                #expect(empty.map(\.org).sorted() == fx.orgs.map(\.name).sorted())
                for s in empty {
                    #expect(s.next_day == nil && s.last_success_at == nil && s.days_stored == 0 && s.rows_stored == 0, "\(s)")
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
    }
}
