import Config
import CostModel
import ProviderHTTP

/// Words a provider failure for the person who wrote the config: the HTTP
/// layer says what to fix, the config layer knows which keys hold it.
struct ErrorWording: Sendable {
    private let orgs: [String: OrgConfig]

    init(orgs: [OrgConfig]) {
        self.orgs = Dictionary(orgs.map { ("\($0.provider)/\($0.name)", $0) }, uniquingKeysWith: { a, _ in a })
    }

    func describe(_ error: any Error) -> String {
        guard let error = error as? ProviderError, let remedy = error.remedy,
              let org = orgs["\(error.provider)/\(error.org)"] else { return String(describing: error) }
        return error.description(remedy: Self.remedy(remedy, org: org))
    }

    static func remedy(_ remedy: ProviderError.Remedy, org: OrgConfig) -> String {
        let base = OrgConfig.baseURLKey
        return switch remedy {
        case .checkCredentials: "check \(org.credentialKeys)"
        case .checkBaseURL: "check \(base)"
        case .checkOrganizationAndBaseURL: "check \(OrgConfig.organizationIDKey) and \(base)"
        case .checkNetwork: "check \(base) and network access; costsync tries again at the next poll"
        case .redirect: "redirects are not followed; check \(base)"
        case .raiseResponseCap: "even a one-day page is larger than the response cap; raise \(SyncSettings.maxResponseBytesKey)"
        case .trustCA: "behind a TLS-inspecting proxy, trust its CA with [http] ca_file; otherwise check \(base)"
        case .useAdminKey, .grantBillingRole, .report, .retryLater, .reportResponse: remedy.text
        }
    }
}
