import Config
import CostModel
import SQLiteStore
import StorePort
import Logging
import Synchronization
import SyncEngine
import Testing

/// A provider that answers from a table in memory and records what it was asked.
final class FakeSource: CostSource {
    let provider: Provider
    let org: String
    let maxDaysPerRequest = 31
    let failure: (any Error)?
    /// Windows that fail; nil: every window fails when `failure` is set.
    let failing: (@Sendable (DayRange) -> Bool)?
    let lines: @Sendable (Day) -> [CostLine]
    let locked: @Sendable (Day) -> Bool?
    private let asked = Mutex<[DayRange]>([])

    init(_ provider: Provider, _ org: String, failure: (any Error)? = nil, failing: (@Sendable (DayRange) -> Bool)? = nil,
         locked: @escaping @Sendable (Day) -> Bool? = { _ in nil },
         lines: @escaping @Sendable (Day) -> [CostLine] = { day in [FakeSource.line("a", day)] }) {
        self.provider = provider
        self.org = org
        self.failure = failure
        self.failing = failing
        self.locked = locked
        self.lines = lines
    }

    var requests: [DayRange] { asked.withLock { $0 } }

    func fetch(_ range: DayRange, sink: @Sendable ([DayCosts]) async throws -> Void) async throws {
        asked.withLock { $0.append(range) }
        if let failure, failing?(range) ?? true { throw failure }
        try await sink(range.map { DayCosts(day: $0, lines: lines($0), providerLocked: locked($0)) })
    }

    func probe() async throws {}

    static func line(_ key: String, _ day: Day, cents: String = "100") -> CostLine {
        CostLine(lineKey: key, scopeID: "default", item: key, amount: try! Money.anthropicCents(cents), dimensions: Dimensions())
    }
}

struct Unauthorized: Error, CustomStringConvertible {
    var description: String { "authentication failed (HTTP 401)" }
}

let today = Day("2025-03-20")!
let clock = WallClock.fixed(Timestamp(secondsSinceEpoch: today.secondsSinceEpoch + 12 * 3600))
// Re-checks of settled days are off here: these tests count the poll's own requests.
let settings = SyncSettings(startDate: Day("2025-03-01")!, settleDays: 3, maxConcurrentOrgs: 2, recheckDays: 0)

func engine(_ sources: [any CostSource], store: any CostStore) -> SyncEngine {
    SyncEngine(sources: sources, store: store, settings: settings, clock: clock, logger: Logger(label: "test"))
}

@Suite("The sync engine")
struct SyncEngineTests {
    @Test("a first poll fetches from start_date through today and stops the cursor at the first unsettled day")
    func firstPoll() async throws {
        let store = try SQLiteCostStore.inMemory()
        let source = FakeSource(.anthropic, "acme")
        let outcomes = await engine([source], store: store).pass(.poll)
        #expect(outcomes.allSatisfy { $0.succeeded })
        #expect(source.requests == [DayRange(settings.startDate, today)])
        // Final: days that ended settle_days (3) ago: through the 16th.
        #expect(try await store.nextDay(OrgKey(.anthropic, "acme")) == Day("2025-03-17"))
    }

    @Test("the next poll asks only for the days that are not final yet")
    func secondPoll() async throws {
        let store = try SQLiteCostStore.inMemory()
        let source = FakeSource(.anthropic, "acme")
        _ = await engine([source], store: store).pass(.poll)
        _ = await engine([source], store: store).pass(.poll)
        #expect(source.requests.last == DayRange(Day("2025-03-17")!, today))
    }

    @Test("one org's failure is recorded on its cursor and never stops the others")
    func isolation() async throws {
        let store = try SQLiteCostStore.inMemory()
        let good = FakeSource(.clickhouse, "good", locked: { _ in true })
        let bad = FakeSource(.anthropic, "bad", failure: Unauthorized())
        let another = FakeSource(.anthropic, "another")
        let outcomes = await engine([bad, good, another], store: store).pass(.poll)
        #expect(outcomes.map(\.succeeded) == [false, true, true])
        let state = try await store.state(of: OrgKey(.anthropic, "bad"), since: settings.startDate)
        #expect(state.lastError?.contains("authentication failed") == true)
        #expect(state.consecutiveFailures == 1 && state.rowsStored == 0)
        #expect(state.nextDay == settings.startDate)
        // ClickHouse days all locked are final up to yesterday; today never is.
        #expect(try await store.nextDay(OrgKey(.clickhouse, "good")) == today)
    }

