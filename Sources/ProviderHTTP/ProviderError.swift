import CostModel

/// Why a provider request failed, in terms a user can act on.
///
/// One type for both providers and every layer of a request (transport,
/// status, body, data), shaped like AsyncHTTPClient's `HTTPClientError`: a
/// struct whose `Kind` wraps a private enum, so kinds can be added without
/// breaking a caller's `switch`. It never holds a secret: the transport scrubs
/// every text it copies from a response of the credentials it sent, and
/// request headers are never copied at all.
public struct ProviderError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, coarsely; `isRetryable` says whether the same request
    /// may succeed later.
    public struct Kind: Sendable, Hashable, CustomStringConvertible {
        private enum Code: String, Sendable, Hashable {
            case authentication, permission, badRequest, notFound, rateLimited, server, network, untrustedCertificate
            case undecodable, dataMismatch, configuration, unexpectedStatus, tooLarge
        }

        private let code: Code
        private init(_ code: Code) { self.code = code }

        /// 401: the key is wrong, revoked or missing.
        public static let authentication = Kind(.authentication)
        /// 403: the key is valid but may not read costs.
        public static let permission = Kind(.permission)
        /// 400/413/422: the API refused the request as malformed.
        public static let badRequest = Kind(.badRequest)
        /// 404: wrong organization id or base URL.
        public static let notFound = Kind(.notFound)
        /// 429 after the retry budget was spent.
        public static let rateLimited = Kind(.rateLimited)
        /// 5xx (incl. Anthropic's 529 overloaded) after the retry budget was spent.
        public static let server = Kind(.server)
        /// No HTTP answer: DNS, connect, reset, timeout.
        public static let network = Kind(.network)
        /// The TLS handshake failed: the certificate is not trusted or not the
        /// host's (a TLS-inspecting proxy, a wrong host). Asking again would
        /// fail the same way, so it is not retried.
        public static let untrustedCertificate = Kind(.untrustedCertificate)
        /// A 2xx body that is not the JSON costsync expects (truncated, wrong shape).
        public static let undecodable = Kind(.undecodable)
        /// A well-formed answer that contradicts itself (totals that do not add
        /// up, a page token that repeats): nothing of it is stored.
        public static let dataMismatch = Kind(.dataMismatch)
        /// The client was set up with something unusable (e.g. a plain-http base URL off loopback).
        public static let configuration = Kind(.configuration)
        /// Any other status (3xx with redirects disabled, 402, 405, ...).
        public static let unexpectedStatus = Kind(.unexpectedStatus)
        /// A 2xx body larger than the cap: the same request would fail the
        /// same way, a smaller page may not.
        public static let tooLarge = Kind(.tooLarge)

        /// Whether the transport retries a request that failed this way.
        public var isRetryable: Bool {
            switch code {
            case .rateLimited, .server, .network: true
            default: false
            }
        }

        public var description: String { code.rawValue }

        /// A few words for the start of a message.
        var headline: String {
            switch code {
            case .authentication: "authentication failed"
            case .permission: "permission denied"
            case .badRequest: "request rejected as invalid"
            case .notFound: "not found"
            case .rateLimited: "rate limited"
            case .server: "provider server error"
            case .network: "network error"
            case .untrustedCertificate: "TLS certificate not trusted"
            case .undecodable: "response could not be decoded"
            case .dataMismatch: "provider data is inconsistent"
            case .configuration: "invalid configuration"
            case .unexpectedStatus: "unexpected response"
            case .tooLarge: "response too large"
            }
        }

        /// What the user can do about it; worded without config key names,
        /// which only the config layer knows (`Remedy` says which setting).
        public func remedy(for provider: Provider, status: Int?) -> Remedy? {
            switch (code, provider) {
            case (.authentication, _): .checkCredentials
            case (.permission, .anthropic): .useAdminKey
            case (.permission, .clickhouse): .grantBillingRole
            case (.notFound, .anthropic): .checkBaseURL
            case (.notFound, .clickhouse): .checkOrganizationAndBaseURL
            case (.badRequest, _): .report
            case (.rateLimited, _), (.server, _): .retryLater
            case (.network, _): .checkNetwork
            case (.untrustedCertificate, _): .trustCA
            case (.undecodable, _), (.dataMismatch, _): .reportResponse
            case (.configuration, _): .checkBaseURL
            case (.unexpectedStatus, _):
                if let status, (300..<400).contains(status) { .redirect } else { nil }
            case (.tooLarge, _): .raiseResponseCap
            }
        }
    }

    /// What the user can do about a failure. `text` is the generic wording;
    /// a layer that knows where the setting lives (the config's key names)
    /// may word it better.
    public enum Remedy: Sendable, Hashable {
        case checkCredentials, useAdminKey, grantBillingRole, checkBaseURL, checkOrganizationAndBaseURL
        case report, retryLater, checkNetwork, reportResponse, redirect, raiseResponseCap, trustCA

        public var text: String {
            switch self {
            case .checkCredentials: "check the org's API key"
            case .useAdminKey: "the key must be an Admin API key of this organization"
            case .grantBillingRole: "the API key needs a role that may read billing (a Developer key may not)"
            case .checkBaseURL: "check the base URL"
            case .checkOrganizationAndBaseURL: "check the organization id and the base URL"
            case .report: "the API refused costsync's request; please report this with the request id"
            case .retryLater: "retries exhausted; costsync tries again at the next poll"
            case .checkNetwork: "check the base URL and network access; costsync tries again at the next poll"
            case .reportResponse: "nothing of this response was stored; please report this with the request id"
            case .redirect: "redirects are not followed; check the base URL"
            case .raiseResponseCap: "even a one-day page is larger than the response cap; raise it"
            case .trustCA: "behind a TLS-inspecting proxy, trust its CA certificate; otherwise check the base URL's host"
            }
        }
    }

    public var kind: Kind
    public var provider: Provider
    /// The org's `name` from the config.
    public var org: String
    /// The API path, e.g. `/v1/organizations/cost_report`: never a query string.
    public var endpoint: String?
    public var httpStatus: Int?
    /// The provider's id of the failed request (Anthropic `request-id` header or
    /// body `request_id`; ClickHouse body `requestId`), for its support team.
    public var requestID: String?
    /// The provider's own error type (`authentication_error`, `UNAUTHORIZED`).
    public var providerErrorType: String?
    /// The provider's own error message, one line, bounded.
    public var providerMessage: String?
    /// What costsync found (a decoding failure, a mismatch, a network error).
    public var detail: String?
    /// At most 200 characters of the body near the problem (undecodable only).
    public var bodyExcerpt: String?
    /// How many HTTP requests were made before giving up.
    public var attempts: Int

    public init(kind: Kind, provider: Provider, org: String, endpoint: String? = nil, httpStatus: Int? = nil,
                requestID: String? = nil, providerErrorType: String? = nil, providerMessage: String? = nil,
                detail: String? = nil, bodyExcerpt: String? = nil, attempts: Int = 1) {
        self.kind = kind
        self.provider = provider
        self.org = org
        self.endpoint = endpoint
        self.httpStatus = httpStatus
        self.requestID = requestID
        self.providerErrorType = providerErrorType
        self.providerMessage = providerMessage.map { ProviderError.oneLine($0, max: 300) }
        self.detail = detail.map { ProviderError.oneLine($0, max: 300) }
        self.bodyExcerpt = bodyExcerpt.map { ProviderError.oneLine($0, max: 200) }
        self.attempts = attempts
    }

    public var remedy: Remedy? { kind.remedy(for: provider, status: httpStatus) }

    /// One line a user can act on, e.g.
    /// `anthropic org 'acme': authentication failed (HTTP 401, request req_123): invalid x-api-key — check the org's API key`.
    public var description: String { description(remedy: remedy?.text) }

    /// The same line with the remedy worded by the caller.
    public func description(remedy: String?) -> String {
        var text = "\(provider) org '\(org)': \(kind.headline)"
        var facts: [String] = []
        if let httpStatus { facts.append("HTTP \(httpStatus)") }
        if let requestID { facts.append("request \(requestID)") }
        if let endpoint { facts.append(endpoint) }
        if attempts > 1 { facts.append("\(attempts) attempts") }
        if !facts.isEmpty { text += " (" + facts.joined(separator: ", ") + ")" }
        var said: [String] = []
        if let providerMessage {
            said.append(providerMessage)
        } else if let providerErrorType {
            said.append(providerErrorType)
        }
        if let detail { said.append(detail) }
        if let bodyExcerpt { said.append("near: \(bodyExcerpt)") }
        if !said.isEmpty { text += ": " + said.joined(separator: "; ") }
        if let remedy { text += " — " + remedy }
        return text
    }

    /// A bounded summary without the provider's free text, for a metric label
    /// or a status column: `anthropic org 'acme': authentication failed (HTTP 401)`.
    public var shortDescription: String {
        var text = "\(provider) org '\(org)': \(kind.headline)"
        if let httpStatus { text += " (HTTP \(httpStatus))" }
        return text
    }

    /// Makes text safe for a one-line message: control characters become
    /// spaces (a provider message with a newline would split a journal line),
    /// and it is cut at `max` characters.
    static func oneLine(_ text: String, max: Int) -> String {
        var out = ""
        var n = 0
        for scalar in text.unicodeScalars {
            if n == max {
                out += "…"
                break
            }
            if scalar.value < 0x20 || scalar.value == 0x7F {
                out.unicodeScalars.append(" ")
            } else {
                out.unicodeScalars.append(scalar)
            }
            n += 1
        }
        return out
    }
}

