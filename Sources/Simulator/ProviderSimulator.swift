import CostModel
import LoopbackHTTP
import Synchronization

/// One request the simulator answered, for tests to assert on. Never holds a
/// credential: the org is named, not its key.
public struct RecordedRequest: Sendable {
    public var method: String
    public var path: String
    public var query: [(name: String, value: String)]
    /// Nil for a path that is neither API.
    public var provider: Provider?
    /// The org the credentials belong to; nil when they matched none.
    public var org: String?
    /// The status sent; 0 when the connection was dropped without a response.
    public var status: Int
    /// The planned fault this request got, if any.
    public var fault: SimProviderFault?
    /// Anthropic's `request-id` or ClickHouse's `requestId`.
    public var requestID: String
    /// Which endpoint; nil for a path that is neither API.
    public var endpoint: SimEndpoint?

    /// A request for costs (not names).
    public var isCostRequest: Bool { endpoint?.isCostReport == true }

    public func queryValue(_ name: String) -> String? { query.first { $0.name == name }?.value }
}

/// Both provider APIs on one loopback port, serving a `SimulatorWorld` that a
/// test can change while it runs (restate days, move `today`) and misbehaving
/// on request through a `FaultPlan`.
/// The endpoints the simulator serves.
public enum SimEndpoint: Sendable, Hashable {
    case anthropicCostReport, anthropicOrganization, anthropicWorkspaces
    case clickhouseUsageCost, clickhouseServices

    init?(path: String) {
        switch path {
        case AnthropicAPI.path: self = .anthropicCostReport
        case NamesAPI.mePath: self = .anthropicOrganization
        case NamesAPI.workspacesPath: self = .anthropicWorkspaces
        default:
            if ClickHouseAPI.organizationID(inPath: path) != nil {
                self = .clickhouseUsageCost
            } else if NamesAPI.organizationID(inServicesPath: path) != nil {
                self = .clickhouseServices
            } else {
                return nil
            }
        }
    }

    public var provider: Provider {
        switch self {
        case .anthropicCostReport, .anthropicOrganization, .anthropicWorkspaces: .anthropic
        case .clickhouseUsageCost, .clickhouseServices: .clickhouse
        }
    }

    public var isCostReport: Bool { self == .anthropicCostReport || self == .clickhouseUsageCost }
}

public final class ProviderSimulator: Sendable {
    private struct State {
        var world: SimulatorWorld
        var faults = FaultPlan()
        var requests: [RecordedRequest] = []
        var requestCount = 0
        /// ClickHouse's advertised rate-limit window per key: informational
        /// headers only, never enforced (tests plan 429s explicitly).
        var windows: [String: (start: ContinuousClock.Instant, count: Int)] = [:]
        /// A limit the server enforces, counted by arrival in a sliding window per key.
        var enforced: (limit: Int, window: Duration)?
        var arrivals: [String: [ContinuousClock.Instant]] = [:]
    }

    /// Beyond this many, the oldest recorded requests are dropped, so a
    /// long-running `costsync-sim` does not grow without bound.
    public static let maxRecordedRequests = 50_000

    private let state: Mutex<State>
    private let server: ServerBox
    /// "Now" for the absolute times the simulator sends (Anthropic's reset
    /// header): the same instant the costsync under test takes as now.
    private let clock: WallClock

    public var baseURL: String { server.value?.baseURL ?? "" }
    public var port: Int { server.value?.port ?? 0 }

    private init(world: SimulatorWorld, clock: WallClock) {
        state = Mutex(State(world: world))
        server = ServerBox()
        self.clock = clock
    }

    /// `tls`: serve HTTPS with this PEM certificate and key instead of HTTP.
    public static func start(world: SimulatorWorld, clock: WallClock = .system, host: String = "127.0.0.1",
                             port: Int = 0, tls: (certificateFile: String, keyFile: String)? = nil) async throws -> ProviderSimulator {
        let simulator = ProviderSimulator(world: world, clock: clock)
        let server = try await HTTPServer.start(host: host, port: port, tls: tls) { [weak simulator] request in
            guard let simulator else { return .json(503, "{\"error\":\"simulator stopped\"}") }
            return simulator.handle(request)
        }
        simulator.server.set(server)
        return simulator
    }

    /// The world as it is now: what tests compute their expectations from.
    public var world: SimulatorWorld { state.withLock { $0.world } }

    /// Changes the world for every later request. Days that age out of the
    /// recent window keep the revision they last showed.
    public func update(_ change: @Sendable (inout SimulatorWorld) -> Void) {
        state.withLock { s in
            let before = s.world
            change(&s.world)
            s.world.ageingFrom(before)
        }
    }

    public func setFaults(_ faults: FaultPlan) { state.withLock { $0.faults = faults } }

