import CostModel

/// Parsers for the config's scalar values. Each returns a checked value or a
/// problem sentence (without the key, which the caller knows).
enum Values {
    // MARK: Durations

    /// `"30s"`, `"15m"`, `"1h"`, `"1h30m"`, `"2h15m30s"`: whole numbers with units
    /// `h`, `m`, `s`, largest unit first, each at most once. No fractions and no
    /// other units, so that a value reads the same to everyone.
    static func duration(_ text: String) -> Result<Duration, Problem> {
        let usage = "write a whole number and a unit (s, m or h), e.g. \"30s\", \"15m\", \"1h\" or \"1h30m\""
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { return .failure(Problem("is empty; " + usage)) }
        var seconds: Int64 = 0
        var i = 0
        var lastUnitRank = Int.max
        while i < bytes.count {
            var number: Int64 = 0
            var digits = 0
            while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 {
                number = number * 10 + Int64(bytes[i] - 0x30)
                digits += 1
                // Nine digits of hours are already far beyond any sensible interval;
                // the cap keeps the arithmetic below from overflowing.
                guard digits <= 9 else { return .failure(Problem("'\(text)' is too large")) }
                i += 1
            }
            guard digits > 0, i < bytes.count else { return .failure(Problem("'\(text)' is not a duration; " + usage)) }
            let (rank, unitSeconds): (Int, Int64)
            switch bytes[i] {
            case UInt8(ascii: "h"): (rank, unitSeconds) = (2, 3600)
            case UInt8(ascii: "m"): (rank, unitSeconds) = (1, 60)
            case UInt8(ascii: "s"): (rank, unitSeconds) = (0, 1)
            default: return .failure(Problem("'\(text)' is not a duration; " + usage))
            }
            guard rank < lastUnitRank else {
                return .failure(Problem("'\(text)' is not a duration: give each unit once, largest first (\"1h30m\"); " + usage))
            }
            lastUnitRank = rank
            seconds += number * unitSeconds
            i += 1
        }
        return .success(.seconds(seconds))
    }

    /// Renders a whole-second duration the way the config writes it: `1h30m`, `45s`.
    static func render(_ duration: Duration) -> String {
        var s = duration.components.seconds
        var out = ""
        if s >= 3600 { out += "\(s / 3600)h"; s %= 3600 }
        if s >= 60 { out += "\(s / 60)m"; s %= 60 }
        if s > 0 || out.isEmpty { out += "\(s)s" }
        return out
    }

    // MARK: Names

    /// 1 to 64 of `A-Za-z0-9._-`, starting with a letter or digit: the name is the
    /// `org` column, a log metadata value and a `--org` argument, so it must survive
    /// all three without quoting.
    static func orgName(_ text: String) -> Problem? {
        let bytes = Array(text.utf8)
        let rule = "use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        guard !bytes.isEmpty else { return Problem("is empty; " + rule) }
        let ok = bytes.count <= 64 && ASCII.isAlnum(bytes[0])
            && bytes.allSatisfy { ASCII.isAlnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
        // The name is not a secret, but it may be anything the user typed: show it only
        // when it is short enough to be a name and not a pasted blob.
        return ok ? nil : Problem("\(Secret.showable(text).map { "'\($0)' " } ?? "")is not a valid name; " + rule)
    }

    /// ClickHouse organization IDs are UUIDs; we accept any `A-Za-z0-9_-` token since
    /// it is only placed in the URL path, where these characters need no escaping.
    static func organizationID(_ text: String) -> Problem? {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else {
            return Problem("is empty; copy the organization ID (a UUID) from the ClickHouse Cloud console, Organization → Details")
        }
        let ok = bytes.count <= 128 && bytes.allSatisfy { ASCII.isAlnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
        return ok ? nil : Problem("is not an organization ID: expected a UUID such as 3c90c3cc-0d44-4b50-8888-8dd25736052a")
    }

    // MARK: Base URLs

    /// Checks a `base_url` with the one rule the clients use (`BaseURL`):
    /// `https` anywhere, `http` only to loopback, no user info, query or
    /// fragment. Returns it without trailing slashes.
    static func baseURL(_ text: String) -> Result<String, Problem> {
        do {
            return .success(try BaseURL(text).description)
        } catch {
            return .failure(Problem(error.description))
        }
    }

    // MARK: Listen addresses

    /// `host:port` or `[v6]:port`, the port 0 to 65535 (0: any free port).
    static func listenAddress(_ text: String) -> ListenAddress? {
        let host: Substring
        let port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else { return nil }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, host.utf8.allSatisfy({ ASCII.isAlnum($0) || ".-:".utf8.contains($0) }),
              !port.isEmpty, port.utf8.allSatisfy({ $0 &- 48 < 10 }), let n = Int(port), (0...65535).contains(n) else { return nil }
        return ListenAddress(host: String(host), port: n)
    }

    // MARK: Environment variable names and file paths

    /// POSIX portable env names: letters, digits and `_`, not starting with a digit.
    static func isEnvName(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, !(first >= 0x30 && first <= 0x39) else { return false }
        return bytes.allSatisfy { ASCII.isAlnum($0) || $0 == UInt8(ascii: "_") }
    }


    struct Problem: Error, Equatable {
        var text: String
        init(_ text: String) { self.text = text }
    }
}
