import CostModel
import Logging
import PostgresNIO
import StorePort

/// A stored line's amount, kept while its day is replaced, for revisions.
struct PGStoredAmount: Sendable {
    var amount: String
    var nanos: Int64
    var item: String
    var scopeID: String
}

/// Writes one page of days inside the caller's transaction, with the same
/// outcome, row for row and revision for revision, as
/// `SQLiteCostStore.replacePartition` applied day by day, but in a fixed
/// number of statements: the days' prior state and stored lines are read in
/// one query each, every line goes to one `unnest` upsert whose RETURNING
/// says which rows it inserted or changed, and revisions, deletions and
/// `sync_days` rows are each one more statement.
struct PGPartitionWriter {
    let key: OrgKey
    let fetchedAt: String
    let fetch: Int64?
    let names: [String: String]
    let logger: Logger

    private struct Prior {
        var isFinal: Bool
        var rows: Int
        var nanos: Int64
        var pending: Bool
    }

    /// The columns of the upsert, one array each, in `unnest` order.
    private struct Columns {
        var day: [String] = []
        var lineKey: [String] = []
        var scopeID: [String] = []
        var scopeName: [String?] = []
        var item: [String] = []
        var amount: [String] = []
        var nanos: [Int64] = []
        var isFinal: [Bool] = []
        var dims: [[String?]] = Array(repeating: [], count: PGSchema.dimensionColumns.count + 1)

        mutating func append(_ line: CostLine, day text: String, isFinal final: Bool, scopeName name: String?) {
            day.append(text)
            lineKey.append(line.lineKey)
            scopeID.append(line.scopeID)
            scopeName.append(name)
            item.append(line.item)
            amount.append(line.amount.text)
            nanos.append(line.amount.nanos)
            isFinal.append(final)
            let d = line.dimensions
            let values: [String?] = [d.workspaceID, d.description, d.costType, d.model, d.tokenType, d.contextWindow, d.serviceTier,
                                     d.inferenceGeo, d.entityType, d.entityID, d.entityName, d.serviceID, d.dataWarehouseID, d.metric,
                                     line.extras]
            for (i, v) in values.enumerated() { dims[i].append(v) }
        }
    }

    private struct RevisionRows {
        var day: [String] = []
        var lineKey: [String] = []
        var change: [String] = []
        var item: [String] = []
        var scopeID: [String] = []
        var oldAmount: [String?] = []
        var oldNanos: [Int64?] = []
        var newAmount: [String?] = []
        var newNanos: [Int64?] = []
        var wasFinal: [Bool] = []

        mutating func add(_ change: String, day: String, lineKey: String, item: String, scopeID: String, old: PGStoredAmount?,
                          newAmount: String?, newNanos: Int64?, wasFinal: Bool) {
            self.day.append(day)
            self.lineKey.append(lineKey)
            self.change.append(change)
            self.item.append(item)
            self.scopeID.append(scopeID)
            oldAmount.append(old?.amount)
            oldNanos.append(old?.nanos)
            self.newAmount.append(newAmount)
            self.newNanos.append(newNanos)
            self.wasFinal.append(wasFinal)
        }

        var count: Int { day.count }
    }

    /// The columns of `costs` a write sets, in the order COPY and the upsert list them.
    static let costColumns = ["provider", "org", "day", "line_key", "scope_id", "scope_name", "item", "amount", "amount_nanos",
                              "currency", "is_final", "fetched_at"] + PGSchema.dimensionColumns + ["x_extras"]

