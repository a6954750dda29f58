import Foundation
import Logging
import Synchronization
import SystemdSupport
import Testing

/// Collects the lines a handler writes, in order.
final class LineSink: Sendable {
    private let storage = Mutex<[String]>([])
    var lines: [String] { storage.withLock { $0 } }
    var output: CostsyncLogHandler.Output { { line in self.storage.withLock { $0.append(line) } } }
}

/// 2026-01-02T03:04:05Z
let fixedClock: @Sendable () -> Int64 = { 1_767_323_045 }

func logger(_ sink: LineSink, format: CostsyncLogHandler.Format, level: Logger.Level = .trace) -> Logger {
    Logger(label: "costsync") { label in
        CostsyncLogHandler(label: label, level: level, format: format, output: sink.output, clock: fixedClock)
    }
}

@Suite("The log handler")
struct LogHandlerTests {
    @Test("plain lines start with a UTC timestamp, the level and the label")
    func plainLine() {
        let sink = LineSink()
        logger(sink, format: .plain).info("day replaced", metadata: ["org": "acme", "provider": "anthropic", "day": "2025-03-01"])
        #expect(sink.lines == ["2026-01-02T03:04:05Z info costsync: day replaced day=2025-03-01 org=acme provider=anthropic\n"])
    }

    @Test("journald lines carry the syslog priority and no timestamp", arguments: [
        (Logger.Level.trace, 7), (.debug, 7), (.info, 6), (.notice, 5), (.warning, 4), (.error, 3), (.critical, 2),
    ])
    func journaldPriority(level: Logger.Level, priority: Int) {
        let sink = LineSink()
        logger(sink, format: .journald).log(level: level, "day replaced", metadata: ["org": "acme"])
        #expect(sink.lines == ["<\(priority)>day replaced org=acme\n"])
    }

    @Test("metadata is sorted, and values with spaces, quotes or nothing are quoted")
    func metadataRendering() {
        let sink = LineSink()
        var log = logger(sink, format: .journald)
        log[metadataKey: "org"] = "acme"
        log.warning("org failed", metadata: [
            "error": "HTTP 401: invalid \"x-api-key\"", "http.status": "401", "empty": "", "path": "C:\\x",
        ])
        #expect(sink.lines == [
            "<4>org failed empty=\"\" error=\"HTTP 401: invalid \\\"x-api-key\\\"\" http.status=401 org=acme "
                + "path=\"C:\\\\x\"\n",
        ])
    }

    @Test("a line break in a message or value never splits the event")
    func oneLinePerEvent() {
        let sink = LineSink()
        logger(sink, format: .journald).error("bad response\nbody follows", metadata: ["body": "line1\nline2"])
        #expect(sink.lines == ["<3>bad response\\nbody follows body=\"line1\\nline2\"\n"])
    }

    @Test("per-call metadata overrides the logger's, and the error of an event is shown")
    func mergeOrder() {
        let sink = LineSink()
        var log = logger(sink, format: .journald)
        log[metadataKey: "day"] = "2025-01-01"
        log.info("x", metadata: ["day": "2025-01-02"])
        #expect(sink.lines == ["<6>x day=2025-01-02\n"])
    }

    @Test("a copy of the handler is independent: value semantics")
    func valueSemantics() {
        let sink = LineSink()
        var original = CostsyncLogHandler(label: "costsync", format: .journald, output: sink.output)
        original[metadataKey: "org"] = "acme"
        var copy = original
        copy[metadataKey: "org"] = "other"
        copy.logLevel = .error
        #expect(original[metadataKey: "org"] == "acme")
        #expect(original.logLevel == .info)
    }

    @Test("the logger's level filters events below it")
    func levelFilter() {
        let sink = LineSink()
        let log = logger(sink, format: .journald, level: .notice)
        log.info("hidden")
        log.notice("shown")
        #expect(sink.lines == ["<5>shown\n"])
    }

    @Test("the bootstrap factory picks journald from $JOURNAL_STREAM, else plain")
    func formatDetection() {
        let sink = LineSink()
        let journal = CostsyncLogHandler.bootstrapFactory(
            environment: ["JOURNAL_STREAM": "8:12345"], level: .info, output: sink.output)("costsync", nil)
        let plain = CostsyncLogHandler.bootstrapFactory(environment: [:], level: .info, output: sink.output)("costsync", nil)
        #expect((journal as? CostsyncLogHandler)?.format == .journald)
        #expect((plain as? CostsyncLogHandler)?.format == .plain)
        // Against the real stderr, an inherited $JOURNAL_STREAM of another file does not count.
        #expect(CostsyncLogHandler.Format.detect(environment: ["JOURNAL_STREAM": "0:1"]) == .plain)
    }

    @Test("lines written concurrently to a descriptor never interleave")
    func concurrentLines() async throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]) }
        let handler = CostsyncLogHandler(label: "costsync", format: .journald,
                                         output: CostsyncLogHandler.fileDescriptor(fds[1]))
        // 8 × 40 lines of ~120 bytes: well under the pipe's 64 KiB, so no reader is needed.
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    var log = Logger(label: "costsync") { _ in handler }
                    log[metadataKey: "task"] = "\(task)"
                    for i in 0..<40 {
                        log.info("day replaced", metadata: ["i": "\(i)", "pad": "\(String(repeating: "x", count: 80))"])
                    }
                }
            }
        }
        close(fds[1])
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fds[0], &buffer, buffer.count)
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 320)
        let pad = String(repeating: "x", count: 80)
        #expect(lines.allSatisfy { $0.hasPrefix("<6>day replaced i=") && $0.contains(" pad=\(pad) task=") })
    }
}

