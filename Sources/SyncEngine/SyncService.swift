import CostModel

import StorePort
import Logging
import ServiceLifecycle
import SystemdSupport

/// The daemon as one `Service`: its `run()` returns only at shutdown (or
/// after one pass, for `--once` and `backfill`). SIGTERM ends the sleep
/// between polls at once and cancels a pass in flight; a transaction already
/// running commits first, so nothing half-written is ever committed.
public struct SyncService: Service, CustomStringConvertible {
    /// swift-service-lifecycle logs a service with `"\(service)"`; the default
    /// reflection would walk down to every client's credentials.
    public var description: String { "SyncService(\(engine.sources.count) orgs)" }

    public enum Schedule: Sendable {
        /// Poll forever, `interval` apart (plus jitter).
        case every(Duration)
        /// One pass of the given mode, then return.
        case once(SyncMode)
    }

    let engine: SyncEngine
    let schedule: Schedule
    let notifier: SystemdNotifier
    let logger: Logger
    let onPass: @Sendable ([OrgOutcome]) async -> Void
    let jitter: @Sendable (Duration) -> Duration
    let startJitter: @Sendable (Duration) -> Duration
    /// Where each pass gets its engine: the one given, or the latest a config
    /// reload built (`costsync run` under SIGHUP).
    let currentEngine: (@Sendable () async -> SyncEngine)?
    let wakeup: PassWakeup?

    public init(engine: SyncEngine, schedule: Schedule, notifier: SystemdNotifier, logger: Logger,
                jitter: @escaping @Sendable (Duration) -> Duration = SyncService.randomJitter,
                startJitter: @escaping @Sendable (Duration) -> Duration = SyncService.randomStartJitter,
                currentEngine: (@Sendable () async -> SyncEngine)? = nil, wakeup: PassWakeup? = nil,
                onPass: @escaping @Sendable ([OrgOutcome]) async -> Void = { _ in }) {
        self.engine = engine
        self.currentEngine = currentEngine
        self.wakeup = wakeup
        self.schedule = schedule
        self.notifier = notifier
        self.logger = logger
        self.jitter = jitter
        self.startJitter = startJitter
        self.onPass = onPass
    }

    /// Up to a tenth of the interval (at most five minutes), so that many
    /// daemons started together do not poll the providers in lockstep.
    public static let randomJitter: @Sendable (Duration) -> Duration = { interval in
        let cap = min(interval / 10, .seconds(300))
        let ms = cap.components.seconds * 1000
        return ms > 0 ? .milliseconds(Int64.random(in: 0...ms)) : .zero
    }

    /// Before the first poll of a daemon: up to a hundredth of the interval,
    /// at most 3 s, so daemons (and their orgs sharing a rate-limit reset)
    /// started together by a boot or a deploy do not hit the providers at once.
    public static let randomStartJitter: @Sendable (Duration) -> Duration = { interval in
        let cap = min(interval / 100, .seconds(3))
        let ms = cap.components.seconds * 1000 + cap.components.attoseconds / 1_000_000_000_000_000
        return ms > 0 ? .milliseconds(Int64.random(in: 0...ms)) : .zero
    }

    public func run() async throws {
        notifier.ready()
        await withTaskGroup(of: Void.self) { group in
            if let interval = notifier.watchdogInterval {
                group.addTask { await watchdog(every: interval) }
            }
            await loop()
            group.cancelAll()
        }
        notifier.stopping()
    }

    private func loop() async {
        switch schedule {
        case .once(let mode):
            await passOnce(mode)
        case .every(let interval):
            let delay = startJitter(interval)
            if delay > .zero { try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) } }
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                await passOnce(.poll)
                guard !Task.isShuttingDownGracefully && !Task.isCancelled else { break }
                let pause = interval + jitter(interval)
                logger.debug("sleeping until the next poll", metadata: ["poll.in": "\(pause)"])
                // The sleep ends at SIGTERM: the error only says it was cut short.
                try? await cancelWhenGracefulShutdown { [wakeup] in
                    if let wakeup { await wakeup.sleep(for: pause) } else { try await Task.sleep(for: pause) }
                }
            }
        }
    }

    private func passOnce(_ mode: SyncMode) async {
        let engine = await currentEngine?() ?? engine
        notifier.status("syncing \(engine.sources.count) orgs")
        let outcomes = await cancelWhenGracefulShutdown { await engine.pass(mode) }
        let failed = outcomes.filter { $0.error != nil }
        let rows = outcomes.reduce(0) { $0 + $1.summary.rowsWritten }
        // What follows a pass (gauges, the textfile) is done before the pass
        // is announced, so "pass finished" means all of it is in place.
        await onPass(outcomes)
        notifier.status("last pass: \(outcomes.count - failed.count) orgs ok, \(failed.count) failed, \(rows) rows written")
        logger.info("pass finished", metadata: [
            "orgs.ok": "\(outcomes.filter(\.succeeded).count)", "orgs.failed": "\(failed.count)", "rows.written": "\(rows)",
        ])
    }

    /// Pings systemd's watchdog from its own task, so a long pass (a big
    /// backfill page) never looks like a hang while the process is healthy.
    private func watchdog(every interval: Duration) async {
        while !Task.isCancelled {
            notifier.watchdog()
            try? await Task.sleep(for: interval)
        }
    }
}
