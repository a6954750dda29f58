import CostModel
import LoopbackHTTP

/// `GET /v1/organizations/{organizationId}/usageCost`, as a pure function of the world.
enum ClickHouseAPI {
    /// The organization id in a usageCost path, or nil for any other path.
    static func organizationID(inPath path: String) -> String? {
        let prefix = "/v1/organizations/"
        let suffix = "/usageCost"
        guard path.hasPrefix(prefix), path.hasSuffix(suffix), path.utf8.count > prefix.utf8.count + suffix.utf8.count else { return nil }
        let id = path.dropFirst(prefix.count).dropLast(suffix.count)
        return id.contains("/") ? nil : String(id)
    }

    enum Auth {
        case missing
        case invalid
        case ok(SimClickHouseOrg)
    }

    /// HTTP Basic with the key ID as user and the key secret as password.
    static func authenticate(_ request: ServerRequest, in world: SimulatorWorld) -> Auth {
        guard let header = request.header("authorization") else { return .missing }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic", let pair = Base64.decode(parts[1]),
              let colon = pair.firstIndex(of: ":") else { return .invalid }
        let id = pair[..<colon]
        let secret = pair[pair.index(after: colon)...]
        guard let org = world.clickhouseOrgs.first(where: { $0.keyID == id && $0.keySecret == secret }) else { return .invalid }
        return .ok(org)
    }

    static func error(_ status: Int, _ message: String, requestID: String, headers: [(name: String, value: String)] = []) -> ServerResponse {
        var j = JSONBytes(capacity: 128)
        j.raw("{\"status\":")
        j.int(Int64(status))
        j.raw(",\"requestId\":")
        j.string(requestID)
        j.raw(",\"error\":")
        j.string(message)
        j.raw("}")
        return ServerResponse(status: status, headers: [("content-type", "application/json")] + headers, body: j.bytes)
    }

    static func code(for status: Int) -> String {
        switch status {
        case 400: "BAD_REQUEST"
        case 401: "UNAUTHORIZED"
        case 403: "FORBIDDEN"
        case 404: "NOT_FOUND"
        case 429: "TOO_MANY_REQUESTS"
        case 503: "SERVICE_UNAVAILABLE"
        default: "INTERNAL_SERVER_ERROR"
        }
    }

    static func respond(to request: ServerRequest, org: SimClickHouseOrg, world: SimulatorWorld, requestID: String,
                        grandTotalMismatch: Bool, emptyAnswer: Bool = false,
                        headers: [(name: String, value: String)]) -> ServerResponse {
        func bad(_ message: String) -> ServerResponse { error(400, "BAD_REQUEST: \(message)", requestID: requestID, headers: headers) }
        guard let fromText = request.queryValue("from_date") else { return bad("from_date is required") }
        guard let toText = request.queryValue("to_date") else { return bad("to_date is required") }
        guard let from = Day(fromText) else { return bad("from_date must be a date in the format YYYY-MM-DD") }
        guard let to = Day(toText) else { return bad("to_date must be a date in the format YYYY-MM-DD") }
        guard from <= to else { return bad("to_date must not be before from_date") }
        guard from.distance(to: to) <= 30 else { return bad("to_date cannot be more than 30 days after from_date") }

        let entities = ClickHouseEntities(world: world, org: org)
        var records: [SimClickHouseRecord] = []
        for day in DayRange(from, to) where day <= world.today && !emptyAnswer {
            records += world.clickhouseRecords(entities, org: org, day: day)
        }
        var grand = records.reduce(Int64(0)) { $0 + $1.totalPicoCHC }
        if grandTotalMismatch { grand += ClickHouseEntities.credit }

        var j = JSONBytes(capacity: 256 + records.count * 520)
        j.raw("{\"status\":200,\"requestId\":")
        j.string(requestID)
        j.raw(",\"result\":{\"grandTotalCHC\":")
        SimDecimal.appendMinimal(grand, scale: 12, to: &j.bytes)
        j.raw(",\"costs\":[")
        for (i, r) in records.enumerated() {
            if i > 0 { j.byte(UInt8(ascii: ",")) }
            j.raw("{\"dataWarehouseId\":")
            j.string(r.dataWarehouseID)
            j.raw(",\"serviceId\":")
            j.stringOrNull(r.serviceID)
            j.raw(",\"date\":")
            j.string(r.date.description)
            j.raw(",\"entityType\":")
            j.string(r.entityType)
            j.raw(",\"entityId\":")
            j.string(r.entityID)
            j.raw(",\"entityName\":")
            j.string(r.entityName)
            j.raw(",\"metrics\":{")
            for (k, m) in r.metrics.enumerated() {
                if k > 0 { j.byte(UInt8(ascii: ",")) }
                j.string(m.name)
                j.byte(UInt8(ascii: ":"))
                SimDecimal.appendMinimal(m.picoCHC, scale: 12, to: &j.bytes)
            }
            j.raw("},\"totalCHC\":")
            SimDecimal.appendMinimal(r.totalPicoCHC, scale: 12, to: &j.bytes)
            j.raw(",\"locked\":")
            j.raw(r.locked ? "true" : "false")
            // Fields the spec does not list but live responses carry.
            j.raw(",\"organizationTier\":\"SCALE\",\"discount\":1}")
        }
        j.raw("]}}")
        return ServerResponse(status: 200, headers: [("content-type", "application/json")] + headers, body: j.bytes)
    }
}
