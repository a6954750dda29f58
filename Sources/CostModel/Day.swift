/// A UTC calendar day, held as the number of days since 1970-01-01.
///
/// Days are the unit of everything costsync stores: partitions, cursors and
/// finality. Keeping them as an integer makes ranges and arithmetic trivial and
/// keeps Foundation's calendars (and the local time zone) out of the sync path.
public struct Day: Sendable, Hashable, Comparable, Strideable, CustomStringConvertible, Codable {
    public let daysSinceEpoch: Int

    public init(daysSinceEpoch: Int) { self.daysSinceEpoch = daysSinceEpoch }

    /// The civil-from-days algorithm of Howard Hinnant's `chrono` papers, valid
    /// for every proleptic Gregorian date we will ever see.
    public init?(year: Int, month: Int, day: Int) {
        guard (1...12).contains(month), day >= 1, day <= Day.daysIn(month: month, year: year) else { return nil }
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        self.daysSinceEpoch = era * 146_097 + doe - 719_468
    }

    /// Parses exactly `YYYY-MM-DD`; anything else (a timestamp, a missing zero) is nil.
    public init?(_ text: some StringProtocol) {
        let u = Array(text.utf8)
        guard u.count == 10, u[4] == UInt8(ascii: "-"), u[7] == UInt8(ascii: "-") else { return nil }
        func num(_ r: Range<Int>) -> Int? {
            var v = 0
            for i in r {
                let c = u[i]
                guard c >= 48, c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            return v
        }
        guard let y = num(0..<4), let m = num(5..<7), let d = num(8..<10) else { return nil }
        self.init(year: y, month: m, day: d)
    }

    /// The UTC day containing `secondsSinceEpoch`.
    public init(secondsSinceEpoch: Int64) {
        let (q, r) = secondsSinceEpoch.quotientAndRemainder(dividingBy: 86_400)
        self.daysSinceEpoch = Int(r < 0 ? q - 1 : q)
    }

    public var components: (year: Int, month: Int, day: Int) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    /// `YYYY-MM-DD`, the form stored in the database and sent to the APIs.
    public var description: String {
        let (y, m, d) = components
        return Day.pad(y, 4) + "-" + Day.pad(m, 2) + "-" + Day.pad(d, 2)
    }

    /// `YYYY-MM-DDT00:00:00Z`: the start of the day as RFC 3339.
    public var startTimestamp: String { description + "T00:00:00Z" }

    public var secondsSinceEpoch: Int64 { Int64(daysSinceEpoch) * 86_400 }

    public static func < (a: Day, b: Day) -> Bool { a.daysSinceEpoch < b.daysSinceEpoch }
    public func distance(to other: Day) -> Int { other.daysSinceEpoch - daysSinceEpoch }
    public func advanced(by n: Int) -> Day { Day(daysSinceEpoch: daysSinceEpoch + n) }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let day = Day(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "expected a date YYYY-MM-DD, got '\(text)'"))
        }
        self = day
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    static func pad(_ v: Int, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}

/// An inclusive range of days, as the command line and the APIs speak of them.
public struct DayRange: Sendable, Hashable, Sequence, CustomStringConvertible {
    public let first: Day
    public let last: Day

    public init(_ first: Day, _ last: Day) {
        precondition(first <= last, "a day range must not run backwards")
        self.first = first
        self.last = last
    }

    public var count: Int { first.distance(to: last) + 1 }
    public var description: String { "\(first)..\(last)" }
    public func contains(_ day: Day) -> Bool { first <= day && day <= last }
    public func makeIterator() -> StrideThrough<Day>.Iterator { stride(from: first, through: last, by: 1).makeIterator() }

    /// Consecutive windows of at most `maxDays` days covering the range, in order.
    public func windows(ofAtMost maxDays: Int) -> [DayRange] {
        precondition(maxDays > 0)
        var result: [DayRange] = []
        var start = first
        while start <= last {
            let end = Swift.min(start.advanced(by: maxDays - 1), last)
            result.append(DayRange(start, end))
            start = end.advanced(by: 1)
        }
        return result
    }
}
