import CostModel
import Logging
import NIOCore
import PostgresNIO
import StorePort

/// Rows for one table, as text in PostgreSQL's input syntax (NULL as nil):
/// what `copy-store` reads from SQLite and the bench floor loads.
public struct PGTableRows: Sendable {
    public var table: String
    public var columns: [String]
    public var rows: [[String?]]

    public init(table: String, columns: [String], rows: [[String?]]) {
        self.table = table
        self.columns = columns
        self.rows = rows
    }
}

/// Per (provider, org, day): what `copy-store` verifies on both sides.
public struct PGDayTotal: Sendable, Hashable {
    public var provider: String
    public var org: String
    public var day: String
    public init(provider: String, org: String, day: String) {
        self.provider = provider
        self.org = org
        self.day = day
    }
}

extension PostgresStoreError {
    /// `copy-store` found the orgs it would copy already in the target.
    static func targetHoldsOrgs(_ orgs: [String], schema: String) -> PostgresStoreError {
        .unexpected("schema '\(schema)' already holds \(orgs.joined(separator: ", ")); copy-store copies into a schema "
                    + "that has none of the source's orgs: drop those rows, or name another schema in [postgres]")
    }
}

extension PostgresCostStore {
    /// The tables `copy-store` may load, in the order it loads them.
    public static let copyableTables = ["accounts", "workspaces", "services", "sync_cursor", "sync_days", "sync_fetches",
                                        "cost_revisions", "costs", "alerts", "alert_deliveries"]

    /// Loads `tables` with COPY in ONE transaction: all of it, or none of it.
    /// Refused when the target already holds any of `orgs` (a cursor or a
    /// cost row), so a copy never merges into another instance's data.
    /// `sync_fetches.fetch_id` (and the revisions pointing at them) are
    /// shifted past the target's own ids, so both keep their links.
    public func importTables(_ tables: [PGTableRows], orgs: [OrgKey]) async throws -> Int {
        let logger = logger
        let schema = endpoint.schema
        for t in tables where !Self.copyableTables.contains(t.table) {
            throw PostgresStoreError.unexpected("copy into '\(t.table)' is not supported")
        }
        return try await transaction("copying into schema \(schema)") { c in
            try await Self.execute(c, "LOCK TABLE sync_fetches, sync_cursor, costs IN SHARE ROW EXCLUSIVE MODE", logger: logger)
            var present: [String] = []
            for key in orgs {
                let rows = try await Self.rows(c, """
                    SELECT EXISTS (SELECT 1 FROM sync_cursor WHERE provider = $1 AND org = $2)
                        OR EXISTS (SELECT 1 FROM costs WHERE provider = $1 AND org = $2)
                    """, Self.keyBinds(key), logger: logger)
                if try rows.first?.decode(Bool.self) == true { present.append("\(key)") }
            }
            guard present.isEmpty else { throw PostgresStoreError.targetHoldsOrgs(present, schema: schema) }
            let offset = try await Self.rows(c, "SELECT coalesce(max(fetch_id), 0)::bigint FROM sync_fetches", logger: logger)
                .first?.decode(Int64.self) ?? 0
            var loaded = 0
            for var t in tables {
                if offset > 0, let i = t.columns.firstIndex(of: "fetch_id") {
                    for r in t.rows.indices { t.rows[r][i] = t.rows[r][i].flatMap { Int64($0) }.map { String($0 + offset) } }
                }
                try await Self.copy(t, on: c, logger: logger)
                loaded += t.rows.count
            }
            // The identity goes on after the highest id copied.
            try await Self.execute(c, """
                SELECT setval(pg_get_serial_sequence('sync_fetches', 'fetch_id'), greatest((SELECT max(fetch_id) FROM sync_fetches), 1))
                """, logger: logger)
            return loaded
        }
    }

    /// One COPY … FROM STDIN in text format, sent in chunks of about 1 MB.
    static func copy(_ t: PGTableRows, on c: PostgresConnection, logger: Logger) async throws {
        try await copy(table: t.table, columns: t.columns, chunks: encode(t.rows), on: c, logger: logger)
    }

    static func copy(table: String, columns: [String], chunks: [ByteBuffer], on c: PostgresConnection, logger: Logger) async throws {
        guard !chunks.isEmpty else { return }
        try ensureOpen(c)
        try await c.copyFrom(table: table, columns: columns, logger: logger) { writer in
            for chunk in chunks { try await writer.write(chunk) }
        }
    }

    /// Rows in COPY's text format, in chunks of about 1 MB.
    static func encode(_ rows: [[String?]]) -> [ByteBuffer] {
        var text = PGCopyText()
        for row in rows {
            for value in row { text.field(value) }
            text.endRow()
        }
        return text.finish()
    }

