import CostModel
import JSONScanner
import ProviderHTTP

/// One decoded response of `GET /v1/organizations/{id}/usageCost`.
public struct ClickHousePage: Sendable, Hashable {
    /// The envelope's `requestId`.
    public var requestID: String?
    /// `result.grandTotalCHC`, exact; nil when absent.
    public var grandTotal: Money?
    /// The sum of every record's `totalCHC`.
    public var recordsTotal: Money
    public var recordCount: Int
    /// One per day that has records, ascending; `providerLocked` is true when
    /// every record of the day is `locked`. Days without records are not here:
    /// the client adds them for the requested window.
    public var days: [DayCosts]

    /// The two figures, when `grandTotalCHC` disagrees with the records beyond
    /// what float addition explains.
    public var mismatch: TotalMismatch? {
        guard let grandTotal, !ClickHouseUsageCost.reconciles(grand: grandTotal, records: recordsTotal, recordCount: recordCount)
        else { return nil }
        return TotalMismatch(providerTotal: grandTotal, recordsTotal: recordsTotal)
    }

    public init(requestID: String?, grandTotal: Money?, recordsTotal: Money, recordCount: Int, days: [DayCosts]) {
        self.requestID = requestID
        self.grandTotal = grandTotal
        self.recordsTotal = recordsTotal
        self.recordCount = recordCount
        self.days = days
    }
}

/// The pure decoding and normalization of ClickHouse's usage cost, apart from
/// any HTTP, for tests and the benchmark.
public enum ClickHouseUsageCost {
    /// The item (and `metric`) of the line that carries what a record's
    /// `totalCHC` holds beyond the sum of its metrics.
    public static let unattributedMetric = "unattributedCHC"

    /// Whether `grandTotalCHC` agrees with the exact sum of the records.
    ///
    /// ClickHouse may add its total up in binary floating point: a sum of
    /// `n` doubles is off by at most about `n × 2⁻⁵³` of the magnitude, and
    /// printing it adds one more rounding. The tolerance is therefore
    /// `(n + 1) × 2.3 × 10⁻¹⁶ × max(|grand|, |records|)`, computed exactly;
    /// beyond it records are missing or extra.
    public static func reconciles(grand: Money, records: Money, recordCount: Int) -> Bool {
        guard grand != records else { return true }
        guard let diff = try? grand - records else { return false }
        func abs(_ m: Money) -> Money { m < .zero ? -m : m }
        let magnitude = max(abs(grand), abs(records))
        let (scaled, overflow) = magnitude.significand.multipliedReportingOverflow(by: Int128(recordCount + 1) * 23)
        guard !overflow, let tolerance = try? Money(significand: scaled, scale: magnitude.scale + 17) else { return false }
        return !(tolerance < abs(diff))
    }

    /// Decodes a response body into normalized days.
    ///
    /// One line per record per non-zero metric (any key of `metrics`, known or
    /// not: `item` is the key), plus an `unattributedCHC` line for the
    /// difference when `totalCHC` ≠ the sum of the metrics, so a record's
    /// lines always sum to its `totalCHC` exactly. Amounts are ClickHouse
    /// credits parsed from the JSON number's text (never through `Double`).
    /// When the records' `totalCHC` do not sum to `grandTotalCHC` (within
    /// `reconciles`), the page says so in `mismatch`: the records are the
    /// data and are kept, their days stay non-final.
    public static func decodePage(_ bytes: UnsafeBufferPointer<UInt8>) throws(PageDecodingError) -> ClickHousePage {
        var decoder = UsageDecoder(bytes)
        let page: ClickHousePage
        do {
            page = try decoder.page()
        } catch {
            throw PageDecodingError(.malformed, error.description, offset: error.offset, requestID: decoder.requestID)
        }
        return page
    }

    public static func decodePage(_ bytes: [UInt8]) throws(PageDecodingError) -> ClickHousePage {
        try PageDecodingError.decoding(bytes) { buffer throws(PageDecodingError) in try decodePage(buffer) }
    }

