import CostModel
import SQLiteStore
import StorePort

/// A year of a large Anthropic org, made directly as cost lines: `linesPerDay`
/// distinct lines a day, realistic keys and amounts.
enum Workload {
    static func anthropicYear(days: Int, linesPerDay: Int, from first: Day) -> [DayWrite] {
        let models = ["claude-sonnet-4-20250514", "claude-opus-4-20250514", "claude-3-5-haiku-20241022", "claude-opus-4-1-20250805"]
        let tokens = ["uncached_input_tokens", "output_tokens", "cache_read_input_tokens",
                      "cache_creation.ephemeral_5m_input_tokens", "cache_creation.ephemeral_1h_input_tokens"]
        let tiers = ["standard", "batch"]
        let windows = ["0-200k", "200k-1M"]
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        return (0..<days).map { offset in
            let day = first.advanced(by: offset)
            let lines = (0..<linesPerDay).map { i -> CostLine in
                let workspace: String? = i % 50 == 0 ? nil : "wrkspc_01JwQvzr7rXLA5AGx3H\(i / 80)"
                let model = models[i % models.count]
                let token = tokens[(i / 4) % tokens.count]
                let tier = tiers[(i / 20) % 2]
                let window = windows[(i / 40) % 2]
                let description = "\(model) Usage - \(token)"
                var key = LineKeyBuilder()
                key.add("workspace_id", workspace)
                key.add("description", description)
                key.add("cost_type", "tokens")
                key.add("model", model)
                key.add("token_type", token)
                key.add("context_window", window)
                key.add("service_tier", tier)
                key.add("n", String(i))
                let cents = "\(next() % 1_000_000).\(next() % 1_000_000)"
                return CostLine(
                    lineKey: key.build, scopeID: workspace ?? "default", item: description,
                    amount: try! Money.anthropicCents(cents),
                    dimensions: Dimensions(workspaceID: workspace, description: description, costType: "tokens", model: model,
                                           tokenType: token, contextWindow: window, serviceTier: tier))
            }
            return DayWrite(day: day, lines: lines, isFinal: true)
        }
    }
}
