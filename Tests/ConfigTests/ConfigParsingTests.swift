import Config
import CostModel
import Foundation
import Testing

/// The config file of a team with two Anthropic and two ClickHouse orgs.
let fullTOML = """
    database = "/var/lib/costsync/costs.sqlite"

    [sync]
    poll_interval = "15m"
    start_date = "2024-06-01"
    settle_days = 5
    max_concurrent_orgs = 2

    [[anthropic]]
    name = "acme"
    admin_key_env = "ANTHROPIC_ADMIN_KEY_ACME"

    [[anthropic]]
    name = "acme-research"
    admin_key_file = "anthropic-research-key"
    base_url = "http://127.0.0.1:8080/"

    [[clickhouse]]
    name = "acme-ch"
    organization_id = "3c90c3cc-0d44-4b50-8888-8dd25736052a"
    key_id_env = "CLICKHOUSE_KEY_ID"
    key_secret_env = "CLICKHOUSE_KEY_SECRET"

    [[clickhouse]]
    name = "acme-ch-eu"
    organization_id = "9b2f6a40-1111-4c2d-9999-0123456789ab"
    key_id_file = "/etc/costsync/ch-eu-key-id"
    key_secret_file = "ch-eu-key-secret"
    base_url = "https://proxy.internal/clickhouse/"
    """

let configPath = "/etc/costsync/costsync.toml"

/// Distinctive secret values, so a test can look for them in any text.
enum Fixture {
    static let acmeKey = "sk-ant-admin01-SEKRET-acme-0001"
    static let researchKey = "sk-ant-admin01-SEKRET-research-0002"
    static let chKeyID = "SEKRETkeyID0003"
    static let chKeySecret = "4b1dSEKRETsecret0004"
    static let euKeyID = "SEKRETeuKeyID0005"
    static let euKeySecret = "SEKRETeuSecret0006"
    static let all = [acmeKey, researchKey, chKeyID, chKeySecret, euKeyID, euKeySecret]

    static let environment = [
        "ANTHROPIC_ADMIN_KEY_ACME": acmeKey,
        "CLICKHOUSE_KEY_ID": chKeyID,
        "CLICKHOUSE_KEY_SECRET": chKeySecret,
        "CREDENTIALS_DIRECTORY": "/run/credentials/costsync.service",
    ]

    /// Files as a `LoadCredential=` setup leaves them: with the trailing newline of `echo`.
    static let files = [
        "/run/credentials/costsync.service/anthropic-research-key": researchKey + "\n",
        "/etc/costsync/ch-eu-key-id": euKeyID + "\r\n",
        "/run/credentials/costsync.service/ch-eu-key-secret": euKeySecret,
    ]
}

struct NoSuchFile: Error, CustomStringConvertible {
    var description: String { "No such file or directory" }
}

/// A file reader over a dictionary, so tests need no real files.
func reader(_ files: [String: String]) -> CostsyncConfig.FileReader {
    { path in
        guard let text = files[path] else { throw NoSuchFile() }
        return Array(text.utf8)
    }
}

func parse(_ toml: String, environment: [String: String] = Fixture.environment,
           files: [String: String] = Fixture.files) throws(ConfigError) -> CostsyncConfig {
    try CostsyncConfig.parse(toml: toml, file: configPath, environment: environment, fileReader: reader(files))
}

