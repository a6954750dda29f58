import CostModel
import SQLiteStore
import StorePort
import Foundation
import SQLite

/// A database file in a fresh temporary folder, removed when the test ends.
func withTemporaryDatabase<T>(_ body: (String) async throws -> T) async throws -> T {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("costsync-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    return try await body(dir.appendingPathComponent("costs.sqlite").path)
}

let acme = OrgKey(.anthropic, "acme")
let fetched = Timestamp(rfc3339: "2025-03-05T12:00:00Z")!

func day(_ text: String) -> Day { Day(text)! }

/// An Anthropic line whose key is `key` and whose amount is `cents` cents.
func line(_ key: String, cents: String, workspace: String? = "wrkspc_1") -> CostLine {
    CostLine(lineKey: key, scopeID: workspace ?? "default", item: "Claude usage \(key)",
             amount: try! Money.anthropicCents(cents), dimensions: Dimensions(workspaceID: workspace, description: "Claude usage \(key)"))
}
