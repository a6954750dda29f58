import ProcessHarness
import CostModel
import Foundation
import Simulator
import SQLite
import Testing

extension EndToEnd {
    @Suite("failures")
    struct Failures {
        @Test("one org whose key is wrong fails alone and the others complete")
        func wrongKeyFailsAlone() async throws {
            let today = pinnedToday
            let first = today.advanced(by: -44)
            try await Fixture.with(smallWorld(today: today, linesPerDay: 15), sync: SyncSection(startDate: first)) { fx in
                let keyVar = SimulatorWorld.environmentName(org: "globex-ai", "ADMIN_KEY")
                let result = try await fx.run(["run", "--once"], env: [keyVar: "sk-ant-admin01-not-the-right-key-000000"])
                #expect(result.exitedNormally && result.status != 0, "\(result)")
                #expect(result.stderr.contains("globex-ai"), "stderr should name the failed org: \(result)")

                let others = fx.orgs.filter { $0.name != "globex-ai" }
                expectNoProblems(try fx.mismatches(in: DayRange(first, today), orgs: others), "the healthy orgs")
                #expect(try fx.count("SELECT COUNT(*) FROM costs WHERE org = 'globex-ai'") == 0)

                let cursor = try #require(try fx.cursor(.anthropic, "globex-ai"))
                let error = try #require(cursor.lastError, "no last_error recorded")
                #expect(error.localizedCaseInsensitiveContains("authentication"), "last_error: \(error)")
                #expect(error.contains("401"), "last_error: \(error)")
                #expect(cursor.consecutiveFailures == 1)
                #expect(cursor.lastSuccessAt == nil)
                #expect(cursor.lastAttemptAt != nil)
                #expect(cursor.nextDay == first, "the failed org's cursor moved")
                for org in others {
                    let c = try #require(try fx.cursor(org.provider, org.name))
                    #expect(c.lastError == nil && c.consecutiveFailures == 0, "\(org.name): \(c)")
                }
                // Only one request for the bad key: a 401 is not retried.
                let bad = fx.simulator.costRequests.filter { $0.provider == .anthropic && $0.org == nil }
                #expect(bad.count == 1, "\(bad.count) requests with the wrong key")

                // status is a monitoring check: a failing org makes it exit 1, and names the problem.
                let status = try await fx.run(["status"])
                #expect(status.exitedNormally && status.status == 1, "\(status)")
                let block = status.stdout.components(separatedBy: "\n\n").first { $0.hasPrefix("globex-ai") } ?? ""
                #expect(block.contains("problem: the last sync failed"), "status:\n\(status.stdout)")
                #expect(block.localizedCaseInsensitiveContains("authentication"), "status:\n\(status.stdout)")
                #expect(block.contains("1 in a row"), "status:\n\(status.stdout)")

                // A second failing poll counts up.
                _ = try await fx.run(["run", "--once"], env: [keyVar: "sk-ant-admin01-not-the-right-key-000000"])
                #expect(try fx.cursor(.anthropic, "globex-ai")?.consecutiveFailures == 2)
            }
        }

        struct ConfigCase: Sendable, CustomTestStringConvertible {
            var name: String
            /// Turns a valid config into a broken one.
            var breakConfig: @Sendable (String) -> String
            /// Environment changes for the run.
            var env: [String: String?] = [:]
            /// What stderr must name.
            var key: String
            var testDescription: String { name }
        }

