import ClickHouseProvider
import CostModel
import LoopbackHTTP
import Logging
import ProviderHTTP
import Simulator
import Testing

let clickHouseKeyID = "chk_TESTKEYID_4d2e8b1c"
let clickHouseKeySecret = "4b1dTESTSECRET-never-in-logs-9c0e"
let clickHouseOrgID = "3c90c3cc-0d44-4b50-8888-8dd25736052a"

/// ClickHouse's own example response from its documentation
/// (`shared/seeds/clickhouse-usage-cost.txt`), verbatim: `costs` is a single object.
let clickHouseSeedResponse = """
    {
      "status": 200,
      "requestId": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
      "result": {
        "grandTotalCHC": 123,
        "costs": {
          "dataWarehouseId": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
          "serviceId": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
          "date": "2023-12-25",
          "entityType": "datawarehouse",
          "entityId": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
          "entityName": "<string>",
          "metrics": {
            "storageCHC": 123,
            "backupCHC": 123,
            "computeCHC": 123,
            "dataTransferCHC": 123,
            "initialLoadCHC": 123,
            "publicDataTransferCHC": 123,
            "interRegionTier1DataTransferCHC": 123,
            "interRegionTier2DataTransferCHC": 123,
            "interRegionTier3DataTransferCHC": 123,
            "interRegionTier4DataTransferCHC": 123
          },
          "totalCHC": 123,
          "locked": true
        }
      }
    }
    """

/// A record as the live API sends it (an array element), with the fields the
/// spec does not list.
func chRecord(date: String, entityType: String = "service", entityID: String = "svc-1", name: String = "prod",
              service: String? = "svc-1", metrics: String, total: String, locked: Bool = true) -> String {
    let serviceJSON = service.map { "\"\($0)\"" } ?? "null"
    return #"{"dataWarehouseId":"dw-1","serviceId":\#(serviceJSON),"date":"\#(date)","entityType":"\#(entityType)","entityId":"\#(entityID)","entityName":"\#(name)","metrics":{\#(metrics)},"totalCHC":\#(total),"locked":\#(locked),"organizationTier":"SCALE","discount":1}"#
}

func chResponse(_ records: [String], grandTotal: String, requestID: String = "7f3e2c1a-0000-4000-8000-000000000001") -> String {
    #"{"status":200,"requestId":"\#(requestID)","result":{"grandTotalCHC":\#(grandTotal),"costs":[\#(records.joined(separator: ","))]}}"#
}

func clickHouseClient(_ baseURL: String, _ http: SharedHTTPClient, clock: TestClock, logs: LogCapture,
                      registry: RateLimiterRegistry? = nil) throws -> ClickHouseClient {
    try ClickHouseClient(org: "acme-ch", organizationID: clickHouseOrgID, keyID: Secret(clickHouseKeyID),
                         keySecret: Secret(clickHouseKeySecret), baseURL: baseURL, httpClient: http,
                         logger: logs.logger, options: testOptions(clock), rateLimiters: registry)
}

@Suite("ClickHouse usage cost")
struct ClickHouseProviderTests {
    // MARK: Decoding and normalization

    @Test("the documentation's example, costs as a single object, decodes to exact credits")
    func seedExample() throws {
        let page = try ClickHouseUsageCost.decodePage(Array(clickHouseSeedResponse.utf8))
        #expect(page.requestID == "3c90c3cc-0d44-4b50-8888-8dd25736052a")
        #expect(page.grandTotal == money("123"))
        #expect(page.recordCount == 1)
        let day = try #require(page.days.first)
        #expect(day.day == Day("2023-12-25"))
        #expect(day.providerLocked == true)
        // Ten metrics of 123 each, but a total of 123: the example's numbers
        // do not add up, and the difference is kept as unattributed.
        #expect(day.lines.count == 11)
        let storage = try #require(day.lines.first)
        #expect(storage.item == "storageCHC")
        #expect(storage.amount == money("123"))
        #expect(storage.amount.nanos == 123_000_000_000)
        #expect(storage.scopeID == "3c90c3cc-0d44-4b50-8888-8dd25736052a")
        #expect(storage.scopeName == "<string>")
        #expect(storage.dimensions.entityType == "datawarehouse")
        #expect(storage.dimensions.metric == "storageCHC")
        let unattributed = try #require(day.lines.last)
        #expect(unattributed.item == "unattributedCHC")
        #expect(unattributed.amount == money("-1107"))
        #expect(try sum(day.lines) == money("123"))
    }

