public import CostModel

/// What alerting needs of a store: the sums it judges, and the ledger that
/// makes every alert fire once and only once, across restarts.
///
/// Each adapter (SQLite, PostgreSQL) implements it beside `CostStore` on the
/// same database, so the sums and the ledger see the same commits. Several
/// instances, each with its own `[[notify]]` targets, may share one ledger
/// (PostgreSQL, or one SQLite file). The rules an adapter must keep:
///
/// - `recordIfNew` is atomic: the alert row and its deliveries are inserted in
///   one transaction, and only when no alert with that `id` exists. Two
///   callers racing on the same id: exactly one sees `true`.
/// - `claimDelivery` is one atomic conditional update: of dispatchers racing
///   for the same due delivery, exactly one sees `true`, so only it sends.
/// - Nothing here stores a webhook URL: targets are named, never addressed.
/// - Amounts are integer nanos (10⁻⁹ of the currency's unit), as `amount_nanos`.
public protocol AlertLedger: Sendable {
    /// Exact spend per UTC day of `range`, in nanos.
    /// - `scopeID == nil`: the org's day totals (`sync_days.amount_nanos`); a day
    ///   that was fetched is present even when it cost nothing, a day never
    ///   fetched is absent (so a baseline is not diluted by days nobody asked about).
    /// - `scopeID` set: the sum of the org's `costs` rows with that `scope_id`
    ///   (an Anthropic workspace, `default` for the default one); only days with rows.
    func dailySpend(_ key: OrgKey, scopeID: String?, in range: DayRange) async throws -> [Day: Int64]

    /// Inserts `alert` and one pending delivery per name in `targets`, unless
    /// an alert with its id exists already; returns whether it was inserted.
    func recordIfNew(_ alert: AlertRecord, targets: [String]) async throws -> Bool

    /// Deliveries to one of `targets` neither delivered nor abandoned, oldest
    /// alert first. Only the caller's targets: the ledger may be shared with
    /// instances whose targets this one does not know, and their deliveries
    /// are theirs to make.
    func pendingDeliveries(targets: [String]) async throws -> [PendingDelivery]

    /// Takes the delivery for one attempt, if it is still pending and due at
    /// `now` (no other dispatcher holds it): its next attempt moves to `until`,
    /// so a dispatcher that dies mid-send leaves it to be retried then.
    /// Returns whether this caller got it; only then may it send.
    func claimDelivery(alertID: String, target: String, now: Timestamp, until: Timestamp) async throws -> Bool

    /// Notes one failed attempt of a pending delivery: the error (never a URL) and when to try again.
    func recordFailedAttempt(alertID: String, target: String, at time: Timestamp, error: String, nextAttemptAt: Timestamp) async throws

    /// Notes the attempt that succeeded.
    func markDelivered(alertID: String, target: String, at time: Timestamp) async throws

    /// Gives a pending delivery up (its hour of retries is over); one already
    /// delivered or given up, perhaps by another instance, stays as it is.
    func markAbandoned(alertID: String, target: String, at time: Timestamp, reason: String) async throws

    /// The latest alerts, newest first, with their deliveries.
    func alerts(limit: Int) async throws -> [StoredAlert]

    /// Per target that has deliveries: how its recent deliveries went, for `status`.
    func targetHealth(since: Timestamp) async throws -> [TargetHealth]
}

/// What kind of news an alert is; the raw value is the `kind` column and the JSON field.
public enum AlertKind: String, Sendable, Hashable, CaseIterable, Codable {
    /// Month-to-date spend crossed a threshold of a budget.
    case budget
    /// The month-end forecast passed a budget's monthly amount.
    case forecast
    /// A day's spend far above the usual.
    case anomaly
    /// `costsync alerts test`: never recorded, only sent.
    case test
}

