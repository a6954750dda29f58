import ProcessHarness
import CostModel
import Foundation
import Simulator
import SQLite
import Testing

extension EndToEnd {
    @Suite("names and accounts")
    struct Names {
        @Test("workspace names fill Anthropic rows' scope_name and FOCUS SubAccountName; services name ClickHouse warehouses; accounts are the providers' own")
        func namesFillRows() async throws {
            let today = pinnedToday
            try await Fixture.with(smallWorld(today: today, linesPerDay: 20), sync: SyncSection(startDate: today.advanced(by: -6))) { fx in
                try await fx.runOK(["run", "--once"])
                let world = fx.world
                for org in world.anthropicOrgs {
                    let expected = Dictionary(uniqueKeysWithValues: world.anthropicWorkspaces(org: org.name).map { ($0.id, $0.name) })
                    let rows = try fx.withDatabase { db in
                        try db.query("SELECT DISTINCT scope_id, scope_name FROM costs WHERE provider = 'anthropic' AND org = ?1",
                                     [.text(org.name)]) { ($0.text(0)!, $0.text(1)) }
                    }
                    #expect(!rows.isEmpty)
                    for (id, name) in rows { #expect(name == expected[id], "\(org.name) \(id)") }
                    // Archived workspaces are kept: old costs point at them.
                    let stored = try fx.count("SELECT COUNT(*) FROM workspaces WHERE org = ?1", [.text(org.name)])
                    #expect(stored == expected.count)
                    let account = try fx.withDatabase { db in
                        try db.query("SELECT account_id, account_name FROM accounts WHERE provider = 'anthropic' AND org = ?1",
                                     [.text(org.name)]) { "\($0.text(0)!) \($0.text(1)!)" }
                    }
                    #expect(account.count == 1 && account[0].hasSuffix("\(org.name) (Anthropic)"), "\(account)")
                }
                for org in world.clickhouseOrgs {
                    let services = world.clickhouseServices(org: org.name)
                    #expect(try fx.count("SELECT COUNT(*) FROM services WHERE org = ?1", [.text(org.name)]) == services.count)
                    let names = try fx.withDatabase { db in
                        try db.query("""
                            SELECT DISTINCT SubAccountId, SubAccountName, BillingAccountId FROM focus_costs
                            WHERE x_Provider = 'clickhouse' AND x_Org = ?1
                            """, [.text(org.name)]) { [$0.text(0), $0.text(1), $0.text(2)] }
                    }
                    let primary = try #require(services.first { $0.isPrimary })
                    #expect(names == [[primary.dataWarehouseID, primary.name, org.organizationID]])
                }
                let focusNames = try fx.withDatabase { db in
                    try db.query("SELECT COUNT(*) FROM focus_costs WHERE x_Provider = 'anthropic' AND SubAccountName IS NULL") { $0.int64(0) }
                }
                #expect(focusNames == [0])
            }
        }

        @Test("a renamed workspace shows its new name after the next day's refresh, on every stored row")
        func rename() async throws {
            let today = pinnedToday
            try await Fixture.with(smallWorld(today: today, linesPerDay: 20), sync: SyncSection(startDate: today.advanced(by: -6))) { fx in
                try await fx.runOK(["run", "--once"])
                let org = try #require(fx.world.anthropicOrgs.first)
                let renamed = try #require(fx.world.anthropicWorkspaces(org: org.name).first { !$0.isDefault })
                fx.simulator.update { $0.renamedWorkspaces[renamed.id] = "Renamed team" }
                func names() throws -> Set<String?> {
                    try fx.withDatabase { db in
                        Set(try db.query("SELECT DISTINCT scope_name FROM costs WHERE org = ?1 AND scope_id = ?2",
                                         [.text(org.name), .text(renamed.id)]) { $0.text(0) })
                    }
                }
                // Names are refreshed at most once a UTC day.
                fx.simulator.resetRequests()
                try await fx.runOK(["run", "--once"], env: ["COSTSYNC_NOW": "\(today)T18:00:00Z"])
                #expect(try names() == [renamed.name])
                #expect(!fx.simulator.requests.contains { $0.endpoint == .anthropicWorkspaces })
                try await fx.runOK(["run", "--once"], env: ["COSTSYNC_NOW": "\(today.advanced(by: 1))T00:30:00Z"])
                #expect(try names() == ["Renamed team"])
            }
        }

        @Test("names endpoints answering 500 do not fail the sync: costs are stored, a warning is logged, names come next pass")
        func namesFailure() async throws {
            let today = pinnedToday
            try await Fixture.with(smallWorld(today: today, linesPerDay: 8), sync: SyncSection(startDate: today.advanced(by: -3))) { fx in
                fx.simulator.setFaults(.next(40, .status(500), target: .names))
                let result = try await fx.runOK(["run", "--once"])
                #expect(result.stderr.contains("names not refreshed"), "\(result.stderr)")
                #expect(try fx.count("SELECT COUNT(*) FROM costs") > 0)
                #expect(try fx.count("SELECT COUNT(*) FROM workspaces") == 0)
                #expect(try fx.count("SELECT COUNT(*) FROM sync_cursor WHERE consecutive_failures > 0") == 0)
                fx.simulator.setFaults(.none)
                try await fx.runOK(["run", "--once"])
                #expect(try fx.count("SELECT COUNT(*) FROM workspaces") > 0)
                #expect(try fx.count("SELECT COUNT(*) FROM services") > 0)
            }
        }
    }
}
