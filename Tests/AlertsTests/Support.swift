import Config
import CostModel
import CostsyncApp
import Foundation
import LoopbackHTTP
import Logging
import Simulator
import Synchronization

/// A webhook receiver on loopback: records every request and answers from a
/// script (then 200); `hold` lets a test keep an answer back until it says so.
final class Receiver: Sendable {
    struct Received: Sendable {
        var path: String
        var headers: [(name: String, value: String)]
        var body: String
        func header(_ name: String) -> String? { headers.first { $0.name.lowercased() == name }?.value }
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:] }
    }

    private struct State {
        var received: [Received] = []
        var script: [Int]
    }
    private let state: Mutex<State>
    private let server: Mutex<HTTPServer?> = Mutex(nil)
    private let hold: @Sendable (Int) async -> Void

    private init(script: [Int], hold: @escaping @Sendable (Int) async -> Void) {
        state = Mutex(State(script: script))
        self.hold = hold
    }

    /// `script`: the statuses of the first answers, in order (0: close the connection
    /// without an answer); every later one is 200.
    /// `hold(n)` runs before the n-th answer (0-based) is sent.
    static func start(script: [Int] = [], hold: @escaping @Sendable (Int) async -> Void = { _ in }) async throws -> Receiver {
        let receiver = Receiver(script: script, hold: hold)
        let server = try await HTTPServer.start { [receiver] request in await receiver.handle(request) }
        receiver.server.withLock { $0 = server }
        return receiver
    }

    var baseURL: String { server.withLock { $0?.baseURL ?? "" } }
    var received: [Received] { state.withLock { $0.received } }

    private func handle(_ request: ServerRequest) async -> ServerResponse {
        let (n, status) = state.withLock { s -> (Int, Int) in
            s.received.append(Received(path: request.path, headers: request.headers, body: String(decoding: request.body, as: UTF8.self)))
            return (s.received.count - 1, s.script.isEmpty ? 200 : s.script.removeFirst())
        }
        await hold(n)
        if status == 0 { return ServerResponse(status: 500, body: [], fault: .dropConnection) }
        return .json(status, status == 200 ? "{\"ok\":true}" : "{\"error\":\"simulated\"}")
    }

    func shutdown() async { try? await server.withLock { $0 }?.shutdown() }
}

/// Every log line, rendered with its metadata, for tests that read the logs.
final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    var text: String { all.joined(separator: "\n") }
    func contains(_ message: String) -> Bool { all.contains { $0.contains(message) } }
    func count(_ message: String) -> Int { all.filter { $0.contains(message) }.count }
    fileprivate func append(_ line: String) { lines.withLock { $0.append(line) } }

    func logger(level: Logger.Level = .trace) -> Logger {
        var logger = Logger(label: "alerts-test") { _ in CaptureHandler(capture: self) }
        logger.logLevel = level
        return logger
    }
}

private struct CaptureHandler: LogHandler {
    let capture: LogCapture
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        capture.append("\(event.level) \(event.message) " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
    }
}

/// What a command printed.
final class Printed: Sendable {
    private let lines = Mutex<(out: String, err: String)>(("", ""))
    var out: String { lines.withLock { $0.out } }
    var err: String { lines.withLock { $0.err } }
    func clear() { lines.withLock { $0 = ("", "") } }
    var console: Console {
        Console(isTerminal: false, out: { text in self.lines.withLock { $0.out += text } },
                err: { text in self.lines.withLock { $0.err += text } })
    }
}

/// A wall clock a test moves by hand (the sleeper moves it too).
final class TestClock: Sendable {
    private let seconds: Mutex<Int64>
    init(_ start: Timestamp) { seconds = Mutex(start.secondsSinceEpoch) }
    var now: Timestamp { Timestamp(secondsSinceEpoch: seconds.withLock { $0 }) }
    var wall: WallClock { WallClock { self.now } }
    func advance(by duration: Duration) { seconds.withLock { $0 += duration.components.seconds } }
    func set(_ t: Timestamp) { seconds.withLock { $0 = t.secondsSinceEpoch } }
}

/// A simulator, a temporary directory and a receiver; apps built from the
/// simulator's config plus the alerting TOML a test gives.
struct AlertWorld {
    let simulator: ProviderSimulator
    let directory: URL
    let printed = Printed()
    let logs = LogCapture()
    var database: String { directory.appendingPathComponent("costs.sqlite").path }

    static func with(_ world: SimulatorWorld, _ body: (AlertWorld) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("costsync-alerts-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let simulator = try await ProviderSimulator.start(world: world, clock: .fixed(noon(world.today)))
        do {
            try await body(AlertWorld(simulator: simulator, directory: directory))
        } catch {
            try? await simulator.shutdown()
            throw error
        }
        try await simulator.shutdown()
    }

    static func noon(_ day: Day) -> Timestamp { Timestamp(secondsSinceEpoch: day.secondsSinceEpoch + 12 * 3600) }

    /// The config text: the simulator's orgs, `[sync]`, then `extra`.
    func toml(startDate: Day, pollInterval: String = "1h", extra: String) -> String {
        simulator.world.costsyncConfigTOML(baseURL: simulator.baseURL, database: database)
            + "\n[sync]\nstart_date = \"\(startDate)\"\npoll_interval = \"\(pollInterval)\"\nrecheck_days = 0\n\n" + extra
    }

    func app(startDate: Day, now: Timestamp? = nil, pollInterval: String = "1h", extra: String,
             environment: [String: String] = [:]) throws -> CostsyncApp {
        var env = Dictionary(uniqueKeysWithValues: simulator.world.credentialEnvironment().map { ($0.name, $0.value) })
        env.merge(environment) { _, new in new }
        let config = try CostsyncConfig.parse(toml: toml(startDate: startDate, pollInterval: pollInterval, extra: extra),
                                              file: "alerts-test.toml", environment: env)
        return CostsyncApp(config: config, clock: .fixed(now ?? Self.noon(simulator.world.today)), logger: logs.logger(),
                           console: printed.console, environment: [:])
    }

    /// The exact spend of an Anthropic org over days, as the simulator's world serves it.
    func anthropicNanos(_ org: String, _ days: DayRange, world: SimulatorWorld? = nil) -> Int64 {
        let w = world ?? simulator.world
        return days.reduce(Int64(0)) { sum, day in sum + w.anthropicResults(org: org, day: day).reduce(0) { $0 + $1.amountNanos } }
    }
}

/// Waits until `condition` holds (checked every 10 ms), or `timeout` passes; returns whether it held.
func eventually(timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return try await condition()
}
