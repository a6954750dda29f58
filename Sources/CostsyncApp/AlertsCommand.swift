import Alerts
import Config
import CostModel
import Foundation
import ProviderHTTP
import SQLiteStore
import StorePort

extension CostsyncApp {
    /// `costsync alerts [--json]`: what fired, newest first, and how each
    /// delivery went. Read-only; no database yet means no alert yet.
    public func alerts(json: Bool, limit: Int = 100) async throws {
        var listed: [StoredAlert] = []
        if config.postgres != nil || FileManager.default.fileExists(atPath: config.databasePath) {
            // Both stores keep the ledger (SQLite's migration 5, PostgreSQL's 2).
            listed = try await (openPortForReading() as? any AlertLedger)?.alerts(limit: limit) ?? []
        } else {
            console.error("costsync: no database at '\(config.databasePath)' yet; `costsync run` creates it")
        }
        console.print(json ? AlertsFormat.json(listed) : AlertsFormat.text(listed))
    }

    /// `costsync alerts test --notify NAME`: one test message to that target
    /// now, outside the ledger (nothing is recorded); fails with the reason.
    public func alertsTest(notify name: String) async throws {
        guard let target = config.alerting.target(named: name) else {
            let known = config.alerting.targets.map(\.name)
            throw AppError.config("costsync: \(config.file): no [[notify]] target is named '\(Secret.showable(name, limit: 64) ?? "…")'; "
                                  + (known.isEmpty ? "the config has none" : "known: " + known.joined(separator: ", ")))
        }
        let now = clock.now
        let org = config.orgs.first
        let alert = AlertRecord(
            id: "alert_test_\(now.secondsSinceEpoch)", kind: .test, budget: nil, provider: org?.provider ?? .anthropic,
            org: org?.name, workspaceID: nil, currency: org?.provider.currency ?? "USD", period: now.day.description,
            thresholdPercent: nil, spentNanos: 0, limitNanos: 0, forecastNanos: nil,
            text: "Test message from costsync to target '\(target.name)': alerts will arrive here.", raisedAt: now)
        // The daemon's clients (proxy environment, `[http] ca_file`): a test that
        // passes must mean the daemon's deliveries get through the same way.
        let result = try await withHTTPClients { (clients: ProviderHTTPClients) async -> Result<Void, DeliveryFailure> in
            let dispatcher = AlertDispatcher(ledger: NoLedger(), targets: [target],
                                             transport: HTTPWebhookTransport(clientFor: { clients.client(for: $0) }),
                                             clock: clock, logger: logger, userAgent: "costsync/\(costsyncVersion)")
            return await dispatcher.sendNow(alert, to: target)
        }
        switch result {
        case .success:
            console.print("\(target.name): test message delivered (\(target.format.rawValue), Idempotency-Key \(alert.id))")
        case .failure(let failure):
            throw AppError.failed("costsync: notify target '\(target.name)': the test message was not delivered: \(failure); "
                                  + "check the URL in its webhook_url_env/webhook_url_file")
        }
    }
}

/// `alerts test` sends outside the ledger; the dispatcher still wants one.
private struct NoLedger: AlertLedger {
    func dailySpend(_ key: OrgKey, scopeID: String?, in range: DayRange) async throws -> [Day: Int64] { [:] }
    func recordIfNew(_ alert: AlertRecord, targets: [String]) async throws -> Bool { false }
    func pendingDeliveries(targets: [String]) async throws -> [PendingDelivery] { [] }
    func claimDelivery(alertID: String, target: String, now: Timestamp, until: Timestamp) async throws -> Bool { false }
    func recordFailedAttempt(alertID: String, target: String, at time: Timestamp, error: String, nextAttemptAt: Timestamp) async throws {}
    func markDelivered(alertID: String, target: String, at time: Timestamp) async throws {}
    func markAbandoned(alertID: String, target: String, at time: Timestamp, reason: String) async throws {}
    func alerts(limit: Int) async throws -> [StoredAlert] { [] }
    func targetHealth(since: Timestamp) async throws -> [TargetHealth] { [] }
}

