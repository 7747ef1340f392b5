-- Rook registry schema, version 8 (PostgreSQL): account health shared by several gateway
-- instances (issue 14).
--
-- account_health rows are written per transition (a cooldown opened, an account closed
-- by a probe or reset by an operator), never wholesale:
--   version         goes up with every transition written (compare-and-set by its writer);
--   updated_by      the instance id that wrote the transition;
--   probe_owner,
--   probe_until_ms  the half-open probe lease: the one instance allowed to probe the account
--                   after its cooldown, until probe_until_ms (one conditional UPDATE wins).
-- Every write that sets version sends NOTIFY on 'rook_changes' with the payload
-- 'health <schema> <version> <account_id>' (delivered at commit), which the listeners of
-- config changes ignore and the health listeners read.

ALTER TABLE account_health ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE account_health ADD COLUMN updated_by TEXT;
ALTER TABLE account_health ADD COLUMN probe_owner TEXT;
ALTER TABLE account_health ADD COLUMN probe_until_ms BIGINT;

CREATE FUNCTION rook_notify_health() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('rook_changes',
        'health ' || current_schema() || ' ' || NEW.version::TEXT || ' ' || NEW.account_id);
    RETURN NULL;
END;
$$;

CREATE TRIGGER account_health_notify
    AFTER INSERT OR UPDATE OF version ON account_health
    FOR EACH ROW EXECUTE FUNCTION rook_notify_health();
