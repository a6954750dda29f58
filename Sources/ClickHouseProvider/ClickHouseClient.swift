import CostModel
import Logging
import ProviderHTTP

/// One ClickHouse Cloud organization's usage cost, through the Cloud API.
public struct ClickHouseClient: CostSource {
    public var provider: Provider { .clickhouse }
    public let org: String
    /// `from_date`..`to_date` may span at most 31 days (inclusive).
    public var maxDaysPerRequest: Int { 31 }

    public let organizationID: String
    private let transport: ProviderTransport

    static let profile = ProviderHTTPProfile(
        provider: .clickhouse,
        // No request-id header is documented; the id is in the body
        // (`requestId`), which the error parser and the decoder read.
        requestIDHeader: nil,
        parseErrorBody: ClickHouseUsageCost.parseErrorBody
    )

    /// - Parameters:
    ///   - organizationID: the organization's UUID (`organization_id`).
    ///   - keyID, keySecret: the API key, sent as HTTP Basic user and password.
    ///   - rateLimiters: the process's registry, so that orgs sharing a key
    ///     share its 10-requests-per-10-s budget; nil gives this client its own limiter.
    /// - Throws: `ProviderError` of kind `configuration` for an unusable base URL.
    public init(org: String, organizationID: String, keyID: Secret, keySecret: Secret,
                baseURL: String = "https://api.clickhouse.cloud", httpClient: SharedHTTPClient, logger: Logger,
                options: TransportOptions = TransportOptions(), rateLimiters: RateLimiterRegistry? = nil) throws(ProviderError) {
        self.org = org
        self.organizationID = organizationID
        let clock = options.clock
        // Keyed by the key ID itself: held in memory only, never printed.
        let limiter = rateLimiters?.limiter(for: "clickhouse:" + keyID.revealed) { RateLimiter.clickHouse(clock: clock) }
            ?? RateLimiter.clickHouse(clock: clock)
        self.transport = try ProviderTransport(
            httpClient: httpClient, profile: ClickHouseClient.profile, org: org, baseURL: baseURL,
            credentials: .basic(user: keyID, password: keySecret),
            rateLimiter: limiter, options: options, logger: logger)
    }

    /// The API path; the id is percent-encoded so that a stray `/` or `?` in
    /// the config cannot change which endpoint is called.
    var path: String { "/v1/organizations/\(BaseURL.percentEncode(organizationID))/usageCost" }

    /// Fetches `range` in windows of at most 31 days, handing each window's
    /// days to `sink`: every day of the window, with its lines, or with none
    /// (and `providerLocked` nil) when ClickHouse has no record of that day.
    ///
    /// Throws `ProviderError`, whatever `sink` throws, or `CancellationError`.
    public func fetch(_ range: DayRange, sink: @Sendable ([DayCosts]) async throws -> Void) async throws {
        for window in range.windows(ofAtMost: maxDaysPerRequest) {
            let page = try await fetchWindow(window, retry: nil)
            var byDay: [Day: DayCosts] = [:]
            for day in page.days {
                guard window.contains(day.day) else {
                    transport.logger.warning("record outside the requested window ignored", metadata: [
                        "day": "\(day.day)", "days.from": "\(window.first)", "days.to": "\(window.last)",
                        "request.id": "\(page.requestID ?? "-")",
                    ])
                    continue
                }
                byDay[day.day] = day
            }
            let mismatch = page.mismatch
            if let mismatch {
                transport.logger.warning("grandTotalCHC disagrees with the records; the records are stored and their days kept non-final", metadata: [
                    "days.from": "\(window.first)", "days.to": "\(window.last)", "grand_total": "\(mismatch.providerTotal)",
                    "records_total": "\(mismatch.recordsTotal)", "records": "\(page.recordCount)", "request.id": "\(page.requestID ?? "-")",
                ])
            }
            let days = window.map { day in
                var costs = byDay[day] ?? DayCosts(day: day, lines: [], providerLocked: nil)
                costs.requestID = page.requestID
                costs.mismatch = mismatch
                return costs
            }
            try await sink(days)
        }
    }

    /// One cheap authenticated request: today only, few retries.
    public func probe() async throws {
        let today = transport.options.clock.wall.today
        var policy = transport.options.retry
        policy.maxAttempts = min(policy.maxAttempts, 3)
        policy.maxTotal = min(policy.maxTotal, .seconds(30))
        _ = try await fetchWindow(DayRange(today, today), retry: policy)
    }

    private func fetchWindow(_ window: DayRange, retry: RetryPolicy?) async throws -> ClickHousePage {
        // Both dates are inclusive and must be `YYYY-MM-DD`: a timestamp is a 400.
        let response = try await transport.get(path, query: [
            ("from_date", window.first.description),
            ("to_date", window.last.description),
        ], retry: retry)
        let page: ClickHousePage
        do {
            page = try response.withBody { bytes throws(PageDecodingError) in try ClickHouseUsageCost.decodePage(bytes) }
        } catch {
            throw transport.error(decoding: error, of: response)
        }
        return page
    }
}
