import ArgumentParser
import Config
import CostModel
import Foundation
import Logging
import ProviderHTTP
import SystemdSupport

/// The options every command shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "The config file (default: $COSTSYNC_CONFIG, else /etc/costsync/costsync.toml).")
    var config: String?

    @Option(name: .long, help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    var environment: [String: String] { ProcessInfo.processInfo.environment }

    var configPath: String { config ?? CostsyncConfig.defaultPath(environment: environment) }

    /// Loads the config; a config error becomes exit status 78 (EX_CONFIG)
    /// with the one line that names the file, the key and the fix.
    func loadConfig() throws -> CostsyncConfig {
        do {
            return try CostsyncConfig.load(path: configPath, environment: environment)
        } catch {
            printError("costsync: \(error.description)")
            throw ExitCode(78)
        }
    }

    /// Sets up swift-log once for the process: stderr, journald-aware.
    func bootstrapLogging() -> Logger {
        let env = environment
        let level = logLevel
        LoggingSystem.bootstrap(CostsyncLogHandler.bootstrapFactory(environment: env, level: level), metadataProvider: nil)
        var logger = Logger(label: "costsync")
        logger.logLevel = level
        return logger
    }

    /// The wall clock; `COSTSYNC_NOW` (RFC 3339) pins it, for tests and the
    /// simulator only: it lets a test say what "today" is.
    func clock() throws -> WallClock {
        guard let pinned = environment["COSTSYNC_NOW"] else { return .system }
        guard let t = Timestamp(rfc3339: pinned) else {
            printError("costsync: COSTSYNC_NOW: '\(pinned)' is not an RFC 3339 time such as 2026-03-01T12:00:00Z")
            throw ExitCode(78)
        }
        // A pinned clock decides which days are final: never let it pass unnoticed.
        printError("costsync: warning: COSTSYNC_NOW pins the clock at \(t) (meant for tests and the simulator only)")
        return .fixed(t)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Parses `--from`/`--to` at the edge, so the commands only ever see days.
extension Day: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}

extension Provider: ExpressibleByArgument {}
