import Config
import CostModel
import Foundation
import Logging
import PostgresStore
import SQLite
import SQLiteStore
import StorePort

// Issue 13: `costsync copy-store --from FILE.sqlite --to postgres`.
extension CostsyncApp {
    /// The tables copied, in load order, with the columns both schemas share
    /// (PostgreSQL parses SQLite's text: dates, RFC 3339 times, 0/1 booleans,
    /// decimal text into NUMERIC, exactly). `revision_id` is left to
    /// PostgreSQL, which numbers the rows in the order they are copied.
    static let copiedTables: [(table: String, columns: [String], since: Int32)] = [
        ("accounts", ["provider", "org", "account_id", "account_name", "credit_price", "credit_price_nanos", "fetched_at",
                      "names_refreshed_at"], 4),
        ("workspaces", ["org", "workspace_id", "name", "is_default", "archived_at", "fetched_at"], 4),
        ("services", ["org", "service_id", "name", "cloud_provider", "region", "state", "data_warehouse_id", "is_primary", "tags",
                      "fetched_at"], 4),
        ("sync_cursor", ["provider", "org", "next_day", "last_attempt_at", "last_success_at", "last_error", "consecutive_failures",
                         "last_recheck_on"], 3),
        ("sync_days", ["provider", "org", "day", "fetched_at", "is_final", "row_count", "amount_nanos", "empty_pending_since",
                       "provider_total", "records_total", "first_amount_nanos", "empty_pending_was_final"], 3),
        ("sync_fetches", ["fetch_id", "provider", "org", "first_day", "last_day", "kind", "started_at", "finished_at", "requests",
                          "request_ids", "rows_inserted", "rows_updated", "rows_deleted", "error"], 3),
        ("cost_revisions", ["provider", "org", "day", "line_key", "change", "item", "scope_id", "old_amount", "old_amount_nanos",
                            "new_amount", "new_amount_nanos", "was_final", "observed_at", "fetch_id"], 3),
        ("costs", ["provider", "org", "day", "line_key", "scope_id", "scope_name", "item", "amount", "amount_nanos", "currency",
                   "is_final", "fetched_at", "workspace_id", "description", "cost_type", "model", "token_type", "context_window",
                   "service_tier", "inference_geo", "entity_type", "entity_id", "entity_name", "service_id", "data_warehouse_id",
                   "metric", "x_extras"], 1),
        ("alerts", ["id", "kind", "budget", "provider", "org", "workspace_id", "currency", "period", "threshold_percent", "spent",
                    "spent_nanos", "limit_amount", "limit_nanos", "forecast", "forecast_nanos", "text", "raised_at"], 5),
        ("alert_deliveries", ["alert_id", "target", "attempts", "last_attempt_at", "next_attempt_at", "last_error", "delivered_at",
                              "abandoned_at"], 5),
    ]

    /// Copies the SQLite database at `path` into `[postgres]` in one
    /// transaction (or, with `verifyOnly`, copies nothing), then verifies per
    /// (provider, org, day) that row counts and `amount_nanos` sums are equal
    /// on both sides; a difference names each day and fails the command.
    public func copyStore(from path: String, verifyOnly: Bool = false) async throws(AppError) {
        guard let postgres = config.postgres else {
            throw .config("\(config.file): copy-store --to postgres needs a [postgres] table naming the target (see README, PostgreSQL)")
        }
        guard FileManager.default.fileExists(atPath: path) else {
            throw .failed("costsync copy-store: no SQLite database at '\(path)'")
        }
        let source: SQLiteCostStore
        do { source = try SQLiteCostStore(readingFrom: path) } catch {
            throw .failed("costsync copy-store: cannot open '\(path)': \(error)")
        }
        let target = try await openPostgresStore(postgres)
        do {
            let (tables, orgs) = try await source.withConnection { db in try Self.readTables(db) }
            if !verifyOnly {
                let loaded = try await target.importTables(tables, orgs: orgs)
                logger.info("copied the SQLite database into PostgreSQL", metadata: [
                    "rows": "\(loaded)", "orgs": "\(orgs.count)", "schema": "\(postgres.schema)",
                ])
            }
            let want = try await source.withConnection { db in try Self.sqliteDayTotals(db) }
            let got = try await target.dayTotals()
            var differences: [String] = []
            for key in Set(want.keys).union(got.keys).sorted(by: { ($0.provider, $0.org, $0.day) < ($1.provider, $1.org, $1.day) }) {
                let a = want[key], b = got[key]
                if a?.rows != b?.rows || a?.nanos != b?.nanos {
                    differences.append("\(key.provider)/\(key.org) \(key.day): SQLite \(a.map { "\($0.rows) rows, \($0.nanos) nanos" } ?? "nothing"), "
                                       + "PostgreSQL \(b.map { "\($0.rows) rows, \($0.nanos) nanos" } ?? "nothing")")
                }
            }
            await target.close()
            guard differences.isEmpty else {
                for line in differences.prefix(50) { console.error("costsync copy-store: differs: \(line)") }
                throw AppError.failed("costsync copy-store: \(differences.count) (provider, org, day) partitions differ between '\(path)' "
                                      + "and PostgreSQL schema '\(postgres.schema)'")
            }
            let rows = want.values.reduce(0) { $0 + $1.rows }
            console.print("copy-store: verified \(want.count) days of \(orgs.count) orgs, \(rows) rows: row counts and amount_nanos sums "
                          + "are equal in '\(path)' and PostgreSQL schema '\(postgres.schema)'")
        } catch let error as AppError {
            await target.close()
            throw error
        } catch {
            await target.close()
            throw .failed("costsync copy-store: \(error)")
        }
    }

    /// Every copied table of the SQLite file, as text; tables of a migration
    /// the file has not run (an older file) are skipped.
    static func readTables(_ db: Connection) throws -> ([PGTableRows], [OrgKey]) {
        let version = try db.userVersion
        var tables: [PGTableRows] = []
        for (table, columns, since) in copiedTables where version >= since {
            let list = columns.joined(separator: ", ")
            let rows = try db.query("SELECT \(list) FROM \(table)") { s in
                (0..<Int32(columns.count)).map { s.isNull($0) ? nil : s.text($0) }
            }
            tables.append(PGTableRows(table: table, columns: columns, rows: rows))
        }
        let orgs = try db.query("SELECT provider, org FROM sync_cursor UNION SELECT DISTINCT provider, org FROM costs") { s in
            (s.text(0).flatMap(Provider.init(rawValue:)), s.text(1) ?? "")
        }.compactMap { p, o in p.map { OrgKey($0, o) } }
        return (tables, orgs)
    }

    static func sqliteDayTotals(_ db: Connection) throws -> [PGDayTotal: (rows: Int, nanos: Int64)] {
        var out: [PGDayTotal: (rows: Int, nanos: Int64)] = [:]
        for (key, rows, nanos) in try db.query("SELECT provider, org, day, count(*), sum(amount_nanos) FROM costs GROUP BY 1, 2, 3", [], { s in
            (PGDayTotal(provider: s.text(0) ?? "", org: s.text(1) ?? "", day: s.text(2) ?? ""), Int(s.int64(3)), s.int64(4))
        }) {
            out[key] = (rows, nanos)
        }
        return out
    }
}
