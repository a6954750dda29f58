/// The two providers costsync reads; the raw value is the `provider` column.
public enum Provider: String, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
    case anthropic
    case clickhouse

    public var description: String { rawValue }

    /// The currency of every amount the provider reports.
    public var currency: String {
        switch self {
        case .anthropic: "USD"
        case .clickhouse: "CHC"
        }
    }
}

/// The provider's own dimensions of a line, one nullable column each, named as
/// the API names them in snake_case.
public struct Dimensions: Sendable, Hashable {
    // Anthropic
    public var workspaceID: String?
    public var description: String?
    public var costType: String?
    public var model: String?
    public var tokenType: String?
    public var contextWindow: String?
    public var serviceTier: String?
    public var inferenceGeo: String?
    // ClickHouse
    public var entityType: String?
    public var entityID: String?
    public var entityName: String?
    public var serviceID: String?
    public var dataWarehouseID: String?
    public var metric: String?

    public init(
        workspaceID: String? = nil, description: String? = nil, costType: String? = nil, model: String? = nil,
        tokenType: String? = nil, contextWindow: String? = nil, serviceTier: String? = nil, inferenceGeo: String? = nil,
        entityType: String? = nil, entityID: String? = nil, entityName: String? = nil, serviceID: String? = nil,
        dataWarehouseID: String? = nil, metric: String? = nil
    ) {
        self.workspaceID = workspaceID
        self.description = description
        self.costType = costType
        self.model = model
        self.tokenType = tokenType
        self.contextWindow = contextWindow
        self.serviceTier = serviceTier
        self.inferenceGeo = inferenceGeo
        self.entityType = entityType
        self.entityID = entityID
        self.entityName = entityName
        self.serviceID = serviceID
        self.dataWarehouseID = dataWarehouseID
        self.metric = metric
    }
}

/// One normalized cost line of one (provider, org, day): a future `costs` row.
public struct CostLine: Sendable, Hashable {
    /// Identity within the day, built from every dimension; never empty.
    public var lineKey: String
    public var scopeID: String
    public var scopeName: String?
    public var item: String
    /// In the currency's major unit: dollars, or ClickHouse credits.
    public var amount: Money
    public var dimensions: Dimensions
    /// Fields the provider sent that costsync has no column for, as a JSON
    /// object text (`{"organizationTier":"SCALE"}`), kept rather than dropped.
    public var extras: String?

    public init(lineKey: String, scopeID: String, scopeName: String? = nil, item: String, amount: Money,
                dimensions: Dimensions, extras: String? = nil) {
        self.lineKey = lineKey
        self.scopeID = scopeID
        self.scopeName = scopeName
        self.item = item
        self.amount = amount
        self.dimensions = dimensions
        self.extras = extras
    }
}

/// Everything a provider said about one day of one org.
public struct DayCosts: Sendable, Hashable {
    public var day: Day
    public var lines: [CostLine]
    /// The provider's own word on finality: ClickHouse's `locked` on every
    /// record of the day; nil where the provider says nothing (Anthropic, or a
    /// ClickHouse day without records), and the settle rule decides.
    public var providerLocked: Bool?

    public init(day: Day, lines: [CostLine], providerLocked: Bool? = nil) {
        self.day = day
        self.lines = lines
        self.providerLocked = providerLocked
    }
}

/// Builds a `line_key` from named dimension values: `name=value` pairs joined by
/// `;`, nulls left out, with `\` and `;` escaped so that two different sets of
/// values can never produce the same key. Readable at the sqlite3 prompt.
public struct LineKeyBuilder {
    private var key = ""

    public init() {}

    public mutating func add(_ name: String, _ value: String?) {
        guard let value else { return }
        if !key.isEmpty { key.append(";") }
        key.append(name)
        key.append("=")
        if value.utf8.contains(where: { $0 == UInt8(ascii: ";") || $0 == UInt8(ascii: "\\") }) {
            for ch in value.unicodeScalars {
                if ch == ";" || ch == "\\" { key.append("\\") }
                key.unicodeScalars.append(ch)
            }
        } else {
            key.append(value)
        }
    }

    /// The key; `-` for a line without any dimension, so it is never empty.
    public var build: String { key.isEmpty ? "-" : key }
}
