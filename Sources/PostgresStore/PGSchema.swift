/// The PostgreSQL schema: the same tables and views as SQLite's `Schema`, in
/// PostgreSQL types where they serve readers better (`day DATE`, `amount
/// NUMERIC` beside `amount_nanos BIGINT`, `TIMESTAMPTZ`, `BOOLEAN`). Versioned
/// in `costsync_migrations`, a table of its own (PostgreSQL has no
/// `user_version`); a released migration is never edited, only followed.
///
/// The version numbers are the PostgreSQL schema's own: one here may bundle
/// what several SQLite migrations did, since no PostgreSQL database predates them.
public struct PGMigration: Sendable {
    public let version: Int
    public let name: String
    public let sql: String
}

public enum PGSchema {
    public static let migrations: [PGMigration] = [
        PGMigration(version: 1, name: "costs, cursors, fetched days, revisions, fetches, names and the views", sql: v1),
        PGMigration(version: 2, name: "alerts and their deliveries", sql: v2),
        PGMigration(version: 3, name: "focus_costs billed in integers; data_warehouses named after the latest primary", sql: v3),
    ]

    public static var currentVersion: Int { migrations.map(\.version).max() ?? 0 }

    /// The dimension columns of `costs`, in the order the write path sends them.
    static let dimensionColumns = [
        "workspace_id", "description", "cost_type", "model", "token_type", "context_window", "service_tier",
        "inference_geo", "entity_type", "entity_id", "entity_name", "service_id", "data_warehouse_id", "metric",
    ]

    // SQLite's v5 (issue 14), mirrored so copy-store carries alerts over and
    // a PostgreSQL ledger has its tables; money as NUMERIC beside its nanos.
    static let v2 = """
    CREATE TABLE alerts (
        id                TEXT        NOT NULL PRIMARY KEY,
        kind              TEXT        NOT NULL CHECK (kind IN ('budget', 'forecast', 'anomaly')),
        budget            TEXT,
        provider          TEXT        NOT NULL,
        org               TEXT,
        workspace_id      TEXT,
        currency          TEXT        NOT NULL,
        period            TEXT        NOT NULL,
        threshold_percent INTEGER,
        spent             NUMERIC     NOT NULL,
        spent_nanos       BIGINT      NOT NULL,
        limit_amount      NUMERIC     NOT NULL,
        limit_nanos       BIGINT      NOT NULL,
        forecast          NUMERIC,
        forecast_nanos    BIGINT,
        text              TEXT        NOT NULL,
        raised_at         TIMESTAMPTZ NOT NULL
    );
    CREATE INDEX alerts_by_time ON alerts (raised_at);

    CREATE TABLE alert_deliveries (
        alert_id        TEXT        NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
        target          TEXT        NOT NULL,
        attempts        INTEGER     NOT NULL DEFAULT 0,
        last_attempt_at TIMESTAMPTZ,
        next_attempt_at TIMESTAMPTZ,
        last_error      TEXT,
        delivered_at    TIMESTAMPTZ,
        abandoned_at    TIMESTAMPTZ,
        PRIMARY KEY (alert_id, target)
    );
    CREATE INDEX alert_deliveries_pending ON alert_deliveries (target) WHERE delivered_at IS NULL AND abandoned_at IS NULL;
    """

