import CostModel
import PostgresStore
import SQLiteStore
import StorePort
import Testing

let globex = OrgKey(.anthropic, "globex")
let lake = OrgKey(.clickhouse, "lake")

func modelLine(_ key: String, cents: String, workspace: String?, model: String?, costType: String? = nil) -> CostLine {
    CostLine(lineKey: key, scopeID: workspace ?? "default", item: "Claude usage \(key)", amount: try! Money.anthropicCents(cents),
             dimensions: Dimensions(workspaceID: workspace, description: "Claude usage \(key)", costType: costType, model: model))
}

/// A ClickHouse line of `service` (none: billed to the organization) for `metric` (none: unattributed).
func metricLine(_ key: String, credits: String, service: String?, metric: String?) -> CostLine {
    CostLine(lineKey: key, scopeID: service ?? "org", item: metric ?? "unattributedCHC", amount: try! Money.parse(credits),
             dimensions: Dimensions(entityType: service.map { _ in "service" }, entityID: service,
                                    entityName: service.map { "service \($0.dropFirst(4))" }, serviceID: service,
                                    dataWarehouseID: "dw-1", metric: metric))
}

// Nested in the store suite, which is serialized: its end-to-end tests stop the shared cluster.
extension PostgresStoreTests {
    /// `costsync report`'s sums: PostgreSQL answers exactly as SQLite does.
    @Suite("PostgreSQL report reader")
    struct ReportReaderTests {
        /// Two orgs of each provider across the end of February 2025: named and
        /// unnamed workspaces, models, a line with only a cost type, one with
        /// neither, ClickHouse lines without a metric or a service, a day not
        /// final, and equal sums whose order only the tie-breaks decide
        /// (`Claude-Opus` before `claude-haiku` in byte order, not in a locale's).
        static let writes: [(OrgKey, [DayWrite])] = [
            (acme, [
                DayWrite(day: day("2025-02-27"), lines: [modelLine("a", cents: "1000", workspace: "wrkspc_1", model: "claude-sonnet-4"),
                                                         modelLine("b", cents: "500", workspace: nil, model: "claude-haiku")], isFinal: true),
                DayWrite(day: day("2025-02-28"), lines: [modelLine("a", cents: "2000", workspace: "wrkspc_1", model: "claude-sonnet-4")],
                         isFinal: true),
                DayWrite(day: day("2025-03-01"), lines: [modelLine("a", cents: "10000", workspace: "wrkspc_1", model: "claude-sonnet-4"),
                                                         modelLine("b", cents: "4000", workspace: "wrkspc_2", model: "claude-haiku"),
                                                         modelLine("c", cents: "700", workspace: nil, model: nil, costType: "web_search")],
                         isFinal: true),
                DayWrite(day: day("2025-03-02"), lines: [modelLine("a", cents: "5000", workspace: "wrkspc_1", model: "claude-sonnet-4"),
                                                         modelLine("d", cents: "300", workspace: "wrkspc_2", model: nil)], isFinal: true),
                DayWrite(day: day("2025-03-03"), lines: [modelLine("a", cents: "150", workspace: "wrkspc_1", model: "claude-sonnet-4")],
                         isFinal: false),
            ]),
            (globex, [
                DayWrite(day: day("2025-02-28"), lines: [modelLine("a", cents: "800", workspace: "wrkspc_9", model: "claude-haiku")],
                         isFinal: true),
                DayWrite(day: day("2025-03-01"), lines: [modelLine("a", cents: "1200", workspace: "wrkspc_9", model: "claude-haiku"),
                                                         modelLine("b", cents: "1200", workspace: nil, model: "Claude-Opus")], isFinal: true),
            ]),
            (warehouse, [
                DayWrite(day: day("2025-02-28"), lines: [metricLine("x", credits: "4", service: "svc-a", metric: "computeCHC")], isFinal: true),
                DayWrite(day: day("2025-03-01"), lines: [metricLine("x", credits: "10", service: "svc-a", metric: "computeCHC"),
                                                         metricLine("y", credits: "2.5", service: "svc-b", metric: "storageCHC"),
                                                         metricLine("z", credits: "0.75", service: nil, metric: nil)], isFinal: true),
                DayWrite(day: day("2025-03-03"), lines: [metricLine("x", credits: "1", service: "svc-a", metric: "computeCHC")],
                         isFinal: false),
            ]),
            (lake, [
                DayWrite(day: day("2025-03-02"), lines: [metricLine("x", credits: "6", service: "svc-a", metric: "computeCHC")], isFinal: true),
            ]),
        ]

        static func fill(_ store: any CostStore) async throws {
            try await store.saveNames(acme, .workspaces([WorkspaceInfo(id: "wrkspc_1", name: "Research")]), at: fetched)
            for (key, days) in writes {
                _ = try await store.replaceDays(days, for: key, fetchedAt: fetched, cursor: nil, fetch: nil)
            }
        }

