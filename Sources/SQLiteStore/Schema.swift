import SQLite

/// The database schema of product.md, as an ordered list of migrations. The
/// schema is the users' interface (they query it with sqlite3, Grafana,
/// pandas): a released migration is never edited, only followed by a new one.
public enum Schema {
    public static let migrations: [Migration] = [
        Migration(version: 1, name: "costs, cursors, fetched days and the views", sql: v1),
        Migration(version: 2, name: "sync_days: pending emptyings and reconciliation figures", sql: v2),
        Migration(version: 3, name: "restatement history: cost_revisions, sync_fetches, day_revisions", sql: v3),
        Migration(version: 4, name: "names and accounts; focus_costs billed in USD with exact text amounts", sql: v4),
        Migration(version: 5, name: "alerts and their deliveries", sql: v5),
    ]

    public static var currentVersion: Int32 { migrations.map(\.version).max() ?? 0 }

    /// Every column of `costs`, in table order: what `costsync export --format csv` writes.
    public static let costColumns = ["provider", "org", "day", "line_key", "scope_id", "scope_name", "item", "amount",
                                     "amount_nanos", "currency", "is_final", "fetched_at"] + dimensionColumns + ["x_extras"]

    /// The provider's dimension columns, in the order the write path binds them.
    static let dimensionColumns = [
        "workspace_id", "description", "cost_type", "model", "token_type", "context_window", "service_tier",
        "inference_geo", "entity_type", "entity_id", "entity_name", "service_id", "data_warehouse_id", "metric",
    ]

    // `costs` is WITHOUT ROWID: rows are clustered on the primary key, so a day's
    // partition is one contiguous range to read, replace or delete, and each
    // insert writes one B-tree instead of a table plus its key index.
    // Keys are NOT NULL: SQLite treats NULLs as distinct in a key, so a nullable
    // column there would duplicate rows silently.
    // An answer that would empty a stored day is held until the next answer
    // confirms it (`empty_pending_since`); a ClickHouse answer whose
    // grandTotalCHC disagrees with its records keeps both figures, exact, as text.
    static let v2 = """
    ALTER TABLE sync_days ADD COLUMN empty_pending_since TEXT;
    ALTER TABLE sync_days ADD COLUMN provider_total TEXT;
    ALTER TABLE sync_days ADD COLUMN records_total TEXT;
    """

    // What changed after a day was first written, and what costsync knew when.
    // A revision is written in the transaction of the change it records; a
    // first write records none. `first_amount_nanos` is the day's total as
    // first seen, so first + the revisions' deltas = the stored total.
    static let v3 = """
    CREATE TABLE sync_fetches (
        fetch_id      INTEGER PRIMARY KEY,
        provider      TEXT    NOT NULL,
        org           TEXT    NOT NULL,
        first_day     TEXT    NOT NULL,
        last_day      TEXT    NOT NULL,
        kind          TEXT    NOT NULL CHECK (kind IN ('poll', 'backfill', 'recheck')),
        started_at    TEXT    NOT NULL,
        finished_at   TEXT,
        requests      INTEGER NOT NULL DEFAULT 0,
        request_ids   TEXT,
        rows_inserted INTEGER NOT NULL DEFAULT 0,
        rows_updated  INTEGER NOT NULL DEFAULT 0,
        rows_deleted  INTEGER NOT NULL DEFAULT 0,
        error         TEXT
    ) STRICT;
    CREATE INDEX sync_fetches_by_start ON sync_fetches (started_at);

    CREATE TABLE cost_revisions (
        revision_id      INTEGER PRIMARY KEY,
        provider         TEXT    NOT NULL,
        org              TEXT    NOT NULL,
        day              TEXT    NOT NULL,
        line_key         TEXT    NOT NULL,
        change           TEXT    NOT NULL CHECK (change IN ('changed', 'vanished', 'appeared')),
        item             TEXT    NOT NULL,
        scope_id         TEXT    NOT NULL,
        old_amount       TEXT,
        old_amount_nanos INTEGER,
        new_amount       TEXT,
        new_amount_nanos INTEGER,
        was_final        INTEGER NOT NULL CHECK (was_final IN (0, 1)),
        observed_at      TEXT    NOT NULL,
        fetch_id         INTEGER
    ) STRICT;
    CREATE INDEX cost_revisions_by_day ON cost_revisions (provider, org, day);

    ALTER TABLE sync_days ADD COLUMN first_amount_nanos INTEGER;
    UPDATE sync_days SET first_amount_nanos = amount_nanos;

    ALTER TABLE sync_cursor ADD COLUMN last_recheck_on TEXT;
    ALTER TABLE sync_days ADD COLUMN empty_pending_was_final INTEGER;

    CREATE VIEW day_revisions AS
    SELECT provider, org, day,
           COUNT(*)                                                       AS changes,
           SUM(COALESCE(new_amount_nanos, 0) - COALESCE(old_amount_nanos, 0)) AS net_delta_nanos,
           MAX(was_final)                                                 AS final_day_changed,
           MIN(observed_at)                                               AS first_observed,
           MAX(observed_at)                                               AS last_observed
    FROM cost_revisions
    GROUP BY provider, org, day;
    """

