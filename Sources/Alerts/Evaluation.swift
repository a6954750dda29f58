import Config
import CostModel
import StorePort

/// The rules that turn stored spend into alerts, as pure functions of the
/// figures, so each is tested on exact numbers without a database.
public enum AlertRules {
    /// The thresholds (percent) that month-to-date spend has reached:
    /// `spent × 100 ≥ monthly × t`, in 128-bit integers, so no rounding at all.
    public static func crossedThresholds(spentNanos: Int64, monthlyNanos: Int64, thresholds: [Int]) -> [Int] {
        thresholds.filter { Int128(spentNanos) * 100 >= Int128(monthlyNanos) * Int128($0) }
    }

    /// The month-end forecast: month-to-date plus the mean of the last seven
    /// complete days times the days left in the month after today:
    /// `mtd + round(sum7 × daysLeft / 7)`, the one division rounded half to
    /// even to the nano (the product is exact in 128 bits).
    public static func forecast(monthToDateNanos: Int64, lastSevenDaysNanos: Int64, daysLeft: Int) -> Int64 {
        let projected = divideHalfEven(Int128(lastSevenDaysNanos) * Int128(daysLeft), by: 7)
        let total = Int128(monthToDateNanos) + projected
        return Int64(clamping: total)
    }

    /// The median of the baseline days' spend: the middle day, or the mean of
    /// the two middle days (rounded half to even to the nano).
    public static func median(_ values: [Int64]) -> Int64? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let mid = sorted.count / 2
        if sorted.count % 2 == 1 { return sorted[mid] }
        return Int64(divideHalfEven(Int128(sorted[mid - 1]) + Int128(sorted[mid]), by: 2))
    }

    /// A day is an anomaly when it is above `factor × median` and above `minimum`
    /// (both strictly); `factor` is exact decimal, compared without division.
    public static func isAnomaly(spentNanos: Int64, medianNanos: Int64, factor: Money, minimumNanos: Int64) -> Bool {
        guard spentNanos > minimumNanos else { return false }
        let scaled = Int128(spentNanos) * pow10(factor.scale)
        return scaled > factor.significand * Int128(medianNanos)
    }

    /// `value / divisor`, rounded half to even.
    static func divideHalfEven(_ value: Int128, by divisor: Int128) -> Int128 {
        var q = value / divisor
        let r = value % divisor
        let twice = r.magnitude * 2
        if twice > divisor.magnitude || (twice == divisor.magnitude && q % 2 != 0) { q += value < 0 ? -1 : 1 }
        return q
    }

    static func pow10(_ n: Int) -> Int128 {
        var p: Int128 = 1
        for _ in 0..<n { p *= 10 }
        return p
    }

    /// The UTC month of `day`: its first and last day.
    public static func month(of day: Day) -> DayRange {
        let (y, m, _) = day.components
        let first = Day(year: y, month: m, day: 1)!
        let next = m == 12 ? Day(year: y + 1, month: 1, day: 1)! : Day(year: y, month: m + 1, day: 1)!
        return DayRange(first, next.advanced(by: -1))
    }

    /// `YYYY-MM`.
    public static func period(of day: Day) -> String { String(day.description.prefix(7)) }
}

/// Why evaluating alerts failed; the sync itself is never affected by it.
public enum AlertError: Error, Sendable, CustomStringConvertible {
    case store(String, any Error)
    case sumOutOfRange(String)

    public var description: String {
        switch self {
        case let .store(what, error): "cannot \(what): \(error); alerts are evaluated again after the next pass"
        case let .sumOutOfRange(what): "\(what) does not fit 64-bit nanos; check the budget's scope"
        }
    }
}

/// Evaluates every budget and the anomaly rule against the ledger, after a
/// pass. It only reads sums and records alerts; delivery is the dispatcher's.
public struct AlertEvaluator: Sendable {
    public let config: AlertingConfig
    /// The orgs of the config: a budget without `org` covers every org of its provider.
    public let orgs: [OrgConfig]
    public let ledger: any AlertLedger
    public let clock: WallClock

    /// Anomalies are looked for on today and the six days before it, so a
    /// restated or late day is still judged, and history a backfill brings in is not.
    public static let anomalyLookbackDays = 7
    /// A baseline needs at least this many fetched days (or all of
    /// `anomaly_baseline_days` when fewer) before any day is judged against it.
    public static let minimumBaselineDays = 7

    public init(config: AlertingConfig, orgs: [OrgConfig], ledger: any AlertLedger, clock: WallClock) {
        self.config = config
        self.orgs = orgs
        self.ledger = ledger
        self.clock = clock
    }

    /// Every alert due now whose id is not recorded yet: recorded (with one
    /// pending delivery per target) and returned. Already-recorded ones are
    /// silently skipped, so running this after every pass fires each once.
    public func evaluate() async throws(AlertError) -> [AlertRecord] {
        let now = clock.now
        var candidates: [(AlertRecord, [String])] = []
        for budget in config.budgets {
            candidates += try await budgetAlerts(budget, now: now).map { ($0, budget.notify) }
        }
        if let anomalies = config.anomalies {
            for org in orgs {
                candidates += try await anomalyAlerts(OrgKey(org.provider, org.name), anomalies, now: now).map { ($0, anomalies.notify) }
            }
        }
        var fired: [AlertRecord] = []
        for (alert, targets) in candidates {
            do {
                if try await ledger.recordIfNew(alert, targets: targets) { fired.append(alert) }
            } catch {
                throw .store("record alert \(alert.id)", error)
            }
        }
        return fired
    }

