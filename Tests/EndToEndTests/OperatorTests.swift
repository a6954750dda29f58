import ProcessHarness
import CostModel
import Foundation
import Simulator
import SQLite
import Testing

extension EndToEnd {
    @Suite("operating it")
    struct Operating {
        /// The fixture's config with `lines` added to the table of the org named `org`.
        func config(_ fx: Fixture, _ sync: SyncSection, org: String, adding lines: String) -> String {
            fx.configTOML(sync).replacingOccurrences(of: "name = \"\(org)\"\n", with: "name = \"\(org)\"\n\(lines)\n")
        }

        @Test("enabled = false skips an org (no request, no row, not in status); a per-org start_date is honoured")
        func enabledAndStartDate() async throws {
            let today = pinnedToday
            let sync = SyncSection(startDate: today.advanced(by: -9))
            try await Fixture.with(smallWorld(today: today, linesPerDay: 6), sync: sync) { fx in
                let late = today.advanced(by: -3)
                var text = config(fx, sync, org: "globex-ai", adding: "enabled = false")
                text = text.replacingOccurrences(of: "name = \"acme-analytics\"\n", with: "name = \"acme-analytics\"\nstart_date = \"\(late)\"\n")
                try fx.writeConfig(text: text)
                let run = try await fx.runOK(["run", "--once"])
                #expect(run.stderr.contains("org disabled in the config"), "\(run.stderr)")
                #expect(!fx.simulator.costRequests.contains { $0.org == "globex-ai" })
                #expect(try fx.count("SELECT COUNT(*) FROM costs WHERE org = 'globex-ai'") == 0)
                #expect(try fx.count("SELECT COUNT(*) FROM sync_cursor WHERE org = 'globex-ai'") == 0)
                let firstDays = try fx.withDatabase { db in
                    Dictionary(uniqueKeysWithValues: try db.query("SELECT org, MIN(day) FROM sync_days GROUP BY org") {
                        ($0.text(0)!, Day($0.text(1)!)!)
                    })
                }
                #expect(firstDays["acme-analytics"] == late)
                #expect(firstDays["acme-ai"] == sync.startDate)
                let status = try await fx.runOK(["status", "--json"])
                #expect(!status.stdout.contains("globex-ai"))
                // Naming a disabled org in a backfill is a clear error, not a silent no-op.
                let backfill = try await fx.run(["backfill", "--from", "\(today)", "--to", "\(today)", "--org", "globex-ai"])
                #expect(backfill.status == 1 && backfill.stderr.contains("enabled = false"), "\(backfill)")
            }
        }

        @Test("as root, costsync refuses to write a database another user (the service) owns, and says how to run it instead",
              .enabled(if: getuid() == 0, "only root can be refused"))
        func rootRefusesForeignDatabase() async throws {
            let today = pinnedToday
            try await Fixture.with(smallWorld(today: today, linesPerDay: 4), sync: SyncSection(startDate: today.advanced(by: -2))) { fx in
                try await fx.runOK(["run", "--once"])
                let before = try fx.count("SELECT COUNT(*) FROM costs")
                let nobody: uid_t = 65534
                #expect(chown(fx.databasePath, nobody, nobody) == 0)
                let refused = try await fx.run(["backfill", "--from", "\(today.advanced(by: -5))", "--to", "\(today)"])
                #expect(refused.status == 1, "\(refused)")
                #expect(refused.stderr.contains("running as root, refusing to write") && refused.stderr.contains("uid 65534")
                        && refused.stderr.contains("systemd-run"), "\(refused.stderr)")
                #expect(try fx.count("SELECT COUNT(*) FROM costs") == before)
                // Reading is fine: status and export write nothing.
                _ = try await fx.run(["status"])
                try await fx.runOK(["export", "--format", "csv"])
            }
        }
    }
}

extension EndToEnd.Operating {
    @Test("requests go through the proxy HTTP_PROXY names (CONNECT, with its credentials), and NO_PROXY sends them direct")
    func proxy() async throws {
        let proxy = try ConnectProxy()
        defer { proxy.stop() }
        let today = pinnedToday
        try await Fixture.with(smallWorld(today: today, linesPerDay: 4), sync: SyncSection(startDate: today.advanced(by: -2))) { fx in
            let url = "http://proxyuser:s3cret-proxy-pass@127.0.0.1:\(proxy.port)"
            let run = try await fx.runOK(["run", "--once"], env: ["HTTP_PROXY": url, "NO_PROXY": "example.com"])
            let target = "127.0.0.1:\(fx.simulator.port)"
            let tunnels = proxy.recorded
            #expect(!tunnels.isEmpty && tunnels.allSatisfy { $0.target == target }, "\(tunnels)")
            let basic = "Basic " + Data("proxyuser:s3cret-proxy-pass".utf8).base64EncodedString()
            #expect(tunnels.allSatisfy { $0.authorization == basic })
            #expect(try fx.count("SELECT COUNT(*) FROM costs") > 0)
            #expect(!run.stderr.contains("s3cret-proxy-pass"))
            let seen = tunnels.count
            // NO_PROXY naming the host: straight to the provider.
            try await fx.runOK(["run", "--once"], env: ["HTTP_PROXY": url, "NO_PROXY": "localhost,127.0.0.1"])
            #expect(proxy.recorded.count == seen)
            // A proxy the daemon cannot use is a config error naming the variable.
            let bad = try await fx.run(["run", "--once"], env: ["HTTPS_PROXY": "https://proxy.example:3128"])
            #expect(bad.status == 78 && bad.stderr.contains("HTTPS_PROXY"), "\(bad)")
        }
    }
}

