/// A JSON body built straight into bytes. A backfill page of 31 days × 2,000
/// lines is ~25 MB; going through `String` interpolation or `JSONSerialization`
/// would cost more than the client under test, and would render money through
/// `Double`. Amounts are written here from integers only.
struct JSONBytes {
    var bytes: [UInt8]

    init(capacity: Int = 1024) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inline(__always)
    mutating func raw(_ literal: StaticString) {
        literal.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    @inline(__always)
    mutating func raw(_ more: [UInt8]) { bytes.append(contentsOf: more) }

    @inline(__always)
    mutating func byte(_ b: UInt8) { bytes.append(b) }

    /// A JSON string. The simulator's own strings are plain ASCII, but an org
    /// name comes from the caller, so escaping is done properly anyway.
    mutating func string(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case 0x0A: raw("\\n")
            case 0x0D: raw("\\r")
            case 0x09: raw("\\t")
            case 0..<0x20:
                raw("\\u00")
                bytes.append(JSONBytes.hexDigits[Int(b >> 4)])
                bytes.append(JSONBytes.hexDigits[Int(b & 0xF)])
            default: bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func stringOrNull(_ s: String?) {
        if let s { string(s) } else { raw("null") }
    }

    mutating func int(_ v: Int64) { SimDecimal.appendInteger(v, to: &bytes) }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// A pre-rendered JSON string, for values written millions of times.
    static func quoted(_ s: String) -> [UInt8] {
        var j = JSONBytes(capacity: s.utf8.count + 2)
        j.string(s)
        return j.bytes
    }
}

/// Exact decimal text from integers: `units × 10^-scale`.
public enum SimDecimal {
    static let pow10: [Int64] = (0...18).map { n in (0..<n).reduce(Int64(1)) { acc, _ in acc * 10 } }

    /// Appends the decimal digits of `v`.
    @inline(__always)
    static func appendInteger(_ v: Int64, to out: inout [UInt8]) {
        if v < 0 { out.append(UInt8(ascii: "-")) }
        var m = v.magnitude
        if m == 0 {
            out.append(UInt8(ascii: "0"))
            return
        }
        var tmp: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                  UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        withUnsafeMutableBytes(of: &tmp) { buf in
            while m > 0 {
                buf[n] = UInt8(truncatingIfNeeded: m % 10) + UInt8(ascii: "0")
                m /= 10
                n += 1
            }
            var i = n - 1
            while i >= 0 {
                out.append(buf[i])
                i -= 1
            }
        }
    }

    /// Appends `units × 10^-scale` with exactly `digits` fractional digits
    /// (0 means no point), so `41280000000` at scale 6 with 6 digits is
    /// "41280.000000", as Anthropic writes it. `units` must be a multiple of
    /// 10^(scale - digits): the text never rounds.
    static func appendFixed(_ units: Int64, scale: Int, digits: Int, to out: inout [UInt8]) {
        precondition(digits <= scale && units % pow10[scale - digits] == 0, "the text would round")
        if units < 0 { out.append(UInt8(ascii: "-")) }
        let m = Int64(units.magnitude)
        appendInteger(m / pow10[scale], to: &out)
        guard digits > 0 else { return }
        out.append(UInt8(ascii: "."))
        var frac = (m % pow10[scale]) / pow10[scale - digits]
        var d = digits
        var buf = [UInt8](repeating: UInt8(ascii: "0"), count: digits)
        while d > 0 {
            d -= 1
            buf[d] = UInt8(truncatingIfNeeded: frac % 10) + UInt8(ascii: "0")
            frac /= 10
        }
        out.append(contentsOf: buf)
    }

    /// The fewest fractional digits that say `units × 10^-scale` exactly.
    static func minimalDigits(_ units: Int64, scale: Int) -> Int {
        var d = scale
        var u = units
        while d > 0 && u % 10 == 0 {
            u /= 10
            d -= 1
        }
        return d
    }

    /// Appends `units × 10^-scale` without trailing fractional zeros, the way a
    /// JSON number from ClickHouse looks ("3", "0.5", "12.000000000123").
    static func appendMinimal(_ units: Int64, scale: Int, to out: inout [UInt8]) {
        appendFixed(units, scale: scale, digits: minimalDigits(units, scale: scale), to: &out)
    }

    /// `units × 10^-scale` as minimal text, e.g. for a test's messages.
    public static func text(units: Int64, scale: Int) -> String {
        var out: [UInt8] = []
        appendMinimal(units, scale: scale, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// `value / divisor` rounded half to even: how a 12-decimal credit amount
    /// becomes nanos, matching `Money.nanos`.
    static func divideHalfEven(_ value: Int64, by divisor: Int64) -> Int64 {
        let q = value / divisor
        let r = value % divisor
        let twice = r.magnitude * 2
        if twice > divisor.magnitude || (twice == divisor.magnitude && q % 2 != 0) {
            return value < 0 ? q - 1 : q + 1
        }
        return q
    }
}
