/* projector: consumes Debezium CDC and Avro domain events from Kafka and maintains the MongoDB
 * read models. Offsets are stored only after MongoDB acknowledged the write (or the input was
 * dead-lettered) and committed from the stored positions, so a crash replays, never skips. */
#include "cli.h"
#include "projector.h"
#include "feed.h"
#include "presence.h"
#include "schema_cache.h"
#include "routes.h"
#include "plan_exec.h"
#include "indexes.h"
#include "lag.h"
#include "dead_letter.h"

#include "hl/config.h"
#include "hl/events.h"
#include "hl/server.h"
#include "hl/http.h"
#include "hl/kafka.h"
#include "hl/log.h"
#include "hl/metrics.h"
#include "hl/signals.h"
#include "hl/trace.h"
#include "hl/util.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HL_CONFIG_TYPE pj_config_t
static const hl_config_option_t options[] = {
    HL_CONFIG_STRING(http_listen, "http-listen", "HL_PROJECTOR_LISTEN", "127.0.0.1:8082",
                     "address:port for /healthz, /readyz, /metrics"),
    HL_CONFIG_INT(http_threads, "http-threads", "HL_PROJECTOR_THREADS", 4, 1, 64,
                  "HTTP worker threads"),
    HL_CONFIG_STRING(kafka_brokers, "kafka-brokers", "HL_KAFKA_BROKERS", "127.0.0.1:29092",
                     "Kafka bootstrap servers"),
    HL_CONFIG_STRING(kafka_overrides, "kafka-overrides", "HL_KAFKA_CONSUMER_OVERRIDES", "",
                     "extra librdkafka consumer properties k=v,k=v"),
    HL_CONFIG_STRING(group_id, "group-id", "HL_PROJECTOR_GROUP", "hearlers-projector",
                     "Kafka consumer group"),
    HL_CONFIG_STRING(dlq_topic, "dlq-topic", "HL_PROJECTOR_DLQ_TOPIC", "projector.dead-letter",
                     "dead-letter topic"),
    HL_CONFIG_MONGO_OPTIONS,
    HL_CONFIG_STRING_V(schema_registry_url, "schema-registry-url", "HL_SCHEMA_REGISTRY_URL",
                       "http://127.0.0.1:28081/apis/ccompat/v7", hl_config_valid_http_url,
                       "Confluent-compatible schema registry base URL"),
    HL_CONFIG_SECRET(pg_url, "pg-url", "HL_PG_URL", "",
                     "PostgreSQL conninfo of the command side (rebuilds from the events table)"),
    HL_CONFIG_INT(max_lag_ms, "max-lag-ms", "HL_PROJECTOR_MAX_LAG_MS", 30000, 1, 86400000,
                  "/readyz fails while a projection lags more than this, ms"),
    HL_CONFIG_INT(
        writers, "writers", "HL_PROJECTOR_WRITERS", 4, 1, 16,
        "read-model collections written at the same time per batch (1 = one after the other)"),
    HL_CONFIG_INT(batch_linger_ms, "batch-linger-ms", "HL_PROJECTOR_BATCH_LINGER_MS", 10, 0, 1000,
                  "after a batch's first input, wait this long for more before writing it, ms (0: "
                  "take only what is already fetched): fewer, larger bulk writes per input under "
                  "load, at most this much more lag"),
    HL_CONFIG_STRING(feed_topic, "feed-topic", "HL_STREAM_FEED_TOPIC", "stream.changes",
                     "change-feed topic for the stream listeners (empty: no feed)"),
    HL_CONFIG_STRING(schemas_dir, "schemas-dir", "HL_SCHEMAS_DIR", HL_DEFAULT_SCHEMAS_DIR,
                     "directory holding topics.json and the .avsc files"),
    HL_CONFIG_INT(
        presence_grace_ms, "presence-grace-ms", "HL_PRESENCE_GRACE_MS", 30000, 100, 3600000,
        "a user turns offline this long after their last stream connection closed or its listener "
        "stopped heart-beating, ms (longer than the listeners' heartbeat interval)"),
    HL_CONFIG_LOG_OPTIONS,
};
#define NOPTS (sizeof options / sizeof options[0])

/* Messages between the consumer's position and the high watermark, per route (behind[i] for
 * pj_routes[i]) and in total (the return value); -1 when the assignment is unknown. A partition
 * not consumed since start has no position yet: its committed offset stands in. */
