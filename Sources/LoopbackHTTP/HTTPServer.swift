import CostModel
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// One HTTP request as the simulator's handlers see it: already split and
/// percent-decoded, so a handler never parses a URL.
public struct ServerRequest: Sendable {
    public var method: String
    /// The path without its query string, not percent-decoded (the APIs' paths
    /// hold only unreserved characters).
    public var path: String
    /// Percent-decoded, in order, repeated names kept (`group_by[]=a&group_by[]=b`).
    public var query: [(name: String, value: String)]
    public var headers: [(name: String, value: String)]
    /// The request body, up to `ServerHandler.maxKeptBodyBytes` (a test's webhook receiver reads it).
    public var body: [UInt8]

    public init(method: String, path: String, query: [(name: String, value: String)] = [],
                headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
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
public enum ServerFault: Sendable, Equatable {
    case none
    /// Close the connection without sending any response.
    case dropConnection
    /// Send the head with the full `Content-Length`, then only this many bytes
    /// of the body, then close: what a client sees when a proxy dies mid-body.
    case truncateBody(afterBytes: Int)
    /// Wait this long before sending the response.
    case delay(Duration)
}

public struct ServerResponse: Sendable {
    public var status: Int
    /// `content-length` and `connection` are the server's business and are
    /// replaced if given here.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    public var fault: ServerFault

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8], fault: ServerFault = .none) {
        self.status = status
        self.headers = headers
        self.body = body
        self.fault = fault
    }

    public static func json(_ status: Int, _ text: String, headers: [(name: String, value: String)] = []) -> ServerResponse {
        ServerResponse(status: status, headers: [("content-type", "application/json")] + headers, body: Array(text.utf8))
    }
}

/// What a server puts up with from its clients.
public struct ServerLimits: Sendable {
    /// Connections held open at once; a new one beyond closes the oldest, so a
    /// client hoarding connections can never lock a newcomer out.
    public var maxConnections: Int
    /// A connection that sends nothing for this long is closed.
    public var idleTimeout: Duration?
    /// A connection is closed this long after it opened, however busy: a
    /// client trickling bytes cannot hold one for ever.
    public var maxConnectionAge: Duration?
    /// A request whose head and body pass this many bytes gets a 413 and the
    /// connection is closed (heads are capped at 80 KiB by the parser anyway).
    public var maxRequestBytes: Int?

    public init(maxConnections: Int = .max, idleTimeout: Duration? = nil, maxConnectionAge: Duration? = nil,
                maxRequestBytes: Int? = nil) {
        self.maxConnections = maxConnections
        self.idleTimeout = idleTimeout
        self.maxConnectionAge = maxConnectionAge
        self.maxRequestBytes = maxRequestBytes
    }

    /// A test server: nothing limited.
    public static let none = ServerLimits()
}

/// A minimal HTTP/1.1 server that hands every request to one async handler.
/// Keep-alive, an ephemeral port by default, limits for a server facing
/// untrusted clients, and faults that break the transport on purpose for a
/// test server; nothing else (no TLS, no request bodies of interest).
public final class HTTPServer: Sendable {
    private let serverChannel: any Channel
    private let connections: Connections
    public let port: Int
    public let host: String

    public var baseURL: String { "\(secure ? "https" : "http")://\(host.contains(":") ? "[\(host)]" : host):\(port)" }
    private let secure: Bool

    private init(serverChannel: any Channel, connections: Connections, host: String, port: Int, secure: Bool = false) {
        self.serverChannel = serverChannel
        self.connections = connections
        self.host = host
        self.port = port
        self.secure = secure
    }

    /// - Parameter tls: serve HTTPS with this PEM certificate chain and key
    ///   (tests of a company CA, `[http] ca_file`); plain HTTP when nil.
    public static func start(
        host: String = "127.0.0.1",
        port: Int = 0,
        limits: ServerLimits = .none,
        tls: (certificateFile: String, keyFile: String)? = nil,
        handler: @escaping @Sendable (ServerRequest) async -> ServerResponse
    ) async throws -> HTTPServer {
        let connections = Connections(limit: limits.maxConnections)
        let sslContext = try tls.map { files in
            try NIOSSLContext(configuration: .makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(files.certificateFile).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: files.keyFile, format: .pem))))
        }
        // The process-wide group: servers come and go by the hundred in tests, and
        // a group per server would cost threads and a shutdown each.
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                connections.add(channel)
                if let age = limits.maxConnectionAge {
                    channel.eventLoop.scheduleTask(in: .nanoseconds(age.totalNanoseconds)) { channel.close(promise: nil) }
                }
                return channel.eventLoop.makeCompletedFuture {
                    if let sslContext { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext)) }
                    if let idle = limits.idleTimeout {
                        try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: .nanoseconds(idle.totalNanoseconds)))
                        try channel.pipeline.syncOperations.addHandler(CloseWhenIdle())
                    }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(ServerHandler(handler: handler, maxRequestBytes: limits.maxRequestBytes))
                }
            }
        let channel = try await bootstrap.bind(host: host, port: port).get()
        guard let bound = channel.localAddress?.port else {
            try? await channel.close()
            throw HTTPServerError.noLocalAddress
        }
        return HTTPServer(serverChannel: channel, connections: connections, host: host, port: bound, secure: sslContext != nil)
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

