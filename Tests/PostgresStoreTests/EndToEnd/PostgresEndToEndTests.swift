import ProcessHarness
import CostModel
import Foundation
import LoopbackHTTP
import PostgresScratch
import Simulator
import Synchronization
import Testing

/// The real `costsync` binary on PostgreSQL: the SQLite end-to-end stories
/// again, and those only a shared database has.
// Nested in the store suite, which is serialized: its tests stop the shared
// cluster and terminate sessions, which must not land in another test's run.
extension PostgresStoreTests {
@Suite("costsync on PostgreSQL, end to end")
struct EndToEnd {
    @Test("a 400-day backfill of two orgs per provider is exact to the nano per day; run --once then asks only for the days not final")
    func backfillThenPoll() async throws {
        let today = pinnedToday
        let first = today.advanced(by: -399)
        try await PGFixture.with(smallWorld(today: today), startDate: first, extraSync: "recheck_days = 0\n") { fx in
            try await fx.runOK(["backfill", "--from", "\(first)", "--to", "\(today)"])
            let range = DayRange(first, today)
            expectNoProblems(try fx.mismatches(in: range), "after the backfill")
            #expect(try fx.count("SELECT count(*) FROM sync_days") == 4 * 400)
            #expect(!FileManager.default.fileExists(atPath: fx.directory.appendingPathComponent("unused.sqlite").path),
                    "with [postgres], no SQLite file is created")
            var cursors: [String: Day] = [:]
            for org in fx.orgs {
                let cursor = try #require(try fx.cursor(org))
                #expect(cursor.lastError == nil && cursor.lastSuccess != nil)
                let expected = org.provider == .anthropic ? today.advanced(by: -3) : today.advanced(by: -(fx.world.unlockedDays - 1))
                #expect(cursor.next == expected, "\(org.name)")
                cursors[org.name] = cursor.next
            }
            fx.simulator.resetRequests()
            try await fx.runOK(["run", "--once"])
            for org in fx.orgs {
                let mine = fx.simulator.costRequests.filter { $0.provider != nil && $0.org == org.name }
                #expect(mine.count == 1, "\(org.name): \(mine.map { "\($0.path)?\($0.query)" })")
                guard let request = mine.first, let cursor = cursors[org.name] else { continue }
                switch org.provider {
                case .anthropic: #expect(request.queryValue("starting_at") == cursor.startTimestamp, "\(request.query)")
                case .clickhouse: #expect(request.queryValue("from_date") == cursor.description, "\(request.query)")
                }
            }
            expectNoProblems(try fx.mismatches(in: range, lineDays: [today, today.advanced(by: -1)]), "after run --once")
        }
    }

    @Test("a restated day replaces its old rows, and the change is in cost_revisions")
    func restatement() async throws {
        let today = pinnedToday
        let first = today.advanced(by: -19)
        try await PGFixture.with(smallWorld(today: today), startDate: first) { fx in
            try await fx.runOK(["run", "--once"])
            let range = DayRange(first, today)
            expectNoProblems(try fx.mismatches(in: range, lineDays: Set(range)), "after the first run")
            fx.simulator.update { $0.revision += 1 }
            let recent = DayRange(today.advanced(by: -(fx.world.unlockedDays - 1)), today)
            let stale = try fx.mismatches(in: recent, lineDays: Set(recent))
            #expect(stale.count >= fx.orgs.count, "the restatement changed nothing stored: \(stale)")
            try await fx.runOK(["run", "--once"])
            expectNoProblems(try fx.mismatches(in: range, lineDays: Set(range)), "after the restatement")
            #expect(try fx.count("SELECT count(*) FROM cost_revisions") > 0)
            #expect(try fx.count("SELECT count(*) FROM cost_revisions WHERE change = 'vanished'") > 0)
        }
    }