    // Rows are keyed as in SQLite; a day's partition is one index range of the
    // primary key, so replacing it touches one contiguous part of the B-tree.
    // `amount` is NUMERIC, which keeps the provider's exact decimal text
    // (scale included: 1.50 stays 1.50); sum `amount_nanos` for exact totals.
    static let v1 = """
    CREATE TABLE costs (
        provider          TEXT        NOT NULL CHECK (provider IN ('anthropic', 'clickhouse')),
        org               TEXT        NOT NULL,
        day               DATE        NOT NULL,
        line_key          TEXT        NOT NULL,
        scope_id          TEXT        NOT NULL,
        scope_name        TEXT,
        item              TEXT        NOT NULL,
        amount            NUMERIC     NOT NULL,
        amount_nanos      BIGINT      NOT NULL,
        currency          TEXT        NOT NULL,
        is_final          BOOLEAN     NOT NULL,
        fetched_at        TIMESTAMPTZ NOT NULL,
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
    );

    CREATE TABLE sync_cursor (
        provider             TEXT        NOT NULL,
        org                  TEXT        NOT NULL,
        next_day             DATE        NOT NULL,
        last_attempt_at      TIMESTAMPTZ,
        last_success_at      TIMESTAMPTZ,
        last_error           TEXT,
        consecutive_failures INTEGER     NOT NULL DEFAULT 0,
        last_recheck_on      DATE,
        PRIMARY KEY (provider, org)
    );

    -- One row per fetched day: its exact total and row count, written with its
    -- rows. An answer that would empty a stored day is held until the next
    -- answer confirms it (empty_pending_since); a provider total that
    -- disagrees with the records keeps both figures, exact, as text.
    CREATE TABLE sync_days (
        provider                TEXT        NOT NULL,
        org                     TEXT        NOT NULL,
        day                     DATE        NOT NULL,
        fetched_at              TIMESTAMPTZ NOT NULL,
        is_final                BOOLEAN     NOT NULL,
        row_count               INTEGER     NOT NULL,
        amount_nanos            BIGINT      NOT NULL,
        empty_pending_since     TIMESTAMPTZ,
        provider_total          TEXT,
        records_total           TEXT,
        first_amount_nanos      BIGINT,
        empty_pending_was_final BOOLEAN,
        PRIMARY KEY (provider, org, day)
    );

    CREATE TABLE sync_fetches (
        fetch_id      BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        provider      TEXT        NOT NULL,
        org           TEXT        NOT NULL,
        first_day     DATE        NOT NULL,
        last_day      DATE        NOT NULL,
        kind          TEXT        NOT NULL CHECK (kind IN ('poll', 'backfill', 'recheck')),
        started_at    TIMESTAMPTZ NOT NULL,
        finished_at   TIMESTAMPTZ,
        requests      INTEGER     NOT NULL DEFAULT 0,
        request_ids   TEXT,
        rows_inserted INTEGER     NOT NULL DEFAULT 0,
        rows_updated  INTEGER     NOT NULL DEFAULT 0,
        rows_deleted  INTEGER     NOT NULL DEFAULT 0,
        error         TEXT
    );
    CREATE INDEX sync_fetches_by_start ON sync_fetches (started_at);

    -- What changed after a day was first written, written in the transaction
    -- of the change; first_amount_nanos + the deltas = the stored total.
    CREATE TABLE cost_revisions (
        revision_id      BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        provider         TEXT        NOT NULL,
        org              TEXT        NOT NULL,
        day              DATE        NOT NULL,
        line_key         TEXT        NOT NULL,
        change           TEXT        NOT NULL CHECK (change IN ('changed', 'vanished', 'appeared')),
        item             TEXT        NOT NULL,
        scope_id         TEXT        NOT NULL,
        old_amount       NUMERIC,
        old_amount_nanos BIGINT,
        new_amount       NUMERIC,
        new_amount_nanos BIGINT,
        was_final        BOOLEAN     NOT NULL,
        observed_at      TIMESTAMPTZ NOT NULL,
        fetch_id         BIGINT
    );
    CREATE INDEX cost_revisions_by_day ON cost_revisions (provider, org, day);

    CREATE TABLE accounts (
        provider           TEXT        NOT NULL,
        org                TEXT        NOT NULL,
        account_id         TEXT        NOT NULL,
        account_name       TEXT        NOT NULL,
        credit_price       NUMERIC,
        credit_price_nanos BIGINT,
        fetched_at         TIMESTAMPTZ NOT NULL,
        names_refreshed_at TIMESTAMPTZ,
        PRIMARY KEY (provider, org)
    );

    CREATE TABLE workspaces (
        org          TEXT        NOT NULL,
        workspace_id TEXT        NOT NULL,
        name         TEXT        NOT NULL,
        is_default   BOOLEAN     NOT NULL,
        archived_at  TEXT,
        fetched_at   TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (org, workspace_id)
    );

    CREATE TABLE services (
        org               TEXT        NOT NULL,
        service_id        TEXT        NOT NULL,
        name              TEXT        NOT NULL,
        cloud_provider    TEXT,
        region            TEXT,
        state             TEXT,
        data_warehouse_id TEXT,
        is_primary        BOOLEAN     NOT NULL,
        tags              TEXT,
        fetched_at        TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (org, service_id)
    );

    -- Exact: amount is NUMERIC here, not SQLite's REAL.
    CREATE VIEW daily_costs AS
    SELECT provider, org, day, currency,
           SUM(amount)       AS amount,
           SUM(amount_nanos) AS amount_nanos,
           bool_and(is_final) AS is_final,
           COUNT(*)          AS lines
    FROM costs
    GROUP BY provider, org, day, currency;

    CREATE VIEW monthly_costs AS
    SELECT provider, org, to_char(day, 'YYYY-MM') AS month, currency,
           SUM(amount)         AS amount,
           SUM(amount_nanos)   AS amount_nanos,
           bool_and(is_final)  AS is_final,
           COUNT(DISTINCT day) AS days
    FROM costs
    GROUP BY provider, org, to_char(day, 'YYYY-MM'), currency;

    CREATE VIEW day_revisions AS
    SELECT provider, org, day,
           COUNT(*)                                                           AS changes,
           SUM(COALESCE(new_amount_nanos, 0) - COALESCE(old_amount_nanos, 0)) AS net_delta_nanos,
           bool_or(was_final)                                                 AS final_day_changed,
           MIN(observed_at)                                                   AS first_observed,
           MAX(observed_at)                                                   AS last_observed
    FROM cost_revisions
    GROUP BY provider, org, day;

    -- A data warehouse is named after its primary service.
    CREATE VIEW data_warehouses AS
    SELECT org, data_warehouse_id, MIN(name) AS name
    FROM services WHERE data_warehouse_id IS NOT NULL AND is_primary
    GROUP BY org, data_warehouse_id;

    -- FOCUS 1.2, as SQLite's focus_costs: every row billed in USD; ClickHouse
    -- credits × the org's credit_price, rounded half-even to the nano (NULL
    -- while no price is known), the credits in PricingCurrencyEffectiveCost.
    -- NUMERIC arithmetic is exact, so the rounding is the one rule in
    -- Money.billedNanos, written once more in SQL.
    \(focusCosts(create: "CREATE VIEW", billed: v1Billed))
    """

