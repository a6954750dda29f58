import CostModel
import JSONScanner
import ProviderHTTP

/// The organization's services: what names a data warehouse (its primary
/// service) in FOCUS's `SubAccountName`. The request counts against the same
/// 10-per-10 s limiter as the cost requests.
extension ClickHouseClient: NameSource {
    var servicesPath: String { "/v1/organizations/\(BaseURL.percentEncode(organizationID))/services" }

    /// The account is the organization id the config names; no request needed.
    public func account() async throws -> ProviderAccount {
        ProviderAccount(id: organizationID, name: org, creditPrice: creditPrice)
    }

    public func names() async throws -> OrgNames {
        let path = servicesPath
        return try await transport.get(path, retry: .names) { response throws(ProviderError) in
            do throws(PageDecodingError) {
                let services = try response.withBody { bytes throws(PageDecodingError) in try ClickHouseNamesDecoding.services(bytes) }
                return OrgNames.services(services)
            } catch {
                throw transport.error(decoding: error, of: response)
            }
        }
    }
}

enum ClickHouseNamesDecoding {
    /// `{"status":200,"requestId":...,"result":[{service}...]}`.
    static func services(_ bytes: UnsafeBufferPointer<UInt8>) throws(PageDecodingError) -> [ServiceInfo] {
        var s = JSONScanner(bytes)
        var services: [ServiceInfo] = []
        var requestID: String?
        do {
            try s.beginObject()
            while let key = try s.nextKey() {
                if key == "result" {
                    try s.beginArray()
                    while try s.nextElement() {
                        guard let service = try service(&s) else {
                            throw PageDecodingError(.malformed, "services: a service without \"id\" or \"name\"", offset: s.position,
                                                    requestID: requestID)
                        }
                        services.append(service)
                    }
                } else if key == "requestId" {
                    requestID = try s.readStringOrNull()
                } else {
                    try s.skipValue()
                }
            }
            try s.expectEnd()
        } catch let error as PageDecodingError {
            throw error
        } catch let error as JSONError {
            throw PageDecodingError(.malformed, "services: \(error)", offset: error.offset, requestID: requestID)
        } catch {
            throw PageDecodingError(.malformed, "services: \(error)", requestID: requestID)
        }
        return services
    }

    private static func service(_ s: inout JSONScanner) throws(JSONError) -> ServiceInfo? {
        var id: String?
        var name: String?
        var info = ServiceInfo(id: "", name: "")
        try s.beginObject()
        while let key = try s.nextKey() {
            if key == "id" {
                id = try s.readStringOrNull()
            } else if key == "name" {
                name = try s.readStringOrNull()
            } else if key == "provider" {
                info.cloudProvider = try s.readStringOrNull()
            } else if key == "region" {
                info.region = try s.readStringOrNull()
            } else if key == "state" {
                info.state = try s.readStringOrNull()
            } else if key == "dataWarehouseId" {
                info.dataWarehouseID = try s.readStringOrNull()
            } else if key == "isPrimary", try s.peekKind() == .bool {
                info.isPrimary = try s.readBool()
            } else if key == "tags" {
                // Kept verbatim: the provider's own JSON.
                let range = try s.skipValue()
                info.tagsJSON = s.text(of: range)
            } else {
                try s.skipValue()
            }
        }
        guard let id, !id.isEmpty, let name else { return nil }
        info.id = id
        info.name = name
        return info
    }
}
