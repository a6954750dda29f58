import CostModel
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO

/// Where the store connects, already validated by the config: the host (or a
/// unix-socket directory), the role, its password, TLS, and the schema that
/// holds costsync's tables.
public struct PostgresEndpoint: Sendable {
    public enum TLSMode: String, Sendable, Equatable {
        /// Plain TCP (or a unix socket, which never uses TLS).
        case disable
        /// Encrypted, the server's certificate not checked.
        case require
        /// Encrypted, the certificate checked against `caFile` and the host name.
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var database: String
    public var user: String
    /// nil: no password (peer or trust authentication, as on a unix socket).
    public var password: Secret?
    public var tls: TLSMode
    /// PEM bundle of the CA that signed the server's certificate (verify-full).
    public var caFile: String?
    /// Created if missing; every connection sets `search_path` to it alone.
    public var schema: String
    /// Connections kept open for the engine's concurrent orgs.
    public var maxConnections: Int

    public init(host: String, port: Int = 5432, database: String, user: String, password: Secret? = nil,
                tls: TLSMode = .disable, caFile: String? = nil, schema: String = "costsync", maxConnections: Int = 4) {
        self.host = host
        self.port = port
        self.database = database
        self.user = user
        self.password = password
        self.tls = tls
        self.caFile = caFile
        self.schema = schema
        self.maxConnections = maxConnections
    }

    /// A host that starts with '/' is a directory holding the server's socket,
    /// as libpq reads it: the socket file is `.s.PGSQL.<port>` inside it.
    public var isUnixSocket: Bool { host.hasPrefix("/") }

    /// For messages: where, never with the password.
    public var description: String {
        isUnixSocket ? "postgresql socket \(host) port \(port), database '\(database)', schema '\(schema)'"
            : "postgresql \(host):\(port), database '\(database)', schema '\(schema)'"
    }

    /// The schema as a quoted identifier (the config allows only [a-z0-9_], so
    /// quoting is belt and braces).
    var quotedSchema: String { "\"" + schema.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\"" }

    func configuration() throws(PostgresStoreError) -> PostgresConnection.Configuration {
        if isUnixSocket {
            let path = (host.hasSuffix("/") ? String(host.dropLast()) : host) + "/.s.PGSQL.\(port)"
            var config = PostgresConnection.Configuration(unixSocketPath: path, username: user, password: password?.revealed,
                                                          database: database)
            config.options.connectTimeout = .seconds(10)
            return config
        }
        let tlsConfig: PostgresConnection.Configuration.TLS
        switch tls {
        case .disable:
            tlsConfig = .disable
        case .require:
            var t = TLSConfiguration.makeClientConfiguration()
            // libpq's sslmode=require: encrypted, but any certificate is accepted.
            t.certificateVerification = .none
            tlsConfig = try .require(Self.context(t))
        case .verifyFull:
            var t = TLSConfiguration.makeClientConfiguration()
            t.certificateVerification = .fullVerification
            if let caFile { t.trustRoots = .file(caFile) }
            tlsConfig = try .require(Self.context(t))
        }
        var config = PostgresConnection.Configuration(host: host, port: port, username: user, password: password?.revealed,
                                                      database: database, tls: tlsConfig)
        config.options.connectTimeout = .seconds(10)
        if tls == .verifyFull { config.options.tlsServerName = host }
        return config
    }

