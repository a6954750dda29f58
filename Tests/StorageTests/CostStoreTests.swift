import CostModel
import SQLiteStore
import StorePort
import SQLite
import Testing

@Suite("Replacing a day's partition")
struct CostStoreTests {
    @Test("a restated day: new lines inserted, changed updated, vanished deleted, other days untouched")
    func restatedDay() async throws {
        let store = try SQLiteCostStore.inMemory()
        let d1 = day("2025-03-01"), d2 = day("2025-03-02")
        try await store.replaceDays([
            DayWrite(day: d1, lines: [line("a", cents: "100"), line("b", cents: "200"), line("c", cents: "300")], isFinal: false),
            DayWrite(day: d2, lines: [line("a", cents: "999")], isFinal: false),
        ], for: acme, fetchedAt: fetched, cursor: nil)
        let later = fetched.adding(seconds: 3600)
        let summary = try await store.replaceDays([
            DayWrite(day: d1, lines: [line("a", cents: "100"), line("b", cents: "250"), line("d", cents: "400")], isFinal: false),
        ], for: acme, fetchedAt: later, cursor: nil)
        #expect(summary.inserted == 1 && summary.updated == 1 && summary.deleted == 1 && summary.unchanged == 1)
        let rows = try await store.lines(acme, day: d1)
        #expect(rows.map(\.lineKey) == ["a", "b", "d"])
        #expect(rows.map(\.amount) == ["1", "2.5", "4"])
        // An unchanged line keeps the time it was really written.
        #expect(rows.map(\.fetchedAt) == [fetched.description, later.description, later.description])
        #expect(try await store.lines(acme, day: d2).map(\.amountNanos) == [9_990_000_000])
    }

    @Test("re-running the same replacement changes nothing")
    func idempotent() async throws {
        let store = try SQLiteCostStore.inMemory()
        let write = DayWrite(day: day("2025-03-01"), lines: [line("a", cents: "1.5"), line("b", cents: "2")], isFinal: true)
        try await store.replaceDays([write], for: acme, fetchedAt: fetched, cursor: nil)
        let again = try await store.replaceDays([write], for: acme, fetchedAt: fetched.adding(seconds: 60), cursor: nil)
        #expect(again.rowsWritten == 0 && again.deleted == 0 && again.unchanged == 2)
        let count = try await store.withConnection { try $0.query("SELECT count(*) FROM costs") { $0.int64(0) } }
        #expect(count == [2])
    }

    @Test("a NULL workspace never duplicates a row")
    func nullWorkspace() async throws {
        let store = try SQLiteCostStore.inMemory()
        var builder = LineKeyBuilder()
        builder.add("workspace_id", nil)
        builder.add("description", "Claude usage")
        let key = builder.build
        let write = DayWrite(day: day("2025-03-01"), lines: [line(key, cents: "5", workspace: nil)], isFinal: false)
        for _ in 0..<3 { try await store.replaceDays([write], for: acme, fetchedAt: fetched, cursor: nil) }
        let rows = try await store.lines(acme, day: day("2025-03-01"))
        #expect(rows.count == 1)
        #expect(rows.first?.scopeID == "default")
        #expect(rows.first?.workspaceID == nil)
    }

