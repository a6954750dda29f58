/// Why a config file was refused: which file, which key, and what to do about it.
///
/// `description` is the line `check-config` prints and the command line turns into
/// exit status 78 (EX_CONFIG):
///
///     /etc/costsync/costsync.toml: anthropic[1].name: duplicate name 'acme' (names must be unique)
///
/// Keys are dotted paths as they appear in the file; the Nth `[[anthropic]]` or
/// `[[clickhouse]]` table is `anthropic[N]`, counting from 0 in file order. `key` is
/// empty when the problem is the file as a whole (it cannot be read, it has no org).
///
/// No error text ever contains a secret's value: problems about a secret say what is
/// wrong with it (empty, has a newline, unreadable file), never what it is.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The config file, as given on the command line or by `$COSTSYNC_CONFIG`.
    public var file: String
    /// The dotted key, e.g. `sync.poll_interval` or `clickhouse[0].key_secret_file`.
    public var key: String
    /// What is wrong and what to do about it, written for the person running costsync.
    public var problem: String

    public init(file: String, key: String, problem: String) {
        self.file = file
        self.key = key
        self.problem = problem
    }

    public var description: String {
        key.isEmpty ? "\(file): \(problem)" : "\(file): \(key): \(problem)"
    }
}

/// A problem found below the file level, before the file name is attached; keeps
/// the validation code free of the file name it would otherwise thread everywhere.
struct KeyProblem: Error {
    var key: String
    var problem: String

    init(_ key: String, _ problem: String) {
        self.key = key
        self.problem = problem
    }

    func `in`(_ file: String) -> ConfigError { ConfigError(file: file, key: key, problem: problem) }
}
