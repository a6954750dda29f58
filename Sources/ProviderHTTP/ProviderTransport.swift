import AsyncHTTPClient
import CostModel
import CostsyncMetrics
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL

/// How a provider authenticates. The secret values are revealed only while
/// building request headers, and every text the transport copies from a
/// response into an error or log line is scrubbed of them.
public enum ProviderCredentials: Sendable {
    /// A header carrying the key as is (Anthropic: `x-api-key`).
    case header(name: String, value: Secret)
    /// HTTP Basic (ClickHouse: key ID as user, key secret as password).
    case basic(user: Secret, password: Secret)

    /// Every form in which a secret could come back in a response.
    var secretTexts: [Secret] {
        switch self {
        case .header(_, let value):
            return [value]
        case .basic(let user, let password):
            return [user, password, Secret(Base64.encode(Array("\(user.revealed):\(password.revealed)".utf8)))]
        }
    }
}

/// What a provider's error body says, as far as its parser understood it.
public struct ProviderErrorBody: Sendable, Hashable {
    public var type: String?
    public var message: String?
    public var requestID: String?
    /// The HTTP status the body claims (ClickHouse's envelope carries one).
    public var status: Int?

    public init(type: String? = nil, message: String? = nil, requestID: String? = nil, status: Int? = nil) {
        self.type = type
        self.message = message
        self.requestID = requestID
        self.status = status
    }
}

/// What the transport needs to know of a provider beyond URLs and keys.
public struct ProviderHTTPProfile: Sendable {
    public var provider: Provider
    /// The response header holding the provider's request id, if it sends one.
    public var requestIDHeader: String?
    /// Reads the provider's JSON error body; nil when it is not one.
    public var parseErrorBody: @Sendable (UnsafeBufferPointer<UInt8>) -> ProviderErrorBody?
    /// What an error envelope inside a 2xx body means (Anthropic's
    /// `{"type":"error","error":{"type":"rate_limit_error"}}`, ClickHouse's
    /// `{"status":429,"error":...}`); nil when the body is not one.
    public var envelopeKind: @Sendable (ProviderErrorBody) -> ProviderError.Kind?

    public init(provider: Provider, requestIDHeader: String?,
                parseErrorBody: @escaping @Sendable (UnsafeBufferPointer<UInt8>) -> ProviderErrorBody?,
                envelopeKind: @escaping @Sendable (ProviderErrorBody) -> ProviderError.Kind?) {
        self.provider = provider
        self.requestIDHeader = requestIDHeader
        self.parseErrorBody = parseErrorBody
        self.envelopeKind = envelopeKind
    }
}

/// The knobs of a transport; the defaults are the daemon's.
public struct TransportOptions: Sendable {
    public var retry: RetryPolicy
    public var clock: any ProviderClock
    public var jitter: Jitter
    /// The deadline of one request, body included.
    public var requestTimeout: Duration
    /// A 2xx body larger than this is refused, so a runaway response cannot
    /// take the host's memory. 31 days × 2,000 lines of Anthropic JSON are
    /// ~18 MB and the daemon peaks at ~75 MB RSS with them; the cap leaves
    /// room for orgs several times that size, which use memory in proportion.
    public var maxBodyBytes: Int
    /// Error bodies are read up to this size only; they are a few hundred bytes.
    public var maxErrorBodyBytes: Int
    /// Requests, their codes and durations, retries and 429s.
    public var metrics: CostsyncMetrics

    public init(retry: RetryPolicy = .standard, clock: any ProviderClock = SystemProviderClock(),
                jitter: Jitter = .random, requestTimeout: Duration = .seconds(120),
                maxBodyBytes: Int = 128 << 20, maxErrorBodyBytes: Int = 1 << 20, metrics: CostsyncMetrics = .none) {
        self.retry = retry
        self.clock = clock
        self.jitter = jitter
        self.requestTimeout = requestTimeout
        self.maxBodyBytes = maxBodyBytes
        self.maxErrorBodyBytes = maxErrorBodyBytes
        self.metrics = metrics
    }
}

/// A successful (2xx) response, its body read whole.
public struct ProviderResponse: Sendable {
    public let status: Int
    /// The API path that was requested (no query).
    public let endpoint: String
    /// The provider's request id from the response header, if it sent one.
    public let requestID: String?
    /// How many requests it took (1 when the first succeeded).
    public let attempts: Int
    let headers: HTTPHeaders
    let body: ByteBuffer