    /// Appends to the planned faults rather than replacing them.
    public func addFaults(_ faults: FaultPlan) {
        state.withLock { s in
            s.faults.queue += faults.queue
            if faults.latency != .zero { s.faults.latency = faults.latency }
            if faults.randomFaultPerMille != 0 { s.faults.randomFaultPerMille = faults.randomFaultPerMille }
        }
    }

    public var faults: FaultPlan { state.withLock { $0.faults } }

    /// Makes the ClickHouse API answer 429 to any request that arrives when
    /// `limit` requests of its key already arrived in the last `window`, as a
    /// server counting a sliding window by arrival would; nil turns it off.
    public func enforceClickHouseRateLimit(_ limit: Int?, per window: Duration = .seconds(10)) {
        state.withLock { s in
            s.enforced = limit.map { ($0, window) }
            s.arrivals.removeAll()
        }
    }

    public var requests: [RecordedRequest] { state.withLock { $0.requests } }

    /// The cost requests only: what a sync's plan is about (names requests left out).
    public var costRequests: [RecordedRequest] { requests.filter(\.isCostRequest) }

    public func resetRequests() { state.withLock { $0.requests.removeAll() } }

    public func shutdown() async throws {
        try await server.value?.shutdown()
    }

    // MARK: - Serving

    private func handle(_ request: ServerRequest) -> ServerResponse {
        let endpoint = SimEndpoint(path: request.path)
        let provider = endpoint?.provider
        let names = endpoint.map { !$0.isCostReport } ?? false
        let arrival = ContinuousClock.now
        let (world, number, fault, latency) = state.withLock { s in
            s.requestCount += 1
            var fault = provider.flatMap { s.faults.take(for: $0, names: names, requestNumber: s.requestCount, seed: s.world.seed) }
            if provider == .clickhouse, let (limit, window) = s.enforced {
                let key = request.header("authorization") ?? ""
                var recent = (s.arrivals[key] ?? []).filter { arrival - $0 < window }
                // Every arrival counts, refused ones too, as a server's counter would.
                if recent.count >= limit { fault = .status(429) }
                recent.append(arrival)
                s.arrivals[key] = recent
            }
            return (s.world, s.requestCount, fault, s.faults.latency)
        }
        var (response, org, requestID) = respond(to: request, endpoint: endpoint, world: world, number: number, fault: fault)
        var delay = latency
        if case .latency(let extra) = fault { delay += extra }
        if delay > .zero { response.fault = .delay(delay) }
        if case .dropConnection = fault { response.fault = .dropConnection }
        if case .truncatedBody = fault, response.status == 200 {
            response.fault = .truncateBody(afterBytes: response.body.count / 2)
        }
        if case .truncatedJSON = fault, response.status == 200 {
            response.body.removeLast(response.body.count - response.body.count / 2)
        }
        let record = RecordedRequest(
            method: request.method, path: request.path, query: request.query, provider: provider, org: org,
            status: response.fault == .dropConnection ? 0 : response.status, fault: fault, requestID: requestID,
            endpoint: endpoint)
        state.withLock { s in
            if s.requests.count >= ProviderSimulator.maxRecordedRequests { s.requests.removeFirst(s.requests.count / 10) }
            s.requests.append(record)
        }
        return response
    }