/// Why a provider's 2xx body could not be turned into cost lines; thrown by
/// the clients' pure decode functions and turned into a `ProviderError`
/// (`undecodable` or `dataMismatch`) by the clients, which know the org.
extension PageDecodingError {
    /// Runs a page decoder over an array's bytes: the `[UInt8]` entry point of
    /// both providers' `decodePage`, for tests and benchmarks.
    public static func decoding<Page>(
        _ bytes: [UInt8], _ decode: (UnsafeBufferPointer<UInt8>) throws(PageDecodingError) -> Page
    ) throws(PageDecodingError) -> Page {
        let result: Result<Page, PageDecodingError> = bytes.withUnsafeBufferPointer { buffer in
            Result { () throws(PageDecodingError) -> Page in try decode(buffer) }
        }
        return try result.get()
    }
}

public struct PageDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// Not the JSON the client expects: truncated, wrong shape, bad amount.
        /// Retried a few times (a proxy may have cut it short).
        case malformed
        /// Well-formed but self-contradictory (totals that do not add up).
        case inconsistent
    }

    public var kind: Kind
    public var message: String
    /// The byte offset of the problem in the body, when known.
    public var offset: Int?
    /// The provider's request id, when the body had one before the problem.
    public var requestID: String?

    public init(_ kind: Kind, _ message: String, offset: Int? = nil, requestID: String? = nil) {
        self.kind = kind
        self.message = message
        self.offset = offset
        self.requestID = requestID
    }

    public var description: String { message }
}

extension ProviderTransport {
    /// The `ProviderError` for a decode function's failure on `response`.
    public func error(decoding failure: PageDecodingError, of response: ProviderResponse) -> ProviderError {
        switch failure.kind {
        case .malformed:
            decodingFailure(response, detail: failure.message, offset: failure.offset, requestID: failure.requestID)
        case .inconsistent:
            dataMismatch(response, detail: failure.message, requestID: failure.requestID)
        }
    }
}
