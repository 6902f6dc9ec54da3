-- hearlers command side: `users` logs its whole old row with every UPDATE and DELETE (idempotent).
-- Debezium then fills the "before" image of cdc.public.users updates (null with the default
-- identity, which logs only a changed primary key), and the projector deletes a renamed user's
-- old key from the user_names read model (docs/read-models.md, user_names). The rows are small
-- (credentials live in user_credentials, which is not captured); the cost is the old row in the
-- WAL and in each users change event.
-- Only when not set yet: the ALTER takes an ACCESS EXCLUSIVE lock, and migrations run at every start.
DO $$
BEGIN
    IF (SELECT relreplident FROM pg_class WHERE oid = 'users'::regclass) <> 'f' THEN
        ALTER TABLE users REPLICA IDENTITY FULL;
    END IF;
END
$$;
