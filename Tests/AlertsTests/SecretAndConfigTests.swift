import Alerts
import Config
import CostModel
import CostsyncApp
import Foundation
import SQLiteStore
import Simulator
import StorePort
import Testing

@Suite("The webhook URL is a secret; the alerting config is checked", .serialized)
struct AlertSecretTests {
    static let token = "XyzzyPlughSecretToken42"
    static let deadToken = "DeadTargetQuuxSecret77"

    @Test("the webhook URL never appears in logs, errors, the database, status or alerts output")
    func webhookURLNeverLeaks() async throws {
        let today = Day(year: 2025, month: 6, day: 20)!
        try await AlertWorld.with(AlertStoryTests.anthropicOnly(today: today)) { w in
            let receiver = try await Receiver.start(script: Array(repeating: 500, count: 20))
            defer { Task { await receiver.shutdown() } }
            let live = receiver.baseURL + "/services/T0SECRET/B0SECRET/\(Self.token)"
            // A target that closes every connection unanswered: its error text is scrubbed.
            let deadReceiver = try await Receiver.start(script: Array(repeating: 0, count: 20))
            defer { Task { await deadReceiver.shutdown() } }
            let dead = deadReceiver.baseURL + "/hooks/\(Self.deadToken)?key=\(Self.deadToken)"
            let extra = notifyTOML() + """
                [[notify]]
                name = "dead"
                webhook_url_env = "COSTSYNC_TEST_WEBHOOK_DEAD"
                format = "slack"

                [[budget]]
                name = "tiny"
                provider = "anthropic"
                org = "acme-ai"
                monthly = "1.00"
                thresholds = [50, 100]
                """
            let env = [webhookVariable: live, "COSTSYNC_TEST_WEBHOOK_DEAD": dead]
            let app = try w.app(startDate: today.advanced(by: -5), extra: extra, environment: env)
            try await app.run(once: true)
            #expect(receiver.received.count == 2, "both alerts tried once on the live target")
            #expect(w.logs.contains("alert delivery failed; retrying"))

            // Two hours later every delivery is past its hour: given up, and status says the targets fail.
            let later = try w.app(startDate: today.advanced(by: -5), now: AlertWorld.noon(today).adding(seconds: 7200), extra: extra,
                                  environment: env)
            try await later.run(once: true)
            var errors: [String] = []
            w.printed.clear()
            do { try await later.status(json: false) } catch { errors.append("\(error)") }
            let statusText = w.printed.out
            #expect(statusText.contains("ops: FAILING") && statusText.contains("dead: FAILING"), "\(statusText)")
            #expect(errors.count == 1, "a failing target makes status exit 1")
            w.printed.clear()
            do { try await later.status(json: true) } catch { errors.append("\(error)") }
            let statusJSON = w.printed.out
            let report = try #require(try JSONSerialization.jsonObject(with: Data(statusJSON.utf8)) as? [String: Any])
            #expect(report["healthy"] as? Bool == false)
            let targets = report["notify_targets"] as? [[String: Any]] ?? []
            #expect(targets.map { $0["name"] as? String } == ["ops", "dead"] && targets.allSatisfy { $0["failing"] as? Bool == true })

            w.printed.clear()
            try await later.alerts(json: false)
            try await later.alerts(json: true)
            do { try await later.alertsTest(notify: "ops") } catch { errors.append("\(error)") }
            do { try await later.alertsTest(notify: "dead") } catch { errors.append("\(error)") }
            #expect(errors.count == 4)
            #expect(errors.last?.contains("the test message was not delivered: no response") == true, "\(errors)")

            let store = try SQLiteCostStore(readingFrom: w.database)
            let lastErrors = try await store.alerts(limit: 10).flatMap(\.deliveries).compactMap(\.lastError)
            #expect(lastErrors.contains { $0.contains("no response") }, "\(lastErrors)")

            var haystacks = [w.logs.text, w.printed.out, w.printed.err, statusText, statusJSON] + errors + lastErrors
            for suffix in ["", "-wal", "-shm"] {
                if let data = FileManager.default.contents(atPath: w.database + suffix) {
                    haystacks.append(String(decoding: data, as: UTF8.self))
                }
            }
            for needle in [Self.token, Self.deadToken, "T0SECRET/B0SECRET", live, dead] {
                #expect(!haystacks.contains { $0.contains(needle) }, "'\(needle)' leaked")
            }
            #expect(w.logs.contains("alert raised"), "the logs were captured")
        }
    }

    static let base = """
        [[anthropic]]
        name = "acme"
        admin_key_env = "K"

        [[clickhouse]]
        name = "acme-ch"
        organization_id = "3c90c3cc-0d44-4b50-8888-8dd25736052a"
        key_id_env = "K"
        key_secret_env = "K"

        """