public enum HTTPServerError: Error, Sendable, CustomStringConvertible {
    case noLocalAddress

    public var description: String {
        switch self {
        case .noLocalAddress: "the simulator's socket has no local address"
        }
    }
}

/// The open child channels of one server, oldest first, so `shutdown` can
/// close them and a new connection beyond the limit closes the oldest.
private final class Connections: Sendable {
    private struct State {
        var open: [ObjectIdentifier: (order: Int, channel: any Channel)] = [:]
        var next = 0
    }

    private let state = Mutex(State())
    private let limit: Int

    init(limit: Int) { self.limit = max(1, limit) }

    func add(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        let evicted: (any Channel)? = state.withLock { s in
            var oldest: (any Channel)?
            if s.open.count >= limit, let victim = s.open.min(by: { $0.value.order < $1.value.order }) {
                s.open.removeValue(forKey: victim.key)
                oldest = victim.value.channel
            }
            s.open[id] = (s.next, channel)
            s.next += 1
            return oldest
        }
        evicted?.close(promise: nil)
        channel.closeFuture.whenComplete { [weak self] _ in
            _ = self?.state.withLock { $0.open.removeValue(forKey: id) }
        }
    }

    func drain() -> [any Channel] {
        state.withLock { s in
            defer { s.open.removeAll() }
            return s.open.values.map(\.channel)
        }
    }
}

/// Closes a connection the `IdleStateHandler` found silent.
private final class CloseWhenIdle: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}


/// Turns request parts into a `ServerRequest`, runs the async handler off the event
/// loop, and writes its response back on the loop.
private final class ServerHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let handler: @Sendable (ServerRequest) async -> ServerResponse
    private let maxRequestBytes: Int?
    private var requestBytes = 0
    private var head: HTTPRequestHead?
    /// The body so far, kept up to `maxKeptBodyBytes` (beyond, only counted).
    private var body: [UInt8] = []
    static let maxKeptBodyBytes = 1 << 20
    /// False once the channel is gone, so a late response is dropped rather than
    /// written into a removed context.
    private var active = true

    init(handler: @escaping @Sendable (ServerRequest) async -> ServerResponse, maxRequestBytes: Int?) {
        self.handler = handler
        self.maxRequestBytes = maxRequestBytes
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
        guard active else { return }
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = []
            requestBytes = h.uri.utf8.count + h.headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
            refuseIfTooLarge(context)
        case .body(let chunk):
            // The APIs served are GET-only; a body is counted, and kept (bounded) for a test's receiver.
            requestBytes += chunk.readableBytes
            if body.count + chunk.readableBytes <= Self.maxKeptBodyBytes { body += chunk.readableBytesView }
            refuseIfTooLarge(context)
        case .end:
            guard let h = head else { return }
            head = nil
            respond(to: h, context: context)
        }
    }

    /// A request past the cap: a 413, then the connection is closed, so the
    /// rest is never read.
    private func refuseIfTooLarge(_ context: ChannelHandlerContext) {
        guard let maxRequestBytes, requestBytes > maxRequestBytes else { return }
        head = nil
        write(ServerResponse(status: 413, headers: [("content-type", "text/plain")], body: Array("request too large\n".utf8)),
              keepAlive: false, version: .http1_1, context: context)
        active = false
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let (path, query) = ServerRequest.splitTarget(head.uri)
        let request = ServerRequest(
            method: head.method.rawValue,
            path: path,
            query: query,
            headers: head.headers.map { ($0.name, $0.value) },
            body: body
        )
        body = []
        let keepAlive = head.isKeepAlive
        let version = head.version
        let handler = self.handler
        let promise = context.eventLoop.makePromise(of: ServerResponse.self)
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

    private func write(_ response: ServerResponse, keepAlive: Bool, version: HTTPVersion, context: ChannelHandlerContext) {
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