/// The error a config is refused with; records an issue if it is accepted.
func refusal(_ toml: String, environment: [String: String] = Fixture.environment,
             files: [String: String] = Fixture.files, sourceLocation: SourceLocation = #_sourceLocation) -> ConfigError? {
    do {
        let config = try parse(toml, environment: environment, files: files)
        Issue.record("accepted: \(config)", sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}

/// A minimal valid config with one Anthropic org, to which a test adds one mistake.
func oneOrg(_ extra: String = "", sync: String = "") -> String {
    """
    \(sync.isEmpty ? "" : "[sync]\n" + sync + "\n")
    [[anthropic]]
    name = "acme"
    admin_key_env = "ANTHROPIC_ADMIN_KEY_ACME"
    \(extra)
    """
}

@Suite("Reading a valid config")
struct ValidConfigTests {
    @Test("a full config with two orgs of each provider is read in file order, anthropic first")
    func fullConfig() throws {
        let config = try parse(fullTOML)
        #expect(config.file == configPath)
        #expect(config.databasePath == "/var/lib/costsync/costs.sqlite")
        #expect(config.sync == SyncSettings(pollInterval: .seconds(900), startDate: Day("2024-06-01")!, settleDays: 5,
                                            maxConcurrentOrgs: 2))
        #expect(config.orgs.map(\.name) == ["acme", "acme-research", "acme-ch", "acme-ch-eu"])
        #expect(config.orgs.map(\.provider) == [.anthropic, .anthropic, .clickhouse, .clickhouse])
        #expect(config.orgs.map(\.baseURL) == [
            "https://api.anthropic.com", "http://127.0.0.1:8080", "https://api.clickhouse.cloud",
            "https://proxy.internal/clickhouse",
        ])
        #expect(config.orgs[0].credentials == .anthropic(adminKey: Secret(Fixture.acmeKey)))
        #expect(config.orgs[1].credentials == .anthropic(adminKey: Secret(Fixture.researchKey)))
        #expect(config.orgs[2].credentials == .clickhouse(
            organizationID: "3c90c3cc-0d44-4b50-8888-8dd25736052a", keyID: Secret(Fixture.chKeyID),
            keySecret: Secret(Fixture.chKeySecret)))
        #expect(config.orgs[3].credentials == .clickhouse(
            organizationID: "9b2f6a40-1111-4c2d-9999-0123456789ab", keyID: Secret(Fixture.euKeyID),
            keySecret: Secret(Fixture.euKeySecret)))
    }

    @Test("every [sync] key and the database have defaults")
    func defaults() throws {
        let config = try parse(oneOrg())
        #expect(config.databasePath == "/var/lib/costsync/costs.sqlite")
        #expect(config.sync.pollInterval == .seconds(3600))
        #expect(config.sync.startDate == Day("2025-01-01")!)
        #expect(config.sync.settleDays == 3)
        #expect(config.sync.maxConcurrentOrgs == 4)
    }

    @Test("durations combine s, m and h units", arguments: [
        ("30s", 30), ("10s", 10), ("15m", 900), ("1h", 3600), ("1h30m", 5400), ("2h15m30s", 8130), ("90m", 5400),
        ("24h", 86_400),
    ])
    func durations(text: String, seconds: Int64) throws {
        let config = try parse(oneOrg(sync: "poll_interval = \"\(text)\""))
        #expect(config.sync.pollInterval == .seconds(seconds))
    }

    @Test("a start date may be a bare TOML date")
    func bareDate() throws {
        let config = try parse(oneOrg(sync: "start_date = 2024-02-29"))
        #expect(config.sync.startDate == Day("2024-02-29")!)
    }

    @Test("http is accepted for loopback hosts, and trailing slashes are trimmed", arguments: [
        ("http://localhost:9000/", "http://localhost:9000"),
        ("http://127.0.0.1", "http://127.0.0.1"),
        ("http://127.1.2.3:8080/v/", "http://127.1.2.3:8080/v"),
        ("http://[::1]:8443//", "http://[::1]:8443"),
        ("HTTPS://api.example.com/", "https://api.example.com"),
        ("https://[2001:db8::1]/proxy", "https://[2001:db8::1]/proxy"),
    ])
    func loopbackHTTP(url: String, expected: String) throws {
        let config = try parse(oneOrg("base_url = \"\(url)\""))
        #expect(config.orgs[0].baseURL == expected)
    }

    @Test("the default config path is $COSTSYNC_CONFIG, else /etc/costsync/costsync.toml")
    func defaultPath() {
        #expect(CostsyncConfig.defaultPath(environment: [:]) == "/etc/costsync/costsync.toml")
        #expect(CostsyncConfig.defaultPath(environment: ["COSTSYNC_CONFIG": "/srv/c.toml"]) == "/srv/c.toml")
        #expect(CostsyncConfig.defaultPath(environment: ["COSTSYNC_CONFIG": ""]) == "/etc/costsync/costsync.toml")
    }
}