    @Test("kill -9 in the middle of a backfill, then the same command again: exact, without duplicates")
    func killNine() async throws {
        let today = pinnedToday
        let first = today.advanced(by: -199)
        let range = DayRange(first, today)
        try await PGFixture.with(smallWorld(today: today, linesPerDay: 30), startDate: first) { fx in
            fx.simulator.setFaults(FaultPlan(latency: .milliseconds(400)))
            let backfill = ["backfill", "--from", "\(first)", "--to", "\(today)"]
            let process = try fx.start(backfill)
            let someDays = await eventually(timeout: .seconds(60)) { try fx.count("SELECT count(*) FROM sync_days") > 0 }
            process.signal(SIGKILL)
            let killed = await process.wait(timeout: .seconds(10))
            try #require(someDays, "no day was written: \(killed)")
            #expect(killed.termination == Termination(status: SIGKILL, signaled: true))
            let (written, problems) = try fx.partialDays()
            expectNoProblems(problems, "after kill -9")
            #expect(written > 0 && written < 4 * range.count, "the kill did not land mid-backfill: \(written) days")
            fx.simulator.setFaults(.none)
            try await fx.runOK(backfill)
            expectNoProblems(try fx.mismatches(in: range), "after the resumed backfill")
            #expect(try fx.count("SELECT count(*) FROM sync_days") == 4 * range.count)
        }
    }

    @Test("SIGTERM in the middle of a pass exits 0 and leaves nothing half-written")
    func sigterm() async throws {
        let today = pinnedToday
        let first = today.advanced(by: -199)
        try await PGFixture.with(smallWorld(today: today, linesPerDay: 30), startDate: first) { fx in
            fx.simulator.setFaults(FaultPlan(latency: .milliseconds(400)))
            let daemon = try fx.start(["run"])
            let started = await eventually(timeout: .seconds(60)) { try fx.count("SELECT count(*) FROM sync_days") > 0 }
            daemon.signal(SIGTERM)
            let result = await daemon.wait(timeout: .seconds(30))
            try #require(started, "no day was written: \(result)")
            #expect(result.exitedNormally && result.status == 0, "\(result)")
            let (written, problems) = try fx.partialDays()
            expectNoProblems(problems, "after SIGTERM")
            #expect(written < 4 * 200, "the pass finished before SIGTERM")
        }
    }

