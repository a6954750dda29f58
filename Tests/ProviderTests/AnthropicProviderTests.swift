import AnthropicProvider
import CostModel
import LoopbackHTTP
import Logging
import ProviderHTTP
import Simulator
import Testing

/// A test key: no description, log line or error may ever contain it.
let anthropicTestKey = "sk-ant-admin01-TESTKEY-do-not-print-3f9a"

/// Anthropic's own example response from the cost report documentation
/// (`shared/seeds/anthropic-cost-report.txt`), verbatim.
let anthropicSeedResponse = """
    {
      "data": [
        {
          "starting_at": "2025-08-01T00:00:00Z",
          "ending_at": "2025-08-02T00:00:00Z",
          "results": [
            {
              "currency": "USD",
              "amount": "123.78912",
              "workspace_id": "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ",
              "description": "Claude Sonnet 4 Usage - Input Tokens",
              "cost_type": "tokens",
              "context_window": "0-200k",
              "model": "claude-sonnet-4-20250514",
              "service_tier": "standard",
              "token_type": "uncached_input_tokens"
            }
          ]
        }
      ],
      "has_more": true,
      "next_page": "page_MjAyNS0wNS0xNFQwMDowMDowMFo="
    }
    """

/// A bucket of the cost report for `day` with the given result objects.
func bucket(_ day: String, _ results: [String]) -> String {
    let next = Day(day)!.advanced(by: 1)
    return #"{"starting_at":"\#(day)T00:00:00Z","ending_at":"\#(next)T00:00:00Z","results":[\#(results.joined(separator: ","))]}"#
}

func page(_ buckets: [String], hasMore: Bool = false, nextPage: String? = nil) -> String {
    #"{"data":[\#(buckets.joined(separator: ","))],"has_more":\#(hasMore),"next_page":\#(nextPage.map { "\"\($0)\"" } ?? "null")}"#
}

func result(amount: String, workspace: String? = "wrkspc_A", description: String? = "Claude Sonnet 4 Usage - Input Tokens",
            costType: String? = "tokens", tokenType: String? = "uncached_input_tokens", extra: String = "") -> String {
    func q(_ v: String?) -> String { v.map { "\"\($0)\"" } ?? "null" }
    return #"{"currency":"USD","amount":"\#(amount)","workspace_id":\#(q(workspace)),"description":\#(q(description)),"cost_type":\#(q(costType)),"context_window":"0-200k","model":"claude-sonnet-4-20250514","service_tier":"standard","token_type":\#(q(tokenType))\#(extra)}"#
}

func anthropicClient(_ baseURL: String, _ client: HTTPClientLike, clock: TestClock, logs: LogCapture,
                     maxAttempts: Int = 6) throws -> AnthropicClient {
    try AnthropicClient(org: "acme", adminKey: Secret(anthropicTestKey), baseURL: baseURL, httpClient: client,
                        logger: logs.logger, options: testOptions(clock, maxAttempts: maxAttempts))
}

typealias HTTPClientLike = SharedHTTPClient

@Suite("Anthropic cost report")
struct AnthropicProviderTests {
    // MARK: Decoding and normalization

