import ProcessHarness
import CostModel
import Foundation
import Simulator
import SQLite
import Testing

extension EndToEnd {
    @Suite("export")
    struct Exporting {
        static let creditPrice = "0.2245"

        /// The fixture's config with a `credit_price` on every ClickHouse org.
        func configWithCreditPrice(_ fx: Fixture, _ sync: SyncSection) -> String {
            fx.configTOML(sync).replacingOccurrences(of: "\norganization_id = ",
                                                     with: "\ncredit_price = \"\(Self.creditPrice)\"\norganization_id = ")
        }

        /// Splits one RFC 4180 line (the exports never put a line break inside a field).
        func csvFields(_ line: Substring) -> [String] {
            var fields: [String] = []
            var current = ""
            var quoted = false
            var chars = Array(line)
            var i = 0
            while i < chars.count {
                let c = chars[i]
                if quoted {
                    if c == "\"" {
                        if i + 1 < chars.count && chars[i + 1] == "\"" { current.append("\""); i += 1 } else { quoted = false }
                    } else {
                        current.append(c)
                    }
                } else if c == "\"" {
                    quoted = true
                } else if c == "," {
                    fields.append(current)
                    current = ""
                } else {
                    current.append(c)
                }
                i += 1
            }
            fields.append(current)
            chars.removeAll()
            return fields
        }

        /// `provider org day` → the database's exact sum of amount_nanos.
        func databaseSums(_ fx: Fixture) throws -> [String: Int64] {
            try fx.withDatabase { db in
                Dictionary(uniqueKeysWithValues: try db.query("SELECT provider, org, day, SUM(amount_nanos) FROM costs GROUP BY 1, 2, 3") {
                    ("\($0.text(0)!) \($0.text(1)!) \($0.text(2)!)", $0.int64(3))
                })
            }
        }

