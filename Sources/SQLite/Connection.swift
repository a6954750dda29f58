import CSQLite

/// One SQLite connection over the system's libsqlite3.
///
/// Not `Sendable`: a connection is owned by exactly one actor or thread, which
/// is how SQLite's `SQLITE_OPEN_NOMUTEX` mode must be used.
public final class Connection {
    let db: OpaquePointer
    public let path: String
    private var cache: [String: Statement] = [:]

    public enum Mode: Sendable { case readWrite, readOnly }

    /// Opens (creating when writable) the database at `path` (`:memory:` for a
    /// private in-memory one), then sets WAL, a busy timeout and foreign keys.
    public init(path: String, mode: Mode = .readWrite, busyTimeoutMilliseconds: Int32 = 10_000) throws(SQLiteError) {
        var handle: OpaquePointer?
        // EXRESCODE: errors carry extended codes (SQLITE_CONSTRAINT_PRIMARYKEY,
        // SQLITE_IOERR_WRITE…), which say more than the primary code.
        let flags = (mode == .readWrite ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY)
            | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        let rc = sqlite3_open_v2(path, &handle, flags, nil)
        guard rc == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            // sqlite3_open_v2 may hand back a handle even when it fails; it must be closed.
            if let handle { sqlite3_close_v2(handle) }
            throw SQLiteError(extendedCode: rc, message: "cannot open database '\(path)': \(message)", sql: nil)
        }
        self.db = handle
        self.path = path
        do throws(SQLiteError) {
            // Waiting is better than failing: a reader or a second writer (a
            // backfill beside the daemon) holds the lock only for a moment.
            sqlite3_busy_timeout(handle, busyTimeoutMilliseconds)
            if mode == .readWrite {
                // WAL lets readers (the sqlite3 shell, Grafana) read while we
                // write, without "database is locked". NORMAL synchronous is
                // the documented safe pairing with WAL: a power cut may lose the
                // last transactions, never consistency, and the next poll
                // fetches them again.
                try execute("PRAGMA journal_mode = WAL")
                try execute("PRAGMA synchronous = NORMAL")
                // Readers must never see SQLITE_BUSY, not even when costsync
                // exits: the WAL is left for the next writer's automatic
                // checkpoints, and capped so a big backfill's WAL shrinks again.
                guard csqlite_disable_checkpoint_on_close(handle) == SQLITE_OK else {
                    throw SQLiteError(extendedCode: sqlite3_extended_errcode(handle), message: String(cString: sqlite3_errmsg(handle)), sql: nil)
                }
                try execute("PRAGMA journal_size_limit = 67108864")
            }
            try execute("PRAGMA foreign_keys = ON")
        } catch {
            sqlite3_close_v2(handle)
            throw error
        }
    }

    deinit {
        // sqlite3_close refuses while statements live: finalize the cache first.
        cache.removeAll()
        sqlite3_close_v2(db)
    }

    // MARK: Statements

    /// A one-off statement, finalized when released.
    public func prepare(_ sql: String) throws(SQLiteError) -> Statement {
        try Statement(db: db, sql: sql, persistent: false)
    }

    /// A statement prepared once per connection and reused, for hot paths.
    /// It comes back reset, with its previous bindings possibly still set.
    public func cached(_ sql: String) throws(SQLiteError) -> Statement {
        if let s = cache[sql] { return s }
        let s = try Statement(db: db, sql: sql, persistent: true)
        cache[sql] = s
        return s
    }

    /// Drops every cached statement; the next use prepares them afresh.
    public func clearStatementCache() { cache.removeAll() }

    /// Runs one or more statements without parameters (schema, pragmas).
    public func execute(_ sql: String) throws(SQLiteError) {
        var errmsg: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &errmsg)
        if rc != SQLITE_OK {
            let message = errmsg.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(db))
            sqlite3_free(errmsg)
            throw SQLiteError(extendedCode: sqlite3_extended_errcode(db), message: message, sql: sql)
        }
    }

    /// Runs a one-off query and maps every row.
    public func query<T>(_ sql: String, _ values: [SQLiteValue] = [], _ row: (Statement) throws -> T) throws -> [T] {
        try prepare(sql).query(values, row)
    }

    public var changes: Int { Int(sqlite3_changes(db)) }
    /// The rowid of the last row inserted on this connection (an `INTEGER PRIMARY KEY`).
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(db) }
    public var isInTransaction: Bool { sqlite3_get_autocommit(db) == 0 }

    // MARK: Transactions

    public enum TransactionKind: String, Sendable {
        case deferred = "DEFERRED"
        /// Takes the write lock at BEGIN rather than halfway through, so a
        /// writer waits (busy timeout) up front instead of failing mid-body.
        case immediate = "IMMEDIATE"
    }

    /// Begins, runs `body`, commits; rolls back when `body` throws (or the
    /// commit fails) and rethrows the first error, the one a user can act on.
    public func transaction<T>(_ kind: TransactionKind = .immediate, _ body: () throws -> T) throws -> T {
        try execute("BEGIN \(kind.rawValue)")
        do {
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            // A failed ROLLBACK (e.g. SQLite already rolled back after
            // SQLITE_FULL) adds nothing the caller can act on; the first error is kept.
            if isInTransaction { try? execute("ROLLBACK") }
            // Whatever statement failed is not reused in an unknown state.
            clearStatementCache()
            throw error
        }
    }
}
