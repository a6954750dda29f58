import ArgumentParser
import CostModel
import SQLiteStore
import StorePort
import Foundation

@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "costsync-bench",
        abstract: "costsync's benchmarks; each prints its figure beside this machine's floor.",
        subcommands: [StorageBench.self, DecodeBench.self, BackfillBench.self, ExportBench.self])
}

struct StorageBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storage", abstract: "Replace 365 days × 2,000 lines through CostStore, beside the raw C floor.")

    @Option(help: "Days to write.") var days = 365
    @Option(help: "Lines a day.") var lines = 2000
    @Option(help: "Days per transaction, as a backfill page writes them.") var batch = 31

    func run() async throws {
        let org = OrgKey(.anthropic, "bench")
        let workload = Workload.anthropicYear(days: days, linesPerDay: lines, from: Day("2025-01-01")!)
        let rows = workload.reduce(0) { $0 + $1.lines.count }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("costsync-bench-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }

        let floor = try Floor.best(workload, org: org, directory: dir, batch: batch)
        print("floor: \(Int(floor)) rows/s (raw C API, one prepared statement, \(batch)-day transactions, \(rows) rows; best of 3)")

        let store = try SQLiteCostStore(path: dir.appendingPathComponent("store.sqlite").path)
        let clock = ContinuousClock()
        let start = clock.now
        var offset = 0
        while offset < workload.count {
            let slice = Array(workload[offset..<min(offset + batch, workload.count)])
            try await store.replaceDays(slice, for: org, fetchedAt: Timestamp(secondsSinceEpoch: 1_767_225_600), cursor: nil)
            offset += batch
        }
        let ours = rate(rows, clock.now - start)
        print("storage: \(Int(ours)) rows/s (CostStore.replaceDays, \(batch)-day transactions) = \(String(format: "%.2f", ours / floor))× floor")

        // A 31-day window written again: unchanged, then with 10% of its lines restated.
        let window = Array(workload.prefix(31))
        let windowRows = window.reduce(0) { $0 + $1.lines.count }
        var t = clock.now
        try await store.replaceDays(window, for: org, fetchedAt: Timestamp(secondsSinceEpoch: 1_767_312_000), cursor: nil)
        let plain = rate(windowRows, clock.now - t)
        let restated = window.map { write -> DayWrite in
            var w = write
            for i in w.lines.indices where i % 10 == 0 { w.lines[i].amount = (try? w.lines[i].amount + Money.parse("0.01")) ?? w.lines[i].amount }
            return w
        }
        t = clock.now
        let summary = try await store.replaceDays(restated, for: org, fetchedAt: Timestamp(secondsSinceEpoch: 1_767_398_400), cursor: nil)
        let withRevisions = rate(windowRows, clock.now - t)
        print("rewrite: \(Int(plain)) rows/s (a 31-day window again, unchanged); \(Int(withRevisions)) rows/s with 10% of lines restated "
              + "(\(summary.revisions) revisions written)")
    }
}
