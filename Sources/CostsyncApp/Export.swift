import Config
import CostModel
import Foundation
import SQLite
import SQLiteStore
import StorePort

/// The formats of `costsync export`.
public enum ExportFormat: String, Sendable, CaseIterable {
    /// The `costs` table's columns, RFC 4180.
    case csv
    /// One JSON object per row, the same keys.
    case jsonl
    /// FinOps FOCUS 1.2 columns, CSV.
    case focus
}

/// What to export.
public struct ExportRequest: Sendable {
    public var format: ExportFormat
    public var range: DayRange?
    public var orgs: [String]
    public var provider: Provider?
    /// Nil: standard output. A file is written to a temporary name beside it and renamed.
    public var output: String?

    public init(format: ExportFormat, range: DayRange? = nil, orgs: [String] = [], provider: Provider? = nil, output: String? = nil) {
        self.format = format
        self.range = range
        self.orgs = orgs
        self.provider = provider
        self.output = output
    }
}

extension CostsyncApp {
    /// `costsync export`: streams rows from the database (memory flat in the
    /// number of rows), amounts as exact decimal text, never REAL and never
    /// in exponent notation. Returns the rows written.
    @discardableResult
    public func export(_ request: ExportRequest) async throws -> Int {
        let orgs = try selectOrgs(request.orgs, provider: request.provider)
        if request.format == .focus, let missing = orgs.first(where: { $0.provider == .clickhouse && $0.creditPrice == nil }) {
            throw AppError.config("costsync: a FOCUS export bills ClickHouse credits in USD, so it needs the org's price per credit: "
                                  + "set credit_price = \"…\" (USD per credit, your contract's rate) in the [[clickhouse]] table of '\(missing.name)' in \(config.file)")
        }
        // Through the port: PostgreSQL's export is the SQLite file's, byte for byte.
        guard let reader = try await openPortForReading() as? any ExportReader else {
            throw AppError.failed("costsync: this store cannot be exported from")
        }
        let sink = try ExportSink(path: request.output)
        let byName: [String: OrgConfig] = Dictionary(uniqueKeysWithValues: orgs.map { org in ("\(org.provider)/\(org.name)", org) })
        let writer = ExportWriter(format: request.format, orgs: byName, sink: sink)
        do {
            try await reader.eachRow(of: writer.relation, columns: writer.columns, in: request.range) { try writer.emit($0) }
            try sink.finish()
            return writer.rows
        } catch {
            sink.abandon()
            throw error
        }
    }
}

/// Writes bytes in large chunks to standard output, or to a temporary file
/// renamed over the target once complete.
final class ExportSink: @unchecked Sendable {
    // Used from one thread at a time: the store's executor while writing, then the caller.
    private var buffer: [UInt8] = []
    /// The errno of the first failed write; later writes are dropped.
    private var failure: Int32?
    private let fd: Int32
    private let target: String?
    private let temporary: String?

    init(path: String?) throws {
        guard let path else {
            fd = 1
            target = nil
            temporary = nil
            return
        }
        let folder = (path as NSString).deletingLastPathComponent
        let temp = (folder.isEmpty ? "." : folder) + "/.\((path as NSString).lastPathComponent).\(getpid()).tmp"
        let opened = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard opened >= 0 else {
            throw AppError.failed("costsync: cannot write '\(path)': \(String(cString: strerror(errno)))")
        }
        fd = opened
        target = path
        temporary = temp
        buffer.reserveCapacity(1 << 20)
    }

    func write(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= 1 << 20 { flush() }
    }

    private func flush() {
        var offset = 0
        buffer.withUnsafeBytes { raw in
            while offset < raw.count && failure == nil {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    failure = n < 0 ? errno : ENOSPC
                    break
                }
                offset += n
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }

    func finish() throws {
        flush()
        // A short write (a full disk, a closed pipe) is an error, never a truncated file renamed into place.
        if let failure {
            if let temporary { close(fd); unlink(temporary) }
            throw AppError.failed("costsync: cannot write '\(target ?? "standard output")': \(String(cString: strerror(failure)))")
        }
        guard let target, let temporary else { return }
        guard fsync(fd) == 0, close(fd) == 0, rename(temporary, target) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw AppError.failed("costsync: cannot write '\(target)': \(reason)")
        }
    }

    func abandon() {
        guard let temporary else { return }
        close(fd)
        unlink(temporary)
    }
}

/// The rows of `costs` (or `focus_costs`), in key order, turned into one
/// format's lines. A class used from one task at a time: the store hands it
/// rows one by one on its own executor.
final class ExportWriter: @unchecked Sendable {
    let format: ExportFormat
    /// The selected orgs, by `provider/org`.
    let orgs: [String: OrgConfig]
    let sink: ExportSink
    private(set) var rows = 0

    /// Writes the header at once, so an export with no rows still has one.
    init(format: ExportFormat, orgs: [String: OrgConfig], sink: ExportSink) {
        self.format = format
        self.orgs = orgs
        self.sink = sink
        switch format {
        case .focus: sink.write(FocusRow.columns.joined(separator: ",") + "\n")
        case .csv: sink.write(Self.costColumns.joined(separator: ",") + "\n")
        case .jsonl: break
        }
    }

