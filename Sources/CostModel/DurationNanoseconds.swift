extension Duration {
    /// Whole nanoseconds, saturating at `Int64.max` (292 years): the one
    /// conversion for every API that takes an integer count (NIO's
    /// `TimeAmount`, swift-metrics timers, jitter draws).
    public var totalNanoseconds: Int64 {
        let (s, atto) = components
        let (ns, o) = s.multipliedReportingOverflow(by: 1_000_000_000)
        guard !o else { return s < 0 ? .min : .max }
        return ns &+ atto / 1_000_000_000
    }
}
