import ProcessHarness
import CostModel
import Foundation
import Simulator
import SQLite
import Testing

/// A (provider, org, day) partition.
struct PartitionKey: Hashable, Sendable, CustomStringConvertible {
    var provider: String
    var org: String
    var day: String
    var description: String { "\(provider)/\(org) \(day)" }
}

struct DayTotals: Equatable, Sendable, CustomStringConvertible {
    var rows: Int
    var nanos: Int64
    var description: String { "\(rows) rows, \(nanos) nanos" }
}

/// One stored or expected cost line, by the facts a user sees, not by costsync's
/// internal `line_key`: comparing these multisets proves the day holds exactly
/// the provider's lines, none missing, none stale, none twice.
struct LineFacts: Hashable, Comparable, Sendable, CustomStringConvertible {
    var fields: [String]
    var nanos: Int64
    static func < (a: LineFacts, b: LineFacts) -> Bool {
        a.fields.lexicographicallyPrecedes(b.fields) || (a.fields == b.fields && a.nanos < b.nanos)
    }
    var description: String { fields.joined(separator: "|") + " = \(nanos)" }
    /// The line without its amount: its identity.
    var identity: [String] { fields }
}

private func show(_ s: String?) -> String { s ?? "∅" }

extension SimulatorWorld {
    /// The lines a correct costsync stores for one org's day.
    func expectedLines(_ provider: Provider, org: String, day: Day) -> [LineFacts] {
        switch provider {
        case .anthropic:
            return anthropicResults(org: org, day: day).map { r in
                LineFacts(fields: [r.workspaceID ?? "default", show(r.workspaceID), show(r.description), show(r.costType),
                                   show(r.model), show(r.tokenType), show(r.contextWindow), show(r.serviceTier),
                                   show(r.inferenceGeo)],
                          nanos: r.amountNanos)
            }.sorted()
        case .clickhouse:
            var out: [LineFacts] = []
            for rec in clickhouseRecords(org: org, day: day) {
                func line(_ item: String, _ nanos: Int64) -> LineFacts {
                    LineFacts(fields: [rec.entityID, rec.entityType, rec.entityID, rec.entityName, show(rec.serviceID),
                                       rec.dataWarehouseID, item], nanos: nanos)
                }
                for m in rec.metrics where m.picoCHC != 0 { out.append(line(m.name, m.nanos)) }
                if rec.unattributedPicoCHC != 0 {
                    // Rounded as the simulator's `expectedRows` rounds it.
                    let nanos = rec.expectedRows.nanos - rec.metrics.filter { $0.picoCHC != 0 }.reduce(0) { $0 + $1.nanos }
                    out.append(line("unattributedCHC", nanos))
                }
            }
            return out.sorted()
        }
    }
}

/// The lines stored for one org's day, in the same shape as `expectedLines`.
func storedLines(_ db: Connection, _ provider: Provider, org: String, day: Day) throws -> [LineFacts] {
    let key: [SQLiteValue] = [.text(provider.rawValue), .text(org), .text(day.description)]
    switch provider {
    case .anthropic:
        return try db.query("""
            SELECT scope_id, workspace_id, description, cost_type, model, token_type, context_window, service_tier,
                   inference_geo, amount_nanos
            FROM costs WHERE provider = ?1 AND org = ?2 AND day = ?3
            """, key) { s in
            LineFacts(fields: (0..<9).map { show(s.text(Int32($0))) }, nanos: s.int64(9))
        }.sorted()
    case .clickhouse:
        return try db.query("""
            SELECT scope_id, entity_type, entity_id, entity_name, service_id, data_warehouse_id, item, amount_nanos
            FROM costs WHERE provider = ?1 AND org = ?2 AND day = ?3
            """, key) { s in
            LineFacts(fields: (0..<7).map { show(s.text(Int32($0))) }, nanos: s.int64(7))
        }.sorted()
    }
}

/// Row count and nanos per partition, from `costs`.
func costTotals(_ db: Connection) throws -> [PartitionKey: DayTotals] {
    var out: [PartitionKey: DayTotals] = [:]
    for (k, t) in try db.query("""
        SELECT provider, org, day, COUNT(*), SUM(amount_nanos) FROM costs GROUP BY provider, org, day
        """, [], { s in
            (PartitionKey(provider: s.text(0) ?? "", org: s.text(1) ?? "", day: s.text(2) ?? ""),
             DayTotals(rows: Int(s.int64(3)), nanos: s.int64(4)))
        }) {
        out[k] = t
    }
    return out
}

struct SyncDayRow: Sendable {
    var totals: DayTotals
    var isFinal: Bool
}

func syncDays(_ db: Connection) throws -> [PartitionKey: SyncDayRow] {
    var out: [PartitionKey: SyncDayRow] = [:]
    for (k, r) in try db.query("SELECT provider, org, day, row_count, amount_nanos, is_final FROM sync_days", [], { s in
        (PartitionKey(provider: s.text(0) ?? "", org: s.text(1) ?? "", day: s.text(2) ?? ""),
         SyncDayRow(totals: DayTotals(rows: Int(s.int64(3)), nanos: s.int64(4)), isFinal: s.int64(5) == 1))
    }) {
        out[k] = r
    }
    return out
}

