import ArgumentParser
import CostModel
import Foundation
import Logging
import PostgresScratch
import PostgresStore
import Simulator
import StorePort

/// `costsync-bench backfill --store postgres` (issue 13): the real
/// `costsync backfill` binary against the simulator, into a throwaway
/// PostgreSQL cluster, beside a floor measured in the same run on the same
/// cluster: the same rows loaded with ONE COPY in ONE transaction.
enum PostgresBackfillBench {
    static func run(binary: String, days: Int, lines: Int, noFloor: Bool) async throws {
        let cluster = try PGCluster()
        defer {
            cluster.stop(mode: "immediate")
            cluster.remove()
        }
        let today = Day("2026-03-31")!
        let world = SimulatorWorld(seed: 11, today: today, anthropicOrgs: [SimAnthropicOrg(name: "bench", linesPerDay: lines, workspaces: 40)])
        let simulator = try await ProviderSimulator.start(
            world: world, clock: .fixed(Timestamp(secondsSinceEpoch: world.today.secondsSinceEpoch + 12 * 3600)))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("costsync-bench-pg-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("costsync.toml")
        let toml = world.costsyncConfigTOML(baseURL: simulator.baseURL, database: dir.appendingPathComponent("unused.sqlite").path)
            + cluster.configTable(schema: "bench")
        try toml.write(to: config, atomically: true, encoding: .utf8)

        let first = today.advanced(by: -(days - 1))
        let (child, elapsed) = try await Child.backfill(binary, config: config.path, world: world, DayRange(first, today))
        try await simulator.shutdown()

        var logger = Logger(label: "costsync.bench")
        logger.logLevel = .warning
        let store = try await PostgresCostStore(endpoint: cluster.endpoint(schema: "bench"), logger: logger)
        let rows = try await store.count("costs")
        await store.close()
        let ours = rate(rows, elapsed)
        var line = "backfill --store postgres: \(Int(ours)) rows/s (\(rows) rows, \(days) days, real costsync binary over loopback HTTP "
            + "into PostgreSQL on a unix socket), peak RSS \(child.maxRSSKiB / 1024) MB"
        if !noFloor {
            // The floor loads the very rows costsync stored, read back now.
            let reader = try await PostgresCostStore(endpoint: cluster.endpoint(schema: "bench"), logger: logger)
            let workload = try await StoredRows.read(reader)
            await reader.close()
            // The best of three, each into a schema of its own: a floor is the fastest this machine did the work.
            var floor = 0.0
            var loaded = 0
            for run in 1...3 {
                let floorStore = try await PostgresCostStore(endpoint: cluster.endpoint(schema: "floor\(run)"), logger: logger)
                let (rows, elapsed) = try await floorStore.copyFloor(workload, org: OrgKey(.anthropic, "floor"),
                                                                     fetchedAt: Timestamp(secondsSinceEpoch: 0))
                await floorStore.close()
                floor = max(floor, rate(rows, elapsed))
                loaded = rows
            }
            print("floor: \(Int(floor)) rows/s (the same \(loaded) rows with one COPY in one transaction, same cluster, same schema; best of 3)")
            line += " = \(String(format: "%.2f", ours / floor))× floor"
        }
        print(line)
    }
}
