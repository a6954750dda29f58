import CostModel

/// Reads one secret named by a pair of keys such as `admin_key_env` / `admin_key_file`.
///
/// Exactly one of the two must be set. `*_env` names an environment variable;
/// `*_file` names a file, where a relative path is taken under `$CREDENTIALS_DIRECTORY`,
/// the directory where systemd places `LoadCredential=` files. Trailing newlines
/// (from `echo … > file`) are trimmed. Every message here says where the secret was
/// looked for and what is wrong with it, never what it is.
struct SecretReader {
    let environment: [String: String]
    let fileReader: CostsyncConfig.FileReader

    /// The largest secret file we read: API keys are ~100 bytes, so anything this big
    /// is the wrong file, and we would rather say so than send it as a header.
    static let maxFileSize = 64 * 1024

    func read(_ table: TableReader, env envKey: String, file fileKey: String, what: String) throws(KeyProblem) -> Secret {
        let envName = try table.string(envKey)
        let filePath = try table.string(fileKey)
        switch (envName, filePath) {
        case (.some, .some):
            throw KeyProblem(table.keyPath(envKey), "set either \(envKey) or \(fileKey), not both")
        case (nil, nil):
            throw KeyProblem(
                table.keyPath(envKey),
                "missing; name the environment variable that holds \(what) with \(envKey) = \"NAME\", "
                    + "or a file that holds it with \(fileKey) = \"PATH\" (a secret is never written in the config)")
        case (let name?, nil):
            return try fromEnvironment(name, key: table.keyPath(envKey), fileKey: fileKey, what: what)
        case (nil, let path?):
            return try fromFile(path, key: table.keyPath(fileKey), what: what)
        }
    }

    private func fromEnvironment(_ name: String, key: String, fileKey: String, what: String) throws(KeyProblem) -> Secret {
        guard !name.isEmpty else { throw KeyProblem(key, "is empty; give the name of an environment variable") }
        guard Values.isEnvName(name) else {
            // Most likely the secret itself was pasted here: do not print it back.
            throw KeyProblem(
                key,
                "is not an environment variable name (letters, digits and '_'); it must name the variable that holds "
                    + "\(what), not contain it: a secret is never written in the config")
        }
        // Only a conventional upper-case name is echoed: a mixed-case token could be a
        // key ID pasted where its variable's name belongs.
        let conventional = Secret.showable(name) != nil
            && name.utf8.allSatisfy { ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
        let shown = conventional ? "environment variable \(name)" : "the environment variable it names"
        guard let value = environment[name] else {
            throw KeyProblem(
                key,
                "\(shown) is not set; set it in the environment of costsync (under systemd: Environment= or "
                    + "EnvironmentFile=), or use \(fileKey) instead")
        }
        return try checked(value, key: key, source: shown, what: what)
    }

    private func fromFile(_ path: String, key: String, what: String) throws(KeyProblem) -> Secret {
        guard !path.isEmpty else { throw KeyProblem(key, "is empty; give the path of a file that holds \(what)") }
        var fullPath = path
        if !path.hasPrefix("/") {
            guard let dir = environment["CREDENTIALS_DIRECTORY"], !dir.isEmpty else {
                throw KeyProblem(
                    key,
                    "\(Secret.showable(path).map { "'\($0)' " } ?? "")is a relative path, which is read from "
                        + "$CREDENTIALS_DIRECTORY, but CREDENTIALS_DIRECTORY is not set; run under systemd with "
                        + "LoadCredential=, or outside systemd set CREDENTIALS_DIRECTORY to the directory that holds "
                        + "the file, or give an absolute path")
            }
            guard !path.split(separator: "/").contains("..") else {
                throw KeyProblem(key, "a relative path must stay inside $CREDENTIALS_DIRECTORY (no '..')")
            }
            fullPath = (dir.hasSuffix("/") ? String(dir.dropLast()) : dir) + "/" + path
        }
        let shown = Secret.showable(fullPath, limit: 4096).map { "file '\($0)'" } ?? "the file it names"
        let bytes: [UInt8]
        do {
            bytes = try fileReader(fullPath)
        } catch {
            // The reader's error says why the file could not be read (errno), not what
            // is in it.
            throw KeyProblem(key, "cannot read \(shown): \(error)")
        }
        guard bytes.count <= Self.maxFileSize else {
            throw KeyProblem(key, "\(shown) is \(bytes.count) bytes, far more than any API key; is it the right file?")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw KeyProblem(key, "\(shown) is not UTF-8 text; it must hold \(what) alone")
        }
        return try checked(text, key: key, source: shown, what: what)
    }

    /// Trims trailing newlines and refuses what cannot be a key. The value goes into an
    /// HTTP header, where a space or a line break would corrupt the request (or inject
    /// a header), so it must be visible ASCII.
    private func checked(_ raw: String, key: String, source: String, what: String) throws(KeyProblem) -> Secret {
        var bytes = Array(raw.utf8)
        while let last = bytes.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") { bytes.removeLast() }
        guard !bytes.isEmpty else { throw KeyProblem(key, "\(source) is empty; it must hold \(what)") }
        guard bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw KeyProblem(
                key,
                "\(source) contains spaces, line breaks, control or non-ASCII characters; it must hold \(what) alone, "
                    + "on one line")
        }
        return Secret(String(decoding: bytes, as: UTF8.self))
    }
}
