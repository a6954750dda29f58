/// One step of the schema, applied once: `PRAGMA user_version` records how many
/// steps a database has seen.
public struct Migration: Sendable {
    public let version: Int32
    public let name: String
    public let sql: String

    public init(version: Int32, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }
}

/// The schema version is newer than this build knows: a newer costsync has
/// migrated the database, and running an older one over it could corrupt it.
public struct SchemaTooNewError: Error, Sendable, CustomStringConvertible {
    public let databaseVersion: Int32
    public let knownVersion: Int32
    public let path: String

    public init(databaseVersion: Int32, knownVersion: Int32, path: String) {
        self.databaseVersion = databaseVersion
        self.knownVersion = knownVersion
        self.path = path
    }

    public var description: String {
        "database '\(path)' has schema version \(databaseVersion), but this costsync knows versions up to \(knownVersion): upgrade costsync, or point it at another database"
    }
}

extension Connection {
    public var userVersion: Int32 {
        get throws { Int32(try query("PRAGMA user_version") { $0.int64(0) }.first ?? 0) }
    }

    /// Applies every migration newer than the database, each in its own
    /// IMMEDIATE transaction together with its `user_version` bump, so a crash
    /// leaves the database at a whole version. Safe to run on every start.
    /// `willApply` is called before each migration that will really run (a
    /// daemon asks systemd for more start-up time there).
    public func migrate(_ migrations: [Migration], willApply: (Migration) -> Void = { _ in }) throws {
        let known = migrations.map(\.version).max() ?? 0
        let current = try userVersion
        if current > known { throw SchemaTooNewError(databaseVersion: current, knownVersion: known, path: path) }
        for migration in migrations.sorted(by: { $0.version < $1.version }) where migration.version > current {
            try transaction(.immediate) {
                // Re-read inside the write lock: another process may have
                // migrated while we waited for it.
                guard try userVersion < migration.version else { return }
                willApply(migration)
                try execute(migration.sql)
                // PRAGMA takes no bound parameters; the version is an integer
                // constant from our own code, never input.
                try execute("PRAGMA user_version = \(migration.version)")
            }
        }
    }
}
