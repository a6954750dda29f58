import ProcessHarness
import CostModel
import Foundation
import Simulator
import SQLite
import SyncEngine
import Testing

extension EndToEnd {
    @Suite("interruptions and concurrent readers")
    struct Interruptions {
        @Test("a kill -9 in the middle of a backfill, then the same command again, ends with the exact data and no duplicates")
        func killNineThenResume() async throws {
            let today = pinnedToday
            let first = today.advanced(by: -199)
            let range = DayRange(first, today)
            try await Fixture.with(smallWorld(today: today, linesPerDay: 30), sync: SyncSection(startDate: first)) { fx in
                // Slow pages, so that the kill lands with some days written and most not.
                fx.simulator.setFaults(FaultPlan(latency: .milliseconds(400)))
                let backfill = ["backfill", "--from", "\(first)", "--to", "\(today)"]
                let process = try fx.start(backfill)
                let someDaysWritten = await eventually(timeout: .seconds(60)) {
                    try fx.count("SELECT COUNT(*) FROM sync_days") > 0
                }
                process.signal(SIGKILL)
                let killed = await process.wait(timeout: .seconds(10))
                try #require(someDaysWritten, "no day was written before the time limit: \(killed)")
                #expect(killed.termination == Termination(status: SIGKILL, signaled: true), "\(killed)")

                // What the kill left: whole days only, each exactly the provider's.
                let (written, problems) = try fx.partialDays()
                expectNoProblems(problems, "after kill -9")
                #expect(written > 0 && written < 4 * range.count, "the kill did not land mid-backfill: \(written) days written")
                for org in fx.orgs {
                    // The cursor never claims a day whose rows are not committed.
                    if let next = try fx.cursor(org.provider, org.name)?.nextDay, next > first {
                        let covered = try fx.count("""
                            SELECT COUNT(*) FROM sync_days WHERE provider = ?1 AND org = ?2 AND day < ?3 AND is_final = 1
                            """, [.text(org.provider.rawValue), .text(org.name), .text(next.description)])
                        #expect(covered == first.distance(to: next), "\(org.name): cursor \(next) runs ahead of its final days")
                    }
                }

                // What the resumed backfill must fetch: per org, the days the
                // kill left without a final row, windowed as the planner does.
                var expected: [String: Int] = [:]
                for org in fx.orgs {
                    let final = try fx.days("""
                        SELECT day FROM sync_days WHERE provider = ?1 AND org = ?2 AND is_final = 1
                        """, [.text(org.provider.rawValue), .text(org.name)])
                    let windows = FetchPlanner.ranges(range, skipping: final, maxDaysPerRequest: 31)
                    expected[org.name] = windows.reduce(0) { $0 + ($1.count + 30) / 31 }
                }
                #expect(expected.values.reduce(0, +) < fx.orgs.count * ((range.count + 30) / 31), "the kill left nothing final")

                fx.simulator.setFaults(.none)
                fx.simulator.resetRequests()
                try await fx.runOK(backfill)
                expectNoProblems(try fx.mismatches(in: range), "after the resumed backfill")
                #expect(try fx.count("SELECT COUNT(*) FROM sync_days") == 4 * range.count)
                // Resuming fetched exactly the days that were not final yet: no final day twice.
                var made: [String: Int] = [:]
                for request in fx.simulator.costRequests where request.provider != nil { made[request.org ?? "?", default: 0] += 1 }
                #expect(made == expected, "requests per org of the resumed backfill")
            }
        }

        @Test("SIGTERM during run exits 0 promptly")
        func sigtermWhileSleeping() async throws {
            let today = pinnedToday
            try await Fixture.with(smallWorld(today: today, linesPerDay: 10),
                                   sync: SyncSection(pollInterval: "1h", startDate: today.advanced(by: -14))) { fx in
                let daemon = try fx.start(["run"])
                let orgs = fx.orgs
                let firstPassDone = await eventually(timeout: .seconds(60)) {
                    guard try fx.count("SELECT COUNT(*) FROM costs") > 0 else { return false }
                    return try orgs.allSatisfy { try fx.cursor($0.provider, $0.name)?.lastSuccessAt != nil }
                }
                #expect(!daemon.hasExited, "the daemon exited on its own: \(daemon.stderr.text)")
                let sent = ContinuousClock.now
                daemon.signal(SIGTERM)
                let result = await daemon.wait(timeout: .seconds(30))
                let took = ContinuousClock.now - sent
                try #require(firstPassDone, "the first pass never completed: \(result)")
                #expect(result.exitedNormally && result.status == 0, "\(result)")
                // Generous for a loaded CI machine; a sleep not cut short would take an hour.
                #expect(took < .seconds(20), "SIGTERM took \(took) to stop the daemon")
                expectNoProblems(try fx.mismatches(in: DayRange(today.advanced(by: -14), today)), "the first pass")
            }
        }

