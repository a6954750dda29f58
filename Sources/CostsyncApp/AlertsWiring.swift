import Alerts
import Config
import CostModel
import CostsyncMetrics
import Logging
import ProviderHTTP
import ServiceLifecycle
import StorePort
import SyncEngine

/// Issue 14 in the daemon. After each pass the evaluator records the alerts
/// that are new (a few SQL sums and inserts, no network) and wakes the
/// dispatcher, which delivers on its own task beside the sync: a slow or
/// failing webhook can never hold up a pass.
struct AlertsRuntime: Sendable {
    let evaluator: AlertEvaluator
    let dispatcher: AlertDispatcher
    let logger: Logger
    let metrics: CostsyncMetrics

    /// `costsync run --once` delivers what is due after its pass, within this
    /// long; what fails is retried by the next run (the state is in the table).
    static let onceDeliveryBudget: Duration = .seconds(15)

    /// Evaluates, records, logs and counts the new alerts, then wakes the dispatcher.
    func afterPass() async {
        do {
            for alert in try await evaluator.evaluate() {
                var meta: Logger.Metadata = [
                    "alert.id": "\(alert.id)", "alert.kind": "\(alert.kind.rawValue)", "provider": "\(alert.provider)",
                    "alert.period": "\(alert.period)", "alert.spent": "\(AlertMoney.text(alert.spentNanos, alert.currency))",
                    "alert.text": "\(alert.text)",
                ]
                if let org = alert.org { meta["org"] = "\(org)" }
                if let budget = alert.budget { meta["budget"] = "\(budget)" }
                if let t = alert.thresholdPercent { meta["alert.threshold_percent"] = "\(t)" }
                logger.warning("alert raised", metadata: meta)
                metrics.alertRaised(kind: alert.kind.rawValue)
            }
        } catch {
            // Alerting never fails the sync; the next pass evaluates again.
            logger.error("cannot evaluate alerts", metadata: ["error": "\(error)"])
        }
        dispatcher.wake()
    }

    /// The delivery loop as a service of the daemon's group; none for `--once`,
    /// which delivers in `finish` instead.
    func services(for schedule: SyncService.Schedule) -> [ServiceGroupConfiguration.ServiceConfiguration] {
        guard case .every = schedule else { return [] }
        return [.init(service: AlertDeliveryService(dispatcher: dispatcher), successTerminationBehavior: .ignore)]
    }

    /// After the group: for `--once`, one round of due deliveries, bounded in time.
    func finish(_ schedule: SyncService.Schedule) async {
        guard case .once = schedule else { return }
        let dispatcher = dispatcher
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await dispatcher.deliverDue() }
            group.addTask { try? await Task.sleep(for: AlertsRuntime.onceDeliveryBudget) }
            _ = await group.next()
            group.cancelAll()
        }
    }
}

/// The dispatcher's loop, until the daemon shuts down.
struct AlertDeliveryService: Service, CustomStringConvertible {
    let dispatcher: AlertDispatcher
    var description: String { "AlertDeliveryService" }

    func run() async throws {
        let dispatcher = dispatcher
        await cancelWhenGracefulShutdown { await dispatcher.run() }
    }
}

extension CostsyncApp {
    /// The alerting pieces for `run`, on the shared HTTP client; nil when the
    /// config has no budget and no `[alerts]`, or the store keeps no ledger.
    func alertsRuntime(store: any CostStore, httpClients: ProviderHTTPClients, metrics: CostsyncMetrics) -> AlertsRuntime? {
        let alerting = config.alerting
        guard alerting.isEnabled else { return nil }
        guard let ledger = store as? any AlertLedger else {
            logger.warning("this store keeps no alert ledger: budgets and anomalies are not evaluated")
            return nil
        }
        metrics.declareAlertKinds([AlertKind.budget, .forecast, .anomaly].map(\.rawValue))
        let dispatcher = AlertDispatcher(ledger: ledger, targets: alerting.targets, transport: HTTPWebhookTransport(clientFor: { httpClients.client(for: $0) }),
                                         clock: clock, logger: logger, userAgent: "costsync/\(costsyncVersion)")
        return AlertsRuntime(evaluator: AlertEvaluator(config: alerting, orgs: config.orgs, ledger: ledger, clock: clock),
                             dispatcher: dispatcher, logger: logger, metrics: metrics)
    }
}
