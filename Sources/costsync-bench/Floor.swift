import CSQLite
import Foundation
import CostModel
import SQLiteStore
import StorePort
import SQLite

/// The floor: the same rows inserted through the raw C API, one prepared
/// statement, the same commit batching (`batch` days a transaction, as a
/// backfill page commits them), the same schema and pragmas. Nothing costsync
/// does can be faster than this on this machine, so every figure is printed
/// beside it.
enum Floor {
    /// The best of three runs, each into a new file in `directory`: a floor is
    /// the fastest this machine did the work, and one run swings by ±30% here.
    static func best(_ days: [DayWrite], org: OrgKey, directory: URL, batch: Int = 31) throws -> Double {
        try (1...3).map { run in
            try insert(days, org: org, path: directory.appendingPathComponent("floor-\(run).sqlite").path, batch: batch)
        }.max()!
    }

    static func insert(_ days: [DayWrite], org: OrgKey, path: String, batch: Int = 31) throws -> Double {
        // The schema and pragmas come from the real code, so the floor measures
        // the same B-trees; everything after is bare libsqlite3.
        do {
            let db = try Connection(path: path)
            try db.migrate(Schema.migrations)
        }
        var db: OpaquePointer?
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, nil) == SQLITE_OK, let db else { fatalError("open") }
        defer { sqlite3_close_v2(db) }
        sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;", nil, nil, nil)
        let sql = "INSERT INTO costs VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27)"
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &stmt, nil) == SQLITE_OK, let stmt else { fatalError(String(cString: sqlite3_errmsg(db))) }
        defer { sqlite3_finalize(stmt) }
        // Every value is made into a C string before the clock starts.
        let rows: [[String?]] = days.flatMap { write in
            write.lines.sorted { $0.lineKey < $1.lineKey }.map { l in
                let d = l.dimensions
                return [org.provider.rawValue, org.org, write.day.description, l.lineKey, l.scopeID, l.scopeName, l.item,
                        l.amount.text, nil, org.provider.currency, nil, "2026-01-01T00:00:00Z", d.workspaceID, d.description,
                        d.costType, d.model, d.tokenType, d.contextWindow, d.serviceTier, d.inferenceGeo, d.entityType,
                        d.entityID, d.entityName, d.serviceID, d.dataWarehouseID, d.metric, l.extras]
            }
        }
        let nanos = days.flatMap { $0.lines.sorted { $0.lineKey < $1.lineKey }.map(\.amount.nanos) }
        // Every text in one NUL-separated arena, found by offset and length
        // (-1: NULL): the timed loop touches no Swift object, and SQLite may
        // bind without copying (SQLITE_STATIC), since the arena outlives it.
        let width = 27
        var arena: [UInt8] = []
        var offsetOf = [Int](repeating: -1, count: rows.count * width)
        var lengthOf = [Int32](repeating: 0, count: rows.count * width)
        for (r, row) in rows.enumerated() {
            for (i, value) in row.enumerated() {
                guard let value else { continue }
                offsetOf[r * width + i] = arena.count
                lengthOf[r * width + i] = Int32(value.utf8.count)
                arena.append(contentsOf: value.utf8)
                arena.append(0)
            }
        }
        // The row after which each transaction commits, and the first row of
        // each day: the day's constant columns are bound there only
        // (bindings survive sqlite3_reset), as the product does. Flags by
        // row, not sets, so the timed loop does no hashing.
        var commitAfterRow = [Bool](repeating: false, count: rows.count)
        var dayStartsAt = [Bool](repeating: false, count: rows.count + 1)
        var seen = 0
        for (i, write) in days.enumerated() {
            dayStartsAt[seen] = true
            seen += write.lines.count
            if (i + 1) % max(1, batch) == 0, seen > 0 { commitAfterRow[seen - 1] = true }
        }
        // Constants from here on: a `var` captured by the closure below would
        // be boxed and checked for exclusive access on every read.
        let (offsets, lengths, commitAfter, dayStarts) = (offsetOf, lengthOf, commitAfterRow, dayStartsAt)
        let dayConstant = (0...width).map { [1, 2, 3, 10, 11, 12].contains($0) }
        let clock = ContinuousClock()
        let start = clock.now
        sqlite3_exec(db, "BEGIN", nil, nil, nil)
        arena.withUnsafeBufferPointer { bytes in
            let base = UnsafeRawPointer(bytes.baseAddress!).assumingMemoryBound(to: CChar.self)
            for r in 0..<rows.count {
                let newDay = dayStarts[r]
                for i in 0..<width {
                    let index = Int32(i + 1)
                    if !newDay && dayConstant[i + 1] { continue }
                    let cell = r * width + i
                    if index == 9 {
                        sqlite3_bind_int64(stmt, index, nanos[r])
                    } else if index == 11 {
                        sqlite3_bind_int64(stmt, index, 1)
                    } else if offsets[cell] >= 0 {
                        sqlite3_bind_text(stmt, index, base + offsets[cell], lengths[cell], nil)
                    } else {
                        sqlite3_bind_null(stmt, index)
                    }
                }
                guard sqlite3_step(stmt) == SQLITE_DONE else { fatalError(String(cString: sqlite3_errmsg(db))) }
                sqlite3_reset(stmt)
                if commitAfter[r] {
                    sqlite3_exec(db, "COMMIT", nil, nil, nil)
                    sqlite3_exec(db, "BEGIN", nil, nil, nil)
                }
            }
        }
        sqlite3_exec(db, "COMMIT", nil, nil, nil)
        return rate(rows.count, clock.now - start)
    }
}

func rate(_ count: Int, _ elapsed: Duration) -> Double {
    let c = elapsed.components
    let seconds = Double(c.seconds) + Double(c.attoseconds) / 1e18
    return Double(count) / seconds
}
