/* stream_presence.c: the listener's connection facts (SPEC §8, presence from connections).
 * Each listener process is one instance (a UUIDv7 drawn at start); it produces to
 * cfg.connections_topic (schemas/StreamConnection.avsc, registered as
 * "<topic>-value", Kafka key = the instance id so its facts keep their order):
 *   connect / disconnect: a user's first stream connection here opened (an SSE stream that
 *       started, a WebSocket that was accepted) or their last one closed (open 1 / 0): only
 *       those change presence, so a user with 10,000 streams costs two facts, not 20,000;
 *   heartbeat: every cfg.presence_beat_ms, the instance's totals.
 * The projector derives presence from them (projector/src/presence.h). The loop thread keeps
 * the per-user counts and produces connect/disconnect (rd_kafka_produce never blocks); a
 * thread of its own produces heartbeats and serves delivery reports. The producer is
 * idempotent with acks=all and no message timeout: a fact is retried until the broker has it
 * or the process dies (then its heartbeats stop, which is the fact that counts). */
#include "stream_app.h"
#include "stream_presence.h"

#include "hl/events.h"
#include "hl/kafka.h"
#include "hl/log.h"
#include "hl/mem.h"
#include "hl/metrics.h"
#include "hl/schema_registry.h"
#include "hl/util.h"

#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>

#define USER_BUCKETS 8192

typedef struct user_count {
    struct user_count *next;
    char user[40];
    int64_t open;
} user_count_t;

static struct {
    st_app_t *app;
    rd_kafka_t *rk;
    rd_kafka_topic_t *topic;
    hl_event_catalog_t *catalog;
    hl_topic_schema_t *schema;
    char listener_id[40];
    int64_t started_us;
    atomic_llong seq;
    atomic_llong connections, users;
    user_count_t *buckets[USER_BUCKETS]; /* loop thread only */
    pthread_t thread;
    bool running;
} g_pr;

static void count(const char *name, const char *labels, const char *help)
{
    hl_metric_add(hl_metric_get(HL_METRIC_COUNTER, name, labels, help), 1);
}

/* Produce one fact (any thread; never blocks). */
static void produce(const char *kind, const char *user, int64_t open, int64_t users)
{
    hl_event_t ev;
    hl_error_t err = {0};
    uint8_t *body = NULL, *frame = NULL;
    size_t blen = 0, flen = 0;
    if (!g_pr.rk || !hl_event_init(&ev, g_pr.catalog, "StreamConnection", &err)) {
        if (g_pr.rk)
            HL_WARN("presence fact: %s", err.message);
        return;
    }
    bool ok = hl_avro_set_string(&ev.record, "listener_id", g_pr.listener_id, &err) &&
              hl_avro_set_long(&ev.record, "seq", atomic_fetch_add(&g_pr.seq, 1) + 1, &err) &&
              hl_avro_set_string(&ev.record, "kind", kind, &err) &&
              hl_avro_set_string(&ev.record, "user_id", user, &err) &&
              hl_avro_set_long(&ev.record, "open", open, &err) &&
              hl_avro_set_long(&ev.record, "users", users, &err) &&
              hl_avro_set_long(&ev.record, "at", hl_now_us(), &err) &&
              hl_avro_set_long(&ev.record, "started_at", g_pr.started_us, &err) &&
              hl_event_serialize(&ev, &body, &blen, &err) &&
              hl_confluent_frame(g_pr.schema->schema_id, body, blen, &frame, &flen, &err);
    free(body);
    hl_event_destroy(&ev);
    if (!ok) {
        HL_WARN("presence fact: %s", err.message);
        return;
    }
    if (rd_kafka_produce(g_pr.topic, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_FREE, frame, flen,
                         g_pr.listener_id, strlen(g_pr.listener_id), NULL) != 0) {
        /* only when librdkafka's queue is full (100,000 facts unsent): the broker is away */
        free(frame);
        count("hl_stream_presence_facts_dropped_total", NULL,
              "Connection facts dropped because the producer queue was full");
        HL_WARN("presence fact %s dropped: %s", kind, rd_kafka_err2str(rd_kafka_last_error()));
        return;
    }
    char labels[32];
    snprintf(labels, sizeof labels, "kind=\"%s\"", kind);
    count("hl_stream_presence_facts_total", labels, "Connection facts produced");
}

static void dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err)
        HL_WARN("presence fact not delivered: %s", rd_kafka_err2str(m->err));
}

static void *beat_main(void *arg)
{
    (void)arg;
    int64_t next = 0;
    while (!atomic_load(&g_pr.app->stopping)) {
        if (hl_mono_ms() >= next) {
            produce("heartbeat", "", atomic_load(&g_pr.connections), atomic_load(&g_pr.users));
            next = hl_mono_ms() + g_pr.app->cfg.presence_beat_ms;
        }
        rd_kafka_poll(g_pr.rk, 100);
    }
    return NULL;
}

