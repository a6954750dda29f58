import Synchronization

/// Client-side pacing for one API key: at most `limit` requests in any
/// sliding window of `window`.
///
/// ClickHouse documents "10 requests per 10 seconds per API key" and sends no
/// headers to pace by (live responses did carry `X-RateLimit-Limit`,
/// `-Remaining`, `-Reset`: `observe(...)` adopts them when present). Anthropic
/// rate-limits per organization and needs no pacing at our one-request-per-
/// page rate. An actor because several orgs' syncs may share one key and
/// run concurrently.
public actor RateLimiter {
    private var limit: Int
    /// The documented limit, which a header may lower but never raise.
    private let documentedLimit: Int
    private let window: Duration
    /// Added to the window between our own grants: the server counts
    /// arrivals, and a request delayed on the way in would otherwise land in
    /// the same window as one sent exactly `window` later.
    private let margin: Duration
    private let clock: any ProviderClock
    /// Monotonic times of the last `limit` grants, oldest first, including
    /// grants reserved for callers still waiting for their turn.
    private var grants: [Duration] = []
    /// Set when the server said no requests remain until its window resets.
    private var blockedUntil: Duration = .zero

    public init(limit: Int, per window: Duration, margin: Duration = .zero, clock: any ProviderClock = SystemProviderClock()) {
        precondition(limit >= 1)
        self.limit = limit
        self.documentedLimit = limit
        self.window = window
        self.margin = margin
        self.clock = clock
    }

    /// ClickHouse's documented limit, 10 requests per 10 s per key, with a
    /// second of margin for network jitter. Retries count like any request.
    public static func clickHouse(clock: any ProviderClock = SystemProviderClock()) -> RateLimiter {
        RateLimiter(limit: 10, per: .seconds(10), margin: .seconds(1), clock: clock)
    }

    /// Waits until a request may be sent. Throws `CancellationError` if the
    /// task is cancelled while waiting.
    ///
    /// The slot is reserved before the wait (an actor is re-entrant across the
    /// `await`, so a later caller must see this one's slot as taken). A
    /// cancelled waiter keeps its reservation: pacing errs on the slow side.
    public func acquire() async throws {
        let now = clock.monotonicNow
        var at = max(now, blockedUntil)
        if let last = grants.last { at = max(at, last) }  // first come, first served: grants stay in order
        if grants.count >= limit { at = max(at, grants[grants.count - limit] + window + margin) }
        grants.append(at)
        if grants.count > limit { grants.removeFirst(grants.count - limit) }
        if at > now { try await clock.sleep(for: at - now) }
    }

    /// Adopts the server's own account where it sends one: a lower limit
    /// replaces ours (a higher one is not trusted over the documented limit),
    /// and no remaining requests blocks the key until the reset. `reset` is
    /// the time until the window resets (ClickHouse sends seconds).
    public func observe(limit newLimit: Int?, remaining: Int?, reset: Duration?) {
        // A limit of zero would stop all traffic; keep ours then.
        if let newLimit, (1...documentedLimit).contains(newLimit) { limit = newLimit }
        if let remaining, remaining <= 0, let reset, reset > .zero {
            blockedUntil = max(blockedUntil, clock.monotonicNow + min(reset, .seconds(300)))
        }
    }
}

/// One `RateLimiter` per API key across the process, so two orgs configured
/// with the same key share one budget.
///
/// Built once in `main` and passed to the clients. The keys it is given are
/// held in memory only and never printed.
public final class RateLimiterRegistry: Sendable {
    private let limiters = Mutex<[String: RateLimiter]>([:])

    public init() {}

    /// The limiter for `key`, made by `make` the first time the key is seen.
    public func limiter(for key: String, make: () -> RateLimiter) -> RateLimiter {
        limiters.withLock { table in
            if let existing = table[key] { return existing }
            let created = make()
            table[key] = created
            return created
        }
    }
}
