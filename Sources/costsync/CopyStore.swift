import ArgumentParser
import CostsyncApp

/// `costsync copy-store --from FILE.sqlite --to postgres` (issue 13).
struct CopyStore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy-store",
        abstract: "Copy a SQLite database (cursors and all) into the config's [postgres] store, then verify it day by day.")

    @OptionGroup var options: GlobalOptions
    @Option(help: "The SQLite database to copy.") var from: String
    @Option(help: "Where to: postgres (the config's [postgres] table).") var to: String
    @Flag(help: "Copy nothing; only compare row counts and amount_nanos sums per (provider, org, day).") var verifyOnly = false

    func validate() throws {
        guard to == "postgres" else { throw ValidationError("--to \(to): the only target is postgres (the config's [postgres] table)") }
    }

    func run() async throws {
        let app = try options.app()
        try await exitOnError { try await app.copyStore(from: from, verifyOnly: verifyOnly) }
    }
}
