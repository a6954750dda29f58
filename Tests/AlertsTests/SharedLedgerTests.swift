import Alerts
import AsyncHTTPClient
import Config
import CostModel
import Foundation
import SQLiteStore
import StorePort
import Testing

/// Several instances on one ledger (one SQLite file here, as on one
/// PostgreSQL database), each with the `[[notify]]` targets of its own config.
@Suite("Webhook delivery: several instances on one ledger", .serialized)
struct SharedLedgerTests {
    static let raised = DeliveryTests.raised

    static func dispatcher(_ ledger: SQLiteCostStore, _ targets: [NotifyTarget], _ client: HTTPClient, _ clock: TestClock) -> AlertDispatcher {
        AlertDispatcher(ledger: ledger, targets: targets, transport: HTTPWebhookTransport(client: client), clock: clock.wall,
                        sleeper: ClockSleeper(clock: clock), policy: DeliveryTests.noJitter, logger: LogCapture().logger())
    }

    /// The second instance's ledger: it reads the pending deliveries, then
    /// waits until the test lets its round go on, so both instances have read
    /// the delivery as due before either sends it.
    struct ReadThenWaitLedger: AlertLedger {
        let store: SQLiteCostStore
        let read: AsyncStream<Void>.Continuation
        let proceed: AsyncStream<Void>

        func pendingDeliveries(targets: [String]) async throws -> [PendingDelivery] {
            let pending = try await store.pendingDeliveries(targets: targets)
            read.yield()
            for await _ in proceed { break }
            return pending
        }
        func claimDelivery(alertID: String, target: String, now: Timestamp, until: Timestamp) async throws -> Bool {
            try await store.claimDelivery(alertID: alertID, target: target, now: now, until: until)
        }
        func dailySpend(_ key: OrgKey, scopeID: String?, in range: DayRange) async throws -> [Day: Int64] {
            try await store.dailySpend(key, scopeID: scopeID, in: range)
        }
        func recordIfNew(_ alert: AlertRecord, targets: [String]) async throws -> Bool { try await store.recordIfNew(alert, targets: targets) }
        func recordFailedAttempt(alertID: String, target: String, at time: Timestamp, error: String, nextAttemptAt: Timestamp) async throws {
            try await store.recordFailedAttempt(alertID: alertID, target: target, at: time, error: error, nextAttemptAt: nextAttemptAt)
        }
        func markDelivered(alertID: String, target: String, at time: Timestamp) async throws {
            try await store.markDelivered(alertID: alertID, target: target, at: time)
        }
        func markAbandoned(alertID: String, target: String, at time: Timestamp, reason: String) async throws {
            try await store.markAbandoned(alertID: alertID, target: target, at: time, reason: reason)
        }
        func alerts(limit: Int) async throws -> [StoredAlert] { try await store.alerts(limit: limit) }
        func targetHealth(since: Timestamp) async throws -> [TargetHealth] { try await store.targetHealth(since: since) }
    }

