/* app.h: the query server's configuration and process state (one qs_app_t per process, shared
 * by every request thread and, in the stream listener, by its workers), and the store client
 * pool. The request lifecycle is request.h, read-model access read_store.h, aliases aliases.h,
 * read-your-writes consistency_gate.h, the route handlers routes.h. Reads only from the MongoDB
 * read models (docs/read-models.md). */
#ifndef QS_APP_H
#define QS_APP_H

#include "cache.h"

#include "hl/aliases.h"
#include "hl/error.h"

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

/* Cache of the read-model aliases (hl/aliases.h), reloaded at most every cfg.alias_ttl_ms
 * (<= 1 s) by one request while the others use the previous copy. */
typedef struct {
    pthread_mutex_t lock;
    hl_alias_table_t table;
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

/* Open the read store of app: its session, membership, message (message_slots rendered
 * messages) and name caches, then mongoc_init and a client pool on mongo_uri of at most max_pool
 * clients named appname (retryable writes off when no_retry_writes: FerretDB 1.x has none).
 * Errors: HL_ERR_CONFIG (a URI mongoc refuses: exit 2), HL_ERR_SYSTEM (out of memory). What was
 * made stays in app for the caller's clean-up. */
bool qs_app_open_store(qs_app_t *app, const char *mongo_uri, int max_pool, size_t message_slots,
                       bool no_retry_writes, const char *appname, hl_error_t *err);

/* Borrow a client from the pool for this request (released by qs_client_release). */
mongoc_client_t *qs_client_acquire(qs_app_t *app);
void qs_client_release(qs_app_t *app, mongoc_client_t *client);

#endif
