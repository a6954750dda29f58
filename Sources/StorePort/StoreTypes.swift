import CostModel

/// Which org's data: the `(provider, org)` pair that keys cursors and partitions.
public struct OrgKey: Sendable, Hashable, CustomStringConvertible {
    public let provider: Provider
    public let org: String
    public init(_ provider: Provider, _ org: String) {
        self.provider = provider
        self.org = org
    }
    public var description: String { "\(provider)/\(org)" }
}

/// One fetched day ready to be written, with the finality the engine decided.
public struct DayWrite: Sendable {
    public var day: Day
    public var lines: [CostLine]
    public var isFinal: Bool
    public init(day: Day, lines: [CostLine], isFinal: Bool) {
        self.day = day
        self.lines = lines
        self.isFinal = isFinal
    }
}

/// How the cursor may move after a write: from where it stands over
/// consecutive final days, never past `limit` (today) and never backwards.
public struct CursorRule: Sendable {
    public var limit: Day
    public init(limit: Day) { self.limit = limit }
}

/// What a write changed, for logs and progress.
public struct WriteSummary: Sendable, Equatable {
    public var days = 0
    public var inserted = 0
    public var updated = 0
    public var deleted = 0
    public var unchanged = 0
    public var nextDay: Day?
    public init() {}
    public var rowsWritten: Int { inserted + updated }
    /// Rows the provider sent for these days, changed or not.
    public var rowsSeen: Int { inserted + updated + unchanged }
}

public enum StoreError: Error, Sendable, CustomStringConvertible {
    case duplicateLineKey(OrgKey, Day, String)
    case sumOutOfRange(OrgKey, Day)

    public var description: String {
        switch self {
        case let .duplicateLineKey(key, day, lineKey):
            "\(key) \(day): two lines share the key '\(lineKey)'; refusing to let one overwrite the other (a provider decoding bug)"
        case let .sumOutOfRange(key, day):
            "\(key) \(day): the day's total does not fit 64-bit nanos"
        }
    }
}

/// A `costs` row as read back, for tests and `status`.
public struct StoredLine: Sendable, Equatable {
    public var lineKey: String
    public var scopeID: String
    public var item: String
    public var amount: String
    public var amountNanos: Int64
    public var isFinal: Bool
    public var fetchedAt: String
    public var workspaceID: String?
    public var extras: String?

    public init(lineKey: String, scopeID: String, item: String, amount: String, amountNanos: Int64, isFinal: Bool,
                fetchedAt: String, workspaceID: String?, extras: String?) {
        self.lineKey = lineKey
        self.scopeID = scopeID
        self.item = item
        self.amount = amount
        self.amountNanos = amountNanos
        self.isFinal = isFinal
        self.fetchedAt = fetchedAt
        self.workspaceID = workspaceID
        self.extras = extras
    }
}

/// One org's sync state, as `costsync status` reports it.
public struct OrgSyncState: Sendable, Equatable {
    public var key: OrgKey
    public var nextDay: Day?
    public var lastAttemptAt: String?
    public var lastSuccessAt: String?
    public var lastError: String?
    public var consecutiveFailures = 0
    public var daysStored = 0
    public var rowsStored = 0
    public var firstDay: Day?
    /// Days before the cursor with no `sync_days` row.
    public var gaps: [DayRange] = []
    public init(key: OrgKey) { self.key = key }
}
