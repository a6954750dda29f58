public import CostModel

/// What `costsync export` reads, from either store.
public enum ExportRelation: Sendable {
    /// The `costs` table, in key order (provider, org, day, line_key).
    case costs
    /// The `focus_costs` view, in the same order (x_Provider, x_Org, x_Day, x_LineKey).
    case focusCosts
}

/// Rows streamed for an export, rendered one way for every store, so an
/// export of a PostgreSQL database is byte for byte the export of the SQLite
/// file it was copied from.
public protocol ExportReader: Sendable {
    /// Each row of `relation` with a day in `range` (every day when nil), in
    /// key order, its `columns` as text the way the SQLite file holds them:
    /// integers and booleans as digits, times as RFC 3339 in UTC, amounts as
    /// the provider's exact decimal text, NULL as nil. Rows are handed to
    /// `row` one at a time as they arrive, so memory stays flat in their number.
    func eachRow(of relation: ExportRelation, columns: [String], in range: DayRange?,
                 _ row: @Sendable ([String?]) throws -> Void) async throws
}
