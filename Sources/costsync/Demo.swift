import ArgumentParser
import Config
import CostModel
import CostStore
import Foundation
import Logging
import Simulator
import SyncEngine

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "No credentials, no config: sync fake orgs from the built-in provider simulator into a local database.",
        discussion: "Starts the simulator on a loopback port, backfills N days, prints a sqlite3 query, then keeps syncing like `run` until Ctrl-C.")

    @Option(help: "The database to write.") var database = "costsync-demo.sqlite"
    @Option(help: "Days of history to backfill.") var days = 365
    @Option(name: .long, help: "trace, debug, info, notice, warning, error or critical.") var logLevel: Logger.Level = .notice
    @Option(help: "Accepted like every command's, and ignored: the demo configures itself.") var config: String?

    func validate() throws {
        guard (1...3650).contains(days) else { throw ValidationError("--days must be between 1 and 3650") }
    }

    func run() async throws {
        var options = GlobalOptions()
        options.logLevel = logLevel
        let logger = options.bootstrapLogging()
        let clock = try options.clock()
        let today = clock.today
        let simulator = try await ProviderSimulator.start(world: .demo(today: today))
        do {
            try await demo(simulator, clock: clock, logger: logger)
        } catch {
            // The demo's own error is the one to report, not the shutdown's.
            try? await simulator.shutdown()
            throw error
        }
        try await simulator.shutdown()
    }

    private func demo(_ simulator: ProviderSimulator, clock: WallClock, logger: Logger) async throws {
        let today = clock.today
        let world = simulator.world
        // The simulator's keys are fake and printed by costsync-sim anyway;
        // they still travel as `Secret`s, exactly as real ones would.
        let orgs = world.anthropicOrgs.map {
            OrgConfig(name: $0.name, provider: .anthropic, baseURL: simulator.baseURL, credentials: .anthropic(adminKey: Secret($0.adminKey)))
        } + world.clickhouseOrgs.map {
            OrgConfig(name: $0.name, provider: .clickhouse, baseURL: simulator.baseURL,
                      credentials: .clickhouse(organizationID: $0.organizationID, keyID: Secret($0.keyID), keySecret: Secret($0.keySecret)))
        }
        let first = today.advanced(by: -(days - 1))
        let config = CostsyncConfig(file: "(demo)", databasePath: database,
                                    sync: SyncSettings(pollInterval: .seconds(60), startDate: first), orgs: orgs)
        say("costsync demo: simulator at \(simulator.baseURL) with \(orgs.count) fake orgs; backfilling \(first)..\(today) into \(database)")
        let runtime = try Runtime.open(config, clock: clock, logger: logger)
        let reporter = ProgressReporter(totalOrgs: orgs.count, logger: logger)
        let outcomes = try await runtime.runService(.once(.backfill(DayRange(first, today))), orgs: orgs, progress: { reporter.record($0) })
        reporter.finish()
        guard report(outcomes) else { throw ExitCode.failure }
        let rows = outcomes.reduce(0) { $0 + $1.summary.rowsSeen }
        say("""

        \(rows) cost rows for \(orgs.count) orgs are in \(database). Read them with:

          sqlite3 -header -column \(database) "SELECT month, provider, org, currency, printf('%.2f', amount) AS amount FROM monthly_costs ORDER BY month DESC, provider, org LIMIT 12"

        Exact totals: sum amount_nanos (10^-9 units) from the costs table or the daily_costs view.
        Still syncing every minute like `costsync run`; Ctrl-C stops.
        """)
        _ = try await runtime.runService(.every(config.sync.pollInterval), orgs: orgs)
    }
}

/// Writes straight to stdout: the instructions must show while the demo keeps
/// running, also when stdout is a pipe (tee, CI logs), where `print` would
/// sit in stdio's buffer until exit.
private func say(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}
