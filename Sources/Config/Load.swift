import CostModel
import TOMLKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension CostsyncConfig {
    /// Reads a whole file as bytes; throws an error whose description says why it could
    /// not (it must never include the file's content, which may be a secret).
    public typealias FileReader = (_ path: String) throws -> [UInt8]

    /// The config file when `--config` is not given: `$COSTSYNC_CONFIG`, else
    /// `/etc/costsync/costsync.toml`.
    public static func defaultPath(environment: [String: String]) -> String {
        if let path = environment["COSTSYNC_CONFIG"], !path.isEmpty { return path }
        return "/etc/costsync/costsync.toml"
    }

    /// Reads, parses and validates the config file at `path`, reading the secrets it
    /// names from `environment` and from files.
    public static func load(path: String, environment: [String: String],
                            fileReader: @escaping FileReader = CostsyncConfig.readFile) throws(ConfigError) -> CostsyncConfig
    {
        let bytes: [UInt8]
        do {
            bytes = try fileReader(path)
        } catch {
            throw ConfigError(
                file: path, key: "",
                problem: "cannot read the config file: \(error); create it (see config/costsync.example.toml) "
                    + "or pass --config PATH")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigError(file: path, key: "", problem: "the config file is not UTF-8 text, as TOML requires")
        }
        return try parse(toml: text, file: path, environment: environment, fileReader: fileReader)
    }

    /// Parses and validates config text; `file` is only used in messages. Relative
    /// `*_file` secrets are read through `fileReader` under `$CREDENTIALS_DIRECTORY`
    /// taken from `environment`, so tests need neither real files nor the process
    /// environment.
    public static func parse(toml: String, file: String, environment: [String: String],
                             fileReader: @escaping FileReader = CostsyncConfig.readFile) throws(ConfigError) -> CostsyncConfig
    {
        let root: TOMLTable
        do {
            root = try TOMLTable(string: toml)
        } catch let error as TOMLParseError {
            throw syntaxError(error, source: toml, file: file)
        } catch {
            throw ConfigError(file: file, key: "", problem: "not valid TOML: \(error)")
        }
        do {
            var builder = Builder(secrets: SecretReader(environment: environment, fileReader: fileReader))
            return try builder.build(root, file: file)
        } catch {
            throw error.in(file)
        }
    }

    /// Reads a regular file of at most 1 MiB with `open`/`read`, so the module needs no
    /// Foundation; errors carry `strerror`'s text ("No such file or directory").
    public static func readFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileReadError(errno: errno) }
        defer { close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        let limit = 1024 * 1024
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileReadError(errno: errno)
            }
            if n == 0 { return result }
            result.append(contentsOf: chunk[0..<n])
            guard result.count <= limit else { throw FileReadError(message: "larger than 1 MiB") }
        }
    }

    /// Maps a toml++ parse error to the key being defined on that line, when the line
    /// shows one, and always gives the line and column.
    static func syntaxError(_ error: TOMLParseError, source: String, file: String) -> ConfigError {
        let line = error.source.begin.line
        let column = error.source.begin.column
        let key = SyntaxLocator.key(atLine: line, in: source) ?? "line \(line)"
        // toml++ describes the parser's state ("could not determine value type"); the
        // usual cause behind it is a text value written without quotes.
        let hint = SyntaxLocator.hasUnquotedText(atLine: line, in: source)
            ? "; text values need double quotes, e.g. key = \"value\"" : ""
        return ConfigError(
            file: file, key: key,
            problem: "TOML syntax error at line \(line), column \(column): \(error.description)\(hint)")
    }
}

/// Why `readFile` failed, as the C library words it.
struct FileReadError: Error, CustomStringConvertible {
    var description: String

    init(errno code: Int32) {
        // glibc's strerror returns a static string for every known errno, so reading it
        // right away is safe even though other threads may call it too.
        description = String(cString: strerror(code))
    }

    init(message: String) { description = message }
}

/// Finds which key a line of TOML source defines, for syntax error messages: it
/// follows `[table]` and `[[array]]` headers down to the line, the way a person
/// reading the file would. Best effort: multi-line strings and arrays can fool it,
/// in which case the caller falls back on "line N".
enum SyntaxLocator {
    static func key(atLine target: Int, in source: String) -> String? {
        var table = ""
        var arrayCounts: [String: Int] = [:]
        var lineNumber = 0
        for rawLine in source.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = rawLine.drop(while: { $0 == " " || $0 == "\t" })
            if line.hasPrefix("[[") {
                let name = header(line.dropFirst(2), closing: "]]")
                let index = arrayCounts[name, default: -1] + 1
                arrayCounts[name] = index
                table = "\(name)[\(index)]"
                if lineNumber == target { return table }
            } else if line.hasPrefix("[") {
                table = header(line.dropFirst(), closing: "]")
                if lineNumber == target { return table.isEmpty ? nil : table }
            } else if lineNumber == target {
                guard let eq = line.firstIndex(of: "=") else { return table.isEmpty ? nil : table }
                let key = line[..<eq].trimmingCharacters()
                guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || "_-.\"".contains($0) }) else {
                    return table.isEmpty ? nil : table
                }
                return table.isEmpty ? key : table + "." + key
            }
            if lineNumber >= target { break }
        }
        return nil
    }

    /// Whether the value on a `key = value` line is bare text with letters in it
    /// (`1h`, `sk-…`), which TOML cannot parse: it is neither a number nor a boolean.
    static func hasUnquotedText(atLine target: Int, in source: String) -> Bool {
        let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
        guard target >= 1, target <= lines.count, let eq = lines[target - 1].firstIndex(of: "=") else { return false }
        let value = lines[target - 1][lines[target - 1].index(after: eq)...].trimmingCharacters()
        guard let first = value.first, !"\"'[{".contains(first) else { return false }
        let word = value.prefix(while: { $0 != " " && $0 != "#" })
        return !["true", "false", "inf", "nan", "+inf", "-inf"].contains(String(word)) && word.contains(where: \.isLetter)
    }

    private static func header(_ rest: Substring, closing: String) -> String {
        let end = rest.firstRange(of: closing)?.lowerBound ?? rest.endIndex
        return rest[..<end].trimmingCharacters()
    }
}

extension Substring {
    fileprivate func trimmingCharacters() -> String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" || $0 == "\r" }).reversed())
    }
}
