/// One kind of Anthropic charge: everything of a result but its workspace,
/// inference geo and amount.
struct AnthropicProduct: Sendable {
    var description: String
    var costType: String
    var model: String?
    var tokenType: String?
    var contextWindow: String?
    var serviceTier: String?
    /// Orders of magnitude of a typical day's cost in millionths of a cent:
    /// output tokens cost more than cache reads.
    var magnitude: Int

    /// The charges an org can incur, in the vocabulary of real cost reports.
    static let all: [AnthropicProduct] = {
        let models: [(id: String, name: String, longContext: Bool, weight: Int)] = [
            ("claude-opus-4-1-20250805", "Claude Opus 4.1", false, 2),
            ("claude-opus-4-20250514", "Claude Opus 4", false, 1),
            ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", true, 2),
            ("claude-sonnet-4-20250514", "Claude Sonnet 4", true, 1),
            ("claude-3-7-sonnet-20250219", "Claude Sonnet 3.7", false, 0),
            ("claude-haiku-4-5-20251001", "Claude Haiku 4.5", false, 0),
            ("claude-3-5-haiku-20241022", "Claude Haiku 3.5", false, -1),
        ]
        let tokenTypes: [(type: String, label: String, weight: Int)] = [
            ("uncached_input_tokens", "Input Tokens", 1),
            ("output_tokens", "Output Tokens", 2),
            ("cache_read_input_tokens", "Input Tokens (Cache Read)", -1),
            ("cache_creation.ephemeral_5m_input_tokens", "Input Tokens (5m Cache Write)", 0),
            ("cache_creation.ephemeral_1h_input_tokens", "Input Tokens (1h Cache Write)", -1),
        ]
        var products: [AnthropicProduct] = []
        for model in models {
            for token in tokenTypes {
                for tier in ["standard", "batch"] {
                    for window in model.longContext ? ["0-200k", "200k-1M"] : ["0-200k"] {
                        var label = "\(model.name) Usage - \(token.label)"
                        if tier == "batch" { label += ", Batch" }
                        if window == "200k-1M" { label += ", Long Context" }
                        products.append(AnthropicProduct(
                            description: label, costType: "tokens", model: model.id, tokenType: token.type,
                            contextWindow: window, serviceTier: tier,
                            magnitude: 6 + model.weight + token.weight - (tier == "batch" ? 1 : 0) - (window == "200k-1M" ? 1 : 0)))
                    }
                }
            }
            products.append(AnthropicProduct(
                description: "\(model.name) Usage - Web Search", costType: "web_search", model: model.id,
                tokenType: nil, contextWindow: nil, serviceTier: "standard", magnitude: 5))
        }
        products.append(AnthropicProduct(description: "Code Execution Usage", costType: "code_execution", model: nil,
                                         tokenType: nil, contextWindow: nil, serviceTier: nil, magnitude: 5))
        products.append(AnthropicProduct(description: "Claude Agent Session Usage", costType: "session_usage", model: nil,
                                         tokenType: nil, contextWindow: nil, serviceTier: nil, magnitude: 5))
        return products
    }()

    /// `nil` (absent or null in the JSON), then the regions.
    static let geos: [String?] = [nil, "global", "us"]
}

/// One potential result line of an org: a distinct combination of workspace,
/// product and geo, with what does not change from day to day.
struct AnthropicCatalogLine: Sendable {
    var workspace: Int          // index into `AnthropicCatalog.workspaceIDs`; 0 is the default workspace
    var product: Int
    var geo: Int
    /// Whether `inference_geo` (then always nil) is left out rather than sent as null.
    /// Real responses do both, and a parser must treat them alike.
    var geoAbsent: Bool
    /// A typical day's amount, in millionths of a cent.
    var baseMicroCents: Int64
}

/// The lines an org can have, in the order it "adopts" them: a day with N lines
/// shows the first N, so an org's lines stay the same from day to day as real
/// usage does, and a restatement can add the next few.
struct AnthropicCatalog: Sendable {
    var workspaceIDs: [String?]
    var lines: [AnthropicCatalogLine]
    /// Lines beyond `linesPerDay` that a restatement may bring in.
    var spare: Int

    init(world: SimulatorWorld, org: SimAnthropicOrg) {
        let h = world.root.with("anthropic-catalog").with(org.name)
        let perWorkspace = AnthropicProduct.all.count * AnthropicProduct.geos.count
        spare = max(8, org.linesPerDay / 8)
        let needed = org.linesPerDay + spare
        // Lines must be distinct within a day, so a big org gets more workspaces.
        let named = max(org.workspaces, (needed + perWorkspace - 1) / perWorkspace - 1)
        workspaceIDs = [nil] + (0..<named).map { SimIdentifiers.workspaceID(h.with("workspace").with($0)) }
        let total = workspaceIDs.count * perWorkspace
        // A partial Fisher–Yates shuffle: only the first `needed` places matter.
        var order = Array(0..<total)
        var r = h.with("order").generator()
        let take = min(needed, total)
        for i in 0..<take {
            let j = i + r.below(total - i)
            order.swapAt(i, j)
        }
        lines = []
        lines.reserveCapacity(take)
        for i in 0..<take {
            let combo = order[i]
            let workspace = combo / perWorkspace
            let product = (combo / AnthropicProduct.geos.count) % AnthropicProduct.all.count
            let geo = combo % AnthropicProduct.geos.count
            let lh = h.with("line").with(combo)
            let magnitude = max(2, min(11, AnthropicProduct.all[product].magnitude + lh.with("m").below(4) - 1))
            let base = SimDecimal.pow10[magnitude] * Int64(1 + lh.with("b").below(9))
            lines.append(AnthropicCatalogLine(workspace: workspace, product: product, geo: geo,
                                              geoAbsent: geo == 0 && lh.with("absent").below(2) == 0, baseMicroCents: base))
        }
    }
}
