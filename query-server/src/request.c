/* request.c: a read request's lifecycle and shared replies (request.h). */
#include "request.h"

#include "consistency_gate.h"
#include "read_store.h"

#include "hl/log.h"
#include "hl/util.h"

#include <stdio.h>
#include <string.h>

/* A session document with revoked_at set (any non-null value) is revoked. */
bool qs_check_session(qs_ctx_t *ctx, hl_error_t *err)
{
    qs_app_t *app = ctx->app;
    char key[2 * HL_UUID_STR_LEN + 2];
    int64_t live = 0, now = hl_mono_ms();
    snprintf(key, sizeof key, "%s:%s", ctx->session.session_id, ctx->session.user_id);
    if (qs_cache_get(app->sessions, key, now, &live) && (live == 0 || !ctx->consistent)) {
        if (live)
            return true;
        return hl_error_set_reason(err, HL_ERR_INPUT, 401, "revoked-token",
                                   "the session of this bearer token has ended; log in again");
    }
    bson_t doc;
    int found = qs_find_one(ctx, "sessions", ctx->session.session_id, &doc, err);
    if (found < 0)
        return false;
    if (found == 0)
        return true;
    bson_iter_t it;
    bool revoked = bson_iter_init_find(&it, &doc, "revoked_at") && !BSON_ITER_HOLDS_NULL(&it);
    const char *uid = qs_doc_string(&doc, "user_id", NULL);
    bool foreign = uid && strcasecmp(uid, ctx->session.user_id) != 0;
    bson_destroy(&doc);
    if (revoked || foreign)
        qs_cache_put(app->sessions, key, 0, now + 24 * 3600 * 1000LL);
    else if (app->cfg.session_cache_ms > 0)
        qs_cache_put(app->sessions, key, 1, now + app->cfg.session_cache_ms);
    if (revoked || foreign)
        return hl_error_set_reason(err, HL_ERR_INPUT, 401, "revoked-token",
                                   "the session of this bearer token has ended; log in again");
    return true;
}

bool qs_begin(hl_http_request_t *req, qs_auth_t auth, qs_ctx_t *ctx, hl_error_t *err)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->app = req->app;
    const char *authorization = auth == QS_AUTH_NONE ? NULL : hl_http_header(req, "Authorization");
    if (auth == QS_AUTH_REQUIRED || authorization) {
        if (!hl_session_verify_header(&ctx->app->session_key, authorization, hl_now_us() / 1000,
                                      &ctx->session, err))
            return false;
        hl_ascii_lower(ctx->session.user_id);
        ctx->authenticated = true;
    }
    ctx->consistent = hl_http_header(req, "X-Consistency-Token") != NULL;
    if (!qs_await_consistency(ctx->app, req, err))
        goto fail;
    ctx->client = qs_client_acquire(ctx->app);
    if (ctx->authenticated && !qs_check_session(ctx, err))
        goto fail;
    return true;
fail:
    qs_end(ctx);
    return false;
}

void qs_end(qs_ctx_t *ctx)
{
    qs_client_release(ctx->app, ctx->client);
    ctx->client = NULL;
}

void qs_reply_page(hl_http_request_t *req, const bson_t *items, const char *next_cursor)
{
    bson_t out = BSON_INITIALIZER;
    BSON_APPEND_ARRAY(&out, "items", items);
    if (next_cursor)
        BSON_APPEND_UTF8(&out, "next_cursor", next_cursor);
    else
        BSON_APPEND_NULL(&out, "next_cursor");
    hl_http_reply_json(req, 200, &out, NULL);
    bson_destroy(&out);
}

int qs_param(hl_http_request_t *req, const char *name, char *out, size_t cap, hl_error_t *err)
{
    int rc = hl_http_query_param(req, name, out, cap);
    if (rc < 0)
        hl_error_set_reason(err, HL_ERR_INPUT, 400, "invalid-parameter", "%s is too long", name);
    if (rc <= 0)
        out[0] = '\0';
    return rc;
}

void qs_reply_error(hl_http_request_t *req, const hl_error_t *err)
{
    if (err->domain == HL_ERR_INPUT && err->code == 401) {
        hl_http_reply_problem(req, 401, err->reason[0] ? err->reason : "invalid-token",
                              hl_http_status_text(401), err->message,
                              "WWW-Authenticate: Bearer realm=\"hearlers\"\r\n");
        return;
    }
    hl_http_reply_error(req, err);
}
