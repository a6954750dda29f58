import Config
import CostModel
import Foundation
import StorePort

/// A calendar month, UTC: what `costsync report --month YYYY-MM` names.
public struct ReportMonth: Sendable, Hashable, CustomStringConvertible {
    public let year: Int
    public let month: Int

    /// `2025-06`; nil for anything else.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "-")
        guard parts.count == 2, parts[0].count == 4, parts[1].count == 2, let y = Int(parts[0]), let m = Int(parts[1]),
              (1...12).contains(m), y >= 1970 else { return nil }
        year = y
        month = m
    }

    public init(containing day: Day) {
        (year, month, _) = day.components
    }

    public var first: Day { Day(year: year, month: month, day: 1)! }
    public var next: ReportMonth { ReportMonth(containing: last.advanced(by: 1)) }
    public var previous: ReportMonth { ReportMonth(containing: first.advanced(by: -1)) }
    public var last: Day {
        let following = month == 12 ? Day(year: year + 1, month: 1, day: 1)! : Day(year: year, month: month + 1, day: 1)!
        return following.advanced(by: -1)
    }
    public var days: DayRange { DayRange(first, last) }
    public var description: String { String(format: "%04d-%02d", year, month) }
}

extension CostsyncApp {
    /// `costsync report`: one self-contained HTML page for a month (inline
    /// SVG and CSS, nothing fetched from elsewhere). Read-only; written to
    /// `output` atomically, or to standard output.
    public func report(month: ReportMonth? = nil, output: String? = nil) async throws {
        let month = month ?? ReportMonth(containing: clock.today)
        let orgs = try selectOrgs([])
        // Through the port: PostgreSQL's page is the SQLite file's for the same rows.
        guard let reader = try await openPortForReading() as? any ReportReader else {
            throw AppError.failed("costsync: this store cannot answer the report's queries")
        }
        let data = try await ReportData.read(from: reader, month: month, orgs: orgs, today: clock.today, generatedAt: clock.now)
        let sink = try ExportSink(path: output)
        sink.write(ReportHTML.render(data))
        try sink.finish()
    }
}

/// What the report shows, read from the database in exact nanos.
struct ReportData: Sendable {
    struct Org: Sendable {
        var key: OrgKey
        var currency: String
        var creditPrice: Money?
        /// Day → (nanos, final), for the days of the month with rows.
        var days: [Day: (nanos: Int64, final: Bool)] = [:]
        var total: Int64 = 0
        /// Last month up to the same day of the month, and all of it.
        var previousToDate: Int64 = 0
        var previousTotal: Int64 = 0
        var pendingDays: Int { days.values.filter { !$0.final }.count }
    }

    struct Ranked: Sendable {
        var title: String
        var currency: String
        var rows: [(label: String, org: String, nanos: Int64)]
    }

    var month: ReportMonth
    var generatedAt: Timestamp
    /// The day of the month the month-to-date comparison runs to.
    var comparedThrough: Int
    /// The month is the current one (still running).
    var running: Bool
    var orgs: [Org]
    var rankings: [Ranked]

    static func read(from reader: any ReportReader, month: ReportMonth, orgs configs: [OrgConfig], today: Day,
                     generatedAt: Timestamp) async throws -> ReportData {
        var orgs: [OrgKey: Org] = [:]
        for c in configs {
            let key = OrgKey(c.provider, c.name)
            orgs[key] = Org(key: key, currency: c.provider.currency, creditPrice: c.creditPrice)
        }
        let range = month.days
        for row in try await reader.dayTotals(in: range) where orgs[row.key] != nil {
            orgs[row.key]!.days[row.day] = (row.nanos, row.isFinal)
            orgs[row.key]!.total += row.nanos
        }
        // Month to date: through today's day of the month while the month runs, else all of it.
        let through = range.contains(today) ? today.components.day : range.count
        let previous = month.previous.days
        let previousCut = previous.first.advanced(by: min(through, previous.count) - 1)
        for row in try await reader.orgTotals(in: previous, through: previousCut) where orgs[row.key] != nil {
            orgs[row.key]!.previousTotal = row.nanos
            orgs[row.key]!.previousToDate = row.throughCutNanos
        }
        // The store ranks every org it holds; a few more than shown are asked
        // for so that orgs left out of the config rarely crowd out those in it.
        func ranked(_ title: String, _ kind: RankingKind) async throws -> Ranked {
            let rows = try await reader.ranking(kind, in: range, limit: 64)
            let kept = rows.filter { orgs[$0.key] != nil }.prefix(8)
            return Ranked(title: title, currency: kind.provider.currency, rows: kept.map { ($0.label ?? "—", $0.key.org, $0.nanos) })
        }
        let rankings = [
            try await ranked("Top workspaces", .workspaces),
            try await ranked("Top models", .models),
            try await ranked("Top ClickHouse metrics", .clickhouseMetrics),
            try await ranked("Top ClickHouse services", .clickhouseServices),
        ].filter { !$0.rows.isEmpty }
        let sorted = orgs.values.sorted { ($0.key.provider.rawValue, $0.key.org) < ($1.key.provider.rawValue, $1.key.org) }
        return ReportData(month: month, generatedAt: generatedAt, comparedThrough: through, running: range.contains(today),
                          orgs: sorted, rankings: rankings)
    }
}

