import CostModel
import Logging
import NIOCore
import PostgresNIO
import StorePort

/// The PostgreSQL adapter of the store port: the same write semantics as
/// `SQLiteCostStore` (a day's partition replaced and the cursor moved in one
/// transaction, held emptyings, revisions, the fetch log), for teams whose
/// instances share one database and whose readers come over the network.
///
/// Every operation leases one connection of a small pool for its whole
/// transaction; a lost connection is retried with backoff (`PGBackoff`), then
/// reported as `PostgresStoreError.unreachable`, which the engine records as
/// the org's failure like any provider error.
public actor PostgresCostStore: CostStore {
    let pool: PGPool
    let endpoint: PostgresEndpoint
    let logger: Logger
    let backoff: PGBackoff
    /// Orgs this instance holds, each by a session-level advisory lock on a
    /// connection of its own: the lock dies with the connection, so a killed
    /// instance never leaves an org locked.
    private var claims: [OrgKey: PostgresConnection] = [:]

    /// Connects, creates the schema if missing and migrates it; `willMigrate`
    /// hears of each migration before it runs.
    public init(endpoint: PostgresEndpoint, logger: Logger, backoff attempts: Int = 6,
                willMigrate: @Sendable (PGMigration) -> Void = { _ in }) async throws {
        self.endpoint = endpoint
        self.logger = logger
        self.backoff = PGBackoff(attempts: max(1, attempts))
        self.pool = try PGPool(endpoint: endpoint, logger: logger)
        try await migrate(willMigrate)
    }

    /// Claims still held when the store is dropped are released by closing
    /// their connections (see `PGPool.deinit` for why a task holds them).
    deinit {
        let connections = Array(claims.values)
        guard !connections.isEmpty else { return }
        Task.detached {
            for connection in connections { try? await connection.close() }
        }
    }

    /// Closes every connection; claims are released with them.
    public func close() async {
        for (_, connection) in claims { try? await connection.close() }
        claims.removeAll()
        await pool.close()
    }

    // MARK: Running statements

    /// Runs `body` on a pooled connection, retrying on a fresh one while the
    /// connection (not the statement) fails. A body is only run again when
    /// nothing it did can have landed: reads; single statements that set
    /// rather than add (`recordSuccess`); and transactions that lost their
    /// connection before COMMIT, which the server rolls back. A COMMIT whose
    /// answer was lost is `commitUnknown`, never retried; so every write that
    /// adds (a counter, a fetch row, a held emptying) runs in `transaction`.
    func run<T: Sendable>(_ what: String, _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await pool.withConnection(body)
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                let mapped = PostgresStoreError.from(error, statement: what, endpoint: endpoint)
                guard mapped.isConnectionLoss else { throw mapped }
                guard attempt < backoff.attempts else {
                    if case let .unreachable(_, _, cause) = mapped {
                        throw PostgresStoreError.unreachable(endpoint: endpoint.description, attempts: attempt, cause: cause)
                    }
                    throw mapped
                }
                attempt += 1
                logger.warning("PostgreSQL connection lost; retrying", metadata: [
                    "attempt": "\(attempt)", "operation": "\(what)", "error": "\(mapped)",
                ])
                try await Task.sleep(for: backoff.delay(beforeAttempt: attempt))
            }
        }
    }

    /// `run` inside BEGIN … COMMIT; any error rolls back (the pool then closes
    /// the connection, which would roll back anyway).
    func transaction<T: Sendable>(_ what: String, readOnly: Bool = false,
                                  _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let logger = logger
        let endpoint = endpoint
        return try await run(what) { c in
            try await Self.execute(c, readOnly ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN", logger: logger)
            let value: T
            do {
                value = try await body(c)
                // Known closed before COMMIT went out: rolled back, safe to retry.
                try Self.ensureOpen(c)
            } catch {
                try? await Self.execute(c, "ROLLBACK", logger: logger)
                throw error
            }
            do {
                try await c.query(PostgresQuery(unsafeSQL: "COMMIT"), logger: logger)
            } catch {
                let mapped = PostgresStoreError.from(error, statement: "COMMIT", endpoint: endpoint)
                // A reader's lost COMMIT changed nothing: retried like any lost connection.
                guard mapped.isConnectionLoss, !readOnly else { throw mapped }
                throw PostgresStoreError.commitUnknown(endpoint: endpoint.description, statement: what, cause: "\(mapped)")
            }
            return value
        }
    }

    /// Runs SQL with `binds` and collects the rows.
    static func rows(_ c: PostgresConnection, _ sql: String, _ binds: PostgresBindings = PostgresBindings(),
                     logger: Logger) async throws -> [PostgresRow] {
        try ensureOpen(c)
        return try await c.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger).collect()
    }

    static func execute(_ c: PostgresConnection, _ sql: String, _ binds: PostgresBindings = PostgresBindings(),
                        logger: Logger) async throws {
        try ensureOpen(c)
        try await c.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
    }

    /// postgres-nio 1.33.2 never answers a query sent on a connection the
    /// server has already closed (a restart, pg_terminate_backend, a
    /// failover): it would wait forever, so every statement checks first and
    /// the loss is retried like any other. (A close that lands between the
    /// check and the write is not covered; the window is one event-loop hop.)
    static func ensureOpen(_ c: PostgresConnection) throws {
        guard c.isClosed else { return }
        throw PostgresStoreError.unreachable(endpoint: "the server", attempts: 1, cause: "the server closed the connection")
    }

    /// The (provider, org) binds that start most statements.
    static func keyBinds(_ key: OrgKey) -> PostgresBindings {
        var b = PostgresBindings()
        b.append(key.provider.rawValue)
        b.append(key.org)
        return b
    }

    /// A TIMESTAMPTZ column as `Timestamp.description` writes it: RFC 3339 in UTC.
    static func ts(_ column: String) -> String {
        "to_char(\(column) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
    }

    // MARK: Migrations

    /// Migrates under a session-level advisory lock, so two instances starting
    /// at once migrate one after the other (the second finds nothing to do);
    /// each migration commits with its `costsync_migrations` row or not at all.
    private func migrate(_ willMigrate: @Sendable (PGMigration) -> Void) async throws {
        let endpoint = endpoint
        let logger = logger
        let lockKey = PGLockKey.migrations(schema: endpoint.schema)
        let c = try await connectDedicated("connecting to migrate")
        do {
            var b = PostgresBindings()
            b.append(lockKey)
            try await Self.execute(c, "SELECT pg_advisory_lock($1)", b, logger: logger)
            try await Self.execute(c, "CREATE SCHEMA IF NOT EXISTS \(endpoint.quotedSchema)", logger: logger)
            // search_path names the schema now that it exists.
            try await Self.execute(c, "SET search_path TO \(endpoint.quotedSchema)", logger: logger)
            try await Self.execute(c, """
                CREATE TABLE IF NOT EXISTS costsync_migrations (
                    version    INTEGER     PRIMARY KEY,
                    name       TEXT        NOT NULL,
                    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
                )
                """, logger: logger)
            let version = try await Self.rows(c, "SELECT coalesce(max(version), 0)::bigint FROM costsync_migrations", logger: logger)
                .first.map { try $0.decode(Int64.self) } ?? 0
            guard version <= PGSchema.currentVersion else {
                throw PostgresStoreError.schemaTooNew(schema: endpoint.schema, version: Int(version), known: PGSchema.currentVersion)
            }
            for migration in PGSchema.migrations where migration.version > version {
                willMigrate(migration)
                try await Self.execute(c, "BEGIN", logger: logger)
                do {
                    for statement in Self.statements(migration.sql) {
                        try await Self.execute(c, statement, logger: logger)
                    }
                    var v = PostgresBindings()
                    v.append(migration.version)
                    v.append(migration.name)
                    try await Self.execute(c, "INSERT INTO costsync_migrations (version, name) VALUES ($1, $2)", v, logger: logger)
                    try await Self.execute(c, "COMMIT", logger: logger)
                } catch {
                    try? await Self.execute(c, "ROLLBACK", logger: logger)
                    let mapped = PostgresStoreError.from(error, statement: "migration \(migration.version)", endpoint: endpoint)
                    throw PostgresStoreError.migrationFailed(version: migration.version, name: migration.name, cause: "\(mapped)")
                }
            }
            try await Self.execute(c, "SELECT pg_advisory_unlock($1)", b, logger: logger)
        } catch {
            // Closing the connection releases the lock for the next instance.
            try? await c.close()
            throw PostgresStoreError.from(error, statement: "migrating", endpoint: endpoint)
        }
        try? await c.close()
    }

    /// A migration's statements: the extended protocol takes one at a time.
    /// Statements end with ';' at the end of a line; none of ours has one inside.
    static func statements(_ sql: String) -> [String] {
        var result: [String] = []
        var current = ""
        for line in sql.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingTrailingSpaces
            if trimmed.hasPrefix("--") || (current.isEmpty && trimmed.isEmpty) { continue }
            current += line + "\n"
            if trimmed.hasSuffix(";") {
                result.append(String(current.dropLast(2)))
                current = ""
            }
        }
        if !current.trimmingTrailingSpaces.isEmpty { result.append(current) }
        return result
    }

    /// A connection of its own, retried like pooled ones.
    private func connectDedicated(_ what: String) async throws -> PostgresConnection {
        var attempt = 1
        while true {
            do {
                return try await pool.dedicated()
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                let mapped = PostgresStoreError.from(error, statement: what, endpoint: endpoint)
                guard mapped.isConnectionLoss, attempt < backoff.attempts else {
                    if case let .unreachable(_, _, cause) = mapped {
                        throw PostgresStoreError.unreachable(endpoint: endpoint.description, attempts: attempt, cause: cause)
                    }
                    throw mapped
                }
                attempt += 1
                try await Task.sleep(for: backoff.delay(beforeAttempt: attempt))
            }
        }
    }

    // MARK: One instance per org

    /// Claims `key` for this instance until `release`: false when another
    /// instance sharing the database holds it. A session-level advisory lock
    /// on a dedicated connection, held for the org's whole pass: a lock per
    /// transaction alone would let two instances interleave page by page.
    public func claim(_ key: OrgKey) async throws -> Bool {
        guard claims[key] == nil else { return false }
        let c = try await connectDedicated("claiming \(key)")
        var b = PostgresBindings()
        b.append(PGLockKey.org(schema: endpoint.schema, key))
        do {
            let got = try await Self.rows(c, "SELECT pg_try_advisory_lock($1)", b, logger: logger).first?.decode(Bool.self) ?? false
            guard got else {
                try? await c.close()
                return false
            }
        } catch {
            try? await c.close()
            throw PostgresStoreError.from(error, statement: "claiming \(key)", endpoint: endpoint)
        }
        claims[key] = c
        return true
    }

    /// Gives the org back: unlocked at once, so the next claim (this
    /// instance's or another's) sees it free; closing the connection would
    /// drop the lock too, but only once the server's backend has gone, which
    /// it does in its own time. The close covers a server unreachable by now.
    public func release(_ key: OrgKey) async {
        guard let c = claims.removeValue(forKey: key) else { return }
        var b = PostgresBindings()
        b.append(PGLockKey.org(schema: endpoint.schema, key))
        _ = try? await Self.rows(c, "SELECT pg_advisory_unlock($1)", b, logger: logger)
        try? await c.close()
    }

    /// The org's lock lives as long as its claim connection's session: one
    /// the server ended (a restart, a failover, a timeout) has let the lock
    /// go, and another instance may take the org, so the pass stops before
    /// its next page rather than interleave with it. Checked once a page; a
    /// session that ends between the check and the page's COMMIT is not covered.
    private func ensureClaimHeld(_ key: OrgKey) async throws {
        guard let c = claims[key] else { return }
        do {
            try Self.ensureOpen(c)
            try await Self.execute(c, "SELECT 1", logger: logger)
        } catch {
            claims[key] = nil
            try? await c.close()
            throw PostgresStoreError.unreachable(
                endpoint: endpoint.description, attempts: 1,
                cause: "the session holding \(key)'s lock ended, so another instance may take the org; this pass stops, the next claims it again")
        }
    }

    // MARK: The write path

    /// Replaces each day's partition of `key` and moves the cursor in ONE
    /// transaction, as `SQLiteCostStore.replaceDays` does, in a few
    /// statements per page rather than one per row: the page's lines go to
    /// one multi-row upsert from arrays (`unnest`).
    @discardableResult
    public func replaceDays(_ days: [DayWrite], for key: OrgKey, fetchedAt: Timestamp, cursor: CursorRule?,
                            fetch: Int64? = nil) async throws -> WriteSummary {
        try await ensureClaimHeld(key)
        let logger = logger
        let fetched = fetchedAt.description
        return try await transaction("replacing days of \(key)") { c in
            var summary = WriteSummary()
            var reopened: Day?
            let names = try await Self.scopeNames(c, key, logger: logger)
            // One upsert cannot touch a row twice: a page that repeats a day is
            // written day by day, in order, as SQLite would.
            let batches: [[DayWrite]] = Set(days.map(\.day)).count == days.count ? [days] : days.map { [$0] }
            for batch in batches {
                let r = try await PGPartitionWriter(key: key, fetchedAt: fetched, fetch: fetch, names: names, logger: logger)
                    .write(batch, on: c, into: &summary)
                if let r { reopened = min(reopened ?? r, r) }
            }
            // A day that was final and is not any more must be fetched again:
            // the cursor goes back to it, in the same transaction.
            if let reopened {
                var b = Self.keyBinds(key)
                b.append(reopened.description)
                try await Self.execute(c, """
                    UPDATE sync_cursor SET next_day = $3::date WHERE provider = $1 AND org = $2 AND next_day > $3::date
                    """, b, logger: logger)
            }
            if let cursor { summary.nextDay = try await Self.advanceCursor(c, key, cursor, logger: logger) }
            return summary
        }
    }

    /// Moves `next_day` over consecutive final days, derived from `sync_days`
    /// inside the writing transaction, never past `limit`, never backwards.
    static func advanceCursor(_ c: PostgresConnection, _ key: OrgKey, _ rule: CursorRule, logger: Logger) async throws -> Day? {
        let k = keyBinds(key)
        guard let stored = try await rows(c, "SELECT next_day::text FROM sync_cursor WHERE provider = $1 AND org = $2 FOR UPDATE",
                                          k, logger: logger).first.flatMap({ Day(try $0.decode(String.self)) }) else { return nil }
        var b = k
        b.append(stored.description)
        b.append(rule.limit.description)
        let finals = try await rows(c, """
            SELECT day::text FROM sync_days
            WHERE provider = $1 AND org = $2 AND is_final AND day >= $3::date AND day < $4::date ORDER BY day
            """, b, logger: logger).compactMap { Day(try $0.decode(String.self)) }
        var next = stored
        for day in finals {
            guard day == next else { break }
            next = next.advanced(by: 1)
        }
        if next > stored {
            var u = k
            u.append(next.description)
            try await execute(c, "UPDATE sync_cursor SET next_day = $3::date WHERE provider = $1 AND org = $2", u, logger: logger)
        }
        return next
    }

    /// Anthropic rows' `scope_name` by `scope_id`; empty for ClickHouse,
    /// whose rows carry the provider's own entity names.
    static func scopeNames(_ c: PostgresConnection, _ key: OrgKey, logger: Logger) async throws -> [String: String] {
        guard key.provider == .anthropic else { return [:] }
        var b = PostgresBindings()
        b.append(key.org)
        var names: [String: String] = [:]
        for row in try await rows(c, """
            SELECT CASE WHEN is_default THEN 'default' ELSE workspace_id END, name FROM workspaces WHERE org = $1
            """, b, logger: logger) {
            let (id, name) = try row.decode((String, String).self)
            names[id] = name
        }
        return names
    }

    // MARK: Cursor bookkeeping

    public func nextDay(_ key: OrgKey) async throws -> Day? {
        let logger = logger
        return try await run("reading the cursor of \(key)") { c in
            try await Self.rows(c, "SELECT next_day::text FROM sync_cursor WHERE provider = $1 AND org = $2", Self.keyBinds(key),
                                logger: logger).first.flatMap { Day(try $0.decode(String.self)) }
        }
    }

    public func recordAttempt(_ key: OrgKey, at time: Timestamp, start: Day) async throws {
        let logger = logger
        try await run("recording an attempt of \(key)") { c in
            var b = Self.keyBinds(key)
            b.append(start.description)
            b.append(time.description)
            try await Self.execute(c, """
                INSERT INTO sync_cursor (provider, org, next_day, last_attempt_at) VALUES ($1, $2, $3::date, $4::timestamptz)
                ON CONFLICT (provider, org) DO UPDATE SET last_attempt_at = excluded.last_attempt_at,
                    next_day = CASE WHEN EXISTS (SELECT 1 FROM sync_days d WHERE d.provider = $1 AND d.org = $2)
                                    THEN sync_cursor.next_day ELSE excluded.next_day END
                """, b, logger: logger)
        }
    }

    public func recordSuccess(_ key: OrgKey, at time: Timestamp) async throws {
        let logger = logger
        try await run("recording a success of \(key)") { c in
            var b = Self.keyBinds(key)
            b.append(time.description)
            try await Self.execute(c, """
                UPDATE sync_cursor SET last_success_at = $3::timestamptz, last_error = NULL, consecutive_failures = 0
                WHERE provider = $1 AND org = $2
                """, b, logger: logger)
        }
    }

    public func recordFailure(_ key: OrgKey, error: String) async throws {
        let logger = logger
        // A transaction: the count adds one, so a lost answer must not be retried (see `run`).
        try await transaction("recording a failure of \(key)") { c in
            var b = Self.keyBinds(key)
            b.append(error)
            try await Self.execute(c, """
                UPDATE sync_cursor SET last_error = $3, consecutive_failures = consecutive_failures + 1
                WHERE provider = $1 AND org = $2
                """, b, logger: logger)
        }
    }

    public func lastRecheck(_ key: OrgKey) async throws -> Day? {
        let logger = logger
        return try await run("reading the last re-check of \(key)") { c in
            try await Self.rows(c, "SELECT last_recheck_on::text FROM sync_cursor WHERE provider = $1 AND org = $2",
                                Self.keyBinds(key), logger: logger).first.flatMap { try $0.decode(String?.self).flatMap { Day($0) } }
        }
    }

    public func recordRecheck(_ key: OrgKey, on day: Day) async throws {
        let logger = logger
        try await run("recording a re-check of \(key)") { c in
            var b = Self.keyBinds(key)
            b.append(day.description)
            try await Self.execute(c, "UPDATE sync_cursor SET last_recheck_on = $3::date WHERE provider = $1 AND org = $2", b,
                                   logger: logger)
        }
    }

    public func oldestPendingDay(_ key: OrgKey) async throws -> Day? {
        let logger = logger
        return try await run("reading pending days of \(key)") { c in
            try await Self.rows(c, "SELECT min(day)::text FROM sync_days WHERE provider = $1 AND org = $2 AND NOT is_final",
                                Self.keyBinds(key), logger: logger).first.flatMap { try $0.decode(String?.self).flatMap { Day($0) } }
        }
    }

    public func finalDays(_ key: OrgKey, in range: DayRange) async throws -> Set<Day> {
        let logger = logger
        return try await run("reading final days of \(key)") { c in
            var b = Self.keyBinds(key)
            b.append(range.first.description)
            b.append(range.last.description)
            let days = try await Self.rows(c, """
                SELECT day::text FROM sync_days WHERE provider = $1 AND org = $2 AND day BETWEEN $3::date AND $4::date AND is_final
                """, b, logger: logger).compactMap { Day(try $0.decode(String.self)) }
            return Set(days)
        }
    }

    public func spendNanos(_ key: OrgKey, in range: DayRange) async throws -> Int64 {
        let logger = logger
        return try await run("reading the spend of \(key)") { c in
            var b = Self.keyBinds(key)
            b.append(range.first.description)
            b.append(range.last.description)
            // sync_days holds each day's exact sum of amount_nanos, written with its rows.
            return try await Self.rows(c, """
                SELECT coalesce(sum(amount_nanos), 0)::bigint FROM sync_days
                WHERE provider = $1 AND org = $2 AND day BETWEEN $3::date AND $4::date
                """, b, logger: logger).first?.decode(Int64.self) ?? 0
        }
    }

    // MARK: The fetch log

    public func beginFetch(_ key: OrgKey, _ range: DayRange, kind: FetchKind, at time: Timestamp, keepSince: Timestamp) async throws -> Int64 {
        let logger = logger
        return try await transaction("opening a fetch of \(key)") { c in
            var d = PostgresBindings()
            d.append(keepSince.description)
            // Bounded: fetches older than [history] keep_fetches_days go; revisions stay.
            try await Self.execute(c, "DELETE FROM sync_fetches WHERE started_at < $1::timestamptz", d, logger: logger)
            var b = Self.keyBinds(key)
            b.append(range.first.description)
            b.append(range.last.description)
            b.append(kind.rawValue)
            b.append(time.description)
            guard let id = try await Self.rows(c, """
                INSERT INTO sync_fetches (provider, org, first_day, last_day, kind, started_at)
                VALUES ($1, $2, $3::date, $4::date, $5, $6::timestamptz) RETURNING fetch_id
                """, b, logger: logger).first?.decode(Int64.self) else {
                throw PostgresStoreError.unexpected("INSERT … RETURNING fetch_id returned no row")
            }
            return id
        }
    }

    public func finishFetch(_ id: Int64, at time: Timestamp, requestIDs: [String], summary: WriteSummary, error: String?) async throws {
        let logger = logger
        try await run("closing fetch \(id)") { c in
            var b = PostgresBindings()
            b.append(id)
            b.append(time.description)
            b.append(Int64(requestIDs.count))
            b.append(requestIDs.isEmpty ? nil : requestIDs.joined(separator: " "))
            b.append(Int64(summary.inserted))
            b.append(Int64(summary.updated))
            b.append(Int64(summary.deleted))
            b.append(error)
            try await Self.execute(c, """
                UPDATE sync_fetches SET finished_at = $2::timestamptz, requests = $3, request_ids = $4, rows_inserted = $5,
                    rows_updated = $6, rows_deleted = $7, error = $8 WHERE fetch_id = $1
                """, b, logger: logger)
        }
    }

    public func revisions(_ key: OrgKey, in range: DayRange?) async throws -> [Revision] {
        let logger = logger
        return try await run("reading revisions of \(key)") { c in
            var b = Self.keyBinds(key)
            b.append(range?.first.description ?? "0001-01-01")
            b.append(range?.last.description ?? "9999-12-31")
            return try await Self.rows(c, """
                SELECT day::text, line_key, change, item, scope_id, old_amount::text, old_amount_nanos, new_amount::text,
                       new_amount_nanos, was_final, \(Self.ts("observed_at")), fetch_id
                FROM cost_revisions WHERE provider = $1 AND org = $2 AND day BETWEEN $3::date AND $4::date ORDER BY day, revision_id
                """, b, logger: logger).map { row in
                let (day, lineKey, change, item, scope, oldAmount, oldNanos, newAmount, newNanos, wasFinal, observed, fetch) =
                    try row.decode((String, String, String, String, String, String?, Int64?, String?, Int64?, Bool, String, Int64?).self)
                return Revision(key: key, day: Day(day) ?? Day(daysSinceEpoch: 0), lineKey: lineKey, change: change, item: item,
                                scopeID: scope, oldAmount: oldAmount, oldNanos: oldNanos, newAmount: newAmount, newNanos: newNanos,
                                wasFinal: wasFinal, observedAt: observed, fetchID: fetch)
            }
        }
    }

    // MARK: Reading back

    /// The stored lines of one day, in key order.
    public func lines(_ key: OrgKey, day: Day) async throws -> [StoredLine] {
        let logger = logger
        return try await run("reading lines of \(key)") { c in
            var b = Self.keyBinds(key)
            b.append(day.description)
            return try await Self.rows(c, """
                SELECT line_key, scope_id, item, amount::text, amount_nanos, is_final, \(Self.ts("fetched_at")), workspace_id, x_extras
                FROM costs WHERE provider = $1 AND org = $2 AND day = $3::date ORDER BY line_key COLLATE "C"
                """, b, logger: logger).map { row in
                let (lineKey, scope, item, amount, nanos, isFinal, fetched, workspace, extras) =
                    try row.decode((String, String, String, String, Int64, Bool, String, String?, String?).self)
                return StoredLine(lineKey: lineKey, scopeID: scope, item: item, amount: amount, amountNanos: nanos, isFinal: isFinal,
                                  fetchedAt: fetched, workspaceID: workspace, extras: extras)
            }
        }
    }

    /// Everything `costsync status` shows about one org, read in one snapshot.
    public func state(of key: OrgKey, since start: Day, now: Timestamp) async throws -> OrgSyncState {
        let logger = logger
        return try await transaction("reading the state of \(key)", readOnly: true) { c in
            let k = Self.keyBinds(key)
            var state = OrgSyncState(key: key)
            if let row = try await Self.rows(c, """
                SELECT next_day::text, \(Self.ts("last_attempt_at")), \(Self.ts("last_success_at")), last_error, consecutive_failures
                FROM sync_cursor WHERE provider = $1 AND org = $2
                """, k, logger: logger).first {
                let (next, attempt, success, error, failures) = try row.decode((String, String?, String?, String?, Int32).self)
                state.nextDay = Day(next)
                state.lastAttemptAt = attempt
                state.lastSuccessAt = success
                state.lastError = error
                state.consecutiveFailures = Int(failures)
            }
            let days = try await Self.rows(c, "SELECT day::text, row_count FROM sync_days WHERE provider = $1 AND org = $2 ORDER BY day",
                                           k, logger: logger).map { row in
                let (day, count) = try row.decode((String, Int32).self)
                return (Day(day), Int(count))
            }
            var h = k
            h.append(Timestamp(secondsSinceEpoch: now.secondsSinceEpoch - 7 * 86_400).description)
            if let row = try await Self.rows(c, """
                SELECT count(*) FILTER (WHERE observed_at >= $3::timestamptz), \(Self.ts("max(observed_at) FILTER (WHERE was_final)"))
                FROM cost_revisions WHERE provider = $1 AND org = $2
                """, h, logger: logger).first {
                let (count, lastFinal) = try row.decode((Int64, String?).self)
                state.revisionsLast7Days = Int(count)
                state.lastFinalDayChangeAt = lastFinal
            }
            let pending = try await Self.rows(c, """
                SELECT day::text, empty_pending_since IS NOT NULL, provider_total, records_total, is_final
                FROM sync_days WHERE provider = $1 AND org = $2 AND (NOT is_final OR empty_pending_since IS NOT NULL
                                                                     OR provider_total IS NOT NULL) ORDER BY day
                """, k, logger: logger)
            for row in pending {
                let (text, held, providerTotal, recordsTotal, isFinal) = try row.decode((String, Bool, String?, String?, Bool).self)
                guard let day = Day(text) else { continue }
                if !isFinal {
                    state.pendingDays += 1
                    if state.oldestPendingDay == nil { state.oldestPendingDay = day }
                }
                if held { state.emptyingsPending.append(day) }
                if let providerTotal {
                    state.mismatches.append(DayMismatch(day: day, providerTotal: providerTotal, recordsTotal: recordsTotal ?? ""))
                }
            }
            state.daysStored = days.count
            state.rowsStored = days.reduce(0) { $0 + $1.1 }
            state.firstDay = days.first?.0 ?? nil
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

    // MARK: Names

    public func account(_ key: OrgKey) async throws -> StoredAccount? {
        let logger = logger
        return try await run("reading the account of \(key)") { c in
            try await Self.rows(c, """
                SELECT account_id, account_name, credit_price::text, \(Self.ts("names_refreshed_at"))
                FROM accounts WHERE provider = $1 AND org = $2
                """, Self.keyBinds(key), logger: logger).first.map { row in
                let (id, name, price, refreshed) = try row.decode((String, String, String?, String?).self)
                return StoredAccount(account: ProviderAccount(id: id, name: name, creditPrice: price.flatMap { try? Money.parse($0) }),
                                     namesRefreshedAt: refreshed.flatMap { Timestamp(rfc3339: $0) })
            }
        }
    }

    public func saveAccount(_ key: OrgKey, _ account: ProviderAccount, at time: Timestamp) async throws {
        let logger = logger
        try await run("saving the account of \(key)") { c in
            var b = Self.keyBinds(key)
            b.append(account.id)
            b.append(account.name)
            b.append(account.creditPrice?.text)
            b.append(account.creditPrice?.nanos)
            b.append(time.description)
            try await Self.execute(c, """
                INSERT INTO accounts (provider, org, account_id, account_name, credit_price, credit_price_nanos, fetched_at)
                VALUES ($1, $2, $3, $4, $5::numeric, $6, $7::timestamptz)
                ON CONFLICT (provider, org) DO UPDATE SET
                    account_id = excluded.account_id, account_name = excluded.account_name,
                    credit_price = excluded.credit_price, credit_price_nanos = excluded.credit_price_nanos,
                    fetched_at = excluded.fetched_at
                """, b, logger: logger)
        }
    }

    /// Upserts the org's workspaces or services from arrays (one statement),
    /// fills `scope_name` of its Anthropic rows, and marks the names refreshed,
    /// in one transaction.
    public func saveNames(_ key: OrgKey, _ names: OrgNames, at time: Timestamp) async throws {
        let logger = logger
        let fetched = time.description
        try await transaction("saving the names of \(key)") { c in
            var b = PostgresBindings()
            b.append(key.org)
            b.append(fetched)
            switch names {
            case .workspaces(let workspaces):
                b.append(workspaces.map(\.id))
                b.append(workspaces.map(\.name))
                b.append(workspaces.map(\.isDefault))
                b.append(NullableTextArray(workspaces.map(\.archivedAt)))
                try await Self.execute(c, """
                    INSERT INTO workspaces (org, workspace_id, name, is_default, archived_at, fetched_at)
                    SELECT $1, u.id, u.name, u.is_default, u.archived_at, $2::timestamptz
                    FROM unnest($3::text[], $4::text[], $5::bool[], $6::text[]) AS u(id, name, is_default, archived_at)
                    ON CONFLICT (org, workspace_id) DO UPDATE SET
                        name = excluded.name, is_default = excluded.is_default,
                        archived_at = excluded.archived_at, fetched_at = excluded.fetched_at
                    """, b, logger: logger)
                // A renamed workspace shows its new name on every stored row at once.
                var o = PostgresBindings()
                o.append(key.org)
                try await Self.execute(c, """
                    UPDATE costs SET scope_name = n.name
                    FROM (SELECT CASE WHEN is_default THEN 'default' ELSE workspace_id END AS scope_id, name
                          FROM workspaces WHERE org = $1) AS n
                    WHERE costs.provider = 'anthropic' AND costs.org = $1 AND costs.scope_id = n.scope_id
                      AND costs.scope_name IS DISTINCT FROM n.name
                    """, o, logger: logger)
            case .services(let services):
                b.append(services.map(\.id))
                b.append(services.map(\.name))
                b.append(NullableTextArray(services.map(\.cloudProvider)))
                b.append(NullableTextArray(services.map(\.region)))
                b.append(NullableTextArray(services.map(\.state)))
                b.append(NullableTextArray(services.map(\.dataWarehouseID)))
                b.append(services.map(\.isPrimary))
                b.append(NullableTextArray(services.map(\.tagsJSON)))
                try await Self.execute(c, """
                    INSERT INTO services (org, service_id, name, cloud_provider, region, state, data_warehouse_id, is_primary,
                                          tags, fetched_at)
                    SELECT $1, u.id, u.name, u.cloud_provider, u.region, u.state, u.dw, u.is_primary, u.tags, $2::timestamptz
                    FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bool[], $10::text[])
                         AS u(id, name, cloud_provider, region, state, dw, is_primary, tags)
                    ON CONFLICT (org, service_id) DO UPDATE SET
                        name = excluded.name, cloud_provider = excluded.cloud_provider, region = excluded.region,
                        state = excluded.state, data_warehouse_id = excluded.data_warehouse_id,
                        is_primary = excluded.is_primary, tags = excluded.tags, fetched_at = excluded.fetched_at
                    """, b, logger: logger)
            }
            var a = Self.keyBinds(key)
            a.append(fetched)
            try await Self.execute(c, "UPDATE accounts SET names_refreshed_at = $3::timestamptz WHERE provider = $1 AND org = $2", a,
                                   logger: logger)
        }
    }
}

/// Advisory lock keys: 64-bit FNV-1a of a text that names the schema, so two
/// costsync deployments in different schemas of one database never block each other.
enum PGLockKey {
    static func migrations(schema: String) -> Int64 { hash("costsync.migrate\u{0}\(schema)") }
    static func org(schema: String, _ key: OrgKey) -> Int64 {
        hash("costsync.org\u{0}\(schema)\u{0}\(key.provider.rawValue)\u{0}\(key.org)")
    }

    static func hash(_ text: String) -> Int64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            h ^= UInt64(byte)
            h = h &* 0x0000_0100_0000_01b3
        }
        return Int64(bitPattern: h)
    }
}

extension Substring {
    var trimmingTrailingSpaces: Substring {
        var s = self
        while let last = s.last, last == " " || last == "\t" || last == "\r" { s.removeLast() }
        return s
    }
}

extension String {
    var trimmingTrailingSpaces: Substring { Substring(self).trimmingTrailingSpaces }
}
