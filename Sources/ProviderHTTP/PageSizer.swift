import Synchronization

/// How many days one request of an org asks for. It starts at the API's
/// maximum and shrinks (halving at least, down to one day) when a body passes
/// the response cap or a page carries more lines than the page budget, and
/// remembers what worked for the life of the client, so an org whose pages
/// outgrow the cap is never refused for ever, and memory is bounded by the
/// page rather than by the org.
public final class PageSizer: Sendable {
    private let days: Mutex<Int>
    public let maximum: Int
    /// Lines per page above which later pages ask for fewer days.
    public let lineBudget: Int

    /// 12,000 lines of Anthropic JSON are about 3.6 MB of body and as much
    /// again decoded: small enough for the daemon to stay well under 64 MB.
    public static let defaultLineBudget = 12_000
    /// The body cap of a request of more than one day: a page past it is
    /// refused while it downloads and asked for in fewer days, so a big org
    /// never holds a 100 MB body. A one-day request may use the whole
    /// `max_response_bytes`.
    public static let pageByteBudget = 4 << 20

    /// The body limit for a request of `days` days.
    public static func bodyLimit(days: Int) -> Int? { days > 1 ? pageByteBudget : nil }

    public init(maximum: Int, lineBudget: Int = PageSizer.defaultLineBudget) {
        precondition(maximum >= 1 && lineBudget >= 1)
        self.maximum = maximum
        self.lineBudget = lineBudget
        self.days = Mutex(maximum)
    }

    /// The days the next request asks for.
    public var current: Int { days.withLock { $0 } }

    /// After a body over the cap on a request of `used` days: halves the
    /// page. False when it was one day already: nothing smaller to ask for.
    public func shrinkAfterTooLarge(from used: Int) -> Bool {
        guard used > 1 else { return false }
        days.withLock { $0 = min($0, used / 2) }
        return true
    }

    /// After a page of `lines` over `days` days: if it passed the budget,
    /// later pages ask for at most half as many days, fewer still if the
    /// lines per day say so.
    public func observe(lines: Int, days pageDays: Int) {
        guard lines > lineBudget, pageDays > 1 else { return }
        let fitting = max(1, lineBudget * pageDays / lines)
        days.withLock { $0 = max(1, min($0, pageDays / 2, fitting)) }
    }
}
