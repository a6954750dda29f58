import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// One HTTP request as the simulator's handlers see it: already split and
/// percent-decoded, so a handler never parses a URL.
public struct SimRequest: Sendable {
    public var method: String
    /// The path without its query string, not percent-decoded (the APIs' paths
    /// hold only unreserved characters).
    public var path: String
    /// Percent-decoded, in order, repeated names kept (`group_by[]=a&group_by[]=b`).
    public var query: [(name: String, value: String)]
    public var headers: [(name: String, value: String)]

    public init(method: String, path: String, query: [(name: String, value: String)] = [],
                headers: [(name: String, value: String)] = []) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
    }

    /// The first value of a query parameter.
    public func queryValue(_ name: String) -> String? {
        query.first(where: { $0.name == name })?.value
    }

    public func queryValues(_ name: String) -> [String] {
        query.filter { $0.name == name }.map(\.value)
    }

    /// The first value of a header, its name compared case-insensitively as HTTP says.
    public func header(_ name: String) -> String? {
        headers.first(where: { $0.name.lowercased() == name.lowercased() })?.value
    }

    /// Splits a request target (`/a/b?x=1&y=%20`) into its path and decoded query.
    public static func splitTarget(_ uri: String) -> (path: String, query: [(name: String, value: String)]) {
        let bytes = Array(uri.utf8)
        guard let q = bytes.firstIndex(of: UInt8(ascii: "?")) else { return (uri, []) }
        let path = String(decoding: bytes[..<q], as: UTF8.self)
        var query: [(name: String, value: String)] = []
        for pair in bytes[(q + 1)...].split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            if let eq = pair.firstIndex(of: UInt8(ascii: "=")) {
                query.append((percentDecode(pair[..<eq]), percentDecode(pair[(eq + 1)...])))
            } else {
                query.append((percentDecode(pair[...]), ""))
            }
        }
        return (path, query)
    }

    /// Form decoding: `+` is a space and `%XX` a byte; a malformed escape is kept
    /// as it came, because a test server should show what the client sent, not fail.
    static func percentDecode(_ part: ArraySlice<UInt8>) -> String {
        guard part.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) else {
            return String(decoding: part, as: UTF8.self)
        }
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(part.count)
        var i = part.startIndex
        while i < part.endIndex {
            let c = part[i]
            if c == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
            } else if c == UInt8(ascii: "%"), i + 2 < part.endIndex, let h = hex(part[i + 1]), let l = hex(part[i + 2]) {
                out.append(h << 4 | l)
                i += 3
                continue
            } else {
                out.append(c)
            }
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// A misbehaviour of the transport itself, for testing a client's resilience.
public enum SimFault: Sendable, Equatable {
    case none
    /// Close the connection without sending any response.
    case dropConnection
    /// Send the head with the full `Content-Length`, then only this many bytes
    /// of the body, then close: what a client sees when a proxy dies mid-body.
    case truncateBody(afterBytes: Int)
    /// Wait this long before sending the response.
    case delay(Duration)
}

public struct SimResponse: Sendable {
    public var status: Int
    /// `content-length` and `connection` are the server's business and are
    /// replaced if given here.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    public var fault: SimFault

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8], fault: SimFault = .none) {
        self.status = status
        self.headers = headers
        self.body = body
        self.fault = fault
    }

    public static func json(_ status: Int, _ text: String, headers: [(name: String, value: String)] = []) -> SimResponse {
        SimResponse(status: status, headers: [("content-type", "application/json")] + headers, body: Array(text.utf8))
    }
}

/// A minimal HTTP/1.1 server on loopback that hands every request to one async
/// handler. Keep-alive, an ephemeral port by default, and faults that break the
/// transport on purpose; nothing else (no TLS, no request bodies of interest).
public final class LoopbackHTTPServer: Sendable {
    private let serverChannel: any Channel
    private let connections: Connections
    public let port: Int
    public let host: String

    public var baseURL: String { "http://\(host.contains(":") ? "[\(host)]" : host):\(port)" }

    private init(serverChannel: any Channel, connections: Connections, host: String, port: Int) {
        self.serverChannel = serverChannel
        self.connections = connections
        self.host = host
        self.port = port
    }

