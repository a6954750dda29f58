import CostModel

/// Parsers for the times servers put in rate-limit headers, as durations since
/// the Unix epoch (sub-second precision kept, unlike `Timestamp`, because a
/// reset "in 400 ms" should not become a wait of 0 or 1 s).
public enum HTTPTimes {
    /// `retry-after`: delay-seconds (`"7"`; a decimal is tolerated) → a wait;
    /// or an HTTP-date (`"Sun, 06 Nov 1994 08:49:37 GMT"`) → that time minus
    /// `wallNow`. RFC 9110 §10.2.3. Nil when the value is neither.
    public static func retryAfter(_ value: String, wallNow: Duration) -> Duration? {
        let text = value.trimmingSpaces
        if let seconds = decimalSeconds(text) { return seconds }
        if let date = httpDate(text) { return date - wallNow }
        return nil
    }

    /// An RFC 3339 time (`2025-08-01T12:00:05.250Z`, `...+02:00`) as a
    /// duration since the epoch. Anthropic's `anthropic-ratelimit-*-reset`.
    public static func rfc3339(_ value: String) -> Duration? {
        guard let (seconds, nanos) = Timestamp.parseRFC3339(value.trimmingSpaces) else { return nil }
        return .seconds(seconds) + .nanoseconds(nanos)
    }

    /// IMF-fixdate, the only HTTP-date form a sender may generate (RFC 9110
    /// §5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`.
    public static func httpDate(_ value: String) -> Duration? {
        let u = Array(value.trimmingSpaces.utf8)
        guard u.count == 29, u[3] == UInt8(ascii: ","), u[4] == 0x20, u[7] == 0x20, u[11] == 0x20,
              u[16] == 0x20, u[19] == UInt8(ascii: ":"), u[22] == UInt8(ascii: ":"), u[25] == 0x20,
              String(decoding: u[26..<29], as: UTF8.self) == "GMT",
              let d = number(u, 5, 7), let y = number(u, 12, 16),
              let h = number(u, 17, 19), let mi = number(u, 20, 22), let s = number(u, 23, 25),
              h < 24, mi < 60, s <= 60 else { return nil }
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard let mIndex = months.firstIndex(of: String(decoding: u[8..<11], as: UTF8.self)),
              let day = Day(year: y, month: mIndex + 1, day: d) else { return nil }
        return .seconds(day.secondsSinceEpoch + Int64(h * 3600 + mi * 60 + s))
    }

    /// `"7"`, `"0.5"`: non-negative seconds, millisecond precision.
    static func decimalSeconds(_ text: String) -> Duration? {
        let u = Array(text.utf8)
        guard !u.isEmpty, u.count <= 12 else { return nil }
        var whole: Int64 = 0
        var i = 0
        while i < u.count, u[i] &- 48 < 10 {
            whole = whole * 10 + Int64(u[i] - 48)
            i += 1
        }
        guard i > 0 else { return nil }
        var millis: Int64 = 0
        if i < u.count, u[i] == UInt8(ascii: ".") {
            i += 1
            var digits = 0
            while i < u.count, u[i] &- 48 < 10 {
                if digits < 3 { millis = millis * 10 + Int64(u[i] - 48) }
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<max(digits, 3) { millis *= 10 }
        }
        guard i == u.count else { return nil }
        return .seconds(whole) + .milliseconds(millis)
    }

    private static func number(_ u: [UInt8], _ a: Int, _ b: Int) -> Int? {
        var v = 0
        for i in a..<b {
            guard u[i] &- 48 < 10 else { return nil }
            v = v * 10 + Int(u[i] - 48)
        }
        return v
    }
}

extension String {
    var trimmingSpaces: String {
        let u = utf8
        guard let first = u.firstIndex(where: { $0 != 0x20 && $0 != 0x09 }),
              let last = u.lastIndex(where: { $0 != 0x20 && $0 != 0x09 }) else { return "" }
        return String(self[first...last])
    }
}
