import CostModel
import Logging
import PostgresNIO
import StorePort

/// The alert ledger on the shared database (`alerts`, `alert_deliveries`,
/// migration 2), with `SQLiteCostStore`'s answers. The port's rules hold for
/// several instances too: `recordIfNew` is one `INSERT … ON CONFLICT DO
/// NOTHING` in the transaction that adds the deliveries, so of two instances
/// raising the same alert exactly one records it (one row per target); and
/// `claimDelivery` is one conditional `UPDATE`, so of the instances that have
/// a target of that name, exactly one sends each attempt. Exactly once at the
/// receiver is still not promised: an attempt whose answer was lost, or that
/// outlived its claim, is sent again, with the same `Idempotency-Key`.
extension PostgresCostStore: AlertLedger {
    public func dailySpend(_ key: OrgKey, scopeID: String?, in range: DayRange) async throws -> [Day: Int64] {
        let logger = logger
        var b = Self.keyBinds(key)
        b.append(range.first.description)
        b.append(range.last.description)
        let sql: String
        if let scopeID {
            b.append(scopeID)
            sql = """
                SELECT day::text, sum(amount_nanos)::bigint FROM costs
                WHERE provider = $1 AND org = $2 AND day BETWEEN $3::date AND $4::date AND scope_id = $5 GROUP BY day
                """
        } else {
            // sync_days holds each fetched day's exact sum, written with its rows.
            sql = "SELECT day::text, amount_nanos FROM sync_days WHERE provider = $1 AND org = $2 AND day BETWEEN $3::date AND $4::date"
        }
        let binds = b
        let rows = try await run("reading the daily spend of \(key)") { c in
            try await Self.rows(c, sql, binds, logger: logger).map { try $0.decode((String, Int64).self) }
        }
        var out: [Day: Int64] = [:]
        for (text, nanos) in rows { if let day = Day(text) { out[day] = nanos } }
        return out
    }

    public func recordIfNew(_ alert: AlertRecord, targets: [String]) async throws -> Bool {
        let logger = logger
        var b = PostgresBindings()
        b.append(alert.id)
        b.append(alert.kind.rawValue)
        b.append(alert.budget)
        b.append(alert.provider.rawValue)
        b.append(alert.org)
        b.append(alert.workspaceID)
        b.append(alert.currency)
        b.append(alert.period)
        b.append(alert.thresholdPercent.map(Int64.init))
        b.append(Money.nanosText(alert.spentNanos))
        b.append(alert.spentNanos)
        b.append(Money.nanosText(alert.limitNanos))
        b.append(alert.limitNanos)
        b.append(alert.forecastNanos.map(Money.nanosText))
        b.append(alert.forecastNanos)
        b.append(alert.text)
        b.append(alert.raisedAt.description)
        b.append(targets)
        let binds = b
        return try await transaction("recording alert \(alert.id)") { c in
            // The deliveries go in only with a new alert row, in one statement.
            let inserted = try await Self.rows(c, """
                WITH a AS (
                    INSERT INTO alerts (id, kind, budget, provider, org, workspace_id, currency, period, threshold_percent,
                                        spent, spent_nanos, limit_amount, limit_nanos, forecast, forecast_nanos, text, raised_at)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::numeric, $11, $12::numeric, $13, $14::numeric, $15, $16,
                            $17::timestamptz)
                    ON CONFLICT (id) DO NOTHING
                    RETURNING id, raised_at
                ), d AS (
                    INSERT INTO alert_deliveries (alert_id, target, next_attempt_at)
                    SELECT a.id, t.target, a.raised_at FROM a, unnest($18::text[]) AS t(target)
                )
                SELECT count(*) FROM a
                """, binds, logger: logger).first?.decode(Int64.self) ?? 0
            return inserted == 1
        }
    }

    public func pendingDeliveries(targets: [String]) async throws -> [PendingDelivery] {
        let logger = logger
        var b = PostgresBindings()
        b.append(targets)
        let binds = b
        return try await run("reading pending deliveries") { c in
            try await Self.rows(c, """
                SELECT \(Self.alertColumns), \(Self.deliveryColumns)
                FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id
                WHERE d.delivered_at IS NULL AND d.abandoned_at IS NULL AND d.target = ANY($1::text[])
                ORDER BY a.raised_at, a.id, d.target
                """, binds, logger: logger).map { row in
                let cells = row.makeRandomAccess()
                return PendingDelivery(alert: try Self.alert(cells, from: 0), delivery: try Self.delivery(cells, from: 14))
            }
        }
    }

