import Config
import CostModel
import Logging
import Simulator
import StorePort
import SyncEngine

extension CostsyncApp {
    /// `costsync demo`: no credentials, no config. Starts the simulator on a
    /// loopback port, backfills `days` into `database`, says how to read it,
    /// then keeps syncing like `run` until SIGTERM or Ctrl-C.
    public static func demo(database: String, days: Int, clock: WallClock, logger: Logger,
                            console: Console = .standard) async throws {
        let simulator = try await ProviderSimulator.start(world: .demo(today: clock.today), clock: clock)
        do {
            try await demo(simulator, database: database, days: days, clock: clock, logger: logger, console: console)
        } catch {
            // The demo's own error is the one to report, not the shutdown's.
            try? await simulator.shutdown()
            throw error
        }
        try await simulator.shutdown()
    }

    private static func demo(_ simulator: ProviderSimulator, database: String, days: Int, clock: WallClock, logger: Logger,
                             console: Console) async throws {
        let today = clock.today
        let world = simulator.world
        // The simulator's keys are fake and printed by costsync-sim anyway;
        // they still travel as `Secret`s, exactly as real ones would.
        let orgs = world.anthropicOrgs.map {
            OrgConfig(name: $0.name, provider: .anthropic, baseURL: simulator.baseURL, credentials: .anthropic(adminKey: Secret($0.adminKey)))
        } + world.clickhouseOrgs.map {
            OrgConfig(name: $0.name, provider: .clickhouse, baseURL: simulator.baseURL,
                      credentials: .clickhouse(organizationID: $0.organizationID, keyID: Secret($0.keyID), keySecret: Secret($0.keySecret)),
                      creditPrice: try? Money.parse(SimulatorWorld.demoCreditPrice))
        }
        let first = today.advanced(by: -(days - 1))
        let config = CostsyncConfig(file: "(demo)", databasePath: database,
                                    sync: SyncSettings(pollInterval: .seconds(60), startDate: first), orgs: orgs)
        console.print("costsync demo: simulator at \(simulator.baseURL) with \(orgs.count) fake orgs; backfilling \(first)..\(today) into \(database)")
        let app = CostsyncApp(config: config, clock: clock, logger: logger, console: console)
        let store = try await app.openStore()
        let reporter = ProgressReporter(console: console, logger: logger)
        let outcomes = try await reporter.showing {
            try await app.runService(.once(.backfill(DayRange(first, today))), orgs: orgs, store: store,
                                     progress: { reporter.record($0) })
        }
        guard app.report(outcomes) else { throw AppError.failed(nil) }
        let rows = outcomes.reduce(0) { $0 + $1.summary.rowsSeen }
        console.print("""

        \(rows) cost rows for \(orgs.count) orgs are in \(database). Read them with:

          sqlite3 -header -column \(database) "SELECT month, provider, org, currency, printf('%.2f', amount) AS amount FROM monthly_costs ORDER BY month DESC, provider, org LIMIT 12"

        Exact totals: sum amount_nanos (10^-9 units) from the costs table or the daily_costs view.
        Still syncing every minute like `costsync run`; Ctrl-C stops.
        """)
        _ = try await app.runService(.every(config.sync.pollInterval), orgs: orgs, store: store)
    }
}
