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

    let transport: ProviderTransport
    /// The `limit` of this org's pages, learnt from the answers.
    private let pages: PageSizer

    static let profile = ProviderHTTPProfile(
        provider: .anthropic,
        requestIDHeader: "request-id",
        parseErrorBody: AnthropicCostReport.parseErrorBody,
        envelopeKind: AnthropicClient.envelopeKind
    )

    /// Anthropic's error types (docs: "Errors"), as they would come with a status.
    static func envelopeKind(_ body: ProviderErrorBody) -> ProviderError.Kind? {
        switch body.type {
        case "invalid_request_error": .badRequest
        case "authentication_error": .authentication
        case "permission_error": .permission
        case "not_found_error": .notFound
        case "request_too_large": .badRequest
        case "rate_limit_error": .rateLimited
        case "api_error", "overloaded_error": .server
        case nil: nil
        default: .unexpectedStatus
        }
    }

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
                rateLimiter: RateLimiter? = nil, lineBudget: Int = PageSizer.defaultLineBudget) throws(ProviderError) {
        self.org = org
        self.transport = try ProviderTransport(
            httpClient: httpClient, profile: AnthropicClient.profile, org: org, baseURL: baseURL,
            credentials: .header(name: "x-api-key", value: adminKey),
            headers: [("anthropic-version", AnthropicClient.apiVersion)],
            rateLimiter: rateLimiter, options: options, logger: logger)
        self.pages = PageSizer(maximum: 31, lineBudget: lineBudget)
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

    /// Fetches `range` page by page, handing each page's days to `sink`
    /// before asking for the next. Pages start at 31 days and shrink when a
    /// body passes the cap (the remaining days are asked for again in fewer
    /// days a page) or carries more lines than the page budget.
    ///
    /// A day without a bucket once the pages end is not an empty day: it is
    /// named in a warning and not handed over, so it stays non-final and the
    /// next poll asks again.
    ///
    /// Throws `ProviderError`, whatever `sink` throws, or `CancellationError`.
    public func fetch(_ range: DayRange, sink: @Sendable ([DayCosts]) async throws -> Void) async throws {
        // A page holds at least one day (or part of one); far more pages
        // than days means the API is not making progress.
        var pagesLeft = 4 * range.count + 16
        var start = range.first
        var seen: Set<Day> = []
        sequence: while start <= range.last {
            let remaining = DayRange(start, range.last)
            var page: String?
            var seenTokens: Set<String> = []
            // The last day of a page is held back until the next page: should a
            // day's results ever be split across two pages, its halves are merged
            // before it is written, because the sink replaces a day whole.
            var heldBack: DayCosts?
            // One page size for the whole sequence: a page token is only
            // good for the `limit` it was issued with. What the pages teach
            // applies from the next sequence on.
            let limit = pages.current
            while true {
                pagesLeft -= 1
                guard pagesLeft >= 0 else {
                    throw transport.makeError(.dataMismatch, endpoint: AnthropicClient.path,
                                              detail: "more than \(4 * range.count + 16) pages for \(range.count) days; stopped")
                }
                let used = min(limit, remaining.count)
                let decoded: AnthropicPage
                let requestID: String?
                do {
                    (decoded, requestID) = try await transport.get(
                        AnthropicClient.path, query: AnthropicClient.query(remaining, limit: limit, page: page),
                        bodyLimit: PageSizer.bodyLimit(days: used)
                    ) { response throws(ProviderError) in (try decode(response), response.requestID) }
                } catch let error as ProviderError where error.kind == .tooLarge && pages.shrinkAfterTooLarge(from: used) {
                    transport.logger.notice("a page passed the response cap; asking for fewer days a page", metadata: [
                        "days.from": "\(start)", "page.days": "\(pages.current)",
                    ])
                    // The held-back day was never handed over: it is asked for again.
                    if let held = heldBack { seen.remove(held.day) }
                    continue sequence
                }
                pages.observe(lines: decoded.days.reduce(0) { $0 + $1.lines.count }, days: decoded.days.count)
                var days: [DayCosts] = []
                days.reserveCapacity(decoded.days.count + 1)
                for var day in decoded.days {
                    day.requestID = requestID
                    guard remaining.contains(day.day) else {
                        // Not asked for: storing it could overwrite a day another
                        // fetch is responsible for.
                        transport.logger.warning("bucket outside the requested range ignored", metadata: [
                            "day": "\(day.day)", "days.from": "\(range.first)", "days.to": "\(range.last)",
                            "request.id": "\(requestID ?? "-")",
                        ])
                        continue
                    }
                    if var held = heldBack, held.day == day.day {
                        held.lines = try merge(held.lines, day.lines, requestID: requestID)
                        heldBack = held
                        continue
                    }
                    // A day already written coming back later would replace it
                    // with only part of its lines.
                    guard seen.insert(day.day).inserted else {
                        throw transport.makeError(.dataMismatch, endpoint: AnthropicClient.path, requestID: requestID,
                                                  detail: "day \(day.day) came back on two pages")
                    }
                    days.append(day)
                }
                if let held = heldBack {
                    days.insert(held, at: 0)
                    heldBack = nil
                }
                if decoded.hasMore, let last = days.popLast() { heldBack = last }
                if let last = days.last {
                    try await sink(days)
                    start = last.day.advanced(by: 1)
                }

                guard decoded.hasMore else { break sequence }
                guard let next = decoded.nextPage, !next.isEmpty else {
                    throw transport.makeError(.dataMismatch, endpoint: AnthropicClient.path, requestID: requestID,
                                              detail: "has_more is true but next_page is null")
                }
                // A token seen before would make us loop forever on the same pages.
                guard seenTokens.insert(next).inserted else {
                    throw transport.makeError(.dataMismatch, endpoint: AnthropicClient.path, requestID: requestID,
                                              detail: "the next_page token repeated an earlier one")
                }
                page = next
            }
        }
        let missing = range.filter { !seen.contains($0) }
        if !missing.isEmpty {
            transport.logger.warning("the answer had no bucket for some requested days; they are not written and stay non-final", metadata: [
                "days.missing": "\(missing.map(\.description).joined(separator: ","))", "days.from": "\(range.first)",
                "days.to": "\(range.last)",
            ])
        }
    }

    /// The lines of one day that came in two parts (pages).
    private func merge(_ a: [CostLine], _ b: [CostLine], requestID: String?) throws -> [CostLine] {
        do {
            var lines = try DayLines(a)
            try lines.merge(b)
            return lines.lines
        } catch {
            throw transport.makeError(.dataMismatch, endpoint: AnthropicClient.path, requestID: requestID, detail: error.description)
        }
    }

    /// One cheap authenticated request: today's bucket, `limit=1`, few retries
    /// (a person is waiting for `check-config --online`).
    public func probe() async throws {
        let today = transport.options.clock.wall.today
        var policy = transport.options.retry
        policy.maxAttempts = min(policy.maxAttempts, 3)
        policy.maxTotal = min(policy.maxTotal, .seconds(30))
        _ = try await transport.get(AnthropicClient.path,
                                    query: AnthropicClient.query(DayRange(today, today), limit: 1, page: nil),
                                    retry: policy) { response throws(ProviderError) in try decode(response) }
    }

    private func decode(_ response: ProviderResponse) throws(ProviderError) -> AnthropicPage {
        do {
            return try response.withBody { bytes throws(PageDecodingError) in try AnthropicCostReport.decodePage(bytes) }
        } catch {
            throw transport.error(decoding: error, of: response)
        }
    }
}
