-- Presence from connections (SPEC §8, issue 11): users.presence is the status the user SET with
-- PUT /v1/users/me/presence, and presence_set tells whether they ever did. away and offline
-- (invisible) win over connections; online, or never set (presence_set false: the default
-- 'offline' is no choice of the user's), follows the stream connections the projector derives
-- presence from. Rows older than this column read as never set (an 'offline' set earlier shows
-- as connections say until the user sets a status again).
ALTER TABLE users ADD COLUMN IF NOT EXISTS presence_set boolean NOT NULL DEFAULT false;
ALTER TABLE users ALTER COLUMN presence SET DEFAULT 'offline';
