/* hl/session.h: bearer tokens for user sessions, issued by the command server at log-in and
 * verified by both servers without calling each other (SPEC §2, §3).
 *
 * Token = hl_token_sign(session key, JSON {"sid": session uuid, "uid": user uuid,
 * "exp": expiry in ms since the epoch}). The signature and expiry are checked here; revocation
 * is checked by each server against its own data: the command server reads
 * `sessions.revoked_at` in PostgreSQL, the query server the `sessions` read model (CDC of that
 * table). The key comes from hl_token_key_derive(secret, "session"). */
#ifndef HL_SESSION_H
#define HL_SESSION_H

#include "hl/error.h"
#include "hl/token.h"
#include "hl/util.h"

#include <stdint.h>

typedef struct {
    char session_id[HL_UUID_STR_LEN + 1];
    char user_id[HL_UUID_STR_LEN + 1];
    int64_t expires_at_ms;
} hl_session_t;

/* Sign a bearer token for s. malloc'd, caller frees; NULL on OOM. */
char *hl_session_token_new(const hl_token_key_t *key, const hl_session_t *s);

/* Verify "Bearer <token>" (the whole Authorization header value; NULL allowed) at now_ms.
 * Errors (HL_ERR_INPUT, 401): "missing-token" when absent or not Bearer, "invalid-token" when
 * the signature or payload is bad, "expired-token" when exp <= now_ms. */
bool hl_session_verify_header(const hl_token_key_t *key, const char *authorization, int64_t now_ms,
                              hl_session_t *out, hl_error_t *err);

#endif
