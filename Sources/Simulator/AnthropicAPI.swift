import CostModel
import LoopbackHTTP

/// `GET /v1/organizations/cost_report`, as a pure function of the world.
enum AnthropicAPI {
    static let path = "/v1/organizations/cost_report"
    static let version = "2023-06-01"

    /// The org whose admin key the request carries.
    static func authenticate(_ request: ServerRequest, in world: SimulatorWorld) -> SimAnthropicOrg? {
        guard let key = request.header("x-api-key") else { return nil }
        return world.anthropicOrgs.first { $0.adminKey == key }
    }

    static func error(_ status: Int, _ type: String, _ message: String, requestID: String,
                      headers: [(name: String, value: String)] = []) -> ServerResponse {
        var j = JSONBytes(capacity: 160)
        j.raw("{\"type\":\"error\",\"error\":{\"type\":")
        j.string(type)
        j.raw(",\"message\":")
        j.string(message)
        j.raw("},\"request_id\":")
        j.string(requestID)
        j.raw("}")
        return ServerResponse(status: status, headers: [("content-type", "application/json"), ("request-id", requestID)] + headers, body: j.bytes)
    }

    /// The error `type` Anthropic uses for a status.
    static func errorType(for status: Int) -> String {
        switch status {
        case 400: "invalid_request_error"
        case 401: "authentication_error"
        case 402: "billing_error"
        case 403: "permission_error"
        case 404: "not_found_error"
        case 413: "request_too_large"
        case 429: "rate_limit_error"
        case 504: "timeout_error"
        case 529: "overloaded_error"
        default: "api_error"
        }
    }

    static func pageToken(_ day: Day) -> String { "page_" + Base64.encode(day.startTimestamp) }

    static func day(fromPageToken token: String) -> Day? {
        guard token.hasPrefix("page_"), let text = Base64.decode(token.dropFirst(5)),
              let t = Timestamp(rfc3339: text) else { return nil }
        return t.day
    }

    /// Validates the query and renders the page, or the error the real API would give.
    static func respond(to request: ServerRequest, org: SimAnthropicOrg, world: SimulatorWorld, requestID: String,
                        repeatPageToken: Bool, emptyAnswer: Bool = false, missingDay: Day? = nil) -> ServerResponse {
        func invalid(_ message: String) -> ServerResponse { error(400, "invalid_request_error", message, requestID: requestID) }
        guard request.header("anthropic-version") == version else {
            return invalid("anthropic-version: header is required and must be \(version)")
        }
        guard let startText = request.queryValue("starting_at") else { return invalid("starting_at: Field required") }
        guard let starting = Timestamp(rfc3339: startText) else {
            return invalid("starting_at: Input should be a valid datetime")
        }
        var limit = 7
        if let text = request.queryValue("limit") {
            guard let n = Int(text), (1...31).contains(n) else {
                return invalid("limit: Input should be an integer between 1 and 31")
            }
            limit = n
        }
        if let width = request.queryValue("bucket_width"), width != "1d" {
            return invalid("bucket_width: Input should be '1d'")
        }
        var byWorkspace = false
        var byDescription = false
        for g in request.queryValues("group_by[]") + request.queryValues("group_by") {
            switch g {
            case "workspace_id": byWorkspace = true
            case "description": byDescription = true
            default: return invalid("group_by[]: Input should be 'workspace_id' or 'description'")
            }
        }
        // Buckets that start before `ending_at` (exclusive); never beyond today,
        // whose bucket is returned as a partial day.
        var end = world.today.advanced(by: 1)
        if let text = request.queryValue("ending_at") {
            guard let ending = Timestamp(rfc3339: text) else { return invalid("ending_at: Input should be a valid datetime") }
            guard ending > starting else { return invalid("ending_at must be after starting_at") }
            end = min(end, Day(secondsSinceEpoch: ending.secondsSinceEpoch - 1).advanced(by: 1))
        }
        var start = starting.day
        let page = request.queryValue("page")
        if let page {
            guard let day = day(fromPageToken: page) else { return invalid("page: invalid page token") }
            start = day
        }
        let stop = start.advanced(by: limit) < end ? start.advanced(by: limit) : max(start, end)
        let hasMore = stop < end
        let nextPage: String? = repeatPageToken ? (page ?? pageToken(start)) : hasMore ? pageToken(stop) : nil

        let catalog = AnthropicCatalog(world: world, org: org)
        let days = (start < stop ? Array(start..<stop) : []).filter { $0 != missingDay }
        let lines = days.map { emptyAnswer ? [] : world.anthropicDayLines(catalog, org: org, day: $0) }
        let totalLines = lines.reduce(0) { $0 + $1.count }
        var j = JSONBytes(capacity: 64 + days.count * 96 + totalLines * 380)
        j.raw("{\"data\":[")
        let tails = byWorkspace && byDescription ? catalog.renderedTails() : []
        for (k, day) in days.enumerated() {
            if k > 0 { j.byte(UInt8(ascii: ",")) }
            j.raw("{\"starting_at\":\"")
            j.raw(Array(day.startTimestamp.utf8))
            j.raw("\",\"ending_at\":\"")
            j.raw(Array(day.advanced(by: 1).startTimestamp.utf8))
            j.raw("\",\"results\":[")
            if byWorkspace && byDescription {
                for (i, l) in lines[k].enumerated() {
                    if i > 0 { j.byte(UInt8(ascii: ",")) }
                    j.raw("{\"currency\":\"USD\",\"amount\":\"")
                    SimDecimal.appendFixed(l.microCents, scale: 6, digits: l.digits, to: &j.bytes)
                    j.byte(UInt8(ascii: "\""))
                    j.raw(tails[l.line])
                }
            } else {
                catalog.renderGrouped(lines[k], byWorkspace: byWorkspace, byDescription: byDescription, into: &j)
            }
            j.raw("]}")
        }
        j.raw("],\"has_more\":")
        j.raw(hasMore || repeatPageToken ? "true" : "false")
        j.raw(",\"next_page\":")
        j.stringOrNull(nextPage)
        j.raw("}")
        return ServerResponse(status: 200, headers: [("content-type", "application/json"), ("request-id", requestID)], body: j.bytes)
    }
}

