public import CostModel
import TOMLKit

/// `[[budget]]`, `[[notify]]` and `[alerts]`: what costsync tells operators
/// about, and where it tells them. Empty when the config has none of them.
public struct AlertingConfig: Sendable, Equatable {
    /// Every `[[budget]]`, in file order.
    public var budgets: [BudgetConfig]
    /// Every `[[notify]]` target, in file order.
    public var targets: [NotifyTarget]
    /// `[alerts]`: spend anomalies are looked for only when the table is present.
    public var anomalies: AnomalySettings?

    public init(budgets: [BudgetConfig] = [], targets: [NotifyTarget] = [], anomalies: AnomalySettings? = nil) {
        self.budgets = budgets
        self.targets = targets
        self.anomalies = anomalies
    }

    /// Whether anything is evaluated after a pass.
    public var isEnabled: Bool { !budgets.isEmpty || anomalies != nil }

    public func target(named name: String) -> NotifyTarget? { targets.first { $0.name == name } }
}

/// One `[[budget]]` table: a monthly amount for one provider's orgs (one, or
/// all of them), optionally one Anthropic workspace.
public struct BudgetConfig: Sendable, Equatable {
    /// Unique among budgets; part of every alert id of the budget.
    public var name: String
    public var provider: Provider
    /// One org of `provider`, or nil for every org of it in the config.
    public var org: String?
    /// Anthropic only: the rows' `scope_id` (`default` for the default workspace).
    public var workspaceID: String?
    /// Always the provider's currency (`USD`, `CHC`): checked, never converted.
    public var currency: String
    /// The monthly limit, exact (decimal text in the file, at most 9 decimals).
    public var monthly: Money
    /// Percentages of `monthly`, ascending and distinct; each fires once a month.
    public var thresholds: [Int]
    /// Also alert once a month when the month-end forecast passes `monthly`.
    public var forecast: Bool
    /// The `[[notify]]` targets told, by name (all of them when the key is absent).
    public var notify: [String]

    public init(name: String, provider: Provider, org: String? = nil, workspaceID: String? = nil, monthly: Money,
                thresholds: [Int] = BudgetConfig.defaultThresholds, forecast: Bool = false, notify: [String] = []) {
        self.name = name
        self.provider = provider
        self.org = org
        self.workspaceID = workspaceID
        self.currency = provider.currency
        self.monthly = monthly
        self.thresholds = thresholds
        self.forecast = forecast
        self.notify = notify
    }

    public static let defaultThresholds = [80, 100]
    public static let thresholdRange = 1...1000
}

/// How a target wants its message: costsync's own JSON, or Slack's `{"text": …}`.
public enum NotifyFormat: String, Sendable, Equatable, CaseIterable {
    case json, slack
}

/// One `[[notify]]` table. The URL is a secret (a Slack webhook URL is its own
/// credential): it prints as `<redacted>` and is only revealed to make the request.
public struct NotifyTarget: Sendable, Equatable, CustomStringConvertible, CustomReflectable {
    public var name: String
    public var url: Secret
    public var format: NotifyFormat

    public init(name: String, url: Secret, format: NotifyFormat = .json) {
        self.name = name
        self.url = url
        self.format = format
    }

    public var description: String { "NotifyTarget(\(name), \(format), url: <redacted>)" }
    public var customMirror: Mirror { Mirror(self, children: ["name": name, "format": format, "url": "<redacted>"]) }
}

/// `[alerts]`: when a day's spend is an anomaly.
public struct AnomalySettings: Sendable, Equatable {
    /// `anomaly_factor`: a day above this many times the baseline's median.
    public var factor: Money
    /// `anomaly_min`: and above this amount, in the org's currency, so a quiet
    /// org's few cents are never news.
    public var minimum: Money
    /// `anomaly_baseline_days`: the days before the day judged whose median is the baseline.
    public var baselineDays: Int
    /// `notify`: the targets told of anomalies (all when absent).
    public var notify: [String]

    public init(factor: Money = AnomalySettings.defaultFactor, minimum: Money = AnomalySettings.defaultMinimum,
                baselineDays: Int = AnomalySettings.defaultBaselineDays, notify: [String] = []) {
        self.factor = factor
        self.minimum = minimum
        self.baselineDays = baselineDays
        self.notify = notify
    }

