import ProcessHarness
import CostModel
import Foundation
import Simulator
import SQLite
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A blocking TCP client on loopback, for scrapes and for clients that misbehave.
struct RawHTTP {
    static func connect(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket(): errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw HarnessError("connect(127.0.0.1:\(port)): errno \(errno)")
        }
        return fd
    }

    /// Writes as much of `bytes` as the peer takes; false once it stops taking them.
    @discardableResult
    static func send(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { return false }
            offset += n
        }
        return true
    }

    static func readAll(_ fd: Int32) -> String {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { break }
            out += buffer[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `GET path` with `Connection: close`: the status and the body.
    static func get(port: Int, _ path: String) throws -> (status: Int, body: String) {
        let fd = try connect(port: port)
        defer { close(fd) }
        send(fd, Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8))
        let response = readAll(fd)
        guard let headEnd = response.range(of: "\r\n\r\n"),
              let status = Int(response.split(separator: " ", maxSplits: 2).dropFirst().first ?? "") else {
            throw HarnessError("not an HTTP response: \(response.prefix(200))")
        }
        return (status, String(response[headEnd.upperBound...]))
    }
}

/// The samples of a Prometheus text exposition: `name{labels} value`.
struct Exposition {
    var samples: [(name: String, labels: [String: String], value: Double)] = []

    init(_ text: String) {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            let series = line[..<space]
            var labels: [String: String] = [:]
            var name = String(series)
            if let brace = series.firstIndex(of: "{") {
                name = String(series[..<brace])
                let inner = series[series.index(after: brace)..<series.index(before: series.endIndex)]
                for pair in inner.split(separator: ",") {
                    let kv = pair.split(separator: "=", maxSplits: 1)
                    if kv.count == 2 { labels[String(kv[0])] = String(kv[1].dropFirst().dropLast()) }
                }
            }
            samples.append((name, labels, value))
        }
    }

    func value(_ name: String, _ labels: [String: String]) -> Double? {
        samples.first { sample in sample.name == name && labels.allSatisfy { k, v in sample.labels[k] == v } }?.value
    }

    var names: Set<String> { Set(samples.map(\.name)) }
}

extension EndToEnd {
    @Suite("metrics")
    struct Metrics {
        static let names = [
            "costsync_build_info", "costsync_sync_last_attempt_timestamp_seconds", "costsync_sync_last_success_timestamp_seconds",
            "costsync_sync_consecutive_failures", "costsync_sync_failures_total", "costsync_sync_duration_seconds_bucket",
            "costsync_cursor_lag_seconds", "costsync_pending_partitions", "costsync_rows_written_total",
            "costsync_http_requests_total", "costsync_http_request_duration_seconds_bucket", "costsync_http_retries_total",
            "costsync_http_rate_limited_total", "costsync_cost_month_to_date", "costsync_cost_yesterday",
            "costsync_reconciliation_mismatch",
        ]