extension AnthropicCatalog {
    /// Everything of each line's JSON object after its amount, rendered once
    /// per request rather than once per day.
    func renderedTails() -> [[UInt8]] {
        let quotedWorkspaces = workspaceIDs.map { id -> [UInt8] in id.map(JSONBytes.quoted) ?? Array("null".utf8) }
        return lines.map { line in
            let p = AnthropicProduct.all[line.product]
            var j = JSONBytes(capacity: 300)
            j.raw(",\"workspace_id\":")
            j.raw(quotedWorkspaces[line.workspace])
            appendDimensions(p, geo: AnthropicProduct.geos[line.geo], geoAbsent: line.geoAbsent, into: &j)
            j.byte(UInt8(ascii: "}"))
            return j.bytes
        }
    }

    private func appendDimensions(_ p: AnthropicProduct?, geo: String?, geoAbsent: Bool, into j: inout JSONBytes) {
        j.raw(",\"description\":")
        j.stringOrNull(p?.description)
        j.raw(",\"cost_type\":")
        j.stringOrNull(p?.costType)
        j.raw(",\"context_window\":")
        j.stringOrNull(p?.contextWindow)
        j.raw(",\"model\":")
        j.stringOrNull(p?.model)
        j.raw(",\"service_tier\":")
        j.stringOrNull(p?.serviceTier)
        j.raw(",\"token_type\":")
        j.stringOrNull(p?.tokenType)
        if !geoAbsent {
            j.raw(",\"inference_geo\":")
            j.stringOrNull(geo)
        }
    }

    /// One result per group, amounts summed exactly, in order of first
    /// appearance; the dimensions not grouped by are null.
    func renderGrouped(_ dayLines: [AnthropicDayLine], byWorkspace: Bool, byDescription: Bool, into j: inout JSONBytes) {
        var order: [Int] = []
        var sums: [Int: Int64] = [:]
        var sample: [Int: AnthropicCatalogLine] = [:]
        let perWorkspace = AnthropicProduct.all.count * AnthropicProduct.geos.count
        for l in dayLines {
            let line = lines[l.line]
            let key = (byWorkspace ? line.workspace * perWorkspace : 0)
                + (byDescription ? line.product * AnthropicProduct.geos.count + line.geo : 0)
            if sums[key] == nil {
                order.append(key)
                sample[key] = line
            }
            sums[key, default: 0] += l.microCents
        }
        for (i, key) in order.enumerated() {
            guard let micro = sums[key], let line = sample[key] else { continue }
            if i > 0 { j.byte(UInt8(ascii: ",")) }
            j.raw("{\"currency\":\"USD\",\"amount\":\"")
            SimDecimal.appendMinimal(micro, scale: 6, to: &j.bytes)
            j.raw("\",\"workspace_id\":")
            j.stringOrNull(byWorkspace ? workspaceIDs[line.workspace] : nil)
            appendDimensions(byDescription ? AnthropicProduct.all[line.product] : nil,
                             geo: byDescription ? AnthropicProduct.geos[line.geo] : nil, geoAbsent: false, into: &j)
            j.byte(UInt8(ascii: "}"))
        }
    }
}
