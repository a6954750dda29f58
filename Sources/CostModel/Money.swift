/// An exact decimal amount of money in a currency's major unit (US dollars, or
/// ClickHouse credits), parsed from the provider's own text and never passed
/// through a binary floating-point number.
///
/// The value is `significand × 10^-scale` with the fewest digits that say it
/// (no trailing fractional zeros), so equal amounts are equal values and render
/// the same `text`. `nanos` is the amount in units of 10^-9, rounded half-even
/// when the provider sent more than nine decimals; it must fit an `Int64`
/// (about ±9.2 billion), which is the range costsync accepts.
public struct Money: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let significand: Int128
    public let scale: Int
    public let nanos: Int64

    /// The most fractional digits we accept. Providers send up to 12; a value
    /// with more than 38 would not fit the significand anyway.
    public static let maxScale = 38

    public static let zero = Money(uncheckedSignificand: 0, scale: 0, nanos: 0)

    private init(uncheckedSignificand: Int128, scale: Int, nanos: Int64) {
        self.significand = uncheckedSignificand
        self.scale = scale
        self.nanos = nanos
    }

    /// Builds a value from a significand and scale, normalizing and range-checking it.
    public init(significand: Int128, scale: Int) throws(MoneyError) {
        var sig = significand
        var sc = scale
        if sc < 0 {
            guard -sc < Money.pow10.count else { throw MoneyError.outOfRange("10^\(-sc)") }
            let (m, o) = sig.multipliedReportingOverflow(by: Money.pow10[-sc])
            guard !o else { throw MoneyError.outOfRange("\(significand)e\(-scale)") }
            sig = m
            sc = 0
        }
        while sc > 0 && sig % 10 == 0 {
            sig /= 10
            sc -= 1
        }
        if sc > Money.maxScale {
            // More decimals than are kept: rounded half-even, never refused.
            sig = Money.roundHalfEven(sig, droppingDigits: sc - Money.maxScale)
            sc = Money.maxScale
            while sc > 0 && sig % 10 == 0 {
                sig /= 10
                sc -= 1
            }
            if sig == 0 { sc = 0 }
        }
        self.significand = sig
        self.scale = sc
        self.nanos = try Money.nanos(significand: sig, scale: sc)
    }

    /// Parses a provider's decimal text (`"41280.123456"`, `"-12.5"`,
    /// `"1.5e-7"`), shifting the decimal point `decimalShift` places left:
    /// 2 turns Anthropic's cents into dollars, 0 keeps the unit.
    public static func parse(_ text: some StringProtocol, decimalShift: Int = 0) throws(MoneyError) -> Money {
        var copy = String(text)
        let result = copy.withUTF8 { bytes in
            Result { () throws(MoneyError) -> Money in try parse(utf8: bytes, decimalShift: decimalShift) }
        }
        return try result.get()
    }

    /// Anthropic reports amounts as decimal strings in cents, the lowest unit of
    /// USD ("41280.000000" is $412.80): moving the point two places left is a
    /// change of scale, so it is exact.
    public static func anthropicCents(_ text: some StringProtocol) throws(MoneyError) -> Money {
        try parse(text, decimalShift: 2)
    }

    /// The parser under `parse(_:decimalShift:)`, over raw bytes so that the JSON
    /// scanner can hand a number's text over without building a `String`.
    public static func parse(utf8 bytes: UnsafeBufferPointer<UInt8>, decimalShift: Int = 0) throws(MoneyError) -> Money {
        var i = 0
        let n = bytes.count
        var negative = false
        if i < n, bytes[i] == UInt8(ascii: "-") {
            negative = true
            i += 1
        } else if i < n, bytes[i] == UInt8(ascii: "+") {
            i += 1
        }
        var sig: Int128 = 0
        var digits = 0             // significant digits accumulated into `sig`
        var fracScale = 0          // fractional digits accumulated into `sig`
        var pendingZeros = 0       // fractional zeros not yet known to be significant
        var sawDigit = false
        func bad() -> MoneyError { .notANumber(String(decoding: UnsafeBufferPointer(rebasing: bytes[0..<min(n, 40)]), as: UTF8.self)) }

        while i < n, bytes[i] &- 48 < 10 {
            let d = Int128(bytes[i] &- 48)
            sawDigit = true
            if digits > 0 || d != 0 {
                digits += 1
                guard digits <= 38 else { throw MoneyError.outOfRange(String(decoding: bytes, as: UTF8.self)) }
                sig = sig * 10 + d
            }
            i += 1
        }
        // Beyond 38 significant digits a fraction is rounded half-even, as
        // `amount_nanos` is: `firstDropped` is the first digit not kept,
        // `sticky` whether any later one is non-zero.
        var firstDropped: Int128?
        var sticky = false
        if i < n, bytes[i] == UInt8(ascii: ".") {
            i += 1
            var fracDigits = 0
            while i < n, bytes[i] &- 48 < 10 {
                let d = bytes[i] &- 48
                fracDigits += 1
                if firstDropped != nil {
                    if d != 0 { sticky = true }
                } else if d == 0 {
                    pendingZeros += 1
                } else {
                    let step = pendingZeros + 1
                    if digits == 0 {
                        // The first significant digit: leading zeros only move
                        // the scale (rounded to maxScale below), so no power
                        // of ten is needed, however many there are.
                        digits = 1
                        sig = Int128(d)
                        fracScale += step
                    } else if digits + step <= 38 {
                        digits += step
                        sig = sig * pow10[step] + Int128(d)
                        fracScale += step
                    } else {
                        // Keep what fits of the zeros and the digit; the rest rounds.
                        let room = 38 - digits
                        let zerosKept = min(room, pendingZeros)
                        sig *= pow10[zerosKept]
                        fracScale += zerosKept
                        digits += zerosKept
                        if zerosKept < pendingZeros {
                            firstDropped = 0
                            sticky = true
                        } else {
                            firstDropped = Int128(d)
                        }
                    }
                    pendingZeros = 0
                }
                i += 1
            }
            guard fracDigits > 0 else { throw bad() }
            sawDigit = true
        }
        if let firstDropped, firstDropped > 5 || (firstDropped == 5 && (sticky || sig % 2 != 0)) {
            sig += 1
        }
        guard sawDigit else { throw bad() }
        var exponent = 0
        if i < n, bytes[i] | 0x20 == UInt8(ascii: "e") {
            i += 1
            var expNegative = false
            if i < n, bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+") {
                expNegative = bytes[i] == UInt8(ascii: "-")
                i += 1
            }
            var expDigits = 0
            while i < n, bytes[i] &- 48 < 10 {
                exponent = exponent * 10 + Int(bytes[i] &- 48)
                expDigits += 1
                guard exponent < 10_000 else { throw MoneyError.outOfRange(String(decoding: bytes, as: UTF8.self)) }
                i += 1
            }
            guard expDigits > 0 else { throw bad() }
            if expNegative { exponent = -exponent }
        }
        guard i == n else { throw bad() }
        if negative { sig = -sig }
        if sig == 0 { return .zero }
        return try Money(significand: sig, scale: fracScale - exponent + decimalShift)
    }

    /// The canonical decimal text stored in `costs.amount`: no exponent, no
    /// leading or trailing zeros beyond the one before the point.
    public var text: String {
        let negative = significand < 0
        let mag = significand.magnitude
        // UInt64's rendering is much cheaper than UInt128's, and almost every amount fits it.
        var digits = mag <= UInt128(UInt64.max) ? String(UInt64(mag)) : String(mag)
        if scale > 0 {
            if digits.utf8.count <= scale {
                digits = String(repeating: "0", count: scale - digits.utf8.count + 1) + digits
            }
            digits.insert(".", at: digits.index(digits.endIndex, offsetBy: -scale))
        }
        return negative ? "-" + digits : digits
    }

    public var description: String { text }

    /// `value / 10^digits`, rounded half to even.
    static func roundHalfEven(_ value: Int128, droppingDigits digits: Int) -> Int128 {
        guard digits > 0 else { return value }
        guard digits < pow10.count else { return 0 }
        let divisor = pow10[digits]
        var q = value / divisor
        let r = value % divisor
        let twice = r.magnitude * 2
        if twice > divisor.magnitude || (twice == divisor.magnitude && q % 2 != 0) {
            q += value < 0 ? -1 : 1
        }
        return q
    }

    public static func < (a: Money, b: Money) -> Bool {
        let s = max(a.scale, b.scale)
        // Both fit after alignment whenever the result of subtracting them would;
        // fall back on nanos (already exact to 10^-9) if they do not.
        if let x = try? a.aligned(to: s), let y = try? b.aligned(to: s) { return x < y }
        return a.nanos < b.nanos
    }

    public static func + (a: Money, b: Money) throws(MoneyError) -> Money {
        let s = max(a.scale, b.scale)
        let (sum, o) = try a.aligned(to: s).addingReportingOverflow(try b.aligned(to: s))
        guard !o else { throw MoneyError.outOfRange("\(a) + \(b)") }
        return try Money(significand: sum, scale: s)
    }

    public static func - (a: Money, b: Money) throws(MoneyError) -> Money {
        let s = max(a.scale, b.scale)
        let (diff, o) = try a.aligned(to: s).subtractingReportingOverflow(try b.aligned(to: s))
        guard !o else { throw MoneyError.outOfRange("\(a) - \(b)") }
        return try Money(significand: diff, scale: s)
    }

    /// The exact product (a price × a quantity); more than 38 decimals round half-even.
    public func multiplied(by other: Money) throws(MoneyError) -> Money {
        let (product, o) = significand.multipliedReportingOverflow(by: other.significand)
        guard !o else { throw MoneyError.outOfRange("\(self) × \(other)") }
        return try Money(significand: product, scale: scale + other.scale)
    }

    public static prefix func - (a: Money) -> Money {
        Money(uncheckedSignificand: -a.significand, scale: a.scale, nanos: -a.nanos)
    }

    private func aligned(to s: Int) throws(MoneyError) -> Int128 {
        let (m, o) = significand.multipliedReportingOverflow(by: Money.pow10[s - scale])
        guard !o else { throw MoneyError.outOfRange(text) }
        return m
    }

    /// `significand × 10^(9 - scale)`, rounded half-even when `scale > 9`, so that
    /// summing `amount_nanos` in SQL reconciles with the provider's totals.
    private static func nanos(significand: Int128, scale: Int) throws(MoneyError) -> Int64 {
        var value: Int128
        if scale <= 9 {
            let (m, o) = significand.multipliedReportingOverflow(by: pow10[9 - scale])
            guard !o else { throw MoneyError.outOfRange(render(significand, scale)) }
            value = m
        } else {
            let divisor = pow10[scale - 9]
            let (q, r) = significand.magnitude.quotientAndRemainder(dividingBy: UInt128(divisor))
            var mag = q
            let twice = r * 2
            if twice > UInt128(divisor) || (twice == UInt128(divisor) && q % 2 == 1) { mag += 1 }
            guard mag <= UInt128(Int128.max) else { throw MoneyError.outOfRange(render(significand, scale)) }
            value = significand < 0 ? -Int128(mag) : Int128(mag)
        }
        guard let n = Int64(exactly: value) else { throw MoneyError.outOfRange(render(significand, scale)) }
        return n
    }

    private static func render(_ sig: Int128, _ scale: Int) -> String { "\(sig)e-\(scale)" }

    static let pow10: [Int128] = {
        var p: [Int128] = [1]
        for _ in 1...38 { p.append(p.last! * 10) }
        return p
    }()
}

/// Why a provider's amount could not be taken as exact money.
public enum MoneyError: Error, Sendable, Equatable, CustomStringConvertible {
    case notANumber(String)
    case outOfRange(String)

    public var description: String {
        switch self {
        case .notANumber(let text): "'\(text)' is not a decimal number"
        case .outOfRange(let text): "amount \(text) is outside the range costsync stores exactly (±9.2 billion, 38 digits)"
        }
    }
}
