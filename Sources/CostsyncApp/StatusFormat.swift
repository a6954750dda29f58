import CostModel
import Foundation
import StorePort

/// Whether an org is in good health, and if not, why: the one rule behind
/// `costsync status`'s exit status (and anything else that asks).
struct OrgHealth: Sendable, Equatable {
    var state: OrgSyncState
    /// Each a sentence a person can act on; empty when healthy.
    var problems: [String]
    var healthy: Bool { problems.isEmpty }

    /// - Parameters:
    ///   - now: the app's clock, so a pinned `COSTSYNC_NOW` judges staleness too.
    ///   - pollInterval: an org whose last success is older than three of these is stale.
    ///   - maxPendingDays: a stored day not final after this many days is a problem.
    init(_ state: OrgSyncState, now: Timestamp, pollInterval: Duration, maxPendingDays: Int) {
        self.state = state
        var problems: [String] = []
        if let error = state.lastError {
            problems.append("the last sync failed (\(state.consecutiveFailures) in a row): \(error)")
        }
        let staleAfter = 3 * pollInterval.components.seconds
        if let success = state.lastSuccessAt.flatMap({ Timestamp(rfc3339: $0) }) {
            let age = now.secondsSinceEpoch - success.secondsSinceEpoch
            if age > staleAfter {
                problems.append("the last successful sync was \(Self.hours(age)) ago, more than three poll intervals")
            }
        } else {
            problems.append(state.lastAttemptAt == nil ? "it has never been synced" : "it has never synced successfully")
        }
        if let pending = state.oldestPendingDay, pending < now.day.advanced(by: -maxPendingDays) {
            problems.append("day \(pending) is still not final after \(pending.distance(to: now.day)) days (max_pending_days = \(maxPendingDays))")
        }
        if let first = state.mismatches.first {
            problems.append("the provider's total disagrees with its records on \(state.mismatches.count) day(s), first \(first.day): "
                            + "grandTotalCHC \(first.providerTotal), records \(first.recordsTotal)")
        }
        self.problems = problems
    }

    private static func hours(_ seconds: Int64) -> String {
        seconds >= 7200 ? "\(seconds / 3600) hours" : "\(seconds / 60) minutes"
    }
}

/// `costsync status` output, as text for people and JSON for scripts.
enum StatusFormat {
    static func text(_ orgs: [OrgHealth], targets: [TargetHealth] = []) -> String {
        let unhealthy = orgs.filter { !$0.healthy }
        var out = [unhealthy.isEmpty ? "healthy: all \(orgs.count) orgs" : "UNHEALTHY: \(unhealthy.count) of \(orgs.count) orgs have problems"]
        for health in orgs {
            let s = health.state
            var lines = ["", "\(s.key.org) (\(s.key.provider)): \(health.healthy ? "ok" : "PROBLEM")"]
            lines += health.problems.map { "  problem: \($0)" }
            lines.append("  cursor (first day not final): \(s.nextDay.map { "\($0)" } ?? "never synced")")
            lines.append("  last success: \(s.lastSuccessAt ?? "never")   last attempt: \(s.lastAttemptAt ?? "never")")
            if let error = s.lastError {
                lines.append("  last error (\(s.consecutiveFailures) in a row): \(error)")
            }
            lines.append("  stored: \(s.daysStored) days, \(s.rowsStored) rows\(s.firstDay.map { ", from \($0)" } ?? "")")
            if let pending = s.oldestPendingDay { lines.append("  oldest day not final: \(pending)") }
            lines.append("  revisions in the last 7 days: \(s.revisionsLast7Days); a final day last changed: \(s.lastFinalDayChangeAt ?? "never")"
                         + (s.revisionsLast7Days > 0 ? " (costsync history)" : ""))
            if !s.emptyingsPending.isEmpty {
                lines.append("  held until the next poll confirms an empty answer: " + s.emptyingsPending.map(\.description).joined(separator: ", "))
            }
            let gapDays = s.gaps.reduce(0) { $0 + $1.count }
            lines.append(s.gaps.isEmpty ? "  gaps: none"
                         : "  gaps: \(gapDays) days in \(s.gaps.count) ranges: " + s.gaps.prefix(10).map { $0.count == 1 ? "\($0.first)" : "\($0)" }.joined(separator: ", ")
                           + (s.gaps.count > 10 ? ", …" : "") + " (fill them with costsync backfill)")
            out += lines
        }
        out += targetLines(targets)
        return out.joined(separator: "\n")
    }

    /// Every key for every org, `null` where unknown, so a script can rely on
    /// the shape; documented in the README.
    private struct Report: Encodable {
        var healthy: Bool
        var orgs: [Org]
        /// Issue 14: each `[[notify]]` target (absent without targets).
        var notify_targets: [TargetReport]?

        struct Org: Encodable {
            var health: OrgHealth

            enum Key: String, CodingKey {
                case provider, org, healthy, problems, next_day, last_attempt_at, last_success_at, last_error
                case consecutive_failures, days_stored, rows_stored, first_day, oldest_pending_day, gaps
                case emptyings_pending, reconciliation_mismatches, revisions_last_7_days, last_final_day_change_at
            }

            struct Mismatch: Encodable {
                var day: String
                var provider_total: String
                var records_total: String
            }

            func encode(to encoder: any Encoder) throws {
                let s = health.state
                var c = encoder.container(keyedBy: Key.self)
                // `encode` of an Optional writes null; `encodeIfPresent` would leave the key out.
                try c.encode(s.key.provider.rawValue, forKey: .provider)
                try c.encode(s.key.org, forKey: .org)
                try c.encode(health.healthy, forKey: .healthy)
                try c.encode(health.problems, forKey: .problems)
                try c.encode(s.nextDay?.description, forKey: .next_day)
                try c.encode(s.lastAttemptAt, forKey: .last_attempt_at)
                try c.encode(s.lastSuccessAt, forKey: .last_success_at)
                try c.encode(s.lastError, forKey: .last_error)
                try c.encode(s.consecutiveFailures, forKey: .consecutive_failures)
                try c.encode(s.daysStored, forKey: .days_stored)
                try c.encode(s.rowsStored, forKey: .rows_stored)
                try c.encode(s.firstDay?.description, forKey: .first_day)
                try c.encode(s.oldestPendingDay?.description, forKey: .oldest_pending_day)
                try c.encode(s.gaps.map { [$0.first.description, $0.last.description] }, forKey: .gaps)
                try c.encode(s.emptyingsPending.map(\.description), forKey: .emptyings_pending)
                try c.encode(s.mismatches.map { Mismatch(day: $0.day.description, provider_total: $0.providerTotal,
                                                         records_total: $0.recordsTotal) },
                             forKey: .reconciliation_mismatches)
                try c.encode(s.revisionsLast7Days, forKey: .revisions_last_7_days)
                try c.encode(s.lastFinalDayChangeAt, forKey: .last_final_day_change_at)
            }
        }
    }

    static func json(_ orgs: [OrgHealth], targets: [TargetHealth] = []) -> String {
        let report = Report(healthy: orgs.allSatisfy(\.healthy) && !targets.contains(where: \.isFailing),
                            orgs: orgs.map { Report.Org(health: $0) },
                            notify_targets: targets.isEmpty ? nil : targets.map { TargetReport(target: $0) })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        // Encoding strings, numbers and arrays of them cannot fail.
        return String(decoding: (try? encoder.encode(report)) ?? Data("{}".utf8), as: UTF8.self)
    }
}
