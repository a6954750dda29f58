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
