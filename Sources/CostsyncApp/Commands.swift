import Config
import CostModel
import Foundation
import Logging
import ProviderHTTP
import SQLiteStore
import StorePort
import SyncEngine

extension CostsyncApp {
    /// Loads and validates the config at `path`; any problem is a config error
    /// (exit 78) with the one line that names the file, the key and the fix.
    public static func loadConfig(path: String, environment: [String: String]) throws(AppError) -> CostsyncConfig {
        do {
            return try CostsyncConfig.load(path: path, environment: environment)
        } catch {
            throw .config("costsync: \(error.description)")
        }
    }

    /// The process's one wall clock: the system's, or the instant
    /// `COSTSYNC_NOW` (RFC 3339) pins it at, for tests and the simulator only.
    public static func clock(environment: [String: String], console: Console = .standard) throws(AppError) -> WallClock {
        guard let pinned = environment["COSTSYNC_NOW"] else { return .system }
        guard let t = Timestamp(rfc3339: pinned) else {
            throw .config("costsync: COSTSYNC_NOW: '\(pinned)' is not an RFC 3339 time such as 2026-03-01T12:00:00Z")
        }
        // A pinned clock decides which days are final: never let it pass unnoticed.
        console.error("costsync: warning: COSTSYNC_NOW pins the clock at \(t) (meant for tests and the simulator only)")
        return .fixed(t)
    }

    /// `costsync run [--once]`.
    public func run(once: Bool) async throws {
        let store = try openStore()
        logger.info("costsync started", metadata: [
            "orgs": "\(config.orgs.count)", "database": "\(config.databasePath)", "version": "\(costsyncVersion)",
        ])
        let outcomes = try await runService(once ? .once(.poll) : .every(config.sync.pollInterval), orgs: config.orgs, store: store)
        // An org that failed fails `--once`; a pass cut short by SIGTERM (a
        // timer unit being stopped) is not a failure of the run.
        if once && !report(outcomes) && outcomes.contains(where: { $0.error != nil }) { throw AppError.failed(nil) }
    }

    /// `costsync backfill`: the orgs named (all by default) of `provider` (any by default).
    public func backfill(_ range: DayRange, orgs names: [String] = [], provider: Provider? = nil) async throws {
        let unknown = names.filter { name in !config.orgs.contains { $0.name == name } }
        guard unknown.isEmpty else {
            throw AppError.failed("costsync: no org named \(unknown.map { "'\($0)'" }.joined(separator: ", ")) in \(config.file); known: \(config.orgs.map(\.name).joined(separator: ", "))")
        }
        let orgs = config.orgs.filter { (names.isEmpty || names.contains($0.name)) && (provider == nil || $0.provider == provider) }
        guard !orgs.isEmpty else {
            throw AppError.failed("costsync: no org in \(config.file) matches --provider \(provider?.rawValue ?? "") --org \(names.joined(separator: ","))")
        }
        guard range.first <= clock.today else {
            throw AppError.failed("costsync: nothing to backfill: --from \(range.first) is after today (\(clock.today), UTC)")
        }
        let store = try openStore()
        let reporter = ProgressReporter(console: console, logger: logger)
        logger.info("backfill started", metadata: ["days.from": "\(range.first)", "days.to": "\(range.last)", "orgs": "\(orgs.count)"])
        let outcomes = try await reporter.showing {
            try await runService(.once(.backfill(range)), orgs: orgs, store: store, progress: { reporter.record($0) })
        }
        guard report(outcomes) else { throw AppError.failed(nil) }
    }

    /// `costsync status [--json]`, a monitoring check: exit 0 when every org
    /// is healthy, 1 when any is not (see `OrgHealth`). Read-only; before the
    /// first sync there is no database, every org is "never synced", and
    /// status does not create one as a side effect.
    public func status(json: Bool) async throws {
        var states = config.orgs.map { OrgSyncState(key: OrgKey($0.provider, $0.name)) }
        let path = config.databasePath
        let folder = (path as NSString).deletingLastPathComponent
        if !FileManager.default.fileExists(atPath: path) {
            guard folder.isEmpty || FileManager.default.fileExists(atPath: folder) else {
                throw AppError.failed("costsync: cannot open the database '\(path)' (config key 'database'): the folder '\(folder)' does not exist")
            }
            console.error("costsync: no database at '\(path)' yet; `costsync run` or `costsync backfill` creates it")
        } else {
            let store: any CostStore
            do { store = try SQLiteCostStore(readingFrom: path) } catch {
                throw AppError.failed("costsync: cannot open the database '\(path)': \(error)")
            }
            for (i, org) in config.orgs.enumerated() {
                states[i] = try await store.state(of: OrgKey(org.provider, org.name), since: config.sync.startDate)
            }
        }
        let now = clock.now
        let health = states.map { OrgHealth($0, now: now, pollInterval: config.sync.pollInterval, maxPendingDays: config.sync.maxPendingDays) }
        console.print(json ? StatusFormat.json(health) : StatusFormat.text(health))
        guard health.allSatisfy(\.healthy) else { throw AppError.failed(nil) }
    }

    /// `costsync check-config [--online]`: the config is already valid when
    /// this runs; `online` also makes one cheap authenticated request per org.
    public func checkConfig(online: Bool) async throws {
        console.print("\(config.file): ok — database \(config.databasePath), \(config.orgs.count) orgs: "
                      + config.orgs.map { "\($0.name) (\($0.provider))" }.joined(separator: ", "))
        guard online else { return }
        let wording = ErrorWording(orgs: config.orgs)
        var failed = 0
        try await ProviderHTTPClient.withHTTPClient { httpClient in
            for org in config.orgs {
                do {
                    try await makeSource(org, httpClient: httpClient).probe()
                    console.print("\(org.name): ok")
                } catch {
                    failed += 1
                    console.print("\(org.name): FAILED: \(wording.describe(error))")
                }
            }
        }
        if failed > 0 { throw AppError.failed(nil) }
    }
}
