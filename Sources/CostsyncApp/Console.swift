import Foundation
import SystemdSupport

/// Where a command's output goes: stdout for results, stderr for messages.
/// A port, so that tests driving commands in-process can read what a user
/// would see.
public struct Console: Sendable {
    private let writeOut: @Sendable (String) -> Void
    private let writeErr: @Sendable (String) -> Void
    private let statusLine: StatusLine
    /// Whether stderr is a terminal, where a progress line can be redrawn in place.
    public let isTerminal: Bool

    /// - Parameter statusLine: the live line on the terminal; by default one
    ///   drawn through `err`.
    public init(isTerminal: Bool, out: @escaping @Sendable (String) -> Void, err: @escaping @Sendable (String) -> Void,
                statusLine: StatusLine? = nil) {
        self.isTerminal = isTerminal
        self.writeOut = out
        self.statusLine = statusLine ?? StatusLine(write: err)
        let line = self.statusLine
        // Messages go above a shown status line, like log lines.
        self.writeErr = { line.log($0) }
    }

    /// The process's own stdout and stderr, unbuffered: instructions must show
    /// while a command keeps running, also when stdout is a pipe (tee, CI
    /// logs), where `print` would sit in stdio's buffer until exit.
    public static let standard = Console(
        isTerminal: isatty(2) == 1,
        out: { FileHandle.standardOutput.write(Data($0.utf8)) },
        err: { FileHandle.standardError.write(Data($0.utf8)) },
        statusLine: .standardError)

    /// A line to stdout.
    public func print(_ line: String) { writeOut(line + "\n") }
    /// A line to stderr.
    public func error(_ line: String) { writeErr(line + "\n") }
    /// Draws the live status line (terminals only).
    public func status(_ line: String) { statusLine.show(line) }
    /// Draws the status line in its final state and ends it.
    public func finishStatus(_ line: String) { statusLine.finish(line) }
}