bool st_presence_start(st_app_t *app, hl_error_t *err)
{
    hl_schema_registry_t *reg = NULL;
    rd_kafka_conf_t *conf = NULL;
    char errstr[512];
    g_pr.app = app;
    if (!app->cfg.connections_topic[0]) {
        HL_INFO("presence: no connections topic, no connection facts");
        return true;
    }
    hl_uuid_v7(g_pr.listener_id);
    g_pr.started_us = hl_now_us();
    if (!(g_pr.catalog = hl_event_catalog_load(app->cfg.schemas_dir, err)))
        goto fail;
    if (!(g_pr.schema = hl_event_catalog_topic(g_pr.catalog, app->cfg.connections_topic))) {
        hl_error_set(err, HL_ERR_CONFIG, 0, "topics.json declares no topic %s",
                     app->cfg.connections_topic);
        goto fail;
    }
    if (!(reg = hl_schema_registry_new(app->cfg.schema_registry_url, 5000, err)) ||
        !hl_schema_registry_publish(reg, g_pr.schema->subject, g_pr.schema->schema_json, "BACKWARD",
                                    hl_mono_ms() + app->cfg.registry_wait_s * 1000,
                                    &g_pr.schema->schema_id, err))
        goto fail;
    if (!(conf = hl_kafka_conf_new(app->cfg.kafka_brokers, "hearlers-stream-presence", err)) ||
        !hl_kafka_set(conf, "enable.idempotence", "true", err) ||
        !hl_kafka_set(conf, "acks", "all", err) ||
        !hl_kafka_set(conf, "message.timeout.ms", "0", err) ||
        !hl_kafka_set(conf, "linger.ms", "5", err))
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, dr);
    if (!(g_pr.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr))) {
        hl_error_set(err, HL_ERR_KAFKA, 0, "presence producer: %s", errstr);
        goto fail;
    }
    conf = NULL; /* owned by the producer */
    g_pr.topic = rd_kafka_topic_new(g_pr.rk, app->cfg.connections_topic, NULL);
    hl_schema_registry_destroy(reg);
    reg = NULL;
    if (pthread_create(&g_pr.thread, NULL, beat_main, NULL) != 0) {
        hl_error_set(err, HL_ERR_SYSTEM, 0, "cannot start the presence thread");
        goto fail;
    }
    g_pr.running = true;
    HL_INFO("presence: instance %s, facts to %s (schema id %d), heartbeat every %lld ms",
            g_pr.listener_id, app->cfg.connections_topic, g_pr.schema->schema_id,
            app->cfg.presence_beat_ms);
    return true;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    hl_schema_registry_destroy(reg);
    return false;
}

/* The count of user (created at 0 when absent and create). */
static user_count_t **slot_of(const char *user)
{
    user_count_t **pp = &g_pr.buckets[hl_fnv1a32(user) % USER_BUCKETS];
    for (; *pp; pp = &(*pp)->next)
        if (!strcmp((*pp)->user, user))
            break;
    return pp;
}

void st_presence_open(const char *user)
{
    user_count_t **pp = slot_of(user);
    if (!*pp) {
        *pp = hl_xcalloc(1, sizeof **pp);
        snprintf((*pp)->user, sizeof(*pp)->user, "%s", user);
        atomic_fetch_add(&g_pr.users, 1);
    }
    int64_t open = ++(*pp)->open;
    atomic_fetch_add(&g_pr.connections, 1);
    if (open == 1) /* only the first one changes presence: one fact, not one per connection */
        produce("connect", user, open, 0);
}

void st_presence_close(const char *user)
{
    user_count_t **pp = slot_of(user);
    if (!*pp)
        return;
    int64_t open = --(*pp)->open;
    atomic_fetch_sub(&g_pr.connections, 1);
    if (open <= 0) {
        user_count_t *u = *pp;
        *pp = u->next;
        free(u);
        atomic_fetch_sub(&g_pr.users, 1);
        produce("disconnect", user, 0, 0); /* the last one closed */
    }
}

void st_presence_stop(st_app_t *app)
{
    (void)app;
    if (g_pr.running) {
        pthread_join(g_pr.thread, NULL); /* app->stopping is set */
        g_pr.running = false;
    }
    if (g_pr.rk) {
        /* the disconnects of the closed connections, then a last heartbeat is not needed:
         * the projector's grace period runs from those closes */
        if (rd_kafka_flush(g_pr.rk, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
            HL_WARN("presence: %d facts unsent at exit", rd_kafka_outq_len(g_pr.rk));
        rd_kafka_topic_destroy(g_pr.topic);
        rd_kafka_destroy(g_pr.rk);
        g_pr.rk = NULL;
    }
    for (size_t b = 0; b < USER_BUCKETS; b++)
        for (user_count_t *u = g_pr.buckets[b]; u;) {
            user_count_t *n = u->next;
            free(u);
            u = n;
        }
    memset(g_pr.buckets, 0, sizeof g_pr.buckets);
    hl_event_catalog_destroy(g_pr.catalog);
    g_pr.catalog = NULL;
}
