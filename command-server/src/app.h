/* app.h: the command server's process-wide state, shared read-only by handler threads. */
#ifndef CS_APP_H
#define CS_APP_H

#include "hl/consistency.h"
#include "hl/events.h"
#include "hl/pg.h"
#include "hl/token.h"
#include "media.h"
#include "outbox_relay.h"
#include "saga.h"

typedef struct {
    char *http_listen;
    long long http_threads;
    char *pg_url;
    long long pg_pool_size;
    bool pg_prepare;
    char *kafka_brokers;
    char *kafka_overrides;
    char *schema_registry_url;
    long long registry_wait_s;
    char *schemas_dir;
    char *sql_dir;
    char *token_secret;
    char *token_secret_previous;
    long long token_previous_until_s;
    long long argon2_ops;
    long long argon2_mem_kib;
    long long outbox_batch;
    long long outbox_poll_ms;
    long long idempotency_ttl_s;
    long long pg_acquire_timeout_ms;
    long long session_ttl_s;
    long long login_max_failures;
    long long login_window_s;
    long long login_lockout_s;
    long long login_lockout_max_s;
    char *log_level;
    bool log_json;
    /* counselling and payments (SPEC §9) */
    char *payment_url;
    char *payment_secret;
    long long payment_timeout_ms;
    long long saga_workers;
    long long saga_poll_ms;
    long long saga_deadline_ms;
    char *saga_crash_at;
    /* profile images and the object store (issue 18, media.h) */
    char *s3_endpoint;
    char *s3_bucket;
    char *s3_region;
    char *s3_access_key;
    char *s3_secret_key;
    long long s3_timeout_ms;
    long long media_max_bytes;
    long long media_max_pixels;
    long long media_decoders;
    long long media_decode_timeout_ms;
    long long media_sweep_s;
    long long media_orphan_grace_s;
    char *media_crash_at;
} cs_config_t;

typedef struct {
    cs_config_t cfg;
    hl_pg_pool_t *pool;
    hl_event_catalog_t *catalog;
    hl_token_key_t consistency_key;
    hl_token_key_t session_key;
    /* Keys the BLAKE2b request hash stored with an Idempotency-Key: register and log-in bodies
     * hold passwords, and an unkeyed hash of them would be an offline-guessable password hash. */
    hl_token_key_t idempotency_key;
    cs_relay_t *relay;
    cs_saga_runner_t *saga; /* the booking saga's process manager (saga.h) */
    cs_media_t media;       /* image decoding and the object store (media.h) */
    /* An argon2id hash of a random password: log-in with an unknown e-mail verifies against
     * it so that both paths cost the same. */
    char dummy_hash[128];
} cs_app_t;

#endif
