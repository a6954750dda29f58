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
///
/// An answer that would empty a day holding rows is not believed at once:
/// the store keeps the rows, marks the day pending and not final, and applies
/// the emptying only when the next answer for the day says the same.
public struct DayWrite: Sendable {
    public var day: Day
    public var lines: [CostLine]
    public var isFinal: Bool
    /// Set when the provider's own total for the answer disagreed with its
    /// records: the lines are stored (they are the data) but the day stays
    /// non-final, with both figures on its `sync_days` row.
    public var mismatch: TotalMismatch?

    public init(day: Day, lines: [CostLine], isFinal: Bool, mismatch: TotalMismatch? = nil) {
        self.day = day
        self.lines = lines
        self.isFinal = isFinal
        self.mismatch = mismatch
    }

    /// The lines in `line_key` order, the order both stores write them in
    /// (rows in primary-key order append to the B-tree; equal keys end up
    /// adjacent, where a duplicate is caught). Already in order costs one
    /// pass; otherwise indices are sorted, not the lines, which are large
    /// values whose moves cost a retain and release per string.
    public var linesInKeyOrder: [CostLine] {
        var sorted = true
        for i in lines.indices.dropFirst() where lines[i - 1].lineKey > lines[i].lineKey {
            sorted = false
            break
        }
        if sorted { return lines }
        return lines.indices.sorted { lines[$0].lineKey < lines[$1].lineKey }.map { lines[$0] }
    }
}

/// A day whose stored rows an answer would have emptied: kept until confirmed.
public struct HeldEmptying: Sendable, Equatable {
    public var day: Day
    public var rows: Int
    public var amountNanos: Int64
    public init(day: Day, rows: Int, amountNanos: Int64) {
        self.day = day
        self.rows = rows
        self.amountNanos = amountNanos
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
    /// Days an answer would have emptied, kept until the next answer confirms it.
    public var held: [HeldEmptying] = []
    /// Days emptied now that a second answer said so too.
    public var confirmedEmpty: [Day] = []
    /// `cost_revisions` rows written: lines changed after their day was first written.
    public var revisions = 0
    /// Days that were final and still changed (a re-check caught them).
    public var finalDaysChanged: [Day] = []
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
    /// The oldest stored day not final yet, and how many are not.
    public var oldestPendingDay: Day?
    public var pendingDays = 0
    /// Days held because an answer would have emptied them.
    public var emptyingsPending: [Day] = []
    /// Days whose provider total disagreed with their records.
    public var mismatches: [DayMismatch] = []
    /// `cost_revisions` rows observed in the last 7 days.
    public var revisionsLast7Days = 0
    /// When a day already final last changed (a re-check caught it), if ever.
    public var lastFinalDayChangeAt: String?
    public init(key: OrgKey) { self.key = key }
}

/// A stored day with an open reconciliation mismatch, as `status` shows it.
public struct DayMismatch: Sendable, Equatable {
    public var day: Day
    public var providerTotal: String
    public var recordsTotal: String
    public init(day: Day, providerTotal: String, recordsTotal: String) {
        self.day = day
        self.providerTotal = providerTotal
        self.recordsTotal = recordsTotal
    }
}

/// Why a window was fetched, as `sync_fetches.kind` says it.
public enum FetchKind: String, Sendable {
    case poll, backfill, recheck
}

/// One `cost_revisions` row: a stored line that changed after its day was first written.
public struct Revision: Sendable, Equatable {
    public var key: OrgKey
    public var day: Day
    public var lineKey: String
    /// `changed`, `vanished` or `appeared`.
    public var change: String
    public var item: String
    public var scopeID: String
    public var oldAmount: String?
    public var oldNanos: Int64?
    public var newAmount: String?
    public var newNanos: Int64?
    /// The day was final when it changed: a re-check caught it.
    public var wasFinal: Bool
    public var observedAt: String
    public var fetchID: Int64?

    public init(key: OrgKey, day: Day, lineKey: String, change: String, item: String, scopeID: String, oldAmount: String?,
                oldNanos: Int64?, newAmount: String?, newNanos: Int64?, wasFinal: Bool, observedAt: String, fetchID: Int64?) {
        self.key = key
        self.day = day
        self.lineKey = lineKey
        self.change = change
        self.item = item
        self.scopeID = scopeID
        self.oldAmount = oldAmount
        self.oldNanos = oldNanos
        self.newAmount = newAmount
        self.newNanos = newNanos
        self.wasFinal = wasFinal
        self.observedAt = observedAt
        self.fetchID = fetchID
    }

    /// New minus old, exact.
    public var deltaNanos: Int64 { (newNanos ?? 0) - (oldNanos ?? 0) }
}

/// An org's account as stored, with the time its names were last refreshed.
public struct StoredAccount: Sendable, Equatable {
    public var account: ProviderAccount
    public var namesRefreshedAt: Timestamp?

    public init(account: ProviderAccount, namesRefreshedAt: Timestamp?) {
        self.account = account
        self.namesRefreshedAt = namesRefreshedAt
    }
}
