-- Rook registry schema, version 7: a unique key per usage event (issue 14).
--
-- Usage events go to a local journal before the database; after a crash the journal
-- is replayed, and an event that had already reached the database must not be counted
-- twice. event_key is "<instance nonce>.<sequence>" (hex), set by the gateway; rows
-- written before this version (and by writers without a journal) keep NULL, which
-- the unique index allows any number of times.

ALTER TABLE usage_events ADD COLUMN event_key TEXT;
CREATE UNIQUE INDEX usage_events_event_key_idx ON usage_events (event_key);
