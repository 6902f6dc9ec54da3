-- Trace context on captured rows (issue 14): the W3C traceparent of the request span that
-- inserted the row. Debezium captures it with the row, so the projector's apply of the CDC
-- record, the change-feed record and the stream push join the request's trace (a message
-- reaches other members' streams through cdc.public.messages, not through an outbox event).
-- Only inserts set it; the projector reads it from 'c' records only (an edit is not the POST).
ALTER TABLE messages ADD COLUMN IF NOT EXISTS traceparent text;
