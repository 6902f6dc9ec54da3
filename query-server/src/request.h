/* request.h: one read request's lifecycle (bearer token, read-your-writes wait, store client,
 * revoked session: qs_begin .. qs_end) and the replies every route shares. */
#ifndef QS_REQUEST_H
#define QS_REQUEST_H

#include "app.h"

#include "hl/error.h"
#include "hl/http.h"
#include "hl/session.h"

#include <mongoc/mongoc.h>

/* How a route treats the bearer token. */
typedef enum {
    QS_AUTH_NONE,     /* public; an Authorization header is ignored */
    QS_AUTH_OPTIONAL, /* public; a token that is sent must be valid */
    QS_AUTH_REQUIRED, /* 401 without a valid, unrevoked token */
} qs_auth_t;

/* One request's state between qs_begin and qs_end. */
typedef struct {
    qs_app_t *app;
    mongoc_client_t *client; /* borrowed from the pool */
    bool authenticated;
    bool consistent;      /* the request carried X-Consistency-Token: no cached facts */
    hl_session_t session; /* valid when authenticated: session_id, user_id (lower case) */
} qs_ctx_t;

/* Start a read: check the bearer token's signature and expiry (no I/O; 401 "missing-token",
 * "invalid-token", "expired-token"), wait for X-Consistency-Token (qs_await_consistency), borrow
 * a store client, then refuse a revoked session (401 "revoked-token": the `sessions`
 * read model has revoked_at set; a session not projected yet is accepted, since its revocation
 * cannot have been projected either). A session found live is remembered for
 * cfg.session_cache_ms, except by requests with a consistency token, which always read it. On
 * false, ctx holds no client and err is to be replied. */
bool qs_begin(hl_http_request_t *req, qs_auth_t auth, qs_ctx_t *ctx, hl_error_t *err);

/* Return the client borrowed by qs_begin (idempotent). */
void qs_end(qs_ctx_t *ctx);

/* Refuse a revoked session: ctx->session verified, ctx->client borrowed. Reads the `sessions`
 * read model by _id (a session seen live is remembered for cfg.session_cache_ms unless
 * ctx->consistent). Errors: 401 "revoked-token" (revoked_at set, or the session belongs to
 * another user); HL_ERR_MONGO. A session not projected yet is accepted. */
bool qs_check_session(qs_ctx_t *ctx, hl_error_t *err);

/* Reply {"items": items, "next_cursor": cursor or null}; takes nothing over. */
void qs_reply_page(hl_http_request_t *req, const bson_t *items, const char *next_cursor);

/* Reply with err (hl_http_reply_error), adding WWW-Authenticate: Bearer to a 401. */
void qs_reply_error(hl_http_request_t *req, const hl_error_t *err);

/* Read a query parameter into out[cap]: 1 present, 0 absent; a value too long is refused with
 * 400 "invalid-parameter" (returns -1 and fills err). */
int qs_param(hl_http_request_t *req, const char *name, char *out, size_t cap, hl_error_t *err);

#endif
