import ArgumentParser
import Config
import CostModel
import CostStore
import Foundation
import Logging
import ProviderHTTP
import SyncEngine

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The daemon: sync every org, sleep until the next poll, forever.")

    @OptionGroup var options: GlobalOptions
    @Flag(help: "One full pass, then exit; non-zero if any org failed (for timers and cron).")
    var once = false

    func run() async throws {
        let config = try options.loadConfig()
        let logger = options.bootstrapLogging()
        let runtime = try Runtime.open(config, clock: try options.clock(), logger: logger)
        logger.info("costsync started", metadata: [
            "orgs": "\(config.orgs.count)", "database": "\(config.databasePath)", "version": "\(costsyncVersion)",
        ])
        let outcomes = try await runtime.runService(once ? .once(.poll) : .every(config.sync.pollInterval), orgs: config.orgs)
        // An org that failed fails `--once`; a pass cut short by SIGTERM (a
        // timer unit being stopped) is not a failure of the run.
        if once && !report(outcomes) && outcomes.contains(where: { $0.error != nil }) { throw ExitCode.failure }
    }
}

struct Backfill: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fetch and write a historical range of days (inclusive, UTC); days already final are skipped.")

    @OptionGroup var options: GlobalOptions
    @Option(help: "First day, YYYY-MM-DD.") var from: Day
    @Option(help: "Last day, YYYY-MM-DD (inclusive).") var to: Day
    @Option(help: "Only this org (repeatable); all orgs by default.") var org: [String] = []
    @Option(help: "Only orgs of this provider: anthropic or clickhouse.") var provider: Provider?

    func validate() throws {
        guard from <= to else { throw ValidationError("--from \(from) is after --to \(to); give the earlier day first") }
    }

    func run() async throws {
        let config = try options.loadConfig()
        let unknown = org.filter { name in !config.orgs.contains { $0.name == name } }
        guard unknown.isEmpty else {
            printError("costsync: no org named \(unknown.map { "'\($0)'" }.joined(separator: ", ")) in \(config.file); known: \(config.orgs.map(\.name).joined(separator: ", "))")
            throw ExitCode.failure
        }
        let orgs = config.orgs.filter { (org.isEmpty || org.contains($0.name)) && (provider == nil || $0.provider == provider) }
        guard !orgs.isEmpty else {
            printError("costsync: no org in \(config.file) matches --provider \(provider?.rawValue ?? "") --org \(org.joined(separator: ","))")
            throw ExitCode.failure
        }
        let clock = try options.clock()
        guard from <= clock.today else {
            printError("costsync: nothing to backfill: --from \(from) is after today (\(clock.today), UTC)")
            throw ExitCode.failure
        }
        let logger = options.bootstrapLogging()
        let runtime = try Runtime.open(config, clock: clock, logger: logger)
        let reporter = ProgressReporter(totalOrgs: orgs.count, logger: logger)
        logger.info("backfill started", metadata: ["days.from": "\(from)", "days.to": "\(to)", "orgs": "\(orgs.count)"])
        let outcomes = try await runtime.runService(.once(.backfill(DayRange(from, to))), orgs: orgs,
                                                    progress: { reporter.record($0) })
        reporter.finish()
        guard report(outcomes) else { throw ExitCode.failure }
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Per org: cursor, last success, last error, days and rows stored, gaps.")

    @OptionGroup var options: GlobalOptions
    @Flag(help: "Print JSON instead of text.") var json = false

    func run() async throws {
        let config = try options.loadConfig()
        var states = config.orgs.map { OrgSyncState(key: OrgKey($0.provider, $0.name)) }
        // Before the first sync there is no database: every org is simply
        // "never synced", and status does not create one as a side effect.
        let folder = (config.databasePath as NSString).deletingLastPathComponent
        if !FileManager.default.fileExists(atPath: config.databasePath) {
            guard folder.isEmpty || FileManager.default.fileExists(atPath: folder) else {
                printError("costsync: cannot open the database '\(config.databasePath)' (config key 'database'): the folder '\(folder)' does not exist")
                throw ExitCode.failure
            }
            printError("costsync: no database at '\(config.databasePath)' yet; `costsync run` or `costsync backfill` creates it")
        } else {
            let store: CostStore
            do { store = try CostStore(readingFrom: config.databasePath) } catch {
                printError("costsync: cannot open the database '\(config.databasePath)': \(error)")
                throw ExitCode.failure
            }
            for (i, org) in config.orgs.enumerated() {
                states[i] = try await store.state(of: OrgKey(org.provider, org.name), since: config.sync.startDate)
            }
        }
        print(json ? StatusFormat.json(states) : StatusFormat.text(states))
    }
}

struct CheckConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Parse and validate the config; --online also makes one cheap authenticated request per org.")

    @OptionGroup var options: GlobalOptions
    @Flag(help: "Also make one authenticated request per org.") var online = false

    func run() async throws {
        let config = try options.loadConfig()
        print("\(config.file): ok — database \(config.databasePath), \(config.orgs.count) orgs: "
              + config.orgs.map { "\($0.name) (\($0.provider))" }.joined(separator: ", "))
        guard online else { return }
        let logger = options.bootstrapLogging()
        var failed = 0
        try await ProviderHTTPClient.withHTTPClient { httpClient in
            for org in config.orgs {
                do {
                    try await makeSource(org, httpClient: httpClient, logger: logger).probe()
                    print("\(org.name): ok")
                } catch {
                    failed += 1
                    print("\(org.name): FAILED: \(error)")
                }
            }
        }
        if failed > 0 { throw ExitCode.failure }
    }
}
