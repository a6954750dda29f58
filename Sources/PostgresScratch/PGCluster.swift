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

    /// Runs a command (as `user` through runuser when given) and returns its stdout.
    @discardableResult
    public static func shell(_ argv: [String], as user: String?) throws -> String {
        let process = Process()
        if let user {
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/runuser")
            process.arguments = ["-u", user, "--"] + argv
        } else {
            process.executableURL = URL(fileURLWithPath: argv[0])
            process.arguments = Array(argv.dropFirst())
        }
        // The server inherits this; a cwd the postgres user cannot enter makes it complain.
        process.currentDirectoryURL = URL(fileURLWithPath: "/tmp")
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // pg_ctl start leaves the server holding inherited pipes: read stdout up
        // to the child's own exit only, not to end of file.
        process.waitUntilExit()
        let output = String(decoding: out.fileHandleForReading.availableDataNonBlocking(), as: UTF8.self)
        guard process.terminationStatus == 0 else {
            let error = String(decoding: err.fileHandleForReading.availableDataNonBlocking(), as: UTF8.self)
            throw Failure(description: "\(argv.joined(separator: " ")) exited \(process.terminationStatus): \(error)\(output)")
        }
        return output
    }
}

extension FileHandle {
    /// What is in the pipe now, without waiting for end of file.
    func availableDataNonBlocking() -> Data {
        let fd = fileDescriptor
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = Glibc.read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            data.append(contentsOf: buffer[0..<n])
        }
        return data
    }
}

