import CostModel
import StorePort
import Foundation

/// `costsync status` output, as text for people and JSON for scripts.
enum StatusFormat {
    static func text(_ states: [OrgSyncState]) -> String {
        states.map { s in
            var lines = ["\(s.key.org) (\(s.key.provider))"]
            lines.append("  cursor (first day not final): \(s.nextDay.map { "\($0)" } ?? "never synced")")
            lines.append("  last success: \(s.lastSuccessAt ?? "never")   last attempt: \(s.lastAttemptAt ?? "never")")
            if let error = s.lastError {
                lines.append("  last error (\(s.consecutiveFailures) in a row): \(error)")
            }
            lines.append("  stored: \(s.daysStored) days, \(s.rowsStored) rows\(s.firstDay.map { ", from \($0)" } ?? "")")
            let gapDays = s.gaps.reduce(0) { $0 + $1.count }
            lines.append(s.gaps.isEmpty ? "  gaps: none"
                         : "  gaps: \(gapDays) days in \(s.gaps.count) ranges: " + s.gaps.prefix(10).map { $0.count == 1 ? "\($0.first)" : "\($0)" }.joined(separator: ", ")
                           + (s.gaps.count > 10 ? ", …" : "") + " (fill them with costsync backfill)")
            return lines.joined(separator: "\n")
        }.joined(separator: "\n\n")
    }

    private struct JSONState: Encodable {
        var provider: String
        var org: String
        var next_day: String?
        var last_attempt_at: String?
        var last_success_at: String?
        var last_error: String?
        var consecutive_failures: Int
        var days_stored: Int
        var rows_stored: Int
        var first_day: String?
        var gaps: [[String]]
    }

    static func json(_ states: [OrgSyncState]) -> String {
        let rows = states.map { s in
            JSONState(provider: s.key.provider.rawValue, org: s.key.org, next_day: s.nextDay?.description,
                      last_attempt_at: s.lastAttemptAt, last_success_at: s.lastSuccessAt, last_error: s.lastError,
                      consecutive_failures: s.consecutiveFailures, days_stored: s.daysStored, rows_stored: s.rowsStored,
                      first_day: s.firstDay?.description, gaps: s.gaps.map { [$0.first.description, $0.last.description] })
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: (try? encoder.encode(rows)) ?? Data("[]".utf8), as: UTF8.self)
    }
}