    /// Row count and exact sum of `amount_nanos` per (provider, org, day) of `costs`.
    public func dayTotals() async throws -> [PGDayTotal: (rows: Int, nanos: Int64)] {
        let logger = logger
        let rows = try await run("summing costs per day") { c in
            try await Self.rows(c, """
                SELECT provider, org, day::text, count(*), sum(amount_nanos)::bigint FROM costs GROUP BY provider, org, day
                """, logger: logger).map { try $0.decode((String, String, String, Int64, Int64).self) }
        }
        var out: [PGDayTotal: (rows: Int, nanos: Int64)] = [:]
        for (p, o, d, n, s) in rows { out[PGDayTotal(provider: p, org: o, day: d)] = (Int(n), s) }
        return out
    }

    /// How many rows a table holds (for the bench and tests).
    public func count(_ table: String) async throws -> Int {
        guard Self.copyableTables.contains(table) else { throw PostgresStoreError.unexpected("no table '\(table)'") }
        let logger = logger
        return try await run("counting \(table)") { c in
            Int(try await Self.rows(c, "SELECT count(*) FROM \(table)", logger: logger).first?.decode(Int64.self) ?? 0)
        }
    }

    /// The bench floor: `lines` loaded into `costs` with ONE COPY in ONE
    /// transaction, nothing else (no upsert, no revisions, no cursor). Returns
    /// the rows loaded and how long the transaction took.
    public func copyFloor(_ days: [DayWrite], org: OrgKey, fetchedAt: Timestamp) async throws -> (rows: Int, elapsed: Duration) {
        // Encoded before the clock starts, by the writer's own row encoder:
        // the floor measures the server, not this process's text encoding.
        var text = PGCopyText()
        let fetched = fetchedAt.description
        for write in days {
            let day = write.day.description
            for line in write.lines {
                text.costRow(line, key: org, day: day, isFinal: true, scopeName: line.scopeName, fetchedAt: fetched)
            }
        }
        let rows = text.rows
        let chunks = text.finish()
        let columns = PGPartitionWriter.costColumns
        let logger = logger
        let start = ContinuousClock.now
        try await transaction("loading the floor") { c in
            try await Self.copy(table: "costs", columns: columns, chunks: chunks, on: c, logger: logger)
        }
        return (rows, ContinuousClock.now - start)
    }
}

/// Rows in COPY's text format, written straight into chunks of about 1 MB:
/// no row is built as an array of strings first.
struct PGCopyText {
    private var chunks: [ByteBuffer] = []
    private var buffer: ByteBuffer
    private var fieldsInRow = 0
    private(set) var rows = 0

    init() {
        buffer = ByteBuffer()
        buffer.reserveCapacity(1 << 20)
    }

    mutating func field(_ value: String?) {
        if fieldsInRow > 0 { buffer.writeInteger(UInt8(ascii: "\t")) }
        fieldsInRow += 1
        guard let value else { buffer.writeStaticString("\\N"); return }
        Self.escape(value, into: &buffer)
    }

    mutating func endRow() {
        buffer.writeInteger(UInt8(ascii: "\n"))
        fieldsInRow = 0
        rows += 1
        if buffer.readableBytes >= 1 << 20 {
            chunks.append(buffer)
            buffer = ByteBuffer()
            buffer.reserveCapacity(1 << 20)
        }
    }

    consuming func finish() -> [ByteBuffer] {
        if buffer.readableBytes > 0 { chunks.append(buffer) }
        return chunks
    }

    /// One `costs` row, in `PGPartitionWriter.costColumns` order.
    mutating func costRow(_ line: CostLine, key: OrgKey, day: String, isFinal: Bool, scopeName: String?, fetchedAt: String) {
        field(key.provider.rawValue)
        field(key.org)
        field(day)
        field(line.lineKey)
        field(line.scopeID)
        field(scopeName)
        field(line.item)
        field(line.amount.text)
        field(String(line.amount.nanos))
        field(key.provider.currency)
        field(isFinal ? "t" : "f")
        field(fetchedAt)
        let d = line.dimensions
        // One call each rather than a loop over an array: no allocation per row.
        field(d.workspaceID); field(d.description); field(d.costType); field(d.model); field(d.tokenType)
        field(d.contextWindow); field(d.serviceTier); field(d.inferenceGeo); field(d.entityType); field(d.entityID)
        field(d.entityName); field(d.serviceID); field(d.dataWarehouseID); field(d.metric)
        field(line.extras)
        endRow()
    }

    /// COPY's text format: backslash, tab, newline and carriage return
    /// escaped; a value with none of them (nearly all) is copied whole.
    static func escape(_ value: String, into buffer: inout ByteBuffer) {
        var value = value
        value.withUTF8 { bytes in
            guard bytes.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\n")
                || $0 == UInt8(ascii: "\r") })
            else {
                buffer.writeBytes(bytes)
                return
            }
            for byte in bytes {
                switch byte {
                case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
                case UInt8(ascii: "\t"): buffer.writeStaticString("\\t")
                case UInt8(ascii: "\n"): buffer.writeStaticString("\\n")
                case UInt8(ascii: "\r"): buffer.writeStaticString("\\r")
                default: buffer.writeInteger(byte)
                }
            }
        }
    }
}
