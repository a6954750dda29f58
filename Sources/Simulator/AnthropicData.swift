import CostModel

/// One line of an Anthropic cost report, as the simulator sends it.
public struct SimAnthropicResult: Sendable, Hashable {
    /// Millionths of a cent: the exact amount, 10 × the dollar nanos.
    public var amountMicroCents: Int64
    /// Fractional digits of the `amount` text (0...6).
    public var amountDigits: Int
    public var workspaceID: String?
    public var description: String?
    public var costType: String?
    public var model: String?
    public var tokenType: String?
    public var contextWindow: String?
    public var serviceTier: String?
    public var inferenceGeo: String?
    /// True when `inference_geo` is left out of the JSON rather than sent as null.
    public var inferenceGeoAbsent: Bool

    /// The `amount` text, in cents, e.g. "946.6".
    public var amountCents: String {
        var out: [UInt8] = []
        SimDecimal.appendFixed(amountMicroCents, scale: 6, digits: amountDigits, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// The amount in US dollars × 10^9: cents × 10^7, exact since cents carry at
    /// most six decimals.
    public var amountNanos: Int64 { amountMicroCents * 10 }
}

/// A day's line before it is dressed as a result: an index into the catalog and an amount.
struct AnthropicDayLine {
    var line: Int
    var microCents: Int64
    var digits: Int
}

extension SimulatorWorld {
    /// The lines of one day of an org, in report order: empty for a day after
    /// `today` and for the occasional day without usage.
    func anthropicDayLines(_ catalog: AnthropicCatalog, org: SimAnthropicOrg, day: Day) -> [AnthropicDayLine] {
        guard day <= today, org.linesPerDay > 0 else { return [] }
        let rev = effectiveRevision(of: day)
        let dh = root.with("anthropic-day").with(org.name).with(day.daysSinceEpoch)
        // About one day in 40 has no cost at all, and the API says so with `results: []`.
        if dh.with("empty").below(40) == 0 { return [] }
        var count = org.linesPerDay
        if dh.with("fewer").below(5) == 0 {
            count = max(1, count * (50 + dh.with("fewer-by").below(50)) / 100)
        }
        let limit = min(count + (rev == 0 ? 0 : catalog.spare), catalog.lines.count)
        let rh = dh.with("revision").with(rev)
        let partial = day == today && unlockedDays > 1
        var out: [AnthropicDayLine] = []
        out.reserveCapacity(limit)
        var r = rh.with("amounts").generator()
        for i in 0..<limit {
            // A restatement drops about one line in 16 and brings in about one
            // spare in 4; revision 0 is the plain first `count` lines.
            if rev != 0 {
                let roll = rh.with(i).below(16)
                if i < count ? roll == 0 : roll >= 4 { continue }
            }
            let x = r.next()
            let base = catalog.lines[i].baseMicroCents
            // Day-to-day swing, plus low digits so that amounts use their decimals.
            var micro = base * Int64(60 + Int(x % 81)) / 100 + Int64((x >> 32) % UInt64(base / 10 + 1))
            if partial { micro /= 2 }
            micro *= spike(org.name, day)  // a planned spike (SimulatorWorld.spikes)
            // Mostly six decimals, as real reports show, but every width from 0 up occurs.
            let pick = Int((x >> 20) % 14)
            let digits = pick < 7 ? 6 : pick - 7
            let step = SimDecimal.pow10[6 - digits]
            micro -= micro % step
            if micro == 0 { micro = step }
            out.append(AnthropicDayLine(line: i, microCents: micro, digits: digits))
        }
        return out
    }

    /// What the cost report says for one org and day with
    /// `group_by[]=workspace_id&group_by[]=description`, the grouping costsync uses.
    public func anthropicResults(org name: String, day: Day) -> [SimAnthropicResult] {
        guard let org = anthropicOrg(named: name) else { return [] }
        let catalog = AnthropicCatalog(world: self, org: org)
        return anthropicDayLines(catalog, org: org, day: day).map { catalog.result(for: $0) }
    }
}

extension AnthropicCatalog {
    func result(for l: AnthropicDayLine) -> SimAnthropicResult {
        let line = lines[l.line]
        let p = AnthropicProduct.all[line.product]
        let geo = AnthropicProduct.geos[line.geo]
        return SimAnthropicResult(
            amountMicroCents: l.microCents, amountDigits: l.digits,
            workspaceID: workspaceIDs[line.workspace], description: p.description, costType: p.costType,
            model: p.model, tokenType: p.tokenType, contextWindow: p.contextWindow, serviceTier: p.serviceTier,
            inferenceGeo: geo, inferenceGeoAbsent: line.geoAbsent)
    }
}