    @Test("a psql reader looping during a backfill is never blocked")
    func readerNeverBlocked() async throws {
        let today = pinnedToday
        let first = today.advanced(by: -399)
        try await PGFixture.with(smallWorld(today: today), startDate: first) { fx in
            fx.simulator.setFaults(FaultPlan(latency: .milliseconds(50)))
            let backfill = try fx.start(["backfill", "--from", "\(first)", "--to", "\(today)"])
            let ready = await eventually(timeout: .seconds(60)) { try fx.count("SELECT count(*) FROM sync_cursor") >= 0 }
            try #require(ready)
            let dir = fx.directory.path
            let c = fx.cluster
            // A reader that waited on a writer's lock for 1 s would fail with
            // lock_timeout; one that waited at all would show in its timings.
            let psql = "\(c.bin)/psql -h \(c.socketDirectory) -p \(c.port) -U \(c.user) -d postgres -X -A -t -v ON_ERROR_STOP=1"
            let script = """
                n=0
                while [ ! -e '\(dir)/stop-reader' ]; do
                  PGOPTIONS='-c lock_timeout=1000 -c statement_timeout=5000' \(psql) \
                    -c "SET search_path TO \(fx.schema)" \
                    -c "SELECT count(*) FROM costs" \
                    -c "SELECT provider, org, sum(amount_nanos) FROM daily_costs GROUP BY 1, 2" >/dev/null 2>>'\(dir)/reader.err' \
                    || echo "exit $?" >>'\(dir)/reader.err'
                  n=$((n+1))
                done
                echo "$n"
                """
            let reader = try Subprocess(executable: "/bin/bash", arguments: ["-c", script], environment: ["PATH": "/usr/bin:/bin"])
            let result = await backfill.wait(timeout: .seconds(180))
            _ = FileManager.default.createFile(atPath: dir + "/stop-reader", contents: nil)
            let readerResult = await reader.wait(timeout: .seconds(30))
            #expect(result.exitedNormally && result.status == 0, "\(result)")
            let errors = (try? String(contentsOfFile: dir + "/reader.err", encoding: .utf8)) ?? ""
            #expect(errors.isEmpty, "psql reported: \(errors.prefix(2000))")
            let iterations = Int(readerResult.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            #expect(iterations >= 5, "the reader ran only \(iterations) times during the backfill")
            expectNoProblems(try fx.mismatches(in: DayRange(first, today), lineDays: [today]), "after the backfill")
        }
    }

    @Test("two instances with disjoint orgs write one database at once, both exact")
    func disjointInstances() async throws {
        let today = pinnedToday
        let first = today.advanced(by: -119)
        try await PGFixture.with(smallWorld(today: today), startDate: first) { fx in
            fx.simulator.setFaults(FaultPlan(latency: .milliseconds(30)))
            let a = try fx.writeConfig(named: "a.toml", fx.configTOML(startDate: first, only: ["acme-ai", "acme-analytics"]))
            let b = try fx.writeConfig(named: "b.toml", fx.configTOML(startDate: first, only: ["globex-ai", "globex-warehouse"]))
            let args = ["backfill", "--from", "\(first)", "--to", "\(today)"]
            let one = try fx.start(args, config: a)
            let two = try fx.start(args, config: b)
            let (r1, r2) = await (one.wait(timeout: .seconds(180)), two.wait(timeout: .seconds(180)))
            #expect(r1.exitedNormally && r1.status == 0, "\(r1)")
            #expect(r2.exitedNormally && r2.status == 0, "\(r2)")
            expectNoProblems(try fx.mismatches(in: DayRange(first, today)), "after both backfills")
            // Both ran while the other did (started together, 30 ms a page), and neither waited on the other's orgs.
            #expect(!r1.stderr.contains("another instance") && !r2.stderr.contains("another instance"))
            #expect(try fx.count("SELECT count(*) FROM sync_cursor WHERE last_success_at IS NOT NULL AND last_error IS NULL") == 4)
        }
    }

    @Test("two instances with the same orgs never interleave: the second skips what the first holds, exit 0, and the data is exact")
    func sameOrgInstances() async throws {
        let today = pinnedToday
        let first = today.advanced(by: -199)
        try await PGFixture.with(smallWorld(today: today, linesPerDay: 20), startDate: first,
                                 extraSync: "max_concurrent_orgs = 4\n") { fx in
            fx.simulator.setFaults(FaultPlan(latency: .milliseconds(300)))
            let args = ["backfill", "--from", "\(first)", "--to", "\(today)"]
            let holder = try fx.start(args)
            // Every org has written a day: the holder holds all four now.
            let holding = await eventually(timeout: .seconds(60)) {
                try fx.count("SELECT count(DISTINCT (provider, org)) FROM sync_days") == 4
            }
            try #require(holding)
            fx.simulator.resetRequests()
            let second = await (try fx.start(args)).wait(timeout: .seconds(60))
            #expect(second.exitedNormally && second.status == 0, "\(second)")
            let skips = second.stderr.components(separatedBy: "org is being synced by another instance").count - 1
            #expect(skips == 4, "\(second)")
            #expect(!second.stderr.contains("sync started"), "the second instance synced an org the first held: \(second)")
            fx.simulator.setFaults(.none)
            let first = await holder.wait(timeout: .seconds(180))
            #expect(first.exitedNormally && first.status == 0, "\(first)")
            expectNoProblems(try fx.mismatches(in: DayRange(today.advanced(by: -199), today)), "after the holder finished")
            // Released: the next instance syncs them.
            let after = try await fx.runOK(["run", "--once"])
            #expect(!after.stderr.contains("org is being synced by another instance"), "\(after)")
        }
    }

    @Test("copy-store from a 365-day SQLite database verifies equal, and says where they differ otherwise")
    func copyStore() async throws {
        let today = pinnedToday
        let first = today.advanced(by: -364)
        try await PGFixture.with(smallWorld(today: today), startDate: first) { fx in
            // The SQLite database, made by costsync itself: the same config without [postgres].
            let sqlitePath = fx.directory.appendingPathComponent("source.sqlite").path
            let sqliteConfig = fx.configTOML(startDate: first).components(separatedBy: "\n[postgres]")[0]
                .replacingOccurrences(of: fx.directory.appendingPathComponent("unused.sqlite").path, with: sqlitePath)
            let plain = try fx.writeConfig(named: "sqlite.toml", sqliteConfig)
            try await fx.runOK(["backfill", "--from", "\(first)", "--to", "\(today)"], config: plain)

            let copy = try await fx.runOK(["copy-store", "--from", sqlitePath, "--to", "postgres"])
            #expect(copy.stdout.contains("copy-store: verified ") && copy.stdout.contains(" of 4 orgs"), "\(copy)")
            let range = DayRange(first, today)
            expectNoProblems(try fx.mismatches(in: range), "after copy-store")
            // Cursors and all: the next run starts where SQLite's stood.
            for org in fx.orgs {
                #expect(try fx.cursor(org)?.next != nil && fx.cursor(org)?.lastSuccess != nil, "\(org.name)")
            }
            #expect(try fx.count("SELECT count(*) FROM sync_fetches") > 0)
            #expect(try fx.count("SELECT count(*) FROM accounts") == 4)

            // Copying again is refused: the orgs are there already.
            let again = await (try fx.start(["copy-store", "--from", sqlitePath, "--to", "postgres"])).wait(timeout: .seconds(60))
            #expect(again.status == 1 && again.stderr.contains("already holds"), "\(again)")

            // A day changed on one side is named, and the command fails.
            _ = try fx.rows("DELETE FROM costs WHERE ctid = (SELECT ctid FROM costs WHERE org = 'acme-ai' AND day = '\(first)' LIMIT 1)")
            let verify = await (try fx.start(["copy-store", "--from", sqlitePath, "--to", "postgres", "--verify-only"])).wait(timeout: .seconds(60))
            #expect(verify.status == 1, "\(verify)")
            #expect(verify.stderr.contains("anthropic/acme-ai \(first)"), "\(verify)")
            #expect(verify.stderr.contains("1 (provider, org, day) partitions differ"), "\(verify)")

            let next = try await fx.runOK(["run", "--once"])
            _ = next
            expectNoProblems(try fx.mismatches(in: DayRange(first.advanced(by: 1), today), rowsOutside: false), "a run on the copy")
        }
    }

    @Test("budgets on PostgreSQL: two instances evaluating one budget at once deliver each crossed threshold once; a rerun sends none")
    func budgetsAcrossInstances() async throws {
        let today = pinnedToday
        let june1 = Day(year: 2025, month: 6, day: 1)!
        try await PGFixture.with(smallWorld(today: today), startDate: june1) { fx in
            let received = Mutex<[ServerRequest]>([])
            let receiver = try await HTTPServer.start { request in
                received.withLock { $0.append(request) }
                return .json(200, "{\"ok\":true}")
            }
            let urlFile = fx.directory.appendingPathComponent("webhook-ops")
            try Data((receiver.baseURL + "/hooks/ops").utf8).write(to: urlFile)
            // A budget far below the month's spend: 50, 80 and 100 % are all crossed in the first pass.
            let alerting = """

                [[notify]]
                name = "ops"
                webhook_url_file = "\(urlFile.path)"

                [[budget]]
                name = "claude-monthly"
                provider = "anthropic"
                currency = "USD"
                monthly = "0.01"
                thresholds = [50, 80, 100]
                notify = ["ops"]
                """
            let configs = try ["a", "b"].map { try fx.writeConfig(named: "\($0).toml", fx.configTOML(startDate: june1) + alerting) }
            let runs = try configs.map { try fx.start(["run", "--once"], config: $0) }
            for run in runs {
                let result = await run.wait(timeout: .seconds(180))
                #expect(result.exitedNormally && result.status == 0, "\(result)")
            }
            let first = received.withLock { $0 }
            let keys = first.compactMap { $0.header("idempotency-key") }
            #expect(keys.count == first.count && Set(keys).count == keys.count, "an alert delivered twice: \(keys)")
            #expect(first.count == (try fx.count("SELECT count(*) FROM alerts")), "one delivery per recorded alert")
            let thresholds = try fx.rows("SELECT threshold_percent FROM alerts WHERE kind = 'budget' ORDER BY 1").map(\.[0])
            #expect(thresholds == ["50", "80", "100"])
            #expect(try fx.count("SELECT count(*) FROM alert_deliveries WHERE delivered_at IS NULL") == 0)
            // Spent is a month-to-date sum the database held when the alert
            // was raised: past the budget, and at most what is stored now (the
            // other instance may still have been writing).
            let spent = Int64(try fx.rows("SELECT spent_nanos FROM alerts WHERE threshold_percent = 100")[0][0]) ?? -1
            let stored = Int64(try fx.rows("""
                SELECT sum(amount_nanos) FROM costs WHERE provider = 'anthropic' AND day >= '\(june1)'
                """)[0][0]) ?? -1
            #expect(spent >= 10_000_000 && spent <= stored, "spent \(spent), stored \(stored)")

            // Again: the ledger in PostgreSQL knows them all; nothing is sent.
            try await fx.runOK(["run", "--once"], config: configs[0])
            #expect(received.withLock { $0.count } == first.count)
            try await receiver.shutdown()
        }
    }

    @Test("after copy-store, export gives the same bytes from PostgreSQL as from the SQLite file, in every format, whole or by range")
    func exportMatchesSQLite() async throws {
        let today = pinnedToday
        let first = today.advanced(by: -59)
        try await PGFixture.with(smallWorld(today: today), startDate: first) { fx in
            // FOCUS bills ClickHouse credits in USD: both configs name a price.
            func priced(_ toml: String) -> String {
                toml.replacingOccurrences(of: "\n[[clickhouse]]\n", with: "\n[[clickhouse]]\ncredit_price = \"0.2917\"\n")
            }
            let sqlitePath = fx.directory.appendingPathComponent("source.sqlite").path
            let sqliteConfig = try fx.writeConfig(named: "sqlite.toml", priced(fx.configTOML(startDate: first)
                .components(separatedBy: "\n[postgres]")[0]
                .replacingOccurrences(of: fx.directory.appendingPathComponent("unused.sqlite").path, with: sqlitePath)))
            let postgresConfig = try fx.writeConfig(named: "postgres.toml", priced(fx.configTOML(startDate: first)))
            try await fx.runOK(["backfill", "--from", "\(first)", "--to", "\(today)"], config: sqliteConfig)
            try await fx.runOK(["copy-store", "--from", sqlitePath, "--to", "postgres"], config: postgresConfig)

            let cases: [(format: String, extra: [String])] = [
                ("csv", []), ("jsonl", []), ("focus", []),
                ("csv", ["--from", "\(today.advanced(by: -9))", "--to", "\(today.advanced(by: -3))", "--org", "acme-ai"]),
            ]
            for (format, extra) in cases {
                var outputs: [Data] = []
                for (name, config) in [("sqlite", sqliteConfig), ("postgres", postgresConfig)] {
                    let file = fx.directory.appendingPathComponent("\(name).\(format)").path
                    try await fx.runOK(["export", "--format", format, "--output", file] + extra, config: config)
                    outputs.append(try Data(contentsOf: URL(fileURLWithPath: file)))
                }
                let lines = String(decoding: outputs[0], as: UTF8.self).split(separator: "\n")
                #expect(lines.count > 100, "\(format) \(extra): \(lines.count) lines, not a vacuous comparison")
                let difference = firstDifference(outputs[0], outputs[1])
                #expect(outputs[0] == outputs[1], "\(format) \(extra): PostgreSQL's export differs from SQLite's: \(difference)")
            }
            // The figures are the database's: the JSON Lines export's nanos sum to what PostgreSQL holds.
            let jsonl = try String(contentsOf: fx.directory.appendingPathComponent("postgres.jsonl"), encoding: .utf8)
            var exported: Int64 = 0
            for line in jsonl.split(separator: "\n") {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                exported += try #require((object["amount_nanos"] as? NSNumber)?.int64Value)
            }
            #expect(exported == Int64(try fx.count("SELECT sum(amount_nanos) FROM costs")))
        }
    }

    /// The first line where two exports part, for a failure a person can read.
    private func firstDifference(_ a: Data, _ b: Data) -> String {
        let x = String(decoding: a, as: UTF8.self).split(separator: "\n"), y = String(decoding: b, as: UTF8.self).split(separator: "\n")
        for i in 0..<min(x.count, y.count) where x[i] != y[i] { return "line \(i + 1):\n  sqlite   \(x[i])\n  postgres \(y[i])" }
        return "\(x.count) lines against \(y.count)"
    }

    @Test("the server stopped in the middle of a pass: the org fails that pass, the next one completes exactly")
    func serverStopped() async throws {
        let today = pinnedToday
        let first = today.advanced(by: -199)
        try await PGFixture.with(smallWorld(today: today, linesPerDay: 20), startDate: first) { fx in
            fx.simulator.setFaults(FaultPlan(latency: .milliseconds(300)))
            let args = ["backfill", "--from", "\(first)", "--to", "\(today)"]
            let pass = try fx.start(args)
            let started = await eventually(timeout: .seconds(60)) { try fx.count("SELECT count(*) FROM sync_days") > 0 }
            try #require(started)
            fx.cluster.stop()
            let failed = await pass.wait(timeout: .seconds(120))
            try fx.cluster.start()
            #expect(failed.exitedNormally && failed.status == 1, "\(failed)")
            #expect(failed.stderr.contains("PostgreSQL unreachable"), "\(failed)")
            let (_, problems) = try fx.partialDays()
            expectNoProblems(problems, "after the server stopped")
            fx.simulator.setFaults(.none)
            try await fx.runOK(args)
            expectNoProblems(try fx.mismatches(in: DayRange(first, today)), "after the next pass")
        }
    }
}
}
