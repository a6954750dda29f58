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
}

/// Where the sync engine gets an org's costs from: one provider client per org.
public protocol CostSource: Sendable {
    var provider: Provider { get }
    /// The org's `name` from the config: the `org` column.
    var org: String { get }
    /// The most days one request can cover, which the engine uses to plan.
    var maxDaysPerRequest: Int { get }

    /// Fetches every day of `range` in as few requests as the API allows and
    /// hands each response's days to `sink` as soon as they are decoded, so a
    /// long backfill is written page by page and never held in memory whole.
    func fetch(_ range: DayRange, sink: @Sendable ([DayCosts]) async throws -> Void) async throws

    /// One cheap authenticated request, for `check-config --online`.
    func probe() async throws
}
