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
    /// USD per credit, the config's `credit_price`; FOCUS bills credits at it.
    public let creditPrice: Money?
    let transport: ProviderTransport
    /// The days of this org's windows, learnt from the answers.
    private let pages: PageSizer

    static let profile = ProviderHTTPProfile(
        provider: .clickhouse,
        // No request-id header is documented; the id is in the body
        // (`requestId`), which the error parser and the decoder read.
        requestIDHeader: nil,
        parseErrorBody: ClickHouseUsageCost.parseErrorBody,
        // `{"status":503,"requestId":...,"error":...}` inside a 200: its own status says what it is.
        envelopeKind: { body in body.status.flatMap { $0 == 200 ? nil : ProviderTransport.kind(forStatus: $0) } }
    )

    /// - Parameters:
    ///   - organizationID: the organization's UUID (`organization_id`).
    ///   - keyID, keySecret: the API key, sent as HTTP Basic user and password.
    ///   - rateLimiters: the process's registry, so that orgs sharing a key
    ///     share its 10-requests-per-10-s budget; nil gives this client its own limiter.
    /// - Throws: `ProviderError` of kind `configuration` for an unusable base URL.
    public init(org: String, organizationID: String, keyID: Secret, keySecret: Secret,
                baseURL: String = "https://api.clickhouse.cloud", httpClient: SharedHTTPClient, logger: Logger,
                options: TransportOptions = TransportOptions(), rateLimiters: RateLimiterRegistry? = nil,
                lineBudget: Int = PageSizer.defaultLineBudget, creditPrice: Money? = nil) throws(ProviderError) {
        self.org = org
        self.organizationID = organizationID
        self.creditPrice = creditPrice
        let clock = options.clock
        // Keyed by the key ID itself: held in memory only, never printed.
        let limiter = rateLimiters?.limiter(for: "clickhouse:" + keyID.revealed) { RateLimiter.clickHouse(clock: clock) }
            ?? RateLimiter.clickHouse(clock: clock)
        self.transport = try ProviderTransport(
            httpClient: httpClient, profile: ClickHouseClient.profile, org: org, baseURL: baseURL,
            credentials: .basic(user: keyID, password: keySecret),
            rateLimiter: limiter, options: options, logger: logger)
        self.pages = PageSizer(maximum: 31, lineBudget: lineBudget)
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
        var start = range.first
        while start <= range.last {
            let size = pages.current
            let window = DayRange(start, min(range.last, start.advanced(by: size - 1)))
            let page: ClickHousePage
            do {
                page = try await fetchWindow(window, retry: nil)
            } catch let error as ProviderError where error.kind == .tooLarge && pages.shrinkAfterTooLarge(from: window.count) {
                transport.logger.notice("an answer passed the response cap; asking for fewer days a request", metadata: [
                    "days.from": "\(start)", "window.days": "\(pages.current)",
                ])
                continue
            }
            start = window.last.advanced(by: 1)
            pages.observe(lines: page.days.reduce(0) { $0 + $1.lines.count }, days: window.count)
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
        try await transport.get(path, query: [
            ("from_date", window.first.description),
            ("to_date", window.last.description),
        ], retry: retry, bodyLimit: PageSizer.bodyLimit(days: window.count)) { [transport] response throws(ProviderError) in
            let decoded = response.withBody { bytes in
                Result { () throws(PageDecodingError) -> ClickHousePage in try ClickHouseUsageCost.decodePage(bytes) }
            }
            switch decoded {
            case .success(let page): return page
            case .failure(let error): throw transport.error(decoding: error, of: response)
            }
        }
    }
}
