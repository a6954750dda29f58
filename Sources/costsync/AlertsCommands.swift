import ArgumentParser
import CostsyncApp

/// `costsync alerts [--json]` and `costsync alerts test --notify NAME` (issue 14).
struct Alerts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The budget, forecast and anomaly alerts that fired, and how their delivery went; `alerts test` sends a test message.",
        subcommands: [List.self, Test.self],
        defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the alerts that fired, newest first, with each delivery.")

        @OptionGroup var options: GlobalOptions
        @Flag(help: "Print JSON instead of text.") var json = false
        @Option(help: "At most this many alerts.") var limit = 100

        func validate() throws {
            guard limit > 0 else { throw ValidationError("--limit must be at least 1") }
        }

        func run() async throws {
            let app = try options.app()
            try await exitOnError { try await app.alerts(json: json, limit: limit) }
        }
    }

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Send a test message to one [[notify]] target now.")

        @OptionGroup var options: GlobalOptions
        @Option(help: "The name of a [[notify]] target in the config.") var notify: String

        func run() async throws {
            let app = try options.app()
            try await exitOnError { try await app.alertsTest(notify: notify) }
        }
    }
}
