import Alerts
import Config
import CostModel
import CostsyncApp
import Foundation
import SQLiteStore
import Simulator
import StorePort
import Testing

let webhookVariable = "COSTSYNC_TEST_WEBHOOK_OPS"

func notifyTOML(format: String = "json") -> String {
    "[[notify]]\nname = \"ops\"\nwebhook_url_env = \"\(webhookVariable)\"\nformat = \"\(format)\"\n\n"
}

@Suite("Budgets, anomalies and webhooks against the simulator", .serialized)
struct AlertStoryTests {
    static let june20 = Day(year: 2025, month: 6, day: 20)!

    static func anthropicOnly(today: Day, spikes: [String: [Day: Int]] = [:]) -> SimulatorWorld {
        var world = SimulatorWorld(seed: 14, today: today, anthropicOrgs: [SimAnthropicOrg(name: "acme-ai", linesPerDay: 12, workspaces: 2)])
        world.spikes = spikes
        return world
    }

    @Test("50 and 80 crossed in one pass: exactly two alerts with exact amounts; the next pass and a restart send none; 100 later sends one")
    func budgetThresholdsFireOnce() async throws {
        try await AlertWorld.with(Self.anthropicOnly(today: Self.june20)) { w in
            let receiver = try await Receiver.start()
            defer { Task { await receiver.shutdown() } }
            let june21 = Self.june20.advanced(by: 1)
            let june1 = Day(year: 2025, month: 6, day: 1)!
            let mtd1 = w.anthropicNanos("acme-ai", DayRange(june1, Self.june20))
            var later = w.simulator.world
            later.today = june21
            let mtd2 = w.anthropicNanos("acme-ai", DayRange(june1, june21), world: later)
            // A monthly amount half way between the two month-to-date figures, in whole cents.
            let monthlyNanos = (mtd1 + (mtd2 - mtd1) / 2) / 10_000_000 * 10_000_000
            try #require(Int128(mtd1) * 100 >= Int128(monthlyNanos) * 80 && mtd1 < monthlyNanos && mtd2 >= monthlyNanos,
                         "the simulator's figures do not straddle the budget: \(mtd1) \(mtd2) \(monthlyNanos)")
            let monthly = AlertMoney.text(monthlyNanos)
            let textfile = w.directory.appendingPathComponent("costsync.prom").path
            let extra = "[metrics]\ntextfile = \"\(textfile)\"\n\n" + notifyTOML() + """
                [[budget]]
                name = "claude-monthly"
                provider = "anthropic"
                org = "acme-ai"
                currency = "USD"
                monthly = "\(monthly)"
                thresholds = [50, 80, 100]
                notify = ["ops"]
                """
            let env = [webhookVariable: receiver.baseURL + "/hooks/ops"]

            let app = try w.app(startDate: june1, extra: extra, environment: env)
            try await app.run(once: true)
            let first = receiver.received
            #expect(first.count == 2, "\(first.map(\.body))")
            let bodies = first.map(\.json).sorted { ($0["threshold_percent"] as? Int ?? 0) < ($1["threshold_percent"] as? Int ?? 0) }
            #expect(bodies.map { $0["threshold_percent"] as? Int } == [50, 80])
            for (request, body) in zip(first, first.map(\.json)) {
                #expect(body["kind"] as? String == "budget")
                #expect(body["budget"] as? String == "claude-monthly")
                #expect(body["provider"] as? String == "anthropic" && body["org"] as? String == "acme-ai")
                #expect(body["currency"] as? String == "USD" && body["period"] as? String == "2025-06")
                #expect(body["spent"] as? String == AlertMoney.text(mtd1), "exact month-to-date: \(body)")
                #expect(body["limit"] as? String == monthly)
                #expect(body["workspace_id"] is NSNull)
                #expect(request.header("idempotency-key") == body["id"] as? String)
                #expect(request.header("content-type") == "application/json")
            }
            #expect(w.logs.count("alert raised") == 2)
            #expect(w.logs.all.filter { $0.contains("alert raised") }.allSatisfy { $0.hasPrefix("warning") })
            let exposition = try String(contentsOfFile: textfile, encoding: .utf8)
            #expect(exposition.contains("costsync_alerts_total{kind=\"budget\"} 2"), "\(exposition)")
            #expect(exposition.contains("costsync_alerts_total{kind=\"anomaly\"} 0"))

            // The next pass, and a restarted daemon (a new app on the same database): nothing more.
            try await app.run(once: true)
            let restarted = try w.app(startDate: june1, extra: extra, environment: env)
            try await restarted.run(once: true)
            #expect(receiver.received.count == 2)
            #expect(w.logs.count("alert raised") == 2)

            // A day later the month passes 100%: exactly one more alert.
            w.simulator.update { $0.today = june21 }
            let nextDay = try w.app(startDate: june1, now: AlertWorld.noon(june21), extra: extra, environment: env)
            try await nextDay.run(once: true)
            let all = receiver.received
            #expect(all.count == 3)
            let third = all.last?.json ?? [:]
            #expect(third["threshold_percent"] as? Int == 100)
            #expect(third["spent"] as? String == AlertMoney.text(mtd2))
            #expect(Set(all.compactMap { $0.header("idempotency-key") }).count == 3)

            // `costsync alerts --json` lists the three, each delivered once to ops.
            w.printed.clear()
            try await nextDay.alerts(json: true)
            let listed = try #require(try JSONSerialization.jsonObject(with: Data(w.printed.out.utf8)) as? [[String: Any]])
            #expect(listed.count == 3)
            for item in listed {
                let deliveries = item["deliveries"] as? [[String: Any]] ?? []
                #expect(deliveries.count == 1 && deliveries.first?["target"] as? String == "ops")
                #expect(deliveries.first?["delivered_at"] is String && deliveries.first?["attempts"] as? Int == 1)
            }
            w.printed.clear()
            try await nextDay.alerts(json: false)
            #expect(w.printed.out.contains("Budget claude-monthly: anthropic org acme-ai has spent \(AlertMoney.text(mtd2)) USD in 2025-06, 100% threshold"),
                    "\(w.printed.out)")