/// Amounts for people: grouped thousands, two decimals, rounded half-even
/// from exact nanos (the page's `data-nanos` attributes keep them exact).
enum ReportMoney {
    static func cents(_ nanos: Int64) -> Int64 {
        var q = nanos / 10_000_000
        let r = nanos % 10_000_000
        if r.magnitude * 2 > 10_000_000 || (r.magnitude * 2 == 10_000_000 && q % 2 != 0) { q += nanos < 0 ? -1 : 1 }
        return q
    }

    static func text(_ nanos: Int64, _ currency: String) -> String {
        let c = cents(nanos)
        let whole = String(c.magnitude / 100)
        var grouped = ""
        for (i, ch) in whole.enumerated() {
            if i > 0 && (whole.count - i) % 3 == 0 { grouped.append(",") }
            grouped.append(ch)
        }
        let fraction = String(format: "%02d", Int(c.magnitude % 100))
        let sign = c < 0 ? "−" : ""
        return currency == "USD" ? "\(sign)$\(grouped).\(fraction)" : "\(sign)\(grouped).\(fraction) \(currency)"
    }

    /// Credits at the org's price, by the one billing rule.
    static func usd(_ creditNanos: Int64, _ price: Money?) -> Int64? {
        price.flatMap { try? Money.billedNanos(creditNanos: creditNanos, price: $0) }
    }

    /// `+12.3%`, or `new` when there was nothing to compare with.
    static func change(_ now: Int64, _ before: Int64) -> String {
        guard before != 0 else { return now == 0 ? "—" : "new" }
        let tenths = (Int128(now) - Int128(before)) * 1000 / Int128(before.magnitude)
        let sign = tenths < 0 ? "−" : "+"
        return "\(sign)\(tenths.magnitude / 10).\(tenths.magnitude % 10)%"
    }
}

/// The page: inline CSS and SVG only, readable offline and printable.
enum ReportHTML {
    static let palette = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#4d7c0f", "#be185d"]

