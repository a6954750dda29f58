import Config
import CostModel
import CostsyncMetrics
import Foundation
import LoopbackHTTP
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
        // SIGHUP is the reload signal; until its handler is in place (when the
        // services start) it must not kill the daemon, as it would by default.
        if !once { signal(SIGHUP, SIG_IGN) }
        let store = try await openStore()
        logger.info("costsync started", metadata: [
            "orgs": "\(config.orgs.count)", "database": "\(config.databasePath)", "version": "\(costsyncVersion)",
        ])
        var export: MetricsExport?
        var listener: HTTPServer?
        if config.metrics.isEnabled {
            let metrics = MetricsExport(settings: config.metrics, logger: logger)
            metrics.metrics.buildInfo(version: costsyncVersion)
            // Gauges of an org start from what the database holds, not from zero.
            await metrics.refresh(orgs: config.syncedOrgs, store: store, now: clock.now)
            export = metrics
            if let address = config.metrics.listen {
                listener = try await startListener(address, metrics: metrics, store: store)
            }
        }
        defer { if let listener { Task { try? await listener.shutdown() } } }
        for org in config.orgs where !org.enabled {
            logger.notice("org disabled in the config (enabled = false); not synced, its rows stay", metadata: [
                "provider": "\(org.provider)", "org": "\(org.name)",
            ])
        }
        let outcomes = try await runService(once ? .once(.poll) : .every(config.sync.pollInterval), orgs: config.syncedOrgs, store: store,
                                            metrics: export, alerting: true, reloadable: !once)
        // An org that failed fails `--once`; a pass cut short by SIGTERM (a
        // timer unit being stopped) is not a failure of the run.
        if once && !report(outcomes) && outcomes.contains(where: { $0.error != nil }) { throw AppError.failed(nil) }
    }

    /// Serves `/metrics` and `/healthz` on `address`, hardened for clients
    /// that are slow or hostile: a few dozen connections at most (the oldest
    /// goes first), 10 s of silence, 30 s a connection, 16 KiB a request.
    /// It runs on its own event loop tasks and never holds up a sync.
    func startListener(_ address: ListenAddress, metrics: MetricsExport, store: any CostStore) async throws(AppError) -> HTTPServer {
        let limits = ServerLimits(maxConnections: 32, idleTimeout: .seconds(10), maxConnectionAge: .seconds(30),
                                  maxRequestBytes: 16 << 10)
        let server: HTTPServer
        do {
            server = try await HTTPServer.start(host: address.host, port: address.port, limits: limits) { request in
                await self.serveMetrics(request, metrics: metrics, store: store)
            }
        } catch {
            throw .failed("costsync: cannot listen on \(address) (config key [metrics] listen): \(error)")
        }
        logger.notice("metrics listener started", metadata: [
            "address": "\(ListenAddress(host: server.host, port: server.port))", "port": "\(server.port)",
        ])
        return server
    }

    func serveMetrics(_ request: ServerRequest, metrics: MetricsExport, store: any CostStore) async -> ServerResponse {
        guard request.method == "GET" || request.method == "HEAD" else {
            return ServerResponse(status: 405, headers: [("allow", "GET, HEAD"), ("content-type", "text/plain")], body: Array("GET only\n".utf8))
        }
        switch request.path {
        case "/metrics":
            return ServerResponse(status: 200, headers: [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
                                  body: Array(metrics.exposition().utf8))
        case "/healthz":
            let health = await health(store: store)
            let problems = health.flatMap { h in h.problems.map { "\(h.state.key): \($0)" } }
            return ServerResponse(status: problems.isEmpty ? 200 : 503, headers: [("content-type", "text/plain; charset=utf-8")],
                                  body: Array((problems.isEmpty ? "ok\n" : problems.joined(separator: "\n") + "\n").utf8))
        default:
            return ServerResponse(status: 404, headers: [("content-type", "text/plain")], body: Array("try /metrics or /healthz\n".utf8))
        }
    }

    /// Every org's health, by the rule `costsync status` exits by.
    func health(store: any CostStore) async -> [OrgHealth] {
        var out: [OrgHealth] = []
        for org in config.syncedOrgs {
            let key = OrgKey(org.provider, org.name)
            let state = (try? await store.state(of: key, since: config.startDate(of: org), now: clock.now)) ?? OrgSyncState(key: key)
            out.append(health(of: state))
        }
        return out
    }

    func health(of state: OrgSyncState) -> OrgHealth {
        OrgHealth(state, now: clock.now, pollInterval: config.sync.pollInterval, maxPendingDays: config.sync.maxPendingDays)
    }

    /// `costsync backfill`: the orgs named (all by default) of `provider` (any by default).
    public func backfill(_ range: DayRange, orgs names: [String] = [], provider: Provider? = nil) async throws {
        let selected = try selectOrgs(names, provider: provider)
        if let off = selected.first(where: { !$0.enabled && names.contains($0.name) }) {
            throw AppError.failed("costsync: org '\(off.name)' has enabled = false in \(config.file); enable it to backfill it")
        }
        let orgs = selected.filter(\.enabled)
        guard !orgs.isEmpty else {
            throw AppError.failed("costsync: no org in \(config.file) matches --provider \(provider?.rawValue ?? "") --org \(names.joined(separator: ","))")
        }
        guard range.first <= clock.today else {
            throw AppError.failed("costsync: nothing to backfill: --from \(range.first) is after today (\(clock.today), UTC)")
        }
        let store = try await openStore()
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
        var states = config.syncedOrgs.map { OrgSyncState(key: OrgKey($0.provider, $0.name)) }
        var targets: [TargetHealth] = []  // issue 14: failing [[notify]] targets
        let path = config.databasePath
        let folder = (path as NSString).deletingLastPathComponent
        var store: (any CostStore)?
        if config.postgres != nil {
            store = try await openStore()
        } else if !FileManager.default.fileExists(atPath: path) {
            guard folder.isEmpty || FileManager.default.fileExists(atPath: folder) else {
                throw AppError.failed("costsync: cannot open the database '\(path)' (config key 'database'): the folder '\(folder)' does not exist")
            }
            console.error("costsync: no database at '\(path)' yet; `costsync run` or `costsync backfill` creates it")
        } else {
            do { store = try SQLiteCostStore(readingFrom: path) } catch {
                throw AppError.failed("costsync: cannot open the database '\(path)': \(error)")
            }
        }
        if let store {
            for (i, org) in config.syncedOrgs.enumerated() {
                states[i] = try await store.state(of: OrgKey(org.provider, org.name), since: config.startDate(of: org), now: clock.now)
            }
            targets = await notifyTargetHealth(store)
        }
        let health = states.map(health(of:))
        console.print(json ? StatusFormat.json(health, targets: targets) : StatusFormat.text(health, targets: targets))
        guard health.allSatisfy(\.healthy), !targets.contains(where: \.isFailing) else { throw AppError.failed(nil) }
    }

    /// `costsync check-config [--online]`: the config is already valid when
    /// this runs; `online` also makes one cheap authenticated request per org.
    public func checkConfig(online: Bool) async throws {
        console.print("\(config.file): ok — database \(config.databasePath), \(config.orgs.count) orgs: "
                      + config.orgs.map { "\($0.name) (\($0.provider))" }.joined(separator: ", "))
        guard online else { return }
        let wording = ErrorWording(orgs: config.orgs)
        var failed = 0
        try await withHTTPClients { httpClients in
            for org in config.syncedOrgs {
                do {
                    try await makeSource(org, httpClient: httpClients.client(for: org.baseURL)).probe()
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
