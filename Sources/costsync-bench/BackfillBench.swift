import ArgumentParser
import CostModel
import SQLiteStore
import StorePort
import Foundation
import Simulator
import SQLite

/// The end-to-end figure: the real `costsync backfill` binary against the
/// simulator (in this process, over loopback HTTP), 365 days × 2,000 lines,
/// with the daemon's peak RSS read from the kernel at exit.
struct BackfillBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backfill", abstract: "costsync backfill of 365 days × 2,000 Anthropic lines from the simulator.")

    @Option(help: "Days to backfill.") var days = 365
    @Option(help: "Lines a day.") var lines = 2000
    @Flag(help: "Skip the raw C floor step.") var noFloor = false
    @Option(help: "sqlite, or postgres: a throwaway cluster, beside a one-COPY floor (PostgresBackfillBench.swift).") var store = "sqlite"

    func run() async throws {
        let binary = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            .deletingLastPathComponent().appendingPathComponent("costsync").path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw ValidationError("no costsync binary beside costsync-bench at \(binary): build it with swift build -c release")
        }
        if store == "postgres" { return try await PostgresBackfillBench.run(binary: binary, days: days, lines: lines, noFloor: noFloor) }
        guard store == "sqlite" else { throw ValidationError("--store \(store): sqlite or postgres") }
        let today = Day("2026-03-31")!
        let world = SimulatorWorld(seed: 11, today: today, anthropicOrgs: [SimAnthropicOrg(name: "bench", linesPerDay: lines, workspaces: 40)])
        let simulator = try await ProviderSimulator.start(
            world: world, clock: .fixed(Timestamp(secondsSinceEpoch: world.today.secondsSinceEpoch + 12 * 3600)))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("costsync-bench-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let database = dir.appendingPathComponent("costs.sqlite").path
        let config = dir.appendingPathComponent("costsync.toml")
        try world.costsyncConfigTOML(baseURL: simulator.baseURL, database: database).write(to: config, atomically: true, encoding: .utf8)

        let first = today.advanced(by: -(days - 1))
        let (child, elapsed) = try await Child.backfill(binary, config: config.path, world: world, DayRange(first, today))
        try await simulator.shutdown()

        let store = try SQLiteCostStore(path: database)
        let rows = try await store.withConnection { try $0.query("SELECT count(*) FROM costs") { Int($0.int64(0)) }.first ?? 0 }
        let ours = rate(rows, elapsed)
        var line = "backfill: \(Int(ours)) rows/s (\(rows) rows, \(days) days, real costsync binary over loopback HTTP), peak RSS \(child.maxRSSKiB / 1024) MB (no MALLOC_ARENA_MAX)"
        if !noFloor {
            // The floor inserts the very rows costsync stored, read back now,
            // committing every 31 days as a backfill page does.
            let stored = try await StoredRows.read(store)
            let floor = try Floor.best(stored, org: OrgKey(.anthropic, "floor"), directory: dir)
            print("floor: \(Int(floor)) rows/s (the same rows: raw C API, one prepared statement, a transaction per 31 days; best of 3)")
            line += " = \(String(format: "%.2f", ours / floor))× floor"
        }
        print(line)
    }
}

extension Child {
    /// The real `costsync backfill` of `days` against the simulator's
    /// `world`, timed from spawn to exit; a failed run is an error.
    static func backfill(_ binary: String, config: String, world: SimulatorWorld, _ days: DayRange) async throws -> (Child, Duration) {
        var env = ProcessInfo.processInfo.environment
        for (name, value) in world.credentialEnvironment() { env[name] = value }
        env["COSTSYNC_NOW"] = "\(days.last)T12:00:00Z"
        // The figure holds without the units' MALLOC_ARENA_MAX belt.
        env["MALLOC_ARENA_MAX"] = nil
        let start = ContinuousClock.now
        let child = try await run(binary, ["backfill", "--config", config, "--from", "\(days.first)", "--to", "\(days.last)",
                                           "--log-level", "warning"], environment: env)
        let elapsed = ContinuousClock.now - start
        guard child.status == 0 else { throw ValidationError("costsync backfill failed (wait status \(child.status))") }
        return (child, elapsed)
    }
}

/// A child process run to completion with posix_spawn and reaped with wait4,
/// which hands back the kernel's own peak-RSS count. Foundation's `Process`
/// reaps its children itself, so it cannot give us their rusage.
struct Child {
    var status: Int32
    var maxRSSKiB: Int

    static func run(_ path: String, _ arguments: [String], environment: [String: String]) async throws -> Child {
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, nil, nil, argv, envp)
        guard rc == 0 else { throw ValidationError("cannot start \(path): errno \(rc)") }
        return await Task.detached {
            var status: Int32 = 0
            var usage = rusage()
            _ = wait4(pid, &status, 0, &usage)
            return Child(status: status, maxRSSKiB: usage.ru_maxrss)
        }.value
    }
}
