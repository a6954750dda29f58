import CostModel
import TOMLKit

/// How costsync's one HTTP client reaches the providers (and webhooks):
/// through the proxy the environment names, trusting an extra CA when a
/// company's TLS-inspecting proxy re-signs certificates.
public struct HTTPSettings: Sendable, Equatable {
    /// `[http] ca_file`: a PEM file of CA certificates trusted beside the system's.
    public var caFile: String?
    /// From `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` (or their lower-case forms).
    public var proxies: ProxyRules

    public init(caFile: String? = nil, proxies: ProxyRules = .none) {
        self.caFile = caFile
        self.proxies = proxies
    }
}

extension Builder {
    static let httpKeys = ["ca_file"]

    func httpSettings(_ root: TOMLTable, environment: [String: String]) throws(KeyProblem) -> HTTPSettings {
        var settings = HTTPSettings(proxies: try Self.proxyRules(environment))
        if let value = root["http"] {
            guard let table = value.table else {
                throw KeyProblem("http", "expected a table ([http]), found \(TableReader.describe(value.type))")
            }
            let t = TableReader(table: table, path: "http")
            try t.rejectUnknownKeys(known: Self.httpKeys, tableName: "[http]") { key in
                key.contains("proxy") ? "the proxy comes from HTTPS_PROXY / HTTP_PROXY / NO_PROXY in costsync's environment" : nil
            }
            if let path = try t.string("ca_file") {
                guard path.hasPrefix("/") else {
                    throw KeyProblem(t.keyPath("ca_file"), "give an absolute path to a PEM file of CA certificates, e.g. \"/etc/ssl/certs/corp-proxy-ca.pem\"")
                }
                let bytes: [UInt8]
                do { bytes = try CostsyncConfig.readFile(path) } catch {
                    throw KeyProblem(t.keyPath("ca_file"), "cannot read '\(path)': \(error)")
                }
                guard String(decoding: bytes, as: UTF8.self).contains("-----BEGIN CERTIFICATE-----") else {
                    throw KeyProblem(t.keyPath("ca_file"), "'\(path)' holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
                }
                settings.caFile = path
            }
        }
        return settings
    }

    /// Proxies as curl reads them: the lower-case name first, then the upper-case one.
    static func proxyRules(_ env: [String: String]) throws(KeyProblem) -> ProxyRules {
        func value(_ name: String) -> (String, String)? {
            for n in [name.lowercased(), name] { if let v = env[n], !v.isEmpty { return (n, v) } }
            return nil
        }
        var rules = ProxyRules()
        if let (name, url) = value("HTTPS_PROXY") { rules.https = try proxyServer(url, variable: name) }
        if let (name, url) = value("HTTP_PROXY") { rules.http = try proxyServer(url, variable: name) }
        if let (_, list) = value("NO_PROXY") {
            rules.noProxy = list.split(separator: ",").map { entry in
                // A port (`host:8080`) does not narrow the match here; the host decides.
                var e = String(entry.drop(while: { $0 == " " })).lowercased()
                while e.hasSuffix(" ") { e.removeLast() }
                if !e.hasPrefix("["), let colon = e.lastIndex(of: ":"), e.filter({ $0 == ":" }).count == 1 { e = String(e[..<colon]) }
                return e
            }.filter { !$0.isEmpty }
        }
        return rules
    }

    /// `http://[user:password@]host[:port]`; the password never reaches a message.
    static func proxyServer(_ text: String, variable: String) throws(KeyProblem) -> ProxyServer {
        var rest = Substring(text)
        let lower = text.lowercased()
        if lower.hasPrefix("http://") {
            rest = rest.dropFirst(7)
        } else if lower.hasPrefix("https://") || lower.hasPrefix("socks") {
            throw KeyProblem("", "environment variable \(variable): only an http:// proxy is supported (costsync tunnels TLS through it with CONNECT)")
        }
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        var user: Secret?
        var password: Secret?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            let parts = credentials.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            user = Secret(percentDecoded(parts[0]))
            if parts.count == 2 { password = Secret(percentDecoded(parts[1])) }
        }
        var host = String(rest)
        var port = 80
        if let colon = rest.lastIndex(of: ":"), !rest.hasSuffix("]") {
            guard let p = Int(rest[rest.index(after: colon)...]), (1...65535).contains(p) else {
                throw KeyProblem("", "environment variable \(variable): the proxy's port is not a number from 1 to 65535")
            }
            port = p
            host = String(rest[..<colon])
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw KeyProblem("", "environment variable \(variable): no proxy host; write http://HOST:PORT") }
        return ProxyServer(host: host, port: port, user: user, password: password)
    }

    private static func percentDecoded(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var i = text.utf8.startIndex
        let u = text.utf8
        while i < u.endIndex {
            if u[i] == UInt8(ascii: "%"), let a = u.index(i, offsetBy: 1, limitedBy: u.endIndex), a < u.endIndex,
               let b = u.index(i, offsetBy: 2, limitedBy: u.endIndex), b < u.endIndex,
               let v = UInt8(String(decoding: [u[a], u[b]], as: UTF8.self), radix: 16) {
                bytes.append(v)
                i = u.index(i, offsetBy: 3)
            } else {
                bytes.append(u[i])
                i = u.index(after: i)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