    static let upsertSQL: String = {
        let dims = PGSchema.dimensionColumns + ["x_extras"]
        let columns = costColumns
        // $1 provider, $2 org, $3 currency, $4 fetched_at, then one array per column.
        let arrays = ["day", "line_key", "scope_id", "scope_name", "item", "amount", "amount_nanos", "is_final"] + dims
        let types = ["text[]", "text[]", "text[]", "text[]", "text[]", "text[]", "bigint[]", "bool[]"]
            + Array(repeating: "text[]", count: dims.count)
        let unnest = zip(arrays.indices, types).map { "$\($0.0 + 5)::\($0.1)" }.joined(separator: ", ")
        let select = ["$1", "$2", "u.day::date", "u.line_key", "u.scope_id", "u.scope_name", "u.item", "u.amount::numeric",
                      "u.amount_nanos", "$3", "u.is_final", "$4::timestamptz"] + dims.map { "u.\($0)" }
        let updated = columns.dropFirst(4)
        let set = updated.map { "\($0) = excluded.\($0)" }.joined(separator: ", ")
        // fetched_at alone does not count as a change (an unchanged line keeps
        // the time it was last really written), and `amount` is compared as
        // text, as SQLite compares it: 1.50 restated as 1.5 is a change.
        let compared = updated.filter { $0 != "fetched_at" }
        let old = compared.map { $0 == "amount" ? "costs.amount::text" : "costs.\($0)" }.joined(separator: ", ")
        let new = compared.map { $0 == "amount" ? "excluded.amount::text" : "excluded.\($0)" }.joined(separator: ", ")
        return """
        INSERT INTO costs (\(columns.joined(separator: ", ")))
        SELECT \(select.joined(separator: ", "))
        FROM unnest(\(unnest)) AS u(\(arrays.joined(separator: ", ")))
        ON CONFLICT (provider, org, day, line_key) DO UPDATE SET \(set)
        WHERE (\(old)) IS DISTINCT FROM (\(new))
        RETURNING day::text, line_key, (xmax = 0) AS inserted
        """
    }()

