import ProcessHarness
import CostModel
import Foundation
import Simulator
import SQLite
import Testing

/// The world most tests sync: two orgs of each provider, small enough that a
/// 400-day backfill takes seconds in a debug build.
func smallWorld(today: Day, linesPerDay: Int = 40, seed: UInt64 = 7) -> SimulatorWorld {
    SimulatorWorld(
        seed: seed,
        today: today,
        anthropicOrgs: [
            SimAnthropicOrg(name: "acme-ai", linesPerDay: linesPerDay, workspaces: 4),
            SimAnthropicOrg(name: "globex-ai", linesPerDay: max(1, linesPerDay / 3), workspaces: 2),
        ],
        clickhouseOrgs: [
            SimClickHouseOrg(name: "acme-analytics", services: 3),
            SimClickHouseOrg(name: "globex-warehouse", services: 2),
        ])
}

/// "Today" for both sides: the simulator's `world.today` and costsync's
/// `COSTSYNC_NOW`, never the real date.
let pinnedToday = Day(year: 2025, month: 6, day: 30)!

/// The `[sync]` table a test writes.
struct SyncSection {
    var pollInterval = "1h"
    var startDate: Day
    var settleDays = 3
    var maxConcurrentOrgs: Int? = nil
    /// More `[sync]` lines, as TOML.
    var extra = ""
}

/// One test's world: a simulator on an ephemeral loopback port, a temporary
/// folder with the config and the database, and the environment that carries
/// the secrets to `costsync` (never its arguments).
final class Fixture: Sendable {
    let simulator: ProviderSimulator
    let directory: URL
    let today: Day
    let configPath: String
    let databasePath: String
    let binary: String

    private init(simulator: ProviderSimulator, directory: URL, today: Day, binary: String) {
        self.simulator = simulator
        self.directory = directory
        self.today = today
        self.configPath = directory.appendingPathComponent("costsync.toml").path
        self.databasePath = directory.appendingPathComponent("costs.sqlite").path
        self.binary = binary
    }

    /// Runs `body` with a fresh fixture; the simulator is stopped and the
    /// folder removed afterwards, whatever happens.
    static func with<T>(_ world: SimulatorWorld, sync: SyncSection? = nil,
                        _ body: (Fixture) async throws -> T) async throws -> T {
        let binary = try CostsyncBinary.path()
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("costsync-e2e-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let simulator: ProviderSimulator
        do {
            // The simulator's "now" is the one COSTSYNC_NOW gives costsync.
            let noon = WallClock.fixed(Timestamp(secondsSinceEpoch: world.today.secondsSinceEpoch + 12 * 3600))
            simulator = try await ProviderSimulator.start(world: world, clock: noon)
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        let fixture = Fixture(simulator: simulator, directory: directory, today: world.today, binary: binary)
        do {
            try fixture.writeConfig(sync ?? SyncSection(startDate: world.today.advanced(by: -29)))
            let value = try await body(fixture)
            await fixture.tearDown()
            return value
        } catch {
            await fixture.tearDown()
            throw error
        }
    }

    private func tearDown() async {
        try? await simulator.shutdown()
        try? FileManager.default.removeItem(at: directory)
    }

    var world: SimulatorWorld { simulator.world }

    /// Every org of the world, as (provider, name).
    var orgs: [(provider: Provider, name: String)] {
        let w = world
        return w.anthropicOrgs.map { (Provider.anthropic, $0.name) } + w.clickhouseOrgs.map { (Provider.clickhouse, $0.name) }
    }

    // MARK: Config and environment

    /// The config for every org of the world, secrets named by environment variable.
    func configTOML(_ sync: SyncSection, database: String? = nil, extra: String = "") -> String {
        func q(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }
        let w = world
        let url = simulator.baseURL
        var out = "database = \(q(database ?? databasePath))\n\n"
        out += "[sync]\npoll_interval = \(q(sync.pollInterval))\nstart_date = \(q(sync.startDate.description))\nsettle_days = \(sync.settleDays)\n"
        if let n = sync.maxConcurrentOrgs { out += "max_concurrent_orgs = \(n)\n" }
        out += sync.extra
        for org in w.anthropicOrgs {
            out += "\n[[anthropic]]\nname = \(q(org.name))\n"
            out += "admin_key_env = \(q(SimulatorWorld.environmentName(org: org.name, "ADMIN_KEY")))\n"
            out += "base_url = \(q(url))\n"
        }
        for org in w.clickhouseOrgs {
            out += "\n[[clickhouse]]\nname = \(q(org.name))\n"
            out += "organization_id = \(q(org.organizationID))\n"
            out += "key_id_env = \(q(SimulatorWorld.environmentName(org: org.name, "KEY_ID")))\n"
            out += "key_secret_env = \(q(SimulatorWorld.environmentName(org: org.name, "KEY_SECRET")))\n"
            out += "base_url = \(q(url))\n"
        }
        return out + extra
    }

    func writeConfig(_ sync: SyncSection) throws {
        try writeConfig(text: configTOML(sync))
    }

    func writeConfig(text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: configPath))
    }

