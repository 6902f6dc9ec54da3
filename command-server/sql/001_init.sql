-- hearlers command-side schema (PostgreSQL 15). Applied at command-server start; idempotent.
-- Aggregate tables are captured by Debezium (publication hearlers_cdc); credentials and the
-- outbox are not.

CREATE TABLE IF NOT EXISTS users (
    user_id      uuid PRIMARY KEY,
    display_name text        NOT NULL,
    bio          text        NOT NULL DEFAULT '',
    avatar_url   text        NOT NULL DEFAULT '',
    presence     text        NOT NULL DEFAULT 'offline',
    version      bigint      NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);

-- Secrets live apart from the captured aggregate table so that no CDC topic ever carries them.
CREATE TABLE IF NOT EXISTS user_credentials (
    user_id       uuid PRIMARY KEY REFERENCES users (user_id),
    email         text NOT NULL,
    password_hash text NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS user_credentials_email_lower ON user_credentials (lower(email));

-- Append-only domain event store: the source for replays and rebuilds.
CREATE TABLE IF NOT EXISTS events (
    position          bigserial PRIMARY KEY,           -- global position
    event_id          uuid        NOT NULL UNIQUE,
    aggregate_type    text        NOT NULL,
    aggregate_id      uuid        NOT NULL,
    aggregate_version bigint      NOT NULL,
    event_type        text        NOT NULL,
    topic             text        NOT NULL,
    schema_id         integer     NOT NULL,            -- registry id of the writer schema
    payload           bytea       NOT NULL,            -- Avro binary body, no framing
    occurred_at       timestamptz NOT NULL,
    causation_id      uuid,
    correlation_id    uuid,
    traceparent       text,
    UNIQUE (aggregate_type, aggregate_id, aggregate_version)
);

-- Outbox: positions of events not yet acknowledged by Kafka. Inserted in the command's
-- transaction, deleted by the relay after the delivery report.
CREATE TABLE IF NOT EXISTS outbox (
    position bigint PRIMARY KEY REFERENCES events (position)
);
