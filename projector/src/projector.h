/* projector.h: the projector's configuration and process state (pj_ctx_t) and the outcome of
 * applying one input. One consumer thread applies messages in partition order; an HTTP thread
 * pool serves /healthz, /readyz and /metrics. The loop's pieces have their own headers:
 * routes.h (topic → projection, apply), plan_exec.h (plans → MongoDB), write_guard.h (guarded
 * upserts, watermarks), indexes.h, schema_cache.h, dead_letter.h, lag.h. */
#ifndef PJ_PROJECTOR_H
#define PJ_PROJECTOR_H

#include "plan.h"

#include "hl/aliases.h"
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
    struct pj_schema_cache *schemas; /* schema_cache.h */
    hl_alias_table_t aliases;        /* read-model aliases (hl/aliases.h), pj_aliases_refresh */
    int64_t aliases_at_ms;           /* monotonic time of the last refresh */
    /* rebuild mode: only operations on rebuild_model run, into rebuild_collection; no
     * watermarks are written */
    const char *rebuild_model;
    char rebuild_collection[HL_ALIAS_NAME_MAX];
    /* dead letters (dead_letter.c): the message pj_dead_letter waits for carries dlq_seq as its
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

#endif