static int64_t offsets_behind(pj_ctx_t *ctx, int64_t *behind, size_t nroutes)
{
    for (size_t i = 0; i < nroutes; i++)
        behind[i] = 0;
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(ctx->consumer, &parts) || !parts)
        return -1;
    rd_kafka_position(ctx->consumer, parts);
    rd_kafka_topic_partition_list_t *committed = NULL;
    for (int i = 0; i < parts->cnt; i++)
        if (parts->elems[i].offset < 0) {
            committed = rd_kafka_topic_partition_list_copy(parts);
            if (rd_kafka_committed(ctx->consumer, committed, 2000)) {
                rd_kafka_topic_partition_list_destroy(committed);
                committed = NULL;
            }
            break;
        }
    int64_t total = 0;
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t lo = 0, hi = 0;
        if (rd_kafka_get_watermark_offsets(ctx->consumer, p->topic, p->partition, &lo, &hi))
            continue;
        int64_t pos = p->offset;
        if (pos < 0 && committed) {
            rd_kafka_topic_partition_t *c =
                rd_kafka_topic_partition_list_find(committed, p->topic, p->partition);
            pos = c ? c->offset : -1;
        }
        if (pos < 0)
            pos = lo;
        if (hi <= pos)
            continue;
        total += hi - pos;
        for (size_t r = 0; r < nroutes; r++)
            if (!strcmp(pj_routes[r].topic, p->topic))
                behind[r] += hi - pos;
    }
    if (committed)
        rd_kafka_topic_partition_list_destroy(committed);
    rd_kafka_topic_partition_list_destroy(parts);
    return total;
}

#define MAX_ROUTES 32

static size_t nroutes(void)
{
    size_t n = 0;
    while (pj_routes[n].topic && n < MAX_ROUTES)
        n++;
    return n;
}

/* hl_projector_offsets_behind per projection, then the total. */
static size_t collect_offsets(char *buf, size_t cap, void *arg)
{
    pj_ctx_t *ctx = arg;
    int64_t behind[MAX_ROUTES];
    size_t n = nroutes(), used = 0;
    int64_t total = offsets_behind(ctx, behind, n);
    int w = snprintf(buf, cap,
                     "# HELP hl_projector_offsets_behind Messages between the consumer position "
                     "and the high watermark of the assigned partitions, per projection\n"
                     "# TYPE hl_projector_offsets_behind gauge\n");
    if (w > 0 && (size_t)w < cap)
        used = (size_t)w;
    for (size_t r = 0; r < n && total >= 0; r++) {
        w = snprintf(buf + used, cap - used,
                     "hl_projector_offsets_behind{projection=\"%s\"} %lld\n",
                     pj_routes[r].projection, (long long)behind[r]);
        if (w > 0 && (size_t)w < cap - used)
            used += (size_t)w;
    }
    w = snprintf(buf + used, cap - used, "hl_projector_offsets_behind %lld\n", (long long)total);
    if (w > 0 && (size_t)w < cap - used)
        used += (size_t)w;
    return used;
}

/* Ready when Kafka answers and no projection with input waiting lags more than --max-lag-ms
 * (the lag of its last applied input). The answer names the projections that lag. */
static void handle_readyz(hl_http_request_t *req)
{
    pj_ctx_t *ctx = req->app;
    const struct rd_kafka_metadata *md = NULL;
    bool kafka_ok = rd_kafka_metadata(ctx->consumer, 0, NULL, &md, 1000) == 0;
    if (md)
        rd_kafka_metadata_destroy(md);
    int64_t behind[MAX_ROUTES];
    size_t n = nroutes();
    int64_t total = offsets_behind(ctx, behind, n);
    bson_t doc = BSON_INITIALIZER, projections, lagging;
    bool lag_ok = true;
    long long worst = 0;
    BSON_APPEND_DOCUMENT_BEGIN(&doc, "projections", &projections);
    for (size_t r = 0; r < n; r++) {
        bson_t p;
        int64_t lag = pj_last_lag_ms(pj_routes[r].projection);
        bool waiting = total >= 0 && behind[r] > 0;
        bool lags = waiting && lag > ctx->cfg.max_lag_ms;
        if (waiting && lag > worst)
            worst = lag;
        lag_ok = lag_ok && !lags;
        BSON_APPEND_DOCUMENT_BEGIN(&projections, pj_routes[r].projection, &p);
        BSON_APPEND_INT64(&p, "offsets_behind", behind[r]);
        if (lag >= 0)
            BSON_APPEND_INT64(&p, "lag_ms", lag);
        else
            BSON_APPEND_NULL(&p, "lag_ms");
        BSON_APPEND_BOOL(&p, "ready", !lags);
        bson_append_document_end(&projections, &p);
    }
    bson_append_document_end(&doc, &projections);
    BSON_APPEND_ARRAY_BEGIN(&doc, "lagging", &lagging);
    for (size_t r = 0, k = 0; r < n; r++) {
        int64_t lag = pj_last_lag_ms(pj_routes[r].projection);
        if (total >= 0 && behind[r] > 0 && lag > ctx->cfg.max_lag_ms) {
            char key[16];
            snprintf(key, sizeof key, "%zu", k++);
            BSON_APPEND_UTF8(&lagging, key, pj_routes[r].projection);
        }
    }
    bson_append_array_end(&doc, &lagging);
    bool ready = kafka_ok && lag_ok;
    BSON_APPEND_UTF8(&doc, "status", ready ? "ready" : "not-ready");
    BSON_APPEND_BOOL(&doc, "kafka", kafka_ok);
    BSON_APPEND_INT64(&doc, "offsets_behind", total);
    BSON_APPEND_INT64(&doc, "max_lag_ms", worst);
    BSON_APPEND_INT64(&doc, "max_lag_ms_allowed", ctx->cfg.max_lag_ms);
    hl_http_reply_json(req, ready ? 200 : 503, &doc, NULL);
    bson_destroy(&doc);
}

