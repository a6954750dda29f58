import ProcessHarness
import CostModel
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A stand-in for systemd's notification socket: an AF_UNIX datagram socket
/// at a path, whose messages are collected on a thread of its own.
final class NotifySocket: Sendable {
    let path: String
    private let fd: Int32
    private let messages = Mutex<[String]>([])
    private let stopped = Mutex(false)

    init(path: String) throws {
        self.path = path
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket(): errno \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw HarnessError("socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw HarnessError("bind(\(path)): errno \(errno)")
        }
        // Wake up every 100 ms to notice `stop()`.
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        self.fd = fd
        Thread.detachNewThread { [self] in
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !stopped.withLock({ $0 }) {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n > 0 {
                    let text = String(decoding: buffer[0..<n], as: UTF8.self)
                    messages.withLock { $0.append(text) }
                }
            }
            close(fd)
        }
    }

    /// Every datagram so far, each split into its `KEY=value` lines.
    var received: [String] { messages.withLock { $0.flatMap { $0.split(separator: "\n").map(String.init) } } }

    func stop() { stopped.withLock { $0 = true } }
}

extension EndToEnd {
    @Suite("systemd")
    struct Systemd {
        @Test("under systemd, run says READY=1, pings the watchdog, reports STATUS and says STOPPING=1 on SIGTERM")
        func notifySocket() async throws {
            let today = pinnedToday
            try await Fixture.with(smallWorld(today: today, linesPerDay: 10),
                                   sync: SyncSection(pollInterval: "1h", startDate: today.advanced(by: -9))) { fx in
                let socket = try NotifySocket(path: fx.directory.appendingPathComponent("notify.sock").path)
                defer { socket.stop() }
                // A watchdog of 400 ms: costsync pings every 200 ms.
                let daemon = try fx.start(["run"], env: ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "400000"])
                let passed = await eventually(timeout: .seconds(60)) {
                    socket.received.contains { $0.hasPrefix("STATUS=last pass") }
                }
                // Idle between polls, the watchdog keeps being fed: three more
                // pings arrive (read off the socket, however slow the machine).
                let pingsBefore = socket.received.filter { $0 == "WATCHDOG=1" }.count
                let fed = await eventually(timeout: .seconds(30)) {
                    socket.received.filter { $0 == "WATCHDOG=1" }.count >= pingsBefore + 3
                }
                daemon.signal(SIGTERM)
                let result = await daemon.wait(timeout: .seconds(30))
                #expect(result.exitedNormally && result.status == 0, "\(result)")
                try #require(passed, "no STATUS after the first pass: \(socket.received)\n\(result)")
                // Give the last datagram a moment to be read.
                _ = await eventually(timeout: .seconds(2)) { socket.received.contains("STOPPING=1") }

                let messages = socket.received
                let ready = try #require(messages.firstIndex(of: "READY=1"), "\(messages)")
                let status = try #require(messages.firstIndex { $0.hasPrefix("STATUS=last pass") })
                #expect(ready < status)
                #expect(messages.contains { $0.hasPrefix("STATUS=") && $0.contains("4 orgs ok") }, "\(messages)")
                #expect(fed, "fewer than 3 watchdog pings while idle: \(messages.filter { $0 == "WATCHDOG=1" }.count - pingsBefore)")
                #expect(messages.last == "STOPPING=1", "\(messages.suffix(5))")
            }
        }
    }
}
