import CostModel
import TOMLKit

/// Turns the parsed TOML tree into a checked `CostsyncConfig`, table by table. In each
/// table unknown keys are refused first, so that a typo (`admin_key_evn`) is reported
/// as such rather than as the missing key it was meant to be.
struct Builder {
    let secrets: SecretReader
    /// Org names seen so far, with the table that used each first.
    private var names: [String: String] = [:]

    init(secrets: SecretReader) { self.secrets = secrets }

    static let topLevelKeys = ["database", "sync", "history", "metrics", "anthropic", "clickhouse", "budget", "notify", "alerts", "http", "postgres"]
    static let historyKeys = ["keep_fetches_days"]
    static let metricsKeys = ["listen", "textfile"]
    static let syncKeys = ["poll_interval", "start_date", "settle_days", "max_concurrent_orgs", "max_pending_days",
                           "max_response_bytes", "recheck_days"]
    static let anthropicKeys = ["name", "admin_key_env", "admin_key_file", "base_url", "enabled", "start_date"]
    static let clickhouseKeys = [
        "name", "organization_id", "key_id_env", "key_id_file", "key_secret_env", "key_secret_file", "base_url", "credit_price",
        "enabled", "start_date",
    ]

    mutating func build(_ root: TOMLTable, file: String) throws(KeyProblem) -> CostsyncConfig {
        let top = TableReader(table: root, path: "")
        try top.rejectUnknownKeys(known: Self.topLevelKeys, tableName: "the top level") { key in
            if Self.syncKeys.contains(key) { return "'\(key)' belongs in the [sync] table" }
            if Self.anthropicKeys.contains(key) || Self.clickhouseKeys.contains(key) {
                return "'\(key)' belongs in an [[anthropic]] or [[clickhouse]] table"
            }
            return nil
        }

        var databasePath = CostsyncConfig.defaultDatabasePath
        if let path = try top.string("database") {
            guard !path.isEmpty else {
                throw KeyProblem("database", "is empty; give the path of the SQLite database, e.g. \"\(databasePath)\"")
            }
            databasePath = path
        }

        var sync = SyncSettings()
        if let value = root["sync"] {
            guard let table = value.table else {
                throw KeyProblem("sync", "expected a table ([sync]), found \(TableReader.describe(value.type))")
            }
            sync = try syncSettings(TableReader(table: table, path: "sync"))
        }

        if let value = root["history"] {
            guard let table = value.table else {
                throw KeyProblem("history", "expected a table ([history]), found \(TableReader.describe(value.type))")
            }
            let t = TableReader(table: table, path: "history")
            try t.rejectUnknownKeys(known: Self.historyKeys, tableName: "[history]")
            if let n = try wholeNumber(t, "keep_fetches_days", in: SyncSettings.keepFetchesDaysRange,
                                       default: SyncSettings.defaultKeepFetchesDays) {
                sync.keepFetchesDays = n
            }
        }

        var metrics = MetricsSettings()
        if let value = root["metrics"] {
            guard let table = value.table else {
                throw KeyProblem("metrics", "expected a table ([metrics]), found \(TableReader.describe(value.type))")
            }
            metrics = try metricsSettings(TableReader(table: table, path: "metrics"))
        }

        var orgs: [OrgConfig] = []
        for provider in [Provider.anthropic, .clickhouse] {
            for reader in try orgTables(root, provider.rawValue) {
                orgs.append(try org(reader, provider))
            }
        }
        guard !orgs.isEmpty else {
            throw KeyProblem("", "no org is configured; add at least one [[anthropic]] or [[clickhouse]] table")
        }
        // Issue 14: [[budget]], [[notify]], [alerts] (see AlertSettings.swift).
        var config = CostsyncConfig(file: file, databasePath: databasePath, sync: sync, metrics: metrics, orgs: orgs)
        config.alerting = try alerting(root, orgs: orgs)
        config.postgres = try postgres(root)  // issue 13: [postgres], see PostgresSettings.swift
        config.http = try httpSettings(root, environment: secrets.environment)  // [http] and the proxy variables
        return config
    }

    // MARK: [metrics]

