import CostModel
import SQLite
import StorePort

extension SQLiteCostStore {
    public func account(_ key: OrgKey) throws -> StoredAccount? {
        try db.cached("""
            SELECT account_id, account_name, credit_price, names_refreshed_at FROM accounts WHERE provider = ?1 AND org = ?2
            """).query([.text(key.provider.rawValue), .text(key.org)]) { row in
            StoredAccount(
                account: ProviderAccount(id: row.text(0) ?? "", name: row.text(1) ?? "",
                                         creditPrice: row.text(2).flatMap { try? Money.parse($0) }),
                namesRefreshedAt: row.text(3).flatMap { Timestamp(rfc3339: $0) })
        }.first
    }

    public func saveAccount(_ key: OrgKey, _ account: ProviderAccount, at time: Timestamp) throws {
        try db.cached("""
            INSERT INTO accounts (provider, org, account_id, account_name, credit_price, credit_price_nanos, fetched_at)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
            ON CONFLICT (provider, org) DO UPDATE SET
                account_id = excluded.account_id, account_name = excluded.account_name,
                credit_price = excluded.credit_price, credit_price_nanos = excluded.credit_price_nanos,
                fetched_at = excluded.fetched_at
            """).execute([
                .text(key.provider.rawValue), .text(key.org), .text(account.id), .text(account.name),
                account.creditPrice.map { .text($0.text) } ?? .null,
                account.creditPrice.map { .integer($0.nanos) } ?? .null,
                .text(time.description),
            ])
    }

    public func saveNames(_ key: OrgKey, _ names: OrgNames, at time: Timestamp) throws {
        let fetched = time.description
        try db.transaction(.immediate) {
            switch names {
            case .workspaces(let workspaces):
                let upsert = try db.cached("""
                    INSERT INTO workspaces (org, workspace_id, name, is_default, archived_at, fetched_at)
                    VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                    ON CONFLICT (org, workspace_id) DO UPDATE SET
                        name = excluded.name, is_default = excluded.is_default,
                        archived_at = excluded.archived_at, fetched_at = excluded.fetched_at
                    """)
                for w in workspaces {
                    try upsert.execute([.text(key.org), .text(w.id), .text(w.name), .integer(w.isDefault ? 1 : 0),
                                        w.archivedAt.map { .text($0) } ?? .null, .text(fetched)])
                }
                // A renamed workspace shows its new name on every stored row at once.
                // The default workspace's rows carry scope_id 'default'.
                try db.cached("""
                    UPDATE costs SET scope_name = n.name
                    FROM (SELECT CASE is_default WHEN 1 THEN 'default' ELSE workspace_id END AS scope_id, name
                          FROM workspaces WHERE org = ?1) AS n
                    WHERE costs.provider = 'anthropic' AND costs.org = ?1 AND costs.scope_id = n.scope_id
                      AND costs.scope_name IS NOT n.name
                    """).execute([.text(key.org)])
            case .services(let services):
                let upsert = try db.cached("""
                    INSERT INTO services (org, service_id, name, cloud_provider, region, state, data_warehouse_id, is_primary,
                                          tags, fetched_at)
                    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                    ON CONFLICT (org, service_id) DO UPDATE SET
                        name = excluded.name, cloud_provider = excluded.cloud_provider, region = excluded.region,
                        state = excluded.state, data_warehouse_id = excluded.data_warehouse_id,
                        is_primary = excluded.is_primary, tags = excluded.tags, fetched_at = excluded.fetched_at
                    """)
                func text(_ v: String?) -> SQLiteValue { v.map { .text($0) } ?? .null }
                for s in services {
                    try upsert.execute([.text(key.org), .text(s.id), .text(s.name), text(s.cloudProvider), text(s.region),
                                        text(s.state), text(s.dataWarehouseID), .integer(s.isPrimary ? 1 : 0), text(s.tagsJSON),
                                        .text(fetched)])
                }
            }
            try db.cached("UPDATE accounts SET names_refreshed_at = ?3 WHERE provider = ?1 AND org = ?2")
                .execute([.text(key.provider.rawValue), .text(key.org), .text(fetched)])
        }
    }

    /// Anthropic rows' `scope_name` by `scope_id`, for the write path; empty for ClickHouse,
    /// whose rows carry the provider's own entity names.
    func scopeNames(_ key: OrgKey) throws -> [String: String] {
        guard key.provider == .anthropic else { return [:] }
        var names: [String: String] = [:]
        for (id, name) in try db.cached("""
            SELECT CASE is_default WHEN 1 THEN 'default' ELSE workspace_id END, name FROM workspaces WHERE org = ?1
            """).query([.text(key.org)], { ($0.text(0) ?? "", $0.text(1) ?? "") }) {
            names[id] = name
        }
        return names
    }
}