    public func claimDelivery(alertID: String, target: String, now: Timestamp, until: Timestamp) async throws -> Bool {
        let logger = logger
        var b = PostgresBindings()
        b.append(alertID)
        b.append(target)
        b.append(now.description)
        b.append(until.description)
        let binds = b
        // One statement: of two racing, the second waits on the row lock, then
        // re-checks the condition on the row the first committed, and fails it.
        return try await run("claiming the delivery of \(alertID) to \(target)") { c in
            let claimed = try await Self.rows(c, """
                UPDATE alert_deliveries SET next_attempt_at = $4::timestamptz
                WHERE alert_id = $1 AND target = $2 AND delivered_at IS NULL AND abandoned_at IS NULL
                  AND (next_attempt_at IS NULL OR next_attempt_at <= $3::timestamptz)
                RETURNING 1
                """, binds, logger: logger)
            return !claimed.isEmpty
        }
    }

    public func recordFailedAttempt(alertID: String, target: String, at time: Timestamp, error: String, nextAttemptAt: Timestamp) async throws {
        try await updateDelivery(alertID, target, time, [error, nextAttemptAt.description], """
            UPDATE alert_deliveries SET attempts = attempts + 1, last_attempt_at = $3::timestamptz, last_error = $4,
                   next_attempt_at = $5::timestamptz
            WHERE alert_id = $1 AND target = $2 AND delivered_at IS NULL AND abandoned_at IS NULL
            """)
    }

    public func markDelivered(alertID: String, target: String, at time: Timestamp) async throws {
        try await updateDelivery(alertID, target, time, [], """
            UPDATE alert_deliveries SET attempts = attempts + 1, last_attempt_at = $3::timestamptz, delivered_at = $3::timestamptz,
                   next_attempt_at = NULL
            WHERE alert_id = $1 AND target = $2
            """)
    }

    public func markAbandoned(alertID: String, target: String, at time: Timestamp, reason: String) async throws {
        try await updateDelivery(alertID, target, time, [reason], """
            UPDATE alert_deliveries SET abandoned_at = $3::timestamptz, next_attempt_at = NULL,
                   last_error = CASE WHEN last_error IS NULL THEN $4 ELSE last_error || '; ' || $4 END
            WHERE alert_id = $1 AND target = $2 AND delivered_at IS NULL AND abandoned_at IS NULL
            """)
    }

    /// One delivery's row changed: $1 alert, $2 target, $3 time, then `more`.
    private func updateDelivery(_ alertID: String, _ target: String, _ time: Timestamp, _ more: [String], _ sql: String) async throws {
        let logger = logger
        var b = PostgresBindings()
        b.append(alertID)
        b.append(target)
        b.append(time.description)
        for value in more { b.append(value) }
        let binds = b
        // A transaction: `attempts + 1` must not be retried after a lost answer (see `run`).
        try await transaction("updating the delivery of \(alertID) to \(target)") { c in
            try await Self.execute(c, sql, binds, logger: logger)
        }
    }

    public func alerts(limit: Int) async throws -> [StoredAlert] {
        let logger = logger
        var b = PostgresBindings()
        b.append(Int64(limit))
        let binds = b
        return try await transaction("reading alerts", readOnly: true) { c in
            let alerts = try await Self.rows(c, "SELECT \(Self.alertColumns) FROM alerts a ORDER BY a.raised_at DESC, a.id LIMIT $1",
                                             binds, logger: logger).map { try Self.alert($0.makeRandomAccess(), from: 0) }
            var ids = PostgresBindings()
            ids.append(alerts.map(\.id))
            var deliveries: [String: [DeliveryState]] = [:]
            for row in try await Self.rows(c, """
                SELECT d.alert_id, \(Self.deliveryColumns) FROM alert_deliveries d WHERE d.alert_id = ANY($1::text[])
                ORDER BY d.alert_id, d.target
                """, ids, logger: logger) {
                let cells = row.makeRandomAccess()
                deliveries[try cells[0].decode(String.self), default: []].append(try Self.delivery(cells, from: 1))
            }
            return alerts.map { StoredAlert(alert: $0, deliveries: deliveries[$0.id] ?? []) }
        }
    }