    /// v1's rounding divided in NUMERIC, whose quotient PostgreSQL rounds to
    /// a scale of its choosing: for 10⁸ nanos and more (about $0.10) a
    /// fraction like .499999996 came out .50000000 and then rounded up, one
    /// nano off `Money.billedNanos`. Kept as released; v3 replaces it.
    static let v1Billed = """
                   SELECT CASE WHEN abs(x - trunc(x)) > 0.5 OR (abs(x - trunc(x)) = 0.5 AND mod(trunc(x), 2) <> 0)
                               THEN trunc(x) + sign(x) ELSE trunc(x) END
                   FROM (SELECT c.amount_nanos::numeric * a.credit_price_nanos / 1000000000 AS x) AS q
                   WHERE a.credit_price_nanos IS NOT NULL)
    """

    /// `Money.billedNanos` in integers only: the exact product, its quotient
    /// and remainder by 10⁹ (`div` and `mod` truncate, as Int128 does), then
    /// half to even on the remainder.
    static let exactBilled = """
                   SELECT CASE WHEN 2 * abs(r) > 1000000000 OR (2 * abs(r) = 1000000000 AND mod(q, 2) <> 0)
                               THEN q + sign(x) ELSE q END
                   FROM (SELECT x, div(x, 1000000000) AS q, mod(x, 1000000000) AS r
                         FROM (SELECT c.amount_nanos::numeric * a.credit_price_nanos AS x) AS p) AS d
                   WHERE a.credit_price_nanos IS NOT NULL)
    """

    /// The exact rounding above, and a data warehouse named after the
    /// primary service seen most recently (SQLite's rule: an old primary may
    /// linger in `services`), not the least name of every primary.
    static let v3 = """
    CREATE OR REPLACE VIEW data_warehouses AS
    SELECT DISTINCT ON (org, data_warehouse_id) org, data_warehouse_id, name
    FROM services WHERE data_warehouse_id IS NOT NULL AND is_primary
    ORDER BY org, data_warehouse_id, fetched_at DESC, name COLLATE "C";

    \(focusCosts(create: "CREATE OR REPLACE VIEW", billed: exactBilled))
    """

