import ProcessHarness
import CostModel
import Foundation
import Simulator
import SQLite
import Testing

extension EndToEnd {
    @Suite("report")
    struct Reporting {
        @Test("the monthly report's totals per org and per currency equal the database's, exactly; the page is self-contained")
        func totalsMatch() async throws {
            let today = pinnedToday
            let first = Day(year: 2025, month: 5, day: 1)!
            try await Fixture.with(smallWorld(today: today, linesPerDay: 12), sync: SyncSection(startDate: first)) { fx in
                try await fx.runOK(["backfill", "--from", "\(first)", "--to", "\(today)"])
                let path = fx.directory.appendingPathComponent("report.html").path
                try await fx.runOK(["report", "--month", "2025-06", "--output", path])
                let html = try String(contentsOfFile: path, encoding: .utf8)
                let expected = try fx.withDatabase { db in
                    Dictionary(uniqueKeysWithValues: try db.query("""
                        SELECT provider, org, SUM(amount_nanos) FROM costs WHERE day BETWEEN '2025-06-01' AND '2025-06-30' GROUP BY 1, 2
                        """) { ("\($0.text(0)!) \($0.text(1)!)", $0.int64(2)) })
                }
                #expect(ReportPage.figures(html, marker: "<tr class=\"org-total\"", keys: ["data-provider", "data-org"]) == expected)
                let perCurrency = try fx.withDatabase { db in
                    Dictionary(uniqueKeysWithValues: try db.query("""
                        SELECT currency, SUM(amount_nanos) FROM costs WHERE day BETWEEN '2025-06-01' AND '2025-06-30' GROUP BY 1
                        """) { ($0.text(0)!, $0.int64(1)) })
                }
                #expect(ReportPage.figures(html, marker: "<div class=\"card\"", keys: ["data-currency"]) == perCurrency)
                // Today's days are not final: they are marked.
                #expect(html.contains("not final"))
                // Nothing is loaded from elsewhere.
                #expect(!html.contains("<script") && !html.contains("src=") && !html.contains("<link"))
                // A month with nothing stored still renders.
                try await fx.runOK(["report", "--month", "2024-01", "--output", path])
            }
        }
    }
}
