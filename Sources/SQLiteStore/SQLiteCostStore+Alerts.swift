import CostModel
import SQLite
import StorePort

/// The alert ledger on the costs database (`alerts`, `alert_deliveries`, migration 5).
extension SQLiteCostStore: AlertLedger {
    public func dailySpend(_ key: OrgKey, scopeID: String?, in range: DayRange) throws -> [Day: Int64] {
        let k: [SQLiteValue] = [.text(key.provider.rawValue), .text(key.org), .text(range.first.description), .text(range.last.description)]
        let rows: [(Day?, Int64)]
        if let scopeID {
            rows = try db.cached("""
                SELECT day, sum(amount_nanos) FROM costs
                WHERE provider = ?1 AND org = ?2 AND day BETWEEN ?3 AND ?4 AND scope_id = ?5 GROUP BY day
                """).query(k + [.text(scopeID)]) { (Day($0.text(0) ?? ""), $0.int64(1)) }
        } else {
            // sync_days holds each fetched day's exact sum, written with its rows.
            rows = try db.cached("""
                SELECT day, amount_nanos FROM sync_days WHERE provider = ?1 AND org = ?2 AND day BETWEEN ?3 AND ?4
                """).query(k) { (Day($0.text(0) ?? ""), $0.int64(1)) }
        }
        var out: [Day: Int64] = [:]
        for (day, nanos) in rows { if let day { out[day] = nanos } }
        return out
    }

    public func recordIfNew(_ alert: AlertRecord, targets: [String]) throws -> Bool {
        try db.transaction(.immediate) {
            try db.cached("""
                INSERT INTO alerts (id, kind, budget, provider, org, workspace_id, currency, period, threshold_percent,
                                    spent, spent_nanos, limit_amount, limit_nanos, forecast, forecast_nanos, text, raised_at)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
                ON CONFLICT (id) DO NOTHING
                """).execute([
                    .text(alert.id), .text(alert.kind.rawValue), text(alert.budget), .text(alert.provider.rawValue), text(alert.org),
                    text(alert.workspaceID), .text(alert.currency), .text(alert.period),
                    alert.thresholdPercent.map { .integer(Int64($0)) } ?? .null,
                    .text(Money.nanosText(alert.spentNanos)), .integer(alert.spentNanos),
                    .text(Money.nanosText(alert.limitNanos)), .integer(alert.limitNanos),
                    text(alert.forecastNanos.map(Money.nanosText)), alert.forecastNanos.map { .integer($0) } ?? .null,
                    .text(alert.text), .text(alert.raisedAt.description),
                ])
            guard db.changes == 1 else { return false }
            let delivery = try db.cached("INSERT INTO alert_deliveries (alert_id, target, next_attempt_at) VALUES (?1, ?2, ?3)")
            for target in targets {
                try delivery.execute([.text(alert.id), .text(target), .text(alert.raisedAt.description)])
            }
            return true
        }
    }

    public func pendingDeliveries(targets: [String]) throws -> [PendingDelivery] {
        guard !targets.isEmpty else { return [] }
        // One placeholder per target: the list is a config's few names, and the
        // statement is not cached since its text depends on their number.
        let names = (1...targets.count).map { "?\($0)" }.joined(separator: ", ")
        return try db.query("""
            SELECT \(Self.alertColumns), \(Self.deliveryColumns)
            FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id
            WHERE d.delivered_at IS NULL AND d.abandoned_at IS NULL AND d.target IN (\(names))
            ORDER BY a.raised_at, a.id, d.target
            """, targets.map { .text($0) }) { s in PendingDelivery(alert: Self.alert(s, from: 0), delivery: Self.delivery(s, from: 17)) }
    }

    public func claimDelivery(alertID: String, target: String, now: Timestamp, until: Timestamp) throws -> Bool {
        // One statement, so SQLite's write lock makes it atomic across
        // connections: another process on the file sees the moved time.
        try db.cached("""
            UPDATE alert_deliveries SET next_attempt_at = ?4
            WHERE alert_id = ?1 AND target = ?2 AND delivered_at IS NULL AND abandoned_at IS NULL
              AND (next_attempt_at IS NULL OR next_attempt_at <= ?3)
            """).execute([.text(alertID), .text(target), .text(now.description), .text(until.description)])
        return db.changes == 1
    }

    public func recordFailedAttempt(alertID: String, target: String, at time: Timestamp, error: String, nextAttemptAt: Timestamp) throws {
        try db.cached("""
            UPDATE alert_deliveries SET attempts = attempts + 1, last_attempt_at = ?3, last_error = ?4, next_attempt_at = ?5
            WHERE alert_id = ?1 AND target = ?2 AND delivered_at IS NULL AND abandoned_at IS NULL
            """).execute([.text(alertID), .text(target), .text(time.description), .text(error), .text(nextAttemptAt.description)])
    }