    // The providers' own names for what the cost rows give as ids, and the
    // account each org is. `credit_price` is the config's, written at every
    // start, so the shell's `focus_costs` bills credits as the last run did.
    // Names are upserted, never deleted: old costs point at archived
    // workspaces and removed services.
    static let v4 = """
    CREATE TABLE accounts (
        provider           TEXT    NOT NULL,
        org                TEXT    NOT NULL,
        account_id         TEXT    NOT NULL,
        account_name       TEXT    NOT NULL,
        credit_price       TEXT,
        credit_price_nanos INTEGER,
        fetched_at         TEXT    NOT NULL,
        names_refreshed_at TEXT,
        PRIMARY KEY (provider, org)
    ) STRICT;

    CREATE TABLE workspaces (
        org          TEXT    NOT NULL,
        workspace_id TEXT    NOT NULL,
        name         TEXT    NOT NULL,
        is_default   INTEGER NOT NULL CHECK (is_default IN (0, 1)),
        archived_at  TEXT,
        fetched_at   TEXT    NOT NULL,
        PRIMARY KEY (org, workspace_id)
    ) STRICT;

    CREATE TABLE services (
        org               TEXT    NOT NULL,
        service_id        TEXT    NOT NULL,
        name              TEXT    NOT NULL,
        cloud_provider    TEXT,
        region            TEXT,
        state             TEXT,
        data_warehouse_id TEXT,
        is_primary        INTEGER NOT NULL CHECK (is_primary IN (0, 1)),
        tags              TEXT,
        fetched_at        TEXT    NOT NULL,
        PRIMARY KEY (org, service_id)
    ) STRICT;

    -- A data warehouse is named after its primary service, as last seen
    -- (services are never deleted, so an old primary may linger).
    CREATE VIEW data_warehouses AS
    SELECT s.org, s.data_warehouse_id, s.name
    FROM services s
    WHERE s.data_warehouse_id IS NOT NULL AND s.is_primary = 1
      AND s.fetched_at = (SELECT MAX(p.fetched_at) FROM services p
                          WHERE p.org = s.org AND p.data_warehouse_id = s.data_warehouse_id AND p.is_primary = 1);

    DROP VIEW focus_costs;

    -- FOCUS 1.2: the mandatory columns, the recommended ones its validator
    -- needs, the conditional ones that fit, then costsync's own as x_ columns.
    -- Money is exact decimal text made from integer nanos, never REAL.
    -- Every row is billed in USD: ClickHouse credits × the org's
    -- credit_price, rounded half-even to the nano (null while no price is
    -- known), the credits themselves in PricingCurrencyEffectiveCost.
    CREATE VIEW focus_costs AS
    WITH priced AS (
        SELECT c.*, a.account_id, a.account_name,
               CASE c.provider WHEN 'anthropic' THEN c.amount_nanos ELSE (
                   -- SQLite turns an integer overflow into REAL: no figure rather than a wrong one.
                   SELECT CASE WHEN typeof(v) = 'integer' THEN v END FROM (
                       SELECT CASE WHEN c.amount_nanos < 0 THEN -1 ELSE 1 END * (i + (r > 500000000 OR (r = 500000000 AND i % 2 = 1))) AS v
                       FROM (SELECT aw * pw * 1000000000 + aw * pf + af * pw + (af * pf) / 1000000000 AS i,
                                    (af * pf) % 1000000000 AS r
                             FROM (SELECT abs(c.amount_nanos) / 1000000000 AS aw, abs(c.amount_nanos) % 1000000000 AS af,
                                          a.credit_price_nanos / 1000000000 AS pw, a.credit_price_nanos % 1000000000 AS pf)
                             WHERE pw IS NOT NULL))
               ) END AS billed_nanos
        FROM costs c LEFT JOIN accounts a ON a.provider = c.provider AND a.org = c.org
    ), shown AS (
        SELECT p.*,
               CASE WHEN billed_nanos IS NULL THEN NULL ELSE
                   CASE WHEN billed_nanos < 0 THEN '-' ELSE '' END || (abs(billed_nanos) / 1000000000) || '.'
                   || substr('000000000' || (abs(billed_nanos) % 1000000000), -9) END AS billed_text,
               CASE provider WHEN 'anthropic' THEN 'Anthropic' ELSE 'ClickHouse' END AS provider_name
        FROM priced p
    )
    SELECT
        billed_text                                               AS BilledCost,
        COALESCE(account_id, org)                                 AS BillingAccountId,
        COALESCE(account_name, org)                               AS BillingAccountName,
        'USD'                                                     AS BillingCurrency,
        date(day, 'start of month', '+1 month') || 'T00:00:00Z'   AS BillingPeriodEnd,
        date(day, 'start of month') || 'T00:00:00Z'               AS BillingPeriodStart,
        'Usage'                                                   AS ChargeCategory,
        NULL                                                      AS ChargeClass,
        item                                                      AS ChargeDescription,
        'Usage-Based'                                             AS ChargeFrequency,
        date(day, '+1 day') || 'T00:00:00Z'                       AS ChargePeriodEnd,
        day || 'T00:00:00Z'                                       AS ChargePeriodStart,
        billed_text                                               AS ContractedCost,
        billed_text                                               AS EffectiveCost,
        NULL                                                      AS InvoiceId,
        provider_name                                             AS InvoiceIssuerName,
        billed_text                                               AS ListCost,
        NULL                                                      AS PricingQuantity,
        NULL                                                      AS PricingUnit,
        provider_name                                             AS ProviderName,
        provider_name                                             AS PublisherName,
        CASE provider WHEN 'anthropic' THEN 'AI and Machine Learning' ELSE 'Databases' END AS ServiceCategory,
        CASE provider WHEN 'anthropic' THEN 'Claude API' ELSE 'ClickHouse Cloud' END AS ServiceName,
        CASE provider WHEN 'anthropic' THEN 'Generative AI' ELSE 'Other (Databases)' END AS ServiceSubcategory,
        CASE provider WHEN 'anthropic' THEN scope_id ELSE data_warehouse_id END AS SubAccountId,
        CASE provider WHEN 'anthropic' THEN scope_name
             ELSE (SELECT w.name FROM data_warehouses w WHERE w.org = shown.org AND w.data_warehouse_id = shown.data_warehouse_id)
        END                                                       AS SubAccountName,
        entity_id                                                 AS ResourceId,
        entity_name                                               AS ResourceName,
        entity_type                                               AS ResourceType,
        COALESCE(metric, token_type, cost_type)                   AS SkuMeter,
        CASE provider WHEN 'clickhouse' THEN 'CHC' END            AS PricingCurrency,
        CASE provider WHEN 'clickhouse' THEN
             CASE WHEN instr(amount, '.') = 0 THEN amount || '.0' ELSE amount END
        END                                                       AS PricingCurrencyEffectiveCost,
        provider                                                  AS x_Provider,
        org                                                       AS x_Org,
        day                                                       AS x_Day,
        line_key                                                  AS x_LineKey,
        amount                                                    AS x_Amount,
        amount_nanos                                              AS x_AmountNanos,
        billed_nanos                                              AS x_BilledNanos,
        is_final                                                  AS x_IsFinal,
        item                                                      AS x_ChargeDescription,
        model                                                     AS x_Model,
        service_tier                                              AS x_ServiceTier,
        inference_geo                                             AS x_InferenceGeo
    FROM shown;
    """

