/* app.h: the command server's process-wide state, shared read-only by handler threads. */
#ifndef CS_APP_H
#define CS_APP_H

#include "hl/consistency.h"
#include "hl/events.h"
#include "hl/http.h"
#include "hl/pg.h"
#include "hl/token.h"
#include "outbox_relay.h"

typedef struct {
    char *http_listen;
    long long http_threads;
    char *pg_url;
    long long pg_pool_size;
    char *kafka_brokers;
    char *kafka_overrides;
    char *schema_registry_url;
    long long registry_wait_s;
    char *schemas_dir;
    char *sql_dir;
    char *token_secret;
    long long argon2_ops;
    long long argon2_mem_kib;
    long long outbox_batch;
    long long outbox_poll_ms;
    long long pg_acquire_timeout_ms;
    char *log_level;
    bool log_json;
} cs_config_t;

typedef struct {
    cs_config_t cfg;
    hl_pg_pool_t *pool;
    hl_event_catalog_t *catalog;
    hl_token_key_t consistency_key;
    hl_token_key_t session_key;
    cs_relay_t *relay;
} cs_app_t;

/* Route handlers (users.c, health.c). */
void cs_handle_register(hl_http_request_t *req);
void cs_handle_healthz(hl_http_request_t *req);
void cs_handle_readyz(hl_http_request_t *req);
void cs_handle_metrics(hl_http_request_t *req);

/* Sign a consistency token for a committed write over its watermarks (hl/consistency.h) and
 * append it to the reply document ("consistency_token") and to the extra header buffer
 * ("X-Consistency-Token: …\r\n"). Returns false on OOM. */
bool cs_consistency_token(cs_app_t *app, const hl_watermark_t *w, size_t n, bson_t *reply,
                          char *header, size_t header_cap);

#endif
