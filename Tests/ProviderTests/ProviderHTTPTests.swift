import CostModel
import ProviderHTTP
import Testing

@Suite("Provider HTTP: pacing, retry timing, URLs, errors")
struct ProviderHTTPTests {
    @Test("ten requests pass at once, the eleventh waits for the 10-second window and a second of margin")
    func slidingWindow() async throws {
        let clock = TestClock()
        let limiter = RateLimiter.clickHouse(clock: clock)
        for _ in 0..<10 { try await limiter.acquire() }
        #expect(clock.sleeps.isEmpty)
        try await limiter.acquire()
        // The margin: a request delayed on its way to the server must not
        // land in the same 10-second window as one sent 10 s later.
        #expect(clock.sleeps == [.seconds(11)])
    }

    @Test("X-RateLimit headers saying nothing remains block the key until the reset")
    func headerPacing() async throws {
        let clock = TestClock()
        let limiter = RateLimiter.clickHouse(clock: clock)
        try await limiter.acquire()
        await limiter.observe(limit: 40, remaining: 0, reset: .seconds(4))
        try await limiter.acquire()
        #expect(clock.sleeps == [.seconds(4)])
    }

    @Test("a lower X-RateLimit-Limit replaces the documented one; a higher one is not trusted over it")
    func headerLimit() async throws {
        let clock = TestClock()
        let limiter = RateLimiter.clickHouse(clock: clock)
        await limiter.observe(limit: 40, remaining: 39, reset: .seconds(10))
        for _ in 0..<10 { try await limiter.acquire() }
        #expect(clock.sleeps.isEmpty)
        try await limiter.acquire()
        #expect(clock.sleeps == [.seconds(11)])

        let lowered = TestClock()
        let strict = RateLimiter.clickHouse(clock: lowered)
        await strict.observe(limit: 5, remaining: 4, reset: .seconds(10))
        for _ in 0..<6 { try await strict.acquire() }
        #expect(lowered.sleeps == [.seconds(11)])
    }

    @Test("orgs sharing a key share one limiter")
    func registry() {
        let registry = RateLimiterRegistry()
        let a = registry.limiter(for: "k1") { RateLimiter.clickHouse() }
        let b = registry.limiter(for: "k1") { RateLimiter.clickHouse() }
        let c = registry.limiter(for: "k2") { RateLimiter.clickHouse() }
        #expect(a === b)
        #expect(a !== c)
    }

    @Test("backoff ceilings double from the base and stop at the maximum", arguments: [
        (1, 1), (2, 2), (3, 4), (4, 8), (5, 16), (6, 32), (7, 60), (100, 60),
    ])
    func backoff(failedAttempt: Int, seconds: Int) {
        #expect(RetryPolicy.standard.backoffCeiling(afterFailedAttempt: failedAttempt) == .seconds(seconds))
    }

    @Test("full jitter stays within 0...ceiling")
    func jitterBounds() {
        for _ in 0..<100 {
            let wait = Jitter.random(.seconds(4))
            #expect(wait >= .zero && wait <= .seconds(4))
        }
        #expect(Jitter.maximum(.seconds(3)) == .seconds(3))
    }

    @Test("retry-after is read as seconds or as an HTTP date", arguments: [
        ("7", Duration.seconds(7)),
        (" 120 ", Duration.seconds(120)),
        ("0.5", Duration.milliseconds(500)),
        // 2025-08-01T12:00:00Z is "now" in these tests.
        ("Fri, 01 Aug 2025 12:00:30 GMT", Duration.seconds(30)),
    ])
    func retryAfter(value: String, wait: Duration) {
        let now = TestClock().wallNow
        #expect(HTTPTimes.retryAfter(value, wallNow: now) == wait)
    }

    @Test("nonsense retry-after values are ignored", arguments: ["soon", "-5", "", "Fri, 01 Aug 2025 12:00:30 CET"])
    func retryAfterIgnored(value: String) {
        #expect(HTTPTimes.retryAfter(value, wallNow: .zero) == nil)
    }

    @Test("RFC 3339 reset times keep their fraction and offset")
    func rfc3339() {
        let base = Duration.seconds(Day("2025-08-01")!.secondsSinceEpoch)
        #expect(HTTPTimes.rfc3339("2025-08-01T00:00:01.250Z") == base + .milliseconds(1250))
        #expect(HTTPTimes.rfc3339("2025-08-01T02:00:00+02:00") == base)
        #expect(HTTPTimes.rfc3339("2025-08-01") == nil)
    }

    @Test("http is allowed only for loopback base URLs", arguments: [
        ("https://api.anthropic.com", true),
        ("https://proxy.example.com/anthropic/", true),
        ("http://127.0.0.1:8080", true),
        ("http://127.1.2.3", true),
        ("http://localhost:9000", true),
        ("http://[::1]:9000", true),
        ("http://api.anthropic.com", false),
        ("http://10.0.0.1", false),
        ("http://127.0.0.1.evil.com", false),
        ("https://user:pw@api.anthropic.com", false),  // credentials in a URL would be printed
        ("ftp://api.anthropic.com", false),
        ("api.anthropic.com", false),
    ])
    func loopbackRule(url: String, accepted: Bool) {
        let parsed = (try? BaseURL(url)) != nil
        #expect(parsed == accepted)
    }

    @Test("query values are percent-encoded, brackets and token characters included")
    func percentEncoding() throws {
        let base = try BaseURL("https://api.anthropic.com/")
        let url = base.url(path: "/v1/organizations/cost_report", query: [("group_by[]", "workspace_id"), ("page", "a+b/c=")])
        #expect(url == "https://api.anthropic.com/v1/organizations/cost_report?group_by%5B%5D=workspace_id&page=a%2Bb%2Fc%3D")
    }

    @Test("an error description is one actionable line", arguments: [
        (ProviderError(kind: .authentication, provider: .anthropic, org: "acme", endpoint: "/v1/organizations/cost_report",
                       httpStatus: 401, requestID: "req_123", providerErrorType: "authentication_error",
                       providerMessage: "invalid x-api-key"),
         "anthropic org 'acme': authentication failed (HTTP 401, request req_123, /v1/organizations/cost_report): invalid x-api-key — check the org's API key"),
        (ProviderError(kind: .network, provider: .clickhouse, org: "ch", detail: "connect timeout\nsecond line", attempts: 6),
         "clickhouse org 'ch': network error (6 attempts): connect timeout second line — check the base URL and network access; costsync tries again at the next poll"),
    ])
    func descriptions(error: ProviderError, expected: String) {
        #expect(error.description == expected)
        #expect(!error.description.contains("\n"))
    }

    @Test("only rate limits, server and network errors are retryable")
    func retryable() {
        #expect(ProviderError.Kind.rateLimited.isRetryable)
        #expect(ProviderError.Kind.server.isRetryable)
        #expect(ProviderError.Kind.network.isRetryable)
        #expect(!ProviderError.Kind.authentication.isRetryable)
        #expect(!ProviderError.Kind.badRequest.isRetryable)
        #expect(!ProviderError.Kind.undecodable.isRetryable)
    }
}