/// One alert as it fired: every field of the message, so a retry (even after
/// a restart) sends exactly the same bytes.
public struct AlertRecord: Sendable, Equatable {
    /// Stable: a hash of kind, budget, scope, period and threshold. Also the
    /// `Idempotency-Key` of every delivery.
    public var id: String
    public var kind: AlertKind
    public var budget: String?
    public var provider: Provider
    /// Nil for a budget over every org of its provider.
    public var org: String?
    public var workspaceID: String?
    public var currency: String
    /// `YYYY-MM` for budgets and forecasts, `YYYY-MM-DD` for anomalies.
    public var period: String
    public var thresholdPercent: Int?
    public var spentNanos: Int64
    /// The budget's monthly amount; for an anomaly, the baseline median.
    public var limitNanos: Int64
    public var forecastNanos: Int64?
    /// The sentence a person reads (log line, Slack).
    public var text: String
    public var raisedAt: Timestamp

    public init(id: String, kind: AlertKind, budget: String?, provider: Provider, org: String?, workspaceID: String?,
                currency: String, period: String, thresholdPercent: Int?, spentNanos: Int64, limitNanos: Int64,
                forecastNanos: Int64?, text: String, raisedAt: Timestamp) {
        self.id = id
        self.kind = kind
        self.budget = budget
        self.provider = provider
        self.org = org
        self.workspaceID = workspaceID
        self.currency = currency
        self.period = period
        self.thresholdPercent = thresholdPercent
        self.spentNanos = spentNanos
        self.limitNanos = limitNanos
        self.forecastNanos = forecastNanos
        self.text = text
        self.raisedAt = raisedAt
    }
}

/// One target's delivery of one alert.
public struct DeliveryState: Sendable, Equatable {
    public var target: String
    public var attempts: Int
    public var lastAttemptAt: Timestamp?
    public var nextAttemptAt: Timestamp?
    public var lastError: String?
    public var deliveredAt: Timestamp?
    public var abandonedAt: Timestamp?

    public init(target: String, attempts: Int = 0, lastAttemptAt: Timestamp? = nil, nextAttemptAt: Timestamp? = nil,
                lastError: String? = nil, deliveredAt: Timestamp? = nil, abandonedAt: Timestamp? = nil) {
        self.target = target
        self.attempts = attempts
        self.lastAttemptAt = lastAttemptAt
        self.nextAttemptAt = nextAttemptAt
        self.lastError = lastError
        self.deliveredAt = deliveredAt
        self.abandonedAt = abandonedAt
    }
}

/// A delivery still to make, with the alert it carries.
public struct PendingDelivery: Sendable, Equatable {
    public var alert: AlertRecord
    public var delivery: DeliveryState
    public init(alert: AlertRecord, delivery: DeliveryState) {
        self.alert = alert
        self.delivery = delivery
    }
}

/// An alert as `costsync alerts` lists it.
public struct StoredAlert: Sendable, Equatable {
    public var alert: AlertRecord
    public var deliveries: [DeliveryState]
    public init(alert: AlertRecord, deliveries: [DeliveryState]) {
        self.alert = alert
        self.deliveries = deliveries
    }
}

/// How one target's deliveries went, for `status`.
public struct TargetHealth: Sendable, Equatable {
    public var target: String
    /// Deliveries still being retried.
    public var pending: Int
    /// The most failed attempts of any one delivery still being retried.
    public var failedAttemptsPending: Int
    /// Deliveries given up since the `since` of the query.
    public var abandoned: Int
    public var lastError: String?
    public var lastFailureAt: Timestamp?
    public var lastDeliveredAt: Timestamp?

    public init(target: String, pending: Int = 0, failedAttemptsPending: Int = 0, abandoned: Int = 0, lastError: String? = nil,
                lastFailureAt: Timestamp? = nil, lastDeliveredAt: Timestamp? = nil) {
        self.target = target
        self.pending = pending
        self.failedAttemptsPending = failedAttemptsPending
        self.abandoned = abandoned
        self.lastError = lastError
        self.lastFailureAt = lastFailureAt
        self.lastDeliveredAt = lastDeliveredAt
    }

    /// A target keeps failing when a delivery was given up, or one has failed
    /// three times in a row and is still being retried, and nothing was
    /// delivered to it since.
    public var isFailing: Bool {
        let failedLately = abandoned > 0 || failedAttemptsPending >= 3
        guard failedLately else { return false }
        guard let delivered = lastDeliveredAt, let failed = lastFailureAt else { return true }
        return failed >= delivered
    }
}
