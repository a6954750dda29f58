import CostModel

/// The time source and sleeper of the transport and the rate limiter.
///
/// Injected so that tests of retries and pacing run in milliseconds: a test
/// clock records the waits it is asked for and returns at once, advancing its
/// own time.
public protocol ProviderClock: Sendable {
    /// The process's one wall clock (`COSTSYNC_NOW` pins it): to turn a
    /// `retry-after` HTTP date or Anthropic's RFC 3339
    /// `anthropic-ratelimit-requests-reset` into a wait, and to know "today".
    var wall: WallClock { get }
    /// A monotonic time (any origin): retry budgets and the limiter's window.
    var monotonicNow: Duration { get }
    /// Sleeps for `duration`; must throw `CancellationError` as soon as the
    /// task is cancelled, so a shutdown never waits out a backoff.
    func sleep(for duration: Duration) async throws
}

/// The real clocks: the given wall clock, `ContinuousClock` for the rest.
public struct SystemProviderClock: ProviderClock {
    private let origin = ContinuousClock.now
    public let wall: WallClock

    public init(wall: WallClock = .system) { self.wall = wall }

    public var monotonicNow: Duration { ContinuousClock.now - origin }

    public func sleep(for duration: Duration) async throws {
        // `Task.sleep` throws `CancellationError` when the task is cancelled,
        // ending the wait at once.
        try await Task.sleep(for: duration, clock: .continuous)
    }
}

/// Picks the actual wait of a "full jitter" backoff: a duration in
/// `0...upperBound` (AWS architecture blog, "Exponential Backoff And Jitter").
/// Full jitter spreads the retries of many orgs that failed together, so they
/// do not hit the provider again in lockstep.
public struct Jitter: Sendable {
    private let pick: @Sendable (Duration) -> Duration

    public init(_ pick: @escaping @Sendable (_ upperBound: Duration) -> Duration) { self.pick = pick }

    public func callAsFunction(_ upperBound: Duration) -> Duration {
        upperBound <= .zero ? .zero : min(max(pick(upperBound), .zero), upperBound)
    }

    /// Uniformly random in `0...upperBound`, at nanosecond resolution.
    public static let random = Jitter { upper in
        .nanoseconds(Int64.random(in: 0...upper.totalNanoseconds))
    }

    /// Always the upper bound: deterministic, for tests and reasoning.
    public static let maximum = Jitter { $0 }
}

extension Duration {
    /// `1.5s`, `0.012s`: the value of the `retry.in` log metadata.
    var secondsText: String {
        let ms = totalNanoseconds / 1_000_000
        let whole = ms / 1000
        let frac = ms % 1000
        guard frac != 0 else { return "\(whole)s" }
        var f = String(frac)
        while f.utf8.count < 3 { f = "0" + f }
        while f.hasSuffix("0") { f.removeLast() }
        return "\(whole).\(f)s"
    }
}

extension ProviderClock {
    /// The wall clock as a duration since the epoch, for `HTTPTimes`.
    var wallNow: Duration { .seconds(wall.now.secondsSinceEpoch) }
}
