import Foundation

/// Where a command's output goes: stdout for results, stderr for messages.
/// A port, so that tests driving commands in-process can read what a user
/// would see.
public struct Console: Sendable {
    private let writeOut: @Sendable (String) -> Void
    private let writeErr: @Sendable (String) -> Void
    /// Whether stderr is a terminal, where a progress line can be redrawn in place.
    public let isTerminal: Bool

    public init(isTerminal: Bool, out: @escaping @Sendable (String) -> Void, err: @escaping @Sendable (String) -> Void) {
        self.isTerminal = isTerminal
        self.writeOut = out
        self.writeErr = err
    }

    /// The process's own stdout and stderr, unbuffered: instructions must show
    /// while a command keeps running, also when stdout is a pipe (tee, CI
    /// logs), where `print` would sit in stdio's buffer until exit.
    public static let standard = Console(
        isTerminal: isatty(2) == 1,
        out: { FileHandle.standardOutput.write(Data($0.utf8)) },
        err: { FileHandle.standardError.write(Data($0.utf8)) })

    /// A line to stdout.
    public func print(_ line: String) { writeOut(line + "\n") }
    /// A line to stderr.
    public func error(_ line: String) { writeErr(line + "\n") }
    /// Raw text to stderr (a progress frame with its control sequences).
    public func rawError(_ text: String) { writeErr(text) }
}