        @Test("SIGTERM in the middle of a pass exits promptly and leaves no partial day")
        func sigtermDuringSlowBackfill() async throws {
            let today = pinnedToday
            let first = today.advanced(by: -199)
            try await Fixture.with(smallWorld(today: today, linesPerDay: 30), sync: SyncSection(startDate: first)) { fx in
                fx.simulator.setFaults(FaultPlan(latency: .milliseconds(400)))
                let backfill = try fx.start(["backfill", "--from", "\(first)", "--to", "\(today)"])
                let started = await eventually(timeout: .seconds(60)) { try fx.count("SELECT COUNT(*) FROM sync_days") > 0 }
                let sent = ContinuousClock.now
                backfill.signal(SIGTERM)
                let result = await backfill.wait(timeout: .seconds(30))
                let took = ContinuousClock.now - sent
                try #require(started, "no day was written: \(result)")
                #expect(took < .seconds(20), "SIGTERM took \(took) to stop the backfill")
                // Interrupted, not crashed: a normal exit, saying how to resume.
                #expect(result.exitedNormally, "\(result)")
                #expect(result.stderr.contains("interrupted"), "\(result)")
                let (written, problems) = try fx.partialDays()
                expectNoProblems(problems, "after SIGTERM")
                #expect(written < 4 * first.distance(to: today), "the backfill finished before SIGTERM: \(written) days")

                // And the daemon, stopped with requests in flight, exits 0. The
                // simulator records a request when it arrives and then holds
                // the answer 60 s: once one is recorded, it is in flight.
                fx.simulator.setFaults(FaultPlan(latency: .seconds(60)))
                try fx.writeConfig(SyncSection(pollInterval: "1h", startDate: first))
                fx.simulator.resetRequests()
                let daemon = try fx.start(["run"])
                let requested = await eventually(timeout: .seconds(30)) { !fx.simulator.requests.isEmpty }
                let sentToDaemon = ContinuousClock.now
                daemon.signal(SIGTERM)
                let daemonResult = await daemon.wait(timeout: .seconds(50))
                try #require(requested, "no request reached the simulator: \(daemonResult)")
                // Well under the 60 s the answers would take: the requests were cancelled.
                #expect(ContinuousClock.now - sentToDaemon < .seconds(30), "\(daemonResult)")
                #expect(daemonResult.exitedNormally && daemonResult.status == 0, "\(daemonResult)")
                expectNoProblems(try fx.partialDays().problems, "after SIGTERM to run")
            }
        }

        @Test("a sqlite3 reader looping during a backfill never sees 'database is locked'")
        func sqliteShellReaderDuringBackfill() async throws {
            let today = pinnedToday
            let first = today.advanced(by: -399)
            try await Fixture.with(smallWorld(today: today), sync: SyncSection(startDate: first)) { fx in
                fx.simulator.setFaults(FaultPlan(latency: .milliseconds(100)))
                let backfill = try fx.start(["backfill", "--from", "\(first)", "--to", "\(today)"])
                // The reader starts once the schema is there (the shell would
                // otherwise create an empty database file of its own).
                let ready = await eventually(timeout: .seconds(60)) { try fx.count("SELECT COUNT(*) FROM sync_cursor") >= 0 }
                try #require(ready)
                let dir = fx.directory.path
                let stop = dir + "/stop-reader"
                let script = """
                    n=0
                    while [ ! -e '\(stop)' ]; do
                      /usr/bin/sqlite3 '\(fx.databasePath)' 'SELECT count(*) FROM costs; SELECT provider, org, sum(amount_nanos) FROM daily_costs GROUP BY 1, 2;' >/dev/null 2>>'\(dir)/reader.err' || echo "exit $?" >>'\(dir)/reader.err'
                      n=$((n+1))
                    done
                    echo "$n"
                    """
                let reader = try Subprocess(executable: "/bin/bash", arguments: ["-c", script],
                                            environment: ["PATH": "/usr/bin:/bin"])
                let result = await backfill.wait(timeout: .seconds(180))
                _ = FileManager.default.createFile(atPath: stop, contents: nil)
                let readerResult = await reader.wait(timeout: .seconds(30))
                #expect(result.exitedNormally && result.status == 0, "\(result)")
                let errors = (try? String(contentsOfFile: dir + "/reader.err", encoding: .utf8)) ?? ""
                let iterations = Int(readerResult.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
                #expect(!errors.localizedCaseInsensitiveContains("locked"), "\(errors.prefix(2000))")
                #expect(!errors.localizedCaseInsensitiveContains("busy"), "\(errors.prefix(2000))")
                #expect(errors.isEmpty, "the sqlite3 shell reported: \(errors.prefix(2000))")
                #expect(iterations >= 5, "the reader only ran \(iterations) times while the backfill ran")
                expectNoProblems(try fx.mismatches(in: DayRange(first, today), lineDays: [today]), "after the backfill")
            }
        }
    }
}
