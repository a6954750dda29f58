import ProcessHarness
import CostModel
import Foundation
import Simulator
import SQLite
import Testing

extension EndToEnd {
    @Suite("misbehaving providers")
    struct ProviderFaults {
        @Test("429s, 5xx and dropped connections are retried and the data is still exact")
        func transientFaultsAreRetried() async throws {
            let today = pinnedToday
            let first = today.advanced(by: -40)
            try await Fixture.with(smallWorld(today: today, linesPerDay: 15), sync: SyncSection(startDate: first)) { fx in
                var plan = FaultPlan()
                plan.append(.status(503), target: .clickhouse)
                plan.append(.dropConnection, target: .anthropic)
                plan.append(.status(429, retryAfterSeconds: 1), target: .clickhouse)
                plan.append(.status429WithAnthropicReset(secondsFromNow: 1), target: .anthropic)
                plan.append(.status(529), target: .anthropic)
                plan.append(.truncatedBody, target: .anthropic)
                plan.append(.status(500), target: .clickhouse)
                fx.simulator.setFaults(plan)
                let result = try await fx.runOK(["run", "--once"], timeout: .seconds(120))
                #expect(fx.simulator.faults.queue.isEmpty, "not every planned fault was served: \(fx.simulator.faults.queue)")
                let faulted = fx.simulator.costRequests.filter { $0.fault != nil }
                #expect(faulted.count == 7, "\(faulted.map { "\($0.org ?? "-"): \(String(describing: $0.fault))" })")
                expectNoProblems(try fx.mismatches(in: DayRange(first, today)), "after retried faults\n\(result.stderr.suffix(3000))")
                for org in fx.orgs {
                    let c = try #require(try fx.cursor(org.provider, org.name))
                    #expect(c.lastError == nil && c.consecutiveFailures == 0, "\(org.name): \(c)")
                }
            }
        }

