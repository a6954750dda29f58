import Alerts
import Config
import CostModel
import StorePort
import Testing

@Suite("Alert rules on exact figures")
struct AlertRulesTests {
    @Test("every threshold reached is reported, with exact integer comparison at the boundary")
    func thresholds() {
        let monthly: Int64 = 5_000_000_000_000  // 5000.00
        #expect(AlertRules.crossedThresholds(spentNanos: 4_000_000_000_000, monthlyNanos: monthly, thresholds: [50, 80, 100]) == [50, 80])
        #expect(AlertRules.crossedThresholds(spentNanos: 3_999_999_999_999, monthlyNanos: monthly, thresholds: [50, 80, 100]) == [50])
        #expect(AlertRules.crossedThresholds(spentNanos: 5_000_000_000_000, monthlyNanos: monthly, thresholds: [50, 80, 100]) == [50, 80, 100])
        #expect(AlertRules.crossedThresholds(spentNanos: 0, monthlyNanos: monthly, thresholds: [50]).isEmpty)
    }

    @Test("the forecast is MTD + sum7 × days left / 7, the one division rounded to the nearest nano")
    func forecast() {
        // 7 nanos × 1 day / 7 = 1 exactly.
        #expect(AlertRules.forecast(monthToDateNanos: 10, lastSevenDaysNanos: 7, daysLeft: 1) == 11)
        // 1 × 3 / 7 = 0.43 → 0; 4 × 1 / 7 = 0.57 → 1.
        #expect(AlertRules.forecast(monthToDateNanos: 0, lastSevenDaysNanos: 1, daysLeft: 3) == 0)
        #expect(AlertRules.forecast(monthToDateNanos: 0, lastSevenDaysNanos: 4, daysLeft: 1) == 1)
        // Seven is odd, so a sum of nanos over 7 is never exactly half way: "nearest nano".
        #expect(AlertRules.forecast(monthToDateNanos: 1_000_000_000_000, lastSevenDaysNanos: 700_000_000_000, daysLeft: 10)
                == 2_000_000_000_000)
        #expect(AlertRules.forecast(monthToDateNanos: 5, lastSevenDaysNanos: 100, daysLeft: 0) == 5)
    }

    @Test("the median of an even count is the mean of the middle two, rounded half to even")
    func median() {
        #expect(AlertRules.median([]) == nil)
        #expect(AlertRules.median([5, 1, 3]) == 3)
        #expect(AlertRules.median([1, 2, 4, 100]) == 3)
        #expect(AlertRules.median([1, 2]) == 2)  // 1.5 → 2 (even)
        #expect(AlertRules.median([2, 3]) == 2)  // 2.5 → 2 (even)
    }

    @Test("an anomaly is above factor × median and above the minimum, both strictly, with a decimal factor")
    func anomaly() throws {
        let three = try Money.parse("3")
        let twoAndHalf = try Money.parse("2.5")
        #expect(AlertRules.isAnomaly(spentNanos: 301, medianNanos: 100, factor: three, minimumNanos: 0))
        #expect(!AlertRules.isAnomaly(spentNanos: 300, medianNanos: 100, factor: three, minimumNanos: 0))
        #expect(AlertRules.isAnomaly(spentNanos: 251, medianNanos: 100, factor: twoAndHalf, minimumNanos: 0))
        #expect(!AlertRules.isAnomaly(spentNanos: 250, medianNanos: 100, factor: twoAndHalf, minimumNanos: 0))
        #expect(!AlertRules.isAnomaly(spentNanos: 10_000, medianNanos: 1, factor: three, minimumNanos: 10_000))
        #expect(AlertRules.isAnomaly(spentNanos: 10_001, medianNanos: 0, factor: three, minimumNanos: 10_000))
    }

    @Test("money is exact decimal text with at least two decimals")
    func money() {
        #expect(AlertMoney.text(2_503_100_000_000) == "2503.10")
        #expect(AlertMoney.text(4_512) == "0.000004512")
        #expect(AlertMoney.text(-1_500_000_000) == "-1.50")
        #expect(AlertMoney.text(0) == "0.00")
        #expect(AlertMoney.text(Int64.max) == "9223372036.854775807")
    }

    @Test("an alert id is stable and differs by threshold, period and scope")
    func ids() {
        let a = AlertID.make(kind: .budget, budget: "b", provider: .anthropic, org: "acme", workspaceID: nil, period: "2025-06", thresholdPercent: 50)
        #expect(a == AlertID.make(kind: .budget, budget: "b", provider: .anthropic, org: "acme", workspaceID: nil, period: "2025-06", thresholdPercent: 50))
        #expect(a.hasPrefix("alert_") && a.count == 38)
        #expect(a != AlertID.make(kind: .budget, budget: "b", provider: .anthropic, org: "acme", workspaceID: nil, period: "2025-06", thresholdPercent: 80))
        #expect(a != AlertID.make(kind: .budget, budget: "b", provider: .anthropic, org: "acme", workspaceID: nil, period: "2025-07", thresholdPercent: 50))
        #expect(a != AlertID.make(kind: .budget, budget: "b", provider: .anthropic, org: nil, workspaceID: nil, period: "2025-06", thresholdPercent: 50))
    }

    @Test("the JSON body has every key in order, nulls included, money as strings")
    func jsonBody() {
        let alert = AlertRecord(id: "alert_x", kind: .anomaly, budget: nil, provider: .clickhouse, org: "acme-ch", workspaceID: nil,
                                currency: "CHC", period: "2025-06-28", thresholdPercent: nil, spentNanos: 812_400_000_000,
                                limitNanos: 95_100_000_000, forecastNanos: nil, text: "say \"hi\"\n", raisedAt: Timestamp(secondsSinceEpoch: 0))
        #expect(AlertBody.json(alert) == """
            {"id": "alert_x", "kind": "anomaly", "budget": null, "provider": "clickhouse", "org": "acme-ch", "workspace_id": null, \
            "currency": "CHC", "period": "2025-06-28", "threshold_percent": null, "spent": "812.40", "limit": "95.10", \
            "forecast": null, "text": "say \\"hi\\"\\n"}
            """)
        #expect(AlertBody.slack(alert) == #"{"text": "say \"hi\"\n"}"#)
    }
}
