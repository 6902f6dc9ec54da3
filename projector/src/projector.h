/* projector.h: the projector's process state and the pieces of its consume → apply → commit
 * loop. One consumer thread applies messages in partition order; an HTTP thread pool serves
 * /healthz, /readyz and /metrics. */
#ifndef PJ_PROJECTOR_H
#define PJ_PROJECTOR_H

#include "plan.h"

#include "hl/error.h"
#include "hl/schema_registry.h"

#include <avro.h>
#include <librdkafka/rdkafka.h>
#include <mongoc/mongoc.h>
#include <pthread.h>
#include <stdbool.h>

typedef struct {
    char *http_listen;
    long long http_threads;
    char *kafka_brokers;
    char *kafka_overrides;
    char *group_id;
    char *dlq_topic;
    char *mongo_uri;
    char *mongo_db;
    char *schema_registry_url;
    char *pg_url;
    long long max_lag_ms;
    long long writers;
    long long batch_linger_ms;   /* wait for more inputs after a batch's first, ms (main.c) */
    char *feed_topic;            /* change feed (feed.h); empty = none */
    char *schemas_dir;           /* topics.json + .avsc, for the change feed's schema */
    long long presence_grace_ms; /* presence.h: offline this long after the last connection */
    char *log_level;
    bool log_json;
} pj_config_t;

/* Outcome of applying one input. */
typedef enum {
    PJ_APPLIED, /* the read model changed */
    PJ_SKIPPED, /* older or repeated input: the read model already reflects it */
    PJ_POISON,  /* cannot be decoded or applied: dead-letter it and go on */
    PJ_RETRY,   /* transient failure (store or registry unreachable): retry the same input */
} pj_result_t;

/* Writer schemas fetched from the registry by id (Confluent framing), cached for the process. */
typedef struct pj_schema_cache pj_schema_cache_t;
pj_schema_cache_t *pj_schema_cache_new(hl_schema_registry_t *reg);
void pj_schema_cache_destroy(pj_schema_cache_t *cache);
/* The generic value class for schema id. NULL with HL_ERR_HTTP code 404 when the registry does
 * not know the id (poison), other codes when it is unreachable (retry). Borrowed pointer. */
avro_value_iface_t *pj_schema_cache_get(pj_schema_cache_t *cache, int id, hl_error_t *err);

typedef struct pj_ctx {
    pj_config_t cfg;
    rd_kafka_t *consumer;
    rd_kafka_t *dlq_producer;
    mongoc_client_t *mongo; /* used by the consumer thread only */
    mongoc_database_t *db;
    /* clients of the writer threads of pj_plans_execute (cfg.writers of them, one per thread);
     * NULL = every bulk write runs on db, one collection after the other */
    mongoc_client_pool_t *write_pool;
    hl_schema_registry_t *registry;
    pj_schema_cache_t *schemas;
    /* logical read model → physical collection, from read_model_aliases (store.c) */
    struct {
        char logical[32];
        char physical[64];
    } aliases[32];
    int naliases;
    int64_t aliases_at_ms; /* monotonic time of the last refresh */
    /* rebuild mode: only operations on rebuild_model run, into rebuild_collection; no
     * watermarks are written */
    const char *rebuild_model;
    char rebuild_collection[64];
    /* dead letters (support.c): the message pj_dead_letter waits for carries dlq_seq as its
     * librdkafka opaque, never an address: a delivery report of an earlier message it gave up
     * on (librdkafka reports every message, also after message.timeout.ms) only counts in
     * dlq_late. Consumer thread only (the reports are served by its rd_kafka_poll). */
    uint64_t dlq_seq;
    bool dlq_done;
    rd_kafka_resp_err_t dlq_err;
    long long dlq_late;
    long long dlq_wait_ms; /* how long pj_dead_letter waits for the acknowledgement; 0 = 10 s */
    /* the change feed (feed.h) the daemon publishes after each acknowledged batch; NULL in the
     * operator commands and when cfg.feed_topic is empty */
    struct pj_feed *feed;
    /* partition revocations served so far (the daemon's rebalance callback, main.c) and their
     * count when the current batch was consumed: a batch is abandoned, never written on, once
     * they differ (its partitions may belong to another projector now). Consumer thread only. */
    unsigned long revocations, batch_revocations;
} pj_ctx_t;

/* A route maps a topic to the projection it feeds (metrics label, dead-letter header). */
typedef struct {
    const char *topic;
    const char *projection;
} pj_route_t;

/* All routes (routes.c), terminated by {NULL, NULL}. */
extern const pj_route_t pj_routes[];

/* The route of topic, or NULL. */
const pj_route_t *pj_route_find(const char *topic);

/* Apply one message: plan it, run the plan, advance its watermark, observe lag. */
pj_result_t pj_apply(pj_ctx_t *ctx, const rd_kafka_message_t *msg, hl_error_t *err);

/* Decode a message of a route's topic into a plan (no writes). PJ_APPLIED = planned, PJ_SKIPPED
 * = nothing to do (tombstone), PJ_POISON / PJ_RETRY as for apply. Used by apply and by
 * rebuilds. */
