import ProcessHarness
import CostModel
import Foundation
import Simulator
import SQLite
import Testing

extension EndToEnd {
    @Suite("secrets")
    struct Secrets {
        /// Secrets no output could contain by chance.
        static let anthropicKey = "sk-ant-admin01-E2Esecret-QuokkaMarmalade-7Hq2Zx"
        static let clickhouseKeyID = "E2EkeyidPangolinSaffron42"
        static let clickhouseSecret = "4b1dE2EsecretNarwhalCinnamon-9Vw3Lp8Tk"
        static let wrongKey = "sk-ant-admin01-E2Ewrong-AxolotlPaprika-5Rm7Yc"

        /// The secrets and the encodings they travel in (HTTP Basic is base64).
        static let needles: [String] = {
            let basic = Data("\(clickhouseKeyID):\(clickhouseSecret)".utf8).base64EncodedString()
            return [anthropicKey, clickhouseKeyID, clickhouseSecret, wrongKey, basic,
                    Data(anthropicKey.utf8).base64EncodedString(), Data(wrongKey.utf8).base64EncodedString(),
                    // Distinctive fragments, in case a log truncates or splits a value.
                    "QuokkaMarmalade", "PangolinSaffron", "NarwhalCinnamon", "AxolotlPaprika"]
        }()

        static func leaks(in text: String) -> [String] { needles.filter { text.contains($0) } }
        static func leaks(in data: Data) -> [String] { needles.filter { data.range(of: Data($0.utf8)) != nil } }

        static func world(today: Day) -> SimulatorWorld {
            SimulatorWorld(
                seed: 11, today: today,
                anthropicOrgs: [SimAnthropicOrg(name: "acme-ai", adminKey: anthropicKey, linesPerDay: 10, workspaces: 2)],
                clickhouseOrgs: [SimClickHouseOrg(name: "acme-analytics", keyID: clickhouseKeyID, keySecret: clickhouseSecret, services: 2)])
        }

        @Test("no secret appears in any output, in the database, or in /proc/<pid>/cmdline")
        func noSecretAnywhere() async throws {
            try await checkNoSecretAnywhere(logLevel: nil)
        }

        @Test("no secret appears in debug and trace logs either")
        func noSecretInTraceLogs() async throws {
            try await checkNoSecretAnywhere(logLevel: "trace")
        }

        /// Runs every command (a 401 included) at `logLevel` (default when nil),
        /// a daemon whose argv is read from /proc, and looks for the secrets in
        /// all output and in the database files.
        func checkNoSecretAnywhere(logLevel: String?) async throws {
            let today = pinnedToday
            let first = today.advanced(by: -20)
            let level = logLevel.map { ["--log-level", $0] } ?? []
            try await Fixture.with(Self.world(today: today), sync: SyncSection(startDate: first)) { fx in
                var outputs: [(String, String)] = []
                func record(_ r: RunResult) { outputs.append((r.arguments.joined(separator: " "), r.output)) }

                record(try await fx.runOK(["check-config"] + level))
                record(try await fx.runOK(["check-config", "--online"] + level))
                record(try await fx.runOK(["backfill", "--from", "\(first)", "--to", "\(today)"] + level))
                record(try await fx.runOK(["run", "--once"] + level))

                // A failing run: the wrong key must not show either.
                let keyVar = SimulatorWorld.environmentName(org: "acme-ai", "ADMIN_KEY")
                let failing = try await fx.run(["run", "--once"] + level, env: [keyVar: Self.wrongKey])
                #expect(failing.status == 1, "\(failing)")
                #expect(failing.stderr.contains("401"), "the failure should be logged: \(failing)")
                record(failing)
                let failingCheck = try await fx.run(["check-config", "--online"] + level, env: [keyVar: Self.wrongKey])
                #expect(failingCheck.status == 1, "\(failingCheck)")
                record(failingCheck)

                // acme-ai's last sync failed: status says so (exit 1), without the key.
                record(try await fx.run(["status"] + level))
                record(try await fx.run(["status", "--json"] + level))

                // A running daemon, caught in the middle of a slow pass: its argv,
                // and the database while the WAL is live.
                fx.simulator.setFaults(FaultPlan(latency: .milliseconds(500)))
                fx.simulator.resetRequests()
                let daemon = try fx.start(["run"] + level)
                let busy = await eventually(timeout: .seconds(30)) { !fx.simulator.requests.isEmpty }
                #expect(busy, "the daemon made no request")
                let cmdline = try readWhileRunning(daemon)
                let arguments = cmdline.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
                #expect(arguments.contains("run"), "cmdline: \(arguments)")
                #expect(Self.leaks(in: cmdline).isEmpty, "/proc/\(daemon.pid)/cmdline holds a secret: \(arguments)")
                // The secrets are in the environment, where the config said to find them.
                let environ = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(daemon.pid)/environ"))) ?? Data()
                #expect(environ.isEmpty || environ.range(of: Data(Self.anthropicKey.utf8)) != nil)
                let liveFiles = databaseFiles(fx)
                daemon.signal(SIGTERM)
                let stopped = await daemon.wait(timeout: .seconds(30))
                #expect(stopped.exitedNormally && stopped.status == 0, "\(stopped)")
                record(stopped)

                for (command, text) in outputs {
                    #expect(Self.leaks(in: text).isEmpty, "`costsync \(command)` printed \(Self.leaks(in: text))")
                }
                for (name, bytes) in liveFiles + databaseFiles(fx) {
                    #expect(Self.leaks(in: bytes).isEmpty, "\(name) holds \(Self.leaks(in: bytes))")
                }
                #expect(liveFiles.contains { $0.0.hasSuffix("-wal") }, "no WAL while the daemon ran")
                // Something was synced, so the files were not vacuously clean.
                #expect(try fx.count("SELECT COUNT(*) FROM costs") > 0)
                // The failure was recorded without its key.
                let error = try #require(try fx.cursor(.anthropic, "acme-ai")?.lastError)
                #expect(error.contains("401"), "\(error)")
                #expect(Self.leaks(in: error).isEmpty)
            }
        }

        private func readWhileRunning(_ process: Subprocess) throws -> Data {
            try #require(!process.hasExited, "the daemon exited early: \(process.stderr.text)")
            let data = try Data(contentsOf: URL(fileURLWithPath: "/proc/\(process.pid)/cmdline"))
            try #require(!data.isEmpty)
            return data
        }

        /// The raw bytes of the database, its WAL and its shared-memory index.
        private func databaseFiles(_ fx: Fixture) -> [(String, Data)] {
            ["", "-wal", "-shm", "-journal"].compactMap { suffix in
                let path = fx.databasePath + suffix
                return (try? Data(contentsOf: URL(fileURLWithPath: path))).map { (path, $0) }
            }
        }
    }
}
