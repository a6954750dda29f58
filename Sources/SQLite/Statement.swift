import CSQLite

/// A value SQLite stores in costsync's schema. Money never travels as a
/// floating-point number, so there is no `real` case.
public enum SQLiteValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case text(String)
}

/// A prepared statement. It owns its handle and finalizes it when released.
///
/// Not `Sendable`: a statement belongs to its connection, which belongs to one
/// actor (`SQLiteCostStore`), and is only ever used from there.
public final class Statement {
    let handle: OpaquePointer
    let db: OpaquePointer
    public let sql: String

    init(db: OpaquePointer, sql: String, persistent: Bool) throws(SQLiteError) {
        var stmt: OpaquePointer?
        // SQLITE_PREPARE_PERSISTENT: "a hint to the query planner that the
        // prepared statement will be retained for a long time and probably
        // reused many times" — true of every cached statement.
        let flags: UInt32 = persistent ? UInt32(SQLITE_PREPARE_PERSISTENT) : 0
        let rc = sqlite3_prepare_v3(db, sql, -1, flags, &stmt, nil)
        guard rc == SQLITE_OK, let stmt else {
            throw SQLiteError(extendedCode: rc, message: String(cString: sqlite3_errmsg(db)), sql: sql)
        }
        self.handle = stmt
        self.db = db
        self.sql = sql
    }

    deinit { sqlite3_finalize(handle) }

    // MARK: Binding (1-based indices, as SQLite numbers parameters)

    @inline(__always)
    func check(_ rc: Int32) throws(SQLiteError) {
        guard rc == SQLITE_OK else { throw error(rc) }
    }

    func error(_ rc: Int32) -> SQLiteError {
        SQLiteError(extendedCode: sqlite3_extended_errcode(db) != 0 ? sqlite3_extended_errcode(db) : rc,
                    message: String(cString: sqlite3_errmsg(db)), sql: sql)
    }

    /// Binds text with `SQLITE_TRANSIENT`, so SQLite copies the bytes before
    /// returning: the Swift string may be gone by the time the row is stepped.
    @inline(__always)
    public func bind(_ text: String, at index: Int32) throws(SQLiteError) {
        // The UTF-8 bytes as they are, with their length: no NUL is needed,
        // so a small (inline) string is not copied into a C string first,
        // which the implicit String-to-pointer bridge would allocate for.
        let rc = text.utf8.withContiguousStorageIfAvailable { bytes -> Int32 in
            // An empty buffer may have no address, and a NULL pointer would bind NULL, not ''.
            guard let base = bytes.baseAddress, !bytes.isEmpty else { return sqlite3_bind_text(handle, index, "", 0, csqlite_transient()) }
            return base.withMemoryRebound(to: CChar.self, capacity: bytes.count) {
                sqlite3_bind_text(handle, index, $0, Int32(bytes.count), csqlite_transient())
            }
        } ?? sqlite3_bind_text(handle, index, text, Int32(text.utf8.count), csqlite_transient())
        try check(rc)
    }

    @inline(__always)
    public func bind(_ text: String?, at index: Int32) throws(SQLiteError) {
        if let text { try bind(text, at: index) } else { try check(sqlite3_bind_null(handle, index)) }
    }

    @inline(__always)
    public func bind(_ value: Int64, at index: Int32) throws(SQLiteError) {
        try check(sqlite3_bind_int64(handle, index, value))
    }

    public func bind(_ value: Int64?, at index: Int32) throws(SQLiteError) {
        if let value { try bind(value, at: index) } else { try check(sqlite3_bind_null(handle, index)) }
    }

    public func bind(_ value: SQLiteValue, at index: Int32) throws(SQLiteError) {
        switch value {
        case .null: try check(sqlite3_bind_null(handle, index))
        case .integer(let v): try bind(v, at: index)
        case .text(let s): try bind(s, at: index)
        }
    }

    public func bind(_ values: [SQLiteValue]) throws(SQLiteError) {
        for (i, v) in values.enumerated() { try bind(v, at: Int32(i + 1)) }
    }

    // MARK: Stepping

    /// Steps once: true when a row is ready to read, false when done.
    @inline(__always)
    public func step() throws(SQLiteError) -> Bool {
        let rc = sqlite3_step(handle)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        let err = error(rc)
        sqlite3_reset(handle)
        throw err
    }

    /// Makes the statement ready to run again; bindings are kept (SQLite's
    /// rule), which lets a hot loop bind the per-day columns once.
    public func reset() { sqlite3_reset(handle) }

    /// Binds `values`, runs to completion, and resets: for writes.
    public func execute(_ values: [SQLiteValue] = []) throws(SQLiteError) {
        defer { reset() }
        try bind(values)
        while try step() {}
    }

    /// Binds `values` and maps every row.
    public func query<T>(_ values: [SQLiteValue] = [], _ row: (Statement) throws -> T) throws -> [T] {
        defer { reset() }
        try bind(values)
        var out: [T] = []
        while try step() { out.append(try row(self)) }
        return out
    }

    // MARK: Columns (0-based, as SQLite numbers result columns)

    public func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }

    public func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

    public func text(_ column: Int32) -> String? {
        guard let p = sqlite3_column_text(handle, column) else { return nil }
        let n = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
    }
}
