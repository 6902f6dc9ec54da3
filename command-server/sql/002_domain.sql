-- hearlers command side, all bounded contexts (SPEC §1). Applied at start; idempotent.
-- Tables captured by Debezium (publication hearlers_cdc, topics cdc.public.<table>):
--   users, sessions, chat_rooms, room_members, messages
-- Every captured row carries the version of the aggregate it belongs to, so the projector can
-- guard its writes and publish read-your-writes watermarks (docs/read-models.md).

-- identity: sessions (captured so the query server learns about revocations without calling us)
CREATE TABLE IF NOT EXISTS sessions (
    session_id uuid PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (user_id),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    version    bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id);

-- social: FriendRequest aggregate
CREATE TABLE IF NOT EXISTS friend_requests (
    request_id   uuid PRIMARY KEY,
    from_user_id uuid        NOT NULL REFERENCES users (user_id),
    to_user_id   uuid        NOT NULL REFERENCES users (user_id),
    status       text        NOT NULL CHECK (status IN ('pending', 'accepted', 'rejected')),
    version      bigint      NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    CHECK (from_user_id <> to_user_id)
);
-- at most one pending request per unordered pair, whichever direction
CREATE UNIQUE INDEX IF NOT EXISTS friend_requests_one_pending ON friend_requests
    (LEAST(from_user_id, to_user_id), GREATEST(from_user_id, to_user_id)) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS friend_requests_to ON friend_requests (to_user_id, status);

-- social: Friendship aggregate, one live row per unordered pair (user_a < user_b)
CREATE TABLE IF NOT EXISTS friendships (
    friendship_id uuid PRIMARY KEY,
    user_a        uuid        NOT NULL REFERENCES users (user_id),
    user_b        uuid        NOT NULL REFERENCES users (user_id),
    request_id    uuid        REFERENCES friend_requests (request_id),
    since         timestamptz NOT NULL,
    ended_at      timestamptz,
    version       bigint      NOT NULL,
    CHECK (user_a < user_b)
);
CREATE UNIQUE INDEX IF NOT EXISTS friendships_live_pair ON friendships (user_a, user_b)
    WHERE ended_at IS NULL;

-- social: Block aggregate, one live row per (blocker, blocked)
CREATE TABLE IF NOT EXISTS blocks (
    block_id   uuid PRIMARY KEY,
    blocker_id uuid        NOT NULL REFERENCES users (user_id),
    blocked_id uuid        NOT NULL REFERENCES users (user_id),
    created_at timestamptz NOT NULL,
    removed_at timestamptz,
    version    bigint      NOT NULL,
    CHECK (blocker_id <> blocked_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS blocks_live_pair ON blocks (blocker_id, blocked_id)
    WHERE removed_at IS NULL;

-- chat: ChatRoom aggregate (room row + members + messages; version bumps on every event)
CREATE TABLE IF NOT EXISTS chat_rooms (
    room_id    uuid PRIMARY KEY,
    kind       text        NOT NULL CHECK (kind IN ('direct', 'group')),
    title      text,
    created_by uuid        NOT NULL REFERENCES users (user_id),
    direct_key text UNIQUE,                 -- "<lower uuid>:<higher uuid>" for direct rooms
    last_seq   bigint      NOT NULL DEFAULT 0,
    version    bigint      NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS room_members (
    room_id       uuid        NOT NULL REFERENCES chat_rooms (room_id),
    user_id       uuid        NOT NULL REFERENCES users (user_id),
    joined_at     timestamptz NOT NULL,
    last_read_seq bigint      NOT NULL DEFAULT 0,
    room_version  bigint      NOT NULL,     -- room version when this row last changed
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX IF NOT EXISTS room_members_user ON room_members (user_id);

CREATE TABLE IF NOT EXISTS messages (
    room_id           uuid        NOT NULL REFERENCES chat_rooms (room_id),
    seq               bigint      NOT NULL,
    message_id        uuid        NOT NULL UNIQUE,
    sender_id         uuid        NOT NULL REFERENCES users (user_id),
    body              text        NOT NULL,
    client_message_id text        NOT NULL,
    room_version      bigint      NOT NULL,  -- room version after this message
    created_at        timestamptz NOT NULL,
    PRIMARY KEY (room_id, seq),
    UNIQUE (room_id, sender_id, client_message_id)
);

-- notification: NotificationInbox aggregate (one per user); notifications themselves are a
-- read model built from domain events, so only the read markers live here.
CREATE TABLE IF NOT EXISTS notification_inboxes (
    user_id       uuid PRIMARY KEY REFERENCES users (user_id),
    read_all_at   timestamptz,
    version       bigint NOT NULL
);

-- Idempotency-Key store (SPEC §2): the first response to (caller, key) is replayed for the same
-- request and a different request with the same key is refused with 422.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    scope           text        NOT NULL,   -- caller user id, or 'anonymous'
    idem_key        text        NOT NULL,
    request_hash    bytea       NOT NULL,   -- BLAKE2b of method, path and body
    response_status integer     NOT NULL,
    response_body   text        NOT NULL,
    response_headers text       NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, idem_key)
);
