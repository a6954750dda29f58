import CSQLite

/// A failed SQLite call: SQLite's own result code and message, and the SQL it
/// was running. Bound values are deliberately left out: they may be amounts or
/// identifiers that do not belong in a log line.
public struct SQLiteError: Error, Sendable, CustomStringConvertible {
    /// The extended result code (`SQLITE_CONSTRAINT_PRIMARYKEY` = 1555, …);
    /// connections open with `SQLITE_OPEN_EXRESCODE` so it is always extended.
    public let extendedCode: Int32
    /// `sqlite3_errmsg` read right after the failing call, before anything could overwrite it.
    public let message: String
    /// The statement that failed, when there was one.
    public let sql: String?

    /// The primary result code (`SQLITE_CONSTRAINT`, `SQLITE_BUSY`, `SQLITE_FULL`, …).
    public var code: Int32 { extendedCode & 0xFF }

    public init(extendedCode: Int32, message: String, sql: String?) {
        self.extendedCode = extendedCode
        self.message = message
        self.sql = sql
    }

    public var description: String {
        let name = String(cString: sqlite3_errstr(extendedCode))
        var text = "SQLite error \(code) (extended \(extendedCode), \(name)): \(message)"
        if let sql { text += " — while running: \(sql.trimmingWhitespaceForDisplay)" }
        if code == SQLITE_FULL { text += " — free disk space where the database lives; nothing of this write was committed" }
        return text
    }
}

extension String {
    /// Collapses runs of whitespace so that a multi-line statement reads as one log line.
    var trimmingWhitespaceForDisplay: String {
        var out = ""
        var lastWasSpace = false
        for ch in self {
            if ch.isWhitespace {
                if !lastWasSpace && !out.isEmpty { out.append(" ") }
                lastWasSpace = true
            } else {
                out.append(ch)
                lastWasSpace = false
            }
        }
        if out.count > 300 { return String(out.prefix(300)) + "…" }
        return out
    }
}
