import ProcessHarness
import CostModel
import Foundation
import Simulator
import SQLite
import Testing

extension EndToEnd {
    @Suite("deployment")
    struct Deployment {
        @Test("secrets from $CREDENTIALS_DIRECTORY files (systemd LoadCredential=) work, trailing newline and all")
        func credentialFiles() async throws {
            let today = pinnedToday
            let first = today.advanced(by: -9)
            try await Fixture.with(smallWorld(today: today, linesPerDay: 10), sync: SyncSection(startDate: first)) { fx in
                let credentials = fx.directory.appendingPathComponent("credentials", isDirectory: true)
                try FileManager.default.createDirectory(at: credentials, withIntermediateDirectories: true)
                let w = fx.world
                let acme = try #require(w.anthropicOrg(named: "acme-ai"))
                let ch = try #require(w.clickhouseOrg(named: "acme-analytics"))
                try Data((acme.adminKey + "\n").utf8).write(to: credentials.appendingPathComponent("acme-ai-admin-key"))
                try Data((ch.keyID + "\n").utf8).write(to: credentials.appendingPathComponent("acme-analytics-key-id"))
                try Data(ch.keySecret.utf8).write(to: credentials.appendingPathComponent("acme-analytics-key-secret"))
                var config = fx.configTOML(SyncSection(startDate: first))
                config = config.replacingOccurrences(
                    of: "admin_key_env = \"\(SimulatorWorld.environmentName(org: "acme-ai", "ADMIN_KEY"))\"",
                    with: "admin_key_file = \"acme-ai-admin-key\"")
                config = config.replacingOccurrences(
                    of: "key_id_env = \"\(SimulatorWorld.environmentName(org: "acme-analytics", "KEY_ID"))\"",
                    with: "key_id_file = \"acme-analytics-key-id\"")
                config = config.replacingOccurrences(
                    of: "key_secret_env = \"\(SimulatorWorld.environmentName(org: "acme-analytics", "KEY_SECRET"))\"",
                    with: "key_secret_file = \"\(credentials.path)/acme-analytics-key-secret\"")
                try fx.writeConfig(text: config)
                // The variables those orgs no longer use are gone, so only the files can work.
                try await fx.runOK(["run", "--once"], env: [
                    "CREDENTIALS_DIRECTORY": credentials.path,
                    SimulatorWorld.environmentName(org: "acme-ai", "ADMIN_KEY"): nil,
                    SimulatorWorld.environmentName(org: "acme-analytics", "KEY_ID"): nil,
                    SimulatorWorld.environmentName(org: "acme-analytics", "KEY_SECRET"): nil,
                ])
                expectNoProblems(try fx.mismatches(in: DayRange(first, today)), "with secrets from files")

                // Without $CREDENTIALS_DIRECTORY the relative file cannot be found: a config error.
                let missing = try await fx.run(["check-config"], env: [SimulatorWorld.environmentName(org: "acme-ai", "ADMIN_KEY"): nil])
                #expect(missing.status == 78, "\(missing)")
                #expect(missing.stderr.contains("anthropic[0].admin_key_file"), "\(missing)")
            }
        }

        @Test("$COSTSYNC_CONFIG names the config when --config is not given")
        func configFromEnvironment() async throws {
            try await Fixture.with(smallWorld(today: pinnedToday, linesPerDay: 5)) { fx in
                let result = try await Subprocess(executable: fx.binary, arguments: ["check-config"],
                                                  environment: fx.environment(["COSTSYNC_CONFIG": fx.configPath]),
                                                  currentDirectory: fx.directory).wait(timeout: .seconds(30))
                #expect(result.status == 0, "\(result)")
                #expect(result.stdout.contains(fx.configPath) && result.stdout.contains("4 orgs"), "\(result)")
            }
        }

        @Test("a database that cannot be opened exits 1 and says which path")
        func unopenableDatabase() async throws {
            try await Fixture.with(smallWorld(today: pinnedToday, linesPerDay: 5)) { fx in
                let bad = fx.directory.path + "/no-such-folder/costs.sqlite"
                try fx.writeConfig(text: fx.configTOML(SyncSection(startDate: pinnedToday), database: bad))
                for command in [["run", "--once"], ["status"]] {
                    let result = try await fx.run(command, timeout: .seconds(30))
                    #expect(result.exitedNormally && result.status == 1, "\(command): \(result)")
                    #expect(result.stderr.contains(bad), "\(command): \(result)")
                }
                #expect(fx.simulator.requests.isEmpty)
            }
        }

        @Test("a backfill beside the running daemon completes, and neither sees 'database is locked'")
        func backfillBesideDaemon() async throws {
            let today = pinnedToday
            let recent = today.advanced(by: -199)
            let old = today.advanced(by: -399)
            try await Fixture.with(smallWorld(today: today, linesPerDay: 30), sync: SyncSection(startDate: recent)) { fx in
                fx.simulator.setFaults(FaultPlan(latency: .milliseconds(150)))
                let daemon = try fx.start(["run"])
                _ = await eventually(timeout: .seconds(30)) { try fx.count("SELECT COUNT(*) FROM sync_days") > 0 }
                let backfill = try await fx.run(["backfill", "--from", "\(old)", "--to", "\(recent.advanced(by: -1))"])
                // The daemon's own word that its pass is over: a cursor's last
                // success could be the backfill's, with the daemon's pass still going.
                let daemonDone = await eventually(timeout: .seconds(120)) { daemon.stderr.text.contains("pass finished") }
                daemon.signal(SIGTERM)
                let daemonResult = await daemon.wait(timeout: .seconds(30))
                #expect(backfill.status == 0, "\(backfill)")
                #expect(daemonDone && daemonResult.status == 0, "\(daemonResult)")
                for result in [backfill, daemonResult] {
                    #expect(!result.output.localizedCaseInsensitiveContains("locked"), "\(result)")
                    #expect(!result.output.localizedCaseInsensitiveContains("busy"), "\(result)")
                }
                expectNoProblems(try fx.mismatches(in: DayRange(old, today)), "daemon and backfill together")
            }
        }
    }
}
