#include "hl/session.h"

#include <bson/bson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

char *hl_session_token_new(const hl_token_key_t *key, const hl_session_t *s)
{
    char payload[160];
    int n = snprintf(payload, sizeof payload, "{\"sid\":\"%s\",\"uid\":\"%s\",\"exp\":%lld}",
                     s->session_id, s->user_id, (long long)s->expires_at_ms);
    return hl_token_sign(key, payload, (size_t)n);
}

bool hl_session_verify_header(const hl_token_key_t *key, const char *authorization, int64_t now_ms,
                              hl_session_t *out, hl_error_t *err)
{
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0 || !authorization[7])
        return hl_error_set_reason(err, HL_ERR_INPUT, 401, "missing-token",
                                   "an Authorization: Bearer <token> header is required");
    char *payload = NULL;
    size_t len = 0;
    if (!hl_token_verify(key, authorization + 7, &payload, &len, err))
        return hl_error_set_reason(err, HL_ERR_INPUT, 401, "invalid-token",
                                   "the bearer token is not valid");
    bson_t doc;
    bson_error_t berr;
    bool ok = bson_init_from_json(&doc, payload, (ssize_t)len, &berr);
    free(payload);
    if (!ok)
        return hl_error_set_reason(err, HL_ERR_INPUT, 401, "invalid-token",
                                   "the bearer token is not valid");
    bson_iter_t it;
    const char *sid = NULL, *uid = NULL;
    if (bson_iter_init_find(&it, &doc, "sid") && BSON_ITER_HOLDS_UTF8(&it))
        sid = bson_iter_utf8(&it, NULL);
    if (bson_iter_init_find(&it, &doc, "uid") && BSON_ITER_HOLDS_UTF8(&it))
        uid = bson_iter_utf8(&it, NULL);
    ok = sid && uid && hl_uuid_valid(sid) && hl_uuid_valid(uid) &&
         bson_iter_init_find(&it, &doc, "exp") &&
         (BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it));
    if (ok) {
        memcpy(out->session_id, sid, HL_UUID_STR_LEN + 1);
        memcpy(out->user_id, uid, HL_UUID_STR_LEN + 1);
        out->expires_at_ms = bson_iter_as_int64(&it);
    }
    bson_destroy(&doc);
    if (!ok)
        return hl_error_set_reason(err, HL_ERR_INPUT, 401, "invalid-token",
                                   "the bearer token is not valid");
    if (out->expires_at_ms <= now_ms)
        return hl_error_set_reason(err, HL_ERR_INPUT, 401, "expired-token",
                                   "the bearer token has expired; log in again");
    return true;
}
