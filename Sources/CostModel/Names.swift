/// The provider's own account an org is: FOCUS `BillingAccountId` / `Name`.
public struct ProviderAccount: Sendable, Equatable {
    public var id: String
    public var name: String
    /// USD per credit (ClickHouse, from the config); nil for USD-billed providers.
    public var creditPrice: Money?

    public init(id: String, name: String, creditPrice: Money? = nil) {
        self.id = id
        self.name = name
        self.creditPrice = creditPrice
    }
}

/// An Anthropic workspace, archived ones included: old costs point at them.
public struct WorkspaceInfo: Sendable, Equatable {
    public var id: String
    public var name: String
    /// The default workspace, which cost rows give as `workspace_id: null`.
    public var isDefault: Bool
    public var archivedAt: String?

    public init(id: String, name: String, isDefault: Bool = false, archivedAt: String? = nil) {
        self.id = id
        self.name = name
        self.isDefault = isDefault
        self.archivedAt = archivedAt
    }
}

/// A ClickHouse Cloud service.
public struct ServiceInfo: Sendable, Equatable {
    public var id: String
    public var name: String
    public var cloudProvider: String?
    public var region: String?
    public var state: String?
    public var dataWarehouseID: String?
    public var isPrimary: Bool
    /// The provider's tags as a JSON array, verbatim.
    public var tagsJSON: String?

    public init(id: String, name: String, cloudProvider: String? = nil, region: String? = nil, state: String? = nil,
                dataWarehouseID: String? = nil, isPrimary: Bool = false, tagsJSON: String? = nil) {
        self.id = id
        self.name = name
        self.cloudProvider = cloudProvider
        self.region = region
        self.state = state
        self.dataWarehouseID = dataWarehouseID
        self.isPrimary = isPrimary
        self.tagsJSON = tagsJSON
    }
}

/// The names behind an org's ids, as one refresh found them.
public enum OrgNames: Sendable, Equatable {
    case workspaces([WorkspaceInfo])
    case services([ServiceInfo])
}

/// Where the engine gets an org's account and names. A failure here never
/// fails the cost sync: the names are retried on a later pass.
public protocol NameSource: Sendable {
    /// The account, asked for once per org (it does not change).
    func account() async throws -> ProviderAccount
    /// The price per credit the config sets, written beside the account at
    /// every pass so a changed price takes effect without a refetch.
    var creditPrice: Money? { get }
    /// Every workspace or service, archived ones included.
    func names() async throws -> OrgNames
}

extension Money {
    /// The USD value of `creditNanos` credits at `price` USD per credit, in
    /// nano-USD, rounded half-even: the one rule for billing credits, which the
    /// `focus_costs` view repeats in SQL. Built on `amount_nanos`, the column
    /// every exact total is summed from, so billed sums reconcile as integers.
    public static func billedNanos(creditNanos: Int64, price: Money) throws(MoneyError) -> Int64 {
        guard price.scale <= 9 else { throw MoneyError.outOfRange("\(price) has more than 9 decimals") }
        let (product, overflow) = Int128(creditNanos).multipliedReportingOverflow(by: price.significand)
        guard !overflow else { throw MoneyError.outOfRange("\(creditNanos)e-9 × \(price)") }
        return try Money(significand: product, scale: 9 + price.scale).nanos
    }

    /// Nanos as decimal text with all nine decimals: what the view shows.
    public static func nanosText(_ nanos: Int64) -> String {
        let magnitude = nanos.magnitude
        let fraction = String(magnitude % 1_000_000_000)
        return (nanos < 0 ? "-" : "") + String(magnitude / 1_000_000_000) + "."
            + String(repeating: "0", count: 9 - fraction.utf8.count) + fraction
    }
}
