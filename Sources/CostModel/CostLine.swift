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
    /// The provider's id of the request that answered for this day, for
    /// warnings about it.
    public var requestID: String?
    /// Set when the answer's own total disagreed with its records.
    public var mismatch: TotalMismatch?

    public init(day: Day, lines: [CostLine], providerLocked: Bool? = nil, requestID: String? = nil,
                mismatch: TotalMismatch? = nil) {
        self.day = day
        self.lines = lines
        self.providerLocked = providerLocked
        self.requestID = requestID
        self.mismatch = mismatch
    }
}

/// The provider's total for an answer beside the exact sum of its records.
public struct TotalMismatch: Sendable, Hashable {
    public var providerTotal: Money
    public var recordsTotal: Money
    public init(providerTotal: Money, recordsTotal: Money) {
        self.providerTotal = providerTotal
        self.recordsTotal = recordsTotal
    }
}


/// Builds a `line_key` from named dimension values.
///
/// The key's canonical text is the `name=value` pairs joined by `;`, nulls left
/// out, with `\` and `;` escaped, so two different sets of values never give
/// the same text. The stored key is the 128-bit FNV-1a hash of that text, in 32
/// hex digits: every dimension already has a column of its own, and a key of 32
/// bytes instead of ~240 makes the primary-key B-tree half as big and writes
/// about 1.5× faster (measured with `costsync-bench storage`). FNV-1a is fixed
/// by its published constants, so keys are stable across versions and
/// machines; an accidental collision (odds ~2^-100 within a day) would not
/// merge two lines silently: the store refuses two lines with one key.
public struct LineKeyBuilder {
    private var hash = LineKeyBuilder.offsetBasis
    private var isEmpty = true

    public init() {}

    public mutating func add(_ name: String, _ value: String?) {
        guard let value else { return }
        if !isEmpty { feed(UInt8(ascii: ";")) }
        isEmpty = false
        for byte in name.utf8 { feed(byte) }
        feed(UInt8(ascii: "="))
        for byte in value.utf8 {
            if byte == UInt8(ascii: ";") || byte == UInt8(ascii: "\\") { feed(UInt8(ascii: "\\")) }
            feed(byte)
        }
    }

    /// The key; `-` for a line without any dimension, so it is never empty.
    public var build: String { isEmpty ? "-" : LineKeyBuilder.hex(hash) }

    /// The key of a canonical text (`entity_type=service;…;metric=computeCHC`),
    /// for tests and for people checking a key by hand.
    public static func key(canonical text: String) -> String {
        var builder = LineKeyBuilder()
        for byte in text.utf8 { builder.feed(byte) }
        builder.isEmpty = text.isEmpty
        return builder.build
    }

    @inline(__always)
    private mutating func feed(_ byte: UInt8) {
        hash = (hash ^ UInt128(byte)) &* LineKeyBuilder.prime
    }

    // FNV-1a, 128-bit: the published offset basis and prime.
    private static let offsetBasis: UInt128 = 0x6C62_272E_07BB_0142_62B8_2175_6295_C58D
    private static let prime: UInt128 = 0x0000_0000_0100_0000_0000_0000_0000_013B

    private static func hex(_ value: UInt128) -> String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        return String(unsafeUninitializedCapacity: 32) { buffer in
            for i in 0..<32 {
                buffer[i] = digits[Int((value >> UInt128(124 - 4 * i)) & 0xF)]
            }
            return 32
        }
    }
}
