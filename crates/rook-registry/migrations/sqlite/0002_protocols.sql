-- Rook registry schema, version 2 (SQLite): account protocols, usage endpoints.
--
-- Every account stored before this version was spoken to over the OpenAI-compatible
-- endpoint of its vendor, so existing rows get protocol 'openai' (behaviour unchanged);
-- new rows get their vendor's default from the config file, the admin API or rook-cli.
-- Rook did not ask custom servers for stream usage before, so existing custom rows keep
-- that with stream_usage = 0.

ALTER TABLE accounts ADD COLUMN protocol TEXT NOT NULL DEFAULT 'openai';
ALTER TABLE accounts ADD COLUMN anthropic_version TEXT;
ALTER TABLE accounts ADD COLUMN default_max_tokens INTEGER;
ALTER TABLE accounts ADD COLUMN stream_usage BOOLEAN NOT NULL DEFAULT 1;
UPDATE accounts SET stream_usage = 0 WHERE vendor = 'custom';

-- The client-facing endpoint of a usage event: chat, messages, embeddings, responses,
-- completions or count_tokens. Every event before this version was a chat completion.
ALTER TABLE usage_events ADD COLUMN endpoint TEXT NOT NULL DEFAULT 'chat';
