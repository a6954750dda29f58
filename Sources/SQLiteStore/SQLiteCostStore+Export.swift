import CostModel
import SQLite
import StorePort

/// Exports read the file as it is: SQLite's text is the rendering every store matches.
extension SQLiteCostStore: ExportReader {
    public func eachRow(of relation: ExportRelation, columns: [String], in range: DayRange?,
                        _ row: @Sendable ([String?]) throws -> Void) throws {
        let (from, day, order) = switch relation {
        case .costs: ("costs", "day", "provider, org, day, line_key")
        case .focusCosts: ("focus_costs", "x_Day", "x_Provider, x_Org, x_Day, x_LineKey")
        }
        let statement = try db.prepare("""
            SELECT \(columns.joined(separator: ", ")) FROM \(from) WHERE \(day) BETWEEN ?1 AND ?2 ORDER BY \(order)
            """)
        try statement.bind(range?.first.description ?? "0000-00-00", at: 1)
        try statement.bind(range?.last.description ?? "9999-99-99", at: 2)
        let count = Int32(columns.count)
        while try statement.step() {
            try row((0..<count).map { statement.isNull($0) ? nil : statement.text($0) })
        }
    }
}
