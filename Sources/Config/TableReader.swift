import TOMLKit
import CostModel

/// Reads the keys of one TOML table by name, with errors that name the key's full
/// dotted path and the type that was found.
///
/// We walk TOMLKit's tables ourselves instead of using `TOMLDecoder` with
/// `strictDecoding`, because TOMLKit 0.6.0 reports a value of the wrong type as a
/// missing key ("A String does not exist at …"), reports unexpected keys by bare name
/// without their table, and cannot accept both `"2025-01-01"` and a bare TOML date
/// for the same field. The contract asks for the key and the fix in every message.
struct TableReader {
    let table: TOMLTable
    /// The dotted path of this table: `""` for the root, `sync`, `anthropic[0]`.
    let path: String

    func keyPath(_ key: String) -> String {
        let quoted = Self.isBareKey(key) ? key : "\"" + key + "\""
        return path.isEmpty ? quoted : path + "." + quoted
    }

    /// Refuses the first key (in sorted order, so the message is stable) that is not
    /// in `known`; `hint` may add a word about a particular mistake.
    func rejectUnknownKeys(known: [String], tableName: String, hint: (String) -> String? = { _ in nil })
        throws(KeyProblem)
    {
        for key in table.keys.sorted() where !known.contains(key) {
            var problem = "unknown key"
            if let extra = hint(key) {
                problem += "; " + extra
            } else if let near = Self.closest(to: key, in: known) {
                problem += "; did you mean '\(near)'?"
            }
            problem += " (the keys of \(tableName) are " + known.joined(separator: ", ") + ")"
            throw KeyProblem(keyPath(key), problem)
        }
    }

    func string(_ key: String) throws(KeyProblem) -> String? {
        guard let value = table[key] else { return nil }
        guard let text = value.string else { throw typeMismatch(key, expected: "a string", found: value) }
        return text
    }

    func bool(_ key: String) throws(KeyProblem) -> Bool? {
        guard let value = table[key] else { return nil }
        guard let b = value.bool else { throw typeMismatch(key, expected: "true or false", found: value) }
        return b
    }

    /// A UTC date, as a TOML date (`2025-01-01`) or a string (`"2025-01-01"`).
    func day(_ key: String) throws(KeyProblem) -> Day? {
        guard let value = table[key] else { return nil }
        let usage = "write a UTC date as \"YYYY-MM-DD\", e.g. \"2025-01-01\""
        if let date = value.date {
            guard let day = Day(year: date.year, month: date.month, day: date.day) else {
                throw KeyProblem(keyPath(key), "is not a valid date; " + usage)
            }
            return day
        }
        if let text = value.string {
            guard let day = Day(text) else {
                throw KeyProblem(keyPath(key), "'\(Secret.showable(text, limit: 40) ?? "…")' is not a date; " + usage)
            }
            return day
        }
        throw typeMismatch(key, expected: "a date \"YYYY-MM-DD\"", found: value)
    }

    func int(_ key: String) throws(KeyProblem) -> Int? {
        guard let value = table[key] else { return nil }
        guard let number = value.int else { throw typeMismatch(key, expected: "an integer", found: value) }
        return number
    }

    func requiredString(_ key: String, hint: String) throws(KeyProblem) -> String {
        guard let text = try string(key) else { throw KeyProblem(keyPath(key), "missing; " + hint) }
        return text
    }

    func typeMismatch(_ key: String, expected: String, found value: any TOMLValueConvertible) -> KeyProblem {
        // Only the type is named, never the value: the value might be a pasted secret.
        KeyProblem(keyPath(key), "expected \(expected), found \(Self.describe(value.type))")
    }

    static func describe(_ type: TOMLType) -> String {
        switch type {
        case .table: "a table"
        case .array: "an array"
        case .string: "a string"
        case .int: "an integer"
        case .double: "a floating-point number"
        case .bool: "a boolean"
        case .date: "a date"
        case .time: "a time"
        case .dateTime: "a date-time"
        }
    }

    /// TOML's bare keys: `A-Za-z0-9_-`; anything else is shown quoted, as it was written.
    static func isBareKey(_ key: String) -> Bool {
        !key.isEmpty && key.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c == 0x2D
        }
    }

    /// The known key nearest to a typo (edit distance at most 2), if any.
    static func closest(to key: String, in known: [String]) -> String? {
        var best: (String, Int)?
        for candidate in known {
            let d = editDistance(Array(key.lowercased().utf8), Array(candidate.utf8))
            if d <= 2, d < (best?.1 ?? .max) { best = (candidate, d) }
        }
        return best?.0
    }

    static func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
