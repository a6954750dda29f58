/// An HTTP proxy server (`http://[user:password@]host:port`), which costsync
/// reaches with `CONNECT`, so TLS to the provider stays end to end.
public struct ProxyServer: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: Secret?
    public var password: Secret?

    public init(host: String, port: Int, user: Secret? = nil, password: Secret? = nil) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
    }

    /// `host:port`, never the credentials: what a log line may show.
    public var description: String { "\(host):\(port)" }
}

/// Which requests go through which proxy: `HTTPS_PROXY` for https:// URLs,
/// `HTTP_PROXY` for http:// ones, none for a host `NO_PROXY` names, the
/// conventions curl and most tools share.
public struct ProxyRules: Sendable, Equatable {
    public var http: ProxyServer?
    public var https: ProxyServer?
    /// Lower-cased `NO_PROXY` entries: `*`, a host, `.suffix`, or an IP.
    public var noProxy: [String]

    public static let none = ProxyRules()

    public init(http: ProxyServer? = nil, https: ProxyServer? = nil, noProxy: [String] = []) {
        self.http = http
        self.https = https
        self.noProxy = noProxy
    }

    /// The proxy for a request to `scheme://host`, or nil to go direct.
    public func proxy(scheme: String, host: String) -> ProxyServer? {
        let server = scheme.lowercased() == "https" ? https : http
        guard let server else { return nil }
        return bypasses(host) ? nil : server
    }

    /// Whether `NO_PROXY` names `host`: `*`, the host itself, or a domain it
    /// lies in (`example.com` and `.example.com` both match `api.example.com`).
    public func bypasses(_ host: String) -> Bool {
        var h = host.lowercased()
        if h.hasPrefix("[") && h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        for entry in noProxy {
            if entry == "*" { return true }
            let domain = entry.hasPrefix(".") ? String(entry.dropFirst()) : entry
            if h == domain || h.hasSuffix("." + domain) { return true }
        }
        return false
    }
}
