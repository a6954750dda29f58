import Config
import CostModel
import CostsyncMetrics
import Foundation
import LoopbackHTTP
import Logging
import Prometheus
import StorePort

/// Where metrics are read: a Prometheus registry fed through swift-metrics,
/// the `/metrics` and `/healthz` endpoints, and the node_exporter textfile.
/// Gauges that describe the database (cursor, spend, pending days) are read
/// back from the store at start and after every pass, so they survive a
/// restart rather than starting from zero.
final class MetricsExport: Sendable {
    let registry: PrometheusCollectorRegistry
    let metrics: CostsyncMetrics
    private let settings: MetricsSettings
    private let logger: Logger

    init(settings: MetricsSettings, logger: Logger) {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        self.metrics = CostsyncMetrics(factory: PrometheusMetricsFactory(registry: registry))
        self.settings = settings
        self.logger = logger
    }

    /// The exposition in the Prometheus text format 0.0.4, with a `# HELP`
    /// line before each family's `# TYPE` (swift-metrics carries no help).
    func exposition() -> String {
        var out = ""
        for line in registry.emitToString().split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("# TYPE ") {
                let name = line.dropFirst(7).split(separator: " ").first.map(String.init) ?? ""
                if let help = CostsyncMetrics.help[name] { out += "# HELP \(name) \(help)\n" }
            }
            out += line + "\n"
        }
        return out
    }

    /// Reads every org's state from the store into the gauges.
    func refresh(orgs: [OrgConfig], store: any CostStore, now: Timestamp) async {
        let (year, monthNumber, _) = now.day.components
        let month = Day(year: year, month: monthNumber, day: 1) ?? now.day
        let yesterday = now.day.advanced(by: -1)
        for org in orgs {
            let key = OrgKey(org.provider, org.name)
            do {
                let state = try await store.state(of: key, since: now.day, now: now)
                let seconds = { (text: String?) in text.flatMap { Timestamp(rfc3339: $0) }?.secondsSinceEpoch }
                metrics.orgState(provider: org.provider.rawValue, org: org.name,
                                 lastAttempt: seconds(state.lastAttemptAt), lastSuccess: seconds(state.lastSuccessAt),
                                 consecutiveFailures: state.consecutiveFailures,
                                 cursorLagSeconds: state.nextDay.map { now.secondsSinceEpoch - $0.secondsSinceEpoch },
                                 pendingDays: state.pendingDays, mismatch: !state.mismatches.isEmpty)
                let mtd = try await store.spendNanos(key, in: DayRange(month, now.day))
                let yday = try await store.spendNanos(key, in: DayRange(yesterday, yesterday))
                metrics.spend(provider: org.provider.rawValue, org: org.name, currency: org.provider.currency,
                              monthToDateNanos: mtd, yesterdayNanos: yday)
                metrics.declareFailureReasons(provider: org.provider.rawValue, org: org.name)
                metrics.declareHTTP(provider: org.provider.rawValue, org: org.name)
            } catch {
                logger.warning("metrics: could not read the org's state from the database", metadata: [
                    "provider": "\(org.provider)", "org": "\(org.name)", "error": "\(error)",
                ])
            }
        }
    }

    /// Replaces the textfile atomically: written to a temporary name in the
    /// same folder, then renamed over the old one, so node_exporter never
    /// reads half a file.
    func writeTextfile() {
        guard let path = settings.textfile else { return }
        let folder = (path as NSString).deletingLastPathComponent
        let temporary = (folder.isEmpty ? "." : folder) + "/.\((path as NSString).lastPathComponent).\(getpid()).tmp"
        do {
            try Data(exposition().utf8).write(to: URL(fileURLWithPath: temporary))
            // Readable by node_exporter's user: the service's UMask=0077 would
            // leave it 0600, and metrics hold no secret.
            chmod(temporary, 0o644)
            guard rename(temporary, path) == 0 else {
                let reason = String(cString: strerror(errno))
                unlink(temporary)
                throw TextfileError(reason: reason)
            }
        } catch {
            logger.warning("metrics: could not write the textfile", metadata: ["path": "\(path)", "error": "\(error)"])
        }
    }

    struct TextfileError: Error, CustomStringConvertible {
        var reason: String
        var description: String { "rename failed: \(reason)" }
    }
}
