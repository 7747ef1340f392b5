-- Rook registry schema, version 4 (PostgreSQL): client keys (issue 13).
--
-- A key's secret is never stored: only its SHA-256 (hex) and a short display prefix.
-- During a rotation with grace, the previous hash stays valid until
-- previous_valid_until_ms. Revoking sets revoked_at_ms; the row stays for usage history.
-- last_used_at_ms is written in batches and does not change updated_at_ms (which the
-- gateway polls to notice changes made by other processes).

CREATE TABLE client_keys (
    id                       TEXT    NOT NULL PRIMARY KEY,
    name                     TEXT    NOT NULL,
    owner                    TEXT,
    models_json              TEXT    NOT NULL DEFAULT '[]',
    budget_usd               DOUBLE PRECISION,
    budget_period            TEXT,
    requests_per_minute      BIGINT,
    tokens_per_minute        BIGINT,
    expires_at_ms            BIGINT,
    enabled                  BOOLEAN NOT NULL DEFAULT TRUE,
    revoked_at_ms            BIGINT,
    metadata_json            TEXT    NOT NULL DEFAULT '{}',
    source                   TEXT    NOT NULL CHECK (source IN ('config', 'api')),
    secret_hash              TEXT    NOT NULL UNIQUE,
    secret_prefix            TEXT    NOT NULL,
    previous_hash            TEXT,
    previous_valid_until_ms  BIGINT,
    created_at_ms            BIGINT NOT NULL,
    updated_at_ms            BIGINT NOT NULL,
    last_used_at_ms          BIGINT
);

-- The key a usage event was made with (never the secret); NULL before this version
-- and for requests refused before a key was known.
ALTER TABLE usage_events ADD COLUMN key_id TEXT;
-- Spend and request counts per key since the start of its budget period.
CREATE INDEX usage_events_key_ts_idx ON usage_events (key_id, ts_ms);
