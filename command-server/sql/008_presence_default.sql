-- Presence from connections (SPEC §8, issue 11): users.presence is the status the user SET
-- (PUT /v1/users/me/presence). away and offline (invisible) win over connections; online, and
-- a user who never set one, follow the stream connections the projector derives presence from.
-- A new user has set nothing, so the column's default is the "follow connections" value.
-- Rows registered before this migration keep 'offline' (shown as invisible until they set a
-- status): rewriting them would change aggregates without an event.
ALTER TABLE users ALTER COLUMN presence SET DEFAULT 'online';
