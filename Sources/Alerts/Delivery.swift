import Config
import CostModel
import Logging
import StorePort
import Synchronization

/// Sends one webhook request: the port the dispatcher delivers through, so a
/// test can answer without a network and production uses AsyncHTTPClient.
public protocol WebhookTransport: Sendable {
    /// POSTs `body` to `url` and returns the status code; throws when no
    /// response came (connection refused, timeout). The error's text must not
    /// be trusted to leave the URL out: the dispatcher scrubs it.
    func post(to url: Secret, body: [UInt8], headers: [(name: String, value: String)], timeout: Duration) async throws -> Int
}

/// How the dispatcher waits between attempts: injected so tests move a
/// clock instead of sleeping.
public protocol AlertSleeper: Sendable {
    func sleep(for duration: Duration) async throws
}

/// `Task.sleep`, for production.
public struct TaskSleeper: AlertSleeper {
    public init() {}
    public func sleep(for duration: Duration) async throws { try await Task.sleep(for: duration) }
}

/// When to try a failed delivery again, and when to give it up.
public struct DeliveryPolicy: Sendable {
    /// The pause after the first failure; it doubles after each, up to `maxDelay`.
    public var firstDelay: Duration
    public var maxDelay: Duration
    /// A delivery is retried until this long after its alert was raised (so
    /// across restarts: the deadline is computed from the stored `raised_at`).
    public var giveUpAfter: Duration
    /// One request's whole deadline.
    public var requestTimeout: Duration
    /// How long a claimed delivery is held past `requestTimeout`: long enough
    /// for the ledger write after the answer, so another dispatcher does not
    /// take it while this one is still recording how it went.
    public var claimMargin: Duration
    /// Adds up to this fraction of each pause (0...1), so targets that failed
    /// together do not all retry at the same second.
    public var jitter: @Sendable (Duration) -> Duration

    public init(firstDelay: Duration = .seconds(30), maxDelay: Duration = .seconds(600), giveUpAfter: Duration = .seconds(3600),
                requestTimeout: Duration = .seconds(10), claimMargin: Duration = .seconds(20),
                jitter: @escaping @Sendable (Duration) -> Duration = DeliveryPolicy.randomJitter) {
        self.firstDelay = firstDelay
        self.maxDelay = maxDelay
        self.giveUpAfter = giveUpAfter
        self.requestTimeout = requestTimeout
        self.claimMargin = claimMargin
        self.jitter = jitter
    }

    /// Up to a fifth of the pause.
    public static let randomJitter: @Sendable (Duration) -> Duration = { pause in
        let ms = pause.components.seconds * 200
        return ms > 0 ? .milliseconds(Int64.random(in: 0...ms)) : .zero
    }

    /// The pause after the `failures`-th failure in a row (1-based): 30 s, 60 s,
    /// 120 s … at most 10 min, plus jitter; about ten tries in the hour.
    public func delay(afterFailures failures: Int) -> Duration {
        var pause = firstDelay
        for _ in 1..<max(1, failures) where pause < maxDelay { pause *= 2 }
        pause = min(pause, maxDelay)
        return pause + jitter(pause)
    }
}

/// A wake-up call for one waiter: `signal` before `wait` is not lost.
final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
        var nextID = 0
        var cancelledID: Int?
    }
    private let state = Mutex(State())

    func signal() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if let w = s.waiter {
                s.waiter = nil
                return w
            }
            s.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns at the next signal (or at once if one is pending), or when the task is cancelled.
    func wait() async {
        let id = state.withLock { s in
            s.nextID += 1
            return s.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.pending {
                        s.pending = false
                        return true
                    }
                    if s.cancelledID == id { return true }
                    s.waiter = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
                s.cancelledID = id
                defer { s.waiter = nil }
                return s.waiter
            }
            waiter?.resume()
        }
    }
}