@Suite("Secrets from the environment and from files")
struct SecretSourceTests {
    @Test("secrets are read from real files, a relative one under $CREDENTIALS_DIRECTORY")
    func realFiles() throws {
        let dir = try TemporaryDirectory()
        let credentials = dir.path + "/credentials"
        try FileManager.default.createDirectory(atPath: credentials, withIntermediateDirectories: true)
        try "sk-ant-admin01-from-a-file\n".write(toFile: credentials + "/anthropic-admin-key", atomically: true, encoding: .utf8)
        try "absolute-key-id\n".write(toFile: dir.path + "/key-id", atomically: true, encoding: .utf8)
        try "secret-from-env-dir".write(toFile: credentials + "/key-secret", atomically: true, encoding: .utf8)
        let toml = """
            [[anthropic]]
            name = "acme"
            admin_key_file = "anthropic-admin-key"
            [[clickhouse]]
            name = "acme-ch"
            organization_id = "3c90c3cc-0d44-4b50-8888-8dd25736052a"
            key_id_file = "\(dir.path)/key-id"
            key_secret_file = "key-secret"
            """
        try toml.write(toFile: dir.path + "/costsync.toml", atomically: true, encoding: .utf8)
        let config = try CostsyncConfig.load(path: dir.path + "/costsync.toml",
                                             environment: ["CREDENTIALS_DIRECTORY": credentials])
        #expect(config.orgs[0].credentials == .anthropic(adminKey: Secret("sk-ant-admin01-from-a-file")))
        #expect(config.orgs[1].credentials == .clickhouse(
            organizationID: "3c90c3cc-0d44-4b50-8888-8dd25736052a", keyID: Secret("absolute-key-id"),
            keySecret: Secret("secret-from-env-dir")))
    }

    @Test("a missing config file is refused with its path and what to do")
    func missingFile() throws {
        let dir = try TemporaryDirectory()
        #expect(throws: ConfigError(
            file: dir.path + "/nope.toml", key: "",
            problem: "cannot read the config file: No such file or directory; create it (see "
                + "config/costsync.example.toml) or pass --config PATH")) {
            try CostsyncConfig.load(path: dir.path + "/nope.toml", environment: [:])
        }
    }

    @Test("a relative secret file without $CREDENTIALS_DIRECTORY is refused with its key")
    func relativeWithoutCredentialsDirectory() throws {
        var environment = Fixture.environment
        environment["CREDENTIALS_DIRECTORY"] = nil
        let error = try #require(refusal(fullTOML, environment: environment))
        #expect(error.key == "anthropic[1].admin_key_file")
        #expect(error.problem.contains("CREDENTIALS_DIRECTORY is not set"))
    }

    @Test("a relative secret file may not climb out of $CREDENTIALS_DIRECTORY")
    func dotDot() throws {
        let error = try #require(refusal(oneOrg().replacingOccurrences(
            of: "admin_key_env = \"ANTHROPIC_ADMIN_KEY_ACME\"", with: "admin_key_file = \"../../etc/shadow\"")))
        #expect(error.key == "anthropic[0].admin_key_file")
        #expect(error.problem.contains("'..'"))
    }
}

/// One way to get a config wrong: the config text (or environment), the key the
/// error must name, and a phrase of its problem text.
struct Mistake: CustomTestStringConvertible, Sendable {
    var story: String
    var toml: String
    var environment: [String: String] = Fixture.environment
    var files: [String: String] = Fixture.files
    var key: String
    var says: String

    var testDescription: String { story }
}

