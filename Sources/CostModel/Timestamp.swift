/// An instant in UTC, as whole seconds since 1970; rendered RFC 3339 (`…Z`),
/// the form of every `*_at` column.
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let secondsSinceEpoch: Int64

    public init(secondsSinceEpoch: Int64) { self.secondsSinceEpoch = secondsSinceEpoch }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; the fraction is dropped.
    public init?(rfc3339 text: some StringProtocol) {
        let u = Array(text.utf8)
        guard u.count >= 20, let day = Day(String(decoding: u[0..<10], as: UTF8.self)),
              u[10] | 0x20 == UInt8(ascii: "t"), u[13] == UInt8(ascii: ":"), u[16] == UInt8(ascii: ":") else { return nil }
        func num(_ a: Int, _ b: Int) -> Int? {
            var v = 0
            for i in a..<b {
                guard u[i] >= 48, u[i] <= 57 else { return nil }
                v = v * 10 + Int(u[i] - 48)
            }
            return v
        }
        guard let h = num(11, 13), let m = num(14, 16), let s = num(17, 19), h < 24, m < 60, s <= 60 else { return nil }
        var i = 19
        if u[i] == UInt8(ascii: ".") {
            i += 1
            while i < u.count, u[i] >= 48, u[i] <= 57 { i += 1 }
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
        self.secondsSinceEpoch = day.secondsSinceEpoch + Int64(h * 3600 + m * 60 + s - offset)
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
