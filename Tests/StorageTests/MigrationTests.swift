import CostModel
import SQLiteStore
import StorePort
import SQLite
import Testing

@Suite("Migrations")
struct MigrationTests {
    @Test("running the migrations twice leaves one schema")
    func twice() async throws {
        try await withTemporaryDatabase { path in
            _ = try SQLiteCostStore(path: path)
            _ = try SQLiteCostStore(path: path)
            let db = try Connection(path: path)
            #expect(try db.userVersion == Schema.currentVersion)
            let objects = try db.query("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name") {
                "\($0.text(0)!) \($0.text(1)!)"
            }
            #expect(objects == ["table accounts", "table alert_deliveries", "index alert_deliveries_pending", "table alerts",
                                "index alerts_by_time", "table cost_revisions", "index cost_revisions_by_day", "table costs", "view daily_costs",
                                "view data_warehouses", "view day_revisions", "view focus_costs", "view monthly_costs",
                                "table services", "table sync_cursor", "table sync_days",
                                "table sync_fetches", "index sync_fetches_by_start", "table workspaces"])
        }
    }

    @Test("an older user_version is migrated forward and keeps its rows")
    func forward() async throws {
        try await withTemporaryDatabase { path in
            let v1 = Migration(version: 1, name: "t", sql: "CREATE TABLE t (a INTEGER) STRICT; INSERT INTO t VALUES (7);")
            let v2 = Migration(version: 2, name: "t.b", sql: "ALTER TABLE t ADD COLUMN b TEXT;")
            do {
                let db = try Connection(path: path)
                try db.migrate([v1])
                #expect(try db.userVersion == 1)
            }
            let db = try Connection(path: path)
            try db.migrate([v1, v2])
            #expect(try db.userVersion == 2)
            #expect(try db.query("SELECT a, b FROM t") { "\($0.int64(0)) \($0.isNull(1))" } == ["7 true"])
        }
    }

    @Test("a v1 database of the released costsync, with data, migrates forward in place with nothing lost")
    func releasedV1() async throws {
        try await withTemporaryDatabase { path in
            do {
                let db = try Connection(path: path)
                try db.migrate(Array(Schema.migrations.prefix(1)))
                try db.execute("""
                    INSERT INTO costs (provider, org, day, line_key, scope_id, item, amount, amount_nanos, currency, is_final, fetched_at)
                    VALUES ('anthropic', 'acme', '2025-03-01', 'k1', 'default', 'Claude', '4.128', 4128000000, 'USD', 1, '2025-03-05T00:00:00Z');
                    INSERT INTO sync_days (provider, org, day, fetched_at, is_final, row_count, amount_nanos)
                    VALUES ('anthropic', 'acme', '2025-03-01', '2025-03-05T00:00:00Z', 1, 1, 4128000000);
                    INSERT INTO sync_cursor (provider, org, next_day) VALUES ('anthropic', 'acme', '2025-03-02');
                    """)
                #expect(try db.userVersion == 1)
            }
            let store = try SQLiteCostStore(path: path)
            let key = OrgKey(.anthropic, "acme")
            #expect(try await store.nextDay(key) == day("2025-03-02"))
            #expect(try await store.lines(key, day: day("2025-03-01")).map(\.amount) == ["4.128"])
            let first = try await store.withConnection { try $0.query("SELECT first_amount_nanos FROM sync_days") { $0.int64(0) } }
            #expect(first == [4_128_000_000])
            // A restatement after the migration is recorded against the migrated day.
            let summary = try await store.replaceDays([DayWrite(day: day("2025-03-01"), lines: [line("k1", cents: "500")], isFinal: true)],
                                                      for: key, fetchedAt: fetched, cursor: nil)
            #expect(summary.revisions == 1 && summary.finalDaysChanged == [day("2025-03-01")])
            let db = try Connection(path: path)
            #expect(try db.userVersion == Schema.currentVersion)
        }
    }

    @Test("a database migrated by a newer costsync is refused, naming both versions")
    func tooNew() async throws {
        try await withTemporaryDatabase { path in
            let db = try Connection(path: path)
            try db.execute("PRAGMA user_version = 99")
            let error = #expect(throws: SchemaTooNewError.self) { try db.migrate(Schema.migrations) }
            #expect(error?.description.contains("99") == true)
            #expect(error?.description.contains("up to \(Schema.currentVersion)") == true)
        }
    }

    @Test("the costs table has every column of product.md and a STRICT key")
    func costsColumns() async throws {
        let db = try Connection(path: ":memory:")
        try db.migrate(Schema.migrations)
        let columns = try db.query("SELECT name, type, \"notnull\", pk FROM pragma_table_info('costs') ORDER BY cid") {
            ($0.text(0)!, $0.text(1)!, $0.int64(2), $0.int64(3))
        }
        #expect(columns.map(\.0) == [
            "provider", "org", "day", "line_key", "scope_id", "scope_name", "item", "amount", "amount_nanos", "currency",
            "is_final", "fetched_at", "workspace_id", "description", "cost_type", "model", "token_type", "context_window",
            "service_tier", "inference_geo", "entity_type", "entity_id", "entity_name", "service_id", "data_warehouse_id",
            "metric", "x_extras",
        ])
        #expect(columns.filter { $0.3 > 0 }.map(\.0) == ["provider", "org", "day", "line_key"])
        #expect(columns.filter { $0.3 > 0 }.allSatisfy { $0.2 == 1 })
        let strict = try db.query("SELECT strict FROM pragma_table_list WHERE name IN ('costs', 'sync_cursor', 'sync_days')") { $0.int64(0) }
        #expect(strict == [1, 1, 1])
        let cursor = try db.query("SELECT name FROM pragma_table_info('sync_cursor') ORDER BY cid") { $0.text(0)! }
        #expect(cursor == ["provider", "org", "next_day", "last_attempt_at", "last_success_at", "last_error", "consecutive_failures",
                           "last_recheck_on"])
        let days = try db.query("SELECT name FROM pragma_table_info('sync_days') ORDER BY cid") { $0.text(0)! }
        #expect(days == ["provider", "org", "day", "fetched_at", "is_final", "row_count", "amount_nanos",
                         "empty_pending_since", "provider_total", "records_total", "first_amount_nanos", "empty_pending_was_final"])
        let focus = try db.query("SELECT name FROM pragma_table_info('focus_costs')") { $0.text(0)! }
        for column in ["BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd",
                       "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargePeriodEnd",
                       "ChargePeriodStart", "ContractedCost", "EffectiveCost", "InvoiceIssuerName", "ListCost",
                       "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName", "ServiceCategory", "ServiceName",
                       "PricingCurrency", "PricingCurrencyEffectiveCost"] {
            #expect(focus.contains(column), "focus_costs lacks \(column)")
        }
    }
}
