import CostModel
import StorePort

/// Money in alerts: integer nanos shown as exact decimal text, never through
/// a `Double`. At least two decimals (`2503.10`), more only when the nanos
/// need them (`0.000004512`), so a message reads like money and loses nothing.
public enum AlertMoney {
    public static func text(_ nanos: Int64) -> String {
        let negative = nanos < 0
        let magnitude = nanos.magnitude
        let units = magnitude / 1_000_000_000
        var fraction = String(magnitude % 1_000_000_000)
        fraction = String(repeating: "0", count: 9 - fraction.count) + fraction
        while fraction.count > 2, fraction.hasSuffix("0") { fraction.removeLast() }
        return (negative ? "-" : "") + "\(units).\(fraction)"
    }

    /// `2503.10 USD`.
    public static func text(_ nanos: Int64, _ currency: String) -> String { text(nanos) + " " + currency }
}

/// The stable identity of an alert: the 128-bit FNV-1a hash (the one
/// `line_key` uses) of its threshold, period, kind, budget, provider, org and
/// workspace. The same crossing always gets the same id, in every process and
/// version, which is what makes "record if new" fire it once and lets a
/// receiver drop a repeated delivery by its `Idempotency-Key`.
public enum AlertID {
    public static func make(kind: AlertKind, budget: String?, provider: Provider, org: String?, workspaceID: String?,
                            period: String, thresholdPercent: Int?) -> String {
        // What differs most between alerts comes first: FNV-1a mixes a byte
        // into everything after it, so ids of one budget's thresholds do not
        // share most of their digits.
        var builder = LineKeyBuilder()
        builder.add("threshold", thresholdPercent.map(String.init))
        builder.add("period", period)
        builder.add("kind", kind.rawValue)
        builder.add("budget", budget)
        builder.add("provider", provider.rawValue)
        builder.add("org", org)
        builder.add("workspace_id", workspaceID)
        return "alert_" + builder.build
    }
}

/// The two bodies a target may ask for. Both are built from the stored
/// record alone, so every retry (after a restart too) sends the same bytes.
public enum AlertBody {
    /// costsync's own object, keys in a fixed order, money as exact decimal text.
    public static func json(_ a: AlertRecord) -> String {
        var w = JSONObjectWriter()
        w.string("id", a.id)
        w.string("kind", a.kind.rawValue)
        w.string("budget", a.budget)
        w.string("provider", a.provider.rawValue)
        w.string("org", a.org)
        w.string("workspace_id", a.workspaceID)
        w.string("currency", a.currency)
        w.string("period", a.period)
        w.number("threshold_percent", a.thresholdPercent)
        w.string("spent", AlertMoney.text(a.spentNanos))
        w.string("limit", AlertMoney.text(a.limitNanos))
        w.string("forecast", a.forecastNanos.map(AlertMoney.text))
        w.string("text", a.text)
        return w.finish()
    }

    /// A Slack incoming webhook's message: `{"text": …}`.
    public static func slack(_ a: AlertRecord) -> String {
        var w = JSONObjectWriter()
        w.string("text", a.text)
        return w.finish()
    }
}

/// A one-line JSON object with the keys in the order written.
struct JSONObjectWriter {
    private var out = "{"
    private var first = true

    private mutating func key(_ k: String) {
        if !first { out += ", " }
        first = false
        out += Self.quoted(k) + ": "
    }

    mutating func string(_ k: String, _ value: String?) {
        key(k)
        out += value.map(Self.quoted) ?? "null"
    }

    mutating func number(_ k: String, _ value: Int?) {
        key(k)
        out += value.map(String.init) ?? "null"
    }

    func finish() -> String { out + "}" }

    /// The one JSON string encoder (CostModel's).
    static func quoted(_ s: String) -> String { JSONText.quoted(s) }
}
