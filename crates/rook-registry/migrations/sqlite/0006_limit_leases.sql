-- Rook registry schema, version 6 (SQLite): leased slices of rate limits and
-- budgets shared by several gateway instances (issue 14).
--
-- One row per (limit key, window start): how many units (requests, tokens) the
-- instances together have been granted or have charged in that window. An instance
-- leases a slice with one INSERT … ON CONFLICT DO UPDATE … RETURNING statement
-- (Registry::lease_limit); last_grant is what that statement granted. Rows of
-- finished windows are pruned (Registry::prune_limit_leases). A SQLite database serves one
-- instance, which keeps its limits in memory: the table exists for a uniform schema.

CREATE TABLE limit_leases (
    limit_key        TEXT   NOT NULL,
    window_start_ms  INTEGER NOT NULL,
    granted          INTEGER NOT NULL,
    last_grant       INTEGER NOT NULL,
    updated_at_ms    INTEGER NOT NULL,
    PRIMARY KEY (limit_key, window_start_ms)
);

CREATE INDEX limit_leases_window ON limit_leases (window_start_ms);