    static func escape(_ text: String) -> String {
        var out = ""
        for ch in text {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(ch)
            }
        }
        return out
    }

    static func render(_ data: ReportData) -> String {
        var html = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Cloud and AI spend — \(data.month)</title>
        <style>
        body { font: 14px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #1f2937; margin: 0; background: #f3f4f6; }
        main { max-width: 980px; margin: 0 auto; padding: 28px 32px 40px; background: #fff; }
        h1 { font-size: 24px; margin: 0 0 2px; } h2 { font-size: 17px; margin: 28px 0 10px; border-bottom: 1px solid #e5e7eb; padding-bottom: 4px; }
        .sub { color: #6b7280; margin: 0 0 18px; }
        .cards { display: flex; gap: 14px; flex-wrap: wrap; }
        .card { flex: 1 1 200px; border: 1px solid #e5e7eb; border-radius: 8px; padding: 12px 16px; }
        .card .label { color: #6b7280; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
        .card .value { font-size: 22px; font-weight: 600; margin-top: 2px; font-variant-numeric: tabular-nums; }
        .card .note { color: #6b7280; font-size: 12px; }
        table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
        th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid #f0f0f0; }
        th { color: #6b7280; font-weight: 600; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
        td.num, th.num { text-align: right; white-space: nowrap; }
        .up { color: #b91c1c; } .down { color: #15803d; }
        .pending { color: #b45309; font-size: 12px; }
        .legend span { display: inline-block; margin-right: 14px; font-size: 12px; }
        .legend i { display: inline-block; width: 10px; height: 10px; margin-right: 5px; border-radius: 2px; vertical-align: -1px; }
        .grid { display: grid; grid-template-columns: 1fr 1fr; gap: 18px; }
        footer { color: #9ca3af; font-size: 12px; margin-top: 30px; }
        @media print { body { background: #fff; } main { padding: 0; } }
        </style></head><body><main>
        <h1>Cloud and AI spend — \(monthName(data.month))</h1>
        <p class="sub">From costsync's database, exact to the nano and rounded to cents here. Days not final yet may still be restated by the provider and are marked.</p>

        """
        let currencies = ["USD", "CHC"].filter { c in data.orgs.contains { $0.currency == c } }
        html += "<div class=\"cards\">\n"
        for currency in currencies {
            let orgs = data.orgs.filter { $0.currency == currency }
            let total = orgs.reduce(Int64(0)) { $0 + $1.total }
            let before = orgs.reduce(Int64(0)) { $0 + $1.previousToDate }
            let pending = orgs.reduce(0) { $0 + $1.pendingDays }
            var note = data.running
                ? "vs \(ReportMoney.text(before, currency)) last month to day \(data.comparedThrough) (\(ReportMoney.change(total, before)))"
                : "vs \(ReportMoney.text(before, currency)) last month (\(ReportMoney.change(total, before)))"
            if currency == "CHC" {
                let usd = orgs.compactMap { ReportMoney.usd($0.total, $0.creditPrice) }
                if usd.count == orgs.count { note += " · ≈ \(ReportMoney.text(usd.reduce(0, +), "USD")) at your credit price" }
            }
            html += """
            <div class="card" data-currency="\(currency)" data-nanos="\(total)"><div class="label">\(data.running ? "Month to date" : "Month total"), \(currency == "USD" ? "US dollars" : "ClickHouse credits")</div>
            <div class="value">\(ReportMoney.text(total, currency))</div><div class="note">\(escape(note))\(pending > 0 ? " · <span class=\"pending\">\(pending) org-days not final</span>" : "")</div></div>

            """
        }
        html += "</div>\n"
        for currency in currencies {
            let orgs = data.orgs.filter { $0.currency == currency }
            html += "<h2>Spend per day, \(currency == "USD" ? "US dollars" : "ClickHouse credits")</h2>\n"
            html += chart(orgs, month: data.month, currency: currency)
        }
        html += "<h2>By organization</h2>\n<table><thead><tr><th>Provider</th><th>Org</th><th class=\"num\">\(data.running ? "Month to date" : "Month")</th>"
            + "<th class=\"num\">Last month\(data.running ? ", same days" : "")</th><th class=\"num\">Change</th><th class=\"num\">Last month</th><th>Days not final</th></tr></thead><tbody>\n"
        for org in data.orgs {
            let change = ReportMoney.change(org.total, org.previousToDate)
            let cls = org.total > org.previousToDate ? "up" : org.total < org.previousToDate ? "down" : ""
            var amount = ReportMoney.text(org.total, org.currency)
            if org.currency == "CHC", let usd = ReportMoney.usd(org.total, org.creditPrice) { amount += "<br><small>≈ \(ReportMoney.text(usd, "USD"))</small>" }
            let pending = org.days.filter { !$0.value.final }.keys.sorted().map { "\($0.components.day)" }
            html += """
            <tr class="org-total" data-provider="\(org.key.provider)" data-org="\(escape(org.key.org))" data-currency="\(org.currency)" data-nanos="\(org.total)">\
            <td>\(org.key.provider == .anthropic ? "Anthropic" : "ClickHouse")</td><td>\(escape(org.key.org))</td><td class="num">\(amount)</td>\
            <td class="num">\(ReportMoney.text(org.previousToDate, org.currency))</td><td class="num \(cls)">\(change)</td>\
            <td class="num">\(ReportMoney.text(org.previousTotal, org.currency))</td>\
            <td>\(pending.isEmpty ? "—" : "<span class=\"pending\">\(pending.count): \(pending.joined(separator: ", "))</span>")</td></tr>

            """
        }
        html += "</tbody></table>\n<div class=\"grid\">\n"
        for ranking in data.rankings {
            html += "<div><h2>\(escape(ranking.title))</h2><table><thead><tr><th>\(ranking.title.hasSuffix("workspaces") ? "Workspace" : ranking.title.hasSuffix("models") ? "Model" : ranking.title.hasSuffix("metrics") ? "Metric" : "Service")</th><th>Org</th><th class=\"num\">Spend</th></tr></thead><tbody>\n"
            for row in ranking.rows {
                html += "<tr><td>\(escape(row.label))</td><td>\(escape(row.org))</td><td class=\"num\" data-nanos=\"\(row.nanos)\">\(ReportMoney.text(row.nanos, ranking.currency))</td></tr>\n"
            }
            html += "</tbody></table></div>\n"
        }
        html += "</div>\n<footer>Generated \(data.generatedAt) by costsync. USD and ClickHouse credits are kept apart; credits are converted only at the <code>credit_price</code> your config sets. Exact figures: the <code>daily_costs</code> view of the same database.</footer>\n</main></body></html>\n"
        return html
    }

    static func monthName(_ m: ReportMonth) -> String {
        let names = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
        return "\(names[m.month - 1]) \(m.year)"
    }

    /// Stacked bars per day, one colour per org; days not final are hatched.
    static func chart(_ orgs: [ReportData.Org], month: ReportMonth, currency: String) -> String {
        let days = Array(month.days)
        let width = 916.0, height = 240.0, left = 70.0, bottom = 22.0, top = 10.0
        let plotWidth = width - left - 6, plotHeight = height - bottom - top
        let totals = days.map { d in orgs.reduce(Int64(0)) { $0 + max(0, $1.days[d]?.nanos ?? 0) } }
        let peak = max(totals.max() ?? 0, 1)
        // Four gridlines at a round step (1, 2 or 5 × 10^k cents) reaching the peak (display only).
        var magnitude: Int64 = 10_000_000
        var step = magnitude
        search: while true {
            for m: Int64 in [1, 2, 5] {
                step = magnitude * m
                if step * 4 >= peak { break search }
            }
            magnitude *= 10
        }
        let axisMax = Double(step * 4)
        let slot = plotWidth / Double(days.count)
        var svg = "<svg viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\" role=\"img\" aria-label=\"spend per day\" xmlns=\"http://www.w3.org/2000/svg\">\n"
        svg += "<defs><pattern id=\"hatch-\(currency)\" width=\"5\" height=\"5\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect width=\"5\" height=\"5\" fill=\"#ffffff\" opacity=\"0.55\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"5\" stroke=\"#ffffff\" stroke-width=\"2.5\"/></pattern></defs>\n"
        for tick in 0...4 {
            let value = axisMax * Double(tick) / 4
            let y = top + plotHeight - plotHeight * Double(tick) / 4
            svg += "<line x1=\"\(left)\" x2=\"\(width - 6)\" y1=\"\(fmt(y))\" y2=\"\(fmt(y))\" stroke=\"#e5e7eb\"/>"
            svg += "<text x=\"\(left - 6)\" y=\"\(fmt(y + 4))\" font-size=\"11\" text-anchor=\"end\" fill=\"#6b7280\">\(escape(ReportMoney.text(Int64(value), currency).replacingOccurrences(of: ".00", with: "")))</text>\n"
        }
        for (i, day) in days.enumerated() {
            var y = top + plotHeight
            let x = left + Double(i) * slot + slot * 0.15
            for (k, org) in orgs.enumerated() {
                guard let entry = org.days[day], entry.nanos > 0 else { continue }
                // Pixels, not money: a bar's height. Every figure printed on the
                // page comes from the exact nanos (ReportMoney), never from here.
                let h = plotHeight * Double(entry.nanos) / axisMax
                y -= h
                let colour = palette[k % palette.count]
                svg += "<rect x=\"\(fmt(x))\" y=\"\(fmt(y))\" width=\"\(fmt(slot * 0.7))\" height=\"\(fmt(h))\" fill=\"\(colour)\"><title>\(escape(org.key.org)) \(day): \(escape(ReportMoney.text(entry.nanos, currency)))\(entry.final ? "" : " (not final)")</title></rect>"
                if !entry.final {
                    svg += "<rect x=\"\(fmt(x))\" y=\"\(fmt(y))\" width=\"\(fmt(slot * 0.7))\" height=\"\(fmt(h))\" fill=\"url(#hatch-\(currency))\"/>"
                }
            }
            if i % 5 == 0 || i == days.count - 1 {
                svg += "<text x=\"\(fmt(x + slot * 0.35))\" y=\"\(fmt(height - 6))\" font-size=\"11\" text-anchor=\"middle\" fill=\"#6b7280\">\(day.components.day)</text>"
            }
            svg += "\n"
        }
        svg += "</svg>\n<div class=\"legend\">"
        for (k, org) in orgs.enumerated() {
            svg += "<span><i style=\"background:\(palette[k % palette.count])\"></i>\(escape(org.key.org))</span>"
        }
        svg += "<span><i style=\"background:#9ca3af;background-image:repeating-linear-gradient(45deg,#fff 0 2px,transparent 2px 4px)\"></i>not final yet</span></div>\n"
        return svg
    }

    static func fmt(_ v: Double) -> String { String(format: "%.1f", v) }
}
