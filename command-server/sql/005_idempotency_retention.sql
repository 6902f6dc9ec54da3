-- hearlers command side: Idempotency-Key records expire (idempotent). The outbox relay deletes
-- rows older than --idempotency-ttl-s (HL_IDEMPOTENCY_TTL_S, 24 h by default) every 10 s;
-- this index keeps that sweep from scanning the table.
CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys (created_at);
