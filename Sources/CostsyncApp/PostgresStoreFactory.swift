import Config
import CostModel
import Logging
import PostgresStore
import StorePort
import SystemdSupport

// Issue 13: the PostgreSQL store, built from `[postgres]`.
extension PostgresSettings {
    /// Where the store connects; the password travels inside, never in a URL or argv.
    var endpoint: PostgresEndpoint {
        let tls: PostgresEndpoint.TLSMode = switch sslmode {
        case .disable: .disable
        case .require: .require
        case .verifyFull: .verifyFull
        }
        return PostgresEndpoint(host: host, port: port, database: database, user: user, password: password, tls: tls,
                                caFile: caFile, schema: schema)
    }
}

extension CostsyncApp {
    /// Connects and migrates. Each migration asks systemd for more time first,
    /// as the SQLite path does: READY=1 only follows the open.
    func openPostgresStore(_ settings: PostgresSettings) async throws(AppError) -> PostgresCostStore {
        let notifier = notifier
        let logger = logger
        let endpoint = settings.endpoint
        do {
            return try await PostgresCostStore(endpoint: endpoint, logger: logger) { migration in
                logger.info("migrating the PostgreSQL schema", metadata: [
                    "schema": "\(endpoint.schema)", "schema.version": "\(migration.version)", "migration": "\(migration.name)",
                ])
                notifier.extendTimeout(by: .seconds(300))
            }
        } catch {
            throw .failed("costsync: cannot open the PostgreSQL store (config table [postgres]): \(error)")
        }
    }
}
