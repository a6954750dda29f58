import ArgumentParser
import Config
import CostModel
import CostsyncApp
import Foundation
import Logging
import SystemdSupport

/// The options every command shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "The config file (default: $COSTSYNC_CONFIG, else /etc/costsync/costsync.toml).")
    var config: String?

    @Option(name: .long, help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// The composition root for this invocation: config, clock and logging.
    func app() throws -> CostsyncApp {
        let env = environment
        let config = try exitOnError { () throws(AppError) in
            try CostsyncApp.loadConfig(path: self.config ?? CostsyncConfig.defaultPath(environment: env), environment: env)
        }
        let clock = try exitOnError { () throws(AppError) in try CostsyncApp.clock(environment: env) }
        return CostsyncApp(config: config, clock: clock, logger: bootstrapLogging(), environment: env)
    }

    /// Sets up swift-log once for the process: stderr, journald-aware.
    func bootstrapLogging() -> Logger {
        let level = logLevel
        LoggingSystem.bootstrap(CostsyncLogHandler.bootstrapFactory(environment: environment, level: level), metadataProvider: nil)
        var logger = Logger(label: "costsync")
        logger.logLevel = level
        return logger
    }
}

/// Runs a command's action, printing an `AppError`'s message and exiting with
/// its status; any other error is a run-time failure (exit 1).
func exitOnError<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as AppError {
        throw exit(error)
    } catch let error as ExitCode {
        throw error
    } catch {
        Console.standard.error("costsync: \(error)")
        throw ExitCode.failure
    }
}

func exitOnError<T>(_ body: () throws(AppError) -> T) throws -> T {
    do { return try body() } catch { throw exit(error) }
}

private func exit(_ error: AppError) -> ExitCode {
    if let message = error.message { Console.standard.error(message) }
    return ExitCode(error.exitCode)
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Parses `--from`/`--to` at the edge, so the commands only ever see days.
extension Day: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}

extension Provider: ExpressibleByArgument {}
