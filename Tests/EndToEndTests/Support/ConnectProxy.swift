import ProcessHarness
import Foundation
import Synchronization

/// An HTTP proxy on loopback that speaks `CONNECT` (what AsyncHTTPClient
/// sends for every proxied request) and relays bytes both ways, recording
/// each tunnel's target and `Proxy-Authorization`. Plain POSIX sockets and
/// one thread per direction: a test helper, not a server.
final class ConnectProxy: Sendable {
    struct Tunnel: Sendable, Equatable {
        var target: String
        var authorization: String?
    }

    let port: Int
    private let listener: Int32
    private let tunnels = Mutex<[Tunnel]>([])

    var recorded: [Tunnel] { tunnels.withLock { $0 } }

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: \(errno)") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else { close(fd); throw HarnessError("bind/listen: \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    /// Stops accepting; tunnels already open end when their peers close.
    func stop() { shutdown(listener, Int32(SHUT_RDWR)); close(listener) }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            Thread { [self] in serve(client) }.start()
        }
    }

    private func serve(_ client: Int32) {
        var head = [UInt8]()
        var byte: UInt8 = 0
        while !head.suffix(4).elementsEqual([13, 10, 13, 10]) {
            guard read(client, &byte, 1) == 1, head.count < 16_384 else { close(client); return }
            head.append(byte)
        }
        let lines = String(decoding: head, as: UTF8.self).components(separatedBy: "\r\n")
        let request = lines[0].split(separator: " ")
        guard request.count == 3, request[0] == "CONNECT" else {
            _ = "HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n".withCString { write(client, $0, strlen($0)) }
            close(client)
            return
        }
        let target = String(request[1])
        let authorization = lines.first { $0.lowercased().hasPrefix("proxy-authorization:") }
            .map { String($0.dropFirst("proxy-authorization:".count)).trimmingCharacters(in: .whitespaces) }
        tunnels.withLock { $0.append(Tunnel(target: target, authorization: authorization)) }
        guard let colon = target.lastIndex(of: ":"), let port = UInt16(target[target.index(after: colon)...]) else { close(client); return }
        let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr(String(target[..<colon]))
        address.sin_port = port.bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            _ = "HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n".withCString { write(client, $0, strlen($0)) }
            close(client)
            close(upstream)
            return
        }
        _ = "HTTP/1.1 200 Connection Established\r\n\r\n".withCString { write(client, $0, strlen($0)) }
        let pair = TunnelEnds()
        Thread { ConnectProxy.pump(client, upstream, pair) }.start()
        ConnectProxy.pump(upstream, client, pair)
    }

    /// Both directions' ends: the second direction to finish closes both sockets.
    private final class TunnelEnds: Sendable {
        let finished = Mutex(0)
    }

    private static func pump(_ from: Int32, _ to: Int32, _ ends: TunnelEnds) {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(from, $0.baseAddress, $0.count) }
            guard n > 0 else { break }
            var sent = 0
            while sent < n {
                let m = buffer.withUnsafeBytes { write(to, $0.baseAddress! + sent, n - sent) }
                guard m > 0 else { break }
                sent += m
            }
        }
        shutdown(to, Int32(SHUT_WR))
        if ends.finished.withLock({ $0 += 1; return $0 }) == 2 {
            close(from)
            close(to)
        }
    }
}
