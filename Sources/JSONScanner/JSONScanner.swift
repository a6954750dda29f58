/// A pull parser over the UTF-8 bytes of one JSON text.
///
/// Why not `JSONDecoder`/`JSONSerialization`: both turn every number into a
/// `Double` (money must stay exact), and both build a tree of the whole
/// document first; a 31-day Anthropic page of 2,000 lines a day is ~25 MB of
/// JSON and the daemon must stay under 100 MB RSS. This scanner instead walks
/// the bytes once, in place, and hands out:
/// - object keys as raw byte slices, compared against the keys the caller knows;
/// - strings as `String` (every escape decoded, `\uXXXX` surrogate pairs joined);
/// - numbers as their raw text (validated against the JSON grammar) for
///   `Money.parse(utf8:decimalShift:)`;
/// - any other value skipped (and validated) as a byte range, so unknown fields
///   can be kept verbatim as JSON text.
///
/// The scanner borrows the buffer: it must not outlive the
/// `withUnsafeBufferPointer` (or similar) scope that produced it. It allocates
/// nothing except the `String`s it is asked for.
///
/// Every error carries the byte offset where the input stopped making sense.
public struct JSONScanner {
    public let bytes: UnsafeBufferPointer<UInt8>
    /// The offset of the next byte to read.
    public private(set) var position: Int

    /// Containers nested deeper than this are refused, so a hostile body cannot
    /// exhaust the stack of the (recursive) `skipValue`.
    public static let maxDepth = 512

