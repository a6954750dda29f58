import CostModel
import JSONScanner
import ProviderHTTP

/// One decoded page of `GET /v1/organizations/cost_report`.
public struct AnthropicPage: Sendable, Hashable {
    /// One per daily bucket, in the order sent; a bucket with `"results": []`
    /// is a day with zero lines (fetched, not a gap).
    public var days: [DayCosts]
    public var hasMore: Bool
    /// The opaque token for the next request's `page` parameter.
    public var nextPage: String?

    public init(days: [DayCosts], hasMore: Bool, nextPage: String?) {
        self.days = days
        self.hasMore = hasMore
        self.nextPage = nextPage
    }
}

/// The pure decoding and normalization of Anthropic's cost report, apart from
/// any HTTP, so tests and the benchmark can run it on recorded bytes.
public enum AnthropicCostReport {
    /// Decodes a page body into normalized days.
    ///
    /// Per result: `amount` is a decimal string in **cents** ("All costs in
    /// USD, reported as decimal strings in lowest units (cents)"; Anthropic's
    /// own example "41280.000000" is $412.80), so the decimal point moves two
    /// places left — a change of scale, exact. `scopeID` is the `workspace_id`,
    /// or `default` for the default workspace (which the API reports as null).
    /// Every dimension is kept; values costsync does not know (a new
    /// `cost_type`) are stored as they are; unknown fields go to `extras`.
    /// Two results of one day with the same line key are summed, never dropped.
    public static func decodePage(_ bytes: UnsafeBufferPointer<UInt8>) throws(PageDecodingError) -> AnthropicPage {
        var decoder = PageDecoder(bytes)
        do {
            return try decoder.page()
        } catch {
            throw PageDecodingError(.malformed, error.description, offset: error.offset)
        }
    }

    public static func decodePage(_ bytes: [UInt8]) throws(PageDecodingError) -> AnthropicPage {
        try PageDecodingError.decoding(bytes) { buffer throws(PageDecodingError) in try decodePage(buffer) }
    }

    /// Reads `{"type":"error","error":{"type":"...","message":"..."},"request_id":"..."}`.
    /// Any shape is tolerated: what is not found stays nil.
    public static func parseErrorBody(_ bytes: UnsafeBufferPointer<UInt8>) -> ProviderErrorBody? {
        var s = JSONScanner(bytes)
        var body = ProviderErrorBody()
        var sawField = false
        do {
            guard try s.peekKind() == .object else { return nil }
            try s.beginObject()
            while let key = try s.nextKey() {
                if key == "error", try s.peekKind() == .object {
                    try s.beginObject()
                    while let inner = try s.nextKey() {
                        if inner == "type", try s.peekKind() == .string {
                            body.type = try s.readString()
                            sawField = true
                        } else if inner == "message", try s.peekKind() == .string {
                            body.message = try s.readString()
                            sawField = true
                        } else {
                            try s.skipValue()
                        }
                    }
                } else if key == "error", try s.peekKind() == .string {
                    body.message = try s.readString()
                    sawField = true
                } else if key == "request_id", try s.peekKind() == .string {
                    body.requestID = try s.readString()
                    sawField = true
                } else {
                    try s.skipValue()
                }
            }
        } catch {
            // A half-readable error body (truncated by a proxy?) still gives
            // what was read before the damage; the status carries the rest.
        }
        return sawField ? body : nil
    }
}

/// The state of one page decode: the scanner, the string table, and buffers
/// reused from one result to the next so that a result allocates nothing but
/// the strings and the line itself.
struct PageDecoder {
    var s: JSONScanner
    var strings = JSONStringInterner()
    /// `"name":value` pairs of unknown fields of the current result, as JSON.
    var extras: [UInt8] = []
    /// Unknown string fields of the current result, for the line key.
    var unknownStrings: [(name: String, value: String)] = []
    /// Line keys already built, by the interned ids of their dimension
    /// values: the same combination recurs every day of a page, and building
    /// a key is the costliest step of a line.
    var lineKeys: [DimensionIDs: String] = [:]

    /// One interned id per dimension (-2 for null/absent, -1 when a value
    /// was not interned, which disables the cache for that line).
    struct DimensionIDs: Hashable {
        var workspace: Int32 = -2, description: Int32 = -2, costType: Int32 = -2, model: Int32 = -2
        var tokenType: Int32 = -2, contextWindow: Int32 = -2, serviceTier: Int32 = -2, inferenceGeo: Int32 = -2

