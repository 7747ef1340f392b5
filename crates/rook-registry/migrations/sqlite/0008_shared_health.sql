-- Rook registry schema, version 8 (SQLite): the columns of shared account health
-- (issue 14). A SQLite database serves one instance, which keeps writing whole health
-- rows as before; the columns exist for a uniform schema (see the PostgreSQL migration).

ALTER TABLE account_health ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE account_health ADD COLUMN updated_by TEXT;
ALTER TABLE account_health ADD COLUMN probe_owner TEXT;
ALTER TABLE account_health ADD COLUMN probe_until_ms INTEGER;