/// `costsync alerts` output.
enum AlertsFormat {
    static func text(_ alerts: [StoredAlert]) -> String {
        guard !alerts.isEmpty else { return "no alerts yet" }
        var lines: [String] = []
        for stored in alerts {
            let a = stored.alert
            lines.append("\(a.raisedAt)  \(a.kind.rawValue)  \(a.period)  \(a.text)")
            lines.append("  id \(a.id)")
            for d in stored.deliveries {
                lines.append("  → \(d.target): " + status(d))
            }
            if stored.deliveries.isEmpty { lines.append("  → no target (logged only)") }
        }
        return lines.joined(separator: "\n")
    }

    static func status(_ d: DeliveryState) -> String {
        if let at = d.deliveredAt { return "delivered \(at) (\(d.attempts) attempt\(d.attempts == 1 ? "" : "s"))" }
        if let at = d.abandonedAt { return "GIVEN UP \(at) after \(d.attempts) attempts: \(d.lastError ?? "")" }
        if d.attempts == 0 { return "pending" }
        return "retrying: \(d.attempts) failed, last \(d.lastError ?? ""), next \(d.nextAttemptAt.map { "\($0)" } ?? "soon")"
    }

    /// One object per alert: the webhook's keys, plus `raised_at` and `deliveries`.
    static func json(_ alerts: [StoredAlert]) -> String {
        let items = alerts.map { stored -> String in
            let a = stored.alert
            var body = AlertBody.json(a)
            body.removeLast()
            let deliveries = stored.deliveries.map { d in
                "{\"target\": \(quote(d.target)), \"attempts\": \(d.attempts), \"delivered_at\": \(quote(d.deliveredAt?.description)), "
                    + "\"abandoned_at\": \(quote(d.abandonedAt?.description)), \"next_attempt_at\": \(quote(d.nextAttemptAt?.description)), "
                    + "\"last_error\": \(quote(d.lastError))}"
            }
            return "  " + body + ", \"raised_at\": \(quote(a.raisedAt.description)), \"deliveries\": [" + deliveries.joined(separator: ", ") + "]}"
        }
        return items.isEmpty ? "[]" : "[\n" + items.joined(separator: ",\n") + "\n]"
    }

    private static func quote(_ s: String?) -> String { s.map(JSONText.quoted) ?? "null" }
}

extension CostsyncApp {
    /// Every configured `[[notify]]` target's recent deliveries, for `status`
    /// (a target that keeps failing makes it exit 1); empty without targets.
    func notifyTargetHealth(_ store: any CostStore) async -> [TargetHealth] {
        guard !config.alerting.targets.isEmpty, let ledger = store as? any AlertLedger else { return [] }
        // A delivery given up in the last day still counts as failing.
        let found = (try? await ledger.targetHealth(since: clock.now.adding(seconds: -86_400))) ?? []
        return config.alerting.targets.map { t in found.first { $0.target == t.name } ?? TargetHealth(target: t.name) }
    }
}

extension StatusFormat {
    /// The `notify` lines of the text form.
    static func targetLines(_ targets: [TargetHealth]) -> [String] {
        guard !targets.isEmpty else { return [] }
        var lines = ["", "notify targets:"]
        for t in targets {
            if t.isFailing {
                lines.append("  \(t.target): FAILING: \(t.pending) deliveries retrying (up to \(t.failedAttemptsPending) failed attempts each), "
                             + "\(t.abandoned) given up in the last day; last error: \(t.lastError ?? "none") at "
                             + "\(t.lastFailureAt.map { "\($0)" } ?? "?") (costsync alerts shows each one)")
            } else {
                lines.append("  \(t.target): ok; last delivery \(t.lastDeliveredAt.map { "\($0)" } ?? "never")"
                             + (t.pending > 0 ? ", \(t.pending) pending" : ""))
            }
        }
        return lines
    }

    struct TargetReport: Encodable {
        var target: TargetHealth

        enum Key: String, CodingKey {
            case name, failing, pending, failed_attempts, abandoned_last_day, last_error, last_failure_at, last_delivered_at
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: Key.self)
            try c.encode(target.target, forKey: .name)
            try c.encode(target.isFailing, forKey: .failing)
            try c.encode(target.pending, forKey: .pending)
            try c.encode(target.failedAttemptsPending, forKey: .failed_attempts)
            try c.encode(target.abandoned, forKey: .abandoned_last_day)
            try c.encode(target.lastError, forKey: .last_error)
            try c.encode(target.lastFailureAt?.description, forKey: .last_failure_at)
            try c.encode(target.lastDeliveredAt?.description, forKey: .last_delivered_at)
        }
    }
}