    public func targetHealth(since: Timestamp) async throws -> [TargetHealth] {
        let logger = logger
        var b = PostgresBindings()
        b.append(since.description)
        let binds = b
        return try await run("reading webhook target health") { c in
            try await Self.rows(c, """
                SELECT target,
                       count(*) FILTER (WHERE delivered_at IS NULL AND abandoned_at IS NULL),
                       coalesce(max(attempts) FILTER (WHERE delivered_at IS NULL AND abandoned_at IS NULL), 0)::bigint,
                       count(*) FILTER (WHERE abandoned_at >= $1::timestamptz),
                       (SELECT last_error FROM alert_deliveries e WHERE e.target = d.target AND e.last_error IS NOT NULL
                        ORDER BY e.last_attempt_at DESC NULLS LAST LIMIT 1),
                       \(Self.ts("max(CASE WHEN last_error IS NOT NULL AND delivered_at IS NULL THEN coalesce(abandoned_at, last_attempt_at) END)")),
                       \(Self.ts("max(delivered_at)"))
                FROM alert_deliveries d GROUP BY target ORDER BY target
                """, binds, logger: logger).map { row in
                let c = row.makeRandomAccess()
                return TargetHealth(target: try c[0].decode(String.self), pending: Int(try c[1].decode(Int64.self)),
                                    failedAttemptsPending: Int(try c[2].decode(Int64.self)),
                                    abandoned: Int(try c[3].decode(Int64.self)), lastError: try c[4].decode(String?.self),
                                    lastFailureAt: try Self.time(c[5]), lastDeliveredAt: try Self.time(c[6]))
            }
        }
    }

    // MARK: Rows

    private static let alertColumns = """
        a.id, a.kind, a.budget, a.provider, a.org, a.workspace_id, a.currency, a.period, a.threshold_percent::bigint, a.spent_nanos, \
        a.limit_nanos, a.forecast_nanos, a.text, \(ts("a.raised_at"))
        """
    private static let deliveryColumns = """
        d.target, d.attempts::bigint, \(ts("d.last_attempt_at")), \(ts("d.next_attempt_at")), d.last_error, \(ts("d.delivered_at")), \
        \(ts("d.abandoned_at"))
        """

    private static func alert(_ c: PostgresRandomAccessRow, from i: Int) throws -> AlertRecord {
        AlertRecord(id: try c[i].decode(String.self), kind: AlertKind(rawValue: try c[i + 1].decode(String.self)) ?? .budget,
                    budget: try c[i + 2].decode(String?.self),
                    provider: Provider(rawValue: try c[i + 3].decode(String.self)) ?? .anthropic, org: try c[i + 4].decode(String?.self),
                    workspaceID: try c[i + 5].decode(String?.self), currency: try c[i + 6].decode(String.self),
                    period: try c[i + 7].decode(String.self), thresholdPercent: try c[i + 8].decode(Int64?.self).map { Int($0) },
                    spentNanos: try c[i + 9].decode(Int64.self), limitNanos: try c[i + 10].decode(Int64.self),
                    forecastNanos: try c[i + 11].decode(Int64?.self), text: try c[i + 12].decode(String.self),
                    raisedAt: try time(c[i + 13]) ?? Timestamp(secondsSinceEpoch: 0))
    }

    private static func delivery(_ c: PostgresRandomAccessRow, from i: Int) throws -> DeliveryState {
        DeliveryState(target: try c[i].decode(String.self), attempts: Int(try c[i + 1].decode(Int64.self)),
                      lastAttemptAt: try time(c[i + 2]), nextAttemptAt: try time(c[i + 3]), lastError: try c[i + 4].decode(String?.self),
                      deliveredAt: try time(c[i + 5]), abandonedAt: try time(c[i + 6]))
    }

    private static func time(_ cell: PostgresCell) throws -> Timestamp? {
        try cell.decode(String?.self).flatMap { Timestamp(rfc3339: $0) }
    }
}
