-- Rook registry schema, version 5 (PostgreSQL): change propagation and cluster visibility
-- (issue 14).
--
-- rook_config_version holds one row whose version goes up with every write of the tables
-- that make up the routing and the key store (accounts, pools, pool_members, routes,
-- client_keys except its batched last_used_at_ms). The bump and a NOTIFY on the channel
-- 'rook_changes' happen in a statement trigger, so in the writer's own transaction: every
-- writer (rook-server, rook-cli, a hand-written SQL statement) is seen by every instance.
-- The payload is '<version> <schema> <table>'; listeners ignore other schemas' payloads.
--
-- rook_instances: one row per running rook-server, refreshed by its heartbeat.

CREATE TABLE rook_config_version (
    id            BIGINT  NOT NULL PRIMARY KEY CHECK (id = 1),
    version       BIGINT  NOT NULL,
    updated_at_ms BIGINT  NOT NULL
);
INSERT INTO rook_config_version (id, version, updated_at_ms) VALUES (1, 1, 0);

CREATE FUNCTION rook_bump_config_version() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v BIGINT;
BEGIN
    UPDATE rook_config_version
       SET version = version + 1,
           updated_at_ms = (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT
     WHERE id = 1
    RETURNING version INTO v;
    PERFORM pg_notify('rook_changes', v::TEXT || ' ' || current_schema() || ' ' || TG_TABLE_NAME);
    RETURN NULL;
END;
$$;

CREATE TRIGGER accounts_bump_config_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION rook_bump_config_version();
CREATE TRIGGER pools_bump_config_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pools
    FOR EACH STATEMENT EXECUTE FUNCTION rook_bump_config_version();
CREATE TRIGGER pool_members_bump_config_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pool_members
    FOR EACH STATEMENT EXECUTE FUNCTION rook_bump_config_version();
CREATE TRIGGER routes_bump_config_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON routes
    FOR EACH STATEMENT EXECUTE FUNCTION rook_bump_config_version();
CREATE TRIGGER client_keys_bump_config_version
    AFTER INSERT OR DELETE OR TRUNCATE ON client_keys
    FOR EACH STATEMENT EXECUTE FUNCTION rook_bump_config_version();
CREATE TRIGGER client_keys_update_bump_config_version
    AFTER UPDATE OF id, name, owner, models_json, budget_usd, budget_period,
        requests_per_minute, tokens_per_minute, expires_at_ms, enabled, revoked_at_ms,
        metadata_json, source, secret_hash, secret_prefix, previous_hash,
        previous_valid_until_ms, updated_at_ms ON client_keys
    FOR EACH STATEMENT EXECUTE FUNCTION rook_bump_config_version();

CREATE TABLE rook_instances (
    instance_id        TEXT    NOT NULL PRIMARY KEY,
    rook_version       TEXT    NOT NULL,
    host               TEXT    NOT NULL,
    bind_address       TEXT    NOT NULL,
    started_at_ms      BIGINT  NOT NULL,
    last_seen_ms       BIGINT  NOT NULL,
    heartbeat_ms       BIGINT  NOT NULL,
    config_version     BIGINT  NOT NULL,
    sync_mode          TEXT    NOT NULL
);
