/// The lines of one day, gathered from the parts a provider sends it in: the
/// one rule for merging them.
///
/// Within one part (an Anthropic bucket, a ClickHouse record) two lines with
/// one key are the provider's own split of a line, and are summed. Across
/// parts (a day split over two pages, a day sent twice, two records of one
/// entity) a key seen in an earlier part means a part was repeated: adding it
/// would double the day, so it is refused.
public struct DayLines: Sendable {
    public private(set) var lines: [CostLine] = []
    private var index: [String: (position: Int, part: Int)] = [:]
    private var part = 0

    public init() {}

    /// A day whose lines arrived whole, as the first part.
    public init(_ lines: [CostLine]) throws(Conflict) {
        for line in lines { try add(line) }
    }

    /// Starts the next part: keys added from here on must be new to the day.
    public mutating func beginPart() { part += 1 }

    /// Adds a line of the current part.
    public mutating func add(_ line: CostLine) throws(Conflict) {
        guard let seen = index[line.lineKey] else {
            index[line.lineKey] = (lines.count, part)
            lines.append(line)
            return
        }
        guard seen.part == part else { throw Conflict.repeated(lineKey: line.lineKey, item: line.item) }
        do {
            lines[seen.position].amount = try lines[seen.position].amount + line.amount
        } catch {
            throw Conflict.outOfRange(item: line.item, detail: "\(error)")
        }
    }

    /// Adds another part of the day, whole.
    public mutating func merge(_ other: [CostLine]) throws(Conflict) {
        beginPart()
        for line in other { try add(line) }
    }

    /// Why two parts of a day could not be merged.
    public enum Conflict: Error, Sendable, Hashable, CustomStringConvertible {
        case repeated(lineKey: String, item: String)
        case outOfRange(item: String, detail: String)

        public var description: String {
            switch self {
            case let .repeated(lineKey, item):
                "the line '\(item)' (key \(lineKey)) came in two parts of one day; refusing to add it twice"
            case let .outOfRange(item, detail):
                "the amounts of '\(item)' overflow when summed: \(detail)"
            }
        }
    }
}
