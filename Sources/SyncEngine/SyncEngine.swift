import Config
import CostsyncMetrics
import CostModel

import StorePort
import Logging

/// Syncs every org once, a bounded number at a time. One org's failure is
/// its own outcome: it is recorded on its cursor and never stops the others.
public struct SyncEngine: Sendable {
    public let sources: [any CostSource]
    public let store: any CostStore
    public let settings: SyncSettings
    public let clock: WallClock
    public let logger: Logger
    /// Words a failure for the outcome and the cursor's `last_error`; the
    /// composition root knows the config's key names, the engine does not.
    public let describe: @Sendable (any Error) -> String
    /// Sorts a failure into a metric's `reason`; the composition root knows the error types.
    public let classify: @Sendable (any Error) -> CostsyncMetrics.FailureReason
    public let metrics: CostsyncMetrics
    public let progress: @Sendable (ProgressEvent) -> Void
    /// Orgs whose own `start_date` overrides `settings.startDate`.
    public let startDates: [OrgKey: Day]

    public init(sources: [any CostSource], store: any CostStore, settings: SyncSettings, clock: WallClock, logger: Logger,
                describe: @escaping @Sendable (any Error) -> String = { String(describing: $0) },
                classify: @escaping @Sendable (any Error) -> CostsyncMetrics.FailureReason = { _ in .other },
                metrics: CostsyncMetrics = .none,
                progress: @escaping @Sendable (ProgressEvent) -> Void = { _ in }, startDates: [OrgKey: Day] = [:]) {
        self.sources = sources
        self.startDates = startDates
        self.store = store
        self.settings = settings
        self.clock = clock
        self.logger = logger
        self.describe = describe
        self.classify = classify
        self.metrics = metrics
        self.progress = progress
    }

    /// One pass over every org; outcomes come back in the sources' order.
    public func pass(_ mode: SyncMode) async -> [OrgOutcome] {
        var outcomes: [(Int, OrgOutcome)] = []
        await withTaskGroup(of: (Int, OrgOutcome).self) { group in
            var waiting = sources.enumerated().makeIterator()
            func startNext() -> Bool {
                guard let (index, source) = waiting.next() else { return false }
                var settings = settings
                if let start = startDates[OrgKey(source.provider, source.org)] { settings.startDate = start }
                let sync = OrgSync(source: source, store: store, settings: settings, clock: clock, logger: logger,
                                   describe: describe, classify: classify, metrics: metrics, progress: progress)
                group.addTask { (index, await sync.run(mode)) }
                return true
            }
            for _ in 0..<max(1, settings.maxConcurrentOrgs) where !Task.isCancelled {
                guard startNext() else { break }
            }
            while let finished = await group.next() {
                outcomes.append(finished)
                if !Task.isCancelled { _ = startNext() }
            }
        }
        // Orgs never started because the pass was cancelled (SIGTERM) are
        // reported as interrupted, so a caller cannot take the pass as whole.
        let finished = Set(outcomes.map(\.0))
        for (index, source) in sources.enumerated() where !finished.contains(index) {
            var outcome = OrgOutcome(key: OrgKey(source.provider, source.org))
            outcome.cancelled = true
            outcomes.append((index, outcome))
        }
        return outcomes.sorted { $0.0 < $1.0 }.map(\.1)
    }
}