    func budgetAlerts(_ budget: BudgetConfig, now: Timestamp) async throws(AlertError) -> [AlertRecord] {
        let today = now.day
        let month = AlertRules.month(of: today)
        let lastSevenFirst = today.advanced(by: -7)
        let keys = budget.org.map { [OrgKey(budget.provider, $0)] }
            ?? orgs.filter { $0.provider == budget.provider }.map { OrgKey($0.provider, $0.name) }
        var mtd: Int64 = 0
        var lastSeven: Int64 = 0
        let range = DayRange(min(month.first, lastSevenFirst), today)
        for key in keys {
            let days: [Day: Int64]
            do { days = try await ledger.dailySpend(key, scopeID: budget.workspaceID, in: range) } catch {
                throw .store("read the spend of \(key) for budget '\(budget.name)'", error)
            }
            for (day, nanos) in days {
                if day >= month.first { mtd = try add(mtd, nanos, "budget '\(budget.name)' month-to-date") }
                if day >= lastSevenFirst && day < today { lastSeven = try add(lastSeven, nanos, "budget '\(budget.name)' last seven days") }
            }
        }
        let limit = budget.monthly.nanos
        let daysLeft = today.distance(to: month.last)
        let forecast = AlertRules.forecast(monthToDateNanos: mtd, lastSevenDaysNanos: lastSeven, daysLeft: daysLeft)
        let period = AlertRules.period(of: today)
        let scope = Self.scopeText(provider: budget.provider, org: budget.org, workspaceID: budget.workspaceID)
        let money = { (n: Int64) in AlertMoney.text(n, budget.currency) }
        var out: [AlertRecord] = []
        for t in AlertRules.crossedThresholds(spentNanos: mtd, monthlyNanos: limit, thresholds: budget.thresholds) {
            let text = "Budget \(budget.name): \(scope) has spent \(money(mtd)) in \(period), \(t)% threshold of the monthly "
                + "\(money(limit)) reached (month-end forecast \(money(forecast)))."
            out.append(record(.budget, budget, period: period, threshold: t, spent: mtd, limit: limit, forecast: forecast,
                              text: text, now: now))
        }
        if budget.forecast && forecast > limit {
            let text = "Budget \(budget.name): \(scope) is forecast to spend \(money(forecast)) in \(period), above the monthly "
                + "\(money(limit)) (spent so far \(money(mtd)); mean of the last 7 complete days × \(daysLeft) days left)."
            out.append(record(.forecast, budget, period: period, threshold: nil, spent: mtd, limit: limit, forecast: forecast,
                              text: text, now: now))
        }
        return out
    }

    private func record(_ kind: AlertKind, _ budget: BudgetConfig, period: String, threshold: Int?, spent: Int64, limit: Int64,
                        forecast: Int64, text: String, now: Timestamp) -> AlertRecord {
        let id = AlertID.make(kind: kind, budget: budget.name, provider: budget.provider, org: budget.org,
                              workspaceID: budget.workspaceID, period: period, thresholdPercent: threshold)
        return AlertRecord(id: id, kind: kind, budget: budget.name, provider: budget.provider, org: budget.org,
                           workspaceID: budget.workspaceID, currency: budget.currency, period: period, thresholdPercent: threshold,
                           spentNanos: spent, limitNanos: limit, forecastNanos: forecast, text: text, raisedAt: now)
    }

    func anomalyAlerts(_ key: OrgKey, _ settings: AnomalySettings, now: Timestamp) async throws(AlertError) -> [AlertRecord] {
        let today = now.day
        let firstJudged = today.advanced(by: -(Self.anomalyLookbackDays - 1))
        let days: [Day: Int64]
        do {
            days = try await ledger.dailySpend(key, scopeID: nil, in: DayRange(firstJudged.advanced(by: -settings.baselineDays), today))
        } catch {
            throw .store("read the daily spend of \(key)", error)
        }
        let needed = min(Self.minimumBaselineDays, settings.baselineDays)
        let currency = key.provider.currency
        var out: [AlertRecord] = []
        for day in DayRange(firstJudged, today) {
            guard let spent = days[day] else { continue }
            let baseline = DayRange(day.advanced(by: -settings.baselineDays), day.advanced(by: -1)).compactMap { days[$0] }
            guard baseline.count >= needed, let median = AlertRules.median(baseline) else { continue }
            guard AlertRules.isAnomaly(spentNanos: spent, medianNanos: median, factor: settings.factor,
                                       minimumNanos: settings.minimum.nanos) else { continue }
            let period = day.description
            let text = "Spend anomaly: \(Self.scopeText(provider: key.provider, org: key.org, workspaceID: nil)) spent "
                + "\(AlertMoney.text(spent, currency)) on \(period)\(day == today ? " (so far)" : ""), more than "
                + "\(settings.factor.text) × the median day of the \(baseline.count) before it (\(AlertMoney.text(median, currency)))."
            out.append(AlertRecord(
                id: AlertID.make(kind: .anomaly, budget: nil, provider: key.provider, org: key.org, workspaceID: nil,
                                 period: period, thresholdPercent: nil),
                kind: .anomaly, budget: nil, provider: key.provider, org: key.org, workspaceID: nil, currency: currency,
                period: period, thresholdPercent: nil, spentNanos: spent, limitNanos: median, forecastNanos: nil, text: text,
                raisedAt: now))
        }
        return out
    }

    static func scopeText(provider: Provider, org: String?, workspaceID: String?) -> String {
        var s = org.map { "\(provider) org \($0)" } ?? "every \(provider) org"
        if let workspaceID { s += ", workspace \(workspaceID)" }
        return s
    }

    private func add(_ a: Int64, _ b: Int64, _ what: String) throws(AlertError) -> Int64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        guard !overflow else { throw .sumOutOfRange(what) }
        return sum
    }
}
