import AnthropicProvider
import ClickHouseProvider
import Config
import CostsyncMetrics
import CostModel
import Foundation
import Logging
import PostgresStore
import ProviderHTTP
import SQLite
import SQLiteStore
import ServiceLifecycle
import StorePort
import SyncEngine
import Synchronization
import SystemdSupport
import UnixSignals

/// The composition root: given a validated config, a clock, a logger and a
/// console, it builds the store, the shared HTTP client, the limiters and the
/// provider clients, and runs each command's action. The executable only
/// parses arguments and maps `AppError` to exit codes; tests drive the same
/// actions in-process.
public struct CostsyncApp: Sendable {
    public let config: CostsyncConfig
    public let clock: WallClock
    public let logger: Logger
    public let console: Console
    /// The process environment: `NOTIFY_SOCKET`, `WATCHDOG_USEC` for systemd.
    public let environment: [String: String]

    public init(config: CostsyncConfig, clock: WallClock, logger: Logger, console: Console = .standard,
                environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.config = config
        self.clock = clock
        self.logger = logger
        self.console = console
        self.environment = environment
    }

    /// The version `--version` prints and every request's User-Agent carries.
    public static let version = costsyncVersion

    var notifier: SystemdNotifier { SystemdNotifier(environment: environment) }

    /// The store for writing, migrated. A migration of a large database may
    /// take longer than systemd's start timeout: each one asks for more time
    /// before it runs, since READY=1 only follows the open.
    func openStore() async throws(AppError) -> any CostStore {
        // Issue 13: [postgres] present, PostgreSQL is the store (PostgresStoreFactory.swift).
        if let postgres = config.postgres { return try await openPostgresStore(postgres) }
        try StoreOwnership.refuseRootWrite(config.databasePath, environment: environment)
        let notifier = notifier
        let logger = logger
        do {
            return try SQLiteCostStore(path: config.databasePath) { migration in
                logger.info("migrating the database", metadata: ["schema.version": "\(migration.version)", "migration": "\(migration.name)"])
                notifier.extendTimeout(by: .seconds(300))
            }
        } catch {
            throw .failed("cannot open the database '\(config.databasePath)' (config key 'database'): \(error)")
        }
    }

    /// The orgs a command names (all when none is named) of `provider` (any
    /// when nil); a name the config does not have is an error.
    func selectOrgs(_ names: [String], provider: Provider? = nil) throws(AppError) -> [OrgConfig] {
        let unknown = names.filter { name in !config.orgs.contains { $0.name == name } }
        guard unknown.isEmpty else {
            throw .failed("costsync: no org named \(unknown.map { "'\($0)'" }.joined(separator: ", ")) in \(config.file); "
                          + "known: \(config.orgs.map(\.name).joined(separator: ", "))")
        }
        return config.orgs.filter { org in (names.isEmpty || names.contains(org.name)) && (provider.map { org.provider == $0 } ?? true) }
    }

    /// A read-only command's store (history, alerts, export, report), through
    /// the port: PostgreSQL when `[postgres]` is present, else the SQLite
    /// file, opened read-only, which must exist.
    func openPortForReading() async throws(AppError) -> any CostStore {
        if config.postgres != nil { return try await openStore() }
        guard FileManager.default.fileExists(atPath: config.databasePath) else {
            throw .failed("costsync: no database at '\(config.databasePath)' yet; `costsync run` or `costsync backfill` creates it")
        }
        do { return try SQLiteCostStore(readingFrom: config.databasePath) } catch {
            throw .failed("costsync: cannot open the database '\(config.databasePath)': \(error)")
        }
    }

    /// The process's HTTP clients, through the proxy the environment names and
    /// trusting `[http] ca_file`; shut down when `body` returns.
    func withHTTPClients<Result: Sendable>(_ body: (ProviderHTTPClients) async throws -> Result) async throws -> Result {
        try await ProviderHTTPClients.with(proxies: config.http.proxies, caFile: config.http.caFile, body)
    }

    /// One provider client per org, all on the one shared HTTP client and the
    /// one wall clock.
    /// One limiter per ClickHouse key, shared by every org using that key: the
    /// documented limit (10 requests per 10 s) is per key, not per org. A
    /// reloaded config keeps the registry, so its first pass does not start
    /// with a fresh budget right after the last pass's requests.
    func sources(_ orgs: [OrgConfig], httpClients: ProviderHTTPClients, metrics: CostsyncMetrics = .none,
                 limiters: RateLimiterRegistry = RateLimiterRegistry()) -> [any CostSource] {
        orgs.map { org in
            do {
                return try makeSource(org, httpClient: httpClients.client(for: org.baseURL), limiters: limiters, metrics: metrics)
            } catch {
                // One org whose client cannot be built fails alone, like any other org failure.
                return UnavailableSource(provider: org.provider, org: org.name, error: error)
            }
        }
    }

    func makeSource(_ org: OrgConfig, httpClient: SharedHTTPClient, limiters: RateLimiterRegistry = RateLimiterRegistry(),
                    metrics: CostsyncMetrics = .none) throws -> any CostSource {
        let options = TransportOptions(clock: SystemProviderClock(wall: clock), maxBodyBytes: config.sync.maxResponseBytes,
                                       metrics: metrics)
        switch org.credentials {
        case .anthropic(let adminKey):
            return try AnthropicClient(org: org.name, adminKey: adminKey, baseURL: org.baseURL, httpClient: httpClient,
                                       logger: logger, options: options)
        case .clickhouse(let organizationID, let keyID, let keySecret):
            return try ClickHouseClient(org: org.name, organizationID: organizationID, keyID: keyID, keySecret: keySecret,
                                        baseURL: org.baseURL, httpClient: httpClient, logger: logger, options: options,
                                        rateLimiters: limiters, creditPrice: org.creditPrice)
        }
    }

