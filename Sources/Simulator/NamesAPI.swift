import CostModel
import LoopbackHTTP

/// A workspace as the simulated Admin API lists it.
public struct SimWorkspace: Sendable, Hashable {
    public var id: String
    public var name: String
    public var isDefault: Bool
    public var archivedAt: String?
}

/// A service as the simulated Cloud API lists it.
public struct SimService: Sendable, Hashable {
    public var id: String
    public var name: String
    public var dataWarehouseID: String
    public var isPrimary: Bool
}

extension SimulatorWorld {
    static let workspaceNames = ["Research", "Production", "Support bot", "Evals", "Data pipeline", "Sandbox", "Marketing", "Agents"]

    /// Every workspace of an Anthropic org, the default one first; a rename
    /// in `renamedWorkspaces` shows at once. The last named one is archived
    /// (old costs still point at it).
    public func anthropicWorkspaces(org name: String) -> [SimWorkspace] {
        guard let org = anthropicOrg(named: name) else { return [] }
        let ids = AnthropicCatalog(world: self, org: org).workspaceIDs
        return ids.enumerated().map { i, id in
            guard let id else {
                return SimWorkspace(id: "default", name: renamedWorkspaces["default"] ?? "Default Workspace", isDefault: true)
            }
            let base = SimulatorWorld.workspaceNames[(i - 1) % SimulatorWorld.workspaceNames.count]
            let named = i <= SimulatorWorld.workspaceNames.count ? base : "\(base) \(i)"
            return SimWorkspace(id: id, name: renamedWorkspaces[id] ?? named, isDefault: false,
                                archivedAt: i == ids.count - 1 && i > 1 ? "2025-01-31T12:00:00Z" : nil)
        }
    }

    /// Every service of a ClickHouse org; the first is its warehouse's primary.
    public func clickhouseServices(org name: String) -> [SimService] {
        guard let org = clickhouseOrg(named: name) else { return [] }
        let e = ClickHouseEntities(world: self, org: org)
        return e.services.enumerated().map { i, s in
            SimService(id: s.id, name: s.name, dataWarehouseID: e.dataWarehouseID, isPrimary: i == 0)
        }
    }
}

/// `GET /v1/organizations/me`, `GET /v1/organizations/workspaces` and
/// `GET /v1/organizations/{id}/services`.
enum NamesAPI {
    static let mePath = "/v1/organizations/me"
    static let workspacesPath = "/v1/organizations/workspaces"

    static func organizationID(inServicesPath path: String) -> String? {
        let prefix = "/v1/organizations/"
        let suffix = "/services"
        guard path.hasPrefix(prefix), path.hasSuffix(suffix), path.utf8.count > prefix.utf8.count + suffix.utf8.count else { return nil }
        let id = path.dropFirst(prefix.count).dropLast(suffix.count)
        return id.contains("/") ? nil : String(id)
    }

    static func me(org: SimAnthropicOrg, world: SimulatorWorld, requestID: String) -> ServerResponse {
        var j = JSONBytes(capacity: 160)
        j.raw("{\"id\":")
        j.string(SimIdentifiers.uuid(world.root.with("anthropic-organization").with(org.name)))
        j.raw(",\"type\":\"organization\",\"name\":")
        j.string("\(org.name) (Anthropic)")
        j.raw("}")
        return ServerResponse(status: 200, headers: [("content-type", "application/json"), ("request-id", requestID)], body: j.bytes)
    }

    static func workspaces(_ request: ServerRequest, org: SimAnthropicOrg, world: SimulatorWorld, requestID: String) -> ServerResponse {
        var limit = 20
        if let text = request.queryValue("limit") {
            guard let n = Int(text), (1...1000).contains(n) else {
                return AnthropicAPI.error(400, "invalid_request_error", "limit: Input should be between 1 and 1000", requestID: requestID)
            }
            limit = n
        }
        let archived = request.queryValue("include_archived") == "true"
        let withDefault = request.queryValue("include_default") == "true"
        var all = world.anthropicWorkspaces(org: org.name).filter { (archived || $0.archivedAt == nil) && (withDefault || !$0.isDefault) }
        if let after = request.queryValue("after_id") {
            guard let i = all.firstIndex(where: { $0.id == after }) else {
                return AnthropicAPI.error(400, "invalid_request_error", "after_id: no such workspace", requestID: requestID)
            }
            all = Array(all[(i + 1)...])
        }
        let page = all.prefix(limit)
        var j = JSONBytes(capacity: 256 + page.count * 200)
        j.raw("{\"data\":[")
        for (i, w) in page.enumerated() {
            if i > 0 { j.byte(UInt8(ascii: ",")) }
            j.raw("{\"type\":\"workspace\",\"id\":")
            j.string(w.id)
            j.raw(",\"name\":")
            j.string(w.name)
            j.raw(",\"created_at\":\"2024-10-30T23:58:27.427722Z\",\"archived_at\":")
            j.stringOrNull(w.archivedAt)
            j.raw(",\"display_color\":\"#6C5BB9\",\"data_residency\":{\"workspace_geo\":\"us\"}}")
        }
        j.raw("],\"has_more\":")
        j.raw(all.count > limit ? "true" : "false")
        j.raw(",\"first_id\":")
        j.stringOrNull(page.first?.id)
        j.raw(",\"last_id\":")
        j.stringOrNull(page.last?.id)
        j.raw("}")
        return ServerResponse(status: 200, headers: [("content-type", "application/json"), ("request-id", requestID)], body: j.bytes)
    }

    static func services(org: SimClickHouseOrg, world: SimulatorWorld, requestID: String,
                         headers: [(name: String, value: String)]) -> ServerResponse {
        let services = world.clickhouseServices(org: org.name)
        var j = JSONBytes(capacity: 256 + services.count * 300)
        j.raw("{\"status\":200,\"requestId\":")
        j.string(requestID)
        j.raw(",\"result\":[")
        for (i, s) in services.enumerated() {
            if i > 0 { j.byte(UInt8(ascii: ",")) }
            j.raw("{\"id\":")
            j.string(s.id)
            j.raw(",\"name\":")
            j.string(s.name)
            j.raw(",\"provider\":\"aws\",\"region\":\"us-east-1\",\"state\":\"running\",\"dataWarehouseId\":")
            j.string(s.dataWarehouseID)
            j.raw(",\"isPrimary\":")
            j.raw(s.isPrimary ? "true" : "false")
            j.raw(",\"tags\":[{\"key\":\"team\",\"value\":\"data\"}]}")
        }
        j.raw("]}")
        return ServerResponse(status: 200, headers: [("content-type", "application/json")] + headers, body: j.bytes)
    }
}