    /// Writes `days` (no day twice) and adds what it did to `summary`; returns
    /// the earliest day that was final before and is not now, if any.
    func write(_ days: [DayWrite], on c: PostgresConnection, into summary: inout WriteSummary) async throws -> Day? {
        guard !days.isEmpty else { return nil }
        let texts = days.map { $0.day.description }
        var k = PostgresCostStore.keyBinds(key)
        k.append(texts)

        var priors: [String: Prior] = [:]
        for row in try await PostgresCostStore.rows(c, """
            SELECT day::text, is_final OR coalesce(empty_pending_was_final, false), row_count, amount_nanos,
                   empty_pending_since IS NOT NULL
            FROM sync_days WHERE provider = $1 AND org = $2 AND day = ANY($3::date[])
            """, k, logger: logger) {
            let (day, final, rows, nanos, pending) = try row.decode((String, Bool, Int32, Int64, Bool).self)
            priors[day] = Prior(isFinal: final, rows: Int(rows), nanos: nanos, pending: pending)
        }

        // The lines stored for days written before: a first write has no
        // partition to compare with and records no revision.
        var stale: [String: [String: PGStoredAmount]] = [:]
        let rewritten = texts.filter { priors[$0] != nil }
        if !rewritten.isEmpty {
            var b = PostgresCostStore.keyBinds(key)
            b.append(rewritten)
            for row in try await PostgresCostStore.rows(c, """
                SELECT day::text, line_key, amount::text, amount_nanos, item, scope_id
                FROM costs WHERE provider = $1 AND org = $2 AND day = ANY($3::date[])
                """, b, logger: logger) {
                let (day, lineKey, amount, nanos, item, scope) = try row.decode((String, String, String, Int64, String, String).self)
                stale[day, default: [:]][lineKey] = PGStoredAmount(amount: amount, nanos: nanos, item: item, scopeID: scope)
            }
        }

        var reopened: Day?
        var held: [String] = []
        var columns = Columns()
        // Days never written before (a backfill's): nothing to compare with,
        // so their lines go in with COPY, the fastest path PostgreSQL has.
        var fresh = PGCopyText()
        var written: [(write: DayWrite, text: String, isFinal: Bool, lines: [CostLine], total: Int64)] = []
        for write in days {
            let text = write.day.description
            let prior = priors[text]
            if write.lines.isEmpty, let prior, prior.rows > 0 {
                // An answer that would empty a day holding rows: believed only
                // when the next answer says the same.
                if !prior.pending {
                    held.append(text)
                    summary.held.append(HeldEmptying(day: write.day, rows: prior.rows, amountNanos: prior.nanos))
                    summary.days += 1
                    if prior.isFinal { reopened = min(reopened ?? write.day, write.day) }
                    continue
                }
                summary.confirmedEmpty.append(write.day)
            }
            let isFinal = write.mismatch == nil && write.isFinal
            let lines = write.linesInKeyOrder
            var total: Int64 = 0
            var previousKey: String?
            for line in lines {
                if line.lineKey == previousKey { throw StoreError.duplicateLineKey(key, write.day, line.lineKey) }
                previousKey = line.lineKey
                let (sum, overflow) = total.addingReportingOverflow(line.amount.nanos)
                guard !overflow else { throw StoreError.sumOutOfRange(key, write.day) }
                total = sum
                if prior == nil {
                    fresh.costRow(line, key: key, day: text, isFinal: isFinal, scopeName: line.scopeName ?? names[line.scopeID],
                                  fetchedAt: fetchedAt)
                } else {
                    columns.append(line, day: text, isFinal: isFinal, scopeName: line.scopeName ?? names[line.scopeID])
                }
            }
            written.append((write, text, isFinal, lines, total))
            if prior?.isFinal == true && !isFinal { reopened = min(reopened ?? write.day, write.day) }
        }

        if !held.isEmpty {
            var b = PostgresCostStore.keyBinds(key)
            b.append(held)
            b.append(fetchedAt)
            try await PostgresCostStore.execute(c, """
                UPDATE sync_days SET empty_pending_since = $4::timestamptz, empty_pending_was_final = is_final, is_final = false
                WHERE provider = $1 AND org = $2 AND day = ANY($3::date[])
                """, b, logger: logger)
            var h = PostgresCostStore.keyBinds(key)
            h.append(held)
            try await PostgresCostStore.execute(c, """
                UPDATE costs SET is_final = false WHERE provider = $1 AND org = $2 AND day = ANY($3::date[])
                """, h, logger: logger)
        }
        guard !written.isEmpty else { return reopened }

        // What the upsert inserted (true) or changed (false), by day and key;
        // a line it did not return was unchanged.
        var changed: [String: [String: Bool]] = [:]
        if !columns.day.isEmpty {
            var b = PostgresCostStore.keyBinds(key)
            b.append(key.provider.currency)
            b.append(fetchedAt)
            b.append(columns.day)
            b.append(columns.lineKey)
            b.append(columns.scopeID)
            b.append(NullableTextArray(columns.scopeName))
            b.append(columns.item)
            b.append(columns.amount)
            b.append(columns.nanos)
            b.append(columns.isFinal)
            for dim in columns.dims { b.append(NullableTextArray(dim)) }
            for row in try await PostgresCostStore.rows(c, Self.upsertSQL, b, logger: logger) {
                let (day, lineKey, inserted) = try row.decode((String, String, Bool).self)
                changed[day, default: [:]][lineKey] = inserted
            }
        }

        if fresh.rows > 0 {
            try await PostgresCostStore.copy(table: "costs", columns: Self.costColumns, chunks: fresh.finish(), on: c, logger: logger)
        }

        var revisions = RevisionRows()
        var gone: (days: [String], keys: [String]) = ([], [])
        for (write, text, _, lines, _) in written {
            let prior = priors[text]
            let wasFinal = prior?.isFinal == true
            var old = stale[text] ?? [:]
            let before = revisions.count
            let dayChanges = changed[text] ?? [:]
            for line in lines {
                let previous = old.removeValue(forKey: line.lineKey)
                guard let inserted = prior == nil ? true : dayChanges[line.lineKey] else {
                    summary.unchanged += 1
                    continue
                }
                if !inserted, let previous {
                    summary.updated += 1
                    if previous.amount != line.amount.text {
                        revisions.add("changed", day: text, lineKey: line.lineKey, item: line.item, scopeID: line.scopeID, old: previous,
                                      newAmount: line.amount.text, newNanos: line.amount.nanos, wasFinal: wasFinal)
                    }
                } else {
                    summary.inserted += 1
                    if prior != nil {
                        revisions.add("appeared", day: text, lineKey: line.lineKey, item: line.item, scopeID: line.scopeID, old: nil,
                                      newAmount: line.amount.text, newNanos: line.amount.nanos, wasFinal: wasFinal)
                    }
                }
            }
            for (lineKey, previous) in old.sorted(by: { $0.key < $1.key }) {
                revisions.add("vanished", day: text, lineKey: lineKey, item: previous.item, scopeID: previous.scopeID, old: previous,
                              newAmount: nil, newNanos: nil, wasFinal: wasFinal)
                gone.days.append(text)
                gone.keys.append(lineKey)
            }
            summary.deleted += old.count
            let recorded = revisions.count - before
            summary.revisions += recorded
            if recorded > 0 && wasFinal { summary.finalDaysChanged.append(write.day) }
            summary.days += 1
        }

        if !gone.keys.isEmpty {
            var b = PostgresCostStore.keyBinds(key)
            b.append(gone.days)
            b.append(gone.keys)
            try await PostgresCostStore.execute(c, """
                DELETE FROM costs c USING unnest($3::text[], $4::text[]) AS u(day, line_key)
                WHERE c.provider = $1 AND c.org = $2 AND c.day = u.day::date AND c.line_key = u.line_key
                """, b, logger: logger)
        }
        if revisions.count > 0 {
            var b = PostgresCostStore.keyBinds(key)
            b.append(fetchedAt)
            b.append(fetch)
            b.append(revisions.day)
            b.append(revisions.lineKey)
            b.append(revisions.change)
            b.append(revisions.item)
            b.append(revisions.scopeID)
            b.append(NullableTextArray(revisions.oldAmount))
            b.append(NullableInt64Array(revisions.oldNanos))
            b.append(NullableTextArray(revisions.newAmount))
            b.append(NullableInt64Array(revisions.newNanos))
            b.append(revisions.wasFinal)
            // WITH ORDINALITY keeps the page's order in revision_id.
            try await PostgresCostStore.execute(c, """
                INSERT INTO cost_revisions (provider, org, day, line_key, change, item, scope_id, old_amount, old_amount_nanos,
                                            new_amount, new_amount_nanos, was_final, observed_at, fetch_id)
                SELECT $1, $2, u.day::date, u.line_key, u.change, u.item, u.scope_id, u.old_amount::numeric, u.old_nanos,
                       u.new_amount::numeric, u.new_nanos, u.was_final, $3::timestamptz, $4
                FROM unnest($5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::bigint[], $12::text[],
                            $13::bigint[], $14::bool[]) WITH ORDINALITY
                     AS u(day, line_key, change, item, scope_id, old_amount, old_nanos, new_amount, new_nanos, was_final, n)
                ORDER BY u.n
                """, b, logger: logger)
        }

        var b = PostgresCostStore.keyBinds(key)
        b.append(fetchedAt)
        b.append(written.map(\.text))
        b.append(written.map(\.isFinal))
        b.append(written.map { Int64($0.lines.count) })
        b.append(written.map(\.total))
        b.append(NullableTextArray(written.map { $0.write.mismatch?.providerTotal.text }))
        b.append(NullableTextArray(written.map { $0.write.mismatch?.recordsTotal.text }))
        try await PostgresCostStore.execute(c, """
            INSERT INTO sync_days (provider, org, day, fetched_at, is_final, row_count, amount_nanos,
                                   empty_pending_since, provider_total, records_total, first_amount_nanos)
            SELECT $1, $2, u.day::date, $3::timestamptz, u.is_final, u.row_count, u.amount_nanos, NULL, u.pt, u.rt, u.amount_nanos
            FROM unnest($4::text[], $5::bool[], $6::bigint[], $7::bigint[], $8::text[], $9::text[])
                 AS u(day, is_final, row_count, amount_nanos, pt, rt)
            ON CONFLICT (provider, org, day) DO UPDATE SET
                fetched_at = excluded.fetched_at, is_final = excluded.is_final,
                row_count = excluded.row_count, amount_nanos = excluded.amount_nanos,
                empty_pending_since = NULL, empty_pending_was_final = NULL,
                provider_total = excluded.provider_total, records_total = excluded.records_total
            """, b, logger: logger)
        return reopened
    }
}