    /// Reads `{"status":401,"requestId":"...","error":"UNAUTHORIZED: No Authorization header provided."}`:
    /// the part before `": "` (when it looks like a code) is the type.
    public static func parseErrorBody(_ bytes: UnsafeBufferPointer<UInt8>) -> ProviderErrorBody? {
        var s = JSONScanner(bytes)
        var body = ProviderErrorBody()
        var sawField = false
        do {
            guard try s.peekKind() == .object else { return nil }
            try s.beginObject()
            while let key = try s.nextKey() {
                if key == "requestId", try s.peekKind() == .string {
                    body.requestID = try s.readString()
                    sawField = true
                } else if key == "status", try s.peekKind() == .number {
                    body.status = Int(String(decoding: try s.readNumberText(), as: UTF8.self))
                } else if key == "error", try s.peekKind() == .string {
                    let text = try s.readString()
                    sawField = true
                    if let sep = text.firstRange(of: ": "),
                       !text[..<sep.lowerBound].isEmpty,
                       text[..<sep.lowerBound].utf8.allSatisfy({ $0 == UInt8(ascii: "_") || ($0 &- 65) < 26 || ($0 &- 48) < 10 }) {
                        body.type = String(text[..<sep.lowerBound])
                        body.message = String(text[sep.upperBound...])
                    } else {
                        body.message = text
                    }
                } else {
                    try s.skipValue()
                }
            }
        } catch {
            // A half-readable error body still gives what was read before the
            // damage; the HTTP status carries the rest.
        }
        return sawField ? body : nil
    }
}

/// One record's lines are built here; the day's lines are keyed for summing.
struct UsageDecoder {
    var s: JSONScanner
    var strings = JSONStringInterner()
    var requestID: String?

    private struct DayAccumulator {
        var lines = DayLines()
        var allLocked = true
    }

