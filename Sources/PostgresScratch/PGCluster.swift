import Foundation
import Glibc
import PostgresStore
import Synchronization

/// A throwaway PostgreSQL cluster for the tests and the bench: `initdb` into a temporary
/// folder, `pg_ctl start` listening on a unix socket in that folder only (no
/// TCP port to collide with), stopped and removed at the end. PostgreSQL
/// refuses to run as root, so when the tests run as root the server runs as
/// the `postgres` user, which owns the folder.
///
/// One cluster serves a whole suite (`PGCluster.shared`); each test takes a
/// schema of its own, so tests never see each other's rows.
public final class PGCluster: Sendable {
    public let directory: String
    public let socketDirectory: String
    public let port = 5432
    public let user = "costsync"
    public let bin: String
    private let runAs: String?

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Started once per test process, on first use; stopped and removed at
    /// exit. A cluster that cannot start fails every test that asks, with why.
    public static func shared() throws -> PGCluster {
        try started.withLock { state in
            if let cluster = state.cluster { return cluster }
            if let error = state.error { throw error }
            do {
                let cluster = try PGCluster()
                state.cluster = cluster
                atexit { PGCluster.stopShared() }
                return cluster
            } catch {
                state.error = Failure(description: "cannot start the test PostgreSQL cluster: \(error)")
                throw error
            }
        }
    }

    private static let started = Mutex<(cluster: PGCluster?, error: Failure?)>((nil, nil))
    private static func stopShared() {
        started.withLock {
            $0.cluster?.stop(mode: "immediate")
            $0.cluster?.remove()
        }
    }

    public init() throws {
        bin = try Self.findBin()
        runAs = geteuid() == 0 ? "postgres" : nil
        // Short and fixed: a unix socket's path must fit in 107 bytes, whatever $TMPDIR is.
        let dir = "/tmp/costsync-pg-\(UUID().uuidString.prefix(8))"
        directory = dir
        socketDirectory = dir
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        if let runAs {
            try Self.shell(["/bin/chown", runAs, dir], as: nil)
        }
        try Self.shell([bin + "/initdb", "-D", dir + "/data", "-U", user, "--auth=trust", "--no-sync", "-E", "UTF8",
                        "--locale=C.UTF-8"], as: runAs)
        try start()
    }

    /// Starts the server and waits until it accepts connections (`-w`).
    public func start() throws {
        try Self.shell([bin + "/pg_ctl", "-D", directory + "/data", "-l", directory + "/server.log", "-w", "-t", "60",
                        "-o", "-k \(socketDirectory) -c listen_addresses='' -p \(port) -c fsync=off -c max_connections=100",
                        "start"], as: runAs)
    }

    /// Stops the server, fast: open sessions are disconnected.
    public func stop(mode: String = "fast") {
        _ = try? Self.shell([bin + "/pg_ctl", "-D", directory + "/data", "-w", "-m", mode, "stop"], as: runAs)
    }

    public func remove() { try? FileManager.default.removeItem(atPath: directory) }

    public func endpoint(schema: String) -> PostgresEndpoint {
        PostgresEndpoint(host: socketDirectory, port: port, database: "postgres", user: user, schema: schema)
    }

    /// The `[postgres]` table for a config naming this cluster.
    public func configTable(schema: String) -> String {
        """

        [postgres]
        host = "\(socketDirectory)"
        port = \(port)
        database = "postgres"
        user = "\(user)"
        schema = "\(schema)"

        """
    }

    /// Runs `psql` with `sql` and returns its unaligned output.
    public func psql(_ sql: String) throws -> String {
        try Self.shell([bin + "/psql", "-h", socketDirectory, "-p", "\(port)", "-U", user, "-d", "postgres", "-X", "-A", "-t",
                        "-v", "ON_ERROR_STOP=1", "-c", sql], as: nil)
    }

    static func findBin() throws -> String {
        let fm = FileManager.default
        if let versions = try? fm.contentsOfDirectory(atPath: "/usr/lib/postgresql") {
            for v in versions.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) }) where fm.isExecutableFile(atPath: "/usr/lib/postgresql/\(v)/bin/initdb") {
                return "/usr/lib/postgresql/\(v)/bin"
            }
        }
        for dir in ["/usr/local/bin", "/usr/bin"] where fm.isExecutableFile(atPath: dir + "/initdb") { return dir }
        throw Failure(description: "no initdb found under /usr/lib/postgresql/*/bin or on PATH; install it with `apt-get install -y postgresql`")
    }

    /// Runs a command (as `user` through runuser when given) and returns its
    /// stdout. posix_spawn and waitpid, with output in files: `pg_ctl start`
    /// leaves a server that inherits whatever the child had open, so pipes
    /// would never reach end of file, and Foundation's `Process` reaps its
    /// children on a run loop this synchronous caller would not spin.
    @discardableResult
    public static func shell(_ argv: [String], as user: String?) throws -> String {
        // From /tmp: the server inherits the working directory, and one the
        // postgres user cannot enter makes it complain.
        let full = ["/bin/sh", "-c", "cd /tmp && exec \"$@\"", "sh"] + (user.map { ["/usr/sbin/runuser", "-u", $0, "--"] + argv } ?? argv)
        let outPath = "/tmp/costsync-pg-out-\(UUID().uuidString.prefix(8))"
        let errPath = outPath + ".err"
        defer {
            unlink(outPath)
            unlink(errPath)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o666)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o666)
        let cArgs = full.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, full[0], &actions, nil, cArgs, environ)
        guard rc == 0 else { throw Failure(description: "cannot start \(full[0]): \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let output = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let exited = (status & 0x7f) == 0
        let code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            let error = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
            throw Failure(description: "\(argv.joined(separator: " ")) failed (wait status \(status)): \(error)\(output)")
        }
        return output
    }
}