let mistakes: [Mistake] = [
    // Syntax
    Mistake(story: "a TOML syntax error names the key, line and column",
            toml: oneOrg(sync: "poll_interval = 1h"), key: "sync.poll_interval", says: "line 2, column"),
    Mistake(story: "a syntax error from an unquoted text value says to quote it",
            toml: oneOrg(sync: "poll_interval = 1h"), key: "sync.poll_interval",
            says: "text values need double quotes"),
    Mistake(story: "a syntax error outside any key names the line",
            toml: "= 3\n" + oneOrg(), key: "line 1", says: "TOML syntax error at line 1, column 1"),
    Mistake(story: "a key ID pasted into *_env is not echoed",
            toml: """
                [[clickhouse]]
                name = "c"
                organization_id = "3c90c3cc-0d44-4b50-8888-8dd25736052a"
                key_id_env = "SEKRETkeyID0003"
                key_secret_env = "CLICKHOUSE_KEY_SECRET"
                """,
            key: "clickhouse[0].key_id_env", says: "the environment variable it names is not set"),
    Mistake(story: "an unquoted secret is a syntax error that does not echo it",
            toml: oneOrg("admin_key = sk-ant-admin01-SEKRET-acme-0001"), key: "anthropic[0].admin_key",
            says: "TOML syntax error at line 5"),
    // Unknown keys
    Mistake(story: "an unknown top-level key is refused by name",
            toml: "databse = \"x\"\n" + oneOrg(), key: "databse", says: "unknown key; did you mean 'database'?"),
    Mistake(story: "a [sync] key at the top level is pointed to [sync]",
            toml: "poll_interval = \"1h\"\n" + oneOrg(), key: "poll_interval", says: "belongs in the [sync] table"),
    Mistake(story: "an unknown key in [sync] is refused by name",
            toml: oneOrg(sync: "settle_day = 3"), key: "sync.settle_day", says: "did you mean 'settle_days'?"),
    Mistake(story: "a secret written in the config is refused and pointed to *_env/*_file",
            toml: oneOrg("admin_key = \"sk-ant-admin01-SEKRET-acme-0001\""), key: "anthropic[0].admin_key",
            says: "a secret is never written in the config; name an environment variable with admin_key_env, or a file with admin_key_file"),
    Mistake(story: "a ClickHouse key secret written in the config is refused",
            toml: """
                [[clickhouse]]
                name = "c"
                organization_id = "3c90c3cc-0d44-4b50-8888-8dd25736052a"
                key_id_env = "CLICKHOUSE_KEY_ID"
                key_secret = "4b1dSEKRETsecret0004"
                """,
            key: "clickhouse[0].key_secret", says: "use key_secret_env or key_secret_file"),
    Mistake(story: "a typo in an org key is refused before the missing key it was meant to be",
            toml: """
                [[anthropic]]
                name = "acme"
                admin_key_evn = "ANTHROPIC_ADMIN_KEY_ACME"
                """,
            key: "anthropic[0].admin_key_evn", says: "did you mean 'admin_key_env'?"),
    // Shapes and types
    Mistake(story: "[anthropic] with single brackets is pointed to [[anthropic]]",
            toml: "[anthropic]\nname = \"acme\"\nadmin_key_env = \"ANTHROPIC_ADMIN_KEY_ACME\"",
            key: "anthropic", says: "write [[anthropic]] with double brackets"),
    Mistake(story: "a value of the wrong type names the key and both types",
            toml: oneOrg(sync: "settle_days = \"3\""), key: "sync.settle_days", says: "expected an integer, found a string"),
    Mistake(story: "a name that is not a string is refused with its key",
            toml: "[[anthropic]]\nname = 7\nadmin_key_env = \"ANTHROPIC_ADMIN_KEY_ACME\"",
            key: "anthropic[0].name", says: "expected a string, found an integer"),
    Mistake(story: "a poll interval without a unit is refused",
            toml: oneOrg(sync: "poll_interval = 3600"), key: "sync.poll_interval", says: "with a unit"),
    Mistake(story: "a database path that is not a string is refused",
            toml: "database = true\n" + oneOrg(), key: "database", says: "expected a string, found a boolean"),
    Mistake(story: "an empty database path is refused",
            toml: "database = \"\"\n" + oneOrg(), key: "database", says: "is empty"),
    // Values
    Mistake(story: "a bad duration is refused with the accepted forms",
            toml: oneOrg(sync: "poll_interval = \"1 hour\""), key: "sync.poll_interval", says: "\"1h30m\""),
    Mistake(story: "units out of order are refused",
            toml: oneOrg(sync: "poll_interval = \"30m1h\""), key: "sync.poll_interval", says: "largest first"),
    Mistake(story: "a poll interval under 10 seconds is refused",
            toml: oneOrg(sync: "poll_interval = \"5s\""), key: "sync.poll_interval", says: "too short; use at least 10s"),
    Mistake(story: "a poll interval over a day is refused",
            toml: oneOrg(sync: "poll_interval = \"25h\""), key: "sync.poll_interval", says: "too long"),
    Mistake(story: "a bad start date is refused",
            toml: oneOrg(sync: "start_date = \"2025-02-30\""), key: "sync.start_date", says: "'2025-02-30' is not a date"),
    Mistake(story: "a start date with a time is refused",
            toml: oneOrg(sync: "start_date = 2025-01-01T00:00:00Z"), key: "sync.start_date", says: "found a date-time"),
    Mistake(story: "settle_days out of range is refused",
            toml: oneOrg(sync: "settle_days = 61"), key: "sync.settle_days", says: "from 1 to 60"),
    Mistake(story: "settle_days of zero is refused: a day is never final by the clock alone the day after it ends",
            toml: oneOrg(sync: "settle_days = 0"), key: "sync.settle_days", says: "from 1 to 60"),
    Mistake(story: "max_concurrent_orgs of zero is refused",
            toml: oneOrg(sync: "max_concurrent_orgs = 0"), key: "sync.max_concurrent_orgs", says: "from 1 to 64"),
    Mistake(story: "a metrics listen address without a port is refused",
            toml: oneOrg() + "\n[metrics]\nlisten = \"127.0.0.1\"\n", key: "metrics.listen", says: "is not host:port"),
    Mistake(story: "a relative textfile path is refused",
            toml: oneOrg() + "\n[metrics]\ntextfile = \"costsync.prom\"\n", key: "metrics.textfile", says: "absolute path"),
    Mistake(story: "max_response_bytes below 1 MiB is refused",
            toml: oneOrg(sync: "max_response_bytes = 1000"), key: "sync.max_response_bytes", says: "from 1048576"),
    // Orgs
    Mistake(story: "a config without orgs is refused", toml: "[sync]\nsettle_days = 2\n", key: "",
            says: "no org is configured"),
    Mistake(story: "a missing name is refused with its key",
            toml: "[[anthropic]]\nadmin_key_env = \"ANTHROPIC_ADMIN_KEY_ACME\"", key: "anthropic[0].name",
            says: "missing; give the org a unique name"),
    Mistake(story: "a name with spaces is refused",
            toml: "[[anthropic]]\nname = \"Acme Corp\"\nadmin_key_env = \"ANTHROPIC_ADMIN_KEY_ACME\"",
            key: "anthropic[0].name", says: "is not a valid name"),
    Mistake(story: "a duplicate org name is refused with its key",
            toml: oneOrg() + "\n[[anthropic]]\nname = \"acme\"\nadmin_key_env = \"ANTHROPIC_ADMIN_KEY_ACME\"",
            key: "anthropic[1].name", says: "duplicate name 'acme' (names must be unique; anthropic[0] already uses it"),
    Mistake(story: "a name is unique across providers too",
            toml: oneOrg() + """

                [[clickhouse]]
                name = "acme"
                organization_id = "3c90c3cc-0d44-4b50-8888-8dd25736052a"
                key_id_env = "CLICKHOUSE_KEY_ID"
                key_secret_env = "CLICKHOUSE_KEY_SECRET"
                """,
            key: "clickhouse[0].name", says: "duplicate name 'acme'"),
    Mistake(story: "a ClickHouse org without an organization ID is refused",
            toml: """
                [[clickhouse]]
                name = "c"
                key_id_env = "CLICKHOUSE_KEY_ID"
                key_secret_env = "CLICKHOUSE_KEY_SECRET"
                """,
            key: "clickhouse[0].organization_id", says: "missing"),
    // Base URLs
    Mistake(story: "http to a remote host is refused",
            toml: oneOrg("base_url = \"http://api.anthropic.com\""), key: "anthropic[0].base_url",
            says: "http:// is allowed only for localhost, 127.0.0.0/8 and ::1"),
    Mistake(story: "http to a name that merely starts with 127 is refused",
            toml: oneOrg("base_url = \"http://127.0.0.1.example.com\""), key: "anthropic[0].base_url",
            says: "not loopback"),
    Mistake(story: "a base URL of another scheme is refused",
            toml: oneOrg("base_url = \"ftp://example.com\""), key: "anthropic[0].base_url", says: "must start with https://"),
    Mistake(story: "a base URL without a host is refused",
            toml: oneOrg("base_url = \"https:///v1\""), key: "anthropic[0].base_url", says: "no valid host"),
    Mistake(story: "a base URL with a password is refused without echoing it",
            toml: oneOrg("base_url = \"https://user:SEKRETpw@example.com\""), key: "anthropic[0].base_url",
            says: "must not contain a user name or password"),
    Mistake(story: "a base URL with a query is refused",
            toml: oneOrg("base_url = \"https://example.com/?x=1\""), key: "anthropic[0].base_url", says: "query"),
    // Secrets
    Mistake(story: "neither *_env nor *_file is refused",
            toml: "[[anthropic]]\nname = \"acme\"", key: "anthropic[0].admin_key_env",
            says: "missing; name the environment variable"),
    Mistake(story: "both *_env and *_file is refused",
            toml: oneOrg("admin_key_file = \"k\""), key: "anthropic[0].admin_key_env",
            says: "set either admin_key_env or admin_key_file, not both"),
    Mistake(story: "an unset environment variable is named",
            toml: oneOrg(), environment: [:], key: "anthropic[0].admin_key_env",
            says: "environment variable ANTHROPIC_ADMIN_KEY_ACME is not set"),
    Mistake(story: "an empty environment variable is refused",
            toml: oneOrg(), environment: ["ANTHROPIC_ADMIN_KEY_ACME": ""], key: "anthropic[0].admin_key_env",
            says: "is empty"),
    Mistake(story: "a secret that is only a newline is refused as empty",
            toml: oneOrg(), environment: ["ANTHROPIC_ADMIN_KEY_ACME": "\n"], key: "anthropic[0].admin_key_env",
            says: "is empty"),
    Mistake(story: "a secret with a line break inside is refused",
            toml: oneOrg(), environment: ["ANTHROPIC_ADMIN_KEY_ACME": "sk-ant-SEKRET\nX-Evil: 1"],
            key: "anthropic[0].admin_key_env", says: "line breaks"),
    Mistake(story: "a secret pasted into *_env is refused without echoing it",
            toml: "[[anthropic]]\nname = \"acme\"\nadmin_key_env = \"sk-ant-admin01-SEKRET-acme-0001\"",
            key: "anthropic[0].admin_key_env", says: "is not an environment variable name"),
    Mistake(story: "an unreadable secret file names the file and the reason",
            toml: oneOrg().replacingOccurrences(of: "admin_key_env = \"ANTHROPIC_ADMIN_KEY_ACME\"",
                                                with: "admin_key_file = \"missing-key\""),
            key: "anthropic[0].admin_key_file",
            says: "cannot read file '/run/credentials/costsync.service/missing-key': No such file or directory"),
    Mistake(story: "an empty secret file is refused",
            toml: oneOrg().replacingOccurrences(of: "admin_key_env = \"ANTHROPIC_ADMIN_KEY_ACME\"",
                                                with: "admin_key_file = \"/etc/costsync/empty\""),
            files: ["/etc/costsync/empty": "\n"], key: "anthropic[0].admin_key_file",
            says: "file '/etc/costsync/empty' is empty"),
]