struct SocketSetupFailed: Error {}

/// A datagram socket bound in a fresh temp dir, standing in for systemd's notify socket.
final class NotifySocket {
    let fd: Int32
    let address: String
    let directory: String

    init(abstract: Bool = false) throws {
        var template = Array((NSTemporaryDirectory() + "/costsync-notify-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw SocketSetupFailed() }
        directory = String(cString: made)
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let name = abstract ? "costsync-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))" : directory + "/notify"
        var pathBytes = Array(name.utf8)
        if abstract { pathBytes.insert(0, at: 0) }
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: pathBytes) }
        let length = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + pathBytes.count + (abstract ? 0 : 1)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(length)) }
        }
        self.fd = fd
        address = abstract ? "@" + name : name
        guard fd >= 0, rc == 0 else { throw SocketSetupFailed() }
    }

    deinit {
        close(fd)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The next datagram, or nil if none is queued (never waits: a datagram sent on a
    /// local socket is queued before `sendto` returns).
    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        return n >= 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : nil
    }
}

@Suite("The systemd notifier")
struct NotifierTests {
    @Test("READY=1 and STATUS= arrive on the socket named by $NOTIFY_SOCKET")
    func sendsToPathSocket() throws {
        let socket = try NotifySocket()
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.address])
        #expect(notifier.isEnabled)
        notifier.ready()
        notifier.status("syncing 4 orgs")
        notifier.watchdog()
        notifier.stopping()
        #expect(socket.receive() == "READY=1")
        #expect(socket.receive() == "STATUS=syncing 4 orgs")
        #expect(socket.receive() == "WATCHDOG=1")
        #expect(socket.receive() == "STOPPING=1")
        #expect(socket.receive() == nil)
    }

    @Test("an abstract socket, written with a leading @, works too")
    func sendsToAbstractSocket() throws {
        let socket = try NotifySocket(abstract: true)
        SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.address]).ready()
        #expect(socket.receive() == "READY=1")
    }

    @Test("a status stays on one line")
    func statusOneLine() throws {
        let socket = try NotifySocket()
        SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.address]).status("a\nREADY=1")
        #expect(socket.receive() == "STATUS=a READY=1")
    }

    @Test("without $NOTIFY_SOCKET every call is a no-op")
    func noSocket() {
        let notifier = SystemdNotifier(environment: [:])
        #expect(!notifier.isEnabled)
        notifier.ready()
        notifier.status("x")
        #expect(notifier.watchdogInterval == nil)
    }

    @Test("a socket that is gone is ignored: the send fails quietly and the next one to a live socket arrives")
    func goneSocket() throws {
        let gone = SystemdNotifier(environment: ["NOTIFY_SOCKET": "/nonexistent/notify"])
        #expect(gone.isEnabled)
        #expect(!gone.notify("READY=1"))
        gone.ready()  // no crash, no throw, no SIGPIPE
        let socket = try NotifySocket()
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.address]).notify("READY=1"))
        #expect(socket.receive() == "READY=1")
    }

    @Test("a slow start asks systemd for more time in microseconds")
    func extendTimeout() throws {
        let socket = try NotifySocket()
        SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.address]).extendTimeout(by: .seconds(300))
        #expect(socket.receive() == "EXTEND_TIMEOUT_USEC=300000000")
    }

    @Test("the watchdog interval is half of WATCHDOG_USEC")
    func watchdogInterval() {
        let notifier = SystemdNotifier(environment: ["WATCHDOG_USEC": "300000000"])
        #expect(notifier.watchdogInterval == .seconds(150))
        let mine = SystemdNotifier(environment: ["WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "\(getpid())"])
        #expect(mine.watchdogInterval == .seconds(1))
    }

    @Test("the watchdog is off for another process's WATCHDOG_PID, or a bad WATCHDOG_USEC", arguments: [
        ["WATCHDOG_USEC": "300000000", "WATCHDOG_PID": "4194305"], ["WATCHDOG_USEC": "0"], ["WATCHDOG_USEC": "soon"],
    ])
    func watchdogOff(environment: [String: String]) {
        #expect(SystemdNotifier(environment: environment).watchdogInterval == nil)
    }
}
