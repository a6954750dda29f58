/// An instant in UTC, as whole seconds since 1970; rendered RFC 3339 (`…Z`),
/// the form of every `*_at` column.
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let secondsSinceEpoch: Int64

    public init(secondsSinceEpoch: Int64) { self.secondsSinceEpoch = secondsSinceEpoch }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; the fraction is dropped.
    public init?(rfc3339 text: some StringProtocol) {
        guard let (seconds, _) = Timestamp.parseRFC3339(text) else { return nil }
        self.secondsSinceEpoch = seconds
    }

    /// The one RFC 3339 parser of costsync: seconds since 1970 and the
    /// fraction in nanoseconds (nine digits kept, the rest ignored).
    public static func parseRFC3339(_ text: some StringProtocol) -> (seconds: Int64, nanoseconds: Int64)? {
        let u = Array(text.utf8)
        func num(_ a: Int, _ b: Int) -> Int? {
            var v = 0
            for i in a..<b {
                guard u[i] >= 48, u[i] <= 57 else { return nil }
                v = v * 10 + Int(u[i] - 48)
            }
            return v
        }
        guard u.count >= 20, let day = Day(String(decoding: u[0..<10], as: UTF8.self)),
              u[10] | 0x20 == UInt8(ascii: "t"), u[13] == UInt8(ascii: ":"), u[16] == UInt8(ascii: ":"),
              let h = num(11, 13), let m = num(14, 16), let s = num(17, 19), h < 24, m < 60, s <= 60 else { return nil }
        var i = 19
        var nanos: Int64 = 0
        if u[i] == UInt8(ascii: ".") {
            i += 1
            var digits = 0
            while i < u.count, u[i] >= 48, u[i] <= 57 {
                if digits < 9 { nanos = nanos * 10 + Int64(u[i] - 48) }
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<max(digits, 9) { nanos *= 10 }
        }
        guard i < u.count else { return nil }
        var offset = 0
        if u[i] | 0x20 == UInt8(ascii: "z") {
            guard i + 1 == u.count else { return nil }
        } else if u[i] == UInt8(ascii: "+") || u[i] == UInt8(ascii: "-") {
            guard u.count == i + 6, u[i + 3] == UInt8(ascii: ":"), let oh = num(i + 1, i + 3), let om = num(i + 4, i + 6) else { return nil }
            offset = (oh * 3600 + om * 60) * (u[i] == UInt8(ascii: "-") ? -1 : 1)
        } else {
            return nil
        }
        return (day.secondsSinceEpoch + Int64(h * 3600 + m * 60 + s - offset), nanos)
    }

    public var day: Day { Day(secondsSinceEpoch: secondsSinceEpoch) }

    public var description: String {
        let d = day
        let s = Int(secondsSinceEpoch - d.secondsSinceEpoch)
        return "\(d)T\(Day.pad(s / 3600, 2)):\(Day.pad(s / 60 % 60, 2)):\(Day.pad(s % 60, 2))Z"
    }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.secondsSinceEpoch < b.secondsSinceEpoch }
    public func adding(seconds: Int64) -> Timestamp { Timestamp(secondsSinceEpoch: secondsSinceEpoch + seconds) }
}

/// Where "now" comes from. Production reads the system clock; tests and the
/// simulator inject a fixed instant so nothing depends on today's date.
public struct WallClock: Sendable {
    private let read: @Sendable () -> Timestamp

    public init(_ read: @escaping @Sendable () -> Timestamp) { self.read = read }

    public static func fixed(_ t: Timestamp) -> WallClock { WallClock { t } }

    public var now: Timestamp { read() }
    public var today: Day { now.day }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension WallClock {
    /// The system's real-time clock, in whole seconds.
    public static let system = WallClock { Timestamp(secondsSinceEpoch: Int64(time(nil))) }
}
