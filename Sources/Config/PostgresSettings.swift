public import CostModel
import TOMLKit

/// `[postgres]` (issue 13): when present, PostgreSQL is the store and
/// `database` is not used. The password comes from `password_env` or
/// `password_file` (systemd's LoadCredential=), never from the file, a URL or
/// the command line; neither is needed for peer or trust authentication on a
/// unix socket.
public struct PostgresSettings: Sendable, Equatable {
    public enum SSLMode: String, Sendable, Equatable, CaseIterable {
        case disable, require
        case verifyFull = "verify-full"
    }

    /// A host name or address, or (starting with '/') a unix-socket directory.
    public var host: String
    public var port: Int
    public var database: String
    public var user: String
    public var password: Secret?
    public var sslmode: SSLMode
    /// The CA bundle (PEM) that `verify-full` checks the server's certificate against.
    public var caFile: String?
    /// The schema holding costsync's tables; created if missing.
    public var schema: String

    public static let defaultPort = 5432
    public static let defaultSchema = "costsync"

    public init(host: String, port: Int = PostgresSettings.defaultPort, database: String, user: String, password: Secret? = nil,
                sslmode: SSLMode = .disable, caFile: String? = nil, schema: String = PostgresSettings.defaultSchema) {
        self.host = host
        self.port = port
        self.database = database
        self.user = user
        self.password = password
        self.sslmode = sslmode
        self.caFile = caFile
        self.schema = schema
    }
}

extension Builder {
    static let postgresKeys = ["host", "port", "database", "user", "password_env", "password_file", "sslmode", "ca_file", "schema"]

    /// `[postgres]`, or nil when the table is absent.
    func postgres(_ root: TOMLTable) throws(KeyProblem) -> PostgresSettings? {
        guard let value = root["postgres"] else { return nil }
        guard let table = value.table else {
            throw KeyProblem("postgres", "expected a table ([postgres]), found \(TableReader.describe(value.type))")
        }
        let t = TableReader(table: table, path: "postgres")
        try t.rejectUnknownKeys(known: Self.postgresKeys, tableName: "[postgres]") { key in
            switch key {
            case "password": "a password is never written in the config; name an environment variable with password_env, "
                + "or a file with password_file"
            case "url", "dsn", "uri", "connection_string": "give host, port, database and user as keys (a URL would carry the password)"
            default: nil
            }
        }
        let host = try t.requiredString("host", hint: "give the server's host name, e.g. host = \"db.internal\", or a unix-socket "
                                        + "directory such as \"/var/run/postgresql\"")
        guard !host.isEmpty, host.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw KeyProblem(t.keyPath("host"), "must be a host name, an address or a socket directory, without spaces")
        }
        var port = PostgresSettings.defaultPort
        if let n = try t.int("port") {
            guard (1...65535).contains(n) else { throw KeyProblem(t.keyPath("port"), "\(n) is not a TCP port; use 1 to 65535 (default 5432)") }
            port = n
        }
        let database = try t.requiredString("database", hint: "name the database, e.g. database = \"costsync\"")
        guard !database.isEmpty else { throw KeyProblem(t.keyPath("database"), "is empty; name the database, e.g. \"costsync\"") }
        let user = try t.requiredString("user", hint: "name the role costsync logs in as, e.g. user = \"costsync\"")
        guard !user.isEmpty else { throw KeyProblem(t.keyPath("user"), "is empty; name the role, e.g. \"costsync\"") }

        var password: Secret?
        if t.table["password_env"] != nil || t.table["password_file"] != nil {
            password = try secrets.read(t, env: "password_env", file: "password_file", what: "the PostgreSQL password")
        }

        var sslmode = PostgresSettings.SSLMode.disable
        if let text = try t.string("sslmode") {
            guard let mode = PostgresSettings.SSLMode(rawValue: text) else {
                throw KeyProblem(t.keyPath("sslmode"), "'\(Secret.showable(text, limit: 40) ?? "…")' is not a mode; use "
                                 + PostgresSettings.SSLMode.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))
            }
            sslmode = mode
        }
        let caFile = try t.string("ca_file")
        if let caFile, !caFile.hasPrefix("/") {
            throw KeyProblem(t.keyPath("ca_file"), "must be an absolute path to a PEM file, e.g. \"/etc/ssl/certs/db-ca.pem\"")
        }
        if caFile != nil && sslmode != .verifyFull {
            throw KeyProblem(t.keyPath("ca_file"), "is only used with sslmode = \"verify-full\"; set that, or remove ca_file")
        }
        if sslmode != .disable && host.hasPrefix("/") {
            throw KeyProblem(t.keyPath("sslmode"), "a unix socket does not use TLS; use sslmode = \"disable\" with a socket directory")
        }

        var schema = PostgresSettings.defaultSchema
        if let text = try t.string("schema") {
            // An unquoted identifier, so readers can write costsync.costs without quotes.
            let bytes = Array(text.utf8)
            guard (1...63).contains(bytes.count), let first = bytes.first, (first >= 0x61 && first <= 0x7A) || first == 0x5F,
                  bytes.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }) else {
                throw KeyProblem(t.keyPath("schema"), "must be a lower-case identifier (a-z, 0-9, _; at most 63), e.g. \"costsync\"")
            }
            schema = text
        }
        return PostgresSettings(host: host, port: port, database: database, user: user, password: password, sslmode: sslmode,
                                caFile: caFile, schema: schema)
    }
}
