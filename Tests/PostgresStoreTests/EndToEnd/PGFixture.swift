import ProcessHarness
import CostModel
import Foundation
import PostgresScratch
import Simulator
import Testing

/// Two orgs of each provider, small enough for a 400-day backfill in seconds.
func smallWorld(today: Day, linesPerDay: Int = 40, seed: UInt64 = 7) -> SimulatorWorld {
    SimulatorWorld(
        seed: seed, today: today,
        anthropicOrgs: [
            SimAnthropicOrg(name: "acme-ai", linesPerDay: linesPerDay, workspaces: 4),
            SimAnthropicOrg(name: "globex-ai", linesPerDay: max(1, linesPerDay / 3), workspaces: 2),
        ],
        clickhouseOrgs: [
            SimClickHouseOrg(name: "acme-analytics", services: 3),
            SimClickHouseOrg(name: "globex-warehouse", services: 2),
        ])
}

let pinnedToday = Day(year: 2025, month: 6, day: 30)!

struct Org: Hashable, Sendable {
    var provider: Provider
    var name: String
}

/// One test's world on PostgreSQL: the simulator on a loopback port, a
/// temporary folder for configs, a schema of its own in the suite's cluster,
/// and the real `costsync` binary run against them.
final class PGFixture: Sendable {
    let simulator: ProviderSimulator
    let directory: URL
    let today: Day
    let binary: String
    let schema: String
    let cluster: PGCluster

    var configPath: String { directory.appendingPathComponent("costsync.toml").path }

    private init(simulator: ProviderSimulator, directory: URL, today: Day, binary: String, schema: String, cluster: PGCluster) {
        self.simulator = simulator
        self.directory = directory
        self.today = today
        self.binary = binary
        self.schema = schema
        self.cluster = cluster
    }

    static func with<T>(_ world: SimulatorWorld, startDate: Day, extraSync: String = "",
                        _ body: (PGFixture) async throws -> T) async throws -> T {
        let cluster = try PGCluster.shared()
        let binary = try CostsyncBinary.path()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("costsync-pg-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let noon = WallClock.fixed(Timestamp(secondsSinceEpoch: world.today.secondsSinceEpoch + 12 * 3600))
        let simulator = try await ProviderSimulator.start(world: world, clock: noon)
        let fixture = PGFixture(simulator: simulator, directory: directory, today: world.today, binary: binary,
                                schema: freshSchema("e2e"), cluster: cluster)
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            try fixture.writeConfig(startDate: startDate, extraSync: extraSync)
            let value = try await body(fixture)
            try? await simulator.shutdown()
            return value
        } catch {
            try? await simulator.shutdown()
            throw error
        }
    }

    var world: SimulatorWorld { simulator.world }

    var orgs: [Org] {
        world.anthropicOrgs.map { Org(provider: .anthropic, name: $0.name) } + world.clickhouseOrgs.map { Org(provider: .clickhouse, name: $0.name) }
    }

    /// A config naming `only` (every org when nil) and this test's schema;
    /// `database` points at a file that must never appear.
    func configTOML(startDate: Day, only: Set<String>? = nil, extraSync: String = "", poll: String = "1h") -> String {
        func q(_ s: String) -> String { "\"" + s + "\"" }
        let w = world
        let url = simulator.baseURL
        var out = "database = \(q(directory.appendingPathComponent("unused.sqlite").path))\n\n"
        out += "[sync]\npoll_interval = \(q(poll))\nstart_date = \(q(startDate.description))\nsettle_days = 3\n" + extraSync
        for org in w.anthropicOrgs where only?.contains(org.name) ?? true {
            out += "\n[[anthropic]]\nname = \(q(org.name))\nadmin_key_env = \(q(SimulatorWorld.environmentName(org: org.name, "ADMIN_KEY")))\n"
            out += "base_url = \(q(url))\n"
        }
        for org in w.clickhouseOrgs where only?.contains(org.name) ?? true {
            out += "\n[[clickhouse]]\nname = \(q(org.name))\norganization_id = \(q(org.organizationID))\n"
            out += "key_id_env = \(q(SimulatorWorld.environmentName(org: org.name, "KEY_ID")))\n"
            out += "key_secret_env = \(q(SimulatorWorld.environmentName(org: org.name, "KEY_SECRET")))\n"
            out += "base_url = \(q(url))\n"
        }
        return out + cluster.configTable(schema: schema)
    }

    func writeConfig(startDate: Day, extraSync: String = "") throws {
        try Data(configTOML(startDate: startDate, extraSync: extraSync).utf8).write(to: URL(fileURLWithPath: configPath))
    }

