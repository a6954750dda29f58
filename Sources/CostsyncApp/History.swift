import Config
import CostModel
import Foundation
import SQLiteStore
import StorePort

extension CostsyncApp {
    /// `costsync history`: what providers restated after a day was first
    /// written, as a table with totals per day, or JSON for scripts. Read-only.
    public func history(orgs names: [String] = [], range: DayRange? = nil, json: Bool = false) async throws {
        let orgs = try selectOrgs(names)
        // Revisions come through the port, so PostgreSQL answers them too.
        let store = try await openPortForReading()
        var revisions: [Revision] = []
        for org in orgs {
            revisions += try await store.revisions(OrgKey(org.provider, org.name), in: range)
        }
        revisions.sort { ($0.day, $0.key.description, $0.observedAt) < ($1.day, $1.key.description, $1.observedAt) }
        console.print(json ? HistoryFormat.json(revisions) : HistoryFormat.text(revisions))
    }
}

/// `costsync history` output. Amounts are the exact decimal text; deltas are
/// computed from nanos as integers and shown as decimals of the currency.
enum HistoryFormat {
    static func text(_ revisions: [Revision]) -> String {
        guard !revisions.isEmpty else { return "no revisions: no stored line has changed after its day was first written" }
        var lines = ["day         org                  item                                         old → new                      delta           when"]
        var day: (Day, OrgKey)?
        var dayTotal: Int64 = 0
        func closeDay() {
            guard let (d, key) = day else { return }
            lines.append("\(d)  \(pad(key.org, 20)) total \(signed(dayTotal, key.provider.currency))")
        }
        for r in revisions {
            if day.map({ $0.0 != r.day || $0.1 != r.key }) ?? true {
                closeDay()
                day = (r.day, r.key)
                dayTotal = 0
            }
            dayTotal += r.deltaNanos
            let change = "\(r.oldAmount ?? "—") → \(r.newAmount ?? "—")"
            lines.append("\(r.day)  \(pad(r.key.org, 20)) \(pad(cut(r.item, 44), 44)) \(pad(change, 30)) \(pad(signed(r.deltaNanos, ""), 15)) \(r.observedAt)"
                         + (r.wasFinal ? "  (a final day changed)" : ""))
        }
        closeDay()
        return lines.joined(separator: "\n")
    }

    /// At most `width` characters, an ellipsis marking the cut (the JSON keeps it whole).
    private static func cut(_ text: String, _ width: Int) -> String {
        text.count <= width ? text : String(text.prefix(width - 1)) + "…"
    }

    private static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }

    /// `+1.234567891` from nanos, exact; the currency appended when given.
    static func signed(_ nanos: Int64, _ currency: String) -> String {
        let sign = nanos < 0 ? "-" : "+"
        let magnitude = nanos.magnitude
        var fraction = String(magnitude % 1_000_000_000)
        while fraction.count < 9 { fraction = "0" + fraction }
        while fraction.count > 2 && fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(sign)\(magnitude / 1_000_000_000).\(fraction)" + (currency.isEmpty ? "" : " \(currency)")
    }

    private struct Row: Encodable {
        var provider: String
        var org: String
        var day: String
        var line_key: String
        var change: String
        var item: String
        var scope_id: String
        var old_amount: String?
        var old_amount_nanos: Int64?
        var new_amount: String?
        var new_amount_nanos: Int64?
        var delta_nanos: Int64
        var was_final: Bool
        var observed_at: String
        var fetch_id: Int64?

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            // Every key on every row, null where absent.
            try c.encode(provider, forKey: .provider)
            try c.encode(org, forKey: .org)
            try c.encode(day, forKey: .day)
            try c.encode(line_key, forKey: .line_key)
            try c.encode(change, forKey: .change)
            try c.encode(item, forKey: .item)
            try c.encode(scope_id, forKey: .scope_id)
            try c.encode(old_amount, forKey: .old_amount)
            try c.encode(old_amount_nanos, forKey: .old_amount_nanos)
            try c.encode(new_amount, forKey: .new_amount)
            try c.encode(new_amount_nanos, forKey: .new_amount_nanos)
            try c.encode(delta_nanos, forKey: .delta_nanos)
            try c.encode(was_final, forKey: .was_final)
            try c.encode(observed_at, forKey: .observed_at)
            try c.encode(fetch_id, forKey: .fetch_id)
        }

        enum CodingKeys: String, CodingKey {
            case provider, org, day, line_key, change, item, scope_id, old_amount, old_amount_nanos, new_amount
            case new_amount_nanos, delta_nanos, was_final, observed_at, fetch_id
        }
    }

    static func json(_ revisions: [Revision]) -> String {
        let rows = revisions.map { r in
            Row(provider: r.key.provider.rawValue, org: r.key.org, day: r.day.description, line_key: r.lineKey, change: r.change,
                item: r.item, scope_id: r.scopeID, old_amount: r.oldAmount, old_amount_nanos: r.oldNanos, new_amount: r.newAmount,
                new_amount_nanos: r.newNanos, delta_nanos: r.deltaNanos, was_final: r.wasFinal, observed_at: r.observedAt,
                fetch_id: r.fetchID)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: (try? encoder.encode(rows)) ?? Data("[]".utf8), as: UTF8.self)
    }
}
