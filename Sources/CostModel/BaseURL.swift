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

    public init(_ text: String) throws(Invalid) {
        guard let sep = text.firstRange(of: "://") else {
            throw Invalid(description: "base_url '\(text)' has no scheme (https://...)")
        }
        let scheme = String(text[..<sep.lowerBound]).lowercased()
        let rest = String(text[sep.upperBound...])
        guard scheme == "https" || scheme == "http" else {
            throw Invalid(description: "base_url '\(text)': scheme must be https")
        }
        guard !rest.utf8.contains(where: { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") || $0 <= 0x20 }) else {
            throw Invalid(description: "base_url '\(text)' must not have a query, fragment or spaces")
        }
        let slash = rest.utf8.firstIndex(of: UInt8(ascii: "/")) ?? rest.endIndex
        let authority = String(rest[..<slash])
        var prefix = String(rest[slash...])
        while prefix.hasSuffix("/") { prefix.removeLast() }
        // A key in the URL (`https://user:pass@host`) would end up in logs and errors.
        guard !authority.utf8.contains(UInt8(ascii: "@")) else {
            throw Invalid(description: "base_url must not contain credentials (user@host)")
        }
        var host = authority
        var port: Int?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw Invalid(description: "base_url '\(text)': unterminated IPv6 address")
            }
            host = String(authority[...close])
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let p = Int(after.dropFirst()), (1...65535).contains(p) else {
                    throw Invalid(description: "base_url '\(text)': invalid port")
                }
                port = p
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            guard let p = Int(authority[authority.index(after: colon)...]), (1...65535).contains(p) else {
                throw Invalid(description: "base_url '\(text)': invalid port")
            }
            port = p
        }
        guard !host.isEmpty else { throw Invalid(description: "base_url '\(text)' has no host") }
        if scheme == "http" && !BaseURL.isLoopback(host: host) {
            throw Invalid(description: "base_url '\(text)': http:// is allowed only for a loopback address (127.0.0.0/8, ::1, localhost); use https://")
        }
        self.scheme = scheme
        self.host = host
        self.port = port
        self.pathPrefix = prefix
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

    /// `localhost`, any `127.x.y.z`, `::1` (bracketed or not, or written out).
    public static func isLoopback(host: String) -> Bool {
        var h = host.lowercased()
        if h.hasPrefix("[") && h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        if h == "localhost" || h == "localhost." { return true }
        if h == "::1" || h == "0:0:0:0:0:0:0:1" { return true }
        let parts = h.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        var octets: [Int] = []
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.utf8.allSatisfy({ $0 &- 48 < 10 }), let v = Int(p), v <= 255 else { return false }
            octets.append(v)
        }
        return octets[0] == 127
    }
}
