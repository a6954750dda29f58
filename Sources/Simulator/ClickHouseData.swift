import CostModel

/// One metric of a ClickHouse cost record, in units of 10^-12 credits so that
/// the 12-decimal numbers of the API are integers here.
public struct SimMetric: Sendable, Hashable {
    public var name: String
    public var picoCHC: Int64

    /// The JSON number as sent: "3", "0.5", "12.000000000123".
    public var text: String { SimDecimal.text(units: picoCHC, scale: 12) }
    /// The amount × 10^9, rounded half-even, as costsync stores it.
    public var nanos: Int64 { SimDecimal.divideHalfEven(picoCHC, by: 1000) }
}

/// One record of a ClickHouse `usageCost` response.
public struct SimClickHouseRecord: Sendable, Hashable {
    public var dataWarehouseID: String
    /// Nil on `datawarehouse` records.
    public var serviceID: String?
    public var date: Day
    public var entityType: String
    public var entityID: String
    public var entityName: String
    /// Only the metrics that apply, in the order sent; a zero may be sent
    /// explicitly, and costsync stores no row for it.
    public var metrics: [SimMetric]
    public var totalPicoCHC: Int64
    public var locked: Bool

    public var metricsPicoCHC: Int64 { metrics.reduce(0) { $0 + $1.picoCHC } }
    /// What `totalCHC` holds beyond the metrics (usually 0): costsync's `unattributedCHC` row.
    public var unattributedPicoCHC: Int64 { totalPicoCHC - metricsPicoCHC }
    public var totalText: String { SimDecimal.text(units: totalPicoCHC, scale: 12) }

    /// The rows a correct normalizer stores for this record and their summed nanos.
    public var expectedRows: (rows: Int, nanos: Int64) {
        var rows = 0
        var nanos: Int64 = 0
        for m in metrics where m.picoCHC != 0 {
            rows += 1
            nanos += m.nanos
        }
        let extra = unattributedPicoCHC
        if extra != 0 {
            rows += 1
            nanos += SimDecimal.divideHalfEven(extra, by: 1000)
        }
        return (rows, nanos)
    }
}

/// The entities of a ClickHouse org, which do not change from day to day.
struct ClickHouseEntities {
    struct Service {
        var id: String
        var name: String
        /// Older services bill storage per service rather than per warehouse.
        var billsStorage: Bool
        /// Typical compute per day, in credits × 10^12.
        var computeBase: Int64
    }

    var dataWarehouseID: String
    var dataWarehouseName: String
    var storageBase: Int64
    var services: [Service]
    var clickpipe: (id: String, name: String)?

    private static let serviceNames = ["production", "staging", "analytics", "events-ingest", "reporting", "ml-features", "dev", "logs"]
    static let credit: Int64 = 1_000_000_000_000

    init(world: SimulatorWorld, org: SimClickHouseOrg) {
        let h = world.root.with("clickhouse-org").with(org.name)
        dataWarehouseID = SimIdentifiers.uuid(h.with("warehouse"))
        dataWarehouseName = "\(org.name)-warehouse"
        storageBase = ClickHouseEntities.credit * Int64(2 + h.with("storage").below(40))
        services = (0..<org.services).map { i in
            let sh = h.with("service").with(i)
            let base = ClickHouseEntities.serviceNames[i % ClickHouseEntities.serviceNames.count]
            return Service(
                id: SimIdentifiers.uuid(sh),
                name: i < ClickHouseEntities.serviceNames.count ? base : "\(base)-\(i / ClickHouseEntities.serviceNames.count + 1)",
                billsStorage: sh.with("storage").below(2) == 0,
                computeBase: ClickHouseEntities.credit * Int64(1 + sh.with("compute").below(300)))
        }
        clickpipe = org.services > 0 && h.with("pipe").below(3) != 0
            ? (SimIdentifiers.uuid(h.with("clickpipe")), "kafka-events-pipe") : nil
    }
}

extension SimulatorWorld {
    /// The records of one org's day, in the order the API sends them; empty
    /// after `today` and for an unknown org.
    public func clickhouseRecords(org name: String, day: Day) -> [SimClickHouseRecord] {
        guard let org = clickhouseOrg(named: name) else { return [] }
        return clickhouseRecords(ClickHouseEntities(world: self, org: org), org: org, day: day)
    }

