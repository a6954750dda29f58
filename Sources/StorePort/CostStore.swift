import CostModel

/// What the sync engine and the commands need of a store: the port. SQLite
/// (`SQLiteStore`) is today's adapter; another database plugs in by
/// conforming, and nothing above this protocol changes.
///
/// Every write of a day's partition and the cursor that covers it happens in
/// one call, so an adapter can commit them together or not at all.
public protocol CostStore: Sendable {
    /// Notes the start of a sync attempt. Until the org has stored a day, its
    /// cursor follows `start`, so a `start_date` corrected after a failed
    /// first attempt takes effect.
    func recordAttempt(_ key: OrgKey, at time: Timestamp, start: Day) async throws
    /// The first day not yet final, or nil when the org was never attempted.
    func nextDay(_ key: OrgKey) async throws -> Day?
    /// The oldest stored day that is not final yet, if any.
    func oldestPendingDay(_ key: OrgKey) async throws -> Day?
    /// Days of `range` already stored as final: a backfill skips them.
    func finalDays(_ key: OrgKey, in range: DayRange) async throws -> Set<Day>
    /// Replaces each day's partition and moves the cursor, atomically; every
    /// change to a line of a day written before is recorded as a revision
    /// tied to `fetch` (a `beginFetch` id) in the same transaction.
    @discardableResult
    func replaceDays(_ days: [DayWrite], for key: OrgKey, fetchedAt: Timestamp, cursor: CursorRule?,
                     fetch: Int64?) async throws -> WriteSummary
    /// Opens a `sync_fetches` row for one window; prunes rows older than `keepSince`.
    func beginFetch(_ key: OrgKey, _ range: DayRange, kind: FetchKind, at time: Timestamp, keepSince: Timestamp) async throws -> Int64
    /// Closes it with what the window's requests and writes came to.
    func finishFetch(_ id: Int64, at time: Timestamp, requestIDs: [String], summary: WriteSummary, error: String?) async throws
    /// Whether the org's settled days were re-checked on `day` already; and marks them so.
    func lastRecheck(_ key: OrgKey) async throws -> Day?
    func recordRecheck(_ key: OrgKey, on day: Day) async throws
    func recordSuccess(_ key: OrgKey, at time: Timestamp) async throws
    /// Records a failure; rows and cursor are left exactly as they were.
    func recordFailure(_ key: OrgKey, error: String) async throws
    /// The exact spend of `range`, in the org's currency's nanos.
    func spendNanos(_ key: OrgKey, in range: DayRange) async throws -> Int64
    /// The revisions of `key` whose day lies in `range` (all days when nil), by day then observation.
    func revisions(_ key: OrgKey, in range: DayRange?) async throws -> [Revision]
    /// Everything `costsync status` shows about one org.
    func state(of key: OrgKey, since start: Day, now: Timestamp) async throws -> OrgSyncState

    /// The org's provider account, and when its names were last refreshed; nil before the first fetch.
    func account(_ key: OrgKey) async throws -> StoredAccount?
    /// Writes the account (and the config's price per credit beside it).
    func saveAccount(_ key: OrgKey, _ account: ProviderAccount, at time: Timestamp) async throws
    /// Upserts the org's workspaces or services (never deletes: old costs point
    /// at archived ones), fills `scope_name` of the org's Anthropic rows from
    /// them, and marks the names refreshed, in one transaction.
    func saveNames(_ key: OrgKey, _ names: OrgNames, at time: Timestamp) async throws

    // Issue 13: one instance per org when instances share a store.
    /// Claims `key` for this instance until `release`; false when another
    /// instance sharing the store is syncing it now (skip it: it is in good
    /// hands). A store only this process writes (SQLite) always says true.
    func claim(_ key: OrgKey) async throws -> Bool
    /// Ends a claim; never fails (a shared store drops a lost instance's claims itself).
    func release(_ key: OrgKey) async
}
