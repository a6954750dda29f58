import CostModel

/// Which requests a planned fault may hit.
public enum SimTarget: Sendable, Hashable {
    case any
    case anthropic
    case clickhouse
    /// The names endpoints (organization, workspaces, services) of either
    /// provider; every other target means the cost endpoints only.
    case names
}

/// A misbehaviour of a provider, applied to one request.
public enum SimProviderFault: Sendable, Hashable {
    /// An error status with the provider's own error body; `retry-after` when given.
    /// `.status(429, retryAfterSeconds: 2)`, `.status(503)`, `.status(500)`, `.status(529)`.
    case status(Int, retryAfterSeconds: Int? = nil)
    /// Anthropic's own rate-limit answer: 429 without `retry-after`, but with
    /// `anthropic-ratelimit-requests-reset` this many seconds from now (wall clock).
    case status429WithAnthropicReset(secondsFromNow: Int)
    /// The connection closes without any response.
    case dropConnection
    /// A complete 200 response whose JSON body stops halfway (Content-Length
    /// matches): what a client's parser must reject.
    case truncatedJSON
    /// The head announces the whole body, the connection closes halfway
    /// through it: what the HTTP layer must reject.
    case truncatedBody
    /// The response comes this much later.
    case latency(Duration)
    /// Anthropic only: `has_more: true` with the request's own page token, the
    /// loop a client must detect.
    case repeatPageToken
    /// ClickHouse only: `grandTotalCHC` one credit more than the records' sum.
    case grandTotalMismatch
    /// A well-formed answer with no costs at all: Anthropic buckets with
    /// `"results": []`, ClickHouse `"costs": []` and `"grandTotalCHC": 0`
    /// (a backend hiccup, billing lag).
    case emptyAnswer
    /// Anthropic only: the answer has no bucket for this day.
    case missingBucket(Day)
    /// A 200 whose body is the provider's error envelope for this status
    /// (Anthropic `{"type":"error","error":{"type":"overloaded_error"}}` for
    /// 529, ClickHouse `{"status":503,...}`).
    case errorInside200(status: Int)

    /// Whether this fault makes sense for a request of `provider`.
    func applies(to provider: Provider) -> Bool {
        switch self {
        case .repeatPageToken, .missingBucket: provider == .anthropic
        case .grandTotalMismatch: provider == .clickhouse
        default: true
        }
    }
}

/// What goes wrong, and when: a queue of faults consumed one per matching
/// request, a steady latency, and an optional random fault rate for soak runs.
public struct FaultPlan: Sendable, Hashable {
    public struct Entry: Sendable, Hashable {
        public var target: SimTarget
        public var fault: SimProviderFault
        /// How many more matching requests this entry hits.
        public var remaining: Int

        public init(_ fault: SimProviderFault, target: SimTarget = .any, times: Int = 1) {
            self.fault = fault
            self.target = target
            self.remaining = times
        }
    }

    /// Consumed front to back: each request takes the first entry that matches it.
    public var queue: [Entry]
    /// Added to every response, faulty or not.
    public var latency: Duration
    /// Per mille of requests (0...1000) that get a random transient fault (429,
    /// 503, a dropped connection), decided by a hash of the request number so a
    /// run is repeatable.
    public var randomFaultPerMille: Int

    public init(_ queue: [Entry] = [], latency: Duration = .zero, randomFaultPerMille: Int = 0) {
        self.queue = queue
        self.latency = latency
        self.randomFaultPerMille = randomFaultPerMille
    }

    /// No faults at all.
    public static let none = FaultPlan()

    /// `fault` on the next `times` requests to `target`.
    public static func next(_ times: Int = 1, _ fault: SimProviderFault, target: SimTarget = .any) -> FaultPlan {
        FaultPlan([Entry(fault, target: target, times: times)])
    }

    /// The faults in order, each once, for `target`.
    public static func sequence(_ faults: [SimProviderFault], target: SimTarget = .any) -> FaultPlan {
        FaultPlan(faults.map { Entry($0, target: target) })
    }

    public mutating func append(_ fault: SimProviderFault, target: SimTarget = .any, times: Int = 1) {
        queue.append(Entry(fault, target: target, times: times))
    }

    /// Takes the fault for the next request of `provider`, if one is planned.
    mutating func take(for provider: Provider, names: Bool = false, requestNumber: Int, seed: UInt64) -> SimProviderFault? {
        if let i = queue.firstIndex(where: { entry in
            entry.remaining > 0 && entry.fault.applies(to: provider) && {
                switch entry.target {
                case .any: !names
                case .anthropic: !names && provider == .anthropic
                case .clickhouse: !names && provider == .clickhouse
                case .names: names
                }
            }()
        }) {
            let fault = queue[i].fault
            queue[i].remaining -= 1
            if queue[i].remaining <= 0 { queue.remove(at: i) }
            return fault
        }
        guard randomFaultPerMille > 0, !names else { return nil }
        let h = SimHash(seed).with("random-fault").with(requestNumber)
        guard h.below(1000) < randomFaultPerMille else { return nil }
        switch h.with("kind").below(4) {
        case 0: return .status(429, retryAfterSeconds: 1)
        case 1: return provider == .anthropic ? .status429WithAnthropicReset(secondsFromNow: 1) : .status(429)
        case 2: return .status(503)
        default: return .dropConnection
        }
    }
}
