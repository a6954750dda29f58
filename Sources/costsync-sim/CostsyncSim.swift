import ArgumentParser
import CostModel
import Dispatch
import Simulator
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Serves both provider APIs on loopback for trying costsync without real
/// credentials, and prints the config that points costsync at it.
@main
struct CostsyncSim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "costsync-sim",
        abstract: "Serve simulated Anthropic and ClickHouse cost APIs on loopback.",
        discussion: """
            Prints the base URL, the fake credentials as environment variables and a costsync config \
            that uses them, then serves until SIGINT or SIGTERM.
            """
    )

    @Option(help: "TCP port on 127.0.0.1; 0 picks a free one.")
    var port: Int = 0

    @Option(help: "The simulated today (YYYY-MM-DD, UTC); default: the real UTC date.")
    var today: String?

    @Option(help: "Anthropic cost lines on an ordinary day for the first org.")
    var linesPerDay: Int = 60

    @Option(help: "Seed of the simulated data; the same seed gives the same data.")
    var seed: UInt64 = 2025

    @Option(help: "Fraction of requests (0 to 1) that get a transient fault: 429, 503 or a dropped connection.")
    var faultRate: Double = 0

    @Option(help: "Extra latency of every response, in milliseconds.")
    var latencyMs: Int = 0

    @Option(help: "Days (counting today) whose data is still restated and unlocked.")
    var unlockedDays: Int = 3

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        if let today, Day(today) == nil { throw ValidationError("--today must be a date YYYY-MM-DD, got '\(today)'") }
        guard linesPerDay >= 0 else { throw ValidationError("--lines-per-day must not be negative") }
        guard (0...1).contains(faultRate) else { throw ValidationError("--fault-rate must be between 0 and 1") }
        guard latencyMs >= 0 else { throw ValidationError("--latency-ms must not be negative") }
        guard unlockedDays >= 0 else { throw ValidationError("--unlocked-days must not be negative") }
    }

    func run() async throws {
        let day = today.flatMap { Day($0) } ?? WallClock.system.today
        var world = SimulatorWorld.demo(today: day, seed: seed, linesPerDay: linesPerDay)
        world.unlockedDays = unlockedDays
        let simulator = try await ProviderSimulator.start(world: world, port: port)
        // A probability, not money: rounded to the per-mille the plan works in.
        let perMille = Int((faultRate * 1000).rounded())
        simulator.setFaults(FaultPlan(latency: .milliseconds(latencyMs), randomFaultPerMille: perMille))

        print("# costsync-sim serving at \(simulator.baseURL) (today \(day), seed \(seed))")
        print("# The credentials are fake; only this simulator accepts them.")
        for (name, value) in world.credentialEnvironment() {
            print("export \(name)='\(value)'")
        }
        print("")
        print("# costsync.toml")
        print(world.costsyncConfigTOML(baseURL: simulator.baseURL))
        // A pipe makes stdout fully buffered; whoever reads the URL needs it now.
        // `fflush(nil)` flushes every stream without touching the `stdout` global.
        fflush(nil)

        await waitForTerminationSignal()
        writeToStandardError("costsync-sim: stopping\n")
        try await simulator.shutdown()
    }
}

/// Suspends until SIGINT or SIGTERM arrives.
func waitForTerminationSignal() async {
    // Kept here so the sources live until the signal came.
    var sources: [any DispatchSourceSignal] = []
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        let resumed = Mutex(false)
        for sig in [SIGINT, SIGTERM] {
            // The default action would kill the process before the server closes its sockets.
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                let first = resumed.withLock { done in
                    defer { done = true }
                    return !done
                }
                if first { continuation.resume() }
            }
            source.resume()
            sources.append(source)
        }
    }
    for source in sources { source.cancel() }
}

/// Straight to file descriptor 2: the C `stderr` global is shared mutable
/// state as far as Swift 6 is concerned.
func writeToStandardError(_ text: String) {
    var copy = text
    copy.withUTF8 { buf in _ = write(2, buf.baseAddress, buf.count) }
}
