import CostModel
import Logging
import PostgresNIO
import StorePort

/// Exports stream straight from one statement on one connection: rows are
/// pulled as the writer takes them (postgres-nio's back-pressure), so a year
/// of rows never sits in memory. Every column is rendered as the SQLite file
/// holds it, so the same data exports to the same bytes from either store.
extension PostgresCostStore: ExportReader {
    public func eachRow(of relation: ExportRelation, columns: [String], in range: DayRange?,
                        _ row: @Sendable ([String?]) throws -> Void) async throws {
        let (from, day, order) = switch relation {
        case .costs: ("costs", "day", ["provider", "org", "day", "line_key"])
        case .focusCosts: ("focus_costs", "x_Day", ["x_Provider", "x_Org", "x_Day", "x_LineKey"])
        }
        var binds = PostgresBindings()
        var filter = ""
        if let range {
            binds.append(range.first.description)
            binds.append(range.last.description)
            filter = "WHERE \"\(day)\" BETWEEN $1::date AND $2::date"
        }
        // Text keys in byte order, as SQLite sorts them, whatever the database's locale.
        let sql = """
            SELECT \(columns.map(Self.asSQLiteText).joined(separator: ", ")) FROM \(from) \(filter)
            ORDER BY \(order.map { $0 == day ? "\"\($0)\"" : "\"\($0)\" COLLATE \"C\"" }.joined(separator: ", "))
            """
        let query = PostgresQuery(unsafeSQL: sql, binds: binds)
        let logger = logger
        let count = columns.count
        // Not `run`: a retry after rows were handed over would hand them over twice.
        do {
            try await pool.withConnection { c in
                try Self.ensureOpen(c)
                for try await r in try await c.query(query, logger: logger) {
                    let cells = r.makeRandomAccess()
                    try row((0..<count).map { try cells[$0].decode(String?.self) })
                }
            }
        } catch let error as PSQLError {
            // Only the server's errors are worded here; the writer's own pass on as they are.
            throw PostgresStoreError.from(error, statement: "exporting \(from)", endpoint: endpoint)
        }
    }

    /// A column as SQLite's text: booleans as 1 or 0, times as RFC 3339 in
    /// UTC, dates and NUMERIC amounts as their text (NUMERIC keeps the
    /// provider's scale: 1.50 stays 1.50).
    static func asSQLiteText(_ column: String) -> String {
        let quoted = "\"\(column)\""
        switch column {
        case "is_final", "x_IsFinal": return "CASE WHEN \(quoted) THEN '1' ELSE '0' END"
        case "fetched_at": return ts(quoted)
        default: return "\(quoted)::text"
        }
    }
}
