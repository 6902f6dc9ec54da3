-- hearlers command side: uploaded profile images (issue 18; idempotent).
-- users gains the object-store keys of the avatar's two WebP renditions (content-addressed:
-- avatars/<sha256 of the rendition>-512.webp and -128.webp; '' = no uploaded avatar) and the
-- users.version at which they were set. avatar_url (PATCH /v1/users/me) stays for external images.
ALTER TABLE users ADD COLUMN IF NOT EXISTS avatar_512 text NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN IF NOT EXISTS avatar_128 text NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN IF NOT EXISTS avatar_version bigint NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS users_avatar_512 ON users (avatar_512) WHERE avatar_512 <> '';
CREATE INDEX IF NOT EXISTS users_avatar_128 ON users (avatar_128) WHERE avatar_128 <> '';

-- Object-store keys that may be referenced by no users row: written before an upload's store
-- write (committed on its own, so a crash between the store write and the command's commit
-- leaves the key here), removed by the command that commits it, and re-added for the keys an
-- avatar change or removal lets go of. The command server's sweep deletes from the store every
-- key here older than its grace period that no users row references, then the row. Not captured.
CREATE TABLE IF NOT EXISTS media_pending (
    object_key text        PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS media_pending_created ON media_pending (created_at);