    public func markDelivered(alertID: String, target: String, at time: Timestamp) throws {
        try db.cached("""
            UPDATE alert_deliveries SET attempts = attempts + 1, last_attempt_at = ?3, delivered_at = ?3, next_attempt_at = NULL
            WHERE alert_id = ?1 AND target = ?2
            """).execute([.text(alertID), .text(target), .text(time.description)])
    }

    public func markAbandoned(alertID: String, target: String, at time: Timestamp, reason: String) throws {
        try db.cached("""
            UPDATE alert_deliveries SET abandoned_at = ?3, next_attempt_at = NULL,
                last_error = CASE WHEN last_error IS NULL THEN ?4 ELSE last_error || '; ' || ?4 END
            WHERE alert_id = ?1 AND target = ?2 AND delivered_at IS NULL AND abandoned_at IS NULL
            """).execute([.text(alertID), .text(target), .text(time.description), .text(reason)])
    }

    public func alerts(limit: Int) throws -> [StoredAlert] {
        let alerts = try db.query("""
            SELECT \(Self.alertColumns) FROM alerts a ORDER BY a.raised_at DESC, a.id LIMIT ?1
            """, [.integer(Int64(limit))]) { Self.alert($0, from: 0) }
        let deliveries = try db.cached("""
            SELECT d.alert_id, \(Self.deliveryColumns) FROM alert_deliveries d WHERE d.alert_id = ?1 ORDER BY d.target
            """)
        return try alerts.map { alert in
            StoredAlert(alert: alert, deliveries: try deliveries.query([.text(alert.id)]) { Self.delivery($0, from: 1) })
        }
    }

    public func targetHealth(since: Timestamp) throws -> [TargetHealth] {
        try db.cached("""
            SELECT target,
                   count(*) FILTER (WHERE delivered_at IS NULL AND abandoned_at IS NULL),
                   coalesce(max(attempts) FILTER (WHERE delivered_at IS NULL AND abandoned_at IS NULL), 0),
                   count(*) FILTER (WHERE abandoned_at >= ?1),
                   (SELECT last_error FROM alert_deliveries e WHERE e.target = d.target AND e.last_error IS NOT NULL
                    ORDER BY e.last_attempt_at DESC NULLS LAST LIMIT 1),
                   max(CASE WHEN last_error IS NOT NULL AND delivered_at IS NULL THEN coalesce(abandoned_at, last_attempt_at) END),
                   max(delivered_at)
            FROM alert_deliveries d GROUP BY target ORDER BY target
            """).query([.text(since.description)]) { s in
            TargetHealth(target: s.text(0) ?? "", pending: Int(s.int64(1)), failedAttemptsPending: Int(s.int64(2)),
                         abandoned: Int(s.int64(3)), lastError: s.text(4), lastFailureAt: s.text(5).flatMap { Timestamp(rfc3339: $0) },
                         lastDeliveredAt: s.text(6).flatMap { Timestamp(rfc3339: $0) })
        }
    }

    // MARK: Rows

    private static let alertColumns = """
        a.id, a.kind, a.budget, a.provider, a.org, a.workspace_id, a.currency, a.period, a.threshold_percent, a.spent_nanos, \
        a.limit_nanos, a.forecast_nanos, a.text, a.raised_at, a.spent, a.limit_amount, a.forecast
        """
    private static let deliveryColumns = """
        d.target, d.attempts, d.last_attempt_at, d.next_attempt_at, d.last_error, d.delivered_at, d.abandoned_at
        """

    private static func alert(_ s: Statement, from c: Int32) -> AlertRecord {
        AlertRecord(id: s.text(c) ?? "", kind: AlertKind(rawValue: s.text(c + 1) ?? "") ?? .budget, budget: s.text(c + 2),
                    provider: Provider(rawValue: s.text(c + 3) ?? "") ?? .anthropic, org: s.text(c + 4), workspaceID: s.text(c + 5),
                    currency: s.text(c + 6) ?? "", period: s.text(c + 7) ?? "",
                    thresholdPercent: s.isNull(c + 8) ? nil : Int(s.int64(c + 8)), spentNanos: s.int64(c + 9),
                    limitNanos: s.int64(c + 10), forecastNanos: s.isNull(c + 11) ? nil : s.int64(c + 11), text: s.text(c + 12) ?? "",
                    raisedAt: s.text(c + 13).flatMap { Timestamp(rfc3339: $0) } ?? Timestamp(secondsSinceEpoch: 0))
    }

    private static func delivery(_ s: Statement, from c: Int32) -> DeliveryState {
        let time = { (i: Int32) in s.text(c + i).flatMap { Timestamp(rfc3339: $0) } }
        return DeliveryState(target: s.text(c) ?? "", attempts: Int(s.int64(c + 1)), lastAttemptAt: time(2), nextAttemptAt: time(3),
                             lastError: s.text(c + 4), deliveredAt: time(5), abandonedAt: time(6))
    }
}

private func text(_ value: String?) -> SQLiteValue { value.map { .text($0) } ?? .null }
