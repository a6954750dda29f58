/// Why a command failed, and so its exit status (sysexits where one fits).
public enum AppError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The config is unusable: the message names the file, the key and the fix. Exit 78 (EX_CONFIG).
    case config(String)
    /// The command line asks for something impossible. Exit 64 (EX_USAGE).
    case usage(String)
    /// Anything else. Exit 1. Nil when the failure was already reported line by line.
    case failed(String?)

    public var exitCode: Int32 {
        switch self {
        case .config: 78
        case .usage: 64
        case .failed: 1
        }
    }

    /// The line to print, if any.
    public var message: String? {
        switch self {
        case .config(let text), .usage(let text): text
        case .failed(let text): text
        }
    }

    public var description: String { message ?? "failed" }
}