    @Test("the documentation's example amount of 123.78912 cents is $1.2378912")
    func seedExample() throws {
        let page = try AnthropicCostReport.decodePage(Array(anthropicSeedResponse.utf8))
        #expect(page.hasMore)
        #expect(page.nextPage == "page_MjAyNS0wNS0xNFQwMDowMDowMFo=")
        #expect(page.days.count == 1)
        let day = try #require(page.days.first)
        #expect(day.day == Day("2025-08-01"))
        #expect(day.providerLocked == nil)
        let line = try #require(day.lines.first)
        #expect(line.amount.text == "1.2378912")
        #expect(line.amount.nanos == 1_237_891_200)
        #expect(line.scopeID == "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ")
        #expect(line.item == "Claude Sonnet 4 Usage - Input Tokens")
        #expect(line.dimensions == Dimensions(
            workspaceID: "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ", description: "Claude Sonnet 4 Usage - Input Tokens",
            costType: "tokens", model: "claude-sonnet-4-20250514", tokenType: "uncached_input_tokens",
            contextWindow: "0-200k", serviceTier: "standard", inferenceGeo: nil))
        #expect(line.extras == nil)
        #expect(line.lineKey == LineKeyBuilder.key(canonical:
            "workspace_id=wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ;description=Claude Sonnet 4 Usage - Input Tokens;cost_type=tokens;"
            + "model=claude-sonnet-4-20250514;token_type=uncached_input_tokens;context_window=0-200k;service_tier=standard"))
    }

    @Test("cents become exact dollars", arguments: [
        ("41280.000000", "412.8", Int64(412_800_000_000)),  // Anthropic's own example: $412.80
        ("946.6", "9.466", Int64(9_466_000_000)),
        ("187515.353295", "1875.15353295", Int64(1_875_153_532_950)),
        ("1523", "15.23", Int64(15_230_000_000)),
        ("0", "0", Int64(0)),
    ])
    func centsToDollars(cents: String, dollars: String, nanos: Int64) throws {
        let page = try AnthropicCostReport.decodePage(Array(page([bucket("2025-03-01", [result(amount: cents)])]).utf8))
        let line = try #require(page.days.first?.lines.first)
        #expect(line.amount.text == dollars)
        #expect(line.amount.nanos == nanos)
    }

    @Test("a null workspace becomes the default scope")
    func nullWorkspace() throws {
        let text = page([bucket("2025-03-01", [result(amount: "100", workspace: nil)])])
        let line = try #require(try AnthropicCostReport.decodePage(Array(text.utf8)).days.first?.lines.first)
        #expect(line.scopeID == "default")
        #expect(line.dimensions.workspaceID == nil)
        #expect(!line.lineKey.contains("workspace_id"))
    }

    @Test("an absent and a null dimension are both nil")
    func absentDimension() throws {
        let withNull = result(amount: "1", extra: #","inference_geo":null"#)
        let page = try AnthropicCostReport.decodePage(Array(page([bucket("2025-03-01", [withNull])]).utf8))
        let line = try #require(page.days.first?.lines.first)
        #expect(line.dimensions.inferenceGeo == nil)
        #expect(line.extras == nil)
    }

    @Test("an unknown cost_type and an unknown field are stored, and the field keeps lines apart")
    func unknownValuesStored() throws {
        let a = result(amount: "500", description: "Quantum Search", costType: "quantum_search", tokenType: nil,
                       extra: #","inference_geo":"us","new_dimension":"alpha","units":12"#)
        let b = result(amount: "700", description: "Quantum Search", costType: "quantum_search", tokenType: nil,
                       extra: #","inference_geo":"us","new_dimension":"beta","units":12"#)
        let page = try AnthropicCostReport.decodePage(Array(page([bucket("2025-03-01", [a, b])]).utf8))
        let lines = try #require(page.days.first?.lines)
        #expect(lines.count == 2)  // the unknown string field keeps them apart
        #expect(lines[0].dimensions.costType == "quantum_search")
        #expect(lines[0].dimensions.inferenceGeo == "us")
        #expect(lines[0].item == "Quantum Search")
        #expect(lines[0].extras == #"{"new_dimension":"alpha","units":12}"#)
        let known = "workspace_id=wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ;description=Quantum Search;cost_type=quantum_search;"
        #expect(lines[0].lineKey != lines[1].lineKey)
        #expect(lines.allSatisfy { $0.lineKey != LineKeyBuilder.key(canonical: known) })
        #expect(lines.map(\.amount.text) == ["5", "7"])
    }

    @Test("a line without a description is named by its cost type")
    func itemFallsBack() throws {
        let r = result(amount: "1", description: nil, costType: "web_search", tokenType: nil)
        let line = try #require(try AnthropicCostReport.decodePage(Array(page([bucket("2025-03-01", [r])]).utf8)).days.first?.lines.first)
        #expect(line.item == "web_search")
    }

    @Test("two results with the same dimensions are summed, never dropped")
    func duplicatesSummed() throws {
        let text = page([bucket("2025-03-01", [result(amount: "0.1"), result(amount: "0.2"), result(amount: "5", tokenType: "output_tokens")])])
        let lines = try #require(try AnthropicCostReport.decodePage(Array(text.utf8)).days.first?.lines)
        #expect(lines.count == 2)
        #expect(lines[0].amount.text == "0.003")  // 0.1 + 0.2 cents, exactly
        #expect(lines[1].amount.text == "0.05")
    }

    @Test("the same dimensions give the same line key every day, however the JSON spells them")
    func stableKeys() throws {
        let plain = result(amount: "1", workspace: "wrkspc_Escaped")
        let escaped = result(amount: "2", workspace: #"wrkspc_\u0045scaped"#)
        let days = try AnthropicCostReport.decodePage(Array(page([bucket("2025-03-01", [plain]), bucket("2025-03-02", [plain]),
                                                                bucket("2025-03-03", [escaped, plain])]).utf8)).days
        let keys = days.map { $0.lines.map(\.lineKey) }
        #expect(keys[0] == keys[1])
        #expect(keys[2].count == 1)  // escaped and plain spelling are one line, summed
        #expect(keys[2] == keys[0])
        #expect(days[2].lines.first?.amount.text == "0.03")
    }

    @Test("a day without cost is a fetched day with zero lines, not a gap")
    func emptyDay() throws {
        let text = page([bucket("2025-03-01", []), bucket("2025-03-02", [result(amount: "1")])])
        let days = try AnthropicCostReport.decodePage(Array(text.utf8)).days
        #expect(days.map(\.day) == [day("2025-03-01"), day("2025-03-02")])
        #expect(days[0].lines.isEmpty)
        #expect(days[0].providerLocked == nil)
    }

    @Test("an amount that is not a number fails the page with its offset")
    func badAmount() {
        let text = page([bucket("2025-03-01", [result(amount: "12,5")])])
        #expect {
            try AnthropicCostReport.decodePage(Array(text.utf8))
        } throws: { error in
            guard let e = error as? PageDecodingError else { return false }
            return e.kind == .malformed && e.message.contains("amount") && e.offset != nil
        }
    }

    // MARK: Over HTTP

    @Test("pages are followed with next_page until has_more is false")
    func pagination() async throws {
        let clock = TestClock()
        let logs = LogCapture()
        let first = page([bucket("2025-03-01", [result(amount: "100")]), bucket("2025-03-02", [])],
                         hasMore: true, nextPage: "page_Mj+/AzLTAz=")
        let second = page([bucket("2025-03-03", [result(amount: "250")])])
        let recorder = SinkRecorder()
        try await withScriptedServer([.json(200, first, headers: [("request-id", "req_1")]), .json(200, second)]) { base, http, requests in
            let client = try anthropicClient(base, http, clock: clock, logs: logs)
            try await client.fetch(DayRange(day("2025-03-01"), day("2025-03-03")), sink: recorder.sink)
            let sent = requests.all
            #expect(sent.count == 2)
            let r0 = sent[0]
            #expect(r0.method == "GET")
            #expect(r0.path == "/v1/organizations/cost_report")
            #expect(r0.queryValue("starting_at") == "2025-03-01T00:00:00Z")
            #expect(r0.queryValue("ending_at") == "2025-03-04T00:00:00Z")  // exclusive: the day after the last
            #expect(r0.queryValues("group_by[]") == ["workspace_id", "description"])
            #expect(r0.queryValue("bucket_width") == "1d")
            #expect(r0.queryValue("limit") == "31")
            #expect(r0.queryValue("page") == nil)
            #expect(r0.header("x-api-key") == anthropicTestKey)
            #expect(r0.header("anthropic-version") == "2023-06-01")
            #expect(r0.header("user-agent") == "costsync/\(costsyncVersion)")
            #expect(sent[1].queryValue("page") == "page_Mj+/AzLTAz=")  // opaque token, percent-encoded and back
        }
        #expect(recorder.pages.count == 2)  // one sink call per page, as each page arrives
        #expect(recorder.days.map(\.day) == [day("2025-03-01"), day("2025-03-02"), day("2025-03-03")])
        #expect(recorder.days.map { $0.lines.count } == [1, 0, 1])
        #expect(clock.sleeps.isEmpty)
    }

    @Test("a day whose results are split across two pages is written once, whole")
    func daySplitAcrossPages() async throws {
        let clock = TestClock()
        let logs = LogCapture()
        let first = page([bucket("2025-03-01", [result(amount: "100")]), bucket("2025-03-02", [result(amount: "1")])],
                         hasMore: true, nextPage: "page_B")
        let second = page([bucket("2025-03-02", [result(amount: "2", workspace: "wrkspc_B")]), bucket("2025-03-03", [])])
        let recorder = SinkRecorder()
        try await withScriptedServer([.json(200, first), .json(200, second)]) { base, http, _ in
            let client = try anthropicClient(base, http, clock: clock, logs: logs)
            try await client.fetch(DayRange(day("2025-03-01"), day("2025-03-03")), sink: recorder.sink)
        }
        #expect(recorder.days.map(\.day) == [day("2025-03-01"), day("2025-03-02"), day("2025-03-03")])
        let split = try #require(recorder.days.first { $0.day == day("2025-03-02") })
        #expect(split.lines.map(\.amount.text).sorted() == ["0.01", "0.02"])
    }

    @Test("a repeated page token stops with an error instead of looping")
    func repeatedPageToken() async throws {
        let clock = TestClock()
        let logs = LogCapture()
        let p1 = page([bucket("2025-03-01", [])], hasMore: true, nextPage: "page_A")
        let p2 = page([bucket("2025-03-02", [])], hasMore: true, nextPage: "page_A")
        try await withScriptedServer([.json(200, p1), .json(200, p2), .json(200, p2)]) { base, http, requests in
            let client = try anthropicClient(base, http, clock: clock, logs: logs)
            let error = await caught { try await client.fetch(DayRange(day("2025-03-01"), day("2025-03-05")), sink: SinkRecorder().sink) }
            let e = try #require(error as? ProviderError)
            #expect(e.kind == .dataMismatch)
            #expect(e.description.contains("next_page token repeated"))
            #expect(requests.count == 2)
        }
    }

    @Test("a 429 with retry-after waits as long as the server says, then succeeds")
    func retryAfter() async throws {
        let clock = TestClock()
        let logs = LogCapture()
        let limited = ServerResponse.json(429, #"{"type":"error","error":{"type":"rate_limit_error","message":"Rate limited"}}"#,
                                       headers: [("retry-after", "7"), ("request-id", "req_429")])
        let ok = ServerResponse.json(200, page([bucket("2025-03-01", [result(amount: "1")])]))
        let recorder = SinkRecorder()
        try await withScriptedServer([limited, ok]) { base, http, requests in
            let client = try anthropicClient(base, http, clock: clock, logs: logs)
            try await client.fetch(DayRange(day("2025-03-01"), day("2025-03-01")), sink: recorder.sink)
            #expect(requests.count == 2)
        }
        // What the server asked for, plus up to a tenth of it as jitter (the
        // tests' jitter always takes its upper bound), so orgs sharing a reset
        // do not wake together.
        #expect(clock.sleeps == [.milliseconds(7_700)])
        #expect(recorder.days.count == 1)
        let retryLine = try #require(logs.all.first { $0.contains("retrying") })
        #expect(retryLine.contains("retry.in=7.7s"))
        #expect(retryLine.contains("http.status=429"))
        #expect(retryLine.contains("request.id=req_429"))
        #expect(retryLine.contains("org=acme"))
        #expect(retryLine.contains("provider=anthropic"))
    }

    @Test("a 429 with anthropic-ratelimit-requests-reset waits until that time")
    func rateLimitReset() async throws {
        let clock = TestClock()  // 2025-08-01T12:00:00Z
        let logs = LogCapture()
        let limited = ServerResponse.json(429, #"{"type":"error","error":{"type":"rate_limit_error","message":"Rate limited"}}"#,
                                       headers: [("anthropic-ratelimit-requests-reset", "2025-08-01T12:00:12.500Z")])
        let ok = ServerResponse.json(200, page([bucket("2025-03-01", [])]))
        try await withScriptedServer([limited, ok]) { base, http, _ in
            let client = try anthropicClient(base, http, clock: clock, logs: logs)
            try await client.fetch(DayRange(day("2025-03-01"), day("2025-03-01")), sink: SinkRecorder().sink)
        }
        #expect(clock.sleeps == [.milliseconds(12_500 + 1_250)])  // the reset, plus a tenth as jitter
    }

    @Test("a 503 and a 529 are retried with backoff, then the page is stored")
    func serverErrorsRetried() async throws {
        let clock = TestClock()
        let logs = LogCapture()
        let unavailable = ServerResponse.json(503, #"{"type":"error","error":{"type":"api_error","message":"down"}}"#)
        let overloaded = ServerResponse.json(529, #"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#)
        let ok = ServerResponse.json(200, page([bucket("2025-03-01", [result(amount: "1")])]))
        let recorder = SinkRecorder()
        try await withScriptedServer([unavailable, overloaded, ok]) { base, http, requests in
            let client = try anthropicClient(base, http, clock: clock, logs: logs)
            try await client.fetch(DayRange(day("2025-03-01"), day("2025-03-01")), sink: recorder.sink)
            #expect(requests.count == 3)
        }
        // Full jitter pinned at its ceiling: 1 s, then 2 s.
        #expect(clock.sleeps == [.seconds(1), .seconds(2)])
        #expect(recorder.days.count == 1)
    }

    @Test("a dropped connection is a network error, retried like a 5xx")
    func droppedConnection() async throws {
        let clock = TestClock()
        let logs = LogCapture()
        let dropped = ServerResponse(status: 200, body: [], fault: .dropConnection)
        let ok = ServerResponse.json(200, page([bucket("2025-03-01", [result(amount: "1")])]))
        let recorder = SinkRecorder()
        try await withScriptedServer([dropped, ok]) { base, http, requests in
            let client = try anthropicClient(base, http, clock: clock, logs: logs)
            try await client.fetch(DayRange(day("2025-03-01"), day("2025-03-01")), sink: recorder.sink)
            #expect(requests.count == 2)
        }
        #expect(clock.sleeps == [.seconds(1)])
        #expect(recorder.days.count == 1)
        #expect(logs.all.contains { $0.contains("retrying") && $0.contains("network error") })
    }

    @Test("server errors stop after the attempt budget with an honest error")
    func retriesBounded() async throws {
        let clock = TestClock()
        let logs = LogCapture()
        let failing = ServerResponse.json(500, #"{"type":"error","error":{"type":"api_error","message":"Internal server error"},"request_id":"req_body"}"#)
        try await withScriptedServer([failing]) { base, http, requests in
            let client = try anthropicClient(base, http, clock: clock, logs: logs, maxAttempts: 3)
            let error = await caught { try await client.fetch(DayRange(day("2025-03-01"), day("2025-03-01")), sink: SinkRecorder().sink) }
            let e = try #require(error as? ProviderError)
            #expect(e.kind == .server)
            #expect(e.attempts == 3)
            #expect(e.requestID == "req_body")  // from the body when no header carries it
            #expect(requests.count == 3)
        }
        #expect(clock.sleeps.count == 2)
    }

    @Test("a 401 is an authentication error that names the org, never the key, and is not retried")
    func unauthorized() async throws {
        let clock = TestClock()
        let logs = LogCapture()
        // A hostile or careless server echoing the key back must not get it printed.
        let body = #"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key \#(anthropicTestKey)"},"request_id":"req_123"}"#
        try await withScriptedServer([.json(401, body, headers: [("request-id", "req_123")])]) { base, http, requests in
            let client = try anthropicClient(base, http, clock: clock, logs: logs)
            let error = await caught { try await client.fetch(DayRange(day("2025-03-01"), day("2025-03-01")), sink: SinkRecorder().sink) }
            let e = try #require(error as? ProviderError)
            #expect(e.kind == .authentication)
            #expect(e.httpStatus == 401)
            #expect(e.requestID == "req_123")
            #expect(e.providerErrorType == "authentication_error")
            #expect(e.endpoint == "/v1/organizations/cost_report")
            #expect(e.description.hasPrefix("anthropic org 'acme': authentication failed (HTTP 401, request req_123"))
            #expect(e.remedy == .checkCredentials)
            #expect(!e.description.contains(anthropicTestKey))
            #expect(!String(reflecting: e).contains(anthropicTestKey))
            #expect(requests.count == 1)
        }
        #expect(clock.sleeps.isEmpty)
        for line in logs.all { #expect(!line.contains(anthropicTestKey)) }
    }

    @Test("truncated JSON is a decoding error that carries the request id")
    func truncatedJSON() async throws {
        let clock = TestClock()
        let logs = LogCapture()
        let full = page([bucket("2025-03-01", [result(amount: "1")])])
        let cut = String(full.prefix(full.utf8.count - 40))
        try await withScriptedServer([.json(200, cut, headers: [("request-id", "req_trunc")])]) { base, http, _ in
            let client = try anthropicClient(base, http, clock: clock, logs: logs)
            let recorder = SinkRecorder()
            let error = await caught { try await client.fetch(DayRange(day("2025-03-01"), day("2025-03-01")), sink: recorder.sink) }
            let e = try #require(error as? ProviderError)
            #expect(e.kind == .undecodable)
            #expect(e.requestID == "req_trunc")
            #expect(e.description.contains("request req_trunc"))
            #expect(e.description.contains("at byte"))
            #expect((e.bodyExcerpt?.count ?? 0) <= 201)
            #expect(recorder.days.isEmpty)  // nothing of a broken page is stored
        }
    }

    @Test("cancellation ends a retry wait at once with CancellationError")
    func cancellationStopsWait() async throws {
        let clock = BlockingClock()
        let logs = LogCapture()
        let limited = ServerResponse.json(429, #"{"type":"error","error":{"type":"rate_limit_error","message":"x"}}"#,
                                       headers: [("retry-after", "3600")])
        try await withScriptedServer([limited]) { base, http, _ in
            let options = TransportOptions(retry: RetryPolicy(maxAttempts: 5, maxTotal: .seconds(7200)), clock: clock,
                                           jitter: .maximum, requestTimeout: .seconds(10))
            let client = try AnthropicClient(org: "acme", adminKey: Secret(anthropicTestKey), baseURL: base,
                                             httpClient: http, logger: logs.logger, options: options)
            let task = Task { try await client.fetch(DayRange(day("2025-03-01"), day("2025-03-01")), sink: SinkRecorder().sink) }
            await clock.waitUntilSleeping()
            task.cancel()
            let result = await task.result
            #expect(throws: CancellationError.self) { try result.get() }
        }
    }

    @Test("plain http to a host off loopback is refused before any request")
    func plainHTTPRefused() async throws {
        try await ProviderHTTPClient.withHTTPClient { http in
            #expect {
                try AnthropicClient(org: "acme", adminKey: Secret(anthropicTestKey), baseURL: "http://api.anthropic.com",
                                    httpClient: http, logger: LogCapture().logger)
            } throws: { error in
                guard let e = error as? ProviderError else { return false }
                return e.kind == .configuration && e.description.contains("loopback") && !e.description.contains(anthropicTestKey)
            }
        }
    }

    @Test("the probe asks for one day, limit 1")
    func probe() async throws {
        let clock = TestClock()
        try await withScriptedServer([.json(200, page([bucket("2025-08-01", [])]))]) { base, http, requests in
            let client = try anthropicClient(base, http, clock: clock, logs: LogCapture())
            try await client.probe()
            let r = try #require(requests.all.first)
            #expect(r.queryValue("limit") == "1")
            #expect(r.queryValue("starting_at") == "2025-08-01T00:00:00Z")
            #expect(r.queryValue("ending_at") == "2025-08-02T00:00:00Z")
        }
    }
}