    /// The FOCUS view, one text for every migration that (re)creates it;
    /// `billed` is the subquery that bills a ClickHouse row in nano-dollars.
    static func focusCosts(create: String, billed: String) -> String {
        """
    \(create) focus_costs AS
    WITH priced AS (
        SELECT c.*, a.account_id, a.account_name,
               CASE c.provider WHEN 'anthropic' THEN c.amount_nanos::numeric ELSE (
    \(billed)
               END AS billed_nanos
        FROM costs c LEFT JOIN accounts a ON a.provider = c.provider AND a.org = c.org
    ), shown AS (
        SELECT p.*, (p.billed_nanos / 1000000000)::numeric(38, 9) AS billed,
               CASE provider WHEN 'anthropic' THEN 'Anthropic' ELSE 'ClickHouse' END AS provider_name
        FROM priced p
    )
    SELECT
        billed                                                    AS "BilledCost",
        COALESCE(account_id, org)                                 AS "BillingAccountId",
        COALESCE(account_name, org)                               AS "BillingAccountName",
        'USD'                                                     AS "BillingCurrency",
        (date_trunc('month', day) + interval '1 month')::date::text || 'T00:00:00Z' AS "BillingPeriodEnd",
        date_trunc('month', day)::date::text || 'T00:00:00Z'      AS "BillingPeriodStart",
        'Usage'                                                   AS "ChargeCategory",
        NULL::text                                                AS "ChargeClass",
        item                                                      AS "ChargeDescription",
        'Usage-Based'                                             AS "ChargeFrequency",
        (day + 1)::text || 'T00:00:00Z'                           AS "ChargePeriodEnd",
        day::text || 'T00:00:00Z'                                 AS "ChargePeriodStart",
        billed                                                    AS "ContractedCost",
        billed                                                    AS "EffectiveCost",
        NULL::text                                                AS "InvoiceId",
        provider_name                                             AS "InvoiceIssuerName",
        billed                                                    AS "ListCost",
        NULL::numeric                                             AS "PricingQuantity",
        NULL::text                                                AS "PricingUnit",
        provider_name                                             AS "ProviderName",
        provider_name                                             AS "PublisherName",
        CASE provider WHEN 'anthropic' THEN 'AI and Machine Learning' ELSE 'Databases' END AS "ServiceCategory",
        CASE provider WHEN 'anthropic' THEN 'Claude API' ELSE 'ClickHouse Cloud' END AS "ServiceName",
        CASE provider WHEN 'anthropic' THEN 'Generative AI' ELSE 'Other (Databases)' END AS "ServiceSubcategory",
        CASE provider WHEN 'anthropic' THEN scope_id ELSE data_warehouse_id END AS "SubAccountId",
        CASE provider WHEN 'anthropic' THEN scope_name
             ELSE (SELECT w.name FROM data_warehouses w WHERE w.org = shown.org AND w.data_warehouse_id = shown.data_warehouse_id)
        END                                                       AS "SubAccountName",
        entity_id                                                 AS "ResourceId",
        entity_name                                               AS "ResourceName",
        entity_type                                               AS "ResourceType",
        COALESCE(metric, token_type, cost_type)                   AS "SkuMeter",
        CASE provider WHEN 'clickhouse' THEN 'CHC' END            AS "PricingCurrency",
        CASE provider WHEN 'clickhouse' THEN amount END           AS "PricingCurrencyEffectiveCost",
        provider                                                  AS "x_Provider",
        org                                                       AS "x_Org",
        day                                                       AS "x_Day",
        line_key                                                  AS "x_LineKey",
        amount                                                    AS "x_Amount",
        amount_nanos                                              AS "x_AmountNanos",
        billed_nanos                                              AS "x_BilledNanos",
        is_final                                                  AS "x_IsFinal",
        item                                                      AS "x_ChargeDescription",
        model                                                     AS "x_Model",
        service_tier                                              AS "x_ServiceTier",
        inference_geo                                             AS "x_InferenceGeo"
    FROM shown;
    """
    }
}