    /// The first value of a response header (case-insensitive name).
    public func header(_ name: String) -> String? { headers.first(name: name) }

    /// Lends the body's bytes without copying them (a page is tens of MB).
    public func withBody<R, E: Error>(_ read: (UnsafeBufferPointer<UInt8>) throws(E) -> R) throws(E) -> R {
        let result: Result<R, E> = body.withUnsafeReadableBytes { raw in
            Result { () throws(E) -> R in try read(raw.bindMemory(to: UInt8.self)) }
        }
        return try result.get()
    }
}

/// Sends GETs to one org's provider API: URL and loopback rule, headers and
/// credentials, body cap, retries with backoff and the provider's own waits,
/// client-side pacing, error classification, logging.
///
/// `get` throws `ProviderError`, or `CancellationError` when the task is
/// cancelled (never a `ProviderError` then: a shutdown is not a failure of
/// the org).
public struct ProviderTransport: Sendable, CustomStringConvertible, CustomReflectable {
    /// Libraries log values with `"\(value)"` (swift-service-lifecycle logs its
    /// services at debug level): a transport describes itself by what it talks
    /// to, and reflects nothing, so no credential can reach such a line.
    public var description: String { "ProviderTransport(\(provider), org: \(org))" }
    public var customMirror: Mirror { Mirror(self, children: [:]) }

    public let provider: Provider
    public let org: String
    public let baseURL: BaseURL
    public let options: TransportOptions
    public let logger: Logger
    private let httpClient: HTTPClient
    private let profile: ProviderHTTPProfile
    private let credentials: ProviderCredentials
    private let extraHeaders: [(name: String, value: String)]
    private let rateLimiter: RateLimiter?
    /// Held as `Secret`s, so that no `dump` or reflection of a transport (or
    /// of anything holding one, such as a `Service`) can print them.
    private let secretTexts: [Secret]

    public init(httpClient: HTTPClient, profile: ProviderHTTPProfile, org: String, baseURL: String,
                credentials: ProviderCredentials, headers: [(name: String, value: String)] = [],
                rateLimiter: RateLimiter? = nil, options: TransportOptions = TransportOptions(),
                logger: Logger) throws(ProviderError) {
        self.provider = profile.provider
        self.org = org
        do {
            self.baseURL = try BaseURL(baseURL)
        } catch {
            throw ProviderError(kind: .configuration, provider: profile.provider, org: org, detail: error.description)
        }
        self.options = options
        var logger = logger
        logger[metadataKey: "provider"] = "\(profile.provider)"
        logger[metadataKey: "org"] = "\(org)"
        self.logger = logger
        self.httpClient = httpClient
        self.profile = profile
        self.credentials = credentials
        self.extraHeaders = headers
        self.rateLimiter = rateLimiter
        // Very short values would scrub innocent text; real keys are long.
        self.secretTexts = credentials.secretTexts.filter { $0.revealed.utf8.count >= 4 }
    }

    // MARK: - Requests

    /// GETs `path` (an API path, e.g. `/v1/organizations/cost_report`) with
    /// `query` (percent-encoded here), retrying per `retry` (default: the
    /// options' policy).
    public func get(_ path: String, query: [(name: String, value: String)] = [],
                    retry: RetryPolicy? = nil) async throws -> ProviderResponse {
        try await get(path, query: query, retry: retry) { response throws(ProviderError) in response }
    }

    /// How many times a 2xx body that does not parse is asked for again: a
    /// proxy may have cut it short, and the next answer is whole.
    public static let undecodableAttempts = 3

