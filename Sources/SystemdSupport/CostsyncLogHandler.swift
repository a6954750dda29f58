public import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A swift-log handler that writes one event per line to standard error, in one of
/// two shapes:
///
/// - plain (a terminal, a file, docker):
///   `2026-01-02T03:04:05Z info costsync: day replaced day=2025-03-01 org=acme provider=anthropic`
/// - journald (stderr is the journal, `$JOURNAL_STREAM`):
///   `<6>day replaced day=2025-03-01 org=acme provider=anthropic`
///   The `<N>` prefix is the syslog priority, which journald strips and stores as
///   `PRIORITY=`, so `journalctl -p warning` works; the journal adds its own timestamp.
///
/// Metadata is sorted by key; a value with spaces, quotes, `=` or nothing at all is
/// double-quoted, and line breaks are escaped, so that each event is exactly one line
/// and `key=value` can be split mechanically.
///
/// Value semantics, as `LogHandler` requires: a copy is independent. Changing the
/// level or metadata of one `Logger` (for instance adding `org` for one org's sync)
/// never changes another's; only the output destination is shared.
public struct CostsyncLogHandler: LogHandler {
    /// The line shapes above.
    public enum Format: Sendable, Equatable {
        case plain
        case journald

        /// journald when `$JOURNAL_STREAM` is set. When `standardErrorFD` is given, the
        /// variable must also match that descriptor's device and inode, as
        /// systemd.exec(5) advises: the variable is inherited by children, such as a
        /// `costsync status` run from a shell whose stderr is a terminal.
        public static func detect(environment: [String: String], standardErrorFD: Int32? = 2) -> Format {
            guard let stream = environment["JOURNAL_STREAM"], !stream.isEmpty else { return .plain }
            guard let fd = standardErrorFD else { return .journald }
            let parts = stream.split(separator: ":")
            guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return .plain }
            var info = stat()
            guard fstat(fd, &info) == 0 else { return .plain }
            return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode ? .journald : .plain
        }
    }

    /// Where finished lines go: called once per event with the whole line, newline included.
    public typealias Output = @Sendable (_ line: String) -> Void

    public let label: String
    public let format: Format
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let output: Output
    private let clock: @Sendable () -> Int64

    /// - Parameters:
    ///   - output: defaults to `standardError`; tests pass a closure that collects lines.
    ///   - clock: seconds since the epoch for plain timestamps; injectable for tests.
    public init(label: String, level: Logger.Level = .info, format: Format,
                metadataProvider: Logger.MetadataProvider? = nil,
                output: @escaping Output = CostsyncLogHandler.standardError,
                clock: @escaping @Sendable () -> Int64 = { Int64(time(nil)) }) {
        self.label = label
        self.logLevel = level
        self.format = format
        self.metadataProvider = metadataProvider
        self.output = output
        self.clock = clock
    }

    /// The factory `main` hands to `LoggingSystem.bootstrap(_:metadataProvider:)`,
    /// choosing the format from the environment:
    ///
    ///     LoggingSystem.bootstrap(
    ///         CostsyncLogHandler.bootstrapFactory(environment: env, level: level), metadataProvider: nil)
    ///
    /// With a custom `output`, the journald check trusts `$JOURNAL_STREAM` alone (there
    /// is no descriptor to compare it with).
    public static func bootstrapFactory(environment: [String: String], level: Logger.Level,
                                        output: Output? = nil)
        -> @Sendable (String, Logger.MetadataProvider?) -> any LogHandler
    {
        let format = Format.detect(environment: environment, standardErrorFD: output == nil ? 2 : nil)
        let output = output ?? CostsyncLogHandler.standardError
        return { label, provider in
            CostsyncLogHandler(label: label, level: level, format: format, metadataProvider: provider, output: output)
        }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get(), !provided.isEmpty {
            merged.merge(provided) { _, new in new }
        }
        if let explicit = event.metadata, !explicit.isEmpty {
            merged.merge(explicit) { _, new in new }
        }
        if let error = event.error, merged["error"] == nil {
            merged["error"] = "\(error)"
        }
        output(render(level: event.level, message: event.message.description, metadata: merged))
    }

    /// One finished line, newline included.
    func render(level: Logger.Level, message: String, metadata: Logger.Metadata) -> String {
        var line = ""
        switch format {
        case .journald:
            line += "<\(Self.syslogPriority(level))>"
        case .plain:
            line += Self.timestamp(clock()) + " " + level.rawValue + " " + (label.isEmpty ? "" : label + ": ")
        }
        line += Self.escapeLineBreaks(message)
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            line += " " + key + "=" + Self.quoted(value.description)
        }
        line += "\n"
        return line
    }

    /// syslog(3) priorities, as journald reads them from the `<N>` prefix.
    public static func syslogPriority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7  // LOG_DEBUG
        case .info: 6  // LOG_INFO
        case .notice: 5  // LOG_NOTICE
        case .warning: 4  // LOG_WARNING
        case .error: 3  // LOG_ERR
        case .critical: 2  // LOG_CRIT
        }
    }

    /// `2026-01-02T03:04:05Z`: UTC, like every day and time costsync stores, so log
    /// lines and `fetched_at` can be compared without a time zone.
    static func timestamp(_ secondsSinceEpoch: Int64) -> String {
        var t = time_t(secondsSinceEpoch)
        var parts = tm()
        guard gmtime_r(&t, &parts) != nil else { return "?" }
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return pad(parts.tm_year + 1900, 4) + "-" + pad(parts.tm_mon + 1, 2) + "-" + pad(parts.tm_mday, 2) + "T"
            + pad(parts.tm_hour, 2) + ":" + pad(parts.tm_min, 2) + ":" + pad(parts.tm_sec, 2) + "Z"
    }

    /// A metadata value as it appears after `key=`: bare when it is a plain token,
    /// else double-quoted with `\` and `"` escaped.
    static func quoted(_ value: String) -> String {
        let needsQuotes = value.isEmpty || value.unicodeScalars.contains {
            $0 == " " || $0 == "\"" || $0 == "=" || $0 == "\\" || $0.value < 0x20 || $0.value == 0x7F
        }
        guard needsQuotes else { return value }
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default: out += escapeLineBreaks(String(scalar))
            }
        }
        return out + "\""
    }

    /// One event must stay one line: journald would split the rest into events of
    /// their own, without our priority.
    static func escapeLineBreaks(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                out += "\\u{" + String(scalar.value, radix: 16) + "}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Writes the line to file descriptor 2 with write(2), unbuffered: one call per
    /// line, so lines written concurrently by several tasks do not interleave (a pipe
    /// or the journal's stream socket takes a write of up to PIPE_BUF, 4 KiB, whole),
    /// and nothing is lost in a buffer if the process is killed.
    /// Shares standard error with the terminal's `StatusLine`, which clears
    /// and redraws a progress frame around each line.
    public static let standardError: Output = { line in StatusLine.standardError.log(line) }

    /// Writes each line to `fd` as `standardError` does; the descriptor stays open and
    /// owned by the caller.
    public static func fileDescriptor(_ fd: Int32) -> Output {
        { line in writeAll(fd: fd, line) }
    }

    static func writeAll(fd: Int32, _ line: String) {
        var line = line
        line.withUTF8 { bytes in
            var offset = 0
            var attempts = 0
            // Bounded retries: a short write continues where it stopped, EINTR is
            // retried, and anything else (EPIPE, a full non-blocking pipe) drops the
            // rest of the line, since there is nowhere left to report it.
            while offset < bytes.count, attempts < 64 {
                attempts += 1
                let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n > 0 {
                    offset += n
                } else if n < 0, errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
    }
}
