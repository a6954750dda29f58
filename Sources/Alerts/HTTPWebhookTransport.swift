import AsyncHTTPClient
import CostModel
import NIOCore
import NIOHTTP1

/// Webhook requests on the process's shared clients (no redirects: a
/// redirect could carry the body to another host), each URL's client chosen
/// by the proxy rules, as the providers' are.
public struct HTTPWebhookTransport: WebhookTransport {
    let client: @Sendable (_ url: String) -> HTTPClient

    public init(client: HTTPClient) { self.client = { _ in client } }

    public init(clientFor: @escaping @Sendable (_ url: String) -> HTTPClient) { self.client = clientFor }

    /// A receiver's answer is read up to this much and dropped: only the status matters.
    static let maxResponseBytes = 64 << 10

    public func post(to url: Secret, body: [UInt8], headers: [(name: String, value: String)], timeout: Duration) async throws -> Int {
        var request = HTTPClientRequest(url: url.revealed)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await client(url.revealed).execute(request, timeout: .nanoseconds(timeout.totalNanoseconds))
        // Drained so the connection can be reused; a huge answer is cut off, not read.
        _ = try? await response.body.collect(upTo: Self.maxResponseBytes)
        return Int(response.status.code)
    }
}
