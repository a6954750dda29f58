import ProcessHarness
import CostModel
import Foundation
import Simulator
import SQLite
import Testing

extension EndToEnd {
    /// Providers that answer well-formed but wrong: costsync stays exact and says so.
    @Suite("providers that lie")
    struct Lying {
        /// One org of each provider, ClickHouse records unlocked for 20 days.
        static func world(today: Day, linesPerDay: Int = 12) -> SimulatorWorld {
            SimulatorWorld(seed: 21, today: today,
                           anthropicOrgs: [SimAnthropicOrg(name: "acme-ai", linesPerDay: linesPerDay, workspaces: 3)],
                           clickhouseOrgs: [SimClickHouseOrg(name: "acme-analytics", services: 3)],
                           unlockedDays: 20)
        }

        /// `(rows, non-final days, days held for confirmation)` of one org.
        func snapshot(_ fx: Fixture, _ org: String) throws -> (rows: Int, pending: Int, held: Int) {
            (try fx.count("SELECT COUNT(*) FROM costs WHERE org = ?1", [.text(org)]),
             try fx.count("SELECT COUNT(*) FROM sync_days WHERE org = ?1 AND is_final = 0", [.text(org)]),
             try fx.count("SELECT COUNT(*) FROM sync_days WHERE org = ?1 AND empty_pending_since IS NOT NULL", [.text(org)]))
        }

        @Test("an empty answer leaves stored days and their finality as they were; the next clean poll is exact; two empty answers in a row do empty the days")
        func emptyAnswers() async throws {
            let today = pinnedToday
            let first = today.advanced(by: -29)
            // Without re-checks: an empty answer to a re-check would (rightly) reopen the final days it covers.
            try await Fixture.with(Self.world(today: today),
                                   sync: SyncSection(startDate: first, maxConcurrentOrgs: 1, extra: "recheck_days = 0\n")) { fx in
                try await fx.runOK(["run", "--once"])
                let range = DayRange(first, today)
                expectNoProblems(try fx.mismatches(in: range), "after the first poll")
                let before = try snapshot(fx, "acme-analytics")
                let finalBefore = try fx.days("SELECT day FROM sync_days WHERE is_final = 1")
                #expect(before.pending >= 19, "the unlocked ClickHouse days are pending: \(before)")

                // A backend hiccup: both providers answer "no costs at all", once.
                fx.simulator.setFaults(FaultPlan([.init(.emptyAnswer, target: .clickhouse), .init(.emptyAnswer, target: .anthropic)]))
                let hiccup = try await fx.runOK(["run", "--once"])
                #expect(fx.simulator.faults.queue.isEmpty)
                let held = try snapshot(fx, "acme-analytics")
                #expect(held.rows == before.rows && held.pending == before.pending, "\(before) → \(held)")
                #expect(held.held > 0)
                #expect(try fx.days("SELECT day FROM sync_days WHERE is_final = 1") == finalBefore, "finality moved")
                expectNoProblems(try fx.mismatches(in: range), "after the empty answers")
                #expect(hiccup.stderr.contains("would empty a stored day"), "\(hiccup.stderr)")
                #expect(hiccup.stderr.contains("request.id="), "the warning names the request")

                // A restart later, a clean poll: nothing is held any more, all exact.
                try await fx.runOK(["run", "--once"])
                #expect(try snapshot(fx, "acme-analytics").held == 0)
                #expect(try snapshot(fx, "acme-ai").held == 0)
                expectNoProblems(try fx.mismatches(in: range), "after the clean poll")

                // Two empty answers in a row are believed: a real restatement to zero.
                fx.simulator.setFaults(.next(1, .emptyAnswer, target: .clickhouse))
                try await fx.runOK(["run", "--once"])
                fx.simulator.setFaults(.next(1, .emptyAnswer, target: .clickhouse))
                let confirmed = try await fx.runOK(["run", "--once"])
                let emptied = try snapshot(fx, "acme-analytics")
                #expect(emptied.held == 0)
                #expect(emptied.rows < before.rows, "\(before) → \(emptied)")
                let pendingRows = try fx.count("""
                    SELECT COUNT(*) FROM costs c JOIN sync_days d USING (provider, org, day)
                    WHERE c.org = 'acme-analytics' AND d.is_final = 0
                    """)
                #expect(pendingRows == 0, "the days the two answers emptied still hold rows")
                #expect(confirmed.stderr.contains("confirmed a stored day is empty"), "\(confirmed.stderr)")
            }
        }