static const hl_http_route_t http_routes[] = {
    {"GET", "/healthz", hl_server_handle_healthz},
    {"GET", "/readyz", handle_readyz},
    {"GET", "/metrics", hl_server_handle_metrics},
};

/* Rebalances (eager protocol, the range assignor: consumer_new). Called by librdkafka only from
 * inside rd_kafka_consumer_poll, i.e. on the consumer thread between batches or in a retry wait
 * (retry_wait), never while a batch's writes run. On a revoke every offset stored so far (only
 * ever after the store acknowledged the write, store_offset) is committed synchronously before
 * the partitions go, so the next owner starts right after what this process applied; and
 * ctx->revocations moves on, so that a batch whose retry wait served the revoke is abandoned
 * (flush_batch) instead of being written by this process while the new owner writes the same
 * documents. Its inputs are re-read by whoever owns their partitions now (all writes are
 * idempotent), so nothing is skipped and nothing counts twice. */
static void rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t why,
                      rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    pj_ctx_t *ctx = opaque;
    if (why == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        HL_INFO("rebalance: %d partitions assigned", parts->cnt);
        rd_kafka_assign(rk, parts);
        /* librdkafka keeps an application pause on the partition object across unassign and
         * assign (its assignment code clears only its own rebalance pause): a partition that
         * retry_wait paused when a revoke abandoned the batch would come back paused and never
         * be fetched again (issue 17, stop:kafka: "42 partitions assigned", then nothing). A
         * new assignment always starts fetching. */
        rd_kafka_resume_partitions(rk, parts);
        return;
    }
    ctx->revocations++;
    rd_kafka_resp_err_t kerr = rd_kafka_commit(rk, NULL, 0);
    if (kerr && kerr != RD_KAFKA_RESP_ERR__NO_OFFSET)
        HL_WARN("rebalance: committing stored offsets before the revoke: %s (the next owner "
                "re-applies from the previous commit; the writes are idempotent)",
                rd_kafka_err2str(kerr));
    HL_INFO("rebalance: %d partitions revoked (%s)", parts->cnt, rd_kafka_err2str(why));
    /* a partition a retry wait paused stays paused here: whichever assignment brings it back
     * resumes it (above) */
    rd_kafka_assign(rk, NULL);
}

