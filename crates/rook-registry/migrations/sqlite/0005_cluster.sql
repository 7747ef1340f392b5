-- Rook registry schema, version 5 (SQLite): change propagation and cluster visibility
-- (issue 14).
--
-- rook_config_version holds one row whose version goes up with every write of the tables
-- that make up the routing and the key store (accounts, pools, pool_members, routes,
-- client_keys except its batched last_used_at_ms), by triggers in the writer's own
-- transaction, so rook-cli's direct writes are seen too. SQLite has no NOTIFY: the
-- gateway polls this one row (see docs/deployment.md).
--
-- rook_instances: one row per running rook-server, refreshed by its heartbeat.

CREATE TABLE rook_config_version (
    id            INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    version       INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
INSERT INTO rook_config_version (id, version, updated_at_ms) VALUES (1, 1, 0);

CREATE TRIGGER accounts_ins_bump AFTER INSERT ON accounts BEGIN
    UPDATE rook_config_version SET version = version + 1,
        updated_at_ms = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) WHERE id = 1; END;
CREATE TRIGGER accounts_upd_bump AFTER UPDATE ON accounts BEGIN
    UPDATE rook_config_version SET version = version + 1,
        updated_at_ms = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) WHERE id = 1; END;
CREATE TRIGGER accounts_del_bump AFTER DELETE ON accounts BEGIN
    UPDATE rook_config_version SET version = version + 1,
        updated_at_ms = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) WHERE id = 1; END;
CREATE TRIGGER pools_ins_bump AFTER INSERT ON pools BEGIN
    UPDATE rook_config_version SET version = version + 1,
        updated_at_ms = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) WHERE id = 1; END;
CREATE TRIGGER pools_upd_bump AFTER UPDATE ON pools BEGIN
    UPDATE rook_config_version SET version = version + 1,
        updated_at_ms = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) WHERE id = 1; END;
CREATE TRIGGER pools_del_bump AFTER DELETE ON pools BEGIN
    UPDATE rook_config_version SET version = version + 1,
        updated_at_ms = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) WHERE id = 1; END;
CREATE TRIGGER pool_members_ins_bump AFTER INSERT ON pool_members BEGIN
    UPDATE rook_config_version SET version = version + 1,
        updated_at_ms = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) WHERE id = 1; END;
CREATE TRIGGER pool_members_upd_bump AFTER UPDATE ON pool_members BEGIN
    UPDATE rook_config_version SET version = version + 1,
        updated_at_ms = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) WHERE id = 1; END;
CREATE TRIGGER pool_members_del_bump AFTER DELETE ON pool_members BEGIN
    UPDATE rook_config_version SET version = version + 1,
        updated_at_ms = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) WHERE id = 1; END;
CREATE TRIGGER routes_ins_bump AFTER INSERT ON routes BEGIN
    UPDATE rook_config_version SET version = version + 1,
        updated_at_ms = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) WHERE id = 1; END;
CREATE TRIGGER routes_upd_bump AFTER UPDATE ON routes BEGIN
    UPDATE rook_config_version SET version = version + 1,
        updated_at_ms = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) WHERE id = 1; END;
CREATE TRIGGER routes_del_bump AFTER DELETE ON routes BEGIN
    UPDATE rook_config_version SET version = version + 1,
        updated_at_ms = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) WHERE id = 1; END;
CREATE TRIGGER client_keys_ins_bump AFTER INSERT ON client_keys BEGIN
    UPDATE rook_config_version SET version = version + 1,
        updated_at_ms = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) WHERE id = 1; END;
CREATE TRIGGER client_keys_upd_bump AFTER UPDATE OF id, name, owner, models_json, budget_usd,
    budget_period, requests_per_minute, tokens_per_minute, expires_at_ms, enabled,
    revoked_at_ms, metadata_json, source, secret_hash, secret_prefix, previous_hash,
    previous_valid_until_ms, updated_at_ms ON client_keys BEGIN
    UPDATE rook_config_version SET version = version + 1,
        updated_at_ms = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) WHERE id = 1; END;
CREATE TRIGGER client_keys_del_bump AFTER DELETE ON client_keys BEGIN
    UPDATE rook_config_version SET version = version + 1,
        updated_at_ms = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) WHERE id = 1; END;

CREATE TABLE rook_instances (
    instance_id        TEXT    NOT NULL PRIMARY KEY,
    rook_version       TEXT    NOT NULL,
    host               TEXT    NOT NULL,
    bind_address       TEXT    NOT NULL,
    started_at_ms      INTEGER NOT NULL,
    last_seen_ms       INTEGER NOT NULL,
    heartbeat_ms       INTEGER NOT NULL,
    config_version     INTEGER NOT NULL,
    sync_mode          TEXT    NOT NULL
);