    func clickhouseRecords(_ e: ClickHouseEntities, org: SimClickHouseOrg, day: Day) -> [SimClickHouseRecord] {
        guard day <= today else { return [] }
        let rev = effectiveRevision(of: day)
        let dh = root.with("clickhouse-day").with(org.name).with(day.daysSinceEpoch).with(rev)
        let locked = !isUnlocked(day)
        let partial = day == today && unlockedDays > 1
        var r = dh.with("amounts").generator()
        var records: [SimClickHouseRecord] = []

        /// A day's value around `base`, at a random number of decimals: one in
        /// eight is a whole number, most carry all twelve digits.
        func amount(_ base: Int64) -> Int64 {
            let x = r.next()
            // Day-to-day swing, plus low digits so that amounts use their decimals.
            var v = base / 100 * Int64(50 + Int(x % 101)) + Int64((x >> 24) % 10_000_000_000)
            if partial { v /= 2 }
            v *= spike(org.name, day)  // a planned spike (SimulatorWorld.spikes)
            let pick = Int((x >> 16) % 16)
            let digits = pick < 2 ? 0 : pick < 9 ? 12 : pick - 7   // 0, 12, or 2...8
            let step = SimDecimal.pow10[12 - digits]
            v -= v % step
            return v == 0 ? step : v
        }

        func record(serviceID: String?, type: String, id: String, name: String, metrics: [SimMetric]) {
            let sum = metrics.reduce(Int64(0)) { $0 + $1.picoCHC }
            // About one record in 25 bills more than its metrics say: costsync
            // keeps the difference as an `unattributedCHC` row.
            var total = sum
            if r.next() % 25 == 0 {
                total += amount(ClickHouseEntities.credit / 4)
            }
            records.append(SimClickHouseRecord(
                dataWarehouseID: e.dataWarehouseID, serviceID: serviceID, date: day, entityType: type,
                entityID: id, entityName: name, metrics: metrics, totalPicoCHC: total, locked: locked))
        }

        var warehouse = [SimMetric(name: "storageCHC", picoCHC: amount(e.storageBase))]
        if r.next() % 6 != 0 { warehouse.append(SimMetric(name: "backupCHC", picoCHC: amount(e.storageBase / 5))) }
        record(serviceID: nil, type: "datawarehouse", id: e.dataWarehouseID, name: e.dataWarehouseName, metrics: warehouse)

        for (i, s) in e.services.enumerated() {
            // Idle services (stopped, or scaled to zero all day) have no record.
            if i > 0 && r.next() % 12 == 0 { continue }
            var m: [SimMetric] = []
            if s.billsStorage { m.append(SimMetric(name: "storageCHC", picoCHC: amount(s.computeBase / 10))) }
            m.append(SimMetric(name: "computeCHC", picoCHC: amount(s.computeBase)))
            let transfer = r.next() % 10
            if transfer == 0 {
                // Sent explicitly as zero: a metric that applies but cost nothing.
                m.append(SimMetric(name: "dataTransferCHC", picoCHC: 0))
            } else if transfer < 7 {
                m.append(SimMetric(name: "dataTransferCHC", picoCHC: amount(s.computeBase / 50)))
            }
            if r.next() % 10 < 3 { m.append(SimMetric(name: "publicDataTransferCHC", picoCHC: amount(s.computeBase / 80))) }
            if r.next() % 10 == 0 {
                let tier = 1 + Int(r.next() % 4)
                m.append(SimMetric(name: "interRegionTier\(tier)DataTransferCHC", picoCHC: amount(s.computeBase / 100)))
            }
            record(serviceID: s.id, type: "service", id: s.id, name: s.name, metrics: m)
        }

        if let pipe = e.clickpipe, let owner = e.services.first, r.next() % 3 != 0 {
            var m = [SimMetric(name: "computeCHC", picoCHC: amount(ClickHouseEntities.credit * 3))]
            if r.next() % 10 == 0 { m.append(SimMetric(name: "initialLoadCHC", picoCHC: amount(ClickHouseEntities.credit * 20))) }
            m.append(SimMetric(name: "dataTransferCHC", picoCHC: amount(ClickHouseEntities.credit / 2)))
            record(serviceID: owner.id, type: "clickpipe", id: pipe.id, name: pipe.name, metrics: m)
        }
        return records
    }

    /// What a correct normalizer stores for one org's day: its row count and
    /// the sum of its `amount_nanos`.
    public func expectedDayTotals(provider: Provider, org: String, day: Day) -> (rows: Int, nanos: Int64) {
        switch provider {
        case .anthropic:
            let results = anthropicResults(org: org, day: day)
            return (results.count, results.reduce(0) { $0 + $1.amountNanos })
        case .clickhouse:
            return clickhouseRecords(org: org, day: day).reduce((0, 0)) { acc, rec in
                let e = rec.expectedRows
                return (acc.0 + e.rows, acc.1 + e.nanos)
            }
        }
    }
}