        @Test("a day missing from an Anthropic answer is named, not written and not final; the next poll fills it")
        func missingBucket() async throws {
            let today = pinnedToday
            let first = today.advanced(by: -9)
            let missing = today.advanced(by: -6)
            try await Fixture.with(Self.world(today: today), sync: SyncSection(startDate: first)) { fx in
                fx.simulator.setFaults(.next(1, .missingBucket(missing), target: .anthropic))
                let result = try await fx.runOK(["run", "--once"])
                #expect(result.stderr.contains("no bucket") && result.stderr.contains("\(missing)"), "\(result.stderr)")
                #expect(try fx.count("SELECT COUNT(*) FROM sync_days WHERE org = 'acme-ai' AND day = ?1", [.text("\(missing)")]) == 0)
                // The cursor cannot pass a day that was never written.
                let cursor = try #require(try fx.cursor(.anthropic, "acme-ai")?.nextDay)
                #expect(cursor <= missing)

                try await fx.runOK(["run", "--once"])
                expectNoProblems(try fx.mismatches(in: DayRange(first, today)), "after the next poll")
                #expect(try fx.count("SELECT is_final FROM sync_days WHERE org = 'acme-ai' AND day = ?1", [.text("\(missing)")]) == 1)
            }
        }

        @Test("a body over max_response_bytes is asked for again in fewer days, never refused for ever, and the data is exact")
        func bodyOverTheCap() async throws {
            let today = pinnedToday
            let first = today.advanced(by: -59)
            // ~300 bytes a line: a 31-day page of 1,000 lines a day is ~9 MB, far over 1 MiB.
            try await Fixture.with(Self.world(today: today, linesPerDay: 1_000),
                                   sync: SyncSection(startDate: first, extra: "max_response_bytes = 1048576\n")) { fx in
                let result = try await fx.runOK(["backfill", "--from", "\(first)", "--to", "\(today)", "--provider", "anthropic"])
                #expect(result.stderr.contains("passed the response cap"), "\(result.stderr)")
                expectNoProblems(try fx.mismatches(in: DayRange(first, today), orgs: [(.anthropic, "acme-ai")]), "after the backfill")
                let limits = fx.simulator.costRequests.compactMap { $0.queryValue("limit").flatMap(Int.init) }
                #expect(limits.first == 31)
                #expect(limits.last.map { $0 <= 3 } == true, "\(limits)")
                // What worked is remembered: after the first shrink, never 31 again.
                #expect(limits.dropFirst(3).allSatisfy { $0 < 31 }, "\(limits)")
            }
        }

        @Test("an org of 10,000 lines a day backfills exactly in smaller pages")
        func hugeOrg() async throws {
            let today = pinnedToday
            let first = today.advanced(by: -11)
            try await Fixture.with(Self.world(today: today, linesPerDay: 10_000), sync: SyncSection(startDate: first)) { fx in
                try await fx.runOK(["backfill", "--from", "\(first)", "--to", "\(today)", "--provider", "anthropic"],
                                   timeout: .seconds(300))
                expectNoProblems(try fx.mismatches(in: DayRange(first, today), orgs: [(.anthropic, "acme-ai")]), "after the backfill")
                let limits = fx.simulator.costRequests.compactMap { $0.queryValue("limit").flatMap(Int.init) }
                #expect(limits.contains { $0 <= 2 }, "pages never shrank: \(limits)")
            }
        }

