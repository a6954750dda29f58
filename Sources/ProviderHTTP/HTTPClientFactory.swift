import CostModel
import AsyncHTTPClient
import NIOCore

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