        static let configCases: [ConfigCase] = [
            ConfigCase(name: "unknown key", breakConfig: {
                $0.replacingOccurrences(of: "settle_days = 3", with: "settle_days = 3\nsettle_dayz = 4")
            }, key: "sync.settle_dayz"),
            ConfigCase(name: "duplicate name", breakConfig: {
                $0.replacingOccurrences(of: "name = \"globex-ai\"", with: "name = \"acme-ai\"")
            }, key: "anthropic[1].name"),
            ConfigCase(name: "bad date", breakConfig: {
                $0.replacing(#/start_date = "[0-9-]+"/#, with: "start_date = \"2025-02-30\"")
            }, key: "sync.start_date"),
            ConfigCase(name: "missing secret env", breakConfig: { $0 },
                       env: [SimulatorWorld.environmentName(org: "acme-analytics", "KEY_SECRET"): nil],
                       key: "clickhouse[0].key_secret_env"),
            ConfigCase(name: "secret inline", breakConfig: {
                $0.replacingOccurrences(of: "admin_key_env = \"\(SimulatorWorld.environmentName(org: "globex-ai", "ADMIN_KEY"))\"",
                                        with: "admin_key = \"sk-ant-admin01-pasted-inline\"")
            }, key: "anthropic[1].admin_key"),
            ConfigCase(name: "plain http to a remote host", breakConfig: {
                $0.replacing(#/base_url = "http://127\.0\.0\.1:([0-9]+)"/#) { m in "base_url = \"http://example.com:\(m.1)\"" }
            }, key: "anthropic[0].base_url"),
        ]

        @Test("config errors exit 78 and name the key", arguments: configCases)
        func configErrors(_ c: ConfigCase) async throws {
            let today = pinnedToday
            try await Fixture.with(smallWorld(today: today, linesPerDay: 5)) { fx in
                let valid = try String(contentsOfFile: fx.configPath, encoding: .utf8)
                let broken = c.breakConfig(valid)
                #expect(broken != valid || !c.env.isEmpty, "the case did not change the config")
                try fx.writeConfig(text: broken)
                for command in [["check-config"], ["run", "--once"], ["backfill", "--from", "\(today)", "--to", "\(today)"], ["status"]] {
                    let result = try await fx.run(command, env: c.env, timeout: .seconds(30))
                    #expect(result.exitedNormally && result.status == 78, "\(command): \(result)")
                    #expect(result.stderr.contains(c.key), "\(command): stderr should name \(c.key): \(result.stderr)")
                    #expect(result.stderr.contains(fx.configPath), "\(command): stderr should name the file: \(result.stderr)")
                    #expect(!result.stderr.contains("sk-ant-admin01-pasted-inline"), "the pasted secret was echoed")
                }
                #expect(fx.simulator.requests.isEmpty, "a bad config still made requests")
                #expect(!FileManager.default.fileExists(atPath: fx.databasePath), "a bad config still created the database")
            }
        }

        @Test("a missing config file exits 78 and names the file")
        func missingConfigFile() async throws {
            try await Fixture.with(smallWorld(today: pinnedToday, linesPerDay: 5)) { fx in
                try FileManager.default.removeItem(atPath: fx.configPath)
                let result = try await fx.run(["check-config"], timeout: .seconds(30))
                #expect(result.exitedNormally && result.status == 78, "\(result)")
                #expect(result.stderr.contains(fx.configPath), "\(result)")
            }
        }

        @Test("check-config --online says which org's key fails")
        func checkConfigOnline() async throws {
            try await Fixture.with(smallWorld(today: pinnedToday, linesPerDay: 5)) { fx in
                let ok = try await fx.runOK(["check-config", "--online"], timeout: .seconds(60))
                for org in fx.orgs { #expect(ok.stdout.contains("\(org.name): ok"), "\(ok)") }
                let keyVar = SimulatorWorld.environmentName(org: "globex-warehouse", "KEY_SECRET")
                let bad = try await fx.run(["check-config", "--online"], env: [keyVar: "wrong-secret-value-123"], timeout: .seconds(60))
                #expect(bad.exitedNormally && bad.status == 1, "\(bad)")
                #expect(bad.stdout.contains("globex-warehouse: FAILED"), "\(bad)")
                #expect(bad.stdout.contains("acme-analytics: ok"), "\(bad)")
                #expect(!FileManager.default.fileExists(atPath: fx.databasePath), "check-config created the database")
            }
        }
    }
}