    private func respond(to request: ServerRequest, endpoint: SimEndpoint?, world: SimulatorWorld, number: Int,
                         fault: SimProviderFault?) -> (ServerResponse, String?, String) {
        switch endpoint?.provider {
        case .anthropic:
            let requestID = "req_sim_" + String(number)
            let org = AnthropicAPI.authenticate(request, in: world)
            if let planned = statusFault(fault) {
                return (AnthropicAPI.error(planned.status, AnthropicAPI.errorType(for: planned.status),
                                           planned.message, requestID: requestID, headers: planned.headers), org?.name, requestID)
            }
            guard request.method == "GET" else {
                return (AnthropicAPI.error(405, "invalid_request_error", "method not allowed", requestID: requestID), org?.name, requestID)
            }
            guard let org else {
                return (AnthropicAPI.error(401, "authentication_error", "invalid x-api-key", requestID: requestID), nil, requestID)
            }
            if case .errorInside200(let status) = fault {
                return (AnthropicAPI.error(200, AnthropicAPI.errorType(for: status), "Simulated \(status) error, inside a 200",
                                           requestID: requestID), org.name, requestID)
            }
            if endpoint == .anthropicOrganization { return (NamesAPI.me(org: org, world: world, requestID: requestID), org.name, requestID) }
            if endpoint == .anthropicWorkspaces {
                return (NamesAPI.workspaces(request, org: org, world: world, requestID: requestID), org.name, requestID)
            }
            var missingDay: Day?
            if case .missingBucket(let day) = fault { missingDay = day }
            let response = AnthropicAPI.respond(to: request, org: org, world: world, requestID: requestID,
                                                repeatPageToken: fault == .repeatPageToken,
                                                emptyAnswer: fault == .emptyAnswer, missingDay: missingDay)
            return (response, org.name, requestID)

        case .clickhouse:
            let requestID = SimIdentifiers.uuid(world.root.with("request-id").with(number))
            let auth = ClickHouseAPI.authenticate(request, in: world)
            var org: SimClickHouseOrg?
            if case .ok(let o) = auth { org = o }
            let rateHeaders = rateLimitHeaders(key: org?.keyID ?? "")
            if let planned = statusFault(fault) {
                return (ClickHouseAPI.error(planned.status, "\(ClickHouseAPI.code(for: planned.status)): \(planned.message)",
                                            requestID: requestID, headers: rateHeaders + planned.headers), org?.name, requestID)
            }
            switch auth {
            case .missing:
                return (ClickHouseAPI.error(401, "UNAUTHORIZED: No Authorization header provided.", requestID: requestID), nil, requestID)
            case .invalid:
                return (ClickHouseAPI.error(401, "UNAUTHORIZED: Invalid API key or secret.", requestID: requestID), nil, requestID)
            case .ok(let org):
                let pathID = endpoint == .clickhouseServices
                    ? NamesAPI.organizationID(inServicesPath: request.path) : ClickHouseAPI.organizationID(inPath: request.path)
                guard pathID == org.organizationID else {
                    return (ClickHouseAPI.error(403, "FORBIDDEN: The API key does not have access to this organization.",
                                                requestID: requestID, headers: rateHeaders), org.name, requestID)
                }
                guard request.method == "GET" else {
                    return (ClickHouseAPI.error(405, "METHOD_NOT_ALLOWED: \(request.method)", requestID: requestID), org.name, requestID)
                }
                if case .errorInside200(let status) = fault {
                    var envelope = ClickHouseAPI.error(status, "\(ClickHouseAPI.code(for: status)): simulated, inside a 200",
                                                       requestID: requestID, headers: rateHeaders)
                    envelope.status = 200
                    return (envelope, org.name, requestID)
                }
                if endpoint == .clickhouseServices {
                    return (NamesAPI.services(org: org, world: world, requestID: requestID, headers: rateHeaders), org.name, requestID)
                }
                let response = ClickHouseAPI.respond(to: request, org: org, world: world, requestID: requestID,
                                                     grandTotalMismatch: fault == .grandTotalMismatch,
                                                     emptyAnswer: fault == .emptyAnswer, headers: rateHeaders)
                return (response, org.name, requestID)
            }

        case nil:
            var j = JSONBytes(capacity: 96)
            j.raw("{\"error\":")
            j.string("no such endpoint in the costsync simulator: \(request.path)")
            j.raw("}")
            return (ServerResponse(status: 404, headers: [("content-type", "application/json")], body: j.bytes), nil, "")
        }
    }

    private struct StatusFault {
        var status: Int
        var message: String
        var headers: [(name: String, value: String)]
    }

    private func statusFault(_ fault: SimProviderFault?) -> StatusFault? {
        switch fault {
        case .status(let status, let retryAfter):
            let message = status == 429 ? "Rate limit exceeded (simulated)" : status == 529 ? "Overloaded (simulated)" : "Simulated server error"
            return StatusFault(status: status, message: message, headers: retryAfter.map { [("retry-after", String($0))] } ?? [])
        case .status429WithAnthropicReset(let seconds):
            // An absolute instant, which the client compares with its own clock.
            let reset = clock.now.adding(seconds: Int64(seconds))
            return StatusFault(status: 429, message: "Rate limit exceeded (simulated)", headers: [
                ("anthropic-ratelimit-requests-limit", "50"),
                ("anthropic-ratelimit-requests-remaining", "0"),
                ("anthropic-ratelimit-requests-reset", reset.description),
            ])
        default:
            return nil
        }
    }

    private func rateLimitHeaders(key: String) -> [(name: String, value: String)] {
        let now = ContinuousClock.now
        let used = state.withLock { s -> Int in
            var w = s.windows[key] ?? (now, 0)
            if now - w.start >= .seconds(10) { w = (now, 0) }
            w.count += 1
            s.windows[key] = w
            return w.count
        }
        return [("X-RateLimit-Limit", "40"), ("X-RateLimit-Remaining", String(max(0, 40 - used))), ("X-RateLimit-Reset", "10")]
    }
}

/// The server, set once right after it starts: the handler must exist before
/// the server, and the simulator must exist before the handler.
private final class ServerBox: Sendable {
    private let server = Mutex<HTTPServer?>(nil)
    var value: HTTPServer? { server.withLock { $0 } }
    func set(_ s: HTTPServer) { server.withLock { $0 = s } }
}
