import AsyncAlgorithms
import CostModel
import StorePort
import Config
import CostsyncMetrics
import Logging

/// What one org's sync came to; the engine collects these, one per org.
public struct OrgOutcome: Sendable {
    public var key: OrgKey
    public var range: DayRange?
    public var summary = WriteSummary()
    /// The failure, already worded for a person; nil on success.
    public var error: String?
    /// The failure was a cancellation (SIGTERM), not the org's fault.
    public var cancelled = false

    public var succeeded: Bool { error == nil && !cancelled }
}

/// A report of progress, sent after every page written.
public struct ProgressEvent: Sendable {
    public var key: OrgKey
    public var daysWritten: Int
    /// Rows the provider sent for the days written so far, changed or not.
    public var rowsSeen: Int
    public var daysPlanned: Int
}

/// What to fetch for an org.
public enum SyncMode: Sendable, Equatable {
    /// `run`: from the cursor (or `start_date`) through today.
    case poll
    /// `backfill`: the given days, skipping those already final.
    case backfill(DayRange)
}

/// Syncs one org: plan, fetch page by page, write each page in one transaction
/// with the cursor, and record the attempt's outcome on the cursor row.
struct OrgSync {
    let source: any CostSource
    let store: any CostStore
    let settings: SyncSettings
    let clock: WallClock
    let logger: Logger
    let describe: @Sendable (any Error) -> String
    let classify: @Sendable (any Error) -> CostsyncMetrics.FailureReason
    let metrics: CostsyncMetrics
    let progress: @Sendable (ProgressEvent) -> Void

    var key: OrgKey { OrgKey(source.provider, source.org) }

    // MARK: Issue 13 — one instance per org (begin)
    /// Syncs the org if this instance can claim it. Another instance sharing
    /// the store and syncing it now is not a failure: the org is in good
    /// hands, so this pass skips it with an info line. A claim that cannot be
    /// asked (the database is down) fails the org like any store error.
    func run(_ mode: SyncMode) async -> OrgOutcome {
        let claimed: Bool
        do {
            claimed = try await store.claim(key)
        } catch {
            return await sync(mode, failing: error)
        }
        guard claimed else {
            logger.info("org is being synced by another instance", metadata: [
                "provider": "\(key.provider)", "org": "\(key.org)",
            ])
            return OrgOutcome(key: key)
        }
        let outcome = await sync(mode, failing: nil)
        await store.release(key)
        return outcome
    }
    // MARK: Issue 13 — one instance per org (end)

    private func sync(_ mode: SyncMode, failing claimError: (any Error)?) async -> OrgOutcome {
        var outcome = OrgOutcome(key: key)
        var logger = logger
        logger[metadataKey: "provider"] = "\(key.provider)"
        logger[metadataKey: "org"] = "\(key.org)"
        let today = clock.today
        let started = ContinuousClock.now
        let (provider, org) = (key.provider.rawValue, key.org)
        metrics.syncAttempted(provider: provider, org: org, at: clock.now.secondsSinceEpoch)
        defer { metrics.syncDuration(provider: provider, org: org, ContinuousClock.now - started) }
        do {
            if let claimError { throw claimError }  // issue 13: reported like any failure, below
            try await store.recordAttempt(key, at: clock.now, start: settings.startDate)
            // An org's first sync asks for its names first, so its rows are written
            // with them (rather than all rewritten afterwards); later refreshes follow the costs.
            if source is any NameSource, try await store.account(key)?.namesRefreshedAt == nil { await refreshNames(logger: logger) }
            let cursor = try await store.nextDay(key) ?? settings.startDate
            let range: DayRange
            var skip = Set<Day>()
            var rechecking = false
            switch mode {
            case .poll:
                // Once a day, the settled days of the last recheck_days (and,
                // until the 10th, the whole previous month) are fetched again
                // with the poll, in one window: a week of re-checks rides on
                // the poll's own request; the month close may add one more.
                if let from = recheckStart(today: today), from < cursor, try await store.lastRecheck(key) != today {
                    rechecking = true
                    range = DayRange(min(from, today), today)
                } else {
                    range = DayRange(min(cursor, today), today)
                }
            case .backfill(let requested):
                // Days after today do not exist yet at the provider.
                guard requested.first <= today else { return outcome }
                range = DayRange(requested.first, min(requested.last, today))
                skip = try await store.finalDays(key, in: range)
            }
            outcome.range = range
            let plan = FetchPlanner.ranges(range, skipping: skip, maxDaysPerRequest: source.maxDaysPerRequest)
            let planned = plan.reduce(0) { $0 + $1.count }
            logger.info("sync started", metadata: [
                "days.from": "\(range.first)", "days.to": "\(range.last)", "days.planned": "\(planned)",
                "requests.windows": "\(plan.count)",
            ])
            // Announce the plan at once, so a progress line knows every org's total from the start.
            progress(ProgressEvent(key: key, daysWritten: 0, rowsSeen: 0, daysPlanned: planned))
            let tally = Tally()
            var firstError: (any Error)?
            for window in plan {
                let kind: FetchKind = switch mode {
                case .backfill: .backfill
                case .poll: rechecking && window.first < cursor ? .recheck : .poll
                }
                do {
                    try await fetch(window, kind: kind, skipping: skip, today: today, planned: planned, tally: tally, logger: logger)
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    // One failed window does not stop the org's later ones
                    // (today's included): the cursor cannot pass the failed
                    // days anyway, and the org is reported failed with this error.
                    logger.warning("window failed; the org's other windows are still fetched", metadata: [
                        "days.from": "\(window.first)", "days.to": "\(window.last)", "error": "\(describe(error))",
                    ])
                    if firstError == nil { firstError = error }
                }
            }
            outcome.summary = await tally.total
            // Names only for an org whose costs came through: a failing org's
            // names would fail the same way and only add requests and noise.
            if firstError == nil { await refreshNames(logger: logger) }
            try await warnAboutLongPendingDays(today: today, logger: logger)
            if let firstError { throw firstError }
            if rechecking { try await store.recordRecheck(key, on: today) }
            try await store.recordSuccess(key, at: clock.now)
            metrics.syncSucceeded(provider: provider, org: org, at: clock.now.secondsSinceEpoch)
            let next = try await store.nextDay(key).map { "\($0)" } ?? "-"
            logger.info("sync finished", metadata: [
                "days": "\(outcome.summary.days)", "rows.written": "\(outcome.summary.rowsWritten)",
                "rows.deleted": "\(outcome.summary.deleted)", "next_day": "\(next)",
            ])
        } catch is CancellationError {
            outcome.cancelled = true
            logger.notice("sync cancelled; committed days are kept, nothing half-written")
        } catch {
            let text = describe(error)
            outcome.error = text
            metrics.syncFailed(provider: provider, org: org, reason: classify(error))
            logger.error("sync failed", metadata: ["error": "\(text)"])
            // Recording the failure must not be skipped because the task is being
            // cancelled; if the database itself failed, there is nothing more to do
            // than the log line above.
            try? await store.recordFailure(key, error: text)
        }
        return outcome
    }