    /// The child's whole environment: nothing inherited from the test process
    /// (no stray COSTSYNC_CONFIG, NOTIFY_SOCKET or JOURNAL_STREAM), the pinned
    /// "now", and every org's credentials; `overrides` replace or (nil) remove.
    func environment(_ overrides: [String: String?] = [:]) -> [String: String] {
        var env: [String: String] = [
            "PATH": "/usr/bin:/bin",
            "HOME": directory.path,
            "LANG": "C.UTF-8",
            "COSTSYNC_NOW": "\(today)T12:00:00Z",
        ]
        for (name, value) in world.credentialEnvironment() { env[name] = value }
        for (name, value) in overrides { env[name] = value }
        return env
    }

    // MARK: Running costsync

    /// `costsync <arguments> --config <this test's config>`.
    func arguments(_ args: [String]) -> [String] { args + ["--config", configPath] }

    func start(_ args: [String], env overrides: [String: String?] = [:]) throws -> Subprocess {
        try Subprocess(executable: binary, arguments: arguments(args), environment: environment(overrides),
                       currentDirectory: directory)
    }

    func run(_ args: [String], env overrides: [String: String?] = [:], timeout: Duration = .seconds(120)) async throws -> RunResult {
        try await start(args, env: overrides).wait(timeout: timeout)
    }

    /// Runs and expects exit status 0, recording the whole output otherwise.
    @discardableResult
    func runOK(_ args: [String], env overrides: [String: String?] = [:], timeout: Duration = .seconds(120),
               sourceLocation: SourceLocation = #_sourceLocation) async throws -> RunResult {
        let result = try await run(args, env: overrides, timeout: timeout)
        #expect(result.exitedNormally && result.status == 0, "\(result)", sourceLocation: sourceLocation)
        return result
    }

    // MARK: Reading the database

    /// A read-only connection to the database, as another process would open it.
    func withDatabase<T>(_ body: (Connection) throws -> T) throws -> T {
        let connection = try Connection(path: databasePath, mode: .readOnly)
        return try body(connection)
    }

    /// The days a query's first column names.
    func days(_ sql: String, _ values: [SQLiteValue] = []) throws -> Set<Day> {
        Set(try withDatabase { db in try db.query(sql, values) { $0.text(0).flatMap { Day($0) } } }.compactMap { $0 })
    }

    func count(_ sql: String, _ values: [SQLiteValue] = []) throws -> Int {
        try withDatabase { db in try db.query(sql, values) { Int($0.int64(0)) }.first ?? 0 }
    }

    func cursor(_ provider: Provider, _ org: String) throws -> CursorRow? {
        try withDatabase { db in
            try db.query("""
                SELECT next_day, last_attempt_at, last_success_at, last_error, consecutive_failures
                FROM sync_cursor WHERE provider = ?1 AND org = ?2
                """, [.text(provider.rawValue), .text(org)]) { s in
                CursorRow(nextDay: s.text(0).flatMap { Day($0) }, lastAttemptAt: s.text(1), lastSuccessAt: s.text(2),
                          lastError: s.text(3), consecutiveFailures: Int(s.int64(4)))
            }.first
        }
    }
}

struct CursorRow: Sendable {
    var nextDay: Day?
    var lastAttemptAt: String?
    var lastSuccessAt: String?
    var lastError: String?
    var consecutiveFailures: Int
}