    @Test("an unlocked ClickHouse day holds the cursor even when later days are locked")
    func unlockedHoldsCursor() async throws {
        let store = try SQLiteCostStore.inMemory()
        let hole = Day("2025-03-10")!
        let source = FakeSource(.clickhouse, "ch", locked: { $0 != hole })
        _ = await engine([source], store: store).pass(.poll)
        #expect(try await store.nextDay(OrgKey(.clickhouse, "ch")) == hole)
    }

    @Test("a backfill skips days already final and never moves the cursor back")
    func backfillSkipsFinal() async throws {
        let store = try SQLiteCostStore.inMemory()
        let source = FakeSource(.anthropic, "acme")
        _ = await engine([source], store: store).pass(.poll)
        let before = try await store.nextDay(OrgKey(.anthropic, "acme"))
        _ = await engine([source], store: store).pass(.backfill(DayRange(Day("2025-02-01")!, today)))
        // Only February and the unsettled days are asked for again, in one window each way.
        let asked = source.requests.dropFirst()
        #expect(asked.allSatisfy { !$0.contains(Day("2025-03-05")!) })
        #expect(asked.contains { $0.contains(Day("2025-02-10")!) })
        #expect(try await store.nextDay(OrgKey(.anthropic, "acme")) == before)
    }

    @Test("one failed window does not stop the org's later windows; the org is reported failed with the first error")
    func failedWindowDoesNotStopTheRest() async throws {
        let store = try SQLiteCostStore.inMemory()
        let key = OrgKey(.anthropic, "acme")
        // Final days in the middle of February split a backfill into two windows.
        let middle = DayRange(Day("2025-02-10")!, Day("2025-02-20")!)
        try await store.recordAttempt(key, at: clock.now, start: Day("2025-02-01")!)
        try await store.replaceDays(middle.map { DayWrite(day: $0, lines: [FakeSource.line("a", $0)], isFinal: true) },
                                    for: key, fetchedAt: clock.now, cursor: nil)
        let first = Day("2025-02-01")!
        let source = FakeSource(.anthropic, "acme", failure: Unauthorized(), failing: { $0.contains(first) })
        let outcome = try #require(await engine([source], store: store).pass(.backfill(DayRange(first, Day("2025-03-05")!))).first)
        #expect(source.requests.count == 2, "\(source.requests)")
        #expect(!outcome.succeeded && outcome.error?.contains("authentication failed") == true)
        // The later window, today's side, was written all the same.
        #expect(try await store.finalDays(key, in: DayRange(Day("2025-02-21")!, Day("2025-03-05")!)).count == 13)
        #expect(try await store.finalDays(key, in: DayRange(first, Day("2025-02-09")!)).isEmpty)
    }

    @Test("a day with no cost is stored as fetched, not left as a gap")
    func emptyDay() async throws {
        let store = try SQLiteCostStore.inMemory()
        let source = FakeSource(.anthropic, "acme", lines: { _ in [] })
        _ = await engine([source], store: store).pass(.poll)
        let state = try await store.state(of: OrgKey(.anthropic, "acme"), since: settings.startDate)
        #expect(state.gaps.isEmpty && state.daysStored == 20 && state.rowsStored == 0)
    }
}

@Suite("Finality and planning")
struct PlanningTests {
    @Test("when a day becomes final", arguments: [
        // (day, providerLocked, final?) with today = 2025-03-20 and settle_days = 3
        ("2025-03-20", true as Bool?, false),   // today is never final, even if locked
        ("2025-03-19", true, true),             // ClickHouse: locked is final
        ("2025-03-01", false, false),           // ClickHouse: unlocked is not, however old
        ("2025-03-16", nil, true),              // ended on the 17th, settled 3 days later
        ("2025-03-17", nil, false),
    ] as [(String, Bool?, Bool)])
    func finality(day: String, locked: Bool?, final: Bool) {
        #expect(FinalityRule(settleDays: 3).isFinal(Day(day)!, providerLocked: locked, today: today) == final)
    }

    @Test("final days split the plan only when that saves requests")
    func planner() {
        let range = DayRange(Day("2025-01-01")!, Day("2025-01-31")!)
        // One final day in the middle: one 31-day request still covers everything.
        #expect(FetchPlanner.ranges(range, skipping: [Day("2025-01-15")!], maxDaysPerRequest: 31) == [range])
        // Everything final but the last day: ask for that day alone.
        let allButLast = Set(range.filter { $0 != range.last })
        #expect(FetchPlanner.ranges(range, skipping: allButLast, maxDaysPerRequest: 31) == [DayRange(range.last, range.last)])
        #expect(FetchPlanner.ranges(range, skipping: Set(range), maxDaysPerRequest: 31).isEmpty)
    }
}
