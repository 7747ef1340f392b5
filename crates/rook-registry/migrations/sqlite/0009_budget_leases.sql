-- Rook registry schema, version 9 (SQLite): leased slices of client key budgets shared
-- by several gateway instances (issue 14; see the PostgreSQL migration). A SQLite
-- database serves one instance, which counts spend in memory: the table exists for a
-- uniform schema.

CREATE TABLE budget_leases (
    key_id           TEXT    NOT NULL,
    period_start_ms  INTEGER NOT NULL,
    granted_usd      REAL    NOT NULL,
    last_grant_usd   REAL    NOT NULL,
    updated_at_ms    INTEGER NOT NULL,
    PRIMARY KEY (key_id, period_start_ms)
);

CREATE INDEX budget_leases_updated ON budget_leases (updated_at_ms);
