import CSQLite
import SQLite
import Testing

@Suite("The SQLite layer")
struct ConnectionTests {
    @Test("a transaction whose body throws leaves no trace")
    func rollback() throws {
        struct Boom: Error {}
        let db = try Connection(path: ":memory:")
        try db.execute("CREATE TABLE t (a INTEGER NOT NULL) STRICT")
        #expect(throws: Boom.self) {
            try db.transaction {
                try db.prepare("INSERT INTO t VALUES (1)").execute()
                throw Boom()
            }
        }
        #expect(!db.isInTransaction)
        #expect(try db.query("SELECT count(*) FROM t") { $0.int64(0) } == [0])
    }

    @Test("the first error is the one reported, not the rollback's")
    func firstError() throws {
        let db = try Connection(path: ":memory:")
        try db.execute("CREATE TABLE t (a INTEGER PRIMARY KEY) STRICT")
        let error = #expect(throws: SQLiteError.self) {
            try db.transaction {
                try db.prepare("INSERT INTO t VALUES (1)").execute()
                try db.prepare("INSERT INTO t VALUES (1)").execute()
            }
        }
        #expect(error?.code == SQLITE_CONSTRAINT)
        #expect(error?.extendedCode == SQLITE_CONSTRAINT | (6 << 8))  // SQLITE_CONSTRAINT_PRIMARYKEY, a macro Swift cannot import
    }

    @Test("an error message names the SQL and SQLite's message")
    func errorNamesSQL() throws {
        let db = try Connection(path: ":memory:")
        let error = #expect(throws: SQLiteError.self) { try db.prepare("SELECT nope FROM nowhere") }
        #expect(error?.sql == "SELECT nope FROM nowhere")
        #expect(error?.description.contains("no such table: nowhere") == true)
        #expect(error?.description.contains("SELECT nope FROM nowhere") == true)
    }

    @Test("text, 64-bit integers and NULL round-trip through bind and column")
    func roundTrip() throws {
        let db = try Connection(path: ":memory:")
        try db.execute("CREATE TABLE t (s TEXT, i INTEGER, n TEXT) STRICT")
        let big = Int64.max - 1
        try db.prepare("INSERT INTO t VALUES (?1, ?2, ?3)").execute([.text("ünïcödé ✓"), .integer(big), .null])
        let rows = try db.query("SELECT s, i, n FROM t") { ($0.text(0), $0.int64(1), $0.isNull(2)) }
        #expect(rows.first?.0 == "ünïcödé ✓")
        #expect(rows.first?.1 == big)
        #expect(rows.first?.2 == true)
    }

    @Test("a cached statement is prepared once and reused")
    func cache() throws {
        let db = try Connection(path: ":memory:")
        let a = try db.cached("SELECT 1")
        let b = try db.cached("SELECT 1")
        #expect(a === b)
    }

    @Test("a reader in WAL mode never sees SQLITE_BUSY while a writer writes")
    func walReader() async throws {
        try await withTemporaryDatabase { path in
            let writer = try Connection(path: path)
            try writer.execute("CREATE TABLE t (a INTEGER) STRICT; INSERT INTO t VALUES (1);")
            #expect(try writer.query("PRAGMA journal_mode") { $0.text(0) } == ["wal"])
            // No busy timeout for the reader: any lock conflict would fail at once.
            let reader = try Connection(path: path, mode: .readOnly, busyTimeoutMilliseconds: 0)
            try writer.execute("BEGIN IMMEDIATE")
            for i in 2...1000 { try writer.prepare("INSERT INTO t VALUES (?1)").execute([.integer(Int64(i))]) }
            #expect(try reader.query("SELECT count(*) FROM t") { $0.int64(0) } == [1])
            try writer.execute("COMMIT")
            #expect(try reader.query("SELECT count(*) FROM t") { $0.int64(0) } == [1000])
        }
    }
}