/// Delivers recorded alerts to their targets, beside the sync and never in
/// its way: the sync only records an alert and wakes this loop. Every
/// delivery's state is in the ledger, so a restart picks up where the last
/// process left off; each request carries the alert id as its
/// `Idempotency-Key`, so a receiver can drop a delivery it already has.
///
/// The ledger may be shared by several instances (one PostgreSQL database,
/// or one SQLite file), each with its own targets: a dispatcher looks only at
/// deliveries to the targets of its own config, and claims each attempt in
/// the ledger before sending it, so two instances with a target of the same
/// name never send the same attempt twice.
public actor AlertDispatcher {
    let ledger: any AlertLedger
    private(set) var targets: [String: NotifyTarget]
    let transport: any WebhookTransport
    let clock: WallClock
    let sleeper: any AlertSleeper
    let policy: DeliveryPolicy
    let logger: Logger
    let userAgent: String
    private let wakeSignal = WakeSignal()

    public init(ledger: any AlertLedger, targets: [NotifyTarget], transport: any WebhookTransport, clock: WallClock,
                sleeper: any AlertSleeper = TaskSleeper(), policy: DeliveryPolicy = DeliveryPolicy(), logger: Logger,
                userAgent: String = "costsync") {
        self.ledger = ledger
        self.targets = Dictionary(targets.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.transport = transport
        self.clock = clock
        self.sleeper = sleeper
        self.policy = policy
        self.logger = logger
        self.userAgent = userAgent
    }

    /// A reloaded config's `[[notify]]` targets: later attempts use them.
    ///
    /// A pending delivery whose target is gone is not given up: it is left in
    /// the ledger, pending, and this instance no longer attempts it. Giving it
    /// up would be right only if this instance were the one sender to that
    /// name, which the ledger cannot tell: another instance on the same
    /// database may have a target of the same name and still deliver it, and
    /// the row does not record which instance raised the alert. With the
    /// target back in the config, the delivery resumes where it stood.
    public func replaceTargets(_ targets: [NotifyTarget]) {
        self.targets = Dictionary(targets.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        wakeSignal.signal()
    }

    /// New alerts are recorded: look at the ledger now rather than at the next due time.
    public nonisolated func wake() { wakeSignal.signal() }

    /// Delivers until the task is cancelled: one round of due deliveries, then
    /// a wait until the next is due or `wake()` is called.
    public func run() async {
        while !Task.isCancelled {
            let nextDue = await deliverDue()
            guard !Task.isCancelled else { return }
            let pause = nextDue.map { Duration.seconds(max(0, $0.secondsSinceEpoch - clock.now.secondsSinceEpoch)) }
            await waitForWork(upTo: pause)
        }
    }

    private func waitForWork(upTo pause: Duration?) async {
        let signal = wakeSignal
        let sleeper = sleeper
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await signal.wait() }
            if let pause { group.addTask { try? await sleeper.sleep(for: pause) } }
            _ = await group.next()
            group.cancelAll()
        }
    }

    /// Attempts every delivery that is due, once each, and returns when the
    /// earliest remaining one is due (nil when none is pending). Used by
    /// `run()` and, for `costsync run --once`, alone after the pass.
    @discardableResult
    public func deliverDue() async -> Timestamp? {
        let pending: [PendingDelivery]
        let names = targets.keys.sorted()
        guard !names.isEmpty else { return nil }
        do { pending = try await ledger.pendingDeliveries(targets: names) } catch {
            logger.error("cannot read pending alert deliveries", metadata: ["error": "\(error)"])
            return clock.now.adding(seconds: policy.firstDelay.components.seconds)
        }
        // One task per target, its deliveries in order: a target that hangs
        // until its timeout only delays itself, never the others.
        var byTarget: [String: [PendingDelivery]] = [:]
        for item in pending { byTarget[item.delivery.target, default: []].append(item) }
        return await withTaskGroup(of: Timestamp?.self) { group in
            for items in byTarget.values {
                group.addTask {
                    var nextDue: Timestamp?
                    for item in items {
                        if Task.isCancelled { return nil }
                        if let next = await self.attemptIfDue(item) { nextDue = min(nextDue ?? next, next) }
                    }
                    return nextDue
                }
            }
            var nextDue: Timestamp?
            for await next in group { if let next { nextDue = min(nextDue ?? next, next) } }
            return nextDue
        }
    }

    /// Returns when this delivery is due again, or nil when it is done with.
    private func attemptIfDue(_ item: PendingDelivery) async -> Timestamp? {
        let alert = item.alert
        let d = item.delivery
        let now = clock.now
        var meta: Logger.Metadata = ["alert.id": "\(alert.id)", "alert.kind": "\(alert.kind.rawValue)", "notify.target": "\(d.target)"]
        // Gone in a reload since the ledger was read: left pending, as `replaceTargets` says.
        guard let target = targets[d.target] else { return nil }
        let deadline = alert.raisedAt.adding(seconds: policy.giveUpAfter.components.seconds)
        if d.attempts > 0 && now > deadline {
            meta["delivery.attempts"] = "\(d.attempts)"
            meta["error"] = "\(d.lastError ?? "")"
            logger.warning("alert delivery given up after an hour of retries; the target keeps failing", metadata: meta)
            await note { try await self.ledger.markAbandoned(alertID: alert.id, target: d.target, at: now,
                                                             reason: "given up after \(d.attempts) attempts") }
            return nil
        }
        if let next = d.nextAttemptAt, next > now { return next }

        // Another dispatcher on the same ledger may have read the same row:
        // only the one whose claim moves its next attempt sends. A claim that
        // fails means it is being sent, was just sent, or was rescheduled:
        // look again when a claim of the other's would have run out.
        let lease = now.adding(seconds: (policy.requestTimeout + policy.claimMargin).components.seconds)
        do {
            guard try await ledger.claimDelivery(alertID: alert.id, target: d.target, now: now, until: lease) else {
                logger.debug("alert delivery is being made by another dispatcher", metadata: meta)
                return lease
            }
        } catch {
            meta["error"] = "\(error)"
            logger.error("cannot claim an alert delivery; trying again later", metadata: meta)
            return now.adding(seconds: policy.firstDelay.components.seconds)
        }

        let outcome = await send(alert, to: target)
        let at = clock.now
        switch outcome {
        case .success:
            logger.info("alert delivered", metadata: meta.merging(["delivery.attempt": "\(d.attempts + 1)"]) { $1 })
            await note { try await self.ledger.markDelivered(alertID: alert.id, target: d.target, at: at) }
            return nil
        case .failure(let error):
            let pause = policy.delay(afterFailures: d.attempts + 1)
            let next = at.adding(seconds: max(1, pause.components.seconds))
            meta["delivery.attempt"] = "\(d.attempts + 1)"
            meta["error"] = "\(error)"
            meta["retry.at"] = "\(next)"
            logger.warning("alert delivery failed; retrying", metadata: meta)
            await note { try await self.ledger.recordFailedAttempt(alertID: alert.id, target: d.target, at: at, error: error,
                                                                   nextAttemptAt: next) }
            return next
        }
    }

    /// Sends one alert to one target now, outside the ledger: `costsync alerts test`.
    public func sendNow(_ alert: AlertRecord, to target: NotifyTarget) async -> Result<Void, DeliveryFailure> {
        switch await send(alert, to: target) {
        case .success: .success(())
        case .failure(let text): .failure(DeliveryFailure(target: target.name, description: text))
        }
    }

    private enum Outcome { case success, failure(String) }

    private func send(_ alert: AlertRecord, to target: NotifyTarget) async -> Outcome {
        let body = target.format == .slack ? AlertBody.slack(alert) : AlertBody.json(alert)
        let headers: [(name: String, value: String)] = [
            ("content-type", "application/json"), ("idempotency-key", alert.id), ("user-agent", userAgent),
        ]
        do {
            let status = try await transport.post(to: target.url, body: Array(body.utf8), headers: headers, timeout: policy.requestTimeout)
            return (200..<300).contains(status) ? .success : .failure("HTTP \(status)")
        } catch {
            return .failure("no response: " + Self.scrub("\(error)", url: target.url))
        }
    }

    /// An error's text without the URL or any part of it that could be the credential.
    static func scrub(_ text: String, url: Secret) -> String {
        var out = text
        let full = url.revealed
        var parts = [full]
        if let schemeEnd = full.firstRange(of: "://") {
            let rest = full[schemeEnd.upperBound...]
            // `user:password@`: a credential too, whole and the password alone
            // (a text may quote either); the password at any length, since
            // mangling an error message is better than showing a secret.
            let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
            if let at = authority.lastIndex(of: "@") {
                let userinfo = String(authority[..<at])
                parts += [userinfo, Self.percentDecoded(userinfo)]
                if let colon = userinfo.firstIndex(of: ":") {
                    let password = String(userinfo[userinfo.index(after: colon)...])
                    parts += [password, Self.percentDecoded(password)]
                }
            }
            if let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) {
                let path = String(rest[slash...])
                if path.count > 1 { parts.append(path) }
                // Every path segment of some length: a receiver's token is one of them.
                parts += path.split(whereSeparator: { "/?&=#".contains($0) }).map(String.init).filter { $0.count >= 6 }
            }
        }
        for part in parts.sorted(by: { $0.count > $1.count }) where !part.isEmpty {
            out = out.replacing(part, with: "<webhook>")
        }
        return String(out.prefix(300))
    }

    /// `%XX` decoded, as a client that sends the userinfo as a header would;
    /// the text itself when that is not valid UTF-8.
    static func percentDecoded(_ text: String) -> String {
        guard text.contains("%") else { return text }
        var bytes: [UInt8] = []
        var utf8 = text.utf8[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%"), utf8.count >= 2,
               let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self) ?? text
    }

    private func note(_ write: @Sendable () async throws -> Void) async {
        do { try await write() } catch {
            // The delivery is tried again from the ledger's last state; a lost
            // note at worst repeats a request, which the Idempotency-Key covers.
            logger.error("cannot record an alert delivery", metadata: ["error": "\(error)"])
        }
    }
}

/// A delivery that did not succeed, in words without the URL.
public struct DeliveryFailure: Error, Sendable, CustomStringConvertible {
    public var target: String
    public var description: String
}