    /// GETs `path` and decodes the answer with `decode`, retrying what may
    /// pass: 429, 5xx, network errors, an error envelope of that kind inside
    /// a 2xx body, and (up to `undecodableAttempts` times) a 2xx body that
    /// does not parse. The body is released as soon as `decode` returns, so a
    /// page's bytes and its decoded lines are never both held for long.
    ///
    /// `bodyLimit` (at most the options' `maxBodyBytes`) lets a client ask
    /// for a smaller cap on one request: a page of many days that passes it
    /// is refused early as `tooLarge`, before it takes the host's memory, and
    /// asked for again in fewer days.
    public func get<T>(_ path: String, query: [(name: String, value: String)] = [], retry: RetryPolicy? = nil,
                       bodyLimit: Int? = nil,
                       decode: (ProviderResponse) throws(ProviderError) -> T) async throws -> T {
        let limit = min(bodyLimit ?? options.maxBodyBytes, options.maxBodyBytes)
        let policy = retry ?? options.retry
        let url = baseURL.url(path: path, query: query)
        let clock = options.clock
        let start = clock.monotonicNow
        var attempt = 0
        var undecodable = 0
        while true {
            attempt += 1
            try Task.checkCancellation()
            if let rateLimiter { try await rateLimiter.acquire() }
            var failure: ProviderError
            let advised: Duration?
            switch try await sendOnce(url: url, endpoint: path, attempt: attempt, bodyLimit: limit) {
            case .success(let response):
                logger.debug("provider request succeeded", metadata: [
                    "http.status": "\(response.status)",
                    "request.id": "\(response.requestID ?? "-")",
                ])
                do {
                    return try decode(response)
                } catch {
                    failure = error
                    advised = nil
                }
            case .failure(let error, let waitHint):
                failure = error
                advised = waitHint
            }
            failure.attempts = attempt
            var retryable = failure.kind.isRetryable
            if failure.kind == .undecodable {
                undecodable += 1
                retryable = undecodable < ProviderTransport.undecodableAttempts
            }
            guard retryable, attempt < policy.maxAttempts else {
                logger.debug("provider request failed", metadata: metadata(for: failure))
                throw failure
            }
            var wait = policy.backoffCeiling(afterFailedAttempt: attempt)
            wait = options.jitter(wait)
            // A wait the server asked for, plus a little jitter (up to a tenth,
            // at most 2 s), so orgs sharing a reset do not all wake together.
            if let advised, advised > .zero { wait = advised + options.jitter(min(advised / 10, .seconds(2))) }
            let elapsed = clock.monotonicNow - start
            guard elapsed + wait <= policy.maxTotal else {
                var gaveUp = failure
                let note = "gave up: the next retry (in \(wait.secondsText)) would pass the retry budget of \(policy.maxTotal.secondsText)"
                gaveUp.detail = gaveUp.detail.map { $0 + "; " + note } ?? note
                logger.debug("provider request failed", metadata: metadata(for: gaveUp))
                throw gaveUp
            }
            options.metrics.httpRetry(provider: provider.rawValue, org: org)
            var meta = metadata(for: failure)
            meta["retry.in"] = "\(wait.secondsText)"
            logger.warning("provider request failed, retrying", metadata: meta)
            // Cancellation ends the wait at once with CancellationError.
            try await clock.sleep(for: wait)
        }
    }

    private enum Attempt {
        case success(ProviderResponse)
        /// The error, and the wait the server asked for (if it did).
        case failure(ProviderError, Duration?)
    }

