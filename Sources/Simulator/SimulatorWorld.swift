import CostModel

/// An Anthropic org of the simulated world.
public struct SimAnthropicOrg: Sendable, Hashable {
    /// The org's label, as in a costsync config's `name`.
    public var name: String
    /// The fake admin key the simulator accepts for this org.
    public var adminKey: String
    /// Results on an ordinary day; some days have fewer, a few none.
    public var linesPerDay: Int
    /// Named workspaces besides the default one. The simulator adds more when
    /// `linesPerDay` needs them, because the lines of a day must stay distinct.
    public var workspaces: Int

    public init(name: String, adminKey: String? = nil, linesPerDay: Int = 60, workspaces: Int = 6) {
        self.name = name
        self.adminKey = adminKey ?? "sk-ant-admin01-sim-\(name)-" + SimIdentifiers.alphanumeric(SimHash(0).with("anthropic-key").with(name), count: 24)
        self.linesPerDay = max(0, linesPerDay)
        self.workspaces = max(0, workspaces)
    }
}

/// A ClickHouse Cloud org of the simulated world.
public struct SimClickHouseOrg: Sendable, Hashable {
    public var name: String
    public var organizationID: String
    public var keyID: String
    public var keySecret: String
    public var services: Int

    public init(name: String, organizationID: String? = nil, keyID: String? = nil, keySecret: String? = nil, services: Int = 3) {
        let h = SimHash(0).with("clickhouse-org").with(name)
        self.name = name
        self.organizationID = organizationID ?? SimIdentifiers.uuid(h.with("organization"))
        self.keyID = keyID ?? SimIdentifiers.alphanumeric(h.with("key-id"), count: 20)
        self.keySecret = keySecret ?? "4b1d" + SimIdentifiers.alphanumeric(h.with("key-secret"), count: 38)
        self.services = max(0, services)
    }
}

/// Everything the simulator serves, as a plain value: the same world gives the
/// same bytes, so tests can compute what costsync should have stored.
public struct SimulatorWorld: Sendable, Hashable {
    public var seed: UInt64
    /// The simulated "now"; nothing after it exists, and it is a partial day.
    public var today: Day
    public var anthropicOrgs: [SimAnthropicOrg]
    public var clickhouseOrgs: [SimClickHouseOrg]
    /// Days with `today - day < unlockedDays` are recent: ClickHouse reports them
    /// `locked: false`, and a change of `revision` restates them (both providers).
    public var unlockedDays: Int
    /// The restatement counter: changing it changes the recent days' amounts and
    /// some of their lines, never an older day.
    public var revision: Int
    /// The revision each day was last served at while it was recent, so a day
    /// that ages out keeps the data it had when it locked instead of falling back
    /// to revision 0. Kept up by `ageingFrom(_:)`, which `ProviderSimulator.update` calls.
    var frozenRevisions: [Int: Int] = [:]
    /// Workspace names changed since the world began, by id (`default` for the default workspace).
    public var renamedWorkspaces: [String: String] = [:]
    /// Spend spikes (issue 14's anomaly tests): org name → day → a factor every
    /// amount of that org's day is multiplied by (both providers).
    public var spikes: [String: [Day: Int]] = [:]

    /// The spike factor of an org's day, 1 when none is planned.
    func spike(_ org: String, _ day: Day) -> Int64 { Int64(max(1, spikes[org]?[day] ?? 1)) }

    public init(seed: UInt64, today: Day, anthropicOrgs: [SimAnthropicOrg] = [], clickhouseOrgs: [SimClickHouseOrg] = [],
                unlockedDays: Int = 3, revision: Int = 0) {
        self.seed = seed
        self.today = today
        self.anthropicOrgs = anthropicOrgs
        self.clickhouseOrgs = clickhouseOrgs
        self.unlockedDays = unlockedDays
        self.revision = revision
    }

    /// Two orgs of each provider, for `costsync demo` and the `costsync-sim` default.
    public static func demo(today: Day, seed: UInt64 = 2025, linesPerDay: Int = 60) -> SimulatorWorld {
        SimulatorWorld(
            seed: seed,
            today: today,
            anthropicOrgs: [
                SimAnthropicOrg(name: "acme-ai", linesPerDay: linesPerDay, workspaces: 6),
                SimAnthropicOrg(name: "globex-ai", linesPerDay: max(1, linesPerDay / 3), workspaces: 2),
            ],
            clickhouseOrgs: [
                SimClickHouseOrg(name: "acme-analytics", services: 4),
                SimClickHouseOrg(name: "globex-warehouse", services: 2),
            ]
        )
    }

    public func anthropicOrg(named name: String) -> SimAnthropicOrg? { anthropicOrgs.first { $0.name == name } }
    public func clickhouseOrg(named name: String) -> SimClickHouseOrg? { clickhouseOrgs.first { $0.name == name } }

    /// Whether `day` is still subject to restatement (ClickHouse: `locked: false`).
    public func isUnlocked(_ day: Day) -> Bool {
        day <= today && day.distance(to: today) < unlockedDays
    }

    /// The revision whose data `day` shows.
    func effectiveRevision(of day: Day) -> Int {
        isUnlocked(day) ? revision : frozenRevisions[day.daysSinceEpoch] ?? 0
    }

    /// Freezes the days that `previous` showed as recent and this world no
    /// longer does, at the revision they were last served with.
    mutating func ageingFrom(_ previous: SimulatorWorld) {
        guard previous.unlockedDays > 0 else { return }
        var day = previous.today.advanced(by: -(previous.unlockedDays - 1))
        while day <= previous.today {
            if !isUnlocked(day) {
                frozenRevisions[day.daysSinceEpoch] = previous.effectiveRevision(of: day)
            }
            day = day.advanced(by: 1)
        }
    }

    /// The base hash of everything in this world.
    var root: SimHash { SimHash(seed) }
}
