import Config
import CostModel
import CostsyncApp
import Foundation
import Logging
import SQLiteStore
import Simulator
import StorePort
import Synchronization
import Testing

/// What a command printed, stdout and stderr apart.
final class CapturedConsole: Sendable {
    private let lines = Mutex<(out: String, err: String)>(("", ""))
    var out: String { lines.withLock { $0.out } }
    var err: String { lines.withLock { $0.err } }

    var console: Console {
        Console(isTerminal: false, out: { text in self.lines.withLock { $0.out += text } },
                err: { text in self.lines.withLock { $0.err += text } })
    }
}

/// A simulator on loopback, a temporary database, and an app wired to both
/// through the real config parser, with "today" pinned to the simulator's.
struct AppWorld {
    let simulator: ProviderSimulator
    let directory: URL
    let captured = CapturedConsole()
    var database: String { directory.appendingPathComponent("costs.sqlite").path }

    static func with(_ world: SimulatorWorld, _ body: (AppWorld) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("costsync-app-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let simulator = try await ProviderSimulator.start(
            world: world, clock: .fixed(Timestamp(secondsSinceEpoch: world.today.secondsSinceEpoch + 12 * 3600)))
        do {
            try await body(AppWorld(simulator: simulator, directory: directory))
        } catch {
            try? await simulator.shutdown()
            throw error
        }
        try await simulator.shutdown()
    }

    /// The app for a config of this world, with `edit` applied to the TOML
    /// and `environment` over the simulator's credentials.
    func app(startDate: Day, edit: (String) -> String = { $0 }, environment extra: [String: String] = [:]) throws -> CostsyncApp {
        let world = simulator.world
        var environment = Dictionary(uniqueKeysWithValues: world.credentialEnvironment().map { ($0.name, $0.value) })
        environment.merge(extra) { _, new in new }
        let toml = edit(world.costsyncConfigTOML(baseURL: simulator.baseURL, database: database)
                        + "\n[sync]\nstart_date = \"\(startDate)\"\n")
        let config = try CostsyncConfig.parse(toml: toml, file: "test.toml", environment: environment)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let noon = WallClock.fixed(Timestamp(secondsSinceEpoch: world.today.secondsSinceEpoch + 12 * 3600))
        return CostsyncApp(config: config, clock: noon, logger: logger, console: captured.console, environment: [:])
    }
}

func smallWorld(today: Day) -> SimulatorWorld {
    SimulatorWorld(seed: 11, today: today,
                   anthropicOrgs: [SimAnthropicOrg(name: "acme-ai", linesPerDay: 12, workspaces: 2)],
                   clickhouseOrgs: [SimClickHouseOrg(name: "acme-analytics", services: 2)])
}

let today = Day(year: 2025, month: 6, day: 30)!

@Suite("Commands driven in-process")
struct AppTests {
    @Test("backfill writes every day of both orgs, and status --json reports them")
    func backfillThenStatus() async throws {
        try await AppWorld.with(smallWorld(today: today)) { w in
            let first = today.advanced(by: -39)
            let app = try w.app(startDate: first)
            try await app.backfill(DayRange(first, today))
            let store = try SQLiteCostStore(readingFrom: w.database)
            for key in [OrgKey(.anthropic, "acme-ai"), OrgKey(.clickhouse, "acme-analytics")] {
                let state = try await store.state(of: key, since: first)
                #expect(state.daysStored == 40, "\(key)")
                #expect(state.lastError == nil && state.lastSuccessAt != nil, "\(key)")
            }
            try await app.status(json: true)
            let report = try #require(try JSONSerialization.jsonObject(with: Data(w.captured.out.utf8)) as? [String: Any])
            #expect(report["healthy"] as? Bool == true)
            let rows = try #require(report["orgs"] as? [[String: Any]])
            #expect(rows.map { $0["org"] as? String } == ["acme-ai", "acme-analytics"])
            #expect(rows.allSatisfy { $0["days_stored"] as? Int == 40 })
        }
    }

    @Test("check-config --online asks for 'today' by the injected clock, not the machine's")
    func checkConfigUsesTheOneClock() async throws {
        try await AppWorld.with(smallWorld(today: today)) { w in
            let app = try w.app(startDate: today.advanced(by: -5))
            try await app.checkConfig(online: true)
            #expect(w.captured.out.contains("acme-ai: ok") && w.captured.out.contains("acme-analytics: ok"), "\(w.captured.out)")
            let probe = try #require(w.simulator.costRequests.first { $0.provider == .anthropic })
            #expect(probe.queryValue("starting_at")?.hasPrefix("\(today)") == true, "\(probe.query)")
        }
    }

    @Test("a wrong key fails check-config with the config keys to check, and never the key")
    func wrongKeyNamesTheKeys() async throws {
        try await AppWorld.with(smallWorld(today: today)) { w in
            let name = SimulatorWorld.environmentName(org: "acme-ai", "ADMIN_KEY")
            let app = try w.app(startDate: today.advanced(by: -5), environment: [name: "sk-ant-admin01-wrong-key-000000"])
            await #expect(throws: AppError.failed(nil)) { try await app.checkConfig(online: true) }
            #expect(w.captured.out.contains("acme-ai: FAILED: anthropic org 'acme-ai': authentication failed"), "\(w.captured.out)")
            #expect(w.captured.out.contains("check admin_key_env/admin_key_file"), "\(w.captured.out)")
            #expect(!w.captured.out.contains("wrong-key"))
            #expect(w.captured.out.contains("acme-analytics: ok"))
        }
    }

    @Test("backfill of an unknown org is refused before anything is opened")
    func unknownOrg() async throws {
        try await AppWorld.with(smallWorld(today: today)) { w in
            let app = try w.app(startDate: today)
            await #expect(throws: AppError.self) { try await app.backfill(DayRange(today, today), orgs: ["nope"]) }
            #expect(!FileManager.default.fileExists(atPath: w.database))
        }
    }
}
