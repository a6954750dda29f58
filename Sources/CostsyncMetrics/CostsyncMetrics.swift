import CoreMetrics
import CostModel

/// Every metric costsync records, by the names the Prometheus naming guide
/// and `promtool` want (base units, `_total` counters), through the
/// swift-metrics API only: the engine and the transport know nothing of
/// Prometheus. Labels are bounded: provider, org, and small fixed sets; never
/// a day, a line key, a workspace or a secret.
///
/// The factory is injected, so a test (or two daemons in one process) can
/// read its own registry.
public struct CostsyncMetrics: Sendable {
    private let factory: any MetricsFactory

    public init(factory: any MetricsFactory) { self.factory = factory }

    /// Records nothing: for tests and tools that do not export metrics.
    public static let none = CostsyncMetrics(factory: NOOPMetricsHandler.instance)

    /// Why a sync failed, as the `reason` label says it.
    public enum FailureReason: String, Sendable, CaseIterable {
        case auth, rateLimit = "rate_limit", server, network, data, storage, other
    }

    /// Rows changed by a write, as the `change` label says it.
    public enum RowChange: String, Sendable, CaseIterable {
        case inserted, updated, deleted
    }

    /// The help text of each metric, for the exposition's `# HELP` lines
    /// (swift-metrics carries none).
    public static let help: [String: String] = [
        "costsync_build_info": "Always 1; the version label says which costsync is running.",
        "costsync_sync_last_attempt_timestamp_seconds": "When the org's last sync attempt started (Unix time).",
        "costsync_sync_last_success_timestamp_seconds": "When the org's last sync succeeded (Unix time).",
        "costsync_sync_consecutive_failures": "Failed sync attempts of the org since its last success.",
        "costsync_sync_failures_total": "Failed sync attempts, by reason.",
        "costsync_sync_duration_seconds": "How long one org's sync took.",
        "costsync_cursor_lag_seconds": "Now minus the start (UTC) of the org's first day that is not final yet.",
        "costsync_pending_partitions": "Days stored for the org that are not final yet.",
        "costsync_rows_written_total": "Cost rows changed in the database, by change.",
        "costsync_http_requests_total": "HTTP requests to the provider, by status code (error: no response).",
        "costsync_http_request_duration_seconds": "How long one HTTP request to the provider took.",
        "costsync_http_retries_total": "HTTP requests to the provider that were retried.",
        "costsync_http_rate_limited_total": "HTTP requests the provider answered with 429.",
        "costsync_cost_month_to_date": "The org's spend this UTC month in its currency (display value; sum amount_nanos for exact figures).",
        "costsync_cost_yesterday": "The org's spend yesterday (UTC) in its currency (display value; sum amount_nanos for exact figures).",
        "costsync_reconciliation_mismatch": "1 while a provider total disagrees with its records for a stored day, else 0.",
        "costsync_alerts_total": "Alerts raised, by kind.",
    ]

    private func org(_ provider: String, _ org: String) -> [(String, String)] { [("provider", provider), ("org", org)] }

    private func gauge(_ name: String, _ dimensions: [(String, String)], _ value: Double) {
        Gauge(label: name, dimensions: dimensions, factory: factory).record(value)
    }

    private func count(_ name: String, _ dimensions: [(String, String)], by amount: Int = 1) {
        guard amount > 0 else { return }
        Counter(label: name, dimensions: dimensions, factory: factory).increment(by: amount)
    }

    // MARK: The process

    public func buildInfo(version: String) { gauge("costsync_build_info", [("version", version)], 1) }

    // MARK: Syncs (the engine)

    public func syncAttempted(provider: String, org name: String, at seconds: Int64) {
        gauge("costsync_sync_last_attempt_timestamp_seconds", org(provider, name), Double(seconds))
    }

    public func syncSucceeded(provider: String, org name: String, at seconds: Int64) {
        gauge("costsync_sync_last_success_timestamp_seconds", org(provider, name), Double(seconds))
    }

    public func syncFailed(provider: String, org name: String, reason: FailureReason) {
        count("costsync_sync_failures_total", org(provider, name) + [("reason", reason.rawValue)])
    }

    /// Makes every reason's series exist at zero, so `rate()` and alerts see
    /// a failure's first increment.
    public func declareFailureReasons(provider: String, org name: String) {
        for reason in FailureReason.allCases {
            _ = Counter(label: "costsync_sync_failures_total", dimensions: org(provider, name) + [("reason", reason.rawValue)],
                        factory: factory)
        }
    }