    /// The columns of `costs`, in order: the `csv` header and the `jsonl` keys.
    static let costColumns = Schema.costColumns

    /// FOCUS rows come from the `focus_costs` view, the one mapping of our
    /// columns to FOCUS's; only the USD amounts are made here, from the
    /// config's `credit_price` (the view's copy is the last run's).
    var relation: ExportRelation { format == .focus ? .focusCosts : .costs }
    var columns: [String] { format == .focus ? FocusRow.viewColumns : Self.costColumns }

    /// One row read, in `columns` order; rows of orgs not selected are skipped.
    func emit(_ row: [String?]) throws {
        var values = row
        switch format {
        case .focus:
            guard let config = orgs["\(values[FocusRow.provider] ?? "")/\(values[FocusRow.org] ?? "")"] else { return }
            try FocusRow.complete(&values, org: config)
            sink.write(values.map { CSV.field($0) }.joined(separator: ",") + "\n")
        case .csv, .jsonl:
            guard let provider = values[0], let org = values[1], orgs["\(provider)/\(org)"] != nil else { return }
            sink.write(format == .csv ? values.map { CSV.field($0) }.joined(separator: ",") + "\n"
                                      : JSONLine.object(Self.costColumns, values) + "\n")
        }
        rows += 1
    }
}

enum CSV {
    /// RFC 4180: quoted when it holds a comma, a quote or a line break; empty for null.
    static func field(_ value: String?) -> String {
        guard let value else { return "" }
        guard value.utf8.contains(where: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == 10 || $0 == 13 }) else {
            return value
        }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

enum JSONLine {
    /// Integer columns as numbers; `amount` and every other text as a string.
    static let integers: Set<String> = ["amount_nanos", "is_final"]

    static func object(_ keys: [String], _ values: [String?]) -> String {
        var out = "{"
        for (i, key) in keys.enumerated() {
            if i > 0 { out += "," }
            out += quote(key) + ":"
            if let value = values[i] {
                out += integers.contains(key) ? value : quote(value)
            } else {
                out += "null"
            }
        }
        return out + "}"
    }

    static func quote(_ text: String) -> String { JSONText.quoted(text) }
}

/// The FOCUS 1.2 export's columns: the `focus_costs` view's, in FOCUS's
/// order. Money is exact decimal text with a decimal point (a validator reads
/// `275200` as an integer where a decimal is required).
enum FocusRow {
    static let columns = [
        "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd", "BillingPeriodStart",
        "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart",
        "ContractedCost", "EffectiveCost", "InvoiceId", "InvoiceIssuerName", "ListCost", "PricingQuantity", "PricingUnit",
        "ProviderName", "PublisherName", "ServiceCategory", "ServiceName", "ServiceSubcategory", "SubAccountId",
        "SubAccountName", "ResourceId", "ResourceName", "ResourceType", "SkuMeter", "PricingCurrency",
        "PricingCurrencyEffectiveCost", "x_Provider", "x_Org", "x_Day", "x_LineKey", "x_Amount", "x_AmountNanos", "x_IsFinal",
        "x_ChargeDescription", "x_Model",
    ]
    /// What is read from the view: the same columns (the view's money ones are replaced).
    static let viewColumns = columns

    static let billedColumns = ["BilledCost", "ContractedCost", "EffectiveCost", "ListCost"].map { columns.firstIndex(of: $0)! }
    static let description = columns.firstIndex(of: "ChargeDescription")!
    static let amountNanos = columns.firstIndex(of: "x_AmountNanos")!
    static let provider = columns.firstIndex(of: "x_Provider")!
    static let org = columns.firstIndex(of: "x_Org")!
    static let pricingCost = columns.firstIndex(of: "PricingCurrencyEffectiveCost")!

    /// Bills the row in USD at the config's price (`Money.billedNanos`, the
    /// view's rule) and makes the description ASCII for the validator; the
    /// provider's exact text stays in `x_ChargeDescription`.
    static func complete(_ values: inout [String?], org: OrgConfig) throws {
        let nanos = Int64(values[amountNanos] ?? "") ?? 0
        let billed: Int64
        switch org.provider {
        case .anthropic: billed = nanos
        case .clickhouse:
            // Checked before the export starts; the guard keeps the rule in one place.
            guard let price = org.creditPrice else { throw AppError.config("costsync: credit_price is not set for '\(org.name)'") }
            billed = try Money.billedNanos(creditNanos: nanos, price: price)
        }
        let text = Money.nanosText(billed)
        for i in billedColumns { values[i] = text }
        // A decimal column needs its point (the validator reads `28` as an
        // integer). SQLite's view already writes one; PostgreSQL's keeps the
        // NUMERIC, so its psql readers get a number.
        values[pricingCost] = values[pricingCost].map { $0.contains(".") ? $0 : $0 + ".0" }
        values[description] = values[description].map(ascii)
    }

    /// The validator wants ASCII descriptions: non-ASCII becomes `?` here.
    static func ascii(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0.isASCII ? $0 : "?" }))
    }
}
