-- The Kafka key of an event (issue 16: one writer per read-model document with several
-- projectors). NULL = the aggregate id (every event written before this column, and every topic
-- but counselling.events and payment.events, whose Booking, ReviewSubmitted and Payment events
-- are keyed by their counsellor: command-server/src/event_store.c). The outbox relay publishes
-- COALESCE(partition_key, aggregate_id). Per-aggregate order holds: the key of one aggregate's
-- events never changes.
ALTER TABLE events ADD COLUMN IF NOT EXISTS partition_key text;
