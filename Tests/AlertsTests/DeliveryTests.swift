import Alerts
import AsyncHTTPClient
import Config
import CostModel
import Foundation
import SQLiteStore
import StorePort
import Testing

/// Moves the test clock instead of sleeping, so retries happen at once and
/// their times are still the policy's.
struct ClockSleeper: AlertSleeper {
    let clock: TestClock
    func sleep(for duration: Duration) async throws {
        try Task.checkCancellation()
        clock.advance(by: duration)
        await Task.yield()
    }
}

@Suite("Webhook delivery: retries, restarts, giving up", .serialized)
struct DeliveryTests {
    static let raised = Timestamp(rfc3339: "2025-06-20T12:00:00Z")!

    static func alert(_ id: String = "alert_delivery_test") -> AlertRecord {
        AlertRecord(id: id, kind: .budget, budget: "claude-monthly", provider: .anthropic, org: "acme-ai", workspaceID: nil,
                    currency: "USD", period: "2025-06", thresholdPercent: 80, spentNanos: 4_000_123_456_789,
                    limitNanos: 5_000_000_000_000, forecastNanos: 6_100_000_000_000, text: "80% of claude-monthly", raisedAt: raised)
    }

    static let noJitter = DeliveryPolicy(jitter: { _ in .zero })

    static func withStore(_ body: (SQLiteCostStore, String) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("costsync-delivery-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("costs.sqlite").path
        try await body(try SQLiteCostStore(path: path), path)
    }

    @Test("a receiver answering 500, 500, then 200 gets the alert, every try with the same Idempotency-Key and body, on the backoff's schedule")
    func retriesUntilDelivered() async throws {
        try await Self.withStore { store, _ in
            let receiver = try await Receiver.start(script: [500, 500])
            let clock = TestClock(Self.raised)
            let alert = Self.alert()
            #expect(try await store.recordIfNew(alert, targets: ["ops"]))
            #expect(try await store.recordIfNew(alert, targets: ["ops"]) == false, "the same id is recorded once")
            let logs = LogCapture()
            try await HTTPClient.withHTTPClient { client in
                let dispatcher = AlertDispatcher(ledger: store, targets: [NotifyTarget(name: "ops", url: Secret(receiver.baseURL + "/h/ops"))],
                                                 transport: HTTPWebhookTransport(client: client), clock: clock.wall,
                                                 sleeper: ClockSleeper(clock: clock), policy: Self.noJitter, logger: logs.logger())
                let loop = Task { await dispatcher.run() }
                dispatcher.wake()
                let done = try await eventually { try await store.alerts(limit: 1).first?.deliveries.first?.deliveredAt != nil }
                loop.cancel()
                await loop.value
                #expect(done)
            }
            let received = receiver.received
            #expect(received.count == 3)
            #expect(received.allSatisfy { $0.header("idempotency-key") == alert.id })
            #expect(Set(received.map(\.body)).count == 1)
            #expect(received.first?.json["spent"] as? String == "4000.123456789")
            let delivery = try #require(try await store.alerts(limit: 1).first?.deliveries.first)
            #expect(delivery.attempts == 3)
            // Tried at once, after 30 s, after 60 s more.
            #expect(delivery.deliveredAt == Self.raised.adding(seconds: 90))
            #expect(logs.count("alert delivery failed; retrying") == 2)
            #expect(logs.all.filter { $0.contains("alert delivery failed") }.allSatisfy { $0.hasPrefix("warning") && $0.contains("HTTP 500") })
            #expect(try await store.pendingDeliveries(targets: ["ops"]).isEmpty)
            await receiver.shutdown()
        }
    }

    @Test("across a restart the retry keeps its schedule from the table; after an hour of failures it is given up and the target is failing")
    func retryAcrossRestartsThenGiveUp() async throws {
        try await Self.withStore { store, path in
            let receiver = try await Receiver.start(script: [500, 500, 500])
            let clock = TestClock(Self.raised)
            let alert = Self.alert("alert_restart_test")
            _ = try await store.recordIfNew(alert, targets: ["ops"])
            let target = NotifyTarget(name: "ops", url: Secret(receiver.baseURL + "/h/ops"))
            try await HTTPClient.withHTTPClient { client in
                func dispatcher(_ ledger: SQLiteCostStore) -> AlertDispatcher {
                    AlertDispatcher(ledger: ledger, targets: [target], transport: HTTPWebhookTransport(client: client), clock: clock.wall,
                                    sleeper: ClockSleeper(clock: clock), policy: Self.noJitter, logger: LogCapture().logger())
                }
                let next = await dispatcher(store).deliverDue()
                #expect(next == Self.raised.adding(seconds: 30))
                #expect(receiver.received.count == 1)

                // A new process on the same database, 10 s later: not due yet.
                let reopened = try SQLiteCostStore(path: path)
                clock.advance(by: .seconds(10))
                #expect(await dispatcher(reopened).deliverDue() == Self.raised.adding(seconds: 30))
                #expect(receiver.received.count == 1)
                clock.advance(by: .seconds(21))
                _ = await dispatcher(reopened).deliverDue()
                #expect(receiver.received.count == 2)
                #expect(Set(receiver.received.compactMap { $0.header("idempotency-key") }) == [alert.id])

                // Past the hour: given up, no further request.
                clock.set(Self.raised.adding(seconds: 3601))
                #expect(await dispatcher(reopened).deliverDue() == nil)
                #expect(receiver.received.count == 2)
                let delivery = try #require(try await reopened.alerts(limit: 1).first?.deliveries.first)
                #expect(delivery.abandonedAt == Self.raised.adding(seconds: 3601) && delivery.deliveredAt == nil)
                let health = try await reopened.targetHealth(since: Self.raised)
                #expect(health.count == 1 && health.first?.isFailing == true && health.first?.abandoned == 1)
                #expect(health.first?.lastError?.contains("HTTP 500") == true)
            }
            await receiver.shutdown()
        }
    }

    @Test("the backoff doubles from 30 s to at most 10 min, plus at most a fifth of jitter")
    func backoff() {
        let policy = Self.noJitter
        #expect((1...7).map { policy.delay(afterFailures: $0) } == [30, 60, 120, 240, 480, 600, 600].map { Duration.seconds($0) })
        let jittered = DeliveryPolicy()
        for failures in 1...8 {
            let d = jittered.delay(afterFailures: failures)
            let base = policy.delay(afterFailures: failures)
            #expect(d >= base && d <= base + base / 5)
        }
    }
}
