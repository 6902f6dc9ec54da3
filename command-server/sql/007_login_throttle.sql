-- Per-account log-in throttling (SPEC §7, OWASP Authentication Cheat Sheet "account lockout"):
-- failed log-ins for one e-mail address, whether or not an account has it, counted here so that
-- every command-server process agrees. The key is SHA-256 of the lower-cased address: the table
-- holds no addresses. Rules: command-server/src/rules.h (cs_login_*). A successful log-in
-- deletes the row; the outbox relay's sweep deletes rows quiet for a day (not captured by CDC).
CREATE TABLE IF NOT EXISTS login_throttle (
    email_key bytea PRIMARY KEY,
    failures integer NOT NULL,          -- failed log-ins in the current window
    window_start_us bigint NOT NULL,    -- epoch µs of the window's first failure
    locked_until_us bigint NOT NULL,    -- epoch µs; 0 = not locked
    lockouts integer NOT NULL,          -- lock-outs since the last successful log-in
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS login_throttle_updated_at ON login_throttle (updated_at);
