-- Rook registry schema, version 1 (SQLite). Times are unix milliseconds.

CREATE TABLE accounts (
    id            TEXT    NOT NULL PRIMARY KEY,
    vendor        TEXT    NOT NULL,
    base_url      TEXT    NOT NULL,
    api_key_env   TEXT,
    api_key_file  TEXT,
    api_key       TEXT,
    enabled       BOOLEAN NOT NULL DEFAULT 1,
    weight        INTEGER NOT NULL DEFAULT 1,
    priority      INTEGER NOT NULL DEFAULT 0,
    models_json   TEXT    NOT NULL DEFAULT '{}',
    source        TEXT    NOT NULL CHECK (source IN ('config', 'api')),
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);

CREATE TABLE pools (
    id            TEXT    NOT NULL PRIMARY KEY,
    strategy      TEXT    NOT NULL,
    fallback_pool TEXT,
    source        TEXT    NOT NULL CHECK (source IN ('config', 'api')),
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);

CREATE TABLE pool_members (
    pool_id    TEXT    NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    account_id TEXT    NOT NULL REFERENCES accounts (id) ON DELETE RESTRICT,
    position   INTEGER NOT NULL,
    PRIMARY KEY (pool_id, account_id)
);
CREATE INDEX pool_members_account_idx ON pool_members (account_id);

CREATE TABLE routes (
    model          TEXT    NOT NULL PRIMARY KEY,
    pool_id        TEXT    NOT NULL REFERENCES pools (id) ON DELETE RESTRICT,
    fallback_route TEXT,
    source         TEXT    NOT NULL CHECK (source IN ('config', 'api')),
    created_at_ms  INTEGER NOT NULL,
    updated_at_ms  INTEGER NOT NULL
);
CREATE INDEX routes_pool_idx ON routes (pool_id);

CREATE TABLE account_health (
    account_id           TEXT    NOT NULL PRIMARY KEY,
    status               TEXT    NOT NULL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    times_opened         INTEGER NOT NULL DEFAULT 0,
    cooldown_until_ms    INTEGER,
    last_error_class     TEXT,
    updated_at_ms        INTEGER NOT NULL
);

CREATE TABLE usage_events (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id        TEXT    NOT NULL,
    ts_ms             INTEGER NOT NULL,
    principal_hash    TEXT,
    model             TEXT    NOT NULL,
    vendor            TEXT,
    account_id        TEXT,
    upstream_model    TEXT,
    stream            BOOLEAN NOT NULL,
    attempts          INTEGER NOT NULL,
    outcome           TEXT    NOT NULL,
    status_code       INTEGER NOT NULL,
    latency_ms        INTEGER NOT NULL,
    ttfb_ms           INTEGER,
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    total_tokens      INTEGER,
    cost_usd          REAL,
    error_class       TEXT
);
CREATE INDEX usage_events_ts_idx ON usage_events (ts_ms);

CREATE TABLE idempotency_records (
    principal_hash        TEXT    NOT NULL,
    idem_key              TEXT    NOT NULL,
    body_hash             TEXT    NOT NULL,
    state                 TEXT    NOT NULL CHECK (state IN ('in_progress', 'completed')),
    status_code           INTEGER,
    response_headers_json TEXT,
    response_body         BLOB,
    created_at_ms         INTEGER NOT NULL,
    expires_at_ms         INTEGER NOT NULL,
    PRIMARY KEY (principal_hash, idem_key)
);
CREATE INDEX idempotency_records_expires_idx ON idempotency_records (expires_at_ms);

CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ms       INTEGER NOT NULL,
    request_id  TEXT,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    entity_type TEXT    NOT NULL,
    entity_id   TEXT    NOT NULL,
    detail_json TEXT    NOT NULL
);