static rd_kafka_t *consumer_new(pj_ctx_t *ctx, hl_error_t *err)
{
    rd_kafka_conf_t *conf = hl_kafka_conf_new(ctx->cfg.kafka_brokers, "hearlers-projector", err);
    if (!conf)
        return NULL;
    if (!hl_kafka_set(conf, "group.id", ctx->cfg.group_id, err) ||
        !hl_kafka_set(conf, "enable.auto.offset.store", "false", err) ||
        !hl_kafka_set(conf, "enable.auto.commit", "true", err) ||
        !hl_kafka_set(conf, "auto.commit.interval.ms", "1000", err) ||
        !hl_kafka_set(conf, "auto.offset.reset", "earliest", err) ||
        !hl_kafka_set(conf, "isolation.level", "read_committed", err) ||
        /* a projector that died is noticed after 10 s (default 45), so its restart (or another
         * member) takes its partitions over that much sooner; librdkafka heartbeats from its own
         * thread, so a slow batch does not count against it */
        !hl_kafka_set(conf, "session.timeout.ms", "10000", err) ||
        !hl_kafka_set(conf, "heartbeat.interval.ms", "3000", err) ||
        /* the broker answers a fetch as soon as one record is there (fetch.min.bytes 1); cap
         * its wait on idle partitions at 100 ms (default 500) so that a fetch that started just
         * before new input does not hold that input back */
        !hl_kafka_set(conf, "fetch.wait.max.ms", "100", err) ||
        !hl_kafka_set(conf, "topic.metadata.refresh.interval.ms", "10000", err) ||
        !hl_kafka_set(conf, "allow.auto.create.topics", "true", err) ||
        /* the range assignor gives partition p of every topic to the same member: the event
         * topics keyed by one aggregate id (a room's chat.events and message.events, a user's
         * user.events and notification.events; equal partition counts, deploy/topics.conf) are
         * then applied by one process, so a document they share has one writer */
        !hl_kafka_set(conf, "partition.assignment.strategy", "range", err) ||
        !hl_kafka_set_overrides(conf, ctx->cfg.kafka_overrides, err)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_rebalance_cb(conf, rebalance);
    rd_kafka_conf_set_opaque(conf, ctx);
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        hl_error_set(err, HL_ERR_KAFKA, 0, "consumer: %s", errstr);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(8);
    for (const pj_route_t *r = pj_routes; r->topic; r++)
        rd_kafka_topic_partition_list_add(topics, r->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t kerr = rd_kafka_subscribe(rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (kerr) {
        rd_kafka_destroy(rk);
        hl_error_set(err, HL_ERR_KAFKA, kerr, "subscribe: %s", rd_kafka_err2str(kerr));
        return NULL;
    }
    return rk;
}

static rd_kafka_t *dlq_producer_new(pj_ctx_t *ctx, hl_error_t *err)
{
    rd_kafka_conf_t *conf =
        hl_kafka_conf_new(ctx->cfg.kafka_brokers, "hearlers-projector-dlq", err);
    if (!conf)
        return NULL;
    if (!hl_kafka_set(conf, "enable.idempotence", "true", err) ||
        !hl_kafka_set(conf, "acks", "all", err)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, pj_dead_letter_report);
    rd_kafka_conf_set_opaque(conf, ctx);
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        hl_error_set(err, HL_ERR_KAFKA, 0, "dead-letter producer: %s", errstr);
    }
    return rk;
}

static void count_result(const char *projection, pj_result_t rc)
{
    static const char *names[] = {"applied", "skipped", "dead_lettered", "retried"};
    char labels[128];
    snprintf(labels, sizeof labels, "projection=\"%s\",result=\"%s\"",
             projection ? projection : "unknown", names[rc]);
    hl_metric_add(hl_metric_get(HL_METRIC_COUNTER, "hl_projection_inputs_total", labels,
                                "Inputs handled by a projection, by result"),
                  1);
}

/* Store the offset after msg (the next input of its partition). */
static void store_offset(pj_ctx_t *ctx, const rd_kafka_message_t *msg)
{
    const char *topic = rd_kafka_topic_name(msg->rkt);
    rd_kafka_topic_partition_list_t *pos = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(pos, topic, msg->partition)->offset = msg->offset + 1;
    rd_kafka_resp_err_t kerr = rd_kafka_offsets_store(ctx->consumer, pos);
    if (kerr)
        HL_WARN("offsets_store %s[%d]: %s", topic, (int)msg->partition, rd_kafka_err2str(kerr));
    rd_kafka_topic_partition_list_destroy(pos);
}

/* Wait backoff_ms before a retry while staying in the consumer group. librdkafka takes a
 * consumer that has not polled for max.poll.interval.ms (default 300 s) out of the group, which
 * then re-reads every input since the last commit once the store is back. So the first wait of a
 * retry pauses every assigned partition (librdkafka drops what it had fetched for them and fetches
 * nothing more) and each wait polls: that keeps the membership and serves rebalances, and returns
 * no input. Should one arrive anyway, its partition is sought back to it, so it is delivered again
 * after resume_consumption. *paused tracks the pause (start false). Returns true on shutdown and
 * when a poll served a revoke (batch_lost): the caller then abandons its batch. */
static bool batch_lost(const pj_ctx_t *ctx)
{
    return ctx->revocations != ctx->batch_revocations;
}

static bool retry_wait(pj_ctx_t *ctx, bool *paused, long backoff_ms)
{
    if (!*paused) {
        rd_kafka_topic_partition_list_t *parts = NULL;
        if (!rd_kafka_assignment(ctx->consumer, &parts) && parts) {
            rd_kafka_pause_partitions(ctx->consumer, parts);
            rd_kafka_topic_partition_list_destroy(parts);
        }
        *paused = true;
    }
    for (int64_t end = hl_mono_ms() + backoff_ms; !hl_shutdown_requested();) {
        if (batch_lost(ctx))
            return true;
        int64_t left = end - hl_mono_ms();
        if (left <= 0)
            return false;
        rd_kafka_message_t *msg =
            rd_kafka_consumer_poll(ctx->consumer, left < 100 ? (int)left : 100);
        if (!msg)
            continue;
        if (!msg->err && msg->rkt) {
            rd_kafka_topic_partition_list_t *back = rd_kafka_topic_partition_list_new(1);
            rd_kafka_topic_partition_list_add(back, rd_kafka_topic_name(msg->rkt), msg->partition)
                ->offset = msg->offset;
            rd_kafka_error_t *e = rd_kafka_seek_partitions(ctx->consumer, back, 5000);
            if (e) {
                HL_WARN("seek back to %s[%d]@%lld: %s", rd_kafka_topic_name(msg->rkt),
                        (int)msg->partition, (long long)msg->offset, rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
            }
            rd_kafka_topic_partition_list_destroy(back);
        }
        rd_kafka_message_destroy(msg);
    }
    return true;
}

/* Undo retry_wait's pause: every assigned partition fetches again from its position. */
static void resume_consumption(pj_ctx_t *ctx, bool *paused)
{
    if (!*paused)
        return;
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (!rd_kafka_assignment(ctx->consumer, &parts) && parts) {
        rd_kafka_resume_partitions(ctx->consumer, parts);
        rd_kafka_topic_partition_list_destroy(parts);
    }
    *paused = false;
}

/* Apply msg until it is applied, skipped or dead-lettered; then store its offset. Returns false
 * only when shutdown or a revoke interrupted a retry (the offset is then not stored: it will be
 * replayed, by this process or the partition's new owner). */
static bool handle_message(pj_ctx_t *ctx, rd_kafka_message_t *msg)
{
    const char *topic = rd_kafka_topic_name(msg->rkt);
    const pj_route_t *route = pj_route_find(topic);
    const char *projection = route ? route->projection : "unknown";
    long backoff = 100;
    bool paused = false;
    for (;;) {
        hl_error_t err = {0};
        pj_result_t rc = pj_apply(ctx, msg, &err);
        count_result(projection, rc);
        if (rc == PJ_POISON) {
            hl_error_t derr = {0};
            if (!pj_dead_letter(ctx, msg, projection, &err, &derr)) {
                HL_ERROR("cannot dead-letter %s[%d]@%lld: %s; retrying", topic, (int)msg->partition,
                         (long long)msg->offset, derr.message);
                rc = PJ_RETRY;
            }
        }
        if (rc != PJ_RETRY)
            break;
        HL_WARN("%s[%d]@%lld: %s; retrying in %ld ms", topic, (int)msg->partition,
                (long long)msg->offset, err.message, backoff);
        if (retry_wait(ctx, &paused, backoff))
            return false;
        backoff = backoff < 5000 ? backoff * 2 : 5000;
    }
    resume_consumption(ctx, &paused);
    store_offset(ctx, msg);
    return true;
}

/* Inputs consumed per batch at most: one bulk write per collection per batch. */
#define BATCH_MAX 500

/* One poll batch: msgs[0..n) in consumption order, their plans and planning results. */
typedef struct {
    rd_kafka_message_t *msgs[BATCH_MAX];
    pj_plan_t plans[BATCH_MAX];
    pj_result_t rc[BATCH_MAX];
    size_t n;
    /* projector.apply of inputs whose Kafka record carries a traceparent (traced[i]) */
    hl_span_t spans[BATCH_MAX];
    bool traced[BATCH_MAX];
} batch_t;

/* Start input i's apply span at start_ns (0: now) when it has a trace context: row_tp (a
 * captured row's traceparent column) or else its record's traceparent header (the outbox's). */
static void apply_span_start(batch_t *b, size_t i, const char *row_tp, int64_t start_ns)
{
    rd_kafka_headers_t *h = NULL;
    const void *v = NULL;
    size_t len = 0;
    char tp[HL_TRACE_PARENT_LEN + 1];
    hl_trace_ctx_t parent;
    b->traced[i] = false;
    if (row_tp) {
        snprintf(tp, sizeof tp, "%s", row_tp);
    } else {
        if (rd_kafka_message_headers(b->msgs[i], &h) != 0 || !h ||
            rd_kafka_header_get_last(h, "traceparent", &v, &len) != 0 || !v ||
            len != HL_TRACE_PARENT_LEN)
            return;
        memcpy(tp, v, len);
        tp[len] = '\0';
    }
    if (!hl_trace_parse(tp, &parent))
        return;
    hl_span_start(&b->spans[i], "projector.apply", HL_SPAN_CONSUMER, &parent, start_ns);
    hl_span_attr_str(&b->spans[i], "messaging.source.name", rd_kafka_topic_name(b->msgs[i]->rkt));
    hl_span_attr_int(&b->spans[i], "messaging.kafka.offset", b->msgs[i]->offset);
    b->traced[i] = true;
}

/* End input i's apply span (outcome: why it ended other than applied, or NULL). */
static void apply_span_end(batch_t *b, size_t i, const char *outcome)
{
    if (!b->traced[i])
        return;
    b->traced[i] = false;
    if (outcome)
        hl_span_error(&b->spans[i], outcome);
    hl_span_end(&b->spans[i], 0);
}

/* Execute the planned inputs msgs[from..to) of b, retrying the whole batch until MongoDB
 * acknowledged every write (all writes are idempotent), then store their offsets. Returns false
 * when shutdown or a revoke during a retry wait interrupted (nothing stored: the inputs will be
 * consumed again, by this process or by their partitions' new owners). */
static bool flush_batch(pj_ctx_t *ctx, batch_t *b, size_t from, size_t to)
{
    const pj_plan_t *plans[BATCH_MAX];
    size_t nplans = 0;
    for (size_t i = from; i < to; i++)
        if (b->rc[i] == PJ_APPLIED)
            plans[nplans++] = &b->plans[i];
    long backoff = 100;
    bool paused = false;
    if (nplans) {
        hl_error_t aerr = {0};
        if (!pj_aliases_refresh(ctx, 1000, &aerr))
            HL_WARN("%s (keeping the previous aliases)", aerr.message);
    }
    int64_t write_ns = hl_trace_now_ns();
    for (;;) {
        hl_error_t err = {0};
        if (!nplans || pj_plans_execute(ctx, plans, nplans, &err))
            break;
        for (size_t i = from; i < to; i++)
            if (b->rc[i] == PJ_APPLIED)
                count_result(pj_route_find(rd_kafka_topic_name(b->msgs[i]->rkt))->projection,
                             PJ_RETRY);
        HL_WARN("batch of %zu inputs: %s; retrying in %ld ms", nplans, err.message, backoff);
        if (retry_wait(ctx, &paused, backoff))
            return false;
        backoff = backoff < 5000 ? backoff * 2 : 5000;
    }
    /* each traced input's share of the batch's MongoDB write: the write that carried it */
    for (size_t i = from; i < to; i++) {
        if (!b->traced[i] || b->rc[i] != PJ_APPLIED)
            continue;
        hl_span_t w;
        hl_span_start(&w, "mongodb.write", HL_SPAN_CLIENT, &b->spans[i].ctx, write_ns);
        hl_span_attr_str(&w, "db.system", "mongodb");
        hl_span_attr_int(&w, "hl.batch_inputs", (int64_t)nplans);
        hl_span_attr_int(&w, "hl.operations", (int64_t)b->plans[i].n);
        hl_span_end(&w, 0);
    }
    /* the change feed, after MongoDB acknowledged the batch and before its offsets are stored
     * (feed.h); a failure retries the publish only: the writes are done */
    for (backoff = 100; nplans && ctx->feed;) {
        hl_error_t err = {0};
        if (pj_feed_publish(ctx->feed, plans, nplans, 10000, &err))
            break;
        HL_WARN("change feed of %zu inputs: %s; retrying in %ld ms", nplans, err.message, backoff);
        if (retry_wait(ctx, &paused, backoff))
            return false;
        backoff = backoff < 5000 ? backoff * 2 : 5000;
    }
    resume_consumption(ctx, &paused);
    for (size_t i = from; i < to; i++) {
        const pj_route_t *route = pj_route_find(rd_kafka_topic_name(b->msgs[i]->rkt));
        const char *projection = route ? route->projection : "unknown";
        count_result(projection, b->rc[i]);
        if (b->rc[i] == PJ_APPLIED)
            pj_observe_lag(projection, b->plans[i].source_ms);
        store_offset(ctx, b->msgs[i]);
        apply_span_end(b, i,
                       b->rc[i] == PJ_APPLIED || b->rc[i] == PJ_SKIPPED ? NULL : "dead-lettered");
    }
    return true;
}

/* Plan every input of b (dead-lettering poison at once), execute the plans as one batch, then
 * store the offsets. An input that cannot be planned now (registry unreachable) splits the
 * batch: what came before it is flushed, it is retried alone, the rest goes on. The caller
 * initialised b's plans and destroys them. Returns false when shutdown interrupted. */
static bool handle_batch(pj_ctx_t *ctx, batch_t *b)
{
    size_t start = 0;
    for (size_t i = 0; i < b->n; i++) {
        rd_kafka_message_t *msg = b->msgs[i];
        const char *topic = rd_kafka_topic_name(msg->rkt);
        const pj_route_t *route = pj_route_find(topic);
        hl_error_t err = {0};
        int64_t plan_ns = hl_trace_now_ns();
        apply_span_start(b, i, NULL, 0);
        b->rc[i] =
            route ? pj_route_plan(ctx, route->topic, msg->payload, msg->len, &b->plans[i], &err)
                  : PJ_SKIPPED;
        if (!b->traced[i] && b->plans[i].traceparent[0]) /* a captured row's (CDC) */
            apply_span_start(b, i, b->plans[i].traceparent, plan_ns);
        if (b->traced[i])
            hl_trace_format(&b->spans[i].ctx, b->plans[i].traceparent);
        if (b->rc[i] == PJ_POISON) {
            bool paused = false;
            for (long backoff = 100;;) {
                hl_error_t derr = {0};
                if (pj_dead_letter(ctx, msg, route->projection, &err, &derr))
                    break;
                HL_ERROR("cannot dead-letter %s[%d]@%lld: %s; retrying", topic, (int)msg->partition,
                         (long long)msg->offset, derr.message);
                if (retry_wait(ctx, &paused, backoff))
                    return false;
                backoff = backoff < 5000 ? backoff * 2 : 5000;
            }
            resume_consumption(ctx, &paused);
        } else if (b->rc[i] == PJ_RETRY) {
            apply_span_end(b, i, "not plannable now: applied alone");
            if (!flush_batch(ctx, b, start, i) || !handle_message(ctx, msg))
                return false;
            start = i + 1;
        }
    }
    return flush_batch(ctx, b, start, b->n);
}

int main(int argc, char **argv)
{
    pj_ctx_t ctx;
    memset(&ctx, 0, sizeof ctx);
    static batch_t batch; /* large: not on the stack */
    hl_error_t err = {0};
    int rc = 1;
    hl_http_server_t *http = NULL;
    hl_log_level_t level = HL_LOG_INFO;
    mongoc_uri_t *uri = NULL;
    pj_presence_t *presence = NULL;

    int npos = 0;
    hl_signals_install();
    if (!hl_config_load(options, NOPTS, &ctx.cfg, argc, argv, &npos, &err)) {
        if (hl_config_is_help(&err)) {
            hl_config_usage(stdout, "projector", options, NOPTS);
            fputs(
                "\nSubcommands (same options; without one the projector runs):\n"
                "  projector dlq list               print every dead letter as a JSON line\n"
                "  projector dlq replay [P:O ...]   re-produce dead letters (all, or those at\n"
                "                                   dead-letter partition P, offset O) to their\n"
                "                                   original topic for the projector to apply\n"
                "  projector rebuild <read-model>   rebuild into a shadow collection (from the\n"
                "                                   events table with --pg-url, else the topics),\n"
                "                                   then switch read_model_aliases atomically\n"
                "  projector replay [T:P:O ...]     apply every input topic from its beginning up\n"
                "                                   to end offsets (given, else the high\n"
                "                                   watermarks now) to --mongo-db as the daemon\n"
                "                                   does; prints the ends as "
                "topic:partition:offset\n",
                stdout);
            rc = 0;
        } else {
            fprintf(stderr, "projector: %s\n", err.message);
            rc = 2;
        }
        goto done;
    }
    if (!hl_log_level_parse(ctx.cfg.log_level, &level)) {
        fprintf(stderr, "projector: bad --log-level %s\n", ctx.cfg.log_level);
        rc = 2;
        goto done;
    }
    hl_log_init("projector", level, ctx.cfg.log_json);
    hl_config_log(options, NOPTS, &ctx.cfg);
    if (!hl_trace_init("projector", &err)) {
        HL_ERROR("%s", err.message);
        rc = 2;
        goto done;
    }
    hl_avro_bound_allocations(); /* poison records must not make avro-c allocate gigabytes */
    mongoc_init();
    hl_log_route_mongoc();
    bson_error_t berr;
    if (!(uri = mongoc_uri_new_with_error(ctx.cfg.mongo_uri, &berr))) {
        HL_ERROR("bad --mongo-uri: %s", berr.message);
        rc = 2;
        goto done;
    }
    mongoc_uri_set_option_as_bool(uri, MONGOC_URI_RETRYWRITES, false);
    ctx.mongo = mongoc_client_new_from_uri(uri);
    mongoc_client_set_appname(ctx.mongo, "hearlers-projector");
    ctx.db = mongoc_client_get_database(ctx.mongo, ctx.cfg.mongo_db);
    if (ctx.cfg.writers > 1) {
        /* the consumer thread is one writer (ctx.mongo); the others take pooled clients */
        ctx.write_pool = mongoc_client_pool_new(uri);
        mongoc_client_pool_max_size(ctx.write_pool, (uint32_t)ctx.cfg.writers - 1);
        mongoc_client_pool_set_appname(ctx.write_pool, "hearlers-projector-writer");
    }
    if (!(ctx.registry = hl_schema_registry_new(ctx.cfg.schema_registry_url, 5000, &err)) ||
        !(ctx.schemas = pj_schema_cache_new(ctx.registry))) {
        HL_ERROR("start-up failed: %s", err.message);
        goto done;
    }
    if (npos > 0) {
        rc = pj_cli_main(&ctx, npos, argv + 1);
        goto done;
    }
    for (int64_t deadline = hl_mono_ms() + 60000; !pj_ensure_indexes(&ctx, &err);) {
        if (hl_mono_ms() > deadline || hl_shutdown_requested()) {
            HL_ERROR("MongoDB unavailable: %s", err.message);
            goto done;
        }
        HL_WARN("MongoDB not ready (%s); retrying", err.message);
        hl_sleep_or_shutdown(1000);
    }
    if (ctx.cfg.feed_topic[0]) {
        for (int64_t deadline = hl_mono_ms() + 60000;
             !(ctx.feed = pj_feed_new(ctx.cfg.kafka_brokers, ctx.cfg.schema_registry_url,
                                      ctx.cfg.schemas_dir, ctx.cfg.feed_topic, &err));) {
            if (hl_mono_ms() > deadline || hl_shutdown_requested() || err.domain == HL_ERR_CONFIG) {
                HL_ERROR("change feed: %s", err.message);
                goto done;
            }
            HL_WARN("change feed not ready (%s); retrying", err.message);
            hl_sleep_or_shutdown(1000);
        }
    }
    if (!(ctx.dlq_producer = dlq_producer_new(&ctx, &err)) ||
        !(ctx.consumer = consumer_new(&ctx, &err))) {
        HL_ERROR("start-up failed: %s", err.message);
        goto done;
    }
    pj_lag_init(pj_routes);
    pj_dead_letter_metrics_init(pj_routes);
    hl_metrics_add_collector(collect_offsets, &ctx);
    http = hl_http_server_start(ctx.cfg.http_listen, (int)ctx.cfg.http_threads, http_routes,
                                sizeof http_routes / sizeof http_routes[0], HL_HTTP_HEAD_AS_GET,
                                &ctx, &err);
    if (!http) {
        HL_ERROR("%s", err.message);
        goto done;
    }
    presence = pj_presence_new(ctx.cfg.presence_grace_ms);
    for (int64_t deadline = hl_mono_ms() + 60000; !pj_presence_load(&ctx, presence, &err);) {
        if (hl_mono_ms() > deadline || hl_shutdown_requested()) {
            HL_ERROR("presence: %s", err.message);
            goto done;
        }
        hl_sleep_or_shutdown(1000);
    }
    HL_INFO("projector consuming; health on http://%s", ctx.cfg.http_listen);
    int64_t next_sweep_ms = 0;
    while (!hl_shutdown_requested()) {
        /* wait up to 200 ms for an input, then up to batch_linger_ms from then for more: each
         * batch costs one bulk write per collection it touches and one watermark write per
         * key, so gathering the inputs of several commands (an event and its rows' changes
         * arrive on different topics a few ms apart) cuts the read store's commands per input */
        batch.n = 0;
        ctx.batch_revocations = ctx.revocations;
        int64_t linger_until = 0;
        while (batch.n < BATCH_MAX) {
            int64_t left = batch.n ? linger_until - hl_mono_ms() : 200;
            rd_kafka_message_t *msg =
                rd_kafka_consumer_poll(ctx.consumer, left > 0 ? (int)left : 0);
            if (batch_lost(&ctx)) {
                /* this poll served a revoke: what was collected before it may belong to
                 * another member now and is consumed again by its owner */
                for (size_t i = 0; i < batch.n; i++)
                    rd_kafka_message_destroy(batch.msgs[i]);
                batch.n = 0;
                ctx.batch_revocations = ctx.revocations;
            }
            if (!msg)
                break;
            if (msg->err) {
                if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                    HL_WARN("consumer: %s", rd_kafka_message_errstr(msg));
                rd_kafka_message_destroy(msg);
                continue;
            }
            batch.msgs[batch.n++] = msg;
            if (batch.n == 1)
                linger_until = hl_mono_ms() + ctx.cfg.batch_linger_ms;
        }
        for (size_t i = 0; i < batch.n; i++)
            pj_plan_init(&batch.plans[i]);
        if (batch.n && !handle_batch(&ctx, &batch)) {
            if (batch_lost(&ctx))
                HL_INFO("partitions revoked during a batch of %zu inputs: abandoned unstored (the "
                        "partitions' owners apply them again from the committed offsets)",
                        batch.n);
            else
                HL_INFO("shutdown during a batch: its offsets stay unstored (replayed at restart)");
        }
        for (size_t i = 0; i < batch.n; i++)
            if (batch.rc[i] == PJ_APPLIED)
                pj_presence_note_plan(presence, &batch.plans[i]);
        /* connection presence (presence.h): the users due now, at most every 250 ms */
        if (hl_mono_ms() >= next_sweep_ms) {
            hl_error_t perr = {0};
            if (!pj_presence_sweep(&ctx, presence, &perr))
                HL_WARN("presence sweep: %s (retried at the next one)", perr.message);
            next_sweep_ms = hl_mono_ms() + 250;
        }
        for (size_t i = 0; i < batch.n; i++) {
            apply_span_end(&batch, i, "interrupted by shutdown");
            pj_plan_destroy(&batch.plans[i]);
            rd_kafka_message_destroy(batch.msgs[i]);
        }
    }
    HL_INFO("shutting down: committing stored offsets");
    rc = 0;
done:
    hl_http_server_stop(http);
    if (ctx.consumer) {
        rd_kafka_consumer_close(ctx.consumer); /* commits the stored offsets */
        rd_kafka_destroy(ctx.consumer);
    }
    pj_feed_destroy(ctx.feed);
    pj_presence_destroy(presence);
    if (ctx.dlq_producer) {
        rd_kafka_flush(ctx.dlq_producer, 10000);
        rd_kafka_destroy(ctx.dlq_producer);
    }
    pj_schema_cache_destroy(ctx.schemas);
    hl_schema_registry_destroy(ctx.registry);
    if (ctx.write_pool)
        mongoc_client_pool_destroy(ctx.write_pool);
    if (ctx.db)
        mongoc_database_destroy(ctx.db);
    if (ctx.mongo)
        mongoc_client_destroy(ctx.mongo);
    mongoc_uri_destroy(uri);
    if (ctx.mongo)
        mongoc_cleanup();
    hl_config_free(options, NOPTS, &ctx.cfg);
    return rc;
}