        /// The port a daemon's listener took, from its log line.
        func port(of daemon: Subprocess) async throws -> Int {
            var found: Int?
            let started = await eventually(timeout: .seconds(60)) {
                guard let range = daemon.stderr.text.range(of: #"metrics listener started .*port=(\d+)"#, options: .regularExpression)
                else { return false }
                let line = daemon.stderr.text[range]
                found = line.split(separator: "port=").last.flatMap { Int($0.prefix { $0.isNumber }) }
                return found != nil
            }
            try #require(started, "no listener: \(daemon.stderr.text.suffix(2000))")
            return try #require(found)
        }

        /// `promtool check metrics` on `text`: nothing to say, exit 0.
        func expectPromtoolPasses(_ text: String, _ what: String) async throws {
            let promtool = "/usr/bin/promtool"
            guard FileManager.default.isExecutableFile(atPath: promtool) else {
                Issue.record("promtool is not installed (Debian package prometheus; .ci/run installs it): \(what) is not checked")
                return
            }
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("costsync-scrape-\(UUID().uuidString).prom")
            try Data(text.utf8).write(to: file)
            defer { try? FileManager.default.removeItem(at: file) }
            let check = try Subprocess(executable: "/bin/sh", arguments: ["-c", "\(promtool) check metrics < '\(file.path)'"],
                                       environment: ["PATH": "/usr/bin:/bin"])
            let result = await check.wait(timeout: .seconds(30))
            #expect(result.exitedNormally && result.status == 0, "promtool on \(what): \(result)")
            #expect(result.stdout.isEmpty && result.stderr.isEmpty, "promtool warns on \(what): \(result.stdout) \(result.stderr)")
        }

        @Test("run with a metrics listener: /metrics carries every metric with the synced values and passes promtool; /healthz turns 503 when an org fails; gauges survive a restart")
        func listener() async throws {
            let today = pinnedToday
            let first = today.advanced(by: -39)
            try await Fixture.with(smallWorld(today: today, linesPerDay: 10), sync: SyncSection(startDate: first)) { fx in
                let sync = SyncSection(pollInterval: "1h", startDate: first)
                try fx.writeConfig(text: fx.configTOML(sync, extra: "\n[metrics]\nlisten = \"127.0.0.1:0\"\n"))
                let daemon = try fx.start(["run"])
                let port = try await self.port(of: daemon)
                // "pass finished" is logged once the gauges are read back from the store.
                let passed = await eventually(timeout: .seconds(60)) { daemon.stderr.text.contains("pass finished") }
                try #require(passed, "no pass seen in /metrics: \(daemon.stderr.text.suffix(2000))")
                let scrape = try RawHTTP.get(port: port, "/metrics")
                #expect(scrape.status == 200)
                let m = Exposition(scrape.body)
                for name in Self.names { #expect(m.names.contains(name), "\(name) is missing") }
                #expect(m.value("costsync_build_info", [:]) == 1)
                for org in fx.orgs {
                    let o = ["provider": org.provider.rawValue, "org": org.name]
                    let rows = try fx.count("SELECT COUNT(*) FROM costs WHERE provider = ?1 AND org = ?2",
                                            [.text(org.provider.rawValue), .text(org.name)])
                    #expect(m.value("costsync_rows_written_total", o.merging(["change": "inserted"]) { a, _ in a }) == Double(rows), "\(org.name)")
                    let ok = fx.simulator.requests.filter { $0.org == org.name && $0.status == 200 }.count
                    #expect(m.value("costsync_http_requests_total", o.merging(["code": "200"]) { a, _ in a }) == Double(ok), "\(org.name)")
                    let monthStart = Day(year: today.components.year, month: today.components.month, day: 1)!
                    let nanos = try fx.count("SELECT coalesce(sum(amount_nanos), 0) FROM costs WHERE provider = ?1 AND org = ?2 AND day >= ?3",
                                             [.text(org.provider.rawValue), .text(org.name), .text("\(monthStart)")])
                    let mtd = try #require(m.value("costsync_cost_month_to_date", o), "\(org.name)")
                    #expect(abs(mtd - Double(nanos) / 1e9) <= 1e-9 * max(1, abs(mtd)), "\(org.name): \(mtd) vs \(nanos) nanos")
                    #expect(m.value("costsync_sync_consecutive_failures", o) == 0)
                    #expect(m.value("costsync_sync_failures_total", o.merging(["reason": "auth"]) { a, _ in a }) == 0)
                }
                try await expectPromtoolPasses(scrape.body, "the scrape")
                #expect(try RawHTTP.get(port: port, "/healthz").status == 200)
                daemon.signal(SIGTERM)
                _ = await daemon.wait(timeout: .seconds(30))

                // Restarted with one org's key revoked: its failure is counted
                // with its reason, /healthz says 503, and every other gauge
                // came back from the database rather than from zero.
                let keyVar = SimulatorWorld.environmentName(org: "globex-ai", "ADMIN_KEY")
                let restarted = try fx.start(["run"], env: [keyVar: "sk-ant-admin01-revoked-000000000000"])
                let port2 = try await self.port(of: restarted)
                // The counter moves at the failure; the gauges read back from
                // the store follow at the end of the pass: wait for both.
                let failed = await eventually(timeout: .seconds(60)) {
                    restarted.stderr.text.contains("pass finished")
                        && Exposition((try? RawHTTP.get(port: port2, "/metrics").body) ?? "")
                        .value("costsync_sync_failures_total", ["org": "globex-ai", "reason": "auth"]) == 1
                }
                #expect(failed, "the auth failure was not counted: \(restarted.stderr.text.suffix(2000))")
                let after = Exposition(try RawHTTP.get(port: port2, "/metrics").body)
                #expect(after.value("costsync_sync_consecutive_failures", ["org": "globex-ai"]) == 1)
                #expect(after.value("costsync_cost_month_to_date", ["org": "globex-ai"]) == m.value("costsync_cost_month_to_date", ["org": "globex-ai"]))
                let health = try RawHTTP.get(port: port2, "/healthz")
                #expect(health.status == 503 && health.body.contains("globex-ai") && health.body.contains("last sync failed"), "\(health)")
                #expect(!health.body.contains("revoked"), "a key reached /healthz")
                #expect(!(try RawHTTP.get(port: port2, "/metrics").body.contains("revoked")), "a key reached /metrics")
                restarted.signal(SIGTERM)
                _ = await restarted.wait(timeout: .seconds(30))
            }
        }

        @Test("1,000 idle connections and a 10 MB request stop neither the next scrape nor the next sync")
        func hostileClients() async throws {
            let today = pinnedToday
            try await Fixture.with(smallWorld(today: today, linesPerDay: 4), sync: SyncSection(startDate: today.advanced(by: -3))) { fx in
                let sync = SyncSection(pollInterval: "10s", startDate: today.advanced(by: -3))
                try fx.writeConfig(text: fx.configTOML(sync, extra: "\n[metrics]\nlisten = \"127.0.0.1:0\"\n"))
                let daemon = try fx.start(["run"])
                let port = try await self.port(of: daemon)
                func passes() -> Int { daemon.stderr.text.components(separatedBy: "pass finished").count - 1 }
                #expect(await eventually(timeout: .seconds(60)) { passes() >= 1 })

                // Room for a thousand sockets in this process.
                var limit = rlimit()
                getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
                limit.rlim_cur = max(limit.rlim_cur, min(limit.rlim_max, 4096))
                setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
                var hoard: [Int32] = []
                defer { hoard.forEach { close($0) } }
                for _ in 0..<1_000 { if let fd = try? RawHTTP.connect(port: port) { hoard.append(fd) } }
                #expect(hoard.count == 1_000)
                // One request of 10 MB: refused early, the connection closed.
                let big = try RawHTTP.connect(port: port)
                defer { close(big) }
                RawHTTP.send(big, Array("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\n\r\n".utf8))
                let tookAll = RawHTTP.send(big, [UInt8](repeating: UInt8(ascii: "a"), count: 10 << 20))
                let answer = RawHTTP.readAll(big)
                #expect(!tookAll || answer.hasPrefix("HTTP/1.1 413"), "\(answer.prefix(200))")

                let scrape = try RawHTTP.get(port: port, "/metrics")
                #expect(scrape.status == 200 && scrape.body.contains("costsync_build_info"))
                let before = passes()
                #expect(await eventually(timeout: .seconds(60)) { passes() > before }, "no sync after the hostile clients")
                #expect(try RawHTTP.get(port: port, "/healthz").status == 200)
                daemon.signal(SIGTERM)
                let result = await daemon.wait(timeout: .seconds(30))
                #expect(result.exitedNormally && result.status == 0, "\(result)")
            }
        }

        @Test("run --once writes the textfile for node_exporter, replaced atomically: a reader never sees half a file")
        func textfile() async throws {
            let today = pinnedToday
            try await Fixture.with(smallWorld(today: today, linesPerDay: 4), sync: SyncSection(startDate: today.advanced(by: -9))) { fx in
                let path = fx.directory.appendingPathComponent("costsync.prom").path
                try fx.writeConfig(text: fx.configTOML(SyncSection(startDate: today.advanced(by: -9)),
                                                       extra: "\n[metrics]\ntextfile = \"\(path)\"\n"))
                // A reader in a loop, while three runs replace the file.
                let stop = fx.directory.appendingPathComponent("stop").path
                let script = """
                    bad=0; n=0
                    while [ ! -e '\(stop)' ]; do
                      if [ -e '\(path)' ]; then
                        n=$((n+1))
                        tail -c 1 '\(path)' | od -An -tx1 | grep -q 0a || bad=$((bad+1))
                        grep -q '^costsync_build_info' '\(path)' || bad=$((bad+1))
                      fi
                    done
                    echo "$n $bad"
                    """
                let reader = try Subprocess(executable: "/bin/bash", arguments: ["-c", script], environment: ["PATH": "/usr/bin:/bin"])
                for _ in 0..<3 { try await fx.runOK(["run", "--once"]) }
                _ = FileManager.default.createFile(atPath: stop, contents: nil)
                let counts = await reader.wait(timeout: .seconds(30)).stdout.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
                #expect(counts.count == 2 && counts[1] == 0, "reads, half-files: \(counts)")
                let text = try String(contentsOfFile: path, encoding: .utf8)
                let m = Exposition(text)
                #expect(m.samples.filter { $0.name == "costsync_sync_last_success_timestamp_seconds" }.count == 4)
                try await expectPromtoolPasses(text, "the textfile")
                let leftovers = try FileManager.default.contentsOfDirectory(atPath: fx.directory.path).filter { $0.hasSuffix(".tmp") }
                #expect(leftovers.isEmpty, "\(leftovers)")
            }
        }
    }
}
