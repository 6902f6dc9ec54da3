-- hearlers command side: indexes the command invariants query (idempotent).
-- "is the sender blocked by a member of this room": blocks by blocked user
CREATE INDEX IF NOT EXISTS blocks_live_blocked ON blocks (blocked_id) WHERE removed_at IS NULL;
-- pending requests sent by a user
CREATE INDEX IF NOT EXISTS friend_requests_from ON friend_requests (from_user_id, status);