    private static func context(_ t: TLSConfiguration) throws(PostgresStoreError) -> NIOSSLContext {
        do { return try NIOSSLContext(configuration: t) } catch {
            throw .tlsSetup("\(error)")
        }
    }
}

/// What went wrong with PostgreSQL, worded for the person running costsync:
/// what happened, where, and what to do. Never contains the password: the
/// server's own messages name the role, not its secret.
public enum PostgresStoreError: Error, Sendable, CustomStringConvertible {
    /// The server could not be reached, or the connection dropped, and did not
    /// come back within the retries.
    case unreachable(endpoint: String, attempts: Int, cause: String)
    /// The server refused a statement.
    case server(sqlState: String, message: String, detail: String?, hint: String?, statement: String)
    case tlsSetup(String)
    /// A newer costsync migrated this schema.
    case schemaTooNew(schema: String, version: Int, known: Int)
    case migrationFailed(version: Int, name: String, cause: String)
    /// The connection dropped after COMMIT was sent: the server may or may
    /// not have committed. Never retried, since running the body again could
    /// count what already landed a second time (a held emptying taken for
    /// its confirmation); the next pass reads what is stored and goes on.
    case commitUnknown(endpoint: String, statement: String, cause: String)
    case unexpected(String)

    public var description: String {
        switch self {
        case let .unreachable(endpoint, attempts, cause):
            "PostgreSQL unreachable (\(endpoint)) after \(attempts) attempts: \(cause); check that the server is up and "
                + "reachable, then run again (rows and cursors are unchanged)"
        case let .server(state, message, detail, hint, statement):
            "PostgreSQL refused \(statement): \(message) (SQLSTATE \(state))"
                + (detail.map { "; \($0)" } ?? "") + (hint.map { "; hint: \($0)" } ?? "")
        case let .tlsSetup(cause):
            "cannot set up TLS for PostgreSQL: \(cause); check [postgres] ca_file"
        case let .schemaTooNew(schema, version, known):
            "PostgreSQL schema '\(schema)' is at version \(version), newer than this costsync knows (\(known)); upgrade costsync"
        case let .migrationFailed(version, name, cause):
            "PostgreSQL migration \(version) (\(name)) failed and was rolled back: \(cause)"
        case let .commitUnknown(endpoint, statement, cause):
            "PostgreSQL (\(endpoint)) dropped the connection while committing \(statement): \(cause); whether it was stored "
                + "is unknown, and the next pass reads what is stored and goes on from there"
        case let .unexpected(text):
            "PostgreSQL: \(text)"
        }
    }

