#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A provider's base URL after the checks every request relies on: `https`,
/// or `http` to a loopback address only (a test server or the simulator), so
/// a key can never travel in clear text over a network.
public struct BaseURL: Sendable, Hashable, CustomStringConvertible {
    public let scheme: String
    /// As written, e.g. `api.anthropic.com`, `127.0.0.1`, `[::1]`.
    public let host: String
    public let port: Int?
    /// A path prefix without a trailing slash (`""` or `/anthropic` behind a proxy).
    public let pathPrefix: String

    /// Why a base URL was refused; turned into a `ProviderError` by the clients.
    public struct Invalid: Error, Sendable, Hashable, CustomStringConvertible {
        public let description: String
    }

    /// Checks `text` and keeps it without trailing slashes. The messages name
    /// no config key: the layer that read the URL knows where it came from.
    public init(_ text: String) throws(Invalid) {
        let example = "e.g. \"https://api.example.com\" or \"http://127.0.0.1:8080\""
        // A URL with user info may carry a password: never echo it.
        let quoted = text.contains("@") ? "" : (Secret.showable(text, limit: 200).map { "'\($0)' " } ?? "")
        guard !text.utf8.contains(where: { $0 <= 0x20 || $0 >= 0x7F }) else {
            throw Invalid(description: "\(quoted)contains spaces, control or non-ASCII characters; write a plain URL, " + example)
        }
        guard let schemeEnd = text.firstRange(of: "://") else {
            throw Invalid(description: "\(quoted)is not a URL; write scheme://host[:port][/path], " + example)
        }
        let scheme = text[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "https" || scheme == "http" else {
            throw Invalid(description: "\(quoted)must start with https:// (or http:// for a loopback address)")
        }
        let rest = text[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var path = rest[authorityEnd...]
        // A key in the URL (`https://user:pass@host`) would end up in logs and errors.
        guard !authority.contains("@") else {
            throw Invalid(description: "must not contain a user name or password; credentials are configured apart from the URL")
        }
        guard !path.contains("?"), !path.contains("#") else {
            throw Invalid(description: "\(quoted)must not have a query (?…) or a fragment (#…)")
        }
        // Split host and port; an IPv6 literal is bracketed and contains colons.
        let host: Substring
        var port: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw Invalid(description: "\(quoted)has an unclosed '[' in its host")
            }
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw Invalid(description: "\(quoted)has text after its IPv6 host") }
                port = after.dropFirst()
            }
            guard BaseURL.ipv6(String(authority[authority.index(after: authority.startIndex)..<close])) != nil else {
                throw Invalid(description: "\(quoted)has an invalid IPv6 address")
            }
            host = authority[...close]
        } else {
            let parts = authority.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            host = parts[0]
            if parts.count == 2 { port = parts[1] }
            let hostOK = !host.isEmpty && host.utf8.allSatisfy { ASCII.isAlnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }
            guard hostOK else { throw Invalid(description: "\(quoted)has no valid host name; " + example) }
        }
        var portNumber: Int?
        if let port {
            guard let n = Int(port), (1...65535).contains(n), port.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                throw Invalid(description: "\(quoted)has an invalid port; use a number from 1 to 65535")
            }
            portNumber = n
        }
        if scheme == "http" && !BaseURL.isLoopback(host: String(host)) {
            throw Invalid(description:
                "\(quoted)uses http:// with a host that is not loopback; use https://, so that the API key is never sent "
                    + "in clear text (http:// is allowed only for localhost, 127.0.0.0/8 and ::1)")
        }
        while path.hasSuffix("/") { path = path.dropLast() }
        self.scheme = scheme
        self.host = String(host)
        self.port = portNumber
        self.pathPrefix = String(path)
    }

    public var description: String {
        "\(scheme)://\(host)" + (port.map { ":\($0)" } ?? "") + pathPrefix
    }

    /// The full URL of an API path with a percent-encoded query.
    public func url(path: String, query: [(name: String, value: String)]) -> String {
        var url = description + path
        for (i, item) in query.enumerated() {
            url += i == 0 ? "?" : "&"
            url += BaseURL.percentEncode(item.name) + "=" + BaseURL.percentEncode(item.value)
        }
        return url
    }

    /// Everything but RFC 3986's unreserved characters is escaped: `[]` in
    /// `group_by[]`, and `+`, `/`, `=` in opaque page tokens (a server may
    /// read a raw `+` as a space).
    public static func percentEncode(_ text: String) -> String {
        let hex: [UInt8] = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for b in text.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(b)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0xF)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `localhost`, any `127.x.y.z`, `::1`, or an IPv4-mapped loopback
    /// address (`::ffff:127.x.y.z`); bracketed or not.
    public static func isLoopback(host: String) -> Bool {
        var h = host.lowercased()
        if h.hasPrefix("[") && h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        if h == "localhost" { return true }
        if let v4 = ipv4(h) { return v4.0 == 127 }
        if let v6 = ipv6(h) {
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

}
