import CostModel
import Logging
import PostgresNIO
import StorePort

/// `costsync report`'s sums with `SQLiteCostStore`'s answers. `sum(bigint)` is
/// numeric, cast back to bigint (an overflow fails, as SQLite's SUM does), and
/// every text ordering is `COLLATE "C"`: byte order, as SQLite compares, not
/// the database's locale.
extension PostgresCostStore: ReportReader {
    public func dayTotals(in range: DayRange) async throws -> [DayTotal] {
        let logger = logger
        var b = PostgresBindings()
        b.append(range.first.description)
        b.append(range.last.description)
        let binds = b
        let rows = try await run("reading the report's day totals") { c in
            try await Self.rows(c, """
                SELECT provider, org, day::text, sum(amount_nanos)::bigint, bool_and(is_final) FROM costs
                WHERE day BETWEEN $1::date AND $2::date GROUP BY provider, org, day
                ORDER BY provider COLLATE "C", org COLLATE "C", day
                """, binds, logger: logger).map { try $0.decode((String, String, String, Int64, Bool).self) }
        }
        return rows.compactMap { provider, org, day, nanos, final in
            guard let provider = Provider(rawValue: provider), let day = Day(day) else { return nil }
            return DayTotal(key: OrgKey(provider, org), day: day, nanos: nanos, isFinal: final)
        }
    }

    public func orgTotals(in range: DayRange, through cut: Day) async throws -> [OrgTotal] {
        let logger = logger
        var b = PostgresBindings()
        b.append(range.first.description)
        b.append(range.last.description)
        b.append(cut.description)
        let binds = b
        let rows = try await run("reading the report's org totals") { c in
            try await Self.rows(c, """
                SELECT provider, org, sum(amount_nanos)::bigint,
                       sum(CASE WHEN day <= $3::date THEN amount_nanos ELSE 0 END)::bigint FROM costs
                WHERE day BETWEEN $1::date AND $2::date GROUP BY provider, org
                ORDER BY provider COLLATE "C", org COLLATE "C"
                """, binds, logger: logger).map { try $0.decode((String, String, Int64, Int64).self) }
        }
        return rows.compactMap { provider, org, nanos, cut in
            Provider(rawValue: provider).map { OrgTotal(key: OrgKey($0, org), nanos: nanos, throughCutNanos: cut) }
        }
    }

    public func ranking(_ kind: RankingKind, in range: DayRange, limit: Int) async throws -> [RankedRow] {
        let logger = logger
        let (label, group) = Self.grouping(kind)
        var b = PostgresBindings()
        b.append(kind.provider.rawValue)
        b.append(range.first.description)
        b.append(range.last.description)
        b.append(Int64(limit))
        let binds = b
        // SQLite sorts NULL first; the group's own key breaks ties last (two workspaces may share a name).
        let sql = """
            SELECT org, \(label), sum(amount_nanos)::bigint AS n FROM costs
            WHERE provider = $1 AND day BETWEEN $2::date AND $3::date GROUP BY org, \(group)
            ORDER BY n DESC, org COLLATE "C", \(label) COLLATE "C" NULLS FIRST, \(group) COLLATE "C" NULLS FIRST LIMIT $4
            """
        let rows = try await run("reading the report's \(kind) ranking") { c in
            try await Self.rows(c, sql, binds, logger: logger).map { try $0.decode((String, String?, Int64).self) }
        }
        return rows.map { RankedRow(key: OrgKey(kind.provider, $0.0), label: $0.1, nanos: $0.2) }
    }

    /// As `SQLiteCostStore`'s; a name's `max` is by byte order too, in case
    /// the rows of a group ever disagree.
    static func grouping(_ kind: RankingKind) -> (label: String, group: String) {
        switch kind {
        case .workspaces: (#"coalesce(max(scope_name COLLATE "C"), scope_id)"#, "scope_id")
        case .models: ("coalesce(model, cost_type, item)", "coalesce(model, cost_type, item)")
        case .clickhouseMetrics: ("coalesce(metric, item)", "coalesce(metric, item)")
        case .clickhouseServices: (#"coalesce(max(entity_name COLLATE "C"), entity_id)"#, "entity_id")
        }
    }
}