    /// Whether a retry on a fresh connection may succeed: the connection, not the statement, failed.
    var isConnectionLoss: Bool {
        if case .unreachable = self { return true }
        return false
    }
}

extension PostgresStoreError {
    /// Turns whatever postgres-nio or NIO threw into our error; `statement`
    /// names the operation (never the bound values).
    static func from(_ error: any Error, statement: String, endpoint: PostgresEndpoint) -> PostgresStoreError {
        if let own = error as? PostgresStoreError { return own }
        if let psql = error as? PSQLError {
            switch psql.code {
            case .server:
                let info = psql.serverInfo
                return .server(sqlState: info?[.sqlState] ?? "?", message: info?[.message] ?? "no message",
                               detail: info?[.detail], hint: info?[.hint], statement: statement)
            case .connectionError, .serverClosedConnection, .uncleanShutdown, .clientClosedConnection:
                let cause = psql.underlying.map { "\($0)" } ?? "\(psql.code)"
                return .unreachable(endpoint: endpoint.description, attempts: 1, cause: cause)
            default:
                return .unexpected("\(statement): \(psql.code)" + (psql.underlying.map { " (\($0))" } ?? ""))
            }
        }
        if error is IOError || error is ChannelError || error is NIOConnectionError {
            return .unreachable(endpoint: endpoint.description, attempts: 1, cause: "\(error)")
        }
        if let transaction = error as? PostgresTransactionError {
            return from(transaction.closureError ?? transaction.commitError ?? transaction.beginError ?? error,
                        statement: statement, endpoint: endpoint)
        }
        return .unexpected("\(statement): \(error)")
    }
}

/// A few open connections, leased one operation at a time. An operation owns
/// its connection from BEGIN to COMMIT, so concurrent orgs never share a
/// transaction; a connection that failed is closed, never handed out again.
actor PGPool {
    let endpoint: PostgresEndpoint
    private let configuration: PostgresConnection.Configuration
    private let logger: Logger
    private var idle: [PostgresConnection] = []
    private var open = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var nextID = 0
    private var closed = false

    init(endpoint: PostgresEndpoint, logger: Logger) throws(PostgresStoreError) {
        self.endpoint = endpoint
        self.configuration = try endpoint.configuration()
        self.logger = logger
    }

    /// A new connection outside the pool, its session set: for migrations
    /// and org claims, whose session-level locks die with it, and for the pool.
    /// Dates are read back as `day::text` and times in UTC: a role or server
    /// with another DateStyle (`SQL, DMY`) or TimeZone must not change them.
    func dedicated() async throws -> PostgresConnection {
        nextID += 1
        let connection = try await PostgresConnection.connect(configuration: configuration, id: nextID, logger: logger)
        do {
            var b = PostgresBindings()
            b.append(endpoint.quotedSchema)
            try await PostgresCostStore.execute(connection, """
                SELECT set_config('search_path', $1, false), set_config('datestyle', 'ISO, YMD', false),
                       set_config('timezone', 'UTC', false)
                """, b, logger: logger)
        } catch {
            try? await connection.close()
            throw error
        }
        return connection
    }

    private func lease() async throws -> PostgresConnection {
        while true {
            if closed { throw PostgresStoreError.unexpected("the store was closed") }
            if let connection = idle.popLast() {
                if !connection.isClosed { return connection }
                open -= 1
                continue
            }
            if open < endpoint.maxConnections {
                open += 1
                do { return try await dedicated() } catch {
                    open -= 1
                    wakeOne()
                    throw error
                }
            }
            await withCheckedContinuation { waiters.append($0) }
        }
    }

    private func giveBack(_ connection: PostgresConnection, healthy: Bool) async {
        if healthy && !connection.isClosed && !closed {
            idle.append(connection)
        } else {
            open -= 1
            try? await connection.close()
        }
        wakeOne()
    }

    private func wakeOne() {
        if !waiters.isEmpty { waiters.removeFirst().resume() }
    }

    /// Runs `body` on a leased connection. Any error the body throws leaves the
    /// connection suspect (a transaction may be open), so it is closed.
    func withConnection<T: Sendable>(_ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let connection = try await lease()
        do {
            let value = try await body(connection)
            await giveBack(connection, healthy: true)
            return value
        } catch {
            await giveBack(connection, healthy: false)
            throw error
        }
    }

    /// A store dropped without `close()` (the commands simply return) still
    /// closes its connections: postgres-nio requires a connection closed
    /// before it is freed, and the task below holds each one until it is.
    deinit {
        let connections = idle
        guard !connections.isEmpty else { return }
        Task.detached {
            for connection in connections { try? await connection.close() }
        }
    }

    func close() async {
        closed = true
        for connection in idle { try? await connection.close() }
        idle.removeAll()
        for waiter in waiters { waiter.resume() }
        waiters.removeAll()
    }
}

/// How long a lost connection is retried before the operation fails: capped
/// exponential backoff with jitter, about 7 s in all, so a server restart or a
/// failover rides through while a server that is down fails the org's pass
/// quickly (the next pass tries again).
///
/// | attempt | wait before it |
/// |---|---|
/// | 2 | 0.25 s ± 20 % |
/// | 3 | 0.5 s |
/// | 4 | 1 s |
/// | 5 | 2 s |
/// | 6 | 3 s (capped) |
struct PGBackoff: Sendable {
    var attempts = 6
    var base: Duration = .milliseconds(250)
    var cap: Duration = .seconds(3)

    func delay(beforeAttempt attempt: Int) -> Duration {
        // Doubling first, then the cap, then the jitter: jitter keeps two
        // instances that lost the same server from reconnecting in lockstep.
        let doubled = base * (1 << min(attempt - 2, 16))
        let capped = min(doubled, cap)
        let jitter = Double.random(in: 0.8...1.2)
        return capped * jitter
    }
}