    public static func start(
        host: String = "127.0.0.1",
        port: Int = 0,
        handler: @escaping @Sendable (SimRequest) async -> SimResponse
    ) async throws -> LoopbackHTTPServer {
        let connections = Connections()
        // The process-wide group: servers come and go by the hundred in tests, and
        // a group per server would cost threads and a shutdown each.
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                connections.add(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(SimHTTPHandler(handler: handler))
                }
            }
        let channel = try await bootstrap.bind(host: host, port: port).get()
        guard let bound = channel.localAddress?.port else {
            try? await channel.close()
            throw SimulatorError.noLocalAddress
        }
        return LoopbackHTTPServer(serverChannel: channel, connections: connections, host: host, port: bound)
    }

    /// Stops accepting and closes every open connection, so a test's keep-alive
    /// pool sees the server go rather than hanging on to a half-dead peer.
    public func shutdown() async throws {
        do {
            try await serverChannel.close()
        } catch ChannelError.alreadyClosed {
            // A second shutdown is harmless.
        }
        for child in connections.drain() {
            // A connection may have closed between drain and here; that is the goal anyway.
            try? await child.close()
        }
    }
}

public enum SimulatorError: Error, Sendable, CustomStringConvertible {
    case noLocalAddress

    public var description: String {
        switch self {
        case .noLocalAddress: "the simulator's socket has no local address"
        }
    }
}

/// The open child channels of one server, so `shutdown` can close them.
private final class Connections: Sendable {
    private let open = Mutex<[ObjectIdentifier: any Channel]>([:])

    func add(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        open.withLock { $0[id] = channel }
        channel.closeFuture.whenComplete { [weak self] _ in
            _ = self?.open.withLock { $0.removeValue(forKey: id) }
        }
    }

    func drain() -> [any Channel] {
        open.withLock { all in
            defer { all.removeAll() }
            return Array(all.values)
        }
    }
}

/// Turns request parts into a `SimRequest`, runs the async handler off the event
/// loop, and writes its response back on the loop.
private final class SimHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let handler: @Sendable (SimRequest) async -> SimResponse
    private var head: HTTPRequestHead?
    /// False once the channel is gone, so a late response is dropped rather than
    /// written into a removed context.
    private var active = true

    init(handler: @escaping @Sendable (SimRequest) async -> SimResponse) {
        self.handler = handler
    }

    func channelInactive(context: ChannelHandlerContext) {
        active = false
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        active = false
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
        case .body:
            // Both APIs are GET-only; a body is read and ignored.
            break
        case .end:
            guard let h = head else { return }
            head = nil
            respond(to: h, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let (path, query) = SimRequest.splitTarget(head.uri)
        let request = SimRequest(
            method: head.method.rawValue,
            path: path,
            query: query,
            headers: head.headers.map { ($0.name, $0.value) }
        )
        let keepAlive = head.isKeepAlive
        let version = head.version
        let handler = self.handler
        let promise = context.eventLoop.makePromise(of: SimResponse.self)
        promise.completeWithTask {
            let response = await handler(request)
            if case .delay(let d) = response.fault {
                // A cancelled sleep just answers early; the test is over by then.
                try? await Task.sleep(for: d)
            }
            return response
        }
        promise.futureResult.assumeIsolated().whenSuccess { response in
            self.write(response, keepAlive: keepAlive, version: version, context: context)
        }
    }

    private func write(_ response: SimResponse, keepAlive: Bool, version: HTTPVersion, context: ChannelHandlerContext) {
        guard active else { return }
        if case .dropConnection = response.fault {
            active = false
            context.close(promise: nil)
            return
        }
        var headers = HTTPHeaders()
        headers.reserveCapacity(response.headers.count + 2)
        for (name, value) in response.headers {
            let lower = name.lowercased()
            if lower == "content-length" || lower == "connection" || lower == "transfer-encoding" { continue }
            headers.add(name: name, value: value)
        }
        headers.add(name: "content-length", value: String(response.body.count))
        let closeAfter = !keepAlive
        var bodyBytes = response.body[...]
        if case .truncateBody(let n) = response.fault {
            bodyBytes = response.body.prefix(max(0, n))
        }
        // A truncated body does not announce `connection: close`: the point is a
        // client that believes more is coming.
        if !keepAlive { headers.add(name: "connection", value: "close") }
        let head = HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if case .truncateBody = response.fault {
            // No `.end`: the client must see a connection that ends mid-body.
            active = false
            let sent = context.eventLoop.makePromise(of: Void.self)
            let buffer = context.channel.allocator.buffer(bytes: bodyBytes)
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: sent)
            sent.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            return
        }
        if !bodyBytes.isEmpty {
            // One buffer for the whole body: a 25 MB backfill page is one copy and one write.
            let buffer = context.channel.allocator.buffer(bytes: bodyBytes)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let done = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: done)
        if closeAfter {
            active = false
            done.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }
}
