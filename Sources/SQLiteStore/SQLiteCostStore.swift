import CostModel
import SQLite
import StorePort

/// A stored line's amount, kept while its day is replaced, for revisions.
struct StoredAmount {
    var amount: String
    var nanos: Int64
    var item: String
    var scopeID: String
}

/// Writes one day's `cost_revisions` rows, in the transaction of the change.
struct RevisionWriter {
    enum Change: String { case changed, vanished, appeared }

    let db: Connection
    let key: OrgKey
    let day: String
    let wasFinal: Bool
    let observedAt: String
    let fetch: Int64?
    private(set) var count = 0

    init(db: Connection, key: OrgKey, day: String, wasFinal: Bool, observedAt: String, fetch: Int64?) {
        self.db = db
        self.key = key
        self.day = day
        self.wasFinal = wasFinal
        self.observedAt = observedAt
        self.fetch = fetch
    }

    mutating func record(_ change: Change, lineKey: String, item: String, scopeID: String, old: StoredAmount?, new: Money?) throws {
        try db.cached("""
            INSERT INTO cost_revisions (provider, org, day, line_key, change, item, scope_id, old_amount, old_amount_nanos,
                                        new_amount, new_amount_nanos, was_final, observed_at, fetch_id)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
            """).execute([
            .text(key.provider.rawValue), .text(key.org), .text(day), .text(lineKey), .text(change.rawValue), .text(item),
            .text(scopeID), old.map { .text($0.amount) } ?? .null, old.map { .integer($0.nanos) } ?? .null,
            new.map { .text($0.text) } ?? .null, new.map { .integer($0.nanos) } ?? .null, .integer(wasFinal ? 1 : 0),
            .text(observedAt), fetch.map { .integer($0) } ?? .null,
        ])
        count += 1
    }
}