    /// Runs `schedule` under swift-service-lifecycle: SIGTERM and SIGINT shut it
    /// down gracefully; the outcomes of the last pass are returned. With
    /// `reloadable` (the daemon), SIGHUP re-reads the config between passes.
    func runService(_ schedule: SyncService.Schedule, orgs: [OrgConfig], store: any CostStore, metrics: MetricsExport? = nil,
                    alerting: Bool = false, reloadable: Bool = false,
                    progress: @escaping @Sendable (ProgressEvent) -> Void = { _ in }) async throws -> [OrgOutcome] {
        let collected = OutcomeBox()
        let recorder = metrics?.metrics ?? .none
        let clock = clock
        try await withHTTPClients { (httpClients: ProviderHTTPClients) async throws -> Void in
            let limiters = RateLimiterRegistry()
            let engine = makeEngine(orgs: orgs, store: store, httpClients: httpClients, limiters: limiters, metrics: recorder,
                                    progress: progress)
            // Issue 14 (AlertsWiring.swift): evaluated after each pass, delivered beside it.
            let alerts = alerting ? alertsRuntime(store: store, httpClients: httpClients, metrics: recorder) : nil
            let live = LiveGeneration(Generation(config: config, orgs: orgs, engine: engine, alerts: alerts))
            let wakeup = PassWakeup()
            var current: (@Sendable () async -> SyncEngine)?
            if reloadable { current = { await live.current.engine } }
            let service = SyncService(engine: engine, schedule: schedule, notifier: notifier, logger: logger,
                                      currentEngine: current, wakeup: wakeup,
                                      onPass: { outcomes in
                collected.set(outcomes)
                let generation = await live.current
                await generation.alerts?.afterPass()
                // The gauges and the textfile follow every pass, read back from the store.
                if let metrics {
                    await metrics.refresh(orgs: generation.orgs, store: store, now: clock.now)
                    metrics.writeTextfile()
                }
            })
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = alerts?.services(for: schedule) ?? []
            services.append(.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup))
            if reloadable {
                let reloader = ConfigReloader(app: self, live: live, store: store, httpClients: httpClients, limiters: limiters,
                                              metrics: recorder,
                                              progress: progress, wakeup: wakeup)
                services.append(.init(service: ConfigReloadService(reloader: reloader), successTerminationBehavior: .ignore))
            }
            var groupConfig = ServiceGroupConfiguration(services: services, logger: logger)
            groupConfig.gracefulShutdownSignals = [.sigterm, .sigint]
            // Well inside systemd's TimeoutStopSec=30: a transaction under way
            // commits in well under a second; HTTP waits are cancelled at once.
            groupConfig.maximumGracefulShutdownDuration = .seconds(10)
            try await ServiceGroup(configuration: groupConfig).run()
            await alerts?.finish(schedule)
        }
        return collected.value
    }

    /// The engine for `orgs` under this config, on the shared clients.
    func makeEngine(orgs: [OrgConfig], store: any CostStore, httpClients: ProviderHTTPClients, limiters: RateLimiterRegistry,
                    metrics: CostsyncMetrics, progress: @escaping @Sendable (ProgressEvent) -> Void) -> SyncEngine {
        let wording = ErrorWording(orgs: orgs)
        return SyncEngine(sources: sources(orgs, httpClients: httpClients, metrics: metrics, limiters: limiters), store: store,
                          settings: config.sync, clock: clock, logger: logger,
                          describe: { wording.describe($0) }, classify: CostsyncApp.failureReason,
                          metrics: metrics, progress: progress,
                          startDates: Dictionary(uniqueKeysWithValues: orgs.compactMap { org in
                              org.startDate.map { (OrgKey(org.provider, org.name), $0) }
                          }))
    }

    /// Prints one line per failed org and says whether the pass is a success.
    func report(_ outcomes: [OrgOutcome]) -> Bool {
        for outcome in outcomes {
            if let error = outcome.error {
                console.error("costsync: \(outcome.key) failed: \(error)")
            } else if outcome.cancelled {
                console.error("costsync: \(outcome.key) interrupted; run the same command again to resume")
            }
        }
        return outcomes.allSatisfy(\.succeeded)
    }
}

extension CostsyncApp {
    /// The `reason` label of a failed sync: one rule, from the error's type.
    @Sendable static func failureReason(_ error: any Error) -> CostsyncMetrics.FailureReason {
        if let e = error as? ProviderError {
            switch e.kind {
            case .authentication, .permission: return .auth
            case .rateLimited: return .rateLimit
            case .server: return .server
            case .network, .untrustedCertificate: return .network
            case .undecodable, .dataMismatch, .tooLarge: return .data
            default: return .other
            }
        }
        if let page = error as? PageNotStored { return failureReason(page.cause) }
        if error is SQLiteError || error is StoreError || error is PostgresStoreError { return .storage }
        return .other
    }
}

/// An org whose client could not be built: every sync of it fails with that error.
struct UnavailableSource: CostSource {
    let provider: Provider
    let org: String
    let error: any Error
    var maxDaysPerRequest: Int { 31 }
    func fetch(_ range: DayRange, sink: @Sendable ([DayCosts]) async throws -> Void) async throws { throw error }
    func probe() async throws { throw error }
}

/// The outcomes of the latest pass, handed out of the service.
final class OutcomeBox: Sendable {
    private let outcomes = Mutex<[OrgOutcome]>([])
    func set(_ value: [OrgOutcome]) { outcomes.withLock { $0 = value } }
    var value: [OrgOutcome] { outcomes.withLock { $0 } }
}
