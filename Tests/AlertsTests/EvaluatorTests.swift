import Alerts
import Config
import CostModel
import Foundation
import StorePort
import Synchronization
import Testing

/// A ledger over fixed day sums, recording in memory.
final class FixedLedger: AlertLedger {
    private let days: Mutex<[Day: Int64]>
    private let recorded = Mutex<[AlertRecord]>([])
    init(days: [Day: Int64]) { self.days = Mutex(days) }
    var alerts: [AlertRecord] { recorded.withLock { $0 } }
    /// A restatement: the day's total becomes `nanos`.
    func restate(_ day: Day, _ nanos: Int64) { days.withLock { $0[day] = nanos } }

    func dailySpend(_ key: OrgKey, scopeID: String?, in range: DayRange) async throws -> [Day: Int64] {
        days.withLock { $0.filter { range.contains($0.key) } }
    }
    func recordIfNew(_ alert: AlertRecord, targets: [String]) async throws -> Bool {
        recorded.withLock { r in
            guard !r.contains(where: { $0.id == alert.id }) else { return false }
            r.append(alert)
            return true
        }
    }
    func pendingDeliveries(targets: [String]) async throws -> [PendingDelivery] { [] }
    func claimDelivery(alertID: String, target: String, now: Timestamp, until: Timestamp) async throws -> Bool { false }
    func recordFailedAttempt(alertID: String, target: String, at time: Timestamp, error: String, nextAttemptAt: Timestamp) async throws {}
    func markDelivered(alertID: String, target: String, at time: Timestamp) async throws {}
    func markAbandoned(alertID: String, target: String, at time: Timestamp, reason: String) async throws {}
    func alerts(limit: Int) async throws -> [StoredAlert] { [] }
    func targetHealth(since: Timestamp) async throws -> [TargetHealth] { [] }
}

@Suite("The evaluator on fixed figures")
struct EvaluatorTests {
    static func day(_ d: Int) -> Day { Day(year: 2025, month: 6, day: d)! }

    @Test("the README's example: 80% crossed with the forecast, body for body")
    func readmeExample() async throws {
        var days: [Day: Int64] = [Self.day(1): 2_612_345_678_000]
        for d in 13...19 { days[Self.day(d)] = 200_000_000_000 }
        // May's days are before the month and outside the last seven: they count for nothing.
        days[Day(year: 2025, month: 5, day: 31)!] = 999_000_000_000
        let ledger = FixedLedger(days: days)
        let org = OrgConfig(name: "acme", provider: .anthropic, baseURL: OrgConfig.defaultAnthropicBaseURL,
                            credentials: .anthropic(adminKey: Secret("k")))
        let budget = BudgetConfig(name: "claude-monthly", provider: .anthropic, org: "acme", monthly: try Money.parse("5000.00"),
                                  thresholds: [50, 80, 100], forecast: true, notify: ["ops"])
        let evaluator = AlertEvaluator(config: AlertingConfig(budgets: [budget]), orgs: [org], ledger: ledger,
                                       clock: .fixed(Timestamp(rfc3339: "2025-06-20T12:00:00Z")!))
        let fired = try await evaluator.evaluate()
        #expect(fired.map(\.kind) == [.budget, .budget, .forecast])
        #expect(fired.map(\.thresholdPercent) == [50, 80, nil])
        #expect(fired.allSatisfy { $0.spentNanos == 4_012_345_678_000 && $0.forecastNanos == 6_012_345_678_000 })
        #expect(try await evaluator.evaluate().isEmpty, "recorded alerts do not fire again")

        let readme = try String(contentsOfFile: #filePath.components(separatedBy: "/Tests/").first! + "/README.md", encoding: .utf8)
        let eighty = try #require(fired.first { $0.thresholdPercent == 80 })
        #expect(readme.contains("\n" + AlertBody.json(eighty) + "\n"), "the README shows the real JSON body")
        #expect(readme.contains("\n" + AlertBody.slack(eighty) + "\n"), "the README shows the real Slack body")
    }

    @Test("a budget over every org sums them; one with a workspace asks for that scope")
    func scopes() async throws {
        let ledger = FixedLedger(days: [Self.day(2): 600_000_000])
        let orgs = ["a", "b"].map { OrgConfig(name: $0, provider: .clickhouse, baseURL: OrgConfig.defaultClickHouseBaseURL,
                                              credentials: .clickhouse(organizationID: "x", keyID: Secret("k"), keySecret: Secret("s"))) }
        let budget = BudgetConfig(name: "ch", provider: .clickhouse, monthly: try Money.parse("1.2"), thresholds: [100])
        let evaluator = AlertEvaluator(config: AlertingConfig(budgets: [budget]), orgs: orgs, ledger: ledger,
                                       clock: .fixed(Timestamp(rfc3339: "2025-06-03T00:00:00Z")!))
        let fired = try await evaluator.evaluate()
        #expect(fired.count == 1 && fired.first?.spentNanos == 1_200_000_000 && fired.first?.org == nil && fired.first?.currency == "CHC")
        #expect(fired.first?.text.hasPrefix("Budget ch: every clickhouse org has spent 1.20 CHC in 2025-06, 100% threshold") == true)
    }

    @Test("a restatement under a threshold and back over it does not fire it again that month; the next month does")
    func restatementDoesNotRefire() async throws {
        let ledger = FixedLedger(days: [Self.day(2): 85_000_000_000])
        let org = OrgConfig(name: "acme", provider: .anthropic, baseURL: OrgConfig.defaultAnthropicBaseURL,
                            credentials: .anthropic(adminKey: Secret("k")))
        let budget = BudgetConfig(name: "b", provider: .anthropic, org: "acme", monthly: try Money.parse("100"), thresholds: [80])
        func evaluator(_ now: String) -> AlertEvaluator {
            AlertEvaluator(config: AlertingConfig(budgets: [budget]), orgs: [org], ledger: ledger, clock: .fixed(Timestamp(rfc3339: now)!))
        }
        #expect(try await evaluator("2025-06-03T00:00:00Z").evaluate().map(\.thresholdPercent) == [80])
        ledger.restate(Self.day(2), 70_000_000_000)
        #expect(try await evaluator("2025-06-04T00:00:00Z").evaluate().isEmpty)
        ledger.restate(Self.day(2), 90_000_000_000)
        #expect(try await evaluator("2025-06-05T00:00:00Z").evaluate().isEmpty)
        ledger.restate(Day(year: 2025, month: 7, day: 1)!, 81_000_000_000)
        let july = try await evaluator("2025-07-01T10:00:00Z").evaluate()
        #expect(july.map(\.period) == ["2025-07"] && july.first?.spentNanos == 81_000_000_000)
    }
}