        @Test("CSV, JSON Lines and FOCUS exports of a backfill round-trip to the database's sums in nanos, per day and org; FOCUS bills credits in USD")
        func roundTrip() async throws {
            let today = pinnedToday
            let first = today.advanced(by: -59)
            try await Fixture.with(smallWorld(today: today, linesPerDay: 12), sync: SyncSection(startDate: first)) { fx in
                try fx.writeConfig(text: configWithCreditPrice(fx, SyncSection(startDate: first)))
                try await fx.runOK(["backfill", "--from", "\(first)", "--to", "\(today)"])
                let expected = try databaseSums(fx)

                // CSV, to a file.
                let csvPath = fx.directory.appendingPathComponent("costs.csv").path
                try await fx.runOK(["export", "--format", "csv", "--output", csvPath])
                let csv = try String(contentsOfFile: csvPath, encoding: .utf8).split(separator: "\n")
                let header = csvFields(csv[0])
                #expect(header.prefix(4) == ["provider", "org", "day", "line_key"] && header.contains("amount_nanos") && header.contains("is_final"))
                let nanosAt = try #require(header.firstIndex(of: "amount_nanos"))
                let amountAt = try #require(header.firstIndex(of: "amount"))
                var csvSums: [String: Int64] = [:]
                for line in csv.dropFirst() {
                    let f = csvFields(line)
                    csvSums["\(f[0]) \(f[1]) \(f[2])", default: 0] += Int64(f[nanosAt])!
                    #expect(!f[amountAt].contains("e") && !f[amountAt].contains("E"), "exponent notation: \(f[amountAt])")
                }
                #expect(csvSums == expected)

                // JSON Lines, to standard output.
                let jsonl = try await fx.runOK(["export", "--format", "jsonl"])
                var jsonSums: [String: Int64] = [:]
                var lines = 0
                for line in jsonl.stdout.split(separator: "\n") {
                    let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                    #expect(object["amount"] is String)
                    let key = "\(object["provider"]!) \(object["org"]!) \(object["day"]!)"
                    jsonSums[key, default: 0] += Int64(try #require(object["amount_nanos"] as? Int))
                    lines += 1
                }
                #expect(jsonSums == expected)
                #expect(lines == csv.count - 1)

                // FOCUS: every row in USD; ClickHouse credits × credit_price, exactly.
                let focusPath = fx.directory.appendingPathComponent("focus.csv").path
                try await fx.runOK(["export", "--format", "focus", "--output", focusPath])
                let focus = try String(contentsOfFile: focusPath, encoding: .utf8).split(separator: "\n")
                let columns = csvFields(focus[0])
                func at(_ name: String) throws -> Int { try #require(columns.firstIndex(of: name), "\(name) is missing") }
                for name in ["BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd",
                             "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargePeriodEnd",
                             "ChargePeriodStart", "ContractedCost", "EffectiveCost", "InvoiceIssuerName", "ListCost",
                             "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName", "ServiceCategory", "ServiceName",
                             "ChargeFrequency", "InvoiceId", "ServiceSubcategory"] {
                    _ = try at(name)
                }
                let price = try Money.parse(Self.creditPrice)
                var focusSums: [String: Int64] = [:]
                for line in focus.dropFirst() {
                    let f = csvFields(line)
                    #expect(f[try at("BillingCurrency")] == "USD")
                    let billed = f[try at("BilledCost")]
                    #expect(billed.contains(".") && !billed.contains("e"), "\(billed)")
                    let provider = f[try at("x_Provider")]
                    focusSums["\(provider) \(f[try at("x_Org")]) \(f[try at("x_Day")])", default: 0] += Int64(f[try at("x_AmountNanos")])!
                    if provider == "clickhouse" {
                        #expect(f[try at("PricingCurrency")] == "CHC")
                        let credits = try Money.parse(f[try at("x_Amount")])
                        // Credits × price, to the nano-dollar, half to even: worked out here by hand.
                        let product = Int128(Int64(f[try at("x_AmountNanos")])!) * price.significand
                        let divisor = (0..<price.scale).reduce(Int128(1)) { r, _ in r * 10 }
                        var nanos = product / divisor
                        let twice = (product % divisor).magnitude * 2
                        if twice > divisor.magnitude || (twice == divisor.magnitude && nanos % 2 != 0) { nanos += product < 0 ? -1 : 1 }
                        #expect(try Money.parse(billed).nanos == Int64(nanos), "\(billed) for \(credits) credits")
                        #expect(try Money.parse(f[try at("PricingCurrencyEffectiveCost")]) == credits)
                        #expect(f[try at("BillingAccountId")] == fx.world.clickhouseOrg(named: f[try at("x_Org")])?.organizationID)
                    } else {
                        #expect(try Money.parse(billed).nanos == Int64(f[try at("x_AmountNanos")])!)
                        #expect(f[try at("PricingCurrency")].isEmpty)
                    }
                    #expect(f[try at("ChargeDescription")].unicodeScalars.allSatisfy(\.isASCII))
                }
                #expect(focusSums == expected)
                // The shell's view says the same as the export, row for row (the daemon wrote the price).
                let viewRows = try fx.withDatabase { db in
                    try db.query("""
                        SELECT x_Provider, x_Org, x_Day, x_LineKey, BilledCost, BillingAccountId, SubAccountId, SubAccountName,
                               PricingCurrencyEffectiveCost
                        FROM focus_costs ORDER BY x_Provider, x_Org, x_Day, x_LineKey
                        """) { row in (0..<9).map { row.text(Int32($0)) ?? "" }.joined(separator: "|") }
                }
                let exportRows = try focus.dropFirst().map { line in
                    let f = csvFields(line)
                    return try ["x_Provider", "x_Org", "x_Day", "x_LineKey", "BilledCost", "BillingAccountId", "SubAccountId",
                                "SubAccountName", "PricingCurrencyEffectiveCost"].map { f[try at($0)] }.joined(separator: "|")
                }
                #expect(viewRows == exportRows)
                let leftovers = try FileManager.default.contentsOfDirectory(atPath: fx.directory.path).filter { $0.hasSuffix(".tmp") }
                #expect(leftovers.isEmpty)
            }
        }

        @Test("a FOCUS export of ClickHouse rows without credit_price fails, naming the key; nothing is guessed")
        func focusNeedsCreditPrice() async throws {
            let today = pinnedToday
            try await Fixture.with(smallWorld(today: today, linesPerDay: 4), sync: SyncSection(startDate: today.advanced(by: -3))) { fx in
                try await fx.runOK(["run", "--once"])
                let path = fx.directory.appendingPathComponent("focus.csv").path
                let result = try await fx.run(["export", "--format", "focus", "--output", path])
                #expect(result.status == 78, "\(result)")
                #expect(result.stderr.contains("credit_price") && result.stderr.contains("acme-analytics"), "\(result.stderr)")
                #expect(!FileManager.default.fileExists(atPath: path))
                // Anthropic rows alone need no price.
                try await fx.runOK(["export", "--format", "focus", "--provider", "anthropic", "--output", path])
                #expect(FileManager.default.fileExists(atPath: path))
            }
        }
    }
}
