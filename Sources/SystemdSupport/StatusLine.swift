#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The one live status line at the bottom of a terminal (a backfill's
/// progress), shared with the log handler the way cargo and apt do it: a log
/// line written while the status line is shown first clears it, then the
/// status line is drawn again below. All writes to standard error go through
/// one lock, so a frame and a log line never share a line.
public final class StatusLine: Sendable {
    /// The process's standard error.
    public static let standardError = StatusLine(write: { CostsyncLogHandler.writeAll(fd: 2, $0) })

    private let shown = Mutex<String?>(nil)
    private let write: @Sendable (String) -> Void

    /// "Carriage return, erase to the end of the line": the start of every frame.
    static let erase = "\r\u{1B}[K"

    public init(write: @escaping @Sendable (String) -> Void) { self.write = write }

    /// Draws `line` in place of the current frame.
    public func show(_ line: String) {
        shown.withLock { current in
            current = line
            write(Self.erase + line)
        }
    }

    /// Draws `line` one last time and ends it with a newline: the final state
    /// stays on screen, and later output starts below it.
    public func finish(_ line: String) {
        shown.withLock { current in
            current = nil
            write(Self.erase + line + "\n")
        }
    }

    /// Writes a finished log line (newline included) above the status line.
    public func log(_ text: String) {
        shown.withLock { current in
            guard let frame = current else { return write(text) }
            write(Self.erase + text + frame)
        }
    }
}
