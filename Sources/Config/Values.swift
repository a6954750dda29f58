#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
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
        let ok = bytes.count <= 64 && isAlnum(bytes[0])
            && bytes.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
        // The name is not a secret, but it may be anything the user typed: show it only
        // when it is short enough to be a name and not a pasted blob.
        return ok ? nil : Problem("\(showable(text).map { "'\($0)' " } ?? "")is not a valid name; " + rule)
    }

    /// ClickHouse organization IDs are UUIDs; we accept any `A-Za-z0-9_-` token since
    /// it is only placed in the URL path, where these characters need no escaping.
    static func organizationID(_ text: String) -> Problem? {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else {
            return Problem("is empty; copy the organization ID (a UUID) from the ClickHouse Cloud console, Organization → Details")
        }
        let ok = bytes.count <= 128 && bytes.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
        return ok ? nil : Problem("is not an organization ID: expected a UUID such as 3c90c3cc-0d44-4b50-8888-8dd25736052a")
    }

    // MARK: Base URLs

    /// Checks a `base_url` and returns it without trailing slashes.
    ///
    /// `https` anywhere; `http` only when the host is loopback (`localhost`,
    /// 127.0.0.0/8, `::1`), for a local proxy or the simulator: over plain HTTP the
    /// API key would cross the network in clear text. No user info (a password in a
    /// URL is a secret in the config), no query, no fragment.
    static func baseURL(_ text: String) -> Result<String, Problem> {
        let example = "e.g. \"https://api.example.com\" or \"http://127.0.0.1:8080\""
        // A URL with user info may carry a password: never echo it.
        let shown = text.contains("@") ? nil : showable(text, limit: 200)
        let quoted = shown.map { "'\($0)' " } ?? ""
        guard !text.utf8.contains(where: { $0 <= 0x20 || $0 >= 0x7F }) else {
            return .failure(Problem("\(quoted)contains spaces, control or non-ASCII characters; write a plain URL, " + example))
        }
        guard let schemeEnd = text.firstRange(of: "://") else {
            return .failure(Problem("\(quoted)is not a URL; write scheme://host[:port][/path], " + example))
        }
        let scheme = text[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "https" || scheme == "http" else {
            return .failure(Problem("\(quoted)must start with https:// (or http:// for a loopback address)"))
        }
        let rest = text[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var path = rest[authorityEnd...]
        guard !authority.contains("@") else {
            return .failure(Problem("must not contain a user name or password; credentials come only from the *_env or *_file keys"))
        }
        guard !path.contains("?"), !path.contains("#") else {
            return .failure(Problem("\(quoted)must not have a query (?…) or a fragment (#…)"))
        }

        // Split host and port; an IPv6 literal is bracketed and contains colons.
        let host: Substring
        var port: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                return .failure(Problem("\(quoted)has an unclosed '[' in its host"))
            }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return .failure(Problem("\(quoted)has text after its IPv6 host")) }
                port = after.dropFirst()
            }
            guard ipv6(String(host)) != nil else { return .failure(Problem("\(quoted)has an invalid IPv6 address")) }
        } else {
            let parts = authority.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            host = parts[0]
            if parts.count == 2 { port = parts[1] }
            let hostOK = !host.isEmpty && host.utf8.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }
            guard hostOK else { return .failure(Problem("\(quoted)has no valid host name; " + example)) }
        }
        if let port {
            guard let n = Int(port), (1...65535).contains(n), port.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                return .failure(Problem("\(quoted)has an invalid port; use a number from 1 to 65535"))
            }
        }
        if scheme == "http" && !isLoopback(host: String(host)) {
            return .failure(Problem(
                "\(quoted)uses http:// with a host that is not loopback; use https://, so that the API key is never sent "
                    + "in clear text (http:// is allowed only for localhost, 127.0.0.0/8 and ::1)"))
        }
        while path.hasSuffix("/") { path = path.dropLast() }
        let checked = scheme + "://" + authority + path
        // The clients parse the URL again with `BaseURL`; whatever this file
        // accepts, they must accept too, or `check-config` would pass a config
        // on which every sync fails.
        do { _ = try BaseURL(checked) } catch { return .failure(Problem("\(quoted)is refused: \(error.description)")) }
        return .success(checked)
    }

    static func isLoopback(host: String) -> Bool {
        if host.lowercased() == "localhost" { return true }
        if let v4 = ipv4(host) { return v4.0 == 127 }
        if let v6 = ipv6(host) {
            // ::1, or an IPv4-mapped loopback address (::ffff:127.x.y.z).
            if v6[0..<15].allSatisfy({ $0 == 0 }) && v6[15] == 1 { return true }
            return v6[0..<10].allSatisfy({ $0 == 0 }) && v6[10] == 0xFF && v6[11] == 0xFF && v6[12] == 127
        }
        return false
    }

    /// A strict dotted quad, via `inet_pton` (which, unlike `inet_aton`, refuses
    /// shorthand such as `127.1` that would let a host name pass as an address).
    static func ipv4(_ text: String) -> (UInt8, UInt8, UInt8, UInt8)? {
        var addr = in_addr()
        guard inet_pton(AF_INET, text, &addr) == 1 else { return nil }
        return withUnsafeBytes(of: addr) { ($0[0], $0[1], $0[2], $0[3]) }
    }

    static func ipv6(_ text: String) -> [UInt8]? {
        var addr = in6_addr()
        guard inet_pton(AF_INET6, text, &addr) == 1 else { return nil }
        return withUnsafeBytes(of: addr) { Array($0) }
    }

    // MARK: Environment variable names and file paths

    /// Whether a string may be echoed in an error message. Messages name env vars and
    /// files, but a user who pastes the key itself into `admin_key_env` must not see it
    /// printed back into a log: anything that is not a conventional upper-case env
    /// name or path, or looks like an API key, is left out of the message.
    static func showable(_ text: String, limit: Int = 100) -> String? {
        let bytes = Array(text.utf8)
        guard bytes.count <= limit, !text.hasPrefix("sk-") else { return nil }
        guard bytes.allSatisfy({ isAlnum($0) || "._-/:[]".utf8.contains($0) }) else { return nil }
        // A long run of mixed-case letters and digits with no separator is what API
        // keys look like, and what names and paths do not.
        let longestToken = text.split(whereSeparator: { "._-/:[]".contains($0) }).map(\.utf8.count).max() ?? 0
        let hasLower = bytes.contains { $0 >= 0x61 && $0 <= 0x7A }
        let hasUpper = bytes.contains { $0 >= 0x41 && $0 <= 0x5A }
        let hasDigit = bytes.contains { $0 >= 0x30 && $0 <= 0x39 }
        if longestToken >= 20 && hasLower && hasUpper && hasDigit { return nil }
        return text
    }

    /// POSIX portable env names: letters, digits and `_`, not starting with a digit.
    static func isEnvName(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, !(first >= 0x30 && first <= 0x39) else { return false }
        return bytes.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "_") }
    }

    static func isAlnum(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
    }

    struct Problem: Error, Equatable {
        var text: String
        init(_ text: String) { self.text = text }
    }
}
