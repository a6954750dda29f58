import Alerts
import Config
import CostModel
import CostsyncMetrics
import Logging
import ProviderHTTP
import ServiceLifecycle
import StorePort
import SyncEngine
import UnixSignals

/// What one config gives the running daemon: its orgs, their engine and the
/// budgets' evaluator. A reload builds a new one and swaps it in whole.
struct Generation: Sendable {
    var config: CostsyncConfig
    var orgs: [OrgConfig]
    var engine: SyncEngine
    var alerts: AlertsRuntime?
}

/// The generation every pass starts from.
actor LiveGeneration {
    private(set) var current: Generation
    init(_ generation: Generation) { current = generation }
    func replace(_ generation: Generation) { current = generation }
}

/// `systemctl reload costsync` (SIGHUP): re-reads the config file with the
/// same environment. A config that validates replaces the running one from
/// the next pass on (started at once): orgs added and removed, changed keys,
/// budgets and `[[notify]]` targets. One that does not is logged with the
/// reason, and the running config stays. The database, `[metrics]`, `[http]`,
/// the proxy and `poll_interval` are read at start only; a change there is
/// named in the log as needing a restart.
struct ConfigReloader: Sendable {
    let app: CostsyncApp
    let live: LiveGeneration
    let store: any CostStore
    let httpClients: ProviderHTTPClients
    let limiters: RateLimiterRegistry
    let metrics: CostsyncMetrics
    let progress: @Sendable (ProgressEvent) -> Void
    let wakeup: PassWakeup

    func reload() async {
        let logger = app.logger
        let running = await live.current
        let loaded: CostsyncConfig
        do {
            loaded = try CostsyncApp.loadConfig(path: running.config.file, environment: app.environment)
        } catch {
            logger.error("config reload failed; the running config stays", metadata: ["error": "\(error.description)"])
            return
        }
        // Compared with what the daemon started with: that is what runs, whatever later reloads said.
        let started = app.config
        var restartNeeded: [String] = []
        if loaded.databasePath != started.databasePath || loaded.postgres != started.postgres { restartNeeded.append("database") }
        if loaded.metrics != started.metrics { restartNeeded.append("[metrics]") }
        if loaded.http != started.http { restartNeeded.append("[http] / proxy") }
        if loaded.sync.pollInterval != started.sync.pollInterval { restartNeeded.append("poll_interval") }
        let next = CostsyncApp(config: loaded, clock: app.clock, logger: logger, console: app.console, environment: app.environment)
        let orgs = loaded.syncedOrgs
        let engine = next.makeEngine(orgs: orgs, store: store, httpClients: httpClients, limiters: limiters, metrics: metrics,
                                     progress: progress)
        // Budgets and anomaly settings take effect now; deliveries go on through the running dispatcher.
        var alerts = running.alerts
        if let current = running.alerts, let ledger = store as? any AlertLedger {
            alerts = AlertsRuntime(evaluator: AlertEvaluator(config: loaded.alerting, orgs: loaded.orgs, ledger: ledger, clock: app.clock),
                                   dispatcher: current.dispatcher, logger: current.logger, metrics: current.metrics)
            // A removed target's pending deliveries stay pending, not given up:
            // another instance on a shared database may deliver to that name
            // (AlertDispatcher.replaceTargets says why).
            await current.dispatcher.replaceTargets(loaded.alerting.targets)
        } else if loaded.alerting.isEnabled {
            restartNeeded.append("alerting (first enabled)")
        }
        await live.replace(Generation(config: loaded, orgs: orgs, engine: engine, alerts: alerts))
        let before = Set(running.orgs.map { "\($0.provider)/\($0.name)" })
        let after = Set(orgs.map { "\($0.provider)/\($0.name)" })
        var metadata: Logger.Metadata = [
            "orgs": "\(orgs.count)",
            "orgs.added": "\(after.subtracting(before).sorted().joined(separator: ","))",
            "orgs.removed": "\(before.subtracting(after).sorted().joined(separator: ","))",
        ]
        if !restartNeeded.isEmpty { metadata["restart_needed_for"] = "\(restartNeeded.joined(separator: ", "))" }
        logger.notice("config reloaded; syncing with it now", metadata: metadata)
        wakeup.wake()
    }
}

/// Waits for SIGHUP for as long as the daemon runs.
struct ConfigReloadService: Service, CustomStringConvertible {
    let reloader: ConfigReloader
    var description: String { "ConfigReloadService" }

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            await reloader.reload()
        }
    }
}