    @Test("two lines with one key are refused rather than one overwriting the other")
    func duplicateKeys() async throws {
        let store = try SQLiteCostStore.inMemory()
        await #expect(throws: StoreError.self) {
            try await store.replaceDays([DayWrite(day: day("2025-03-01"), lines: [line("a", cents: "1"), line("a", cents: "2")], isFinal: false)],
                                        for: acme, fetchedAt: fetched, cursor: nil)
        }
        #expect(try await store.lines(acme, day: day("2025-03-01")).isEmpty)
    }

    @Test("the cursor moves over consecutive final days only, in the rows' transaction")
    func cursor() async throws {
        let store = try SQLiteCostStore.inMemory()
        let rule = CursorRule(limit: day("2025-03-10"))
        try await store.recordAttempt(acme, at: fetched, start: day("2025-03-01"))
        let s = try await store.replaceDays([
            DayWrite(day: day("2025-03-01"), lines: [], isFinal: true),
            DayWrite(day: day("2025-03-02"), lines: [line("a", cents: "1")], isFinal: true),
            DayWrite(day: day("2025-03-03"), lines: [line("a", cents: "1")], isFinal: false),
            DayWrite(day: day("2025-03-04"), lines: [line("a", cents: "1")], isFinal: true),
        ], for: acme, fetchedAt: fetched, cursor: rule)
        #expect(s.nextDay == day("2025-03-03"))
        #expect(try await store.nextDay(acme) == day("2025-03-03"))
        // A later write of an older range never moves the cursor back.
        try await store.replaceDays([DayWrite(day: day("2025-02-01"), lines: [], isFinal: false)],
                                    for: acme, fetchedAt: fetched, cursor: CursorRule(limit: rule.limit))
        #expect(try await store.nextDay(acme) == day("2025-03-03"))
        // Once the 3rd settles, the cursor jumps over the already-final 4th.
        try await store.replaceDays([DayWrite(day: day("2025-03-03"), lines: [line("a", cents: "1")], isFinal: true)],
                                    for: acme, fetchedAt: fetched, cursor: rule)
        #expect(try await store.nextDay(acme) == day("2025-03-05"))
    }

    @Test("a failure is recorded on the cursor and cleared by the next success")
    func failures() async throws {
        let store = try SQLiteCostStore.inMemory()
        try await store.recordAttempt(acme, at: fetched, start: day("2025-01-01"))
        try await store.recordFailure(acme, error: "HTTP 503")
        try await store.recordFailure(acme, error: "HTTP 503 again")
        var state = try await store.state(of: acme, since: day("2025-01-01"))
        #expect(state.lastError == "HTTP 503 again" && state.consecutiveFailures == 2)
        try await store.recordSuccess(acme, at: fetched)
        state = try await store.state(of: acme, since: day("2025-01-01"))
        #expect(state.lastError == nil && state.consecutiveFailures == 0 && state.lastSuccessAt == fetched.description)
    }

    @Test("a start_date corrected after a failed first attempt takes effect; once days are stored it no longer moves the cursor")
    func correctedStart() async throws {
        let store = try SQLiteCostStore.inMemory()
        try await store.recordAttempt(acme, at: fetched, start: day("2024-01-01"))
        try await store.recordFailure(acme, error: "HTTP 401")
        try await store.recordAttempt(acme, at: fetched, start: day("2025-01-01"))
        #expect(try await store.nextDay(acme) == day("2025-01-01"))
        try await store.replaceDays([DayWrite(day: day("2025-01-01"), lines: [], isFinal: true)],
                                    for: acme, fetchedAt: fetched, cursor: CursorRule(limit: day("2025-01-05")))
        try await store.recordAttempt(acme, at: fetched, start: day("2023-01-01"))
        #expect(try await store.nextDay(acme) == day("2025-01-02"))
    }

    @Test("status finds the gaps before the cursor")
    func gaps() async throws {
        let store = try SQLiteCostStore.inMemory()
        let days = ["2025-01-01", "2025-01-02", "2025-01-05"].map { DayWrite(day: day($0), lines: [], isFinal: true) }
        try await store.replaceDays(days, for: acme, fetchedAt: fetched, cursor: nil)
        try await store.recordAttempt(acme, at: fetched, start: day("2025-01-08"))
        let state = try await store.state(of: acme, since: day("2025-01-01"))
        #expect(state.gaps == [DayRange(day("2025-01-03"), day("2025-01-04")), DayRange(day("2025-01-06"), day("2025-01-07"))])
        #expect(state.daysStored == 3)
    }

    @Test("the daily view sums exact nanos")
    func dailyView() async throws {
        let store = try SQLiteCostStore.inMemory()
        try await store.replaceDays([DayWrite(day: day("2025-03-01"), lines: [line("a", cents: "0.000001"), line("b", cents: "41280.000000")], isFinal: true)],
                                    for: acme, fetchedAt: fetched, cursor: nil)
        let nanos = try await store.withConnection { try $0.query("SELECT amount_nanos FROM daily_costs") { $0.int64(0) } }
        #expect(nanos == [412_800_000_010])
        let focus = try await store.withConnection { try $0.query("SELECT count(*) FROM focus_costs WHERE ServiceCategory = 'AI and Machine Learning'") { $0.int64(0) } }
        #expect(focus == [2])
    }
}
