/* app.h: the query server's process state and the helpers every route shares. Reads only from
 * the MongoDB read models (docs/read-models.md). */
#ifndef QS_APP_H
#define QS_APP_H

#include "cache.h"

#include "hl/http.h"
#include "hl/session.h"
#include "hl/token.h"

#include <mongoc/mongoc.h>
#include <pthread.h>

typedef struct {
    char *http_listen;
    long long http_threads;
    long long max_waits;
    long long mongo_pool;
    char *mongo_uri;
    char *mongo_db;
    char *token_secret;
    char *token_secret_previous;
    long long token_previous_until_s;
    long long consistency_default_wait_ms;
    long long consistency_max_wait_ms;
    long long alias_ttl_ms;
    long long session_cache_ms;
    long long member_cache_ms;
    long long name_cache_ms;
    char *log_level;
    bool log_json;
} qs_config_t;

#define QS_ALIAS_MAX 32

/* Cache of `read_model_aliases` ({_id: logical name, collection: physical name}), reloaded at
 * most every cfg.alias_ttl_ms (<= 1 s) by one request while the others use the previous copy. */
typedef struct {
    pthread_mutex_t lock;
    struct {
        char logical[64];
        char physical[128];
    } items[QS_ALIAS_MAX];
    size_t n;
    int64_t loaded_ms; /* hl_mono_ms() of the last load attempt; 0 = never */
    bool loading;
} qs_alias_cache_t;

typedef struct qs_wm_waiter qs_wm_waiter_t;

typedef struct qs_app {
    qs_config_t cfg;
    qs_wm_waiter_t *waiter; /* read-your-writes waits (watermark_wait.h) */
    mongoc_client_pool_t *pool;
    hl_token_key_t consistency_key;
    hl_token_key_t session_key;
    qs_alias_cache_t aliases;
    qs_cache_t *sessions;     /* "<session id>:<user id>" → 1 live (short), 0 revoked (final) */
    qs_cache_t *members;      /* "<room id>:<user id>" → 1 member */
    qs_doc_cache_t *messages; /* "<room id>:<seq>" → rendered message (messages never change) */
    qs_doc_cache_t *names;    /* user id → {_id, display_name, exp: mono ms} */
} qs_app_t;

/* Borrow a client from the pool for this request (released by qs_client_release). */
mongoc_client_t *qs_client_acquire(qs_app_t *app);
void qs_client_release(qs_app_t *app, mongoc_client_t *client);

/* Collection handle of the read model with the given logical name (caller destroys), resolved
 * through `read_model_aliases` (absent alias: the logical name itself). The one place where
 * aliases are applied; see aliases.c. */
mongoc_collection_t *qs_collection(qs_app_t *app, mongoc_client_t *client, const char *logical);

/* Physical collection name of a logical read model into out[cap] (see qs_collection). */
void qs_alias_resolve(qs_app_t *app, mongoc_client_t *client, const char *logical, char *out,
                      size_t cap);

/* Read-your-writes (SPEC §3): when the request carries X-Consistency-Token, wait until the read
 * models reflect the write behind it, at most X-Consistency-Wait-Ms (default/max from config).
 * Errors: 400 "invalid-consistency-token" for a token that does not verify or parse; HL_ERR_TIMEOUT
 * (answered as 503 with Retry-After) when the wait runs out or cfg.max_waits reads already wait;
 * HL_ERR_MONGO when the store fails. The wait holds no store client. No header: returns true at
 * once. */
bool qs_await_consistency(qs_app_t *app, hl_http_request_t *req, hl_error_t *err);

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

/* Documents copied out of a cursor. */
typedef struct {
    bson_t **docs;
    size_t n;
} qs_docs_t;

/* Run find(filter, opts) on a logical read model and copy every document into out (caller
 * frees with qs_docs_free, also on error). Error: HL_ERR_MONGO. */
bool qs_find(qs_ctx_t *ctx, const char *logical, const bson_t *filter, const bson_t *opts,
             qs_docs_t *out, hl_error_t *err);

