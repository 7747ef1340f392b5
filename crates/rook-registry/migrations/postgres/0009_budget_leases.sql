-- Rook registry schema, version 9 (PostgreSQL): leased slices of client key budgets
-- shared by several gateway instances (issue 14).
--
-- One row per (client key, budget period start): how much of the key's budget the
-- instances together have been granted in that period (in USD, like
-- usage_events.cost_usd), starting from what the usage events of the period held when
-- the row was created. An instance leases a slice with one
-- INSERT … SELECT … ON CONFLICT DO UPDATE … RETURNING statement
-- (Registry::lease_budget); last_grant_usd is what that statement granted. Rows not
-- leased from for 40 days are pruned (Registry::prune_budget_leases).

CREATE TABLE budget_leases (
    key_id           TEXT             NOT NULL,
    period_start_ms  BIGINT           NOT NULL,
    granted_usd      DOUBLE PRECISION NOT NULL,
    last_grant_usd   DOUBLE PRECISION NOT NULL,
    updated_at_ms    BIGINT           NOT NULL,
    PRIMARY KEY (key_id, period_start_ms)
);

CREATE INDEX budget_leases_updated ON budget_leases (updated_at_ms);