    private var byDay: [Day: DayAccumulator] = [:]
    private var recordsTotal = Money.zero
    private var recordCount = 0
    private var extras: [UInt8] = []
    private var metrics: [(name: String, amount: Money)] = []

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        s = JSONScanner(bytes)
    }

    mutating func page() throws(JSONError) -> ClickHousePage {
        var grandTotal: Money?
        var sawResult = false
        try s.beginObject()
        while let key = try s.nextKey() {
            if key == "requestId" {
                requestID = try s.readStringOrNull()
            } else if key == "result" {
                sawResult = true
                try s.beginObject()
                while let inner = try s.nextKey() {
                    if inner == "grandTotalCHC" {
                        grandTotal = try s.consumeNull() ? nil : try credits("grandTotalCHC")
                    } else if inner == "costs" {
                        // The API returns an array of records (ClickHouse/clickhousectl
                        // #27); its own documentation page shows a single object. Both are read.
                        switch try s.peekKind() {
                        case .array:
                            try s.beginArray()
                            while try s.nextElement() { try record() }
                        case .object:
                            try record()
                        case .null:
                            _ = try s.consumeNull()
                        default:
                            throw s.error(.unexpectedValue("costs is neither an array nor an object"))
                        }
                    } else {
                        try s.skipValue()
                    }
                }
            } else {
                try s.skipValue()
            }
        }
        try s.expectEnd()
        guard sawResult else { throw s.error(.unexpectedValue("no \"result\" in the usage cost response")) }
        let days = byDay.keys.sorted().map { day in
            let acc = byDay[day]!
            return DayCosts(day: day, lines: acc.lines.lines, providerLocked: acc.allLocked)
        }
        return ClickHousePage(requestID: requestID, grandTotal: grandTotal, recordsTotal: recordsTotal,
                              recordCount: recordCount, days: days)
    }

    private mutating func record() throws(JSONError) {
        let start = s.position
        var d = Dimensions()
        var date: Day?
        var total: Money?
        var locked = false
        extras.removeAll(keepingCapacity: true)
        metrics.removeAll(keepingCapacity: true)
        try s.beginObject()
        while let key = try s.nextKey() {
            if key == "date" {
                let at = s.position
                let text = try s.readString()
                // `YYYY-MM-DD`; a timestamp's date part is tolerated.
                let datePart = text.utf8.count > 10 ? String(decoding: text.utf8.prefix(10), as: UTF8.self) : text
                guard let day = Day(datePart) else {
                    throw s.error(.unexpectedValue("date '\(text)' is not YYYY-MM-DD"), at: at)
                }
                date = day
            } else if key == "entityType" {
                d.entityType = try dimension()
            } else if key == "entityId" {
                d.entityID = try dimension()
            } else if key == "entityName" {
                d.entityName = try dimension()
            } else if key == "serviceId" {
                d.serviceID = try dimension()
            } else if key == "dataWarehouseId" {
                d.dataWarehouseID = try dimension()
            } else if key == "metrics" {
                if try s.consumeNull() { continue }
                try s.beginObject()
                while let metric = try s.nextKey() {
                    let name = strings.string(metric)
                    // `metrics` holds only the keys that apply to the entity
                    // (absent = 0); a null is read the same way.
                    if try s.consumeNull() { continue }
                    metrics.append((name, try credits(name)))
                }
            } else if key == "totalCHC" {
                total = try credits("totalCHC")
            } else if key == "locked" {
                // Missing or null: not known to be locked, so the day is not final.
                locked = try s.consumeNull() ? false : try s.readBool()
            } else {
                // `organizationTier`, `discount`, ...: kept, never fatal.
                if !extras.isEmpty { extras.append(UInt8(ascii: ",")) }
                extras.append(UInt8(ascii: "\""))
                extras.append(contentsOf: metric(key))
                extras.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
                let range = try s.skipValue()
                extras.append(contentsOf: UnsafeBufferPointer(rebasing: s.bytes[range]))
            }
        }
        guard let date else { throw s.error(.unexpectedValue("a record without date"), at: start) }
        guard let total else { throw s.error(.unexpectedValue("a record without totalCHC"), at: start) }
        recordCount += 1
        recordsTotal = try add(recordsTotal, total)

        let extrasText = extras.isEmpty ? nil : String(decoding: [UInt8(ascii: "{")] + extras + [UInt8(ascii: "}")], as: UTF8.self)
        let scopeID = d.entityID ?? d.dataWarehouseID ?? "-"
        var acc = byDay.removeValue(forKey: date) ?? DayAccumulator()
        // Each record is a part of its day: a second record of one entity
        // would repeat its lines, and is refused rather than added.
        acc.lines.beginPart()
        acc.allLocked = acc.allLocked && locked
        var attributed = Money.zero
        for (name, amount) in metrics {
            attributed = try add(attributed, amount)
            guard amount != .zero else { continue }
            try append(&acc, metric: name, amount: amount, dims: d, scopeID: scopeID, extras: extrasText)
        }
        let unattributed = try subtract(total, attributed)
        if unattributed != .zero {
            try append(&acc, metric: ClickHouseUsageCost.unattributedMetric, amount: unattributed, dims: d,
                       scopeID: scopeID, extras: extrasText)
        }
        byDay[date] = acc
    }

    private mutating func append(_ acc: inout DayAccumulator, metric: String, amount: Money, dims: Dimensions,
                                 scopeID: String, extras: String?) throws(JSONError) {
        var d = dims
        d.metric = metric
        var key = LineKeyBuilder()
        key.add("entity_type", d.entityType)
        key.add("entity_id", d.entityID)
        key.add("data_warehouse_id", d.dataWarehouseID)
        key.add("service_id", d.serviceID)
        key.add("metric", metric)
        let lineKey = key.build
        let line = CostLine(lineKey: lineKey, scopeID: scopeID, scopeName: d.entityName, item: metric,
                            amount: amount, dimensions: d, extras: extras)
        do { try acc.lines.add(line) } catch { throw s.error(.unexpectedValue(error.description)) }
    }

    private func metric(_ key: JSONKey) -> UnsafeBufferPointer<UInt8> { key.bytes }

    /// A ClickHouse credit amount: a JSON number read from its text (a numeric
    /// string is tolerated).
    private mutating func credits(_ field: String) throws(JSONError) -> Money {
        let at = s.position
        let kind = try s.peekKind()
        do {
            switch kind {
            case .number:
                return try Money.parse(utf8: try s.readNumberText())
            case .string:
                return try Money.parse(try s.readString())
            default:
                throw s.error(.unexpectedValue("\(field) is not a number"), at: at)
            }
        } catch let error as MoneyError {
            throw s.error(.unexpectedValue("\(field): \(error)"), at: at)
        } catch let error as JSONError {
            throw error
        } catch {
            // Only MoneyError and JSONError are thrown above.
            throw s.error(.unexpectedValue("\(field): \(error)"), at: at)
        }
    }

    private mutating func dimension() throws(JSONError) -> String? {
        switch try s.peekKind() {
        case .null:
            _ = try s.consumeNull()
            return nil
        case .string:
            return strings.string(try s.readStringRaw())
        default:
            // A type change upstream (an id sent as a number) is kept as its JSON text.
            return s.text(of: try s.skipValue())
        }
    }

    private func add(_ a: Money, _ b: Money) throws(JSONError) -> Money {
        do { return try a + b } catch { throw s.error(.unexpectedValue("credits overflow: \(error)")) }
    }

    private func subtract(_ a: Money, _ b: Money) throws(JSONError) -> Money {
        do { return try a - b } catch { throw s.error(.unexpectedValue("credits overflow: \(error)")) }
    }
}
