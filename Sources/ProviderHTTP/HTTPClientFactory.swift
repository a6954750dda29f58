import CostModel
import AsyncHTTPClient
import NIOCore
import NIOSSL

/// Builds the one `HTTPClient` the process shares between all orgs.
///
/// Not `HTTPClient.shared`: costsync needs its own timeouts, and no redirects
/// (a redirect could carry the `x-api-key` header to another host; AHC strips
/// nothing on redirect). TLS is left at AHC's default configuration, which
/// verifies certificates and host names.
public enum ProviderHTTPClient {
    /// The configuration: `connectTimeout` bounds DNS + TCP + TLS set-up,
    /// `readTimeout` bounds the silence between two reads of a response (a
    /// stalled body). The whole request's deadline is the transport's
    /// `requestTimeout`.
    public static func configuration(connectTimeout: Duration = .seconds(10),
                                     readTimeout: Duration = .seconds(60)) -> HTTPClient.Configuration {
        HTTPClient.Configuration(
            tlsConfiguration: nil,
            redirectConfiguration: .disallow,
            timeout: .init(connect: .nanoseconds(connectTimeout.totalNanoseconds),
                           read: .nanoseconds(readTimeout.totalNanoseconds)),
            decompression: .disabled
        )
    }

    /// A new client; the caller must `shutdown()` it (prefer `withHTTPClient`).
    public static func make(connectTimeout: Duration = .seconds(10), readTimeout: Duration = .seconds(60)) -> HTTPClient {
        HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup,
                   configuration: configuration(connectTimeout: connectTimeout, readTimeout: readTimeout))
    }

    /// Runs `body` with a new client and shuts the client down on every path.
    @discardableResult
    public static func withHTTPClient<Result>(
        connectTimeout: Duration = .seconds(10),
        readTimeout: Duration = .seconds(60),
        isolation: isolated (any Actor)? = #isolation,
        _ body: (HTTPClient) async throws -> Result
    ) async throws -> Result {
        try await HTTPClient.withHTTPClient(
            configuration: configuration(connectTimeout: connectTimeout, readTimeout: readTimeout),
            isolation: isolation,
            body
        )
    }
}

/// The HTTP client type the provider clients take, named here so that their
/// modules need not import AsyncHTTPClient themselves.
public typealias SharedHTTPClient = HTTPClient

/// The process's HTTP clients: one direct, and one per proxy the environment
/// names (AHC takes one proxy per client), each request's client chosen by
/// its URL under the `NO_PROXY` rules. Every client trusts `caFile` beside
/// the system's roots: a company's TLS-inspecting proxy re-signs certificates.
public struct ProviderHTTPClients: Sendable {
    public let direct: HTTPClient
    let viaHTTPProxy: HTTPClient?
    let viaHTTPSProxy: HTTPClient?
    public let rules: ProxyRules

    /// The client for requests to `url` (a base URL or a webhook's).
    public func client(for url: String) -> HTTPClient {
        // Read leniently: a webhook URL may carry a query (its token) that BaseURL refuses.
        guard let schemeEnd = url.firstRange(of: "://") else { return direct }
        let scheme = String(url[..<schemeEnd.lowerBound])
        var authority = url[schemeEnd.upperBound...].prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        let host: Substring
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            host = authority[authority.index(after: authority.startIndex)..<close]
        } else {
            host = authority.prefix { $0 != ":" }
        }
        return client(scheme: scheme, host: String(host))
    }

    public func client(scheme: String, host: String) -> HTTPClient {
        guard rules.proxy(scheme: scheme, host: host) != nil else { return direct }
        return (scheme.lowercased() == "https" ? viaHTTPSProxy : viaHTTPProxy) ?? direct
    }

    /// Runs `body` with the clients and shuts every one down on every path.
    public static func with<Result: Sendable>(
        proxies: ProxyRules = .none, caFile: String? = nil,
        connectTimeout: Duration = .seconds(10), readTimeout: Duration = .seconds(60),
        _ body: (ProviderHTTPClients) async throws -> Result
    ) async throws -> Result {
        func make(_ proxy: ProxyServer?) throws -> HTTPClient {
            var configuration = ProviderHTTPClient.configuration(connectTimeout: connectTimeout, readTimeout: readTimeout)
            if let caFile {
                var tls = TLSConfiguration.makeClientConfiguration()
                tls.additionalTrustRoots = [.file(caFile)]
                configuration.tlsConfiguration = tls
            }
            if let proxy {
                let authorization = proxy.user.map { user in
                    HTTPClient.Authorization.basic(username: user.revealed, password: proxy.password?.revealed ?? "")
                }
                configuration.proxy = .server(host: proxy.host, port: proxy.port, authorization: authorization)
            }
            return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        }
        var made: [HTTPClient] = []
        do {
            let direct = try make(nil)
            made.append(direct)
            let http = try proxies.http.map(make)
            if let http { made.append(http) }
            let https = try proxies.https.map(make)
            if let https { made.append(https) }
            let clients = ProviderHTTPClients(direct: direct, viaHTTPProxy: http, viaHTTPSProxy: https, rules: proxies)
            let result = try await body(clients)
            // The work is done: a client that fails to shut down cleanly does not undo it.
            for client in made { try? await client.shutdown() }
            return result
        } catch {
            for client in made { try? await client.shutdown() }
            throw error
        }
    }
}
