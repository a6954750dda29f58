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
        var drewLine = false
    }

    private let state = Mutex(State())
    private let start = ContinuousClock.now
    private let isTerminal = isatty(2) == 1
    private let totalOrgs: Int
    private let logger: Logger

    init(totalOrgs: Int, logger: Logger) {
        self.totalOrgs = totalOrgs
        self.logger = logger
    }

    func record(_ event: ProgressEvent) {
        let now = ContinuousClock.now
        let (line, draw): (String, Bool) = state.withLock { s in
            s.perOrg["\(event.key)"] = event
            let interval: Duration = isTerminal ? .milliseconds(200) : .seconds(10)
            guard s.lastDraw.map({ now - $0 >= interval }) ?? true else { return ("", false) }
            s.lastDraw = now
            s.drewLine = isTerminal
            return (Self.line(s.perOrg.values, elapsed: now - start), true)
        }
        guard draw else { return }
        if isTerminal {
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
        } else {
            logger.info("backfill progress", metadata: ["progress": "\(line)"])
        }
    }

    func finish() {
        let drew = state.withLock { $0.drewLine }
        if drew { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    static func line(_ events: some Collection<ProgressEvent>, elapsed: Duration) -> String {
        let done = events.reduce(0) { $0 + $1.daysWritten }
        let planned = events.reduce(0) { $0 + $1.daysPlanned }
        let rows = events.reduce(0) { $0 + $1.rowsWritten }
        let seconds = max(0.001, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        let rate = Int(Double(rows) / seconds)
        var text = "backfill: \(done)/\(planned) days, \(rows) rows, \(rate) rows/s"
        if done > 0 && planned > done {
            let eta = Int(seconds / Double(done) * Double(planned - done))
            text += ", ETA \(eta / 60)m\(String(format: "%02d", eta % 60))s"
        }
        return text
    }
}