    /// The first day a re-check covers today, or nil when re-checks are off.
    private func recheckStart(today: Day) -> Day? {
        guard settings.recheckDays > 0 else { return nil }
        var start = today.advanced(by: -settings.recheckDays)
        let (year, month, day) = today.components
        // Month close is when restatements matter most.
        if day <= 10, let first = Day(year: month == 1 ? year - 1 : year, month: month == 1 ? 12 : month - 1, day: 1) {
            start = min(start, first)
        }
        return max(start, settings.startDate)
    }

    /// Fetches one window and writes each page as it arrives, with the cursor;
    /// the window is one `sync_fetches` row, and every revision its writes
    /// record points at it.
    private func fetch(_ window: DayRange, kind: FetchKind, skipping skipped: Set<Day>, today: Day, planned: Int, tally: Tally,
                       logger: Logger) async throws {
        let rule = FinalityRule(settleDays: settings.settleDays)
        let cursorRule = CursorRule(limit: today)
        let keepSince = clock.now.adding(seconds: -Int64(settings.keepFetchesDays) * 86_400)
        let fetchID = try await store.beginFetch(key, window, kind: kind, at: clock.now, keepSince: keepSince)
        let log = WindowLog()
        let pass = WindowPass(range: window, fetchID: fetchID, log: log, rule: rule, cursorRule: cursorRule, skipped: skipped,
                              today: today, planned: planned, tally: tally)
        do {
            try await fetchPages(pass, logger: logger)
        } catch {
            let (ids, summary) = await log.snapshot
            try? await store.finishFetch(fetchID, at: clock.now, requestIDs: ids, summary: summary, error: describe(error))
            throw error
        }
        let (ids, summary) = await log.snapshot
        try await store.finishFetch(fetchID, at: clock.now, requestIDs: ids, summary: summary, error: nil)
    }