    private func metricsSettings(_ t: TableReader) throws(KeyProblem) -> MetricsSettings {
        try t.rejectUnknownKeys(known: Self.metricsKeys, tableName: "[metrics]")
        var metrics = MetricsSettings()
        if let text = try t.string("listen") {
            guard let address = Values.listenAddress(text) else {
                throw KeyProblem(t.keyPath("listen"), "'\(Secret.showable(text, limit: 80) ?? "…")' is not host:port; write e.g. "
                                 + "\"127.0.0.1:9464\" (loopback, the default choice), \"[::1]:9464\" or \"0.0.0.0:9464\"")
            }
            metrics.listen = address
        }
        if let path = try t.string("textfile") {
            guard path.hasPrefix("/"), path.hasSuffix(".prom") else {
                throw KeyProblem(t.keyPath("textfile"), "must be an absolute path ending in .prom (node_exporter reads only those), "
                                 + "e.g. \"/var/lib/prometheus/node-exporter/costsync.prom\"")
            }
            metrics.textfile = path
        }
        return metrics
    }

    // MARK: [sync]

    private func syncSettings(_ t: TableReader) throws(KeyProblem) -> SyncSettings {
        try t.rejectUnknownKeys(known: Self.syncKeys, tableName: "[sync]")
        var sync = SyncSettings()

        if let value = t.table["poll_interval"] {
            guard let text = value.string else {
                if value.int != nil {
                    throw KeyProblem(t.keyPath("poll_interval"), "write it as a string with a unit, e.g. \"3600s\" or \"1h\"")
                }
                throw t.typeMismatch("poll_interval", expected: "a string such as \"1h\"", found: value)
            }
            let interval: Duration
            switch Values.duration(text) {
            case .success(let d): interval = d
            case .failure(let p): throw KeyProblem(t.keyPath("poll_interval"), p.text)
            }
            guard interval >= SyncSettings.minimumPollInterval else {
                throw KeyProblem(
                    t.keyPath("poll_interval"),
                    "'\(text)' is too short; use at least \(Values.render(SyncSettings.minimumPollInterval)) "
                        + "(the providers update costs a few times an hour; \"15m\" or more is plenty)")
            }
            guard interval <= SyncSettings.maximumPollInterval else {
                throw KeyProblem(
                    t.keyPath("poll_interval"),
                    "'\(text)' is too long; use at most 24h, or run `costsync run --once` from a timer")
            }
            sync.pollInterval = interval
        }

        if let day = try t.day("start_date") { sync.startDate = day }

        if let n = try wholeNumber(t, "settle_days", in: SyncSettings.settleDaysRange, default: SyncSettings.defaultSettleDays) {
            sync.settleDays = n
        }
        if let n = try wholeNumber(t, "max_concurrent_orgs", in: SyncSettings.maxConcurrentOrgsRange,
                                   default: SyncSettings.defaultMaxConcurrentOrgs) {
            sync.maxConcurrentOrgs = n
        }
        if let n = try wholeNumber(t, "max_pending_days", in: SyncSettings.maxPendingDaysRange,
                                   default: SyncSettings.defaultMaxPendingDays) {
            sync.maxPendingDays = n
        }
        if let n = try wholeNumber(t, "max_response_bytes", in: SyncSettings.maxResponseBytesRange,
                                   default: SyncSettings.defaultMaxResponseBytes) {
            sync.maxResponseBytes = n
        }
        if let n = try wholeNumber(t, "recheck_days", in: SyncSettings.recheckDaysRange, default: SyncSettings.defaultRecheckDays) {
            sync.recheckDays = n
        }
        return sync
    }

    /// An integer key of `[sync]` within its range, or nil when absent.
    private func wholeNumber(_ t: TableReader, _ key: String, in range: ClosedRange<Int>, default value: Int) throws(KeyProblem) -> Int? {
        guard let n = try t.int(key) else { return nil }
        guard range.contains(n) else {
            throw KeyProblem(t.keyPath(key), "\(n) is out of range; use a whole number from \(range.lowerBound) to \(range.upperBound) (default \(value))")
        }
        return n
    }

    // MARK: Orgs

