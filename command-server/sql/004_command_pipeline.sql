-- hearlers command side: helpers that let a command send its statements in a libpq pipeline
-- (command-server/src/cmd.c) without reading results in between (idempotent).
--
-- hl_require_session(session_id, user_id): the session-revocation check of every authenticated
-- command. Returns nothing when the session row exists for that user, is not revoked and has not
-- expired; otherwise raises SQLSTATE 'HL401', which aborts the rest of the pipeline (nothing
-- queued after it runs) and which the command server answers with 401 revoked-token.
CREATE OR REPLACE FUNCTION hl_require_session(p_session_id uuid, p_user_id uuid) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM 1 FROM sessions
     WHERE session_id = p_session_id AND user_id = p_user_id
       AND revoked_at IS NULL AND expires_at > now();
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the session was logged out or has expired' USING ERRCODE = 'HL401';
    END IF;
END
$$;