        @Test("a response cut off once is asked for again; one cut off every time fails that org with its request id and byte offset, keeping the pages before it; a grand-total mismatch is stored, flagged and healed")
        func undecodableResponsesAndMismatches() async throws {
            let today = pinnedToday
            let first = today.advanced(by: -99)
            // One org at a time, so that the faults below land on known requests.
            try await Fixture.with(smallWorld(today: today, linesPerDay: 15),
                                   sync: SyncSection(startDate: first, maxConcurrentOrgs: 1)) { fx in
                // acme-ai's first page arrives whole (a zero delay only takes a
                // place in the queue); its second is cut off halfway on every
                // attempt. globex-ai's first answer is cut off once only.
                var plan = FaultPlan()
                plan.append(.latency(.zero), target: .anthropic)
                plan.append(.truncatedJSON, target: .anthropic, times: 3)
                plan.append(.truncatedJSON, target: .anthropic)
                // One ClickHouse answer whose grand total contradicts its records.
                plan.append(.grandTotalMismatch, target: .clickhouse)
                fx.simulator.setFaults(plan)
                let backfill = ["backfill", "--from", "\(first)", "--to", "\(today)"]
                let failed = try await fx.run(backfill)
                #expect(failed.exitedNormally && failed.status == 1, "\(failed)")
                #expect(fx.simulator.faults.queue.isEmpty)

                // The page before the cut-off one is kept, and the cursor covers it;
                // its last day waits for the next page (a day split across pages
                // is written whole), so 30 of its 31 days are stored.
                #expect(try fx.count("SELECT COUNT(*) FROM sync_days WHERE org = 'acme-ai'") == 30)
                expectNoProblems(try fx.mismatches(in: DayRange(first, first.advanced(by: 29)), orgs: [(.anthropic, "acme-ai")]),
                                 "acme-ai's first page")
                let acme = try #require(try fx.cursor(.anthropic, "acme-ai"))
                #expect(acme.nextDay == first.advanced(by: 30))
                let error = try #require(acme.lastError, "acme-ai did not record its failure")
                #expect(error.contains("could not be decoded") && error.contains("at byte") && error.contains("request req_sim_")
                        && error.contains("3 attempts"), "\(error)")
                #expect(failed.stderr.contains("acme-ai"), "\(failed.stderr)")

                // globex-ai's cut-off answer was asked for again and is exact.
                #expect(try fx.cursor(.anthropic, "globex-ai")?.lastError == nil)
                expectNoProblems(try fx.mismatches(in: DayRange(first, today), orgs: [(.anthropic, "globex-ai")]), "globex-ai")

                // The mismatching ClickHouse answer: its records are stored (they
                // are the data), its days are not final and carry both figures.
                let flagged = try fx.count("""
                    SELECT COUNT(*) FROM sync_days WHERE org = 'acme-analytics' AND provider_total IS NOT NULL AND is_final = 0
                    """)
                #expect(flagged == 31)
                expectNoProblems(try fx.mismatches(in: DayRange(first, today), orgs: fx.orgs.filter { $0.provider == .clickhouse }),
                                 "ClickHouse rows, the mismatching answer's included")
                let status = try await fx.run(["status"])
                #expect(status.status == 1, "\(status)")
                #expect(status.stdout.contains("disagrees with its records on 31 day(s)"), "\(status.stdout)")
                expectNoProblems(try fx.partialDays().problems, "after the failed backfill")

                // The same command again: everything exact, nothing flagged, healthy.
                try await fx.runOK(backfill)
                expectNoProblems(try fx.mismatches(in: DayRange(first, today)), "after the backfill ran again")
                #expect(try fx.count("SELECT COUNT(*) FROM sync_days WHERE provider_total IS NOT NULL") == 0)
                for org in fx.orgs {
                    #expect(try fx.cursor(org.provider, org.name)?.consecutiveFailures == 0)
                }
                try await fx.runOK(["status"])
            }
        }
    }

    @Suite("the command line")
    struct CommandLine {
        @Test("backfill --org and --provider touch only the orgs they name, and stop at today")
        func backfillFilters() async throws {
            let today = pinnedToday
            let first = today.advanced(by: -29)
            try await Fixture.with(smallWorld(today: today, linesPerDay: 10), sync: SyncSection(startDate: first)) { fx in
                // A --to in the future is clamped to today: those days do not exist yet.
                try await fx.runOK(["backfill", "--from", "\(first)", "--to", "\(today.advanced(by: 10))", "--org", "globex-ai"])
                #expect(Set(fx.simulator.costRequests.compactMap(\.org)) == ["globex-ai"])
                #expect(try fx.count("SELECT COUNT(DISTINCT org) FROM sync_days") == 1)
                expectNoProblems(try fx.mismatches(in: DayRange(first, today), orgs: [(.anthropic, "globex-ai")]), "--org globex-ai")
                #expect(try fx.count("SELECT COUNT(*) FROM sync_days WHERE day > ?1", [.text(today.description)]) == 0)

                fx.simulator.resetRequests()
                try await fx.runOK(["backfill", "--from", "\(first)", "--to", "\(today)", "--provider", "clickhouse"])
                #expect(Set(fx.simulator.costRequests.compactMap(\.org)) == ["acme-analytics", "globex-warehouse"])
                expectNoProblems(try fx.mismatches(in: DayRange(first, today), orgs: fx.orgs.filter { $0.name != "acme-ai" }),
                                 "--provider clickhouse")
                #expect(try fx.count("SELECT COUNT(*) FROM costs WHERE org = 'acme-ai'") == 0)

                // Final days already stored are skipped: only the unsettled tail is asked for again.
                fx.simulator.resetRequests()
                try await fx.runOK(["backfill", "--from", "\(first)", "--to", "\(today)", "--org", "globex-ai"])
                let again = fx.simulator.costRequests.filter { $0.org == "globex-ai" }
                #expect(again.count == 1)
                #expect(again.first?.queryValue("starting_at") == today.advanced(by: -3).startTimestamp, "\(again.map(\.query))")

                let unknown = try await fx.run(["backfill", "--from", "\(first)", "--to", "\(today)", "--org", "no-such-org"])
                #expect(unknown.exitedNormally && unknown.status != 0 && unknown.status != 78, "\(unknown)")
                #expect(unknown.stderr.contains("no-such-org"), "\(unknown)")
                let backwards = try await fx.run(["backfill", "--from", "\(today)", "--to", "\(first)"])
                #expect(backwards.exitedNormally && backwards.status != 0, "\(backwards)")
                #expect(backwards.stderr.contains("--from"), "\(backwards)")
            }
        }

        @Test("demo needs no config, prints a sqlite3 query that works, and stops on SIGTERM")
        func demo() async throws {
            try await runDemo(expectInstructionsWhileRunning: false)
        }

        @Test("demo prints its instructions while it keeps syncing, also when stdout is a pipe")
        func demoFlushesItsInstructions() async throws {
            try await runDemo(expectInstructionsWhileRunning: true)
        }

        func runDemo(expectInstructionsWhileRunning: Bool) async throws {
            let binary = try CostsyncBinary.path()
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("costsync-e2e-demo-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let database = dir.appendingPathComponent("demo.sqlite").path
            let demo = try Subprocess(executable: binary, arguments: ["demo", "--database", database, "--days", "30"],
                                      environment: ["PATH": "/usr/bin:/bin", "HOME": dir.path,
                                                    "COSTSYNC_NOW": "\(pinnedToday)T12:00:00Z"],
                                      currentDirectory: dir)
            // The backfill is done when every org of the demo world has its 30 days.
            let backfilled = await eventually(timeout: .seconds(120), every: .milliseconds(100)) {
                if demo.hasExited { return true }
                let c = try Connection(path: database, mode: .readOnly)
                return try c.query("SELECT COUNT(*) FROM sync_days") { $0.int64(0) }.first == 4 * 30
            }
            #expect(backfilled && !demo.hasExited, "\(demo.stdout.text)\n\(demo.stderr.text)")
            if expectInstructionsWhileRunning {
                let shown = await eventually(timeout: .seconds(10)) { demo.stdout.text.contains("sqlite3 -header") }
                #expect(shown, "while running, stdout holds only: \(demo.stdout.text)")
            } else {
                try await Task.sleep(for: .milliseconds(300))  // past the backfill, into the polling loop
            }
            demo.signal(SIGTERM)
            let result = await demo.wait(timeout: .seconds(30))
            #expect(result.exitedNormally && result.status == 0, "\(result)")
            #expect(result.elapsed < .seconds(120))

            // The query it prints, run as a user would paste it.
            let line = result.stdout.split(separator: "\n").first { $0.contains("sqlite3 -header") }
            let command = try #require(line.map { String($0).trimmingCharacters(in: .whitespaces) }, "\(result)")
            let shell = try Subprocess(executable: "/bin/bash", arguments: ["-c", command],
                                       environment: ["PATH": "/usr/bin:/bin"], currentDirectory: dir)
            let query = await shell.wait(timeout: .seconds(30))
            #expect(query.status == 0 && query.stderr.isEmpty, "\(query)")
            #expect(query.stdout.contains("month") && query.stdout.contains("anthropic") && query.stdout.contains("clickhouse"),
                    "\(query.stdout)")
            let connection = try Connection(path: database, mode: .readOnly)
            let days = try connection.query("SELECT COUNT(DISTINCT day) FROM costs") { $0.int64(0) }.first
            #expect(days == 30)
        }
    }
}
