public import CostModel

/// What `costsync report` needs of a store: a month's sums, exact in nanos.
///
/// Both adapters implement it beside `CostStore` on the same `costs` table, so
/// the page is the same whichever store holds the data. The rules an adapter
/// must keep:
///
/// - Sums are of `amount_nanos`, as Int64; a sum that does not fit is an error,
///   never a rounded figure.
/// - Every org in the store is answered for, configured or not: choosing which
///   to show is the report's business.
/// - Orders are total (ties broken by provider, org, then label, compared
///   byte by byte), so two stores holding the same rows give the same answers.
public protocol ReportReader: Sendable {
    /// Per (provider, org, day) of `range` with rows: the sum, and whether all of its rows are final.
    /// Ordered by provider, org, day.
    func dayTotals(in range: DayRange) async throws -> [DayTotal]

    /// Per (provider, org) with rows in `range`: the sum over `range`, and the
    /// sum over its days up to `cut` included. Ordered by provider, org.
    func orgTotals(in range: DayRange, through cut: Day) async throws -> [OrgTotal]

    /// The `limit` largest sums over `range` of one provider's lines grouped by
    /// `kind`, largest first.
    func ranking(_ kind: RankingKind, in range: DayRange, limit: Int) async throws -> [RankedRow]
}

/// One org's day in a report.
public struct DayTotal: Sendable, Hashable {
    public var key: OrgKey
    public var day: Day
    public var nanos: Int64
    /// Every row of the day is final; false while any may still be restated.
    public var isFinal: Bool

    public init(key: OrgKey, day: Day, nanos: Int64, isFinal: Bool) {
        self.key = key
        self.day = day
        self.nanos = nanos
        self.isFinal = isFinal
    }
}

/// One org's sums over a range, whole and up to a cut (month to date).
public struct OrgTotal: Sendable, Hashable {
    public var key: OrgKey
    public var nanos: Int64
    public var throughCutNanos: Int64

    public init(key: OrgKey, nanos: Int64, throughCutNanos: Int64) {
        self.key = key
        self.nanos = nanos
        self.throughCutNanos = throughCutNanos
    }
}

/// How a ranking groups an org's lines, and what it labels each group with.
public enum RankingKind: String, Sendable, Hashable, CaseIterable {
    /// Anthropic lines by `scope_id`, labelled with the workspace's name when known.
    case workspaces
    /// Anthropic lines by `coalesce(model, cost_type, item)`: a model, else what the line is for.
    case models
    /// ClickHouse lines by `coalesce(metric, item)`.
    case clickhouseMetrics
    /// ClickHouse lines by `entity_id`, labelled with the entity's name when known.
    case clickhouseServices

    public var provider: Provider {
        switch self {
        case .workspaces, .models: .anthropic
        case .clickhouseMetrics, .clickhouseServices: .clickhouse
        }
    }
}

/// One group of a ranking.
public struct RankedRow: Sendable, Hashable {
    public var key: OrgKey
    /// Nil only for lines with neither a name nor an id (a ClickHouse line without an entity).
    public var label: String?
    public var nanos: Int64

    public init(key: OrgKey, label: String?, nanos: Int64) {
        self.key = key
        self.label = label
        self.nanos = nanos
    }
}
