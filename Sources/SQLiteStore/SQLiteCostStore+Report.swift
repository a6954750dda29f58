import CostModel
import SQLite
import StorePort

/// `costsync report`'s sums, from `costs`. SQLite's SUM fails on an Int64
/// overflow rather than turning to a float, so every figure stays exact.
extension SQLiteCostStore: ReportReader {
    public func dayTotals(in range: DayRange) throws -> [DayTotal] {
        try db.cached("""
            SELECT provider, org, day, SUM(amount_nanos), MIN(is_final) FROM costs
            WHERE day BETWEEN ?1 AND ?2 GROUP BY provider, org, day ORDER BY provider, org, day
            """).query([.text(range.first.description), .text(range.last.description)]) { row in
            (Self.key(row.text(0), row.text(1)), Day(row.text(2) ?? ""), row.int64(3), row.int64(4) == 1)
        }.compactMap { key, day, nanos, final in
            guard let key, let day else { return nil }
            return DayTotal(key: key, day: day, nanos: nanos, isFinal: final)
        }
    }

    public func orgTotals(in range: DayRange, through cut: Day) throws -> [OrgTotal] {
        try db.cached("""
            SELECT provider, org, SUM(amount_nanos), SUM(CASE WHEN day <= ?3 THEN amount_nanos ELSE 0 END) FROM costs
            WHERE day BETWEEN ?1 AND ?2 GROUP BY provider, org ORDER BY provider, org
            """).query([.text(range.first.description), .text(range.last.description), .text(cut.description)]) { row in
            (Self.key(row.text(0), row.text(1)), row.int64(2), row.int64(3))
        }.compactMap { key, nanos, cut in key.map { OrgTotal(key: $0, nanos: nanos, throughCutNanos: cut) } }
    }

    public func ranking(_ kind: RankingKind, in range: DayRange, limit: Int) throws -> [RankedRow] {
        let (label, group) = Self.grouping(kind)
        // The group's own key breaks ties last: two workspaces may share a name.
        return try db.cached("""
            SELECT org, \(label) AS label, SUM(amount_nanos) AS n FROM costs
            WHERE provider = ?1 AND day BETWEEN ?2 AND ?3 GROUP BY org, \(group) ORDER BY n DESC, org, label, \(group) LIMIT ?4
            """).query([.text(kind.provider.rawValue), .text(range.first.description), .text(range.last.description),
                        .integer(Int64(limit))]) { row in
            RankedRow(key: OrgKey(kind.provider, row.text(0) ?? ""), label: row.text(1), nanos: row.int64(2))
        }
    }

    /// A name is taken as `max` over its group, not from an arbitrary row, so
    /// PostgreSQL (which has no bare columns) picks the same one; a names
    /// refresh gives every row of a group the same name anyway.
    static func grouping(_ kind: RankingKind) -> (label: String, group: String) {
        switch kind {
        case .workspaces: ("COALESCE(MAX(scope_name), scope_id)", "scope_id")
        case .models: ("COALESCE(model, cost_type, item)", "COALESCE(model, cost_type, item)")
        case .clickhouseMetrics: ("COALESCE(metric, item)", "COALESCE(metric, item)")
        case .clickhouseServices: ("COALESCE(MAX(entity_name), entity_id)", "entity_id")
        }
    }

    private static func key(_ provider: String?, _ org: String?) -> OrgKey? {
        guard let provider = provider.flatMap(Provider.init(rawValue:)), let org else { return nil }
        return OrgKey(provider, org)
    }
}