    private func sendOnce(url: String, endpoint: String, attempt: Int, bodyLimit: Int) async throws -> Attempt {
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        request.headers.add(name: "User-Agent", value: "costsync/\(costsyncVersion)")
        request.headers.add(name: "Accept", value: "application/json")
        for header in extraHeaders { request.headers.add(name: header.name, value: header.value) }
        switch credentials {
        case .header(let name, let value):
            request.headers.add(name: name, value: value.revealed)
        case .basic(let user, let password):
            request.headers.add(name: "Authorization",
                                value: "Basic " + Base64.encode(Array("\(user.revealed):\(password.revealed)".utf8)))
        }

        let response: HTTPClientResponse
        let body: ByteBuffer
        let sent = options.clock.monotonicNow
        do {
            // No logger is passed to AHC: its request logs are not ours to
            // vet for headers, and its errors come back to us anyway.
            response = try await httpClient.execute(request, timeout: .nanoseconds(options.requestTimeout.totalNanoseconds))
            let ok = (200..<300).contains(Int(response.status.code))
            do {
                body = try await response.body.collect(upTo: ok ? bodyLimit : options.maxErrorBodyBytes)
            } catch is NIOTooManyBytesError {
                guard !ok else {
                    options.metrics.httpRequest(provider: provider.rawValue, org: org, code: Int(response.status.code),
                                                duration: options.clock.monotonicNow - sent)
                    return .failure(makeError(.tooLarge, endpoint: endpoint, status: Int(response.status.code),
                                              requestID: requestIDHeader(response.headers), attempts: attempt,
                                              detail: "response body larger than \(bodyLimit) bytes"), nil)
                }
                // An oversized error body is not worth reading; the status says enough.
                body = ByteBuffer()
            }
        } catch {
            if Task.isCancelled || error is CancellationError { throw CancellationError() }
            options.metrics.httpRequest(provider: provider.rawValue, org: org, code: nil, duration: options.clock.monotonicNow - sent)
            return .failure(makeError(Self.isCertificateFailure(error) ? .untrustedCertificate : .network, endpoint: endpoint,
                                      attempts: attempt, detail: describeNetworkError(error)), nil)
        }

        let status = Int(response.status.code)
        options.metrics.httpRequest(provider: provider.rawValue, org: org, code: status, duration: options.clock.monotonicNow - sent)
        await observeRateLimitHeaders(response.headers)
        let headerRequestID = requestIDHeader(response.headers)
        if (200..<300).contains(status) {
            return .success(ProviderResponse(status: status, endpoint: endpoint, requestID: headerRequestID,
                                             attempts: attempt, headers: response.headers, body: body))
        }
        let parsed: ProviderErrorBody? = body.withUnsafeReadableBytes { raw in
            profile.parseErrorBody(raw.bindMemory(to: UInt8.self))
        }
        var excerpt: String?
        if parsed == nil, body.readableBytes > 0 {
            // Not the provider's JSON (a proxy's HTML page?): show its start.
            excerpt = body.withUnsafeReadableBytes { raw in
                String(decoding: raw.bindMemory(to: UInt8.self).prefix(200), as: UTF8.self)
            }
        }
        let error = makeError(ProviderTransport.kind(forStatus: status), endpoint: endpoint, status: status,
                              requestID: headerRequestID ?? parsed?.requestID, attempts: attempt,
                              providerErrorType: parsed?.type, providerMessage: parsed?.message,
                              bodyExcerpt: excerpt)
        return .failure(error, ProviderTransport.advisedWait(response.headers, status: status, wallNow: options.clock.wallNow))
    }

    /// The status classes of `ProviderError.Kind`. 529 is Anthropic's
    /// "overloaded": a server error, retried like the other 5xx.
    public static func kind(forStatus status: Int) -> ProviderError.Kind {
        switch status {
        case 400, 413, 422: .badRequest
        case 401: .authentication
        case 403: .permission
        case 404: .notFound
        case 429: .rateLimited
        case 500...599: .server
        default: .unexpectedStatus
        }
    }

    /// The wait a server asked for: `retry-after` (seconds or HTTP date),
    /// else, on a 429 only, the latest of Anthropic's
    /// `anthropic-ratelimit-*-reset` times (RFC 3339, relative to `wallNow`).
    /// Anthropic may send those headers on every response; on a 5xx they say
    /// nothing about the outage, and must not cut the backoff short. Nil when
    /// the server asked for nothing, or for a time already past (clock skew),
    /// where our backoff applies.
    static func advisedWait(_ headers: HTTPHeaders, status: Int, wallNow: Duration) -> Duration? {
        if let value = headers.first(name: "retry-after"), let wait = HTTPTimes.retryAfter(value, wallNow: wallNow) {
            return wait > .zero ? wait : nil
        }
        guard status == 429 else { return nil }
        var latest: Duration?
        for (name, value) in headers {
            let lower = name.lowercased()
            guard lower.hasPrefix("anthropic-ratelimit-"), lower.hasSuffix("-reset"),
                  let reset = HTTPTimes.rfc3339(value) else { continue }
            let wait = reset - wallNow
            if wait > .zero, wait > (latest ?? .zero) { latest = wait }
        }
        return latest
    }

    private func observeRateLimitHeaders(_ headers: HTTPHeaders) async {
        guard let rateLimiter else { return }
        let limit = headers.first(name: "x-ratelimit-limit").flatMap { Int($0.trimmingSpaces) }
        let remaining = headers.first(name: "x-ratelimit-remaining").flatMap { Int($0.trimmingSpaces) }
        let reset = headers.first(name: "x-ratelimit-reset").flatMap { HTTPTimes.decimalSeconds($0.trimmingSpaces) }
        guard limit != nil || remaining != nil else { return }
        await rateLimiter.observe(limit: limit, remaining: remaining, reset: reset)
    }

    private func requestIDHeader(_ headers: HTTPHeaders) -> String? {
        guard let name = profile.requestIDHeader, let value = headers.first(name: name), !value.isEmpty else { return nil }
        return scrub(ProviderError.oneLine(value, max: 100))
    }

