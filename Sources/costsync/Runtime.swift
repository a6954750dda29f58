import AnthropicProvider
import ArgumentParser
import ClickHouseProvider
import Config
import CostModel
import CostStore
import Logging
import ProviderHTTP
import ServiceLifecycle
import SyncEngine
import SystemdSupport
import UnixSignals

/// Everything a syncing command needs, built from the config, alive for the
/// command's lifetime.
struct Runtime {
    let config: CostsyncConfig
    let store: CostStore
    let clock: WallClock
    let logger: Logger

    static func open(_ config: CostsyncConfig, clock: WallClock, logger: Logger) throws -> Runtime {
        do {
            let store = try CostStore(path: config.databasePath)
            return Runtime(config: config, store: store, clock: clock, logger: logger)
        } catch {
            printError("costsync: cannot open the database '\(config.databasePath)' (config key 'database'): \(error)")
            throw ExitCode.failure
        }
    }

    /// One provider client per org, all on the one shared HTTP client.
    func sources(_ orgs: [OrgConfig], httpClient: SharedHTTPClient) -> [any CostSource] {
        // One limiter per ClickHouse key, shared by every org using that key:
        // the documented limit (10 requests per 10 s) is per key, not per org.
        let limiters = RateLimiterRegistry()
        return orgs.map { org in
            do {
                return try makeSource(org, httpClient: httpClient, logger: logger, limiters: limiters)
            } catch {
                // One org whose client cannot be built fails alone, like any other org failure.
                return UnavailableSource(provider: org.provider, org: org.name, error: error)
            }
        }
    }

    /// Runs `schedule` under swift-service-lifecycle: SIGTERM and SIGINT shut it
    /// down gracefully; outcomes of every pass are returned.
    func runService(_ schedule: SyncService.Schedule, orgs: [OrgConfig],
                    progress: @escaping @Sendable (ProgressEvent) -> Void = { _ in }) async throws -> [OrgOutcome] {
        let collected = OutcomeBox()
        try await ProviderHTTPClient.withHTTPClient { httpClient in
            let engine = SyncEngine(sources: sources(orgs, httpClient: httpClient), store: store,
                                    settings: config.sync, clock: clock, logger: logger, progress: progress)
            let service = SyncService(engine: engine, schedule: schedule,
                                      notifier: SystemdNotifier(environment: ProcessInfo.processInfo.environment),
                                      logger: logger, onPass: { collected.set($0) })
            var groupConfig = ServiceGroupConfiguration(
                services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
                logger: logger)
            groupConfig.gracefulShutdownSignals = [.sigterm, .sigint]
            // Well inside systemd's TimeoutStopSec=30: a transaction under way
            // commits in well under a second; HTTP waits are cancelled at once.
            groupConfig.maximumGracefulShutdownDuration = .seconds(10)
            try await ServiceGroup(configuration: groupConfig).run()
        }
        return collected.value
    }
}

func makeSource(_ org: OrgConfig, httpClient: SharedHTTPClient, logger: Logger,
                limiters: RateLimiterRegistry = RateLimiterRegistry()) throws -> any CostSource {
    switch org.credentials {
    case .anthropic(let adminKey):
        return try AnthropicClient(org: org.name, adminKey: adminKey, baseURL: org.baseURL, httpClient: httpClient, logger: logger)
    case .clickhouse(let organizationID, let keyID, let keySecret):
        return try ClickHouseClient(org: org.name, organizationID: organizationID, keyID: keyID, keySecret: keySecret,
                                    baseURL: org.baseURL, httpClient: httpClient, logger: logger, rateLimiters: limiters)
    }
}

import Foundation
import Synchronization

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

/// Prints one line per failed org and says whether the pass is a success.
func report(_ outcomes: [OrgOutcome]) -> Bool {
    for outcome in outcomes {
        if let error = outcome.error {
            printError("costsync: \(outcome.key) failed: \(error)")
        } else if outcome.cancelled {
            printError("costsync: \(outcome.key) interrupted; run the same command again to resume")
        }
    }
    return outcomes.allSatisfy(\.succeeded)
}
