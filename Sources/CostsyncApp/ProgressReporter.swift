import Foundation
import Logging
import Synchronization
import SyncEngine

/// Shows a backfill's progress: a live line redrawn in place on a terminal,
/// plain periodic log lines otherwise (journald, a pipe, CI logs).
final class ProgressReporter: Sendable {
    private struct State {
        var perOrg: [String: ProgressEvent] = [:]
        var lastDraw: ContinuousClock.Instant?
    }

    private let state = Mutex(State())
    private let start = ContinuousClock.now
    private let console: Console
    private var isTerminal: Bool { console.isTerminal }
    private let logger: Logger

    init(console: Console, logger: Logger) {
        self.console = console
        self.logger = logger
    }

    /// Runs `work` while the line is shown; on a terminal it is redrawn four
    /// times a second (rate and ETA move while a slow page downloads), and
    /// drawn in its final state when the work ends.
    func showing<T: Sendable>(_ work: () async throws -> T) async rethrows -> T {
        defer { finish() }
        guard isTerminal else { return try await work() }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(250))
                    redraw(nil)
                }
            }
            defer { group.cancelAll() }
            return try await work()
        }
    }

    func record(_ event: ProgressEvent) { redraw(event) }

    private func redraw(_ event: ProgressEvent?) {
        let now = ContinuousClock.now
        let (line, draw): (String, Bool) = state.withLock { s in
            if let event { s.perOrg["\(event.key)"] = event }
            guard !s.perOrg.isEmpty else { return ("", false) }
            let interval: Duration = isTerminal ? .milliseconds(200) : .seconds(10)
            guard s.lastDraw.map({ now - $0 >= interval }) ?? true else { return ("", false) }
            s.lastDraw = now
            return (Self.line(s.perOrg.values, elapsed: now - start), true)
        }
        guard draw else { return }
        if isTerminal {
            console.status(line)
        } else {
            logger.info("backfill progress", metadata: ["progress": "\(line)"])
        }
    }

    /// Draws the final state once more (`N/N days`), so the last frame on
    /// screen is never a stale one, then ends the line.
    private func finish() {
        let line = state.withLock { Self.line($0.perOrg.values, elapsed: ContinuousClock.now - start) }
        if isTerminal {
            console.finishStatus(line)
        } else {
            logger.info("backfill progress", metadata: ["progress": "\(line)"])
        }
    }

    static func line(_ events: some Collection<ProgressEvent>, elapsed: Duration) -> String {
        let done = events.reduce(0) { $0 + $1.daysWritten }
        let planned = events.reduce(0) { $0 + $1.daysPlanned }
        let rows = events.reduce(0) { $0 + $1.rowsSeen }
        // Whole milliseconds are precise enough for a progress line.
        let ms = max(1, Int(elapsed.components.seconds) * 1000 + Int(elapsed.components.attoseconds / 1_000_000_000_000_000))
        var text = "backfill: \(done)/\(planned) days, \(rows) rows, \(rows * 1000 / ms) rows/s"
        if done > 0 && planned > done {
            let eta = ms * (planned - done) / done / 1000
            text += ", ETA \(eta / 60)m\(eta % 60 < 10 ? "0" : "")\(eta % 60)s"
        }
        return text
    }
}
