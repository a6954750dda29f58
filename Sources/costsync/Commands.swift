import ArgumentParser
import CostModel
import CostsyncApp
import Logging

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The daemon: sync every org, sleep until the next poll, forever.")

    @OptionGroup var options: GlobalOptions
    @Flag(help: "One full pass, then exit; non-zero if any org failed (for timers and cron).")
    var once = false

    func run() async throws {
        let app = try options.app()
        try await exitOnError { try await app.run(once: once) }
    }
}

struct Backfill: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fetch and write a historical range of days (inclusive, UTC); days already final are skipped.")

    @OptionGroup var options: GlobalOptions
    @Option(help: "First day, YYYY-MM-DD.") var from: Day
    @Option(help: "Last day, YYYY-MM-DD (inclusive).") var to: Day
    @Option(help: "Only this org (repeatable); all orgs by default.") var org: [String] = []
    @Option(help: "Only orgs of this provider: anthropic or clickhouse.") var provider: Provider?

    func validate() throws {
        guard from <= to else { throw ValidationError("--from \(from) is after --to \(to); give the earlier day first") }
    }

    func run() async throws {
        let app = try options.app()
        try await exitOnError { try await app.backfill(DayRange(from, to), orgs: org, provider: provider) }
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Per org: cursor, last success, last error, days and rows stored, gaps.")

    @OptionGroup var options: GlobalOptions
    @Flag(help: "Print JSON instead of text.") var json = false

    func run() async throws {
        let app = try options.app()
        try await exitOnError { try await app.status(json: json) }
    }
}

/// `--from DATE --to DATE`, both or neither: every day when absent.
struct OptionalDayRange: ParsableArguments {
    @Option(help: "First day, YYYY-MM-DD.") var from: Day?
    @Option(help: "Last day, YYYY-MM-DD (inclusive).") var to: Day?

    func validate() throws {
        guard (from == nil) == (to == nil) else { throw ValidationError("give both --from and --to, or neither") }
        if let from, let to, from > to { throw ValidationError("--from \(from) is after --to \(to); give the earlier day first") }
    }

    var range: DayRange? { from.flatMap { f in to.map { DayRange(f, $0) } } }
}

struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "What providers restated after a day was first written: line by line, old → new, with totals per day.")

    @OptionGroup var options: GlobalOptions
    @Option(help: "Only this org (repeatable); all orgs by default.") var org: [String] = []
    @OptionGroup var days: OptionalDayRange
    @Flag(help: "Print JSON instead of text.") var json = false

    func run() async throws {
        let app = try options.app()
        try await exitOnError { try await app.history(orgs: org, range: days.range, json: json) }
    }
}

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the cost rows as CSV, JSON Lines or FinOps FOCUS 1.2 (CSV), streamed, amounts as exact decimal text.")

    @OptionGroup var options: GlobalOptions
    @Option(help: "csv (the costs table's columns), jsonl (one object per row) or focus (FOCUS 1.2).") var format: ExportFormat
    @OptionGroup var days: OptionalDayRange
    @Option(help: "Only this org (repeatable); all orgs by default.") var org: [String] = []
    @Option(help: "Only orgs of this provider: anthropic or clickhouse.") var provider: Provider?
    @Option(help: "Write to this file (replaced atomically) instead of standard output.") var output: String?

    func run() async throws {
        let app = try options.app()
        try await exitOnError {
            try await app.export(ExportRequest(format: format, range: days.range, orgs: org, provider: provider, output: output))
        }
    }
}

extension ExportFormat: ExpressibleByArgument {}

struct CheckConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Parse and validate the config; --online also makes one cheap authenticated request per org.")

    @OptionGroup var options: GlobalOptions
    @Flag(help: "Also make one authenticated request per org.") var online = false

    func run() async throws {
        let app = try options.app()
        try await exitOnError { try await app.checkConfig(online: online) }
    }
}

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
        let env = options.environment
        let clock = try exitOnError { () throws(AppError) in try CostsyncApp.clock(environment: env) }
        try await exitOnError { try await CostsyncApp.demo(database: database, days: days, clock: clock, logger: logger) }
    }
}

struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A month's spend as one self-contained HTML page: per day per org, against last month, top workspaces, models and metrics.")

    @OptionGroup var options: GlobalOptions
    @Option(help: "The month, YYYY-MM (UTC); the current month by default.") var month: ReportMonth?
    @Option(help: "Write to this file (replaced atomically) instead of standard output.") var output: String?

    func run() async throws {
        let app = try options.app()
        try await exitOnError { try await app.report(month: month, output: output) }
    }
}

extension ReportMonth: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}
