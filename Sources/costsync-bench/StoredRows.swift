import CostModel
import StorePort
import Synchronization

/// The rows the product stored in a backfill, read back as the floor's input:
/// a floor loads the same rows (the simulator's, as costsync normalized them),
/// not a look-alike workload, so the two figures divide the same work.
enum StoredRows {
    /// The `costs` columns a `CostLine` comes back from, in the order `days(_:)` reads them.
    static let columns = ["day", "line_key", "scope_id", "scope_name", "item", "amount",
                          "workspace_id", "description", "cost_type", "model", "token_type", "context_window", "service_tier",
                          "inference_geo", "entity_type", "entity_id", "entity_name", "service_id", "data_warehouse_id", "metric",
                          "x_extras"]

    /// Every stored line, by day in key order, read through the export port,
    /// so either store hands the floor its rows as the same text.
    static func read(_ store: any ExportReader) async throws -> [DayWrite] {
        let rows = Mutex<[[String?]]>([])
        try await store.eachRow(of: .costs, columns: columns, in: nil) { row in rows.withLock { $0.append(row) } }
        return try days(rows.withLock { $0 })
    }

    /// Rows of `columns` as text (NULL as nil), in day order, grouped into days.
    static func days(_ rows: [[String?]]) throws -> [DayWrite] {
        var result: [DayWrite] = []
        for row in rows {
            guard let text = row[0], let day = Day(text) else { throw BenchError("a stored row without a day") }
            let d = Dimensions(workspaceID: row[6], description: row[7], costType: row[8], model: row[9], tokenType: row[10],
                               contextWindow: row[11], serviceTier: row[12], inferenceGeo: row[13], entityType: row[14],
                               entityID: row[15], entityName: row[16], serviceID: row[17], dataWarehouseID: row[18], metric: row[19])
            let line = CostLine(lineKey: row[1] ?? "", scopeID: row[2] ?? "", scopeName: row[3], item: row[4] ?? "",
                                amount: try Money.parse(row[5] ?? ""), dimensions: d, extras: row[20])
            if result.last?.day == day {
                result[result.count - 1].lines.append(line)
            } else {
                result.append(DayWrite(day: day, lines: [line], isFinal: true, mismatch: nil))
            }
        }
        return result
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
