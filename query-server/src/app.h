/* app.h: the query server's process state. Reads only from the MongoDB read models. */
#ifndef QS_APP_H
#define QS_APP_H

#include "hl/http.h"
#include "hl/token.h"

#include <mongoc/mongoc.h>

typedef struct {
    char *http_listen;
    long long http_threads;
    char *mongo_uri;
    char *mongo_db;
    char *token_secret;
    long long consistency_default_wait_ms;
    long long consistency_max_wait_ms;
    char *log_level;
    bool log_json;
} qs_config_t;

typedef struct {
    qs_config_t cfg;
    mongoc_client_pool_t *pool;
    hl_token_key_t consistency_key;
    hl_token_key_t session_key;
} qs_app_t;

/* Borrow a client from the pool for this request (released by qs_client_release). */
mongoc_client_t *qs_client_acquire(qs_app_t *app);
void qs_client_release(qs_app_t *app, mongoc_client_t *client);

/* Collection handle of the read-model database (caller destroys). */
mongoc_collection_t *qs_collection(qs_app_t *app, mongoc_client_t *client, const char *name);

/* Read-your-writes (SPEC §3): when the request carries X-Consistency-Token, wait until the read
 * models reflect the write behind it, at most X-Consistency-Wait-Ms (default/max from config).
 * Errors: 400 "invalid-consistency-token" for a token that does not verify or parse; HL_ERR_TIMEOUT
 * (answered as 503 with Retry-After) when the wait runs out. No header: returns true at once. */
bool qs_await_consistency(qs_app_t *app, hl_http_request_t *req, mongoc_client_t *client,
                          hl_error_t *err);

void qs_handle_user(hl_http_request_t *req);
void qs_handle_daily_stats(hl_http_request_t *req);
void qs_handle_healthz(hl_http_request_t *req);
void qs_handle_readyz(hl_http_request_t *req);
void qs_handle_metrics(hl_http_request_t *req);

#endif