            // `alerts test` sends one message, outside the ledger.
            w.printed.clear()
            try await nextDay.alertsTest(notify: "ops")
            #expect(receiver.received.count == 4)
            #expect(receiver.received.last?.json["kind"] as? String == "test")
            #expect(w.printed.out.contains("ops: test message delivered"))
            try await nextDay.alerts(json: true)
            #expect(w.printed.out.components(separatedBy: "\"kind\": \"test\"").count == 1, "a test message is never recorded")
        }
    }

    @Test("a spend spike raises one anomaly for that day, normal days none, and only once")
    func spikeRaisesOneAnomaly() async throws {
        let today = Day(year: 2025, month: 6, day: 30)!
        let spikeDay = today.advanced(by: -3)
        try await AlertWorld.with(Self.anthropicOnly(today: today, spikes: ["acme-ai": [spikeDay: 10]])) { w in
            let receiver = try await Receiver.start()
            defer { Task { await receiver.shutdown() } }
            let extra = notifyTOML(format: "slack") + """
                [alerts]
                anomaly_factor = 3
                anomaly_min = "1.00"
                anomaly_baseline_days = 28
                """
            let start = today.advanced(by: -40)
            let app = try w.app(startDate: start, extra: extra, environment: [webhookVariable: receiver.baseURL + "/slack"])
            try await app.run(once: true)
            #expect(receiver.received.count == 1)
            let spent = w.anthropicNanos("acme-ai", DayRange(spikeDay, spikeDay))
            let baseline = DayRange(spikeDay.advanced(by: -28), spikeDay.advanced(by: -1)).map { w.anthropicNanos("acme-ai", DayRange($0, $0)) }
            let median = try #require(AlertRules.median(baseline))
            let text = try #require(receiver.received.first?.json["text"] as? String)
            #expect(receiver.received.first?.json.count == 1, "a Slack body is {\"text\": …} alone")
            #expect(text == "Spend anomaly: anthropic org acme-ai spent \(AlertMoney.text(spent)) USD on \(spikeDay), more than 3 × "
                    + "the median day of the 28 before it (\(AlertMoney.text(median)) USD).")

            let store = try SQLiteCostStore(readingFrom: w.database)
            let recorded = try await store.alerts(limit: 10)
            #expect(recorded.map(\.alert.kind) == [.anomaly])
            #expect(recorded.first?.alert.period == spikeDay.description)
            #expect(recorded.first?.alert.spentNanos == spent && recorded.first?.alert.limitNanos == median)

            try await app.run(once: true)
            #expect(receiver.received.count == 1)
            #expect(try await store.alerts(limit: 10).count == 1)
        }
    }

    @Test("a receiver that is slow to answer never holds up the daemon's pass")
    func syncNotDelayedByWebhook() async throws {
        try await AlertWorld.with(Self.anthropicOnly(today: Self.june20)) { w in
            let logs = w.logs
            // The first answer is held until the daemon has logged the end of its pass:
            // if the pass waited for the webhook, neither would ever come.
            let receiver = try await Receiver.start { n in
                guard n == 0 else { return }
                _ = await eventually(timeout: .seconds(30)) { logs.contains("pass finished") }
            }
            defer { Task { await receiver.shutdown() } }
            let extra = notifyTOML() + """
                [[budget]]
                name = "tiny"
                provider = "anthropic"
                monthly = "1.00"
                thresholds = [100]
                """
            let app = try w.app(startDate: Self.june20.advanced(by: -5), extra: extra,
                                environment: [webhookVariable: receiver.baseURL + "/hooks/ops"])
            let daemon = Task { try await app.run(once: false) }
            let delivered = await eventually(timeout: .seconds(40)) {
                guard FileManager.default.fileExists(atPath: w.database),
                      let store = try? SQLiteCostStore(readingFrom: w.database),
                      let alerts = try? await store.alerts(limit: 5) else { return false }
                return alerts.first?.deliveries.first?.deliveredAt != nil
            }
            daemon.cancel()
            _ = try? await daemon.value
            #expect(delivered)
            #expect(receiver.received.count == 1)
            let passEnd = try #require(logs.all.firstIndex { $0.contains("pass finished") })
            let deliveredLine = try #require(logs.all.firstIndex { $0.contains("alert delivered") })
            #expect(passEnd < deliveredLine, "the pass ended while the webhook was still answering")
        }
    }
}
