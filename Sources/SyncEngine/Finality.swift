import CostModel

/// When a provider will not change a day any more. Pure, so the rule is tested
/// on its own and the engine only applies it.
public struct FinalityRule: Sendable, Equatable {
    /// Days after a day ends before it is taken as final (Anthropic; and
    /// ClickHouse days without any record).
    public var settleDays: Int

    public init(settleDays: Int) { self.settleDays = settleDays }

    /// A day is never final before it has ended. ClickHouse says so itself with
    /// `locked` on every record; where the provider says nothing, the day is
    /// final `settleDays` after it ends (at `day + 1 + settleDays`, 00:00 UTC).
    public func isFinal(_ day: Day, providerLocked: Bool?, today: Day) -> Bool {
        guard day < today else { return false }
        if let providerLocked { return providerLocked }
        return today >= day.advanced(by: 1 + settleDays)
    }
}

/// The requests a range needs, skipping days already final: the missing days
/// are grouped into runs, and neighbouring runs are merged only when one window
/// covering both takes fewer requests than fetching them apart.
public enum FetchPlanner {
    public static func ranges(_ range: DayRange, skipping final: Set<Day>, maxDaysPerRequest: Int) -> [DayRange] {
        var runs: [DayRange] = []
        var runStart: Day?
        for day in range {
            if final.contains(day) {
                if let s = runStart { runs.append(DayRange(s, day.advanced(by: -1))); runStart = nil }
            } else if runStart == nil {
                runStart = day
            }
        }
        if let s = runStart { runs.append(DayRange(s, range.last)) }
        func requests(_ r: DayRange) -> Int { (r.count + maxDaysPerRequest - 1) / maxDaysPerRequest }
        var merged: [DayRange] = []
        for run in runs {
            if let last = merged.last {
                let joined = DayRange(last.first, run.last)
                if requests(joined) < requests(last) + requests(run) {
                    merged[merged.count - 1] = joined
                    continue
                }
            }
            merged.append(run)
        }
        return merged
    }
}
