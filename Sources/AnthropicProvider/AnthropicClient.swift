import CostModel
import Logging
import ProviderHTTP

/// One Anthropic organization's cost report, through the Admin API.
public struct AnthropicClient: CostSource {
    public var provider: Provider { .anthropic }
    public let org: String
    /// The API returns at most 31 daily buckets a page; longer ranges page on.
    public var maxDaysPerRequest: Int { 31 }

    static let path = "/v1/organizations/cost_report"
    /// The API version costsync was written against; Anthropic requires it.
    static let apiVersion = "2023-06-01"

    private let transport: ProviderTransport

    static let profile = ProviderHTTPProfile(
        provider: .anthropic,
        requestIDHeader: "request-id",
        parseErrorBody: AnthropicCostReport.parseErrorBody
    )

    /// - Parameters:
    ///   - org: the org's `name` from the config.
    ///   - adminKey: an Admin API key (`sk-ant-admin...`).
    ///   - baseURL: `https://api.anthropic.com`, or `http://` on loopback for a test server.
    ///   - httpClient: the process's one client (`ProviderHTTPClient.withHTTPClient`).
    ///   - rateLimiter: optional pacing; Anthropic limits per organization
    ///     and answers 429 with a reset time, which the transport honours.
    /// - Throws: `ProviderError` of kind `configuration` for an unusable base URL.
    public init(org: String, adminKey: Secret, baseURL: String = "https://api.anthropic.com",
                httpClient: SharedHTTPClient, logger: Logger, options: TransportOptions = TransportOptions(),
                rateLimiter: RateLimiter? = nil) throws(ProviderError) {
        self.org = org
        self.transport = try ProviderTransport(
            httpClient: httpClient, profile: AnthropicClient.profile, org: org, baseURL: baseURL,
            credentials: .header(name: "x-api-key", value: adminKey),
            headers: [("anthropic-version", AnthropicClient.apiVersion)],
            rateLimiter: rateLimiter, options: options, logger: logger)
    }

    /// The query of one page: `ending_at` is exclusive, hence the day after
    /// `last`; grouping by workspace and description is what fills in the
    /// other dimensions (without it every dimension is null).
    static func query(_ range: DayRange, limit: Int, page: String?) -> [(name: String, value: String)] {
        var query: [(name: String, value: String)] = [
            ("starting_at", range.first.startTimestamp),
            ("ending_at", range.last.advanced(by: 1).startTimestamp),
            ("group_by[]", "workspace_id"),
            ("group_by[]", "description"),
            ("bucket_width", "1d"),
            ("limit", String(limit)),
        ]
        if let page { query.append(("page", page)) }
        return query
    }

    /// Fetches `range` page by page (31 days a page), handing each page's days
    /// to `sink` before asking for the next.
    ///
    /// Throws `ProviderError`, whatever `sink` throws, or `CancellationError`.
    public func fetch(_ range: DayRange, sink: @Sendable ([DayCosts]) async throws -> Void) async throws {
        var page: String?
        var seenTokens: Set<String> = []
        var emitted: Set<Day> = []
        // The last day of a page is held back until the next page: should a
        // day's results ever be split across two pages, its halves are merged
        // before it is written, because the sink replaces a day whole.
        var heldBack: DayCosts?
        while true {
            let response = try await transport.get(AnthropicClient.path,
                                                   query: AnthropicClient.query(range, limit: 31, page: page))
            let decoded = try decode(response)
            var days: [DayCosts] = []
            days.reserveCapacity(decoded.days.count + 1)
            for day in decoded.days {
                guard range.contains(day.day) else {
                    // Not asked for: storing it could overwrite a day another
                    // fetch is responsible for.
                    transport.logger.warning("bucket outside the requested range ignored", metadata: [
                        "day": "\(day.day)", "days.from": "\(range.first)", "days.to": "\(range.last)",
                        "request.id": "\(response.requestID ?? "-")",
                    ])
                    continue
                }
                if var held = heldBack, held.day == day.day {
                    held.lines = try merge(held.lines, day.lines, response)
                    heldBack = held
                    continue
                }
                // A day already written coming back later would replace it
                // with only part of its lines.
                guard emitted.insert(day.day).inserted else {
                    throw transport.dataMismatch(response, detail: "day \(day.day) came back on two pages")
                }
                days.append(day)
            }
            if let held = heldBack {
                days.insert(held, at: 0)
                heldBack = nil
            }
            if decoded.hasMore, let last = days.popLast() { heldBack = last }
            if !days.isEmpty { try await sink(days) }

            guard decoded.hasMore else { return }
            guard let next = decoded.nextPage, !next.isEmpty else {
                throw transport.dataMismatch(response, detail: "has_more is true but next_page is null")
            }
            // A token seen before would make us loop forever on the same pages.
            guard seenTokens.insert(next).inserted else {
                throw transport.dataMismatch(response, detail: "the next_page token repeated an earlier one")
            }
            page = next
        }
    }

    /// The lines of one day that came in two parts (pages).
    private func merge(_ a: [CostLine], _ b: [CostLine], _ response: ProviderResponse) throws -> [CostLine] {
        do {
            var lines = try DayLines(a)
            try lines.merge(b)
            return lines.lines
        } catch {
            throw transport.dataMismatch(response, detail: error.description)
        }
    }

    /// One cheap authenticated request: today's bucket, `limit=1`, few retries
    /// (a person is waiting for `check-config --online`).
    public func probe() async throws {
        let today = transport.options.clock.wall.today
        var policy = transport.options.retry
        policy.maxAttempts = min(policy.maxAttempts, 3)
        policy.maxTotal = min(policy.maxTotal, .seconds(30))
        let response = try await transport.get(AnthropicClient.path,
                                               query: AnthropicClient.query(DayRange(today, today), limit: 1, page: nil),
                                               retry: policy)
        _ = try decode(response)
    }

    private func decode(_ response: ProviderResponse) throws(ProviderError) -> AnthropicPage {
        do {
            return try response.withBody { bytes throws(PageDecodingError) in try AnthropicCostReport.decodePage(bytes) }
        } catch {
            throw transport.error(decoding: error, of: response)
        }
    }
}