        /// Everything a reader answers for the ranges a report asks about, and a few it might.
        static func answers(_ reader: any ReportReader) async throws -> [String] {
            let march = DayRange(day("2025-03-01"), day("2025-03-31"))
            let february = DayRange(day("2025-02-01"), day("2025-02-28"))
            let ranges = [march, february, DayRange(day("2025-02-28"), day("2025-03-01")), DayRange(day("2025-01-01"), day("2025-01-31"))]
            var out: [String] = []
            for range in ranges {
                out.append("days \(range): \(try await reader.dayTotals(in: range))")
                for cut in [range.first, range.first.advanced(by: 1), range.last] {
                    out.append("orgs \(range) through \(cut): \(try await reader.orgTotals(in: range, through: cut))")
                }
                for kind in RankingKind.allCases {
                    for limit in [64, 3] {
                        out.append("\(kind) \(range) top \(limit): \(try await reader.ranking(kind, in: range, limit: limit))")
                    }
                }
            }
            return out
        }

        @Test("day totals, org totals through a cut and all four rankings answer exactly as SQLite's, to the nano")
        func parityWithSQLite() async throws {
            try await withStore("report") { pg, _ in
                let sqlite = try SQLiteCostStore.inMemory()
                try await Self.fill(sqlite)
                try await Self.fill(pg)
                let a = try await Self.answers(sqlite)
                let b = try await Self.answers(pg)
                #expect(a.count == b.count)
                for (s, p) in zip(a, b) { #expect(s == p, "SQLite\n\(s)\nPostgreSQL\n\(p)") }

                // The answers are the expected ones, not merely equal.
                let march = DayRange(day("2025-03-01"), day("2025-03-31"))
                let days = try await pg.dayTotals(in: march)
                #expect(days == [
                    DayTotal(key: acme, day: day("2025-03-01"), nanos: 147_000_000_000, isFinal: true),
                    DayTotal(key: acme, day: day("2025-03-02"), nanos: 53_000_000_000, isFinal: true),
                    DayTotal(key: acme, day: day("2025-03-03"), nanos: 1_500_000_000, isFinal: false),
                    DayTotal(key: globex, day: day("2025-03-01"), nanos: 24_000_000_000, isFinal: true),
                    DayTotal(key: lake, day: day("2025-03-02"), nanos: 6_000_000_000, isFinal: true),
                    DayTotal(key: warehouse, day: day("2025-03-01"), nanos: 13_250_000_000, isFinal: true),
                    DayTotal(key: warehouse, day: day("2025-03-03"), nanos: 1_000_000_000, isFinal: false),
                ], "February's rows stay out of March")
                let february = try await pg.orgTotals(in: DayRange(day("2025-02-01"), day("2025-02-28")), through: day("2025-02-27"))
                #expect(february == [
                    OrgTotal(key: acme, nanos: 35_000_000_000, throughCutNanos: 15_000_000_000),
                    OrgTotal(key: globex, nanos: 8_000_000_000, throughCutNanos: 0),
                    OrgTotal(key: warehouse, nanos: 4_000_000_000, throughCutNanos: 0),
                ])
                #expect(try await pg.ranking(.workspaces, in: march, limit: 64) == [
                    RankedRow(key: acme, label: "Research", nanos: 151_500_000_000),
                    RankedRow(key: acme, label: "wrkspc_2", nanos: 43_000_000_000),
                    RankedRow(key: globex, label: "default", nanos: 12_000_000_000),
                    RankedRow(key: globex, label: "wrkspc_9", nanos: 12_000_000_000),
                    RankedRow(key: acme, label: "default", nanos: 7_000_000_000),
                ])
                #expect(try await pg.ranking(.models, in: march, limit: 64) == [
                    RankedRow(key: acme, label: "claude-sonnet-4", nanos: 151_500_000_000),
                    RankedRow(key: acme, label: "claude-haiku", nanos: 40_000_000_000),
                    RankedRow(key: globex, label: "Claude-Opus", nanos: 12_000_000_000),
                    RankedRow(key: globex, label: "claude-haiku", nanos: 12_000_000_000),
                    RankedRow(key: acme, label: "web_search", nanos: 7_000_000_000),
                    RankedRow(key: acme, label: "Claude usage d", nanos: 3_000_000_000),
                ])
                #expect(try await pg.ranking(.clickhouseMetrics, in: march, limit: 64) == [
                    RankedRow(key: warehouse, label: "computeCHC", nanos: 11_000_000_000),
                    RankedRow(key: lake, label: "computeCHC", nanos: 6_000_000_000),
                    RankedRow(key: warehouse, label: "storageCHC", nanos: 2_500_000_000),
                    RankedRow(key: warehouse, label: "unattributedCHC", nanos: 750_000_000),
                ])
                #expect(try await pg.ranking(.clickhouseServices, in: march, limit: 2) == [
                    RankedRow(key: warehouse, label: "service a", nanos: 11_000_000_000),
                    RankedRow(key: lake, label: "service a", nanos: 6_000_000_000),
                ])
                #expect(try await pg.ranking(.clickhouseServices, in: march, limit: 64).last
                        == RankedRow(key: warehouse, label: nil, nanos: 750_000_000), "a line without a service has no label")
            }
        }
    }
}
