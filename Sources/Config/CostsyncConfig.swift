public import CostModel

/// A checked costsync configuration: every value here has passed validation, every
/// secret has been read, and defaults have been filled in.
///
/// Build it with `CostsyncConfig.load(path:environment:)`; the memberwise
/// initializer exists for tests and for `costsync demo`, which configures itself.
public struct CostsyncConfig: Sendable, Equatable {
    /// The file this was read from, for messages ("…/costsync.toml: …").
    public var file: String
    /// The SQLite database, `database` in the file. A relative path is relative to the
    /// process's working directory (which is `/` under systemd), so use an absolute one.
    public var databasePath: String
    /// The `[sync]` table.
    public var sync: SyncSettings
    /// `[metrics]`: where metrics are read; nothing when absent.
    public var metrics: MetricsSettings
    /// Every org, in file order: all `[[anthropic]]` tables, then all `[[clickhouse]]`.
    public var orgs: [OrgConfig]
    /// `[[budget]]`, `[[notify]]` and `[alerts]` (see `AlertSettings.swift`); empty when absent.
    public var alerting = AlertingConfig()
    /// `[postgres]` (see `PostgresSettings.swift`): when set, PostgreSQL is the store and `databasePath` is unused.
    public var postgres: PostgresSettings?
    /// `[http] ca_file` and the proxy from the environment (see `HTTPSettings.swift`).
    public var http = HTTPSettings()

    /// Where the database goes when `database` is not set: systemd's
    /// `StateDirectory=costsync` (see `systemd/costsync.service`).
    public static let defaultDatabasePath = "/var/lib/costsync/costs.sqlite"

    public init(file: String, databasePath: String = CostsyncConfig.defaultDatabasePath,
                sync: SyncSettings = SyncSettings(), metrics: MetricsSettings = MetricsSettings(), orgs: [OrgConfig]) {
        self.file = file
        self.databasePath = databasePath
        self.sync = sync
        self.metrics = metrics
        self.orgs = orgs
    }

    /// The orgs `run` and `backfill` sync: every org not `enabled = false`.
    public var syncedOrgs: [OrgConfig] { orgs.filter(\.enabled) }

    /// Where an org's history starts: its own `start_date`, else `[sync]`'s.
    public func startDate(of org: OrgConfig) -> Day { org.startDate ?? sync.startDate }
}

/// The `[metrics]` table.
public struct MetricsSettings: Sendable, Equatable {
    /// `listen = "127.0.0.1:9464"`: serve `/metrics` and `/healthz` there
    /// (port 0: any free port, logged). Absent: no listener.
    public var listen: ListenAddress?
    /// `textfile = "/var/lib/prometheus/node-exporter/costsync.prom"`: written
    /// after every pass, atomically, for node_exporter's textfile collector.
    public var textfile: String?

    public init(listen: ListenAddress? = nil, textfile: String? = nil) {
        self.listen = listen
        self.textfile = textfile
    }

    public var isEnabled: Bool { listen != nil || textfile != nil }
}

/// A host and a port to listen on.
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    /// An IP address or a host name, without brackets.
    public var host: String
    public var port: Int
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// The `[sync]` table: how often and from when the daemon syncs.
public struct SyncSettings: Sendable, Equatable {
    /// `poll_interval`: the pause between the end of one pass and the start of the next.
    public var pollInterval: Duration
    /// `start_date`: the first day fetched for an org that has no cursor yet. Once an org
    /// has a cursor, changing this has no effect on it (use `costsync backfill`).
    public var startDate: Day
    /// `settle_days`: an Anthropic day (and a ClickHouse day without records) is final
    /// this many days after it ends.
    public var settleDays: Int
    /// `max_concurrent_orgs`: how many orgs one pass syncs at the same time.
    public var maxConcurrentOrgs: Int

    /// One hour: the providers' cost data moves slowly, and a poll costs API quota.
    public static let defaultPollInterval: Duration = .seconds(3600)
    /// Shorter polls only burn rate limit: the providers update costs at most a few
    /// times an hour.
    public static let minimumPollInterval: Duration = .seconds(10)
    /// Longer than a day and "today" would stay stale for most of it; use
    /// `costsync run --once` from a timer for a sparser schedule.
    public static let maximumPollInterval: Duration = .seconds(86_400)
    /// The example date of the product page, kept as the default so that a first run
    /// fetches a bounded, predictable history.
    public static let defaultStartDate = Day(year: 2025, month: 1, day: 1)!
    /// Anthropic restates a day's costs for a few days after it ends.
    public static let defaultSettleDays = 3
    /// At least one day: a day is never final on the day after it ends by
    /// the clock alone.
    public static let settleDaysRange = 1...60
    /// `max_pending_days`: a stored day not final after this many days is
    /// warned about on every poll and flagged by `status`.
    public var maxPendingDays: Int
    public static let defaultMaxPendingDays = 35
    public static let maxPendingDaysRange = 2...3650
    /// `max_response_bytes`: the largest response body read; a page beyond it
    /// is asked for again in fewer days.
    public var maxResponseBytes: Int
    public static let defaultMaxResponseBytes = 128 << 20
    public static let maxResponseBytesRange = (1 << 20)...(1 << 30)
    public static let maxResponseBytesKey = "[sync] max_response_bytes"
    /// `recheck_days`: once a day, the final days among the last this many
    /// (and, until the 10th, the whole previous month) are fetched again; 0: never.
    public var recheckDays: Int
    public static let defaultRecheckDays = 7
    public static let recheckDaysRange = 0...60
    /// `[history] keep_fetches_days`: `sync_fetches` rows older than this are pruned.
    public var keepFetchesDays: Int
    public static let defaultKeepFetchesDays = 400
    public static let keepFetchesDaysRange = 1...36_500
    /// Enough to overlap network waits; each org has its own API key and rate limits.
    public static let defaultMaxConcurrentOrgs = 4
    public static let maxConcurrentOrgsRange = 1...64

