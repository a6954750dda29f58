import ProcessHarness
import CostModel
import Foundation
import Testing

extension PostgresStoreTests.EndToEnd {
    /// The `data-nanos` of a ranking's rows, in the page's order.
    static func ranking(_ html: String, title: String) -> [Int64] {
        guard let start = html.range(of: "<h2>\(title)</h2>") else { return [] }
        let table = html[start.upperBound...]
        let body = table[..<(table.range(of: "</table>")?.lowerBound ?? table.endIndex)]
        return body.components(separatedBy: "data-nanos=\"").dropFirst().compactMap { Int64($0.prefix { $0 != "\"" }) }
    }

    @Test("report on PostgreSQL: the month's totals per org, per currency and the rankings equal the database's, exactly")
    func report() async throws {
        let today = pinnedToday
        let first = Day(year: 2025, month: 5, day: 1)!
        try await PGFixture.with(smallWorld(today: today, linesPerDay: 12), startDate: first) { fx in
            try await fx.runOK(["backfill", "--from", "\(first)", "--to", "\(today)"])
            let path = fx.directory.appendingPathComponent("report.html").path
            try await fx.runOK(["report", "--month", "2025-06", "--output", path])
            let html = try String(contentsOfFile: path, encoding: .utf8)
            let june = "day BETWEEN '2025-06-01' AND '2025-06-30'"
            func sums(_ sql: String) throws -> [String: Int64] {
                Dictionary(uniqueKeysWithValues: try fx.rows(sql).map { ($0.dropLast().joined(separator: " "), Int64($0.last!)!) })
            }
            let perOrg = try sums("SELECT provider, org, sum(amount_nanos) FROM costs WHERE \(june) GROUP BY 1, 2")
            #expect(perOrg.count == fx.orgs.count)
            #expect(ReportPage.figures(html, marker: "<tr class=\"org-total\"", keys: ["data-provider", "data-org"]) == perOrg)
            let perCurrency = try sums("SELECT currency, sum(amount_nanos) FROM costs WHERE \(june) GROUP BY 1")
            #expect(ReportPage.figures(html, marker: "<div class=\"card\"", keys: ["data-currency"]) == perCurrency)
            // Each ranking's figures, top 8, grouped as the report documents (all orgs are configured).
            for (title, provider, group) in [("Top workspaces", "anthropic", "scope_id"),
                                             ("Top models", "anthropic", "coalesce(model, cost_type, item)"),
                                             ("Top ClickHouse metrics", "clickhouse", "coalesce(metric, item)"),
                                             ("Top ClickHouse services", "clickhouse", "entity_id")] {
                let expected = try fx.rows("""
                    SELECT sum(amount_nanos) AS n FROM costs WHERE provider = '\(provider)' AND \(june)
                    GROUP BY org, \(group) ORDER BY n DESC LIMIT 8
                    """).map { Int64($0[0])! }
                #expect(!expected.isEmpty && Self.ranking(html, title: title) == expected, "\(title)")
            }
            // Today's days are not final: they are marked.
            #expect(html.contains("not final"))
            #expect(!FileManager.default.fileExists(atPath: fx.directory.appendingPathComponent("unused.sqlite").path),
                    "with [postgres], the report reads PostgreSQL and creates no SQLite file")
            // A month with nothing stored still renders.
            try await fx.runOK(["report", "--month", "2024-01", "--output", path])
            #expect(try String(contentsOfFile: path, encoding: .utf8).contains("</html>"))
        }
    }
}
