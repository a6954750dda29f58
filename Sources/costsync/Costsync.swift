import ArgumentParser
import CostsyncApp

@main
struct Costsync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "costsync",
        abstract: "Keeps a SQLite table of daily Anthropic and ClickHouse Cloud costs up to date.",
        discussion: """
        Exit status: 0 success, 78 configuration error (the message names the file and key),
        64 a malformed command line (such as --from after --to), 1 anything else.
        Secrets are read from environment variables or files named in the config, never from the command line.
        """,
        version: CostsyncApp.version,
        subcommands: [Run.self, Backfill.self, Status.self, History.self, Export.self, Report.self, CheckConfig.self, Demo.self, Alerts.self, CopyStore.self]
    )
}