    public init(pollInterval: Duration = SyncSettings.defaultPollInterval,
                startDate: Day = SyncSettings.defaultStartDate,
                settleDays: Int = SyncSettings.defaultSettleDays,
                maxConcurrentOrgs: Int = SyncSettings.defaultMaxConcurrentOrgs,
                maxPendingDays: Int = SyncSettings.defaultMaxPendingDays,
                maxResponseBytes: Int = SyncSettings.defaultMaxResponseBytes,
                recheckDays: Int = SyncSettings.defaultRecheckDays,
                keepFetchesDays: Int = SyncSettings.defaultKeepFetchesDays) {
        self.pollInterval = pollInterval
        self.startDate = startDate
        self.settleDays = settleDays
        self.maxConcurrentOrgs = maxConcurrentOrgs
        self.maxPendingDays = maxPendingDays
        self.maxResponseBytes = maxResponseBytes
        self.recheckDays = recheckDays
        self.keepFetchesDays = keepFetchesDays
    }
}

/// One `[[anthropic]]` or `[[clickhouse]]` table.
public struct OrgConfig: Sendable, Equatable {
    /// The unique label: the `org` column of every row synced for this org.
    public var name: String
    public var provider: Provider
    /// `scheme://host[:port][/path]` without a trailing slash; `http` only on loopback.
    public var baseURL: String
    public var credentials: OrgCredentials
    /// `credit_price` (ClickHouse): USD per credit, your contract's rate, exact;
    /// FOCUS exports bill credits in USD with it.
    public var creditPrice: Money?
    /// `enabled = false`: kept in the config (its rows stay readable) but not synced.
    public var enabled = true
    /// The org's own `start_date`, overriding `[sync]`'s.
    public var startDate: Day?

    public static let defaultAnthropicBaseURL = "https://api.anthropic.com"
    public static let defaultClickHouseBaseURL = "https://api.clickhouse.cloud"

    public init(name: String, provider: Provider, baseURL: String, credentials: OrgCredentials, creditPrice: Money? = nil) {
        self.name = name
        self.provider = provider
        self.baseURL = baseURL
        self.credentials = credentials
        self.creditPrice = creditPrice
    }
}

/// The credentials of one org, already read from the environment or a file.
///
/// `Secret` prints as `<redacted>`, but `dump` and `Mirror` walk stored properties
/// and would reach its value anyway; the custom mirror below stops them here, so
/// `dump(config)` is safe to put in a bug report.
public enum OrgCredentials: Sendable, Equatable, CustomReflectable, CustomStringConvertible,
    CustomDebugStringConvertible
{
    /// Sent as `x-api-key`; an Admin API key (`sk-ant-admin…`).
    case anthropic(adminKey: Secret)
    /// HTTP basic auth with the key ID and key secret; the organization ID is not a
    /// secret (it is part of every URL) but travels with the keys it belongs to.
    case clickhouse(organizationID: String, keyID: Secret, keySecret: Secret)

    public var description: String {
        switch self {
        case .anthropic: "anthropic(adminKey: <redacted>)"
        case .clickhouse(let organizationID, _, _):
            "clickhouse(organizationID: \(organizationID), keyID: <redacted>, keySecret: <redacted>)"
        }
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        switch self {
        case .anthropic:
            Mirror(self, children: ["adminKey": "<redacted>"], displayStyle: .enum)
        case .clickhouse(let organizationID, _, _):
            Mirror(self, children: ["organizationID": organizationID, "keyID": "<redacted>", "keySecret": "<redacted>"],
                   displayStyle: .enum)
        }
    }
}

extension OrgConfig {
    /// The keys of this org's table a user should check when its provider
    /// refuses the credentials: the config layer words what to fix.
    public var credentialKeys: String {
        switch provider {
        case .anthropic: "admin_key_env/admin_key_file (an Admin API key, sk-ant-admin...)"
        case .clickhouse: "key_id_env/key_id_file and key_secret_env/key_secret_file"
        }
    }

    public static let baseURLKey = "base_url"
    public static let organizationIDKey = "organization_id"
}