extension EndToEnd.Operating {
    @Test("SIGHUP with a new org starts syncing it at once; SIGHUP with a broken config keeps the running one and says why")
    func reload() async throws {
        let today = pinnedToday
        let sync = SyncSection(startDate: today.advanced(by: -3))
        try await Fixture.with(smallWorld(today: today, linesPerDay: 4), sync: sync) { fx in
            let full = fx.configTOML(sync)
            // At first only the Anthropic orgs: everything before the first [[clickhouse]].
            let anthropicOnly = String(full[..<full.range(of: "\n[[clickhouse]]")!.lowerBound]) + "\n"
            try fx.writeConfig(text: anthropicOnly)
            let daemon = try fx.start(["run"])
            defer { daemon.signal(SIGKILL) }
            let first = await eventually(timeout: .seconds(60)) { daemon.stderr.text.contains("pass finished") }
            try #require(first, "no first pass: \(daemon.stderr.text)")
            #expect(try fx.count("SELECT COUNT(*) FROM costs WHERE provider = 'clickhouse'") == 0)

            try fx.writeConfig(text: full)
            daemon.signal(SIGHUP)
            // The poll interval is an hour: only the reload's immediate pass can bring them.
            let added = await eventually(timeout: .seconds(60)) {
                try fx.count("SELECT COUNT(DISTINCT org) FROM costs WHERE provider = 'clickhouse'") == fx.world.clickhouseOrgs.count
            }
            #expect(added, "the new orgs were not synced after SIGHUP: \(daemon.stderr.text)")
            #expect(daemon.stderr.text.contains("config reloaded"))

            try fx.writeConfig(text: full.replacingOccurrences(of: "settle_days = \(sync.settleDays)", with: "settle_days = 0"))
            daemon.signal(SIGHUP)
            let refused = await eventually(timeout: .seconds(30)) { daemon.stderr.text.contains("config reload failed") }
            #expect(refused, "\(daemon.stderr.text)")
            let line = daemon.stderr.text.split(separator: "\n").first { $0.contains("config reload failed") } ?? ""
            #expect(line.contains("settle_days"), "the reason is named: \(line)")
            #expect(!daemon.hasExited)
            daemon.signal(SIGTERM)
            let result = await daemon.wait(timeout: .seconds(30))
            #expect(result.status == 0, "\(result)")
        }
    }
}

extension EndToEnd.Operating {
    /// A CA and a server certificate for 127.0.0.1 signed by it, made with openssl(1), as a company's proxy CA would be.
    func makeCertificates(in folder: URL) async throws -> (ca: String, cert: String, key: String) {
        let ca = folder.appendingPathComponent("ca.pem").path
        let caKey = folder.appendingPathComponent("ca.key").path
        let cert = folder.appendingPathComponent("server.pem").path
        let key = folder.appendingPathComponent("server.key").path
        let csr = folder.appendingPathComponent("server.csr").path
        let ext = folder.appendingPathComponent("server.ext").path
        try "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
            .write(toFile: ext, atomically: true, encoding: .utf8)
        for args in [
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", caKey, "-out", ca, "-days", "2", "-subj", "/CN=costsync test corp CA"],
            ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
            ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", caKey, "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext],
        ] {
            let openssl = try Subprocess(executable: "/usr/bin/openssl", arguments: args, environment: ["PATH": "/usr/bin:/bin"])
            let result = await openssl.wait(timeout: .seconds(60))
            try #require(result.status == 0, "openssl \(args.joined(separator: " ")): \(result)")
        }
        return (ca, cert, key)
    }

    @Test("an HTTPS provider signed by a company CA is refused until [http] ca_file trusts that CA, then synced",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl"), "needs openssl(1) to make a CA"))
    func companyCA() async throws {
        let today = pinnedToday
        let sync = SyncSection(startDate: today.advanced(by: -2))
        try await Fixture.with(smallWorld(today: today, linesPerDay: 4), sync: sync) { fx in
            let files = try await makeCertificates(in: fx.directory)
            let noon = WallClock.fixed(Timestamp(secondsSinceEpoch: today.secondsSinceEpoch + 12 * 3600))
            let tls = try await ProviderSimulator.start(world: fx.world, clock: noon, tls: (files.cert, files.key))
            defer { Task { try? await tls.shutdown() } }
            #expect(tls.baseURL.hasPrefix("https://127.0.0.1:"))
            let config = fx.configTOML(sync).replacingOccurrences(of: fx.simulator.baseURL, with: tls.baseURL)
            try fx.writeConfig(text: config)
            let refused = try await fx.run(["run", "--once"])
            #expect(refused.status == 1, "\(refused)")
            // Its own kind (not retried: it would fail the same way), and the fix is named.
            #expect(refused.stderr.contains("TLS certificate not trusted") && refused.stderr.contains("[http] ca_file"), "\(refused.stderr)")
            #expect(try fx.count("SELECT COUNT(*) FROM costs") == 0)

            try fx.writeConfig(text: config + "\n[http]\nca_file = \"\(files.ca)\"\n")
            try await fx.runOK(["run", "--once"])
            #expect(try fx.count("SELECT COUNT(DISTINCT org) FROM costs") == fx.orgs.count)
            // A ca_file that holds no certificate is a config error, naming the key.
            try fx.writeConfig(text: config + "\n[http]\nca_file = \"\(fx.configPath)\"\n")
            let bad = try await fx.run(["check-config"])
            #expect(bad.status == 78 && bad.stderr.contains("http.ca_file"), "\(bad)")
        }
    }
}