    /// The `[[anthropic]]` (or `[[clickhouse]]`) tables, in file order.
    private func orgTables(_ root: TOMLTable, _ key: String) throws(KeyProblem) -> [TableReader] {
        guard let value = root[key] else { return [] }
        if value.table != nil {
            throw KeyProblem(key, "expected an array of tables: write [[\(key)]] with double brackets, one table per org")
        }
        guard let array = value.array else {
            throw KeyProblem(key, "expected an array of tables ([[\(key)]]), found \(TableReader.describe(value.type))")
        }
        var readers: [TableReader] = []
        for (index, element) in array.enumerated() {
            guard let table = element.table else {
                throw KeyProblem(
                    "\(key)[\(index)]",
                    "expected a table, found \(TableReader.describe(element.type)); write one [[\(key)]] table per org")
            }
            readers.append(TableReader(table: table, path: "\(key)[\(index)]"))
        }
        return readers
    }

    private mutating func org(_ t: TableReader, _ provider: Provider) throws(KeyProblem) -> OrgConfig {
        let never = "a secret is never written in the config"
        switch provider {
        case .anthropic:
            try t.rejectUnknownKeys(known: Self.anthropicKeys, tableName: "an [[anthropic]] table") { key in
                ["admin_key", "api_key", "key", "secret"].contains(key)
                    ? "\(never); name an environment variable with admin_key_env, or a file with admin_key_file" : nil
            }
        case .clickhouse:
            try t.rejectUnknownKeys(known: Self.clickhouseKeys, tableName: "a [[clickhouse]] table") { key in
                switch key {
                case "key_id": "\(never); use key_id_env or key_id_file"
                case "key_secret", "secret", "api_key", "key": "\(never); use key_secret_env or key_secret_file"
                default: nil
                }
            }
        }

        let name = try t.requiredString("name", hint: "give the org a unique name, e.g. name = \"acme\"; it is the `org` column")
        if let problem = Values.orgName(name) { throw KeyProblem(t.keyPath("name"), problem.text) }
        if let first = names[name] {
            throw KeyProblem(
                t.keyPath("name"),
                "duplicate name '\(name)' (names must be unique; \(first) already uses it, and it is the `org` column)")
        }
        names[name] = t.path

        let defaultURL = provider == .anthropic ? OrgConfig.defaultAnthropicBaseURL : OrgConfig.defaultClickHouseBaseURL
        var baseURL = defaultURL
        if let text = try t.string("base_url") {
            switch Values.baseURL(text) {
            case .success(let url): baseURL = url
            case .failure(let p): throw KeyProblem(t.keyPath("base_url"), p.text)
            }
        }

        let credentials: OrgCredentials
        switch provider {
        case .anthropic:
            let key = try secrets.read(t, env: "admin_key_env", file: "admin_key_file", what: "the Anthropic Admin API key")
            credentials = .anthropic(adminKey: key)
        case .clickhouse:
            let orgID = try t.requiredString(
                "organization_id", hint: "copy the organization ID (a UUID) from the ClickHouse Cloud console")
            if let problem = Values.organizationID(orgID) { throw KeyProblem(t.keyPath("organization_id"), problem.text) }
            let keyID = try secrets.read(t, env: "key_id_env", file: "key_id_file", what: "the ClickHouse API key ID")
            let keySecret = try secrets.read(
                t, env: "key_secret_env", file: "key_secret_file", what: "the ClickHouse API key secret")
            credentials = .clickhouse(organizationID: orgID, keyID: keyID, keySecret: keySecret)
        }
        var creditPrice: Money?
        if provider == .clickhouse, let value = t.table["credit_price"] {
            // Decimal text, so the price is exact: a TOML float is binary.
            guard let text = value.string else {
                throw KeyProblem(t.keyPath("credit_price"), "write the USD price of one credit as decimal text, e.g. credit_price = \"0.2245\"")
            }
            guard let price = try? Money.parse(text), price > .zero else {
                throw KeyProblem(t.keyPath("credit_price"), "'\(Secret.showable(text, limit: 40) ?? "…")' is not a positive decimal number; e.g. \"0.2245\"")
            }
            // Billed USD is kept to the nano (as `amount_nanos` is): a finer price would be rounded silently.
            guard price.scale <= 9 else {
                throw KeyProblem(t.keyPath("credit_price"), "'\(text)' has more than 9 decimals; costsync bills to the nano-dollar")
            }
            creditPrice = price
        }
        var config = OrgConfig(name: name, provider: provider, baseURL: baseURL, credentials: credentials, creditPrice: creditPrice)
        config.enabled = try t.bool("enabled") ?? true
        config.startDate = try t.day("start_date")
        return config
    }
}