/// Rows that are the same line twice under different keys (all dimensions equal).
func contentDuplicates(_ db: Connection) throws -> Int {
    try db.query("""
        SELECT COUNT(*) FROM (
            SELECT 1 FROM costs
            GROUP BY provider, org, day, scope_id, item, workspace_id, description, cost_type, model, token_type,
                     context_window, service_tier, inference_geo, entity_type, entity_id, service_id, data_warehouse_id, metric
            HAVING COUNT(*) > 1)
        """) { Int($0.int64(0)) }.first ?? 0
}

extension Fixture {
    /// Everything that differs between the database and the simulator for
    /// `range` of the given orgs (all by default): per day the row count and
    /// exact sum in `costs` and in `sync_days`, rows outside the range, rows
    /// stored twice, and the full line sets of `lineDays` (some days of the range).
    func mismatches(in range: DayRange, orgs selected: [(provider: Provider, name: String)]? = nil,
                    lineDays: Set<Day>? = nil, world explicitWorld: SimulatorWorld? = nil) throws -> [String] {
        let world = explicitWorld ?? self.world
        let orgs = selected ?? self.orgs
        return try withDatabase { db in
            var problems: [String] = []
            let costs = try costTotals(db)
            let days = try syncDays(db)
            let duplicates = try contentDuplicates(db)
            if duplicates > 0 { problems.append("\(duplicates) lines are stored more than once under different line keys") }
            // Every day checked line by line when not told otherwise: the first and
            // last days, and every 17th.
            let sample = lineDays ?? Set(range.enumerated().filter { $0.offset % 17 == 0 }.map(\.element)
                                         + [range.first, range.last, range.last.advanced(by: -1), range.last.advanced(by: -2)])
            for org in orgs {
                for day in range {
                    let key = PartitionKey(provider: org.provider.rawValue, org: org.name, day: day.description)
                    let e = world.expectedDayTotals(provider: org.provider, org: org.name, day: day)
                    let expected = DayTotals(rows: e.rows, nanos: e.nanos)
                    let stored = costs[key] ?? DayTotals(rows: 0, nanos: 0)
                    if stored != expected { problems.append("\(key): costs has \(stored), the simulator \(expected)") }
                    if let row = days[key] {
                        if row.totals != expected { problems.append("\(key): sync_days says \(row.totals), the simulator \(expected)") }
                    } else {
                        problems.append("\(key): no sync_days row")
                    }
                    if sample.contains(day) {
                        let got = try storedLines(db, org.provider, org: org.name, day: day)
                        let want = world.expectedLines(org.provider, org: org.name, day: day)
                        if got != want {
                            let missing = Set(want).subtracting(got).sorted().prefix(3)
                            let extra = Set(got).subtracting(want).sorted().prefix(3)
                            problems.append("\(key): lines differ; missing \(Array(missing)), unexpected \(Array(extra))")
                        }
                    }
                }
                let outside = costs.filter { k, _ in
                    k.provider == org.provider.rawValue && k.org == org.name && !(Day(k.day).map(range.contains) ?? false)
                }
                if !outside.isEmpty { problems.append("\(org.provider)/\(org.name): rows outside \(range) on \(outside.keys.map(\.day).sorted().prefix(5))") }
            }
            return problems
        }
    }

    /// Every committed day is whole: each `sync_days` row matches what `costs`
    /// holds for it and exactly what the simulator serves for that day.
    func partialDays(world explicitWorld: SimulatorWorld? = nil) throws -> (days: Int, problems: [String]) {
        let world = explicitWorld ?? self.world
        return try withDatabase { db in
            let costs = try costTotals(db)
            let days = try syncDays(db)
            var problems: [String] = []
            for (key, row) in days {
                guard let provider = Provider(rawValue: key.provider), let day = Day(key.day) else {
                    problems.append("\(key): unreadable sync_days key")
                    continue
                }
                let e = world.expectedDayTotals(provider: provider, org: key.org, day: day)
                let stored = costs[key] ?? DayTotals(rows: 0, nanos: 0)
                if stored != row.totals { problems.append("\(key): sync_days says \(row.totals) but costs has \(stored)") }
                if stored != DayTotals(rows: e.rows, nanos: e.nanos) {
                    problems.append("\(key): costs has \(stored), the simulator \(e.rows) rows, \(e.nanos) nanos")
                }
            }
            for key in costs.keys where days[key] == nil {
                problems.append("\(key): rows in costs without a sync_days row")
            }
            return (days.count, problems)
        }
    }
}

/// Records one issue listing the first few problems, rather than thousands.
func expectNoProblems(_ problems: [String], _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(problems.isEmpty, "\(what): \(problems.count) problems, first: \(problems.prefix(12).joined(separator: "\n"))",
            sourceLocation: sourceLocation)
}
