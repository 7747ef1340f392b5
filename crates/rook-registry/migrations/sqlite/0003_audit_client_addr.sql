-- Rook registry schema, version 3 (SQLite): the client address of an admin action.
--
-- The address the request came from: the TCP peer, or the address a trusted proxy
-- forwarded ([transport] trusted_proxies). Events written before this version have none.

ALTER TABLE audit_events ADD COLUMN client_addr TEXT;