    @Test("two instances with a target named ops both read the pending alert as due; the one that sends it claimed it, the other sends nothing: one message")
    func sameTargetNameDeliveredOnce() async throws {
        try await DeliveryTests.withStore { first, path in
            let second = try SQLiteCostStore(path: path)
            // The first answer waits until the test lets it go: the first instance is mid-send.
            let (arrived, arrival) = AsyncStream.makeStream(of: Void.self)
            let (answer, letAnswer) = AsyncStream.makeStream(of: Void.self)
            let receiver = try await Receiver.start(hold: { n in
                guard n == 0 else { return }
                arrival.yield()
                for await _ in answer { break }
            })
            let (secondRead, secondReading) = AsyncStream.makeStream(of: Void.self)
            let (proceed, letProceed) = AsyncStream.makeStream(of: Void.self)
            let clock = TestClock(Self.raised)
            let alert = DeliveryTests.alert("alert_shared_target")
            #expect(try await first.recordIfNew(alert, targets: ["ops"]))
            let ops = NotifyTarget(name: "ops", url: Secret(receiver.baseURL + "/h/ops"))
            try await HTTPClient.withHTTPClient { client in
                let a = Self.dispatcher(first, [ops], client, clock)
                let b = AlertDispatcher(ledger: ReadThenWaitLedger(store: second, read: secondReading, proceed: proceed), targets: [ops],
                                        transport: HTTPWebhookTransport(client: client), clock: clock.wall,
                                        sleeper: ClockSleeper(clock: clock), policy: DeliveryTests.noJitter, logger: LogCapture().logger())
                let secondRound = Task { await b.deliverDue() }
                for await _ in secondRead { break }
                let firstRound = Task { await a.deliverDue() }
                for await _ in arrived { break }

                // The first is mid-send; the second goes on with what it read: due, never tried.
                letProceed.yield()
                #expect(await secondRound.value == Self.raised.adding(seconds: 30),
                        "it looks again when the first one's claim (10 s + 20 s) runs out")
                #expect(receiver.received.count == 1, "the second instance did not send it too")

                letAnswer.yield()
                #expect(await firstRound.value == nil)
                // At the second's next look it is delivered: nothing to send.
                clock.advance(by: .seconds(30))
                letProceed.yield()
                #expect(await b.deliverDue() == nil)
            }
            #expect(receiver.received.count == 1, "one message in the channel")
            let delivery = try #require(try await second.alerts(limit: 1).first?.deliveries.first)
            #expect(delivery.deliveredAt == Self.raised && delivery.attempts == 1, "one attempt counted, not two")
            await receiver.shutdown()
        }
    }

    @Test("an instance without target ops-eu leaves its pending delivery alone; removed in a reload, it waits, and back, it is delivered")
    func otherInstancesTargetLeftAlone() async throws {
        try await DeliveryTests.withStore { eu, path in
            let us = try SQLiteCostStore(path: path)
            let receiver = try await Receiver.start(script: [500])
            let clock = TestClock(Self.raised)
            let alert = DeliveryTests.alert("alert_eu_only")
            #expect(try await eu.recordIfNew(alert, targets: ["ops-eu"]))
            let opsEU = NotifyTarget(name: "ops-eu", url: Secret(receiver.baseURL + "/h/ops-eu"))
            let opsUS = NotifyTarget(name: "ops-us", url: Secret(receiver.baseURL + "/h/ops-us"))
            func delivery() async throws -> DeliveryState {
                try #require(try await eu.alerts(limit: 1).first?.deliveries.first)
            }
            try await HTTPClient.withHTTPClient { client in
                let euDispatcher = Self.dispatcher(eu, [opsEU], client, clock)
                #expect(await euDispatcher.deliverDue() == Self.raised.adding(seconds: 30), "HTTP 500: retried in 30 s")

                // Between the EU instance's retries, the US instance's round.
                clock.advance(by: .seconds(10))
                #expect(await Self.dispatcher(us, [opsUS], client, clock).deliverDue() == nil, "nothing of its own to deliver")
                var state = try await delivery()
                #expect(state.abandonedAt == nil && state.attempts == 1 && state.nextAttemptAt == Self.raised.adding(seconds: 30))
                #expect(try await us.pendingDeliveries(targets: ["ops-us"]).isEmpty)

                // A reload drops ops-eu: not attempted, not given up.
                await euDispatcher.replaceTargets([])
                clock.advance(by: .seconds(21))
                #expect(await euDispatcher.deliverDue() == nil)
                state = try await delivery()
                #expect(state.abandonedAt == nil && state.deliveredAt == nil && state.attempts == 1)

                // Back in the config, it goes out on the next round.
                await euDispatcher.replaceTargets([opsEU])
                #expect(await euDispatcher.deliverDue() == nil)
            }
            let state = try await delivery()
            #expect(state.deliveredAt == Self.raised.adding(seconds: 31) && state.attempts == 2 && state.abandonedAt == nil)
            #expect(receiver.received.map(\.path) == ["/h/ops-eu", "/h/ops-eu"], "no request to the other instance's target")
            await receiver.shutdown()
        }
    }

    /// Answers every request with an error that quotes the URL, as some client errors do.
    struct QuotingTransport: WebhookTransport {
        struct Failure: Error, CustomStringConvertible { var description: String }
        let quote: @Sendable (String) -> String
        func post(to url: Secret, body: [UInt8], headers: [(name: String, value: String)], timeout: Duration) async throws -> Int {
            throw Failure(description: quote(url.revealed))
        }
    }

    @Test("a webhook URL with user:password@ keeps the credential out of the error, whole, alone or percent-decoded")
    func userinfoScrubbed() async throws {
        let url = "https://hooks-bot:s3cr%40tToken@hooks.example.com/services/T0001/B0001/xyzXYZ0123456789"
        let transport = QuotingTransport { url in
            "proxy refused \(url); Basic auth for hooks-bot:s3cr%40tToken was rejected (password s3cr@tToken, s3cr%40tToken)"
        }
        let target = NotifyTarget(name: "ops", url: Secret(url))
        let dispatcher = AlertDispatcher(ledger: try SQLiteCostStore.inMemory(), targets: [target], transport: transport,
                                         clock: TestClock(Self.raised).wall, logger: LogCapture().logger())
        guard case .failure(let failure) = await dispatcher.sendNow(DeliveryTests.alert(), to: target) else {
            Issue.record("a transport error must fail the test message")
            return
        }
        let text = failure.description
        for secret in ["s3cr", "tToken", "hooks-bot:", "xyzXYZ0123456789", "/services/"] {
            #expect(!text.contains(secret), "'\(secret)' in: \(text)")
        }
        #expect(text.contains("proxy refused <webhook>") && text.contains("was rejected"), "still says what went wrong: \(text)")
    }
}
