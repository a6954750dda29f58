import AsyncHTTPClient
import CostModel
import LoopbackHTTP
import Logging
import ProviderHTTP
import Simulator
import Synchronization
import Testing

/// A virtual clock: `sleep` records the wait, moves time forward and returns
/// at once, so retry and pacing tests take milliseconds and never depend on
/// today's date.
final class TestClock: ProviderClock {
    private struct State {
        var now: Duration
        var sleeps: [Duration] = []
    }

    private let state: Mutex<State>

    /// Starts at 2025-08-01T12:00:00Z unless told otherwise.
    init(wallNow: Duration = .seconds(Day(year: 2025, month: 8, day: 1)!.secondsSinceEpoch + 12 * 3600)) {
        state = Mutex(State(now: wallNow))
    }

    var wallNow: Duration { state.withLock { $0.now } }
    var wall: WallClock { WallClock { [self] in Timestamp(secondsSinceEpoch: wallNow.components.seconds) } }
    var monotonicNow: Duration { state.withLock { $0.now } }
    var sleeps: [Duration] { state.withLock { $0.sleeps } }

    func sleep(for duration: Duration) async throws {
        try Task.checkCancellation()
        state.withLock {
            $0.sleeps.append(duration)
            $0.now += duration
        }
    }
}

/// A clock whose sleep really blocks until cancelled, and says when it began.
final class BlockingClock: ProviderClock {
    let base = SystemProviderClock()
    private let began: AsyncStream<Void>
    private let signal: AsyncStream<Void>.Continuation

    init() {
        (began, signal) = AsyncStream<Void>.makeStream()
    }

    var wall: WallClock { base.wall }
    var monotonicNow: Duration { base.monotonicNow }

    func sleep(for duration: Duration) async throws {
        signal.yield()
        try await Task.sleep(for: .seconds(3600))
    }

    /// Returns once some `sleep` has begun (the stream buffers the signal,
    /// so a sleep that began first is not missed).
    func waitUntilSleeping() async {
        for await _ in began { return }
    }
}

/// Every log line, rendered with its metadata, for assertions (such as: no
/// secret ever appears). A local handler: the global logging system is never
/// bootstrapped by tests.
final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])

    var all: [String] { lines.withLock { $0 } }

    func append(_ line: String) { lines.withLock { $0.append(line) } }

    var logger: Logger {
        Logger(label: "costsync.test") { _ in CapturingHandler(capture: self) }
    }

    struct CapturingHandler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var merged = metadata
            for (k, v) in event.metadata ?? [:] { merged[k] = v }
            let meta = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            capture.append("\(event.level) \(event.message) \(meta)")
        }
    }
}

/// Records each request a scripted server received.
final class RequestLog: Sendable {
    private let requests = Mutex<[ServerRequest]>([])
    var all: [ServerRequest] { requests.withLock { $0 } }
    var count: Int { requests.withLock { $0.count } }
    func append(_ r: ServerRequest) { requests.withLock { $0.append(r) } }
}

/// Starts a loopback server answering each request with `responses[n]` (the
/// last one repeats), runs `body` with a fresh HTTP client, and shuts both
/// down on every path.
func withScriptedServer<R>(
    _ responses: [ServerResponse],
    _ body: (_ baseURL: String, _ client: HTTPClient, _ requests: RequestLog) async throws -> R
) async throws -> R {
    let log = RequestLog()
    let server = try await HTTPServer.start { request in
        let n = log.count
        log.append(request)
        return responses[min(n, responses.count - 1)]
    }
    do {
        let result = try await ProviderHTTPClient.withHTTPClient(connectTimeout: .seconds(5), readTimeout: .seconds(5)) { client in
            try await body(server.baseURL, client, log)
        }
        try await server.shutdown()
        return result
    } catch {
        try? await server.shutdown()  // the body's error is the one worth reporting
        throw error
    }
}

/// Collects what a fetch hands to its sink.
final class SinkRecorder: Sendable {
    private let calls = Mutex<[[DayCosts]]>([])
    var pages: [[DayCosts]] { calls.withLock { $0 } }
    var days: [DayCosts] { pages.flatMap { $0 } }

    var sink: @Sendable ([DayCosts]) async throws -> Void {
        { days in self.calls.withLock { $0.append(days) } }
    }
}

/// Options for tests: a virtual clock, deterministic jitter (always the
/// ceiling), a short base delay.
func testOptions(_ clock: TestClock, maxAttempts: Int = 6) -> TransportOptions {
    TransportOptions(retry: RetryPolicy(maxAttempts: maxAttempts, baseDelay: .seconds(1), maxDelay: .seconds(60),
                                        maxTotal: .seconds(600)),
                     clock: clock, jitter: .maximum, requestTimeout: .seconds(10))
}

func day(_ text: String) -> Day { Day(text)! }

func money(_ text: String) -> Money { try! Money.parse(text) }

/// The error a throwing async body threw, for assertions on its fields.
func caught<T>(_ body: () async throws -> T) async -> (any Error)? {
    do {
        _ = try await body()
        return nil
    } catch {
        return error
    }
}
