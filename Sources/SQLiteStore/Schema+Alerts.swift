extension Schema {
    // Issue 14: what fired, once and only once, and its delivery to each
    // target. `alerts.id` is the alert's stable hash (also the webhook's
    // Idempotency-Key), so "record if new" is one INSERT … ON CONFLICT DO
    // NOTHING. Amounts are kept as exact text and as integer nanos, like
    // `costs`. A delivery names its target; the URL (a secret) is never stored.
    static let v5 = """
    CREATE TABLE alerts (
        id                TEXT    NOT NULL PRIMARY KEY,
        kind              TEXT    NOT NULL CHECK (kind IN ('budget', 'forecast', 'anomaly')),
        budget            TEXT,
        provider          TEXT    NOT NULL,
        org               TEXT,
        workspace_id      TEXT,
        currency          TEXT    NOT NULL,
        period            TEXT    NOT NULL,
        threshold_percent INTEGER,
        spent             TEXT    NOT NULL,
        spent_nanos       INTEGER NOT NULL,
        limit_amount      TEXT    NOT NULL,
        limit_nanos       INTEGER NOT NULL,
        forecast          TEXT,
        forecast_nanos    INTEGER,
        text              TEXT    NOT NULL,
        raised_at         TEXT    NOT NULL
    ) STRICT;

    CREATE INDEX alerts_by_time ON alerts (raised_at);

    CREATE TABLE alert_deliveries (
        alert_id        TEXT    NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
        target          TEXT    NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        last_attempt_at TEXT,
        next_attempt_at TEXT,
        last_error      TEXT,
        delivered_at    TEXT,
        abandoned_at    TEXT,
        PRIMARY KEY (alert_id, target)
    ) STRICT;

    CREATE INDEX alert_deliveries_pending ON alert_deliveries (target) WHERE delivered_at IS NULL AND abandoned_at IS NULL;
    """
}