@Suite("Refusing a wrong config")
struct RefusalTests {
    @Test("every mistake is refused with the file, the key and what to do", arguments: mistakes)
    func refused(_ mistake: Mistake) throws {
        let error = try #require(refusal(mistake.toml, environment: mistake.environment, files: mistake.files))
        #expect(error.file == configPath)
        #expect(error.key == mistake.key)
        #expect(error.problem.contains(mistake.says), "\(error)")
        let prefix = mistake.key.isEmpty ? "\(configPath): " : "\(configPath): \(mistake.key): "
        #expect(error.description.hasPrefix(prefix))
    }

    @Test("no error text ever contains a secret's value", arguments: mistakes)
    func noSecretInErrors(_ mistake: Mistake) throws {
        let error = try #require(refusal(mistake.toml, environment: mistake.environment, files: mistake.files))
        for text in [error.description, String(reflecting: error), "\(error.problem)"] {
            for secret in Fixture.all + ["SEKRET"] {
                #expect(!text.contains(secret), "\(text)")
            }
        }
    }

    @Test("the duplicate-name message reads as the contract shows it")
    func duplicateMessage() throws {
        let error = try #require(refusal(
            oneOrg() + "\n[[anthropic]]\nname = \"acme\"\nadmin_key_env = \"ANTHROPIC_ADMIN_KEY_ACME\""))
        #expect(error.description == "/etc/costsync/costsync.toml: anthropic[1].name: duplicate name 'acme' "
            + "(names must be unique; anthropic[0] already uses it, and it is the `org` column)")
    }
}