    public func syncDuration(provider: String, org name: String, _ duration: Duration) {
        Timer(label: "costsync_sync_duration_seconds", dimensions: org(provider, name), factory: factory)
            .recordNanoseconds(duration.totalNanoseconds)
    }

    public func rowsWritten(provider: String, org name: String, inserted: Int, updated: Int, deleted: Int) {
        for (change, n) in [(RowChange.inserted, inserted), (.updated, updated), (.deleted, deleted)] {
            let dimensions = org(provider, name) + [("change", change.rawValue)]
            // Declared at zero too, so the series exist from the first pass.
            let counter = Counter(label: "costsync_rows_written_total", dimensions: dimensions, factory: factory)
            if n > 0 { counter.increment(by: n) }
        }
    }

    // MARK: What the store holds (read back after each pass and at start)

    public func orgState(provider: String, org name: String, lastAttempt: Int64?, lastSuccess: Int64?,
                         consecutiveFailures: Int, cursorLagSeconds: Int64?, pendingDays: Int, mismatch: Bool) {
        let o = org(provider, name)
        if let lastAttempt { gauge("costsync_sync_last_attempt_timestamp_seconds", o, Double(lastAttempt)) }
        if let lastSuccess { gauge("costsync_sync_last_success_timestamp_seconds", o, Double(lastSuccess)) }
        gauge("costsync_sync_consecutive_failures", o, Double(consecutiveFailures))
        if let cursorLagSeconds { gauge("costsync_cursor_lag_seconds", o, Double(cursorLagSeconds)) }
        gauge("costsync_pending_partitions", o, Double(pendingDays))
        gauge("costsync_reconciliation_mismatch", o, mismatch ? 1 : 0)
    }

    /// Spend as a display value: the exact nanos summed as an integer in the
    /// store, turned into a float here only because a Prometheus sample is
    /// one. The whole units and the nanos are converted apart, so the gauge
    /// keeps every nano up to 2^53 whole units; nothing is ever stored from it.
    public func spend(provider: String, org name: String, currency: String, monthToDateNanos: Int64, yesterdayNanos: Int64) {
        let o = org(provider, name) + [("currency", currency)]
        gauge("costsync_cost_month_to_date", o, Self.display(nanos: monthToDateNanos))
        gauge("costsync_cost_yesterday", o, Self.display(nanos: yesterdayNanos))
    }

    /// A Prometheus gauge is a float by the exposition format: a display
    /// value, made from the exact integer sum read back from the store, never
    /// stored or summed. Whole units and nanos apart, so each converts exactly
    /// as far as a Double can.
    static func display(nanos: Int64) -> Double {
        let (units, rest) = nanos.quotientAndRemainder(dividingBy: 1_000_000_000)
        return Double(units) + Double(rest) / 1e9
    }

    // MARK: Alerts (issue 14)

    /// One alert raised (recorded for the first time): `kind` is budget, forecast or anomaly.
    public func alertRaised(kind: String) { count("costsync_alerts_total", [("kind", kind)]) }

    /// Makes each kind's series exist at zero, so an alert rule sees the first increment.
    public func declareAlertKinds(_ kinds: [String]) {
        for kind in kinds { _ = Counter(label: "costsync_alerts_total", dimensions: [("kind", kind)], factory: factory) }
    }

    // MARK: HTTP (the transport)

    /// One HTTP exchange: `code` is the status, or nil when no response came.
    public func httpRequest(provider: String, org name: String, code: Int?, duration: Duration) {
        count("costsync_http_requests_total", org(provider, name) + [("code", code.map(String.init) ?? "error")])
        Timer(label: "costsync_http_request_duration_seconds", dimensions: [("provider", provider)], factory: factory)
            .recordNanoseconds(duration.totalNanoseconds)
        if code == 429 { count("costsync_http_rate_limited_total", org(provider, name)) }
    }

    public func httpRetry(provider: String, org name: String) {
        count("costsync_http_retries_total", org(provider, name))
    }

    /// Makes the retry and 429 series exist at zero.
    public func declareHTTP(provider: String, org name: String) {
        _ = Counter(label: "costsync_http_retries_total", dimensions: org(provider, name), factory: factory)
        _ = Counter(label: "costsync_http_rate_limited_total", dimensions: org(provider, name), factory: factory)
    }
}