    public static let defaultFactor = try! Money.parse("3")
    public static let defaultMinimum = try! Money.parse("50.00")
    public static let defaultBaselineDays = 28
    public static let baselineDaysRange = 7...365
}

// MARK: - Reading the tables

extension Builder {
    static let budgetKeys = ["name", "provider", "org", "workspace_id", "currency", "monthly", "thresholds", "forecast", "notify"]
    static let notifyKeys = ["name", "webhook_url_env", "webhook_url_file", "format"]
    static let alertsKeys = ["anomaly_factor", "anomaly_min", "anomaly_baseline_days", "notify"]

    /// `[[notify]]`, `[[budget]]` and `[alerts]`, checked against the orgs already read.
    func alerting(_ root: TOMLTable, orgs: [OrgConfig]) throws(KeyProblem) -> AlertingConfig {
        var config = AlertingConfig()
        for t in try arrayTables(root, "notify", what: "target") {
            let target = try notifyTarget(t)
            if let first = config.targets.firstIndex(where: { $0.name == target.name }) {
                throw KeyProblem(t.keyPath("name"), "duplicate name '\(target.name)' (notify[\(first)] already uses it; names must be unique)")
            }
            config.targets.append(target)
        }
        let targetNames = config.targets.map(\.name)
        for t in try arrayTables(root, "budget", what: "budget") {
            let budget = try budget(t, orgs: orgs, targets: targetNames)
            if let first = config.budgets.firstIndex(where: { $0.name == budget.name }) {
                throw KeyProblem(t.keyPath("name"), "duplicate name '\(budget.name)' (budget[\(first)] already uses it; names must be unique)")
            }
            config.budgets.append(budget)
        }
        if let value = root["alerts"] {
            guard let table = value.table else {
                throw KeyProblem("alerts", "expected a table ([alerts]), found \(TableReader.describe(value.type))")
            }
            config.anomalies = try anomalySettings(TableReader(table: table, path: "alerts"), targets: targetNames)
        }
        return config
    }

    private func arrayTables(_ root: TOMLTable, _ key: String, what: String) throws(KeyProblem) -> [TableReader] {
        guard let value = root[key] else { return [] }
        if value.table != nil {
            throw KeyProblem(key, "expected an array of tables: write [[\(key)]] with double brackets, one table per \(what)")
        }
        guard let array = value.array else {
            throw KeyProblem(key, "expected an array of tables ([[\(key)]]), found \(TableReader.describe(value.type))")
        }
        var readers: [TableReader] = []
        for (index, element) in array.enumerated() {
            guard let table = element.table else {
                throw KeyProblem("\(key)[\(index)]", "expected a table, found \(TableReader.describe(element.type)); write one [[\(key)]] table per \(what)")
            }
            readers.append(TableReader(table: table, path: "\(key)[\(index)]"))
        }
        return readers
    }

    // MARK: [[notify]]

    private func notifyTarget(_ t: TableReader) throws(KeyProblem) -> NotifyTarget {
        try t.rejectUnknownKeys(known: Self.notifyKeys, tableName: "a [[notify]] table") { key in
            ["webhook_url", "url", "webhook"].contains(key)
                ? "the webhook URL is a secret and is never written in the config; name an environment variable with "
                    + "webhook_url_env, or a file with webhook_url_file" : nil
        }
        let name = try t.requiredString("name", hint: "give the target a unique name, e.g. name = \"ops\"; budgets name it in notify")
        if let problem = Values.orgName(name) { throw KeyProblem(t.keyPath("name"), problem.text) }
        let url = try secrets.read(t, env: "webhook_url_env", file: "webhook_url_file", what: "the webhook URL")
        // The checks below never echo the URL: it is the credential.
        let key = t.table["webhook_url_env"] != nil ? t.keyPath("webhook_url_env") : t.keyPath("webhook_url_file")
        if let problem = Self.webhookURLProblem(url.revealed) { throw KeyProblem(key, "the webhook URL it holds " + problem) }
        var format = NotifyFormat.json
        if let text = try t.string("format") {
            guard let f = NotifyFormat(rawValue: text) else {
                throw KeyProblem(t.keyPath("format"), "'\(Secret.showable(text, limit: 20) ?? "…")' is not a format; write \"json\" "
                                 + "(costsync's alert object) or \"slack\" (a Slack incoming webhook, {\"text\": …})")
            }
            format = f
        }
        return NotifyTarget(name: name, url: url, format: format)
    }