    static func parse(_ extra: String, env: [String: String] = [:]) -> Result<CostsyncConfig, ConfigError> {
        Result { () throws(ConfigError) in
            try CostsyncConfig.parse(toml: base + extra, file: "c.toml", environment: ["K": "sk-ant-admin01-x", "HOOK": "https://hooks.example.com/T/B/x"].merging(env) { $1 })
        }
    }

    static func problem(_ extra: String, env: [String: String] = [:]) -> String {
        if case .failure(let e) = parse(extra, env: env) { return e.description }
        return "accepted"
    }

    @Test("a full alerting config is read exactly")
    func validConfig() throws {
        let config = try Self.parse("""
            [[notify]]
            name = "ops"
            webhook_url_env = "HOOK"
            format = "slack"

            [[budget]]
            name = "claude-monthly"
            provider = "anthropic"
            org = "acme"
            workspace_id = "default"
            currency = "USD"
            monthly = "5000.10"
            thresholds = [100, 50, 80]
            forecast = true

            [[budget]]
            name = "ch"
            provider = "clickhouse"
            monthly = "12"

            [alerts]
            anomaly_factor = "2.5"
            anomaly_min = "50.00"
            anomaly_baseline_days = 14
            """).get()
        let a = config.alerting
        #expect(a.targets.map(\.name) == ["ops"] && a.targets.first?.format == .slack)
        #expect(a.targets.first?.url.revealed == "https://hooks.example.com/T/B/x")
        #expect(!"\(a.targets)".contains("hooks.example.com"), "a target prints without its URL")
        let b = try #require(a.budgets.first)
        #expect(b.monthly.nanos == 5_000_100_000_000 && b.thresholds == [50, 80, 100] && b.forecast && b.notify == ["ops"])
        #expect(b.workspaceID == "default" && b.org == "acme" && b.currency == "USD")
        #expect(a.budgets.last?.currency == "CHC" && a.budgets.last?.org == nil && a.budgets.last?.thresholds == [80, 100])
        #expect(a.anomalies?.factor.text == "2.5" && a.anomalies?.minimum.nanos == 50_000_000_000 && a.anomalies?.baselineDays == 14)
    }

    @Test("validation errors name the key and the fix", arguments: [
        ("[[budget]]\nname = \"b\"\nprovider = \"anthropic\"\nmonthly = 5000.0\n", "budget[0].monthly: write the amount as decimal text"),
        ("[[budget]]\nname = \"b\"\nprovider = \"clickhouse\"\ncurrency = \"USD\"\nmonthly = \"1\"\n", "budget[0].currency: 'USD' does not match the provider: clickhouse rows are in CHC"),
        ("[[budget]]\nname = \"b\"\nprovider = \"anthropic\"\nmonthly = \"1\"\nnotify = [\"pager\"]\n", "budget[0].notify: no [[notify]] target is named 'pager'"),
        ("[[budget]]\nname = \"b\"\nprovider = \"anthropic\"\nmonthly = \"1\"\n[[budget]]\nname = \"b\"\nprovider = \"anthropic\"\nmonthly = \"2\"\n",
         "budget[1].name: duplicate name 'b'"),
        ("[[budget]]\nname = \"b\"\nprovider = \"anthropic\"\norg = \"acme-ch\"\nmonthly = \"1\"\n", "budget[0].org: no [[anthropic]] org is named 'acme-ch'"),
        ("[[budget]]\nname = \"b\"\nprovider = \"clickhouse\"\nworkspace_id = \"w\"\nmonthly = \"1\"\n", "budget[0].workspace_id: only an Anthropic budget"),
        ("[[budget]]\nname = \"b\"\nprovider = \"anthropic\"\nmonthly = \"1\"\nthresholds = [80, 80]\n", "budget[0].thresholds: 80 is listed twice"),
        ("[[notify]]\nname = \"ops\"\nwebhook_url = \"https://x\"\n", "notify[0].webhook_url: unknown key; the webhook URL is a secret"),
        ("[[notify]]\nname = \"ops\"\nwebhook_url_env = \"HOOK\"\nformat = \"teams\"\n", "notify[0].format: 'teams' is not a format"),
        ("[alerts]\nanomaly_factor = 1\n", "alerts.anomaly_factor: must be more than 1"),
        ("[alerts]\nanomaly_baseline_days = 3\n", "alerts.anomaly_baseline_days: 3 is out of range"),
    ])
    func invalidConfig(_ extra: String, _ expected: String) {
        let text = Self.problem(extra)
        #expect(text.contains(expected), "\(text)")
    }

    @Test("an unusable webhook URL is refused without being echoed")
    func badURLNotEchoed() {
        for url in ["ftp://hooks.example.com/\(Self.token)", "http://hooks.example.com/\(Self.token)", "https://user:\(Self.token)@x.com/"] {
            let text = Self.problem("[[notify]]\nname = \"ops\"\nwebhook_url_env = \"BAD\"\n", env: ["BAD": url])
            #expect(text.contains("notify[0].webhook_url_env: the webhook URL it holds is not usable"), "\(text)")
            #expect(!text.contains(Self.token))
        }
    }
}
