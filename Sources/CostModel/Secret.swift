/// A credential read from the environment or a credentials file.
///
/// Its `description` and `debugDescription` are `<redacted>`, so string
/// interpolation, `dump` and log metadata can never print it; code that really
/// needs the value (an HTTP header) asks for `revealed` by name.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let value: String

    public init(_ value: String) { self.value = value }

    public var revealed: String { value }
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    /// `dump` and `Mirror` walk stored properties; without this they would
    /// print the value of any struct that holds a secret.
    public var customMirror: Mirror { Mirror(self, children: [:]) }

    /// Whether a string may be echoed in an error message. Messages name env vars and
    /// files, but a user who pastes the key itself into `admin_key_env` must not see it
    /// printed back into a log: anything that is not a conventional upper-case env
    /// name or path, or looks like an API key, is left out of the message.
    public static func showable(_ text: String, limit: Int = 100) -> String? {
        let bytes = Array(text.utf8)
        guard bytes.count <= limit, !text.hasPrefix("sk-") else { return nil }
        guard bytes.allSatisfy({ ASCII.isAlnum($0) || "._-/:[]".utf8.contains($0) }) else { return nil }
        // A long run of mixed-case letters and digits with no separator is what API
        // keys look like, and what names and paths do not.
        let longestToken = text.split(whereSeparator: { "._-/:[]".contains($0) }).map(\.utf8.count).max() ?? 0
        let hasLower = bytes.contains { $0 >= 0x61 && $0 <= 0x7A }
        let hasUpper = bytes.contains { $0 >= 0x41 && $0 <= 0x5A }
        let hasDigit = bytes.contains { $0 >= 0x30 && $0 <= 0x39 }
        if longestToken >= 20 && hasLower && hasUpper && hasDigit { return nil }
        return text
    }
}