@Suite("Secrets stay secret")
struct RedactionTests {
    @Test("a loaded config prints, debug-prints and dumps without any secret")
    func redaction() throws {
        let config = try parse(fullTOML)
        var dumped = ""
        dump(config, to: &dumped)
        for text in [String(describing: config), String(reflecting: config), dumped,
                     String(describing: config.orgs), "\(config.orgs[2].credentials)"] {
            for secret in Fixture.all {
                #expect(!text.contains(secret), "\(text)")
            }
        }
        #expect(dumped.contains("<redacted>"))
        #expect(dumped.contains("acme-ch-eu"))
    }
}

@Suite("The example config")
struct ExampleConfigTests {
    static let examplePath = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("config/costsync.example.toml").path

    @Test("config/costsync.example.toml parses, given the credentials systemd/costsync.service loads")
    func exampleParses() throws {
        let credentials = "/run/credentials/costsync.service"
        let config = try CostsyncConfig.load(
            path: Self.examplePath, environment: ["CREDENTIALS_DIRECTORY": credentials],
            fileReader: { path in
                if path == Self.examplePath { return try CostsyncConfig.readFile(path) }
                let secrets = [
                    credentials + "/anthropic-admin-key": "sk-ant-admin01-example\n",
                    credentials + "/clickhouse-key-id": "example-id\n",
                    credentials + "/clickhouse-key-secret": "example-secret\n",
                ]
                guard let secret = secrets[path] else { throw NoSuchFile() }
                return Array(secret.utf8)
            })
        #expect(config.orgs.map(\.name) == ["acme", "acme-ch"])
        #expect(config.orgs[0].credentials == .anthropic(adminKey: Secret("sk-ant-admin01-example")))
        #expect(config.sync == SyncSettings())
        #expect(config.databasePath == CostsyncConfig.defaultDatabasePath)
    }