    /// Why a webhook URL is unusable, in words that never contain it; nil when it is fine.
    /// `https` anywhere, `http` only to loopback (the URL carries the credential).
    static func webhookURLProblem(_ text: String) -> String? {
        let withoutQuery = String(text.prefix { $0 != "?" && $0 != "#" })
        guard let url = try? BaseURL(withoutQuery) else {
            return "is not usable: write https://host/path (http:// only to a loopback address), without a user name or password"
        }
        _ = url
        return nil
    }

    // MARK: [[budget]]

    private func budget(_ t: TableReader, orgs: [OrgConfig], targets: [String]) throws(KeyProblem) -> BudgetConfig {
        try t.rejectUnknownKeys(known: Self.budgetKeys, tableName: "a [[budget]] table")
        let name = try t.requiredString("name", hint: "give the budget a unique name, e.g. name = \"claude-monthly\"")
        if let problem = Values.orgName(name) { throw KeyProblem(t.keyPath("name"), problem.text) }

        let providerText = try t.requiredString("provider", hint: "write provider = \"anthropic\" or provider = \"clickhouse\"")
        guard let provider = Provider(rawValue: providerText) else {
            throw KeyProblem(t.keyPath("provider"), "'\(Secret.showable(providerText, limit: 40) ?? "…")' is not a provider; "
                             + "write \"anthropic\" or \"clickhouse\"")
        }
        let org = try t.string("org")
        if let org, !orgs.contains(where: { $0.name == org && $0.provider == provider }) {
            let known = orgs.filter { $0.provider == provider }.map(\.name)
            throw KeyProblem(t.keyPath("org"), "no [[\(provider)]] org is named '\(Secret.showable(org, limit: 64) ?? "…")'; "
                             + (known.isEmpty ? "the config has none" : "known: " + known.joined(separator: ", "))
                             + " (leave org out to cover every \(provider) org)")
        }
        let workspace = try t.string("workspace_id")
        if let workspace {
            guard provider == .anthropic else {
                throw KeyProblem(t.keyPath("workspace_id"), "only an Anthropic budget can be limited to a workspace")
            }
            guard !workspace.isEmpty, workspace.utf8.count <= 128,
                  workspace.utf8.allSatisfy({ ASCII.isAlnum($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }) else {
                throw KeyProblem(t.keyPath("workspace_id"), "is not a workspace id; write e.g. \"wrkspc_01AbC…\", or \"default\" for the default workspace")
            }
        }
        if let currency = try t.string("currency"), currency != provider.currency {
            throw KeyProblem(t.keyPath("currency"), "'\(Secret.showable(currency, limit: 10) ?? "…")' does not match the provider: "
                             + "\(provider) rows are in \(provider.currency) (costsync never converts); write currency = \"\(provider.currency)\" or leave it out")
        }
        let monthly = try exactAmount(t, "monthly", example: "\"5000.00\"", required: true)!
        guard monthly > .zero else { throw KeyProblem(t.keyPath("monthly"), "must be more than zero") }

        var thresholds = BudgetConfig.defaultThresholds
        if let value = t.table["thresholds"] {
            guard let array = value.array else {
                throw t.typeMismatch("thresholds", expected: "an array of whole percentages such as [50, 80, 100]", found: value)
            }
            thresholds = []
            for element in array {
                guard let n = element.int else {
                    throw KeyProblem(t.keyPath("thresholds"), "expected whole percentages such as [50, 80, 100], found \(TableReader.describe(element.type))")
                }
                guard BudgetConfig.thresholdRange.contains(n) else {
                    throw KeyProblem(t.keyPath("thresholds"), "\(n) is out of range; use percentages from 1 to 1000")
                }
                guard !thresholds.contains(n) else { throw KeyProblem(t.keyPath("thresholds"), "\(n) is listed twice") }
                thresholds.append(n)
            }
            thresholds.sort()
        }
        var forecast = false
        if let value = t.table["forecast"] {
            guard let flag = value.bool else { throw t.typeMismatch("forecast", expected: "true or false", found: value) }
            forecast = flag
        }
        guard !thresholds.isEmpty || forecast else {
            throw KeyProblem(t.keyPath("thresholds"), "is empty and forecast is off, so the budget could never alert; list a percentage or set forecast = true")
        }
        let notify = try targetNames(t, "notify", targets: targets)
        return BudgetConfig(name: name, provider: provider, org: org, workspaceID: workspace, monthly: monthly,
                            thresholds: thresholds, forecast: forecast, notify: notify)
    }

    /// A `notify = ["ops", …]` list: every name must be a `[[notify]]` target; absent means all of them.
    private func targetNames(_ t: TableReader, _ key: String, targets: [String]) throws(KeyProblem) -> [String] {
        guard let value = t.table[key] else { return targets }
        guard let array = value.array else { throw t.typeMismatch(key, expected: "an array of [[notify]] names such as [\"ops\"]", found: value) }
        var names: [String] = []
        for element in array {
            guard let name = element.string else {
                throw KeyProblem(t.keyPath(key), "expected names of [[notify]] targets, found \(TableReader.describe(element.type))")
            }
            guard targets.contains(name) else {
                throw KeyProblem(t.keyPath(key), "no [[notify]] target is named '\(Secret.showable(name, limit: 64) ?? "…")'; "
                                 + (targets.isEmpty ? "the config has none: add a [[notify]] table" : "known: " + targets.joined(separator: ", ")))
            }
            if !names.contains(name) { names.append(name) }
        }
        return names
    }

    /// Exact decimal text (a TOML float is binary, so it is refused), at most 9 decimals, not negative.
    private func exactAmount(_ t: TableReader, _ key: String, example: String, required: Bool) throws(KeyProblem) -> Money? {
        guard let value = t.table[key] else {
            if required { throw KeyProblem(t.keyPath(key), "missing; write the amount as decimal text, e.g. \(key) = \(example)") }
            return nil
        }
        guard let text = value.string else {
            throw KeyProblem(t.keyPath(key), "write the amount as decimal text in quotes, e.g. \(key) = \(example) (a TOML number may not be exact)")
        }
        guard let amount = try? Money.parse(text), !(amount < .zero) else {
            throw KeyProblem(t.keyPath(key), "'\(Secret.showable(text, limit: 40) ?? "…")' is not a decimal amount; write e.g. \(example)")
        }
        guard amount.scale <= 9 else {
            throw KeyProblem(t.keyPath(key), "'\(text)' has more than 9 decimals; costsync counts to the nano")
        }
        return amount
    }

    // MARK: [alerts]

    private func anomalySettings(_ t: TableReader, targets: [String]) throws(KeyProblem) -> AnomalySettings {
        try t.rejectUnknownKeys(known: Self.alertsKeys, tableName: "[alerts]")
        var settings = AnomalySettings(notify: targets)
        if let value = t.table["anomaly_factor"] {
            // A whole number (3) or decimal text ("2.5"); never a binary float.
            let factor: Money?
            if let n = value.int {
                factor = try? Money(significand: Int128(n), scale: 0)
            } else if let text = value.string {
                factor = try? Money.parse(text)
            } else {
                throw t.typeMismatch("anomaly_factor", expected: "a whole number such as 3, or decimal text such as \"2.5\"", found: value)
            }
            guard let factor, factor.scale <= 9, try! Money.parse("1") < factor, factor < (try! Money.parse("1000")) else {
                throw KeyProblem(t.keyPath("anomaly_factor"), "must be more than 1 and less than 1000, e.g. 3 (a day above three times the usual)")
            }
            settings.factor = factor
        }
        if let minimum = try exactAmount(t, "anomaly_min", example: "\"50.00\"", required: false) { settings.minimum = minimum }
        if let n = try t.int("anomaly_baseline_days") {
            guard AnomalySettings.baselineDaysRange.contains(n) else {
                throw KeyProblem(t.keyPath("anomaly_baseline_days"), "\(n) is out of range; use a whole number from "
                                 + "\(AnomalySettings.baselineDaysRange.lowerBound) to \(AnomalySettings.baselineDaysRange.upperBound) (default \(AnomalySettings.defaultBaselineDays))")
            }
            settings.baselineDays = n
        }
        settings.notify = try targetNames(t, "notify", targets: targets)
        return settings
    }
}