/// The one owner of the database connection: every read and write of costsync
/// goes through this actor, on a serial queue of its own.
public actor SQLiteCostStore: CostStore {
    let db: Connection
    private let executor: SerialQueueExecutor

    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    /// Opens (creating if needed) and migrates the database at `path`;
    /// `willMigrate` hears of each migration before it runs.
    public init(path: String, willMigrate: (Migration) -> Void = { _ in }) throws {
        self.db = try Connection(path: path)
        self.executor = SerialQueueExecutor(label: "costsync.store")
        try db.migrate(Schema.migrations, willApply: willMigrate)
    }

    /// Opens the database at `path` for reading only: `status` neither creates
    /// nor migrates a database, nor leaves files owned by whoever ran it.
    public init(readingFrom path: String) throws {
        self.db = try Connection(path: path, mode: .readOnly)
        self.executor = SerialQueueExecutor(label: "costsync.store.reader")
        let version = try db.userVersion
        if version > Schema.currentVersion {
            throw SchemaTooNewError(databaseVersion: version, knownVersion: Schema.currentVersion, path: path)
        }
        guard version == Schema.currentVersion else {
            throw SQLiteError(extendedCode: 1, message: "database '\(path)' has schema version \(version), this costsync writes \(Schema.currentVersion): run `costsync run --once` to migrate it", sql: nil)
        }
    }

    public static func inMemory() throws -> SQLiteCostStore { try SQLiteCostStore(path: ":memory:") }

    /// Runs `body` on the store's connection, for queries this type has no method for.
    public func withConnection<T: Sendable>(_ body: (Connection) throws -> T) throws -> T { try body(db) }

    // MARK: The write path

    static let upsertSQL: String = {
        let columns = Schema.costColumns
        let placeholders = (1...columns.count).map { "?\($0)" }.joined(separator: ", ")
        let updated = columns.dropFirst(4)
        let set = updated.map { "\($0) = excluded.\($0)" }.joined(separator: ", ")
        // fetched_at alone does not count as a change: an unchanged line keeps
        // the time it was last really written, and re-running a replacement
        // writes nothing.
        let changed = updated.filter { $0 != "fetched_at" }.map { "costs.\($0) IS NOT excluded.\($0)" }.joined(separator: " OR ")
        return """
        INSERT INTO costs (\(columns.joined(separator: ", "))) VALUES (\(placeholders))
        ON CONFLICT (provider, org, day, line_key) DO UPDATE SET \(set) WHERE \(changed)
        """
    }()

    /// Replaces each day's partition of `key` with its new lines in ONE
    /// transaction: new lines inserted, changed ones updated, vanished ones
    /// deleted, the day's `sync_days` row written, and the cursor moved under
    /// `cursor` — so rows and cursor are committed together or not at all.
    @discardableResult
    public func replaceDays(_ days: [DayWrite], for key: OrgKey, fetchedAt: Timestamp, cursor: CursorRule?,
                            fetch: Int64? = nil) throws -> WriteSummary {
        try db.transaction(.immediate) {
            var summary = WriteSummary()
            let fetched = fetchedAt.description
            var reopened: Day?
            let names = try scopeNames(key)
            for day in days {
                if try replacePartition(day, key: key, fetchedAt: fetched, fetch: fetch, names: names, summary: &summary) {
                    reopened = min(reopened ?? day.day, day.day)
                }
            }
            // A day that was final and is not any more (an answer held for
            // confirmation, a total that disagrees) must be fetched again:
            // the cursor goes back to it, in the same transaction.
            if let reopened {
                try db.cached("UPDATE sync_cursor SET next_day = ?3 WHERE provider = ?1 AND org = ?2 AND next_day > ?3")
                    .execute([.text(key.provider.rawValue), .text(key.org), .text(reopened.description)])
            }
            if let cursor { summary.nextDay = try advanceCursor(key, cursor) }
            return summary
        }
    }

    /// Returns whether the day was final before and is not now.
    private func replacePartition(_ write: DayWrite, key: OrgKey, fetchedAt: String, fetch: Int64?,
                                  names: [String: String], summary: inout WriteSummary) throws -> Bool {
        let dayText = write.day.description
        let k: [SQLiteValue] = [.text(key.provider.rawValue), .text(key.org), .text(dayText)]
        var write = write
        // Whether the day was written before, and final then: a first write
        // has no partition to compare with and records no revision.
        // A day held for an emptying answer counts as final if it was when held.
        let prior = try db.cached("""
            SELECT is_final = 1 OR coalesce(empty_pending_was_final, 0) = 1 FROM sync_days WHERE provider = ?1 AND org = ?2 AND day = ?3
            """).query(k) { $0.int64(0) == 1 }.first
        if write.lines.isEmpty {
            // An answer that would empty a day holding rows: believed only
            // when the next answer says the same.
            let stored = try db.cached("""
                SELECT row_count, amount_nanos, empty_pending_since FROM sync_days
                WHERE provider = ?1 AND org = ?2 AND day = ?3
                """).query(k) { ($0.int64(0), $0.int64(1), $0.text(2)) }.first
            if let stored, stored.0 > 0 {
                if stored.2 == nil {
                    try db.cached("""
                        UPDATE sync_days SET empty_pending_since = ?4, empty_pending_was_final = is_final, is_final = 0
                        WHERE provider = ?1 AND org = ?2 AND day = ?3
                        """).execute(k + [.text(fetchedAt)])
                    try db.cached("UPDATE costs SET is_final = 0 WHERE provider = ?1 AND org = ?2 AND day = ?3").execute(k)
                    summary.held.append(HeldEmptying(day: write.day, rows: Int(stored.0), amountNanos: stored.1))
                    summary.days += 1
                    return prior == true
                }
                summary.confirmedEmpty.append(write.day)
            }
        }
        if write.mismatch != nil { write.isFinal = false }
        var stale: [String: StoredAmount] = [:]
        if prior != nil {
            let existing = try db.cached("""
                SELECT line_key, amount, amount_nanos, item, scope_id FROM costs WHERE provider = ?1 AND org = ?2 AND day = ?3
                """)
            try existing.bind(key.provider.rawValue, at: 1)
            try existing.bind(key.org, at: 2)
            try existing.bind(dayText, at: 3)
            defer { existing.reset() }
            while try existing.step() {
                stale[existing.text(0) ?? ""] = StoredAmount(amount: existing.text(1) ?? "", nanos: existing.int64(2),
                                                             item: existing.text(3) ?? "", scopeID: existing.text(4) ?? "")
            }
        }
        var revisions = RevisionWriter(db: db, key: key, day: dayText, wasFinal: prior == true, observedAt: fetchedAt, fetch: fetch)

        // Rows in primary-key order append to the B-tree instead of splitting
        // pages all over it: close to twice the insert rate.
        let lines = write.linesInKeyOrder
        let insert = try db.cached(Self.upsertSQL)
        defer { insert.reset() }
        // Bindings survive sqlite3_reset: the day's constant columns are bound once.
        try insert.bind(key.provider.rawValue, at: 1)
        try insert.bind(key.org, at: 2)
        try insert.bind(dayText, at: 3)
        try insert.bind(key.provider.currency, at: 10)
        try insert.bind(write.isFinal ? 1 : 0, at: 11)
        try insert.bind(fetchedAt, at: 12)
        var total: Int64 = 0
        var previousKey: String?
        for line in lines {
            if line.lineKey == previousKey { throw StoreError.duplicateLineKey(key, write.day, line.lineKey) }
            previousKey = line.lineKey
            let (sum, overflow) = total.addingReportingOverflow(line.amount.nanos)
            guard !overflow else { throw StoreError.sumOutOfRange(key, write.day) }
            total = sum
            try insert.bind(line.lineKey, at: 4)
            try insert.bind(line.scopeID, at: 5)
            try insert.bind(line.scopeName ?? names[line.scopeID], at: 6)
            try insert.bind(line.item, at: 7)
            let amount = line.amount.text
            try insert.bind(amount, at: 8)
            try insert.bind(line.amount.nanos, at: 9)
            let d = line.dimensions
            try insert.bind(d.workspaceID, at: 13)
            try insert.bind(d.description, at: 14)
            try insert.bind(d.costType, at: 15)
            try insert.bind(d.model, at: 16)
            try insert.bind(d.tokenType, at: 17)
            try insert.bind(d.contextWindow, at: 18)
            try insert.bind(d.serviceTier, at: 19)
            try insert.bind(d.inferenceGeo, at: 20)
            try insert.bind(d.entityType, at: 21)
            try insert.bind(d.entityID, at: 22)
            try insert.bind(d.entityName, at: 23)
            try insert.bind(d.serviceID, at: 24)
            try insert.bind(d.dataWarehouseID, at: 25)
            try insert.bind(d.metric, at: 26)
            try insert.bind(line.extras, at: 27)
            _ = try insert.step()
            insert.reset()
            let old = stale.removeValue(forKey: line.lineKey)
            if db.changes == 0 {
                summary.unchanged += 1
            } else if let old {
                summary.updated += 1
                if old.amount != amount {
                    try revisions.record(.changed, lineKey: line.lineKey, item: line.item, scopeID: line.scopeID, old: old, new: line.amount)
                }
            } else {
                summary.inserted += 1
                if prior != nil {
                    try revisions.record(.appeared, lineKey: line.lineKey, item: line.item, scopeID: line.scopeID, old: nil, new: line.amount)
                }
            }
        }
        for (lineKey, old) in stale {
            try revisions.record(.vanished, lineKey: lineKey, item: old.item, scopeID: old.scopeID, old: old, new: nil)
        }
        summary.revisions += revisions.count
        if revisions.count > 0 && prior == true { summary.finalDaysChanged.append(write.day) }
        if !stale.isEmpty {
            let delete = try db.cached("DELETE FROM costs WHERE provider = ?1 AND org = ?2 AND day = ?3 AND line_key = ?4")
            defer { delete.reset() }
            try delete.bind(key.provider.rawValue, at: 1)
            try delete.bind(key.org, at: 2)
            try delete.bind(dayText, at: 3)
            for lineKey in stale.keys {
                try delete.bind(lineKey, at: 4)
                _ = try delete.step()
                delete.reset()
            }
            summary.deleted += stale.count
        }
        let dayRow = try db.cached("""
            INSERT INTO sync_days (provider, org, day, fetched_at, is_final, row_count, amount_nanos,
                                   empty_pending_since, provider_total, records_total, first_amount_nanos)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?7)
            ON CONFLICT (provider, org, day) DO UPDATE SET
                fetched_at = excluded.fetched_at, is_final = excluded.is_final,
                row_count = excluded.row_count, amount_nanos = excluded.amount_nanos,
                empty_pending_since = excluded.empty_pending_since, empty_pending_was_final = NULL,
                provider_total = excluded.provider_total, records_total = excluded.records_total
            """)
        try dayRow.execute(k + [.text(fetchedAt), .integer(write.isFinal ? 1 : 0), .integer(Int64(lines.count)), .integer(total),
                                .null,
                                write.mismatch.map { .text($0.providerTotal.text) } ?? .null,
                                write.mismatch.map { .text($0.recordsTotal.text) } ?? .null])
        summary.days += 1
        return prior == true && !write.isFinal
    }

    /// Moves `next_day` over consecutive final days. Derived from `sync_days`
    /// inside the writing transaction, so the cursor can never claim a day
    /// whose rows are not committed with it.
    private func advanceCursor(_ key: OrgKey, _ rule: CursorRule) throws -> Day? {
        // `recordAttempt` creates the cursor before any write; without one
        // there is no cursor to move.
        guard let stored = try cursorDay(key) else { return nil }
        var next = stored
        let isFinal = try db.cached("SELECT is_final FROM sync_days WHERE provider = ?1 AND org = ?2 AND day = ?3")
        while next < rule.limit {
            let final = try isFinal.query([.text(key.provider.rawValue), .text(key.org), .text(next.description)]) { $0.int64(0) }
            guard final.first == 1 else { break }
            next = next.advanced(by: 1)
        }
        if next > stored {
            try db.cached("UPDATE sync_cursor SET next_day = ?3 WHERE provider = ?1 AND org = ?2")
                .execute([.text(key.provider.rawValue), .text(key.org), .text(next.description)])
        }
        return next
    }

    private func cursorDay(_ key: OrgKey) throws -> Day? {
        try db.cached("SELECT next_day FROM sync_cursor WHERE provider = ?1 AND org = ?2")
            .query([.text(key.provider.rawValue), .text(key.org)]) { $0.text(0).flatMap { Day($0) } }
            .first ?? nil
    }

    // MARK: Cursor bookkeeping

    /// The first day not yet final for `key`, or nil when it was never synced.
    public func nextDay(_ key: OrgKey) throws -> Day? { try cursorDay(key) }

    // MARK: The fetch log

    public func beginFetch(_ key: OrgKey, _ range: DayRange, kind: FetchKind, at time: Timestamp, keepSince: Timestamp) throws -> Int64 {
        try db.transaction(.immediate) {
            // Bounded: fetches older than [history] keep_fetches_days go; revisions stay.
            try db.cached("DELETE FROM sync_fetches WHERE started_at < ?1").execute([.text(keepSince.description)])
            try db.cached("""
                INSERT INTO sync_fetches (provider, org, first_day, last_day, kind, started_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                """).execute([.text(key.provider.rawValue), .text(key.org), .text(range.first.description),
                              .text(range.last.description), .text(kind.rawValue), .text(time.description)])
            return db.lastInsertRowID
        }
    }

    public func finishFetch(_ id: Int64, at time: Timestamp, requestIDs: [String], summary: WriteSummary, error: String?) throws {
        try db.cached("""
            UPDATE sync_fetches SET finished_at = ?2, requests = ?3, request_ids = ?4, rows_inserted = ?5, rows_updated = ?6,
                rows_deleted = ?7, error = ?8 WHERE fetch_id = ?1
            """).execute([.integer(id), .text(time.description), .integer(Int64(requestIDs.count)),
                          requestIDs.isEmpty ? .null : .text(requestIDs.joined(separator: " ")),
                          .integer(Int64(summary.inserted)), .integer(Int64(summary.updated)), .integer(Int64(summary.deleted)),
                          error.map { .text($0) } ?? .null])
    }

    public func revisions(_ key: OrgKey, in range: DayRange?) throws -> [Revision] {
        let from = range?.first.description ?? "0000-00-00"
        let to = range?.last.description ?? "9999-99-99"
        return try db.query("""
            SELECT day, line_key, change, item, scope_id, old_amount, old_amount_nanos, new_amount, new_amount_nanos,
                   was_final, observed_at, fetch_id
            FROM cost_revisions WHERE provider = ?1 AND org = ?2 AND day BETWEEN ?3 AND ?4 ORDER BY day, revision_id
            """, [.text(key.provider.rawValue), .text(key.org), .text(from), .text(to)]) { s in
            Revision(key: key, day: Day(s.text(0) ?? "") ?? Day(daysSinceEpoch: 0), lineKey: s.text(1) ?? "", change: s.text(2) ?? "",
                     item: s.text(3) ?? "", scopeID: s.text(4) ?? "", oldAmount: s.text(5), oldNanos: s.isNull(6) ? nil : s.int64(6),
                     newAmount: s.text(7), newNanos: s.isNull(8) ? nil : s.int64(8), wasFinal: s.int64(9) == 1,
                     observedAt: s.text(10) ?? "", fetchID: s.isNull(11) ? nil : s.int64(11))
        }
    }

    public func lastRecheck(_ key: OrgKey) throws -> Day? {
        try db.cached("SELECT last_recheck_on FROM sync_cursor WHERE provider = ?1 AND org = ?2")
            .query([.text(key.provider.rawValue), .text(key.org)]) { $0.text(0).flatMap { Day($0) } }.first ?? nil
    }

    public func recordRecheck(_ key: OrgKey, on day: Day) throws {
        try db.cached("UPDATE sync_cursor SET last_recheck_on = ?3 WHERE provider = ?1 AND org = ?2")
            .execute([.text(key.provider.rawValue), .text(key.org), .text(day.description)])
    }

    public func spendNanos(_ key: OrgKey, in range: DayRange) throws -> Int64 {
        // sync_days holds each day's exact sum of amount_nanos, written with its rows.
        try db.cached("""
            SELECT coalesce(sum(amount_nanos), 0) FROM sync_days WHERE provider = ?1 AND org = ?2 AND day BETWEEN ?3 AND ?4
            """).query([.text(key.provider.rawValue), .text(key.org), .text(range.first.description), .text(range.last.description)]) {
            $0.int64(0)
        }.first ?? 0
    }

    public func oldestPendingDay(_ key: OrgKey) throws -> Day? {
        try db.cached("SELECT min(day) FROM sync_days WHERE provider = ?1 AND org = ?2 AND is_final = 0")
            .query([.text(key.provider.rawValue), .text(key.org)]) { $0.text(0).flatMap { Day($0) } }.first ?? nil
    }

    /// Days of `range` already stored as final: a backfill skips them.
    public func finalDays(_ key: OrgKey, in range: DayRange) throws -> Set<Day> {
        let rows = try db.cached("""
            SELECT day FROM sync_days WHERE provider = ?1 AND org = ?2 AND day BETWEEN ?3 AND ?4 AND is_final = 1
            """).query([.text(key.provider.rawValue), .text(key.org), .text(range.first.description), .text(range.last.description)]) {
            $0.text(0).flatMap { Day($0) }
        }
        return Set(rows.compactMap { $0 })
    }

    /// Notes the start of a sync attempt, creating the cursor at `start` if the
    /// org has none; while the org has no stored day, the cursor follows
    /// `start`, so a corrected `start_date` takes effect after a failed first try.
    public func recordAttempt(_ key: OrgKey, at time: Timestamp, start: Day) throws {
        try db.cached("""
            INSERT INTO sync_cursor (provider, org, next_day, last_attempt_at) VALUES (?1, ?2, ?3, ?4)
            ON CONFLICT (provider, org) DO UPDATE SET last_attempt_at = excluded.last_attempt_at,
                next_day = CASE WHEN EXISTS (SELECT 1 FROM sync_days d WHERE d.provider = ?1 AND d.org = ?2)
                                THEN next_day ELSE excluded.next_day END
            """).execute([.text(key.provider.rawValue), .text(key.org), .text(start.description), .text(time.description)])
    }

    public func recordSuccess(_ key: OrgKey, at time: Timestamp) throws {
        try db.cached("""
            UPDATE sync_cursor SET last_success_at = ?3, last_error = NULL, consecutive_failures = 0
            WHERE provider = ?1 AND org = ?2
            """).execute([.text(key.provider.rawValue), .text(key.org), .text(time.description)])
    }

    /// Records a failure; the org's rows and `next_day` are left exactly as they were.
    public func recordFailure(_ key: OrgKey, error: String) throws {
        try db.cached("""
            UPDATE sync_cursor SET last_error = ?3, consecutive_failures = consecutive_failures + 1
            WHERE provider = ?1 AND org = ?2
            """).execute([.text(key.provider.rawValue), .text(key.org), .text(error)])
    }

    // MARK: Reading back

    /// The stored lines of one day, in key order.
    public func lines(_ key: OrgKey, day: Day) throws -> [StoredLine] {
        try db.cached("""
            SELECT line_key, scope_id, item, amount, amount_nanos, is_final, fetched_at, workspace_id, x_extras
            FROM costs WHERE provider = ?1 AND org = ?2 AND day = ?3 ORDER BY line_key
            """).query([.text(key.provider.rawValue), .text(key.org), .text(day.description)]) { s in
            StoredLine(lineKey: s.text(0) ?? "", scopeID: s.text(1) ?? "", item: s.text(2) ?? "", amount: s.text(3) ?? "",
                       amountNanos: s.int64(4), isFinal: s.int64(5) == 1, fetchedAt: s.text(6) ?? "",
                       workspaceID: s.text(7), extras: s.text(8))
        }
    }

    /// Everything `costsync status` shows about one org.
    public func state(of key: OrgKey, since start: Day, now: Timestamp = WallClock.system.now) throws -> OrgSyncState {
        let since7Days = now.secondsSinceEpoch - 7 * 86_400
        let k: [SQLiteValue] = [.text(key.provider.rawValue), .text(key.org)]
        let cursor = try db.query("""
            SELECT next_day, last_attempt_at, last_success_at, last_error, consecutive_failures
            FROM sync_cursor WHERE provider = ?1 AND org = ?2
            """, k) { s in (s.text(0).flatMap { Day($0) }, s.text(1), s.text(2), s.text(3), Int(s.int64(4))) }.first
        let days = try db.query("SELECT day, row_count FROM sync_days WHERE provider = ?1 AND org = ?2 ORDER BY day", k) { s in
            (s.text(0).flatMap { Day($0) }, s.int64(1))
        }
        var state = OrgSyncState(key: key)
        state.oldestPendingDay = try oldestPendingDay(key)
        let history = try db.query("""
            SELECT count(*) FILTER (WHERE observed_at >= ?3), max(CASE WHEN was_final = 1 THEN observed_at END)
            FROM cost_revisions WHERE provider = ?1 AND org = ?2
            """, k + [.text(Timestamp(secondsSinceEpoch: since7Days).description)]) { ($0.int64(0), $0.text(1)) }.first
        state.revisionsLast7Days = Int(history?.0 ?? 0)
        state.lastFinalDayChangeAt = history?.1 ?? nil
        state.pendingDays = Int(try db.query("""
            SELECT count(*) FROM sync_days WHERE provider = ?1 AND org = ?2 AND is_final = 0
            """, k) { $0.int64(0) }.first ?? 0)
        state.emptyingsPending = try db.query("""
            SELECT day FROM sync_days WHERE provider = ?1 AND org = ?2 AND empty_pending_since IS NOT NULL ORDER BY day
            """, k) { $0.text(0).flatMap { Day($0) } }.compactMap { $0 }
        state.mismatches = try db.query("""
            SELECT day, provider_total, records_total FROM sync_days
            WHERE provider = ?1 AND org = ?2 AND provider_total IS NOT NULL ORDER BY day
            """, k) { s in Day(s.text(0) ?? "").map { DayMismatch(day: $0, providerTotal: s.text(1) ?? "", recordsTotal: s.text(2) ?? "") } }
            .compactMap { $0 }
        state.nextDay = cursor?.0
        state.lastAttemptAt = cursor?.1
        state.lastSuccessAt = cursor?.2
        state.lastError = cursor?.3
        state.consecutiveFailures = cursor?.4 ?? 0
        state.daysStored = days.count
        state.rowsStored = Int(days.reduce(0) { $0 + $1.1 })
        state.firstDay = days.first?.0
        if let next = state.nextDay {
            let stored = Set(days.compactMap(\.0))
            var from = min(start, state.firstDay ?? start)
            var gapStart: Day?
            while from < next {
                if stored.contains(from) {
                    if let g = gapStart { state.gaps.append(DayRange(g, from.advanced(by: -1))); gapStart = nil }
                } else if gapStart == nil {
                    gapStart = from
                }
                from = from.advanced(by: 1)
            }
            if let g = gapStart { state.gaps.append(DayRange(g, next.advanced(by: -1))) }
        }
        return state
    }
}