    @Test("every key of the config is shown in the example")
    func exampleShowsEveryKey() throws {
        let text = try String(contentsOfFile: Self.examplePath, encoding: .utf8)
        let keys = ["database", "poll_interval", "start_date", "settle_days", "max_concurrent_orgs", "max_pending_days",
                    "max_response_bytes", "recheck_days", "keep_fetches_days", "listen", "textfile", "credit_price", "name",
                    "admin_key_env", "admin_key_file", "base_url", "organization_id", "key_id_env", "key_id_file",
                    "key_secret_env", "key_secret_file"]
        for key in keys {
            #expect(text.contains("\(key) = "), "\(key) is not in the example")
        }
    }

    @Test("the example's credential names match the unit's LoadCredential= lines")
    func exampleMatchesUnit() throws {
        let unitPath = URL(fileURLWithPath: Self.examplePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("systemd/costsync.service").path
        let unit = try String(contentsOfFile: unitPath, encoding: .utf8)
        for id in ["anthropic-admin-key", "clickhouse-key-id", "clickhouse-key-secret"] {
            #expect(unit.contains("\nLoadCredential=\(id):"), "\(id)")
        }
    }
}

/// A fresh directory under the system's temp dir, removed when the value is released.
final class TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/costsync-test-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw NoSuchFile() }
        path = String(cString: made)
    }

    deinit {
        // Best effort: a leftover temp dir is not worth failing a test over.
        try? FileManager.default.removeItem(atPath: path)
    }
}

@Suite("The [metrics] table")
struct MetricsConfigTests {
    @Test("listen takes host:port, an IPv6 literal in brackets, port 0 for any free port; textfile an absolute .prom path")
    func parses() throws {
        let config = try parse(oneOrg() + "\n[metrics]\nlisten = \"[::1]:0\"\ntextfile = \"/var/lib/prometheus/node-exporter/costsync.prom\"\n")
        #expect(config.metrics.listen == ListenAddress(host: "::1", port: 0))
        #expect(config.metrics.listen?.description == "[::1]:0")
        #expect(config.metrics.textfile == "/var/lib/prometheus/node-exporter/costsync.prom")
        #expect(try parse(oneOrg()).metrics == MetricsSettings())
    }
}