    /// Fetching the next page overlaps writing this one: the provider's
    /// answer is decoded while the store (PostgreSQL in another process, or
    /// SQLite on its own executor) commits the page before. The channel holds
    /// no buffer, so at most two pages are in memory (one being written, one
    /// waiting), and pages are written one at a time, in the order they came.
    /// A write that fails cancels the fetching; a fetch that fails is thrown
    /// once every page handed over before it has been written.
    private func fetchPages(_ pass: WindowPass, logger: Logger) async throws {
        let pages = AsyncThrowingChannel<[DayCosts], any Error>()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { [source] in
                do {
                    try await source.fetch(pass.range) { days in
                        await pages.send(days)
                        // Cancelled while waiting: the writer failed or SIGTERM came; fetch no further.
                        try Task.checkCancellation()
                    }
                    pages.finish()
                } catch {
                    pages.fail(error)
                    throw error
                }
            }
            for try await days in pages {
                try await writePage(days, pass, logger: logger)
            }
            // A cancelled iteration ends quietly rather than throwing: the
            // fetcher's own error (CancellationError on SIGTERM) is the truth.
            try await group.waitForAll()
            try Task.checkCancellation()
        }
    }

    private func writePage(_ days: [DayCosts], _ pass: WindowPass, logger: Logger) async throws {
        var requestIDs: [Day: String] = [:]
        let writes = days.compactMap { costs -> DayWrite? in
            // Only days asked for, and never a day the store already holds as final.
            guard pass.range.contains(costs.day), !pass.skipped.contains(costs.day) else { return nil }
            requestIDs[costs.day] = costs.requestID
            return DayWrite(day: costs.day, lines: costs.lines,
                            isFinal: pass.rule.isFinal(costs.day, providerLocked: costs.providerLocked, today: pass.today),
                            mismatch: costs.mismatch)
        }
        guard let first = writes.first, let last = writes.last else { return }
        let pageIDs = Set(requestIDs.values)
        let summary: WriteSummary
        do {
            summary = try await store.replaceDays(writes, for: key, fetchedAt: clock.now, cursor: pass.cursorRule, fetch: pass.fetchID)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw PageNotStored(cause: error, days: DayRange(first.day, last.day), requestIDs: pageIDs.sorted())
        }
        await pass.log.add(summary, requestIDs: pageIDs)
        for day in summary.finalDaysChanged {
            logger.warning("a final day changed: the provider restated it after costsync took it as settled", metadata: [
                "day": "\(day)", "request.id": "\(requestIDs[day] ?? "-")", "fetch.id": "\(pass.fetchID)",
            ])
        }
        for held in summary.held {
            logger.warning("an answer would empty a stored day; its rows are kept until the next poll says the same", metadata: [
                "day": "\(held.day)", "rows": "\(held.rows)", "amount_nanos": "\(held.amountNanos)",
                "request.id": "\(requestIDs[held.day] ?? "-")",
            ])
        }
        for day in summary.confirmedEmpty {
            logger.notice("a second answer confirmed a stored day is empty; its rows are removed", metadata: [
                "day": "\(day)", "request.id": "\(requestIDs[day] ?? "-")",
            ])
        }
        let total = await pass.tally.add(summary)
        metrics.rowsWritten(provider: key.provider.rawValue, org: key.org, inserted: summary.inserted,
                            updated: summary.updated, deleted: summary.deleted)
        logger.debug("days replaced", metadata: [
            "days.from": "\(first.day)", "days.to": "\(last.day)",
            "rows.written": "\(summary.rowsWritten)", "rows.deleted": "\(summary.deleted)",
        ])
        progress(ProgressEvent(key: key, daysWritten: total.days, rowsSeen: total.rowsSeen, daysPlanned: pass.planned))
    }

    /// A stored day not final long after it ended means a provider never
    /// settled it: say so on every poll rather than keep fetching in silence.
    private func warnAboutLongPendingDays(today: Day, logger: Logger) async throws {
        let limit = today.advanced(by: -settings.maxPendingDays)
        guard let oldest = try await store.oldestPendingDay(key), oldest < limit else { return }
        logger.warning("a stored day has not become final for longer than max_pending_days", metadata: [
            "day": "\(oldest)", "max_pending_days": "\(settings.maxPendingDays)",
        ])
    }
}

/// One window's fetch, as each of its pages is written: what the pages are
/// checked against and where their outcome is collected.
private struct WindowPass: Sendable {
    let range: DayRange
    let fetchID: Int64
    let log: WindowLog
    let rule: FinalityRule
    let cursorRule: CursorRule
    let skipped: Set<Day>
    let today: Day
    let planned: Int
    let tally: Tally
}

/// A page the store refused (a full disk, a lost database): the store's own
/// error, with the days and the provider's request ids of the answer that was
/// not stored, so the failure names the request as a provider error would.
public struct PageNotStored: Error, CustomStringConvertible {
    public let cause: any Error
    public let days: DayRange
    public let requestIDs: [String]

    public var description: String {
        let ids = requestIDs.isEmpty ? "" : "; provider request id \(requestIDs.joined(separator: ", "))"
        return "\(cause) (storing days \(days.first)–\(days.last)\(ids))"
    }
}

/// What one window's pages came to, for its `sync_fetches` row.
actor WindowLog {
    private var ids: [String] = []
    private var seen: Set<String> = []
    private var total = WriteSummary()

    func add(_ summary: WriteSummary, requestIDs: Set<String>) {
        total.inserted += summary.inserted
        total.updated += summary.updated
        total.deleted += summary.deleted
        for id in requestIDs.sorted() where seen.insert(id).inserted { ids.append(id) }
    }

    var snapshot: ([String], WriteSummary) { (ids, total) }
}

/// Totals across the pages of one org's sync. Pages arrive one after another,
/// but the sink is a `@Sendable` closure that cannot mutate a captured `var`,
/// so the running totals live here.
actor Tally {
    private(set) var total = WriteSummary()
    func add(_ s: WriteSummary) -> WriteSummary {
        total.days += s.days
        total.inserted += s.inserted
        total.updated += s.updated
        total.deleted += s.deleted
        total.unchanged += s.unchanged
        return total
    }
}
