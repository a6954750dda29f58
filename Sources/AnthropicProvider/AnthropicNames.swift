import CostModel
import JSONScanner
import ProviderHTTP

/// The organization behind the Admin key and its workspaces: FOCUS's billing
/// account and the `scope_name` of Anthropic rows.
extension AnthropicClient: NameSource {
    static let mePath = "/v1/organizations/me"
    static let workspacesPath = "/v1/organizations/workspaces"
    /// The API's largest page.
    static let workspacePageLimit = 1000

    public var creditPrice: Money? { nil }

    public func account() async throws -> ProviderAccount {
        try await transport.get(AnthropicClient.mePath, retry: .names) { response throws(ProviderError) in
            do throws(PageDecodingError) {
                return try response.withBody { bytes throws(PageDecodingError) in try AnthropicNamesDecoding.organization(bytes) }
            } catch {
                throw transport.error(decoding: error, of: response)
            }
        }
    }

    /// Every workspace, archived ones and the default one included, page by
    /// page (`after_id` = the previous page's `last_id`).
    public func names() async throws -> OrgNames {
        var all: [WorkspaceInfo] = []
        var after: String?
        var seen: Set<String> = []
        // Far more pages than a 1000-a-page listing could need means the API is not moving on.
        for _ in 0..<1000 {
            var query: [(name: String, value: String)] = [
                ("limit", String(AnthropicClient.workspacePageLimit)),
                ("include_archived", "true"),
                ("include_default", "true"),
            ]
            if let after { query.append(("after_id", after)) }
            let page = try await transport.get(AnthropicClient.workspacesPath, query: query, retry: .names) { response throws(ProviderError) in
                do throws(PageDecodingError) {
                    return try response.withBody { bytes throws(PageDecodingError) in try AnthropicNamesDecoding.workspaces(bytes) }
                } catch {
                    throw transport.error(decoding: error, of: response)
                }
            }
            all += page.workspaces
            guard page.hasMore else { return .workspaces(all) }
            guard let last = page.lastID, seen.insert(last).inserted else {
                throw transport.makeError(.dataMismatch, endpoint: AnthropicClient.workspacesPath,
                                          detail: "has_more without a new last_id; stopped paging")
            }
            after = last
        }
        throw transport.makeError(.dataMismatch, endpoint: AnthropicClient.workspacesPath, detail: "more than 1000 pages of workspaces; stopped")
    }
}

enum AnthropicNamesDecoding {
    struct WorkspacePage {
        var workspaces: [WorkspaceInfo] = []
        var hasMore = false
        var lastID: String?
    }

    static func organization(_ bytes: UnsafeBufferPointer<UInt8>) throws(PageDecodingError) -> ProviderAccount {
        var s = JSONScanner(bytes)
        var id: String?
        var name: String?
        do throws(JSONError) {
            try s.beginObject()
            while let key = try s.nextKey() {
                if key == "id" { id = try s.readStringOrNull() } else if key == "name" { name = try s.readStringOrNull() } else { try s.skipValue() }
            }
            try s.expectEnd()
        } catch {
            throw PageDecodingError(.malformed, "organization: \(error)", offset: error.offset)
        }
        guard let id, !id.isEmpty else { throw PageDecodingError(.malformed, "organization: no \"id\"") }
        return ProviderAccount(id: id, name: name ?? id)
    }

    static func workspaces(_ bytes: UnsafeBufferPointer<UInt8>) throws(PageDecodingError) -> WorkspacePage {
        var s = JSONScanner(bytes)
        var page = WorkspacePage()
        do {
            try s.beginObject()
            while let key = try s.nextKey() {
                if key == "data" {
                    try s.beginArray()
                    while try s.nextElement() {
                        guard let w = try workspace(&s) else {
                            throw PageDecodingError(.malformed, "workspaces: a workspace without \"id\"", offset: s.position)
                        }
                        page.workspaces.append(w)
                    }
                } else if key == "has_more" {
                    page.hasMore = try s.readBool()
                } else if key == "last_id" {
                    page.lastID = try s.readStringOrNull()
                } else {
                    try s.skipValue()
                }
            }
            try s.expectEnd()
        } catch let error as PageDecodingError {
            throw error
        } catch let error as JSONError {
            throw PageDecodingError(.malformed, "workspaces: \(error)", offset: error.offset)
        } catch {
            throw PageDecodingError(.malformed, "workspaces: \(error)")
        }
        return page
    }

    /// A workspace object. The default workspace is the one marked
    /// `is_default`, or (as cost rows have no id for it) the one whose id is `default`.
    private static func workspace(_ s: inout JSONScanner) throws(JSONError) -> WorkspaceInfo? {
        var id: String?
        var name: String?
        var archived: String?
        var isDefault = false
        try s.beginObject()
        while let key = try s.nextKey() {
            if key == "id" {
                id = try s.readStringOrNull()
            } else if key == "name" {
                name = try s.readStringOrNull()
            } else if key == "archived_at" {
                archived = try s.readStringOrNull()
            } else if key == "is_default", try s.peekKind() == .bool {
                isDefault = try s.readBool()
            } else {
                try s.skipValue()
            }
        }
        guard let id, !id.isEmpty else { return nil }
        return WorkspaceInfo(id: id, name: name ?? id, isDefault: isDefault || id == "default", archivedAt: archived)
    }
}