    /// Writes a second config (another instance's) and returns its path.
    func writeConfig(named name: String, _ text: String) throws -> String {
        let path = directory.appendingPathComponent(name).path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func environment() -> [String: String] {
        var env: [String: String] = [
            "PATH": "/usr/bin:/bin", "HOME": directory.path, "LANG": "C.UTF-8", "COSTSYNC_NOW": "\(today)T12:00:00Z",
        ]
        for (name, value) in world.credentialEnvironment() { env[name] = value }
        return env
    }

    func start(_ args: [String], config: String? = nil) throws -> Subprocess {
        try Subprocess(executable: binary, arguments: args + ["--config", config ?? configPath], environment: environment(),
                       currentDirectory: directory)
    }

    @discardableResult
    func runOK(_ args: [String], config: String? = nil, timeout: Duration = .seconds(180),
               sourceLocation: SourceLocation = #_sourceLocation) async throws -> RunResult {
        let result = await (try start(args, config: config)).wait(timeout: timeout)
        #expect(result.exitedNormally && result.status == 0, "\(result)", sourceLocation: sourceLocation)
        return result
    }

    // MARK: Reading PostgreSQL as another client would (psql)

    /// Rows of `sql` in this test's schema, NULL as "∅".
    func rows(_ sql: String) throws -> [[String]] {
        let out = try PGCluster.shell([cluster.bin + "/psql", "-h", cluster.socketDirectory, "-p", "\(cluster.port)", "-U", cluster.user,
                                       "-d", "postgres", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-P", "null=∅",
                                       "-F", "\u{1F}", "-R", "\u{1E}", "-c", "SET search_path TO \(schema)", "-c", sql], as: nil)
        return out.split(separator: "\u{1E}", omittingEmptySubsequences: true)
            .map { $0.trimmingCharacters(in: .newlines) }.filter { !$0.isEmpty }
            .map { $0.split(separator: "\u{1F}", omittingEmptySubsequences: false).map(String.init) }
    }

    func count(_ sql: String) throws -> Int { Int(try rows(sql).first?.first ?? "") ?? -1 }

    /// Everything that differs between the schema and the simulator for
    /// `range` of `orgs`: per day the rows and exact nanos of `costs` and
    /// `sync_days`, rows outside the range, and whole line sets of `lineDays`.
    func mismatches(in range: DayRange, orgs selected: [Org]? = nil, lineDays: Set<Day>? = nil, rowsOutside: Bool = true) throws -> [String] {
        let world = self.world
        var costs: [String: String] = [:]
        for r in try rows("SELECT provider, org, day::text, count(*), sum(amount_nanos) FROM costs GROUP BY 1, 2, 3") {
            costs["\(r[0])/\(r[1]) \(r[2])"] = "\(r[3]) rows, \(r[4]) nanos"
        }
        var days: [String: String] = [:]
        for r in try rows("SELECT provider, org, day::text, row_count, amount_nanos FROM sync_days") {
            days["\(r[0])/\(r[1]) \(r[2])"] = "\(r[3]) rows, \(r[4]) nanos"
        }
        var problems: [String] = []
        let sample = lineDays ?? Set(range.enumerated().filter { $0.offset % 17 == 0 }.map(\.element) + [range.first, range.last])
        for org in selected ?? orgs {
            for day in range {
                let key = "\(org.provider)/\(org.name) \(day)"
                let e = world.expectedDayTotals(provider: org.provider, org: org.name, day: day)
                let expected = "\(e.rows) rows, \(e.nanos) nanos"
                let stored = costs.removeValue(forKey: key) ?? "0 rows, 0 nanos"
                if stored != expected && !(e.rows == 0 && stored == "0 rows, 0 nanos") {
                    problems.append("\(key): costs has \(stored), the simulator \(expected)")
                }
                let dayRow = days[key]
                if dayRow == nil { problems.append("\(key): no sync_days row") }
                else if dayRow != expected && !(e.rows == 0 && dayRow == "0 rows, 0 nanos") {
                    problems.append("\(key): sync_days says \(dayRow!), the simulator \(expected)")
                }
                if sample.contains(day) {
                    let got = try storedLines(org, day: day)
                    let want = world.expectedLines(org.provider, org: org.name, day: day)
                    if got != want { problems.append("\(key): lines differ (\(got.count) stored, \(want.count) expected)") }
                }
            }
        }
        let mine = Set((selected ?? orgs).map { "\($0.provider)/\($0.name)" })
        let outside = costs.keys.filter { mine.contains(String($0.split(separator: " ")[0])) }
        if rowsOutside && !outside.isEmpty { problems.append("rows outside \(range): \(outside.sorted().prefix(5))") }
        let duplicates = try count("""
            SELECT count(*) FROM (SELECT 1 FROM costs GROUP BY provider, org, day, scope_id, item, workspace_id, description, cost_type,
                model, token_type, context_window, service_tier, inference_geo, entity_type, entity_id, service_id, data_warehouse_id,
                metric HAVING count(*) > 1) AS d
            """)
        if duplicates != 0 { problems.append("\(duplicates) lines are stored twice under different keys") }
        return problems
    }

    /// Every committed day is whole: its `sync_days` row matches `costs` and the simulator.
    func partialDays() throws -> (days: Int, problems: [String]) {
        var problems: [String] = []
        let rows = try rows("""
            SELECT d.provider, d.org, d.day::text, d.row_count, d.amount_nanos, count(c.line_key), coalesce(sum(c.amount_nanos), 0)
            FROM sync_days d LEFT JOIN costs c ON c.provider = d.provider AND c.org = d.org AND c.day = d.day
            GROUP BY 1, 2, 3, 4, 5
            """)
        for r in rows {
            guard let provider = Provider(rawValue: r[0]), let day = Day(r[2]) else { continue }
            let e = world.expectedDayTotals(provider: provider, org: r[1], day: day)
            if r[3] != r[5] || r[4] != r[6] { problems.append("\(r[0])/\(r[1]) \(r[2]): sync_days \(r[3])/\(r[4]) but costs \(r[5])/\(r[6])") }
            if Int(r[5]) != e.rows || Int64(r[6]) != e.nanos { problems.append("\(r[0])/\(r[1]) \(r[2]): stored \(r[5])/\(r[6]), simulator \(e.rows)/\(e.nanos)") }
        }
        return (rows.count, problems)
    }

    func storedLines(_ org: Org, day: Day) throws -> [LineFacts] {
        switch org.provider {
        case .anthropic:
            return try rows("""
                SELECT scope_id, workspace_id, description, cost_type, model, token_type, context_window, service_tier, inference_geo, amount_nanos
                FROM costs WHERE provider = 'anthropic' AND org = '\(org.name)' AND day = '\(day)'
                """).map { LineFacts(fields: Array($0.prefix(9)), nanos: Int64($0[9]) ?? 0) }.sorted()
        case .clickhouse:
            return try rows("""
                SELECT scope_id, entity_type, entity_id, entity_name, service_id, data_warehouse_id, item, amount_nanos
                FROM costs WHERE provider = 'clickhouse' AND org = '\(org.name)' AND day = '\(day)'
                """).map { LineFacts(fields: Array($0.prefix(7)), nanos: Int64($0[7]) ?? 0) }.sorted()
        }
    }

    func cursor(_ org: Org) throws -> (next: Day?, lastSuccess: String?, lastError: String?)? {
        try rows("SELECT next_day::text, last_success_at::text, last_error FROM sync_cursor WHERE provider = '\(org.provider)' AND org = '\(org.name)'")
            .first.map { (Day($0[0]), $0[1] == "∅" ? nil : $0[1], $0[2] == "∅" ? nil : $0[2]) }
    }
}

/// A cost line by the facts a user sees (not by `line_key`).
struct LineFacts: Hashable, Comparable, Sendable {
    var fields: [String]
    var nanos: Int64
    static func < (a: LineFacts, b: LineFacts) -> Bool {
        a.fields.lexicographicallyPrecedes(b.fields) || (a.fields == b.fields && a.nanos < b.nanos)
    }
}

private func show(_ s: String?) -> String { s ?? "∅" }

extension SimulatorWorld {
    /// The lines a correct costsync stores for one org's day (as in EndToEndTests).
    func expectedLines(_ provider: Provider, org: String, day: Day) -> [LineFacts] {
        switch provider {
        case .anthropic:
            return anthropicResults(org: org, day: day).map { r in
                LineFacts(fields: [r.workspaceID ?? "default", show(r.workspaceID), show(r.description), show(r.costType),
                                   show(r.model), show(r.tokenType), show(r.contextWindow), show(r.serviceTier), show(r.inferenceGeo)],
                          nanos: r.amountNanos)
            }.sorted()
        case .clickhouse:
            var out: [LineFacts] = []
            for rec in clickhouseRecords(org: org, day: day) {
                func line(_ item: String, _ nanos: Int64) -> LineFacts {
                    LineFacts(fields: [rec.entityID, rec.entityType, rec.entityID, rec.entityName, show(rec.serviceID),
                                       rec.dataWarehouseID, item], nanos: nanos)
                }
                for m in rec.metrics where m.picoCHC != 0 { out.append(line(m.name, m.nanos)) }
                if rec.unattributedPicoCHC != 0 {
                    let nanos = rec.expectedRows.nanos - rec.metrics.filter { $0.picoCHC != 0 }.reduce(0) { $0 + $1.nanos }
                    out.append(line("unattributedCHC", nanos))
                }
            }
            return out.sorted()
        }
    }
}

func expectNoProblems(_ problems: [String], _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(problems.isEmpty, "\(what): \(problems.count) problems, first: \(problems.prefix(10).joined(separator: "\n"))",
            sourceLocation: sourceLocation)
}
