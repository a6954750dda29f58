import CostModel
/// How often and how long the transport retries a request that failed in a
/// way that may pass (429, 5xx incl. 529, network errors).
///
/// The backoff is capped exponential with full jitter, as AsyncHTTPClient's
/// connection pool does (`HTTPConnectionPool+Backoff.swift`): the ceiling of
/// attempt *n*'s wait is `min(maxDelay, baseDelay × 2^(n-1))` and the wait is
/// drawn from `0...ceiling`. With the standard policy the ceilings are:
///
/// | failed attempt | 1  | 2  | 3  | 4  | 5   |
/// |----------------|----|----|----|----|-----|
/// | ceiling        | 1s | 2s | 4s | 8s | 16s |
///
/// A server-advised wait (`retry-after`, `anthropic-ratelimit-*-reset`)
/// replaces the backoff. No wait ever runs past `maxTotal` from the first
/// attempt: when the next one would, the last error is thrown instead, and
/// the next poll tries again.
public struct RetryPolicy: Sendable, Hashable {
    /// Requests made at most, the first included.
    public var maxAttempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration
    /// The most time from the first attempt to the start of the last one.
    public var maxTotal: Duration

    public init(maxAttempts: Int = 6, baseDelay: Duration = .seconds(1), maxDelay: Duration = .seconds(60),
                maxTotal: Duration = .seconds(600)) {
        precondition(maxAttempts >= 1, "at least one attempt")
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.maxTotal = maxTotal
    }

    /// 6 attempts, 1 s doubling to at most 60 s, at most 10 minutes in all.
    public static let standard = RetryPolicy()

    /// For names and accounts, which are nice to have: one quick retry, then
    /// the next pass asks again, so a names outage never stretches a pass.
    public static let names = RetryPolicy(maxAttempts: 2, baseDelay: .seconds(1), maxDelay: .seconds(2), maxTotal: .seconds(5))

    /// The ceiling of the wait after the `failedAttempt`-th attempt (1-based).
    public func backoffCeiling(afterFailedAttempt failedAttempt: Int) -> Duration {
        // Clamp the exponent before shifting: 2^62 nanoseconds would overflow,
        // and any exponent past ~40 is beyond every sane maxDelay anyway.
        let exponent = min(max(failedAttempt - 1, 0), 40)
        let base = baseDelay.totalNanoseconds
        let (scaled, overflow) = base.multipliedReportingOverflow(by: Int64(1) << exponent)
        let ceiling = overflow ? maxDelay : Duration.nanoseconds(scaled)
        return min(ceiling, maxDelay)
    }
}