    /// A handshake that failed on the certificate (not trusted, not the host's).
    static func isCertificateFailure(_ error: any Error) -> Bool {
        // Only a verdict on the certificate; an alert or a reset mid-handshake is a network error (retried).
        if let ssl = error as? NIOSSLError, case .handshakeFailed = ssl {
            return String(describing: ssl).contains("CERTIFICATE_VERIFY_FAILED")
        }
        if let extra = error as? NIOSSLExtraError { return extra == .failedToValidateHostname }
        return false
    }

    private func describeNetworkError(_ error: any Error) -> String {
        if let e = error as? HTTPClientError {
            if e == .deadlineExceeded { return "no complete response within \(options.requestTimeout.secondsText)" }
            return e.shortDescription.lowercased()
        }
        return String(describing: error)
    }

    // MARK: - Errors

    /// Builds an error about this org's request, scrubbed of the credentials.
    /// For the clients' own findings (undecodable bodies, data mismatches).
    public func makeError(_ kind: ProviderError.Kind, endpoint: String?, status: Int? = nil, requestID: String? = nil,
                          attempts: Int = 1, providerErrorType: String? = nil, providerMessage: String? = nil,
                          detail: String? = nil, bodyExcerpt: String? = nil) -> ProviderError {
        ProviderError(kind: kind, provider: provider, org: org, endpoint: endpoint, httpStatus: status,
                      requestID: requestID.map(scrub), providerErrorType: providerErrorType.map(scrub),
                      providerMessage: providerMessage.map(scrub), detail: detail.map(scrub),
                      bodyExcerpt: bodyExcerpt.map(scrub), attempts: attempts)
    }

    /// An `undecodable` error for a 2xx response whose body could not be
    /// read, with ≤ 200 characters of the body around `offset`.
    public func undecodable(_ response: ProviderResponse, detail: String, offset: Int?, requestID: String? = nil) -> ProviderError {
        let excerpt = response.withBody { bytes in ProviderTransport.excerpt(bytes, around: offset) }
        return makeError(.undecodable, endpoint: response.endpoint, status: response.status,
                         requestID: response.requestID ?? requestID, attempts: response.attempts,
                         detail: detail, bodyExcerpt: excerpt)
    }

    /// The error for a 2xx body the client could not decode: the provider's
    /// own error when the body is an error envelope (type, message, request
    /// id), else `undecodable` with the byte offset and an excerpt.
    public func decodingFailure(_ response: ProviderResponse, detail: String, offset: Int?, requestID: String?) -> ProviderError {
        if let envelope = response.withBody({ bytes in profile.parseErrorBody(bytes) }), envelope.message != nil || envelope.type != nil,
           let kind = profile.envelopeKind(envelope) {
            return makeError(kind, endpoint: response.endpoint, status: response.status,
                             requestID: response.requestID ?? envelope.requestID, attempts: response.attempts,
                             providerErrorType: envelope.type, providerMessage: envelope.message,
                             detail: "an error inside a \(response.status) answer")
        }
        return undecodable(response, detail: detail, offset: offset, requestID: requestID)
    }

    /// A `dataMismatch` error about a 2xx response.
    public func dataMismatch(_ response: ProviderResponse, detail: String, requestID: String? = nil) -> ProviderError {
        makeError(.dataMismatch, endpoint: response.endpoint, status: response.status,
                  requestID: response.requestID ?? requestID, attempts: response.attempts, detail: detail)
    }

    /// Up to 200 bytes of `bytes` centred on `offset` (the end for nil).
    static func excerpt(_ bytes: UnsafeBufferPointer<UInt8>, around offset: Int?) -> String {
        let center = min(max(offset ?? bytes.count, 0), bytes.count)
        let lower = max(0, center - 120)
        let upper = min(bytes.count, lower + 200)
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[lower..<upper]), as: UTF8.self)
    }

    /// Replaces every credential value in `text` by `<redacted>`.
    public func scrub(_ text: String) -> String {
        var text = text
        for secret in secretTexts where text.contains(secret.revealed) {
            text = text.replacing(secret.revealed, with: "<redacted>")
        }
        return text
    }

    private func metadata(for error: ProviderError) -> Logger.Metadata {
        var meta: Logger.Metadata = ["error": "\(error.description)"]
        if let status = error.httpStatus { meta["http.status"] = "\(status)" }
        if let requestID = error.requestID { meta["request.id"] = "\(requestID)" }
        return meta
    }
}