    @Test("records normalize to one line per non-zero metric, with exact credits and extras kept")
    func normalization() throws {
        let warehouse = chRecord(date: "2025-03-01", entityType: "datawarehouse", entityID: "dw-1", name: "main", service: nil,
                                 metrics: #""storageCHC":1.123456789012,"backupCHC":0"#, total: "1.123456789012")
        let service = chRecord(date: "2025-03-01", metrics: #""computeCHC":10.5,"storageCHC":0.25,"dataTransferCHC":0"#,
                               total: "10.75", locked: false)
        let text = chResponse([warehouse, service], grandTotal: "11.873456789012")
        let page = try ClickHouseUsageCost.decodePage(Array(text.utf8))
        let day = try #require(page.days.first)
        #expect(day.providerLocked == false)  // one record is still open
        #expect(day.lines.map(\.item) == ["storageCHC", "computeCHC", "storageCHC"])
        let first = day.lines[0]
        #expect(first.amount.text == "1.123456789012")  // twelve decimals, from the text
        #expect(first.dimensions.serviceID == nil)
        #expect(first.dimensions.dataWarehouseID == "dw-1")
        #expect(first.lineKey == LineKeyBuilder.key(canonical: "entity_type=datawarehouse;entity_id=dw-1;data_warehouse_id=dw-1;metric=storageCHC"))
        #expect(first.extras == #"{"organizationTier":"SCALE","discount":1}"#)
        #expect(day.lines[1].lineKey == LineKeyBuilder.key(canonical: "entity_type=service;entity_id=svc-1;data_warehouse_id=dw-1;service_id=svc-1;metric=computeCHC"))
        #expect(try sum(day.lines) == money("11.873456789012"))
    }

    @Test("an unknown metric key is stored as its own line")
    func unknownMetric() throws {
        let r = chRecord(date: "2025-03-01", metrics: #""computeCHC":1,"gpuComputeCHC":2.5"#, total: "3.5")
        let day = try #require(try ClickHouseUsageCost.decodePage(Array(chResponse([r], grandTotal: "3.5").utf8)).days.first)
        #expect(day.lines.map(\.item) == ["computeCHC", "gpuComputeCHC"])
        #expect(day.lines[1].amount == money("2.5"))
        #expect(day.lines[1].dimensions.metric == "gpuComputeCHC")
    }

    @Test("a totalCHC above its metrics' sum yields an unattributedCHC line for the difference")
    func unattributed() throws {
        let r = chRecord(date: "2025-03-01", metrics: #""computeCHC":1.1,"storageCHC":2.2"#, total: "3.4000000001")
        let day = try #require(try ClickHouseUsageCost.decodePage(Array(chResponse([r], grandTotal: "3.4000000001").utf8)).days.first)
        let last = try #require(day.lines.last)
        #expect(last.item == "unattributedCHC")
        #expect(last.dimensions.metric == "unattributedCHC")
        #expect(last.amount.text == "0.1000000001")
        #expect(try sum(day.lines) == money("3.4000000001"))
    }

    @Test("a grand total that the records do not add up to is reported beside them, the records kept")
    func grandTotalMismatchDecoded() throws {
        let r = chRecord(date: "2025-03-01", metrics: #""computeCHC":1"#, total: "1")
        let page = try ClickHouseUsageCost.decodePage(Array(chResponse([r], grandTotal: "1.00001").utf8))
        #expect(page.mismatch == TotalMismatch(providerTotal: money("1.00001"), recordsTotal: money("1")))
        #expect(page.days.first?.lines.count == 1)
    }

    @Test("the grand-total tolerance grows with the total and the record count, as float addition's error does", arguments: [
        ("0.30000000000000004", "0.3", 2, true),
        ("1000000.0000000002", "1000000", 3, true),       // 2e-10 on a million: float noise
        ("1000000.00001", "1000000", 3, false),            // 1e-5: a missing record
        ("0.000001", "0", 1, false),                      // nothing to be relative to: any difference is real
    ])
    func tolerance(grand: String, records: String, count: Int, agrees: Bool) {
        #expect(ClickHouseUsageCost.reconciles(grand: money(grand), records: money(records), recordCount: count) == agrees)
    }

    @Test("a grand total off only in its last digits, as float addition leaves it, does not block the org")
    func grandTotalFloatNoise() throws {
        let a = chRecord(date: "2025-03-01", metrics: #""computeCHC":0.1"#, total: "0.1")
        let b = chRecord(date: "2025-03-01", entityID: "svc-2", service: "svc-2", metrics: #""computeCHC":0.2"#, total: "0.2")
        // 0.1 + 0.2 in binary floating point.
        let page = try ClickHouseUsageCost.decodePage(Array(chResponse([a, b], grandTotal: "0.30000000000000004").utf8))
        #expect(page.recordsTotal == money("0.3"))
        #expect(try sum(page.days[0].lines) == money("0.3"))
    }

    @Test("an empty costs array with an integer grand total of 0 is a valid empty answer")
    func emptyCosts() throws {
        let page = try ClickHouseUsageCost.decodePage(Array(chResponse([], grandTotal: "0").utf8))
        #expect(page.days.isEmpty)
        #expect(page.recordCount == 0)
    }

    // MARK: Over HTTP

    @Test("a 32-day range is fetched in two requests, and every day of each window is handed over")
    func windows() async throws {
        let clock = TestClock()
        let logs = LogCapture()
        let first = chResponse([chRecord(date: "2025-01-05", metrics: #""computeCHC":2"#, total: "2")], grandTotal: "2")
        let second = chResponse([chRecord(date: "2025-02-01", metrics: #""computeCHC":3"#, total: "3", locked: false)], grandTotal: "3")
        let recorder = SinkRecorder()
        try await withScriptedServer([.json(200, first), .json(200, second)]) { base, http, requests in
            let client = try clickHouseClient(base, http, clock: clock, logs: logs)
            try await client.fetch(DayRange(day("2025-01-01"), day("2025-02-01")), sink: recorder.sink)
            let sent = requests.all
            #expect(sent.count == 2)
            #expect(sent.map(\.path) == Array(repeating: "/v1/organizations/\(clickHouseOrgID)/usageCost", count: 2))
            #expect(sent.map { $0.queryValue("from_date") } == ["2025-01-01", "2025-02-01"])
            #expect(sent.map { $0.queryValue("to_date") } == ["2025-01-31", "2025-02-01"])
            let auth = try #require(sent[0].header("authorization"))
            #expect(auth == "Basic " + basic(clickHouseKeyID, clickHouseKeySecret))
            #expect(sent[0].header("user-agent") == "costsync/\(costsyncVersion)")
        }
        #expect(recorder.pages.map(\.count) == [31, 1])
        let days = recorder.days
        #expect(days.count == 32)
        let jan5 = try #require(days.first { $0.day == day("2025-01-05") })
        #expect(jan5.providerLocked == true)
        #expect(jan5.lines.map(\.amount) == [money("2")])
        let jan6 = try #require(days.first { $0.day == day("2025-01-06") })
        #expect(jan6.lines.isEmpty)
        #expect(jan6.providerLocked == nil)  // no records: the settle rule decides
        #expect(days.last?.providerLocked == false)
    }

    @Test("costs sent as a single object are read like an array of one")
    func singleObjectOverHTTP() async throws {
        let clock = TestClock()
        let recorder = SinkRecorder()
        try await withScriptedServer([.json(200, clickHouseSeedResponse)]) { base, http, _ in
            let client = try clickHouseClient(base, http, clock: clock, logs: LogCapture())
            try await client.fetch(DayRange(day("2023-12-25"), day("2023-12-25")), sink: recorder.sink)
        }
        #expect(recorder.days.count == 1)
        #expect(recorder.days.first?.lines.count == 11)
    }

    @Test("a grand total mismatch over HTTP hands the records over, flagged with both figures and the request id")
    func grandTotalMismatch() async throws {
        let clock = TestClock()
        let logs = LogCapture()
        let body = chResponse([chRecord(date: "2025-03-01", metrics: #""computeCHC":1"#, total: "1")], grandTotal: "2",
                              requestID: "req-mismatch-1")
        let recorder = SinkRecorder()
        try await withScriptedServer([.json(200, body)]) { base, http, _ in
            let client = try clickHouseClient(base, http, clock: clock, logs: logs)
            try await client.fetch(DayRange(day("2025-03-01"), day("2025-03-01")), sink: recorder.sink)
        }
        let d = try #require(recorder.days.first)
        #expect(d.lines.count == 1)
        #expect(d.mismatch == TotalMismatch(providerTotal: money("2"), recordsTotal: money("1")))
        #expect(d.requestID == "req-mismatch-1")
        #expect(logs.all.contains { $0.contains("grandTotalCHC disagrees") && $0.contains("request.id=req-mismatch-1") })
    }

    @Test("truncated JSON is a decoding error with the body's request id")
    func truncated() async throws {
        let clock = TestClock()
        let full = chResponse([chRecord(date: "2025-03-01", metrics: #""computeCHC":1"#, total: "1")], grandTotal: "1",
                              requestID: "req-trunc-ch")
        let cut = String(full.prefix(full.utf8.count / 2))
        try await withScriptedServer([.json(200, cut)]) { base, http, _ in
            let client = try clickHouseClient(base, http, clock: clock, logs: LogCapture())
            let error = await caught { try await client.fetch(DayRange(day("2025-03-01"), day("2025-03-01")), sink: SinkRecorder().sink) }
            let e = try #require(error as? ProviderError)
            #expect(e.kind == .undecodable)
            #expect(e.requestID == "req-trunc-ch")
        }
    }

    @Test("a 401 names the org and says to check the credentials, never the key id or secret")
    func unauthorized() async throws {
        let clock = TestClock()
        let logs = LogCapture()
        let body = #"{"status":401,"requestId":"req-401-ch","error":"UNAUTHORIZED: bad credentials for \#(clickHouseKeyID):\#(clickHouseKeySecret)"}"#
        try await withScriptedServer([.json(401, body)]) { base, http, requests in
            let client = try clickHouseClient(base, http, clock: clock, logs: logs)
            let error = await caught { try await client.fetch(DayRange(day("2025-03-01"), day("2025-03-01")), sink: SinkRecorder().sink) }
            let e = try #require(error as? ProviderError)
            #expect(e.kind == .authentication)
            #expect(e.providerErrorType == "UNAUTHORIZED")
            #expect(e.requestID == "req-401-ch")
            #expect(e.description.hasPrefix("clickhouse org 'acme-ch': authentication failed (HTTP 401, request req-401-ch"))
            #expect(e.remedy == .checkCredentials)
            #expect(!e.description.contains(clickHouseKeySecret))
            #expect(!e.description.contains(clickHouseKeyID))
            #expect(requests.count == 1)
        }
        for line in logs.all {
            #expect(!line.contains(clickHouseKeySecret))
            #expect(!line.contains(basic(clickHouseKeyID, clickHouseKeySecret)))
        }
    }

    @Test("a 503 then success is retried and paced through the key's limiter")
    func retried() async throws {
        let clock = TestClock()
        let logs = LogCapture()
        let ok = chResponse([], grandTotal: "0")
        try await withScriptedServer([.json(503, #"{"status":503,"requestId":"r","error":"SERVICE_UNAVAILABLE: try later"}"#), .json(200, ok)]) { base, http, requests in
            let client = try clickHouseClient(base, http, clock: clock, logs: logs)
            try await client.fetch(DayRange(day("2025-03-01"), day("2025-03-01")), sink: SinkRecorder().sink)
            #expect(requests.count == 2)
        }
        #expect(clock.sleeps == [.seconds(1)])
        for line in logs.all { #expect(!line.contains(clickHouseKeySecret)) }
    }

    @Test("the probe asks for one day")
    func probe() async throws {
        let clock = TestClock()
        try await withScriptedServer([.json(200, chResponse([], grandTotal: "0"))]) { base, http, requests in
            try await clickHouseClient(base, http, clock: clock, logs: LogCapture()).probe()
            let r = try #require(requests.all.first)
            #expect(r.queryValue("from_date") == "2025-08-01")
            #expect(r.queryValue("to_date") == "2025-08-01")
        }
    }
}

func sum(_ lines: [CostLine]) throws -> Money {
    try lines.reduce(Money.zero) { try $0 + $1.amount }
}

/// Base64 of `user:password`, written out here independently of the code under test.
func basic(_ user: String, _ password: String) -> String {
    let table = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    let bytes = Array("\(user):\(password)".utf8)
    var out = ""
    var i = 0
    while i < bytes.count {
        let chunk = Array(bytes[i..<min(i + 3, bytes.count)])
        let v = chunk.enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (16 - 8 * UInt32($1.offset)) }
        for k in 0..<4 {
            out.append(k <= chunk.count ? table[Int(v >> (18 - 6 * UInt32(k)) & 63)] : "=")
        }
        i += 3
    }
    return out
}