pj_result_t pj_route_plan(pj_ctx_t *ctx, const char *topic, const void *payload, size_t len,
                          pj_plan_t *plan, hl_error_t *err);

/* Plan a domain event stored in the `events` table (Avro body without framing, writer schema
 * id schema_id). */
pj_result_t pj_event_body_plan(pj_ctx_t *ctx, int schema_id, const uint8_t *body, size_t len,
                               pj_plan_t *plan, hl_error_t *err);

/* Run plans (store.c), a poll batch of inputs in input order: per physical collection, every
 * operation of the plans on it in plan order (operations never read another collection, so only
 * the per-collection order matters), as unordered bulk writes in which no _id occurs twice, one
 * statement per operation; when one of those meets a write error (a guard that did not match),
 * the collection's operations again as ordered bulk writes; then the watermarks, each key once
 * at its highest version of the batch (not in rebuild mode). With ctx->write_pool, up to
 * cfg.writers collections are written at the same time, each by one thread on its own pooled
 * client; otherwise one after the other on ctx->db. A failed bulk is re-run one operation at a
 * time (all idempotent). Then, once those are acknowledged, the operations marked `after`
 * (plan.h), and the read state of the notifications the plans created (pj_unread_t: the
 * recipients' read-all marks read from notification_reads). Returns only after MongoDB
 * acknowledged every write of every collection. Errors: HL_ERR_MONGO (retry the whole batch). */
bool pj_plans_execute(pj_ctx_t *ctx, const pj_plan_t *const *plans, size_t nplans, hl_error_t *err);

/* pj_plans_execute for one plan. *applied is true when any operation ran (in rebuild mode,
 * one on the rebuilt model). */
bool pj_plan_execute(pj_ctx_t *ctx, const pj_plan_t *plan, bool *applied, hl_error_t *err);

/* The physical collection of logical read model (alias, else the name itself), or NULL when
 * the ctx is rebuilding another model. Borrowed pointer into ctx. */
const char *pj_physical(const pj_ctx_t *ctx, const char *model);

/* Reload read_model_aliases when older than max_age_ms (0 = always). */
bool pj_aliases_refresh(pj_ctx_t *ctx, int64_t max_age_ms, hl_error_t *err);

/* Create the read-model indexes (idempotent) on every model's physical collection. */
bool pj_ensure_indexes(pj_ctx_t *ctx, hl_error_t *err);

/* Create the indexes of logical model on collection (idempotent). */
bool pj_ensure_model_indexes(pj_ctx_t *ctx, const char *model, const char *collection,
                             hl_error_t *err);

/* Guarded upsert on collection of db: update_one(filter, update, {upsert: true}). A duplicate-key
 * error (E11000) is tried once more (another process may have inserted the same _id between this
 * upsert's read and its insert: FerretDB 1.x); a second E11000 means the guard did not match
 * because the stored document is as new or newer: *applied is false and the call succeeds. Other
 * errors fill err (HL_ERR_MONGO) and return false. db is borrowed; use it from one thread at a time
 * (mongoc clients are not thread-safe). */
bool pj_upsert_guarded(mongoc_database_t *db, const char *collection, const bson_t *filter,
                       const bson_t *update, bool *applied, hl_error_t *err);

/* Advance the read-your-writes watermark "<input>:<key>" to at least version ($max upsert in
 * `watermarks`, hl/consistency.h). Call only after the read-model write was acknowledged. */
bool pj_watermark_advance(pj_ctx_t *ctx, const char *input, const char *key, int64_t version,
                          hl_error_t *err);

/* Record the lag of a projection: now - source_ms (event or commit time, ms since epoch). */
void pj_observe_lag(const char *projection, int64_t source_ms);

/* The lag pj_observe_lag last recorded for projection, ms; -1 when none yet. Thread-safe. */
int64_t pj_last_lag_ms(const char *projection);

/* Create every projection's dead-letter counter at 0, so /metrics shows it from the start. */
void pj_metrics_init(void);

/* Produce msg to the dead-letter topic with the reason in headers and wait for the broker's
 * acknowledgement (up to ctx->dlq_wait_ms, default 10 s; the message stays queued in
 * librdkafka after a timeout, and the caller retries, so a dead letter may be written twice).
 * ctx->dlq_producer must have pj_dead_letter_report as its delivery-report callback and ctx as
 * its opaque. Errors: HL_ERR_KAFKA (produce refused, delivery failed or timed out). */
bool pj_dead_letter(pj_ctx_t *ctx, const rd_kafka_message_t *msg, const char *projection,
                    const hl_error_t *reason, hl_error_t *err);

/* The dead-letter producer's delivery-report callback (rd_kafka_conf_set_dr_msg_cb; opaque:
 * the pj_ctx_t, rd_kafka_conf_set_opaque): completes the wait of pj_dead_letter when the report
 * is for the message it waits for, else counts a late report in ctx->dlq_late. */
void pj_dead_letter_report(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);

#endif