/* Up to this many ids, qs_find_ids looks each one up by _id equality; more ids take one $in.
 * Both reach FerretDB's _id index (an $in of strings through patch 4 of deploy/local/mongo.sh);
 * one $in of 21 ids took 7.7 ms against 85 ms for 21 lookups (loaded 2-core VM), 2 ids 5.8 vs
 * 7.6 ms. */
#define QS_FIND_IDS_EQ_MAX 1

/* Find the documents whose _id is one of ids[0..n) (distinct; n may be 0), with an optional
 * projection (NULL: whole documents): one _id lookup up to QS_FIND_IDS_EQ_MAX, else one $in.
 * Missing ids are skipped. out is freed by the caller with qs_docs_free, also on error. */
bool qs_find_ids(qs_ctx_t *ctx, const char *logical, const char *const *ids, size_t n,
                 const bson_t *projection, qs_docs_t *out, hl_error_t *err);

/* Find one document by _id into *out (bson_init'ed and filled; caller destroys when found).
 * Returns 1 found, 0 absent, -1 error. */
int qs_find_one(qs_ctx_t *ctx, const char *logical, const char *id, bson_t *out, hl_error_t *err);

void qs_docs_free(qs_docs_t *d);

/* Display names of the distinct users ids[0..n) as documents {_id, display_name} in *names
 * (caller frees with qs_docs_free, also on error); unknown users are absent. A name read from
 * user_profiles is reused for cfg.name_cache_ms, except by requests with a consistency token,
 * which read every name. */
bool qs_display_names(qs_ctx_t *ctx, const char *const *ids, size_t n, qs_docs_t *names,
                      hl_error_t *err);

/* The document of d whose _id is id, or NULL. */
const bson_t *qs_docs_by_id(const qs_docs_t *d, const char *id);

/* Field accessors with defaults (missing or wrong type gives def). */
const char *qs_doc_string(const bson_t *doc, const char *key, const char *def);
int64_t qs_doc_int(const bson_t *doc, const char *key, int64_t def);
bool qs_doc_bool(const bson_t *doc, const char *key, bool def);
/* Date field in ms since the epoch; false when missing or not a date. */
bool qs_doc_date_ms(const bson_t *doc, const char *key, int64_t *ms);

/* Append key: RFC 3339 text of the date field `field` of doc, or null. */
void qs_append_date(bson_t *out, const char *key, const bson_t *doc, const char *field);
/* Append key: the string field `field` of doc, or null when missing. */
void qs_append_string_or_null(bson_t *out, const char *key, const bson_t *doc, const char *field);

/* Reply {"items": items, "next_cursor": cursor or null}; takes nothing over. */
void qs_reply_page(hl_http_request_t *req, const bson_t *items, const char *next_cursor);

/* Reply with err (hl_http_reply_error), adding WWW-Authenticate: Bearer to a 401. */
void qs_reply_error(hl_http_request_t *req, const hl_error_t *err);

/* Read a query parameter into out[cap]: 1 present, 0 absent; a value too long is refused with
 * 400 "invalid-parameter" (returns -1 and fills err). */
int qs_param(hl_http_request_t *req, const char *name, char *out, size_t cap, hl_error_t *err);

/* Route handlers (main.c routes[]): each parses its parameters, runs qs_begin, reads the read
 * models, and sends exactly one reply (200 JSON or a problem document). */
void qs_handle_user(hl_http_request_t *req);
void qs_handle_users_search(hl_http_request_t *req);
void qs_handle_friends(hl_http_request_t *req);
void qs_handle_friend_requests(hl_http_request_t *req);
void qs_handle_chat_rooms(hl_http_request_t *req);
void qs_handle_chat_room_check(hl_http_request_t *req);
void qs_handle_messages(hl_http_request_t *req);
void qs_handle_notifications(hl_http_request_t *req);
void qs_handle_daily_stats(hl_http_request_t *req);
void qs_handle_readyz(hl_http_request_t *req);
/* counselling.c (SPEC §9) */
void qs_handle_job(hl_http_request_t *req);
void qs_handle_counsellors(hl_http_request_t *req);
void qs_handle_counsellor(hl_http_request_t *req);
void qs_handle_counsellor_slots(hl_http_request_t *req);
void qs_handle_bookings(hl_http_request_t *req);
void qs_handle_booking(hl_http_request_t *req);

#endif
