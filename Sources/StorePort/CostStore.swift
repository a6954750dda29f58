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
    /// Replaces each day's partition and moves the cursor, atomically.
    @discardableResult
    func replaceDays(_ days: [DayWrite], for key: OrgKey, fetchedAt: Timestamp, cursor: CursorRule?) async throws -> WriteSummary
    func recordSuccess(_ key: OrgKey, at time: Timestamp) async throws
    /// Records a failure; rows and cursor are left exactly as they were.
    func recordFailure(_ key: OrgKey, error: String) async throws
    /// The exact spend of `range`, in the org's currency's nanos.
    func spendNanos(_ key: OrgKey, in range: DayRange) async throws -> Int64
    /// Everything `costsync status` shows about one org.
    func state(of key: OrgKey, since start: Day) async throws -> OrgSyncState
}