        var cacheable: Bool {
            workspace != -1 && description != -1 && costType != -1 && model != -1 && tokenType != -1
                && contextWindow != -1 && serviceTier != -1 && inferenceGeo != -1
        }
    }

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        s = JSONScanner(bytes)
    }

    mutating func page() throws(JSONError) -> AnthropicPage {
        var days: [DayCosts] = []
        var dayIndex: [Day: Int] = [:]
        var hasMore = false
        var nextPage: String?
        var sawData = false
        try s.beginObject()
        while let key = try s.nextKey() {
            if key == "data" {
                sawData = true
                try s.beginArray()
                while try s.nextElement() {
                    let bucket = try self.bucket()
                    // A day sent in two buckets is merged (never overwritten),
                    // and refused if the two repeat a line.
                    if let i = dayIndex[bucket.day] {
                        days[i].lines = try merge(days[i].lines, bucket.lines)
                    } else {
                        dayIndex[bucket.day] = days.count
                        days.append(bucket)
                    }
                }
            } else if key == "has_more" {
                hasMore = try s.consumeNull() ? false : try s.readBool()
            } else if key == "next_page" {
                nextPage = try s.readStringOrNull()
            } else {
                try s.skipValue()
            }
        }
        try s.expectEnd()
        guard sawData else { throw s.error(.unexpectedValue("no \"data\" array in the cost report")) }
        return AnthropicPage(days: days, hasMore: hasMore, nextPage: nextPage)
    }

    mutating func bucket() throws(JSONError) -> DayCosts {
        let start = s.position
        var day: Day?
        var lines = DayLines()
        try s.beginObject()
        while let key = try s.nextKey() {
            if key == "starting_at" {
                let at = s.position
                let text = try s.readString()
                // Buckets snap to the start of a UTC day; the day is the date of `starting_at`.
                guard let stamp = Timestamp(rfc3339: text) else {
                    throw s.error(.unexpectedValue("starting_at '\(text)' is not an RFC 3339 time"), at: at)
                }
                day = stamp.day
            } else if key == "results" {
                try s.beginArray()
                while try s.nextElement() {
                    let line = try result()
                    do { try lines.add(line) } catch { throw s.error(.unexpectedValue(error.description)) }
                }
            } else {
                try s.skipValue()
            }
        }
        guard let day else { throw s.error(.unexpectedValue("a bucket without starting_at"), at: start) }
        return DayCosts(day: day, lines: lines.lines, providerLocked: nil)
    }

    mutating func result() throws(JSONError) -> CostLine {
        let start = s.position
        var amount: Money?
        var d = Dimensions()
        extras.removeAll(keepingCapacity: true)
        unknownStrings.removeAll(keepingCapacity: true)
        var ids = DimensionIDs()
        try s.beginObject()
        while let key = try s.nextKey() {
            switch key.bytes.count {
            case 5 where key == "model": d.model = try dimension(&ids.model)
            case 6 where key == "amount": amount = try cents()
            case 8 where key == "currency":
                let at = s.position
                let currency = try s.readStringOrNull()
                // costsync stores Anthropic amounts as USD; anything else would be mislabelled money.
                guard currency == nil || currency == "USD" else {
                    throw s.error(.unexpectedValue("currency '\(currency ?? "")' is not USD"), at: at)
                }
            case 9 where key == "cost_type": d.costType = try dimension(&ids.costType)
            case 10 where key == "token_type": d.tokenType = try dimension(&ids.tokenType)
            case 11 where key == "description": d.description = try dimension(&ids.description)
            case 12 where key == "workspace_id": d.workspaceID = try dimension(&ids.workspace)
            case 12 where key == "service_tier": d.serviceTier = try dimension(&ids.serviceTier)
            case 13 where key == "inference_geo": d.inferenceGeo = try dimension(&ids.inferenceGeo)
            case 14 where key == "context_window": d.contextWindow = try dimension(&ids.contextWindow)
            default: try unknownField(key)
            }
        }
        guard let amount else { throw s.error(.unexpectedValue("a result without amount"), at: start) }

        let lineKey: String
        if unknownStrings.isEmpty, ids.cacheable, let cached = lineKeys[ids] {
            lineKey = cached
        } else {
            lineKey = buildLineKey(d)
            // Bounded: a page with ever-new combinations builds keys as before.
            if unknownStrings.isEmpty, ids.cacheable, lineKeys.count < 100_000 { lineKeys[ids] = lineKey }
        }

        return CostLine(
            lineKey: lineKey,
            scopeID: d.workspaceID ?? "default",
            item: d.description ?? d.costType ?? "-",
            amount: amount,
            dimensions: d,
            extras: extras.isEmpty ? nil : String(decoding: [UInt8(ascii: "{")] + extras + [UInt8(ascii: "}")], as: UTF8.self)
        )
    }

    /// The line key from every dimension, in a fixed order.
    mutating func buildLineKey(_ d: Dimensions) -> String {
        var keyBuilder = LineKeyBuilder()
        // A null field is left out of the key (LineKeyBuilder skips nil), so
        // the default workspace's lines carry no workspace_id part; no real
        // workspace can produce that key.
        keyBuilder.add("workspace_id", d.workspaceID)
        keyBuilder.add("description", d.description)
        keyBuilder.add("cost_type", d.costType)
        keyBuilder.add("model", d.model)
        keyBuilder.add("token_type", d.tokenType)
        keyBuilder.add("context_window", d.contextWindow)
        keyBuilder.add("service_tier", d.serviceTier)
        keyBuilder.add("inference_geo", d.inferenceGeo)
        // A dimension Anthropic adds tomorrow must not collapse two of
        // today's lines into one key: unknown string fields join the key,
        // sorted so the key does not depend on the field order.
        if unknownStrings.count > 1 { unknownStrings.sort { $0.name < $1.name } }
        for field in unknownStrings { keyBuilder.add(field.name, field.value) }

        return keyBuilder.build
    }

    /// A dimension: a string (shared via the interner), nil for null or
    /// absent; any other JSON value is kept as its JSON text rather than
    /// failing the page (the field's type changed upstream).
    mutating func dimension(_ id: inout Int32) throws(JSONError) -> String? {
        switch try s.peekKind() {
        case .null:
            _ = try s.consumeNull()
            id = -2
            return nil
        case .string:
            let interned = strings.intern(try s.readStringRaw())
            id = interned.id
            return interned.string
        default:
            id = -1
            return s.text(of: try s.skipValue())
        }
    }

    /// `amount`: a decimal string in cents (a bare JSON number is tolerated).
    mutating func cents() throws(JSONError) -> Money {
        let at = s.position
        let kind = try s.peekKind()
        do {
            switch kind {
            case .string:
                let raw = try s.readStringRaw()
                if raw.hasEscapes {
                    return try Money.parse(raw.string, decimalShift: 2)
                }
                return try Money.parse(utf8: raw.bytes, decimalShift: 2)
            case .number:
                return try Money.parse(utf8: try s.readNumberText(), decimalShift: 2)
            default:
                throw s.error(.unexpectedValue("amount is not a decimal string"), at: at)
            }
        } catch let error as MoneyError {
            throw s.error(.unexpectedValue("amount: \(error)"), at: at)
        } catch let error as JSONError {
            throw error
        } catch {
            // Only MoneyError and JSONError are thrown above.
            throw s.error(.unexpectedValue("amount: \(error)"), at: at)
        }
    }

    /// An unknown field: kept verbatim in `extras`, and in the line key when
    /// it is a string.
    mutating func unknownField(_ key: JSONKey) throws(JSONError) {
        if !extras.isEmpty { extras.append(UInt8(ascii: ",")) }
        // The key's raw bytes are still valid JSON string content (escapes included).
        extras.append(UInt8(ascii: "\""))
        extras.append(contentsOf: key.bytes)
        extras.append(UInt8(ascii: "\""))
        extras.append(UInt8(ascii: ":"))
        if try s.peekKind() == .string {
            let raw = try s.readStringRaw()
            extras.append(UInt8(ascii: "\""))
            extras.append(contentsOf: raw.bytes)
            extras.append(UInt8(ascii: "\""))
            unknownStrings.append((strings.string(key), strings.string(raw)))
        } else {
            let range = try s.skipValue()
            extras.append(contentsOf: UnsafeBufferPointer(rebasing: s.bytes[range]))
        }
    }

    /// The two buckets of one day on one page.
    func merge(_ a: [CostLine], _ b: [CostLine]) throws(JSONError) -> [CostLine] {
        do {
            var lines = try DayLines(a)
            try lines.merge(b)
            return lines.lines
        } catch {
            throw s.error(.unexpectedValue(error.description))
        }
    }
}