        @Test("a 200 whose body is the provider's error is reported as that error, with its message and request id; a transient one is retried")
        func errorInsideA200() async throws {
            let today = pinnedToday
            try await Fixture.with(Self.world(today: today), sync: SyncSection(startDate: today.advanced(by: -5))) { fx in
                fx.simulator.setFaults(FaultPlan([.init(.errorInside200(status: 403), target: .anthropic),
                                                  .init(.errorInside200(status: 503), target: .clickhouse)]))
                let result = try await fx.run(["run", "--once"])
                #expect(result.status == 1, "\(result)")
                let error = try #require(try fx.cursor(.anthropic, "acme-ai")?.lastError)
                #expect(error.contains("permission denied") && error.contains("Simulated 403 error, inside a 200")
                        && error.contains("request req_sim_"), "\(error)")
                #expect(!error.contains("no \"data\" array"), "\(error)")
                // ClickHouse's envelope said 503: retried like one, and the org completed.
                #expect(try fx.cursor(.clickhouse, "acme-analytics")?.lastError == nil)
                #expect(result.stderr.contains("provider server error (HTTP 200") && result.stderr.contains("simulated, inside a 200"), "\(result.stderr)")
            }
        }

        @Test("a 900-day backfill over one ClickHouse key draws no 429 from a server that counts a sliding window by arrival")
        func pacingHoldsAtTheServer() async throws {
            let today = pinnedToday
            let first = today.advanced(by: -899)
            let world = SimulatorWorld(seed: 5, today: today, clickhouseOrgs: [SimClickHouseOrg(name: "acme-analytics", services: 1)])
            try await Fixture.with(world, sync: SyncSection(startDate: first)) { fx in
                fx.simulator.enforceClickHouseRateLimit(10, per: .seconds(10))
                try await fx.runOK(["backfill", "--from", "\(first)", "--to", "\(today)"], timeout: .seconds(300))
                let statuses = fx.simulator.costRequests.filter { $0.provider == .clickhouse }.map(\.status)
                #expect(statuses.count >= 30)
                #expect(!statuses.contains(429), "429s: \(statuses.filter { $0 == 429 }.count)")
                expectNoProblems(try fx.mismatches(in: DayRange(first, today)), "after the backfill")
            }
        }

        @Test("under a pseudo-terminal, the last progress frame reads N/N days and no log line shares a line with it")
        func progressUnderATerminal() async throws {
            let today = pinnedToday
            let first = today.advanced(by: -119)
            try await Fixture.with(Self.world(today: today), sync: SyncSection(startDate: first)) { fx in
                // Slow answers and a retried one: log lines arrive while the line is shown.
                fx.simulator.setFaults(FaultPlan([.init(.status(503), target: .clickhouse)], latency: .milliseconds(150)))
                // script(1) runs costsync on a pseudo-terminal and copies what it draws.
                let command = ([fx.binary] + fx.arguments(["backfill", "--from", "\(first)", "--to", "\(today)"]))
                    .map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
                let run = try Subprocess(executable: "/usr/bin/script", arguments: ["-qefc", command, "/dev/null"],
                                         environment: fx.environment())
                let result = await run.wait(timeout: .seconds(180))
                #expect(result.exitedNormally && result.status == 0, "\(result)")
                let screen = result.stdout
                // What a terminal shows of each line: the text after the last "erase line".
                let visible = screen.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false)
                    .map { line -> String in
                        let text = String(line)
                        guard let r = text.range(of: "\u{1B}[K", options: .backwards) else { return text }
                        return String(text[r.upperBound...])
                    }
                let frames = visible.filter { $0.contains("backfill: ") && $0.contains(" days, ") }
                let last = try #require(frames.last, "no progress frame in: \(screen.suffix(2000))")
                #expect(last.hasPrefix("backfill: 240/240 days"), "\(last)")
                for line in visible where line.contains("backfill: ") && line.contains(" days, ") {
                    #expect(!line.contains(" info ") && !line.contains(" warning ") && !line.contains("costsync:"), "shared: \(line)")
                }
                #expect(visible.contains { $0.contains("warning") && $0.contains("retrying") }, "no log line was written meanwhile")
            }
        }
    }
}