    public init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
        self.position = 0
        // A UTF-8 byte order mark is not JSON, but some servers send one;
        // skipping it costs nothing and hurts nobody.
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { position = 3 }
    }

    // MARK: - Looking ahead

    /// The kind of the next value, after skipping whitespace; the value itself
    /// is not consumed.
    public mutating func peekKind() throws(JSONError) -> JSONValueKind {
        skipWhitespace()
        guard position < bytes.count else { throw error(.unexpectedEnd) }
        switch bytes[position] {
        case UInt8(ascii: "{"): return .object
        case UInt8(ascii: "["): return .array
        case UInt8(ascii: "\""): return .string
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return .bool
        case UInt8(ascii: "n"): return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number
        default: throw error(.unexpectedByte(bytes[position]))
        }
    }

    /// True (and the `null` consumed) when the next value is `null`; false,
    /// consuming nothing, for anything else.
    public mutating func consumeNull() throws(JSONError) -> Bool {
        skipWhitespace()
        guard position < bytes.count else { throw error(.unexpectedEnd) }
        guard bytes[position] == UInt8(ascii: "n") else { return false }
        try expectLiteral("null")
        return true
    }

    // MARK: - Containers

    /// Consumes the `{` that opens an object; follow with `nextKey()`.
    public mutating func beginObject() throws(JSONError) {
        try expectByte(UInt8(ascii: "{"), .expectedObject)
        containerStarted = true
    }

    /// The next key of the current object (its `:` consumed, the value next),
    /// or nil when the object's `}` was reached (and consumed).
    ///
    /// Must only be called right after `beginObject()` or after the previous
    /// key's value was read or skipped.
    public mutating func nextKey() throws(JSONError) -> JSONKey? {
        skipWhitespace()
        guard position < bytes.count else { throw error(.unexpectedEnd) }
        if bytes[position] == UInt8(ascii: "}") {
            position += 1
            containerStarted = false
            return nil
        }
        if containerStarted {
            containerStarted = false
        } else {
            guard bytes[position] == UInt8(ascii: ",") else { throw error(.expectedCommaOrEnd) }
            position += 1
            skipWhitespace()
        }
        guard position < bytes.count else { throw error(.unexpectedEnd) }
        guard bytes[position] == UInt8(ascii: "\"") else { throw error(.expectedKey) }
        let raw = try scanStringRaw()
        skipWhitespace()
        try expectByte(UInt8(ascii: ":"), .expectedColon)
        return JSONKey(bytes: UnsafeBufferPointer(rebasing: bytes[raw.content]), hasEscapes: raw.hasEscapes, offset: raw.content.lowerBound - 1)
    }

    /// Consumes the `[` that opens an array; follow with `nextElement()`.
    public mutating func beginArray() throws(JSONError) {
        try expectByte(UInt8(ascii: "["), .expectedArray)
        containerStarted = true
    }

    /// True when another element of the current array follows (its value is
    /// next), false when the array's `]` was reached (and consumed).
    public mutating func nextElement() throws(JSONError) -> Bool {
        skipWhitespace()
        guard position < bytes.count else { throw error(.unexpectedEnd) }
        if bytes[position] == UInt8(ascii: "]") {
            position += 1
            containerStarted = false
            return false
        }
        if containerStarted {
            containerStarted = false
        } else {
            guard bytes[position] == UInt8(ascii: ",") else { throw error(.expectedCommaOrEnd) }
            position += 1
        }
        return true
    }

    // MARK: - Scalars

    /// A string value, every escape decoded.
    public mutating func readString() throws(JSONError) -> String {
        let raw = try readStringRaw()
        return raw.hasEscapes ? decodeEscapes(raw) : String(decoding: raw.bytes, as: UTF8.self)
    }

    /// A string value or nil for `null`.
    public mutating func readStringOrNull() throws(JSONError) -> String? {
        if try consumeNull() { return nil }
        return try readString()
    }

    /// A string value's bytes between the quotes, still escaped, without
    /// building a `String`: for comparisons and interning.
    public mutating func readStringRaw() throws(JSONError) -> JSONRawString {
        skipWhitespace()
        guard position < bytes.count else { throw error(.unexpectedEnd) }
        guard bytes[position] == UInt8(ascii: "\"") else { throw error(.expectedString) }
        let raw = try scanStringRaw()
        return JSONRawString(bytes: UnsafeBufferPointer(rebasing: bytes[raw.content]), hasEscapes: raw.hasEscapes, offset: raw.content.lowerBound - 1)
    }

    /// Decodes a raw string read by `readStringRaw()` or a key.
    public func decodeEscapes(_ raw: JSONRawString) -> String {
        guard raw.hasEscapes else { return String(decoding: raw.bytes, as: UTF8.self) }
        return JSONScanner.unescape(raw.bytes)
    }

    /// A number's text, exactly as sent (`-12.50e3`), after checking it against
    /// the JSON number grammar. The bytes point into the input.
    public mutating func readNumberText() throws(JSONError) -> UnsafeBufferPointer<UInt8> {
        skipWhitespace()
        let start = position
        try scanNumber()
        return UnsafeBufferPointer(rebasing: bytes[start..<position])
    }

    public mutating func readBool() throws(JSONError) -> Bool {
        skipWhitespace()
        guard position < bytes.count else { throw error(.unexpectedEnd) }
        switch bytes[position] {
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return true
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return false
        default:
            throw error(.expectedBool)
        }
    }

    /// Skips one value of any kind, checking that it is well-formed JSON, and
    /// returns the byte range it spanned (without surrounding whitespace), so
    /// it can be kept as JSON text.
    @discardableResult
    public mutating func skipValue() throws(JSONError) -> Range<Int> {
        skipWhitespace()
        let start = position
        try skip(depth: 0)
        return start..<position
    }

    /// The text of a byte range, e.g. one returned by `skipValue()`.
    public func text(of range: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    /// Checks that nothing but whitespace follows the top-level value.
    public mutating func expectEnd() throws(JSONError) {
        skipWhitespace()
        guard position == bytes.count else { throw error(.trailingData) }
    }

    /// An error at the current position, for callers that find a value of
    /// the wrong shape.
    public func error(_ reason: JSONError.Reason) -> JSONError {
        JSONError(reason, offset: position)
    }

    /// An error at a given offset (e.g. where the offending value began).
    public func error(_ reason: JSONError.Reason, at offset: Int) -> JSONError {
        JSONError(reason, offset: offset)
    }

    // MARK: - Internals

    /// Set by `beginObject`/`beginArray` so the first `nextKey`/`nextElement`
    /// does not expect a comma.
    private var containerStarted = false

    @inline(__always)
    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x0A, 0x0D, 0x09: position += 1
            default: return
            }
        }
    }

    @inline(__always)
    private mutating func expectByte(_ b: UInt8, _ reason: JSONError.Reason) throws(JSONError) {
        skipWhitespace()
        guard position < bytes.count else { throw error(.unexpectedEnd) }
        guard bytes[position] == b else { throw error(reason) }
        position += 1
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(JSONError) {
        let n = literal.utf8CodeUnitCount
        guard position + n <= bytes.count else { throw error(.unexpectedEnd) }
        let p = literal.utf8Start
        for i in 0..<n where bytes[position + i] != p[i] {
            throw error(.invalidLiteral, at: position)
        }
        position += n
    }

    /// Scans a string starting at its opening quote; returns the range between
    /// the quotes and whether any backslash occurred. Escapes are checked for
    /// form here (so a skipped string is valid too) but decoded only on demand.
    @inline(__always)
    private mutating func scanStringRaw() throws(JSONError) -> (content: Range<Int>, hasEscapes: Bool) {
        let quote = position
        position += 1
        let start = position
        var escapes = false
        let n = bytes.count
        while position < n {
            let c = bytes[position]
            if c == UInt8(ascii: "\"") {
                let end = position
                position += 1
                return (start..<end, escapes)
            }
            if c == UInt8(ascii: "\\") {
                escapes = true
                guard position + 1 < n else { throw JSONError(.unterminatedString, offset: quote) }
                switch bytes[position + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                     UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    position += 2
                case UInt8(ascii: "u"):
                    guard position + 6 <= n else { throw JSONError(.unterminatedString, offset: quote) }
                    for i in 2..<6 where JSONScanner.hexValue(bytes[position + i]) == nil {
                        throw JSONError(.invalidEscape, offset: position)
                    }
                    position += 6
                default:
                    throw error(.invalidEscape)
                }
                continue
            }
            // RFC 8259 §7: control characters must be escaped inside strings.
            if c < 0x20 { throw error(.controlCharacterInString) }
            position += 1
        }
        throw JSONError(.unterminatedString, offset: quote)
    }

    /// Scans `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    private mutating func scanNumber() throws(JSONError) {
        let start = position
        let n = bytes.count
        if position < n, bytes[position] == UInt8(ascii: "-") { position += 1 }
        guard position < n else { throw error(.unexpectedEnd) }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
        } else if bytes[position] &- 49 < 9 {
            position += 1
            while position < n, bytes[position] &- 48 < 10 { position += 1 }
        } else {
            throw JSONError(.invalidNumber, offset: start)
        }
        if position < n, bytes[position] == UInt8(ascii: ".") {
            position += 1
            let digitsStart = position
            while position < n, bytes[position] &- 48 < 10 { position += 1 }
            guard position > digitsStart else { throw JSONError(.invalidNumber, offset: start) }
        }
        if position < n, bytes[position] | 0x20 == UInt8(ascii: "e") {
            position += 1
            if position < n, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") { position += 1 }
            let digitsStart = position
            while position < n, bytes[position] &- 48 < 10 { position += 1 }
            guard position > digitsStart else { throw JSONError(.invalidNumber, offset: start) }
        }
        // A number glued to a letter (`12abc`) is not a number followed by
        // something else: say so here rather than at the next comma.
        if position < n {
            let c = bytes[position]
            if c &- 48 < 10 || (c | 0x20) &- 97 < 26 || c == UInt8(ascii: ".") {
                throw JSONError(.invalidNumber, offset: start)
            }
        }
    }

    private mutating func skip(depth: Int) throws(JSONError) {
        guard depth < JSONScanner.maxDepth else { throw error(.tooDeep) }
        switch try peekKind() {
        case .string:
            _ = try scanStringRaw()
        case .number:
            try scanNumber()
        case .bool:
            _ = try readBool()
        case .null:
            try expectLiteral("null")
        case .object:
            try beginObject()
            while try nextKey() != nil { try skip(depth: depth + 1) }
        case .array:
            try beginArray()
            while try nextElement() { try skip(depth: depth + 1) }
        }
    }

    @inline(__always)
    static func hexValue(_ c: UInt8) -> UInt32? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(c - 48)
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(c - 87)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(c - 55)
        default: nil
        }
    }

    /// Decodes the escapes of string content already validated by
    /// `scanStringRaw`. A lone or mismatched UTF-16 surrogate becomes U+FFFD
    /// rather than an error: the text is then still readable, and costsync
    /// never needs such a value to be exact (the providers send ASCII ids).
    static func unescape(_ raw: UnsafeBufferPointer<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var i = 0
        let n = raw.count
        func hex4(_ at: Int) -> UInt32 {
            (hexValue(raw[at])! << 12) | (hexValue(raw[at + 1])! << 8) | (hexValue(raw[at + 2])! << 4) | hexValue(raw[at + 3])!
        }
        func appendScalar(_ v: UInt32) {
            switch v {
            case 0..<0x80:
                out.append(UInt8(v))
            case 0x80..<0x800:
                out.append(UInt8(0xC0 | (v >> 6)))
                out.append(UInt8(0x80 | (v & 0x3F)))
            case 0x800..<0x10000:
                out.append(UInt8(0xE0 | (v >> 12)))
                out.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
                out.append(UInt8(0x80 | (v & 0x3F)))
            default:
                out.append(UInt8(0xF0 | (v >> 18)))
                out.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
                out.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
                out.append(UInt8(0x80 | (v & 0x3F)))
            }
        }
        while i < n {
            let c = raw[i]
            guard c == UInt8(ascii: "\\") else {
                out.append(c)
                i += 1
                continue
            }
            let e = raw[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                let unit = hex4(i)
                i += 4
                if unit >= 0xD800 && unit < 0xDC00 {
                    // A high surrogate: only a following `\uDC00`-`\uDFFF` completes it.
                    if i + 6 <= n, raw[i] == UInt8(ascii: "\\"), raw[i + 1] == UInt8(ascii: "u") {
                        let low = hex4(i + 2)
                        if low >= 0xDC00 && low < 0xE000 {
                            appendScalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
                            i += 6
                            continue
                        }
                    }
                    appendScalar(0xFFFD)
                } else if unit >= 0xDC00 && unit < 0xE000 {
                    appendScalar(0xFFFD)
                } else {
                    appendScalar(unit)
                }
            default:
                // `"`, `\` and `/` stand for themselves.
                out.append(e)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// What the next value is, as far as its first byte tells.
public enum JSONValueKind: Sendable, Hashable {
    case object, array, string, number, bool, null
}

/// A string's content between its quotes, still escaped, pointing into the
/// scanner's input (valid only as long as the input is).
public struct JSONRawString {
    public let bytes: UnsafeBufferPointer<UInt8>
    /// Whether a backslash occurred; without one the bytes are the content.
    public let hasEscapes: Bool
    /// The offset of the opening quote, for error messages.
    public let offset: Int

    /// Whether the (unescaped) string equals `literal`.
    @inline(__always)
    public func equals(_ literal: StaticString) -> Bool {
        if hasEscapes { return JSONScanner.unescape(bytes).utf8.elementsEqual(UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)) }
        let n = literal.utf8CodeUnitCount
        guard bytes.count == n else { return false }
        let p = literal.utf8Start
        var i = 0
        while i < n {
            if bytes[i] != p[i] { return false }
            i += 1
        }
        return true
    }

    /// The decoded content.
    public var string: String {
        hasEscapes ? JSONScanner.unescape(bytes) : String(decoding: bytes, as: UTF8.self)
    }
}

/// An object key; compare it with `==` against a `StaticString` of a known key.
public typealias JSONKey = JSONRawString

extension JSONRawString {
    @inline(__always)
    public static func == (lhs: JSONRawString, rhs: StaticString) -> Bool { lhs.equals(rhs) }
}

/// Why a JSON text could not be read, and at which byte.
public struct JSONError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Reason: Sendable, Hashable {
        case unexpectedEnd
        case unexpectedByte(UInt8)
        case expectedObject, expectedArray, expectedString, expectedKey, expectedColon, expectedCommaOrEnd
        case expectedNumber, expectedBool
        case invalidLiteral, invalidNumber, invalidEscape
        case unterminatedString, controlCharacterInString
        case tooDeep, trailingData
        /// A well-formed value that is not what the reader of the document
        /// expected (e.g. a date that is not `YYYY-MM-DD`).
        case unexpectedValue(String)
    }

    public let reason: Reason
    /// The byte offset into the input where the problem was found.
    public let offset: Int

    public init(_ reason: Reason, offset: Int) {
        self.reason = reason
        self.offset = offset
    }

    public var description: String {
        let what: String = switch reason {
        case .unexpectedEnd: "unexpected end of input (truncated?)"
        case .unexpectedByte(let b): "unexpected byte 0x\(String(b, radix: 16))"
        case .expectedObject: "expected an object"
        case .expectedArray: "expected an array"
        case .expectedString: "expected a string"
        case .expectedKey: "expected an object key"
        case .expectedColon: "expected ':'"
        case .expectedCommaOrEnd: "expected ',' or the end of the container"
        case .expectedNumber: "expected a number"
        case .expectedBool: "expected true or false"
        case .invalidLiteral: "invalid literal"
        case .invalidNumber: "invalid number"
        case .invalidEscape: "invalid escape in string"
        case .unterminatedString: "unterminated string"
        case .controlCharacterInString: "unescaped control character in string"
        case .tooDeep: "nested deeper than \(JSONScanner.maxDepth) levels"
        case .trailingData: "data after the end of the JSON value"
        case .unexpectedValue(let message): message
        }
        return "\(what) at byte \(offset)"
    }
}