    static let v1 = """
    CREATE TABLE costs (
        provider          TEXT    NOT NULL CHECK (provider IN ('anthropic', 'clickhouse')),
        org               TEXT    NOT NULL,
        day               TEXT    NOT NULL CHECK (day GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]'),
        line_key          TEXT    NOT NULL,
        scope_id          TEXT    NOT NULL,
        scope_name        TEXT,
        item              TEXT    NOT NULL,
        amount            TEXT    NOT NULL,
        amount_nanos      INTEGER NOT NULL,
        currency          TEXT    NOT NULL,
        is_final          INTEGER NOT NULL CHECK (is_final IN (0, 1)),
        fetched_at        TEXT    NOT NULL,
        workspace_id      TEXT,
        description       TEXT,
        cost_type         TEXT,
        model             TEXT,
        token_type        TEXT,
        context_window    TEXT,
        service_tier      TEXT,
        inference_geo     TEXT,
        entity_type       TEXT,
        entity_id         TEXT,
        entity_name       TEXT,
        service_id        TEXT,
        data_warehouse_id TEXT,
        metric            TEXT,
        x_extras          TEXT,
        PRIMARY KEY (provider, org, day, line_key)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE sync_cursor (
        provider             TEXT    NOT NULL,
        org                  TEXT    NOT NULL,
        next_day             TEXT    NOT NULL,
        last_attempt_at      TEXT,
        last_success_at      TEXT,
        last_error           TEXT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (provider, org)
    ) STRICT;

    CREATE TABLE sync_days (
        provider     TEXT    NOT NULL,
        org          TEXT    NOT NULL,
        day          TEXT    NOT NULL,
        fetched_at   TEXT    NOT NULL,
        is_final     INTEGER NOT NULL CHECK (is_final IN (0, 1)),
        row_count    INTEGER NOT NULL,
        amount_nanos INTEGER NOT NULL,
        PRIMARY KEY (provider, org, day)
    ) STRICT, WITHOUT ROWID;

    -- Views for people at the sqlite3 prompt. `amount` is REAL for reading
    -- only; sum amount_nanos for exact totals.
    CREATE VIEW daily_costs AS
    SELECT provider, org, day, currency,
           SUM(amount_nanos) / 1e9 AS amount,
           SUM(amount_nanos)       AS amount_nanos,
           MIN(is_final)           AS is_final,
           COUNT(*)                AS lines
    FROM costs
    GROUP BY provider, org, day, currency;

    CREATE VIEW monthly_costs AS
    SELECT provider, org, substr(day, 1, 7) AS month, currency,
           SUM(amount_nanos) / 1e9 AS amount,
           SUM(amount_nanos)       AS amount_nanos,
           MIN(is_final)           AS is_final,
           COUNT(DISTINCT day)     AS days
    FROM costs
    GROUP BY provider, org, substr(day, 1, 7), currency;

    -- FOCUS 1.2: the 21 mandatory columns, then the conditional ones that fit,
    -- then costsync's own as x_ columns. ClickHouse bills in credits (CHC):
    -- its rows carry PricingCurrency = 'CHC' and PricingCurrencyEffectiveCost.
    CREATE VIEW focus_costs AS
    SELECT
        amount_nanos / 1e9                                        AS BilledCost,
        org                                                       AS BillingAccountId,
        org                                                       AS BillingAccountName,
        currency                                                  AS BillingCurrency,
        date(day, 'start of month', '+1 month') || 'T00:00:00Z'   AS BillingPeriodEnd,
        date(day, 'start of month') || 'T00:00:00Z'               AS BillingPeriodStart,
        'Usage'                                                   AS ChargeCategory,
        NULL                                                      AS ChargeClass,
        item                                                      AS ChargeDescription,
        date(day, '+1 day') || 'T00:00:00Z'                       AS ChargePeriodEnd,
        day || 'T00:00:00Z'                                       AS ChargePeriodStart,
        amount_nanos / 1e9                                        AS ContractedCost,
        amount_nanos / 1e9                                        AS EffectiveCost,
        CASE provider WHEN 'anthropic' THEN 'Anthropic' ELSE 'ClickHouse' END AS InvoiceIssuerName,
        amount_nanos / 1e9                                        AS ListCost,
        NULL                                                      AS PricingQuantity,
        NULL                                                      AS PricingUnit,
        CASE provider WHEN 'anthropic' THEN 'Anthropic' ELSE 'ClickHouse' END AS ProviderName,
        CASE provider WHEN 'anthropic' THEN 'Anthropic' ELSE 'ClickHouse' END AS PublisherName,
        CASE provider WHEN 'anthropic' THEN 'AI and Machine Learning' ELSE 'Databases' END AS ServiceCategory,
        CASE provider WHEN 'anthropic' THEN 'Claude API' ELSE 'ClickHouse Cloud' END AS ServiceName,
        CASE provider WHEN 'anthropic' THEN scope_id ELSE data_warehouse_id END AS SubAccountId,
        CASE provider WHEN 'anthropic' THEN scope_name ELSE NULL END AS SubAccountName,
        entity_id                                                 AS ResourceId,
        entity_name                                               AS ResourceName,
        entity_type                                               AS ResourceType,
        COALESCE(metric, token_type, cost_type)                   AS SkuMeter,
        CASE currency WHEN 'CHC' THEN 'CHC' ELSE NULL END         AS PricingCurrency,
        CASE currency WHEN 'CHC' THEN amount_nanos / 1e9 ELSE NULL END AS PricingCurrencyEffectiveCost,
        provider                                                  AS x_Provider,
        day                                                       AS x_Day,
        line_key                                                  AS x_LineKey,
        amount                                                    AS x_Amount,
        amount_nanos                                              AS x_AmountNanos,
        is_final                                                  AS x_IsFinal,
        model                                                     AS x_Model,
        service_tier                                              AS x_ServiceTier,
        inference_geo                                             AS x_InferenceGeo
    FROM costs;
    """
}
