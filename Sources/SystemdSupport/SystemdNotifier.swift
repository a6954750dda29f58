#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `sd_notify(3)` protocol without libsystemd: one datagram of `KEY=value` lines
/// to the AF_UNIX socket named by `$NOTIFY_SOCKET`.
///
/// Every method is a no-op when `NOTIFY_SOCKET` is unset (not under systemd, or a
/// unit that is not `Type=notify`), so callers never need to ask. A value type with
/// no open file: each message opens, sends on and closes its own socket, as
/// libsystemd does, so copies can be used from any task at the same time.
public struct SystemdNotifier: Sendable {
    /// The socket address, or nil when not under systemd.
    private let socketPath: SocketPath?

    /// How often to send `watchdog()`: half of `WATCHDOG_USEC`, as `sd_watchdog_enabled(3)`
    /// recommends, so one late ping does not get the service killed. nil when the
    /// unit has no `WatchdogSec=`, or when `WATCHDOG_PID` names another process (we
    /// inherited the variables from a parent that is the one being watched).
    public var watchdogInterval: Duration?

    /// Whether messages go anywhere (`NOTIFY_SOCKET` is set and usable).
    public var isEnabled: Bool { socketPath != nil }

    public init(environment: [String: String]) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap(SocketPath.init)
        watchdogInterval = Self.watchdogInterval(environment: environment, pid: Int(getpid()))
    }

    static func watchdogInterval(environment: [String: String], pid: Int) -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], let usec = UInt64(text), usec > 0 else { return nil }
        if let owner = environment["WATCHDOG_PID"], !owner.isEmpty {
            guard Int(owner) == pid else { return nil }
        }
        return .microseconds(Int64(clamping: usec / 2))
    }

    /// `READY=1`: startup is complete (config read, database open); systemd now
    /// considers the service started and `systemctl start` returns.
    public func ready() { notify("READY=1") }

    /// `STATUS=…`: one line shown by `systemctl status`, e.g. "syncing 3 orgs".
    public func status(_ text: String) { notify("STATUS=" + Self.oneLine(text)) }

    /// `WATCHDOG=1`: the keep-alive ping, every `watchdogInterval`.
    public func watchdog() { notify("WATCHDOG=1") }

    /// `STOPPING=1`: shutdown has begun, so systemd shows "deactivating" rather than a hang.
    public func stopping() { notify("STOPPING=1") }

    /// `EXTEND_TIMEOUT_USEC=…`: asks for more time to start or stop, e.g. during a long
    /// database migration, so `TimeoutStartSec=` does not kill us mid-way.
    public func extendTimeout(by duration: Duration) {
        let (seconds, attoseconds) = duration.components
        let usec = max(0, seconds) &* 1_000_000 &+ attoseconds / 1_000_000_000_000
        notify("EXTEND_TIMEOUT_USEC=\(usec)")
    }

    /// Sends `raw` as is: one or more `KEY=value` lines separated by `\n`.
    ///
    /// Failures are ignored on purpose: notifications are advisory, and a daemon that
    /// cannot reach systemd (manager restarting, socket buffer full) must keep syncing.
    /// If it matters, systemd notices by itself: a missing `READY=1` fails the start
    /// after `TimeoutStartSec=`, missing pings trip the watchdog. The result says
    /// whether the datagram went out, for tests and debugging only.
    @discardableResult
    public func notify(_ raw: String) -> Bool {
        guard let socketPath else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var message = Array(raw.utf8)
        let sent = socketPath.withSockAddr { address, length in
            message.withUnsafeMutableBytes { bytes in
                // MSG_NOSIGNAL: never die of SIGPIPE for a log-like message.
                sendto(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL), address, length)
            }
        }
        return sent == message.count
    }

    /// A `STATUS=` value must stay on one line: a newline would start a new
    /// assignment that systemd would try to interpret.
    static func oneLine(_ text: String) -> String {
        String(text.map { $0 == "\n" || $0 == "\r" || $0 == "\r\n" ? " " : $0 })
    }
}

/// `$NOTIFY_SOCKET` as a `sockaddr_un`: a filesystem path (`/run/systemd/notify`), or
/// an abstract-namespace name written with a leading `@`, which becomes a leading
/// NUL byte in `sun_path`.
struct SocketPath: Sendable {
    /// The bytes of `sun_path`, without terminator.
    let bytes: [UInt8]

    init?(_ text: String) {
        var bytes = Array(text.utf8)
        switch bytes.first {
        case UInt8(ascii: "/"): break
        case UInt8(ascii: "@"): bytes[0] = 0
        default: return nil  // e.g. systemd's "vsock:" sockets, which we do not speak
        }
        // sun_path holds 108 bytes, including the terminator of a filesystem path.
        guard bytes.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else { return nil }
        self.bytes = bytes
    }

    func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { path in
            path.copyBytes(from: bytes)
            // The rest of sun_path is already zero: a path is NUL-terminated.
        }
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)!
        // An abstract name's length is exact (its bytes may contain anything); a path
        // includes its terminating NUL, as libsystemd sends it.
        let length = pathOffset + bytes.count + (bytes.first == 0 ? 0 : 1)
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(length)) }
        }
    }
}
