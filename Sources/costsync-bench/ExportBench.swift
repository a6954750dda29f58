import ArgumentParser
import CSQLite
import CostModel
import Foundation
import SQLiteStore
import StorePort

/// The export figure: the real `costsync export` binary over a database of
/// 365 days × 2,000 lines, its rate and peak RSS, beside a floor that reads
/// the same rows through the raw C API and writes them as CSV to /dev/null.
struct ExportBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "costsync export --format csv of 365 days × 2,000 lines, with its peak RSS.")

    @Option(help: "Days in the database.") var days = 365
    @Option(help: "Lines a day.") var lines = 2000
    @Option(help: "csv, jsonl or focus.") var format = "csv"
    @Option(help: .hidden) var prepare: String?

    func run() async throws {
        let me = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let binary = URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("costsync").path
        if let prepare { return try await Self.fill(prepare, days: days, lines: lines) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("costsync-bench-export-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let database = dir.appendingPathComponent("costs.sqlite").path
        // The database is filled by a child process: a spawned child's peak RSS
        // includes its parent's at the spawn, so this process must stay small.
        let filler = try await Child.run(me, ["export", "--days", "\(days)", "--lines", "\(lines)", "--prepare", database],
                                         environment: ProcessInfo.processInfo.environment)
        guard filler.status == 0 else { throw ValidationError("filling the database failed") }
        let config = dir.appendingPathComponent("costsync.toml")
        try """
            database = "\(database)"
            [[anthropic]]
            name = "bench"
            admin_key_env = "COSTSYNC_BENCH_KEY"
            """.write(to: config, atomically: true, encoding: .utf8)
        var env = ProcessInfo.processInfo.environment
        env["COSTSYNC_BENCH_KEY"] = "sk-ant-admin01-bench-not-a-key"
        env["MALLOC_ARENA_MAX"] = nil
        let output = dir.appendingPathComponent("export.out").path
        let start = ContinuousClock.now
        let child = try await Child.run(binary, ["export", "--config", config.path, "--format", format, "--output", output,
                                                 "--log-level", "warning"], environment: env)
        let elapsed = ContinuousClock.now - start
        guard child.status == 0 else { throw ValidationError("costsync export failed (wait status \(child.status))") }
        let rows = days * lines
        let floor = try Self.floor(database)
        let ours = rate(rows, elapsed)
        print("floor: \(Int(floor)) rows/s (raw C API: the same rows read and written as CSV to /dev/null)")
        print("export: \(Int(ours)) rows/s (\(rows) rows, --format \(format), real costsync binary, process start included), "
              + "peak RSS \(child.maxRSSKiB / 1024) MB = \(String(format: "%.2f", ours / floor))× floor")
    }

    /// The database: `days` × `lines` Anthropic rows in 31-day transactions.
    static func fill(_ database: String, days: Int, lines: Int) async throws {
        let store = try SQLiteCostStore(path: database)
        let workload = Workload.anthropicYear(days: days, linesPerDay: lines, from: Day("2025-01-01")!)
        var offset = 0
        while offset < workload.count {
            try await store.replaceDays(Array(workload[offset..<min(offset + 31, workload.count)]), for: OrgKey(.anthropic, "bench"),
                                        fetchedAt: Timestamp(secondsSinceEpoch: 1_767_225_600), cursor: nil)
            offset += 31
        }
    }

    /// Every column of every row, comma-joined, through a 1 MiB buffer to /dev/null.
    static func floor(_ path: String) throws -> Double {
        var db: OpaquePointer?
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, nil) == SQLITE_OK, let db else { fatalError("open") }
        defer { sqlite3_close_v2(db) }
        var stmt: OpaquePointer?
        let sql = "SELECT \(Schema.costColumns.joined(separator: ", ")) FROM costs ORDER BY provider, org, day, line_key"
        guard sqlite3_prepare_v2(db, sql, -1, &stmt, nil) == SQLITE_OK, let stmt else { fatalError("prepare") }
        defer { sqlite3_finalize(stmt) }
        let out = open("/dev/null", O_WRONLY)
        defer { close(out) }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 20)
        let columns = Int32(Schema.costColumns.count)
        var rows = 0
        let start = ContinuousClock.now
        while sqlite3_step(stmt) == SQLITE_ROW {
            for c in 0..<columns {
                if c > 0 { buffer.append(UInt8(ascii: ",")) }
                if let p = sqlite3_column_text(stmt, c) {
                    buffer.append(contentsOf: UnsafeBufferPointer(start: p, count: Int(sqlite3_column_bytes(stmt, c))))
                }
            }
            buffer.append(10)
            if buffer.count >= 1 << 20 {
                _ = buffer.withUnsafeBytes { write(out, $0.baseAddress, $0.count) }
                buffer.removeAll(keepingCapacity: true)
            }
            rows += 1
        }
        _ = buffer.withUnsafeBytes { write(out, $0.baseAddress, $0.count) }
        return rate(rows, ContinuousClock.now - start)
    }
}
