/* cli.c: operator subcommands of the projector binary.
 *
 *   projector dlq list               every dead letter, one JSON line each (stdout)
 *   projector dlq replay [P:O ...]   re-produce dead letters (all, or those at dead-letter
 *                                    partition P offset O) to their original topic, same key
 *                                    and headers; the running projector applies them again
 *   projector rebuild <model>        rebuild one read model into a shadow collection and switch
 *                                    read_model_aliases to it (docs/read-models.md)
 *   projector replay [T:P:O ...]     apply every input topic from its beginning up to end
 *                                    offsets (given, else the high watermarks now) to
 *                                    --mongo-db as the daemon does; prints the ends reached
 */
#include "cli.h"

#include "cdc_models.h"
#include "event_models.h"
#include "routes.h"
#include "plan_exec.h"
#include "indexes.h"

#include "hl/kafka.h"
#include "hl/config.h"
#include "hl/log.h"
#include "hl/mem.h"
#include "hl/pg.h"
#include "hl/signals.h"
#include "hl/util.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reading a topic from the beginning up to its high watermarks ---- */

typedef bool (*pj_each_fn)(pj_ctx_t *ctx, rd_kafka_message_t *m, void *arg);

/* Read every message of topics from start offsets (from[i], or the beginning when from is NULL)
 * up to the high watermarks taken now, or up to until's offsets when until is given (a
 * partition absent from until is not read); call fn for each. The reached offsets are stored
 * back into *ends (a list the caller destroys). */
static bool read_topics(pj_ctx_t *ctx, const char *const *topics, size_t ntopics,
                        rd_kafka_topic_partition_list_t *from,
                        const rd_kafka_topic_partition_list_t *until,
                        rd_kafka_topic_partition_list_t **ends, pj_each_fn fn, void *arg,
                        hl_error_t *err)
{
    char group[64];
    snprintf(group, sizeof group, "hearlers-projector-cli-%lld", (long long)hl_now_us());
    rd_kafka_conf_t *conf =
        hl_kafka_conf_new(ctx->cfg.kafka_brokers, "hearlers-projector-cli", err);
    if (!conf)
        return false;
    if (!hl_kafka_set(conf, "group.id", group, err) ||
        !hl_kafka_set(conf, "enable.auto.commit", "false", err) ||
        !hl_kafka_set(conf, "isolation.level", "read_committed", err)) {
        rd_kafka_conf_destroy(conf);
        return false;
    }
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return hl_error_set(err, HL_ERR_KAFKA, 0, "consumer: %s", errstr);
    }
    bool ok = false;
    rd_kafka_topic_partition_list_t *assign = rd_kafka_topic_partition_list_new(16);
    int64_t total = 0, done = 0;
    for (size_t t = 0; t < ntopics; t++) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topics[t], NULL);
        if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) == 0 && md->topic_cnt == 1 &&
            !md->topics[0].err) {
            for (int p = 0; p < md->topics[0].partition_cnt; p++) {
                int32_t part = md->topics[0].partitions[p].id;
                int64_t lo = 0, hi = 0;
                if (rd_kafka_query_watermark_offsets(rk, topics[t], part, &lo, &hi, 10000))
                    continue;
                int64_t start = lo;
                rd_kafka_topic_partition_t *f =
                    from ? rd_kafka_topic_partition_list_find(from, topics[t], part) : NULL;
                if (f && f->offset > start)
                    start = f->offset;
                if (until) {
                    rd_kafka_topic_partition_t *u = rd_kafka_topic_partition_list_find(
                        (rd_kafka_topic_partition_list_t *)until, topics[t], part);
                    hi = !u ? start : u->offset < hi ? u->offset : hi;
                }
                rd_kafka_topic_partition_t *e =
                    rd_kafka_topic_partition_list_add(*ends, topics[t], part);
                e->offset = start;
                e->opaque = (void *)(intptr_t)hi;
                if (hi > start) {
                    rd_kafka_topic_partition_list_add(assign, topics[t], part)->offset = start;
                    total += hi - start;
                }
            }
        }
        if (md)
            rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
    }
    int remaining = assign->cnt;
    if (remaining && rd_kafka_assign(rk, assign)) {
        hl_error_set(err, HL_ERR_KAFKA, 0, "assign failed");
        goto done;
    }
    int64_t last_report = hl_mono_ms(), idle_deadline = hl_mono_ms() + 30000;
    while (remaining > 0) {
        if (hl_mono_ms() > idle_deadline) {
            for (int i = 0; i < (*ends)->cnt; i++) {
                rd_kafka_topic_partition_t *e = &(*ends)->elems[i];
                if (e->offset < (int64_t)(intptr_t)e->opaque)
                    fprintf(stderr, "  not reached: %s[%d] at %lld of %lld\n", e->topic,
                            (int)e->partition, (long long)e->offset,
                            (long long)(intptr_t)e->opaque);
            }
            hl_error_set(err, HL_ERR_TIMEOUT, 0, "no message for 30 s with %d partitions left",
                         remaining);
            goto done;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
        if (!m) {
            /* the last offsets below a high watermark may be transaction markers, which are
             * never delivered: a partition whose position reached its end is done */
            rd_kafka_topic_partition_list_t *pos = rd_kafka_topic_partition_list_copy(*ends);
            if (!rd_kafka_position(rk, pos))
                for (int i = 0; i < pos->cnt; i++) {
                    rd_kafka_topic_partition_t *e = &(*ends)->elems[i];
                    int64_t hi = (int64_t)(intptr_t)e->opaque;
                    if (e->offset < hi && pos->elems[i].offset >= hi) {
                        e->offset = hi;
                        remaining--;
                    }
                }
            rd_kafka_topic_partition_list_destroy(pos);
            continue;
        }
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        idle_deadline = hl_mono_ms() + 30000;
        rd_kafka_topic_partition_t *e =
            rd_kafka_topic_partition_list_find(*ends, rd_kafka_topic_name(m->rkt), m->partition);
        int64_t hi = e ? (int64_t)(intptr_t)e->opaque : 0;
        if (!e || m->offset >= hi || m->offset < e->offset) {
            /* past the end taken at start (or already seen): not part of this read */
            rd_kafka_message_destroy(m);
            continue;
        }
        bool go = fn(ctx, m, arg);
        idle_deadline = hl_mono_ms() + 30000; /* fn's own time is not idleness */
        e->offset = m->offset + 1;
        if (e->offset >= hi)
            remaining--;
        rd_kafka_message_destroy(m);
        if (!go) {
            hl_error_set(err, HL_ERR_SYSTEM, 0, "stopped");
            goto done;
        }
        done++;
        if (hl_mono_ms() - last_report > 2000) {
            fprintf(stderr, "  progress: %lld/%lld messages (%lld%%)\n", (long long)done,
                    (long long)total, total ? (long long)(done * 100 / total) : 100LL);
            last_report = hl_mono_ms();
        }
    }
    ok = true;
done:
    rd_kafka_topic_partition_list_destroy(assign);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return ok;
}

/* ---- dlq ---- */

static const char *header(rd_kafka_message_t *m, const char *name, char *buf, size_t cap)
{
    rd_kafka_headers_t *h = NULL;
    const void *v = NULL;
    size_t len = 0;
    buf[0] = '\0';
    if (rd_kafka_message_headers(m, &h) == 0 && h &&
        rd_kafka_header_get_last(h, name, &v, &len) == 0 && v)
        snprintf(buf, cap, "%.*s", (int)len, (const char *)v);
    return buf;
}

static bool dlq_print(pj_ctx_t *ctx, rd_kafka_message_t *m, void *arg)
{
    (void)ctx;
    (void)arg;
    char reason[64], error[600], proj[64], topic[128], part[16], off[32], at[48];
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_INT32(&doc, "dlq_partition", m->partition);
    BSON_APPEND_INT64(&doc, "dlq_offset", m->offset);
    BSON_APPEND_UTF8(&doc, "reason", header(m, "dlq.reason", reason, sizeof reason));
    BSON_APPEND_UTF8(&doc, "error", header(m, "dlq.error", error, sizeof error));
    BSON_APPEND_UTF8(&doc, "projection", header(m, "dlq.projection", proj, sizeof proj));
    BSON_APPEND_UTF8(&doc, "topic", header(m, "dlq.topic", topic, sizeof topic));
    BSON_APPEND_UTF8(&doc, "partition", header(m, "dlq.partition", part, sizeof part));
    BSON_APPEND_UTF8(&doc, "offset", header(m, "dlq.offset", off, sizeof off));
    BSON_APPEND_UTF8(&doc, "at", header(m, "dlq.at", at, sizeof at));
    BSON_APPEND_INT64(&doc, "value_bytes", (int64_t)m->len);
    char *json = bson_as_relaxed_extended_json(&doc, NULL);
    printf("%s\n", json);
    bson_free(json);
    bson_destroy(&doc);
    return true;
}

typedef struct {
    rd_kafka_t *producer;
    char **select; /* "P:O" strings; NULL = all */
    int nselect;
    int produced, failed;
} replay_t;

static void replay_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    replay_t *r = opaque;
    if (m->err)
        r->failed++;
}

static bool dlq_replay_one(pj_ctx_t *ctx, rd_kafka_message_t *m, void *arg)
{
    (void)ctx;
    replay_t *r = arg;
    if (r->nselect) {
        char want[48];
        snprintf(want, sizeof want, "%d:%lld", (int)m->partition, (long long)m->offset);
        bool hit = false;
        for (int i = 0; i < r->nselect; i++)
            hit = hit || !strcmp(r->select[i], want);
        if (!hit)
            return true;
    }
    char topic[128];
    header(m, "dlq.topic", topic, sizeof topic);
    if (!topic[0])
        return true;
    rd_kafka_headers_t *src = NULL, *hdrs = rd_kafka_headers_new(8);
    if (rd_kafka_message_headers(m, &src) == 0 && src) {
        const char *name;
        const void *v;
        size_t len;
        for (size_t i = 0; !rd_kafka_header_get_all(src, i, &name, &v, &len); i++)
            if (strncmp(name, "dlq.", 4) != 0)
                rd_kafka_header_add(hdrs, name, -1, v, (ssize_t)len);
    }
    char from[48];
    snprintf(from, sizeof from, "%d:%lld", (int)m->partition, (long long)m->offset);
    rd_kafka_header_add(hdrs, "dlq.replayed_from", -1, from, -1);
    rd_kafka_resp_err_t kerr = rd_kafka_producev(
        r->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(m->key, m->key_len),
        RD_KAFKA_V_VALUE(m->payload, m->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
    if (kerr) {
        rd_kafka_headers_destroy(hdrs);
        r->failed++;
    } else {
        r->produced++;
        printf("{\"replayed\": \"%s\", \"to\": \"%s\"}\n", from, topic);
    }
    rd_kafka_poll(r->producer, 0);
    return true;
}

static int cmd_dlq(pj_ctx_t *ctx, int argc, char **argv)
{
    hl_error_t err = {0};
    const char *topics[] = {ctx->cfg.dlq_topic};
    rd_kafka_topic_partition_list_t *ends = rd_kafka_topic_partition_list_new(4);
    int rc = 1;
    if (argc >= 1 && !strcmp(argv[0], "list")) {
        rc = read_topics(ctx, topics, 1, NULL, NULL, &ends, dlq_print, NULL, &err) ? 0 : 1;
    } else if (argc >= 1 && !strcmp(argv[0], "replay")) {
        replay_t r = {.select = argv + 1, .nselect = argc - 1};
        rd_kafka_conf_t *conf =
            hl_kafka_conf_new(ctx->cfg.kafka_brokers, "hearlers-dlq-replay", &err);
        if (conf && hl_kafka_set(conf, "enable.idempotence", "true", &err)) {
            rd_kafka_conf_set_dr_msg_cb(conf, replay_dr);
            rd_kafka_conf_set_opaque(conf, &r);
            char errstr[256];
            r.producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
            if (!r.producer) {
                rd_kafka_conf_destroy(conf);
                hl_error_set(&err, HL_ERR_KAFKA, 0, "%s", errstr);
            }
        } else if (conf) {
            rd_kafka_conf_destroy(conf);
        }
        if (r.producer) {
            bool ok = read_topics(ctx, topics, 1, NULL, NULL, &ends, dlq_replay_one, &r, &err);
            rd_kafka_flush(r.producer, 30000);
            rd_kafka_destroy(r.producer);
            fprintf(stderr, "replayed %d dead letters, %d failed\n", r.produced, r.failed);
            rc = ok && !r.failed ? 0 : 1;
        }
    } else {
        fprintf(stderr, "usage: projector dlq list | projector dlq replay [P:O ...]\n");
        rc = 2;
    }
    if (rc == 1)
        fprintf(stderr, "projector dlq: %s\n", err.message);
    rd_kafka_topic_partition_list_destroy(ends);
    return rc;
}

/* ---- batched application (replay and rebuild) ---- */

#define REPLAY_BATCH 500

typedef struct {
    pj_plan_t plans[REPLAY_BATCH];
    size_t n;
    int64_t inputs, poison;
    hl_error_t err;
} replay_batch_t;

/* Execute and release the batched plans (retrying transient store errors for up to 10 s). */
static bool replay_flush(pj_ctx_t *ctx, replay_batch_t *rb)
{
    const pj_plan_t *plans[REPLAY_BATCH];
    for (size_t i = 0; i < rb->n; i++)
        plans[i] = &rb->plans[i];
    bool ok = rb->n == 0;
    int64_t t0 = hl_mono_ms();
    for (int attempt = 0; !ok && attempt < 20; attempt++) {
        if (attempt && hl_sleep_or_shutdown(500))
            break;
        hl_error_t aerr = {0};
        if (!pj_aliases_refresh(ctx, 1000, &aerr))
            HL_WARN("%s (keeping the previous aliases)", aerr.message);
        ok = pj_plans_execute(ctx, plans, rb->n, &rb->err);
    }
    if (hl_mono_ms() - t0 > 2000)
        HL_WARN("replay: a batch of %zu inputs took %lld ms", rb->n,
                (long long)(hl_mono_ms() - t0));
    for (size_t i = 0; i < rb->n; i++)
        pj_plan_destroy(&rb->plans[i]);
    rb->n = 0;
    return ok;
}

static bool replay_apply(pj_ctx_t *ctx, rd_kafka_message_t *m, void *arg)
{
    replay_batch_t *rb = arg;
    pj_plan_t *plan = &rb->plans[rb->n];
    pj_plan_init(plan);
    hl_error_t err = {0};
    pj_result_t rc = PJ_RETRY;
    for (int attempt = 0; rc == PJ_RETRY && attempt < 20; attempt++) {
        if (attempt && hl_sleep_or_shutdown(500))
            break;
        pj_plan_destroy(plan);
        pj_plan_init(plan);
        rc = pj_route_plan(ctx, rd_kafka_topic_name(m->rkt), m->payload, m->len, plan, &err);
    }
    rb->inputs++;
    if (rc == PJ_RETRY) {
        pj_plan_destroy(plan);
        rb->err = err;
        return false;
    }
    if (rc != PJ_APPLIED) {
        rb->poison += rc == PJ_POISON; /* dead-lettered by the live projector; skipped here */
        pj_plan_destroy(plan);
        return true;
    }
    rb->n++;
    return rb->n < REPLAY_BATCH || replay_flush(ctx, rb);
}

/* ---- rebuild ---- */

/* Apply events rows with position > *after, in position order, in batches of REPLAY_BATCH
 * plans (one bulk per collection, as the daemon writes); *after advances. */
static bool rebuild_from_events(pj_ctx_t *ctx, PGconn *pg, int64_t *after, replay_batch_t *rb,
                                hl_error_t *err)
{
    PGresult *res = PQexec(pg, "SELECT coalesce(max(position), 0) FROM events");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        hl_pg_error(res, pg, err);
        PQclear(res);
        return false;
    }
    long long maxpos = 0;
    hl_parse_ll(PQgetvalue(res, 0, 0), &maxpos);
    PQclear(res);
    int64_t start = *after, last_report = hl_mono_ms();
    for (;;) {
        char pos[32];
        snprintf(pos, sizeof pos, "%lld", (long long)*after);
        const char *params[] = {pos};
        res = PQexecParams(pg,
                           "SELECT position, schema_id, payload FROM events WHERE position > $1 "
                           "ORDER BY position LIMIT 500",
                           1, NULL, params, NULL, NULL, 1 /* binary */);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            hl_pg_error(res, pg, err);
            PQclear(res);
            return false;
        }
        int n = PQntuples(res);
        for (int i = 0; i < n; i++) {
            const unsigned char *p = (const unsigned char *)PQgetvalue(res, i, 0);
            int64_t position = 0;
            for (int b = 0; b < 8; b++)
                position = (position << 8) | p[b];
            const unsigned char *s = (const unsigned char *)PQgetvalue(res, i, 1);
            int schema_id = (int)((uint32_t)s[0] << 24 | (uint32_t)s[1] << 16 |
                                  (uint32_t)s[2] << 8 | (uint32_t)s[3]);
            pj_plan_t *plan = &rb->plans[rb->n];
            pj_plan_init(plan);
            hl_error_t e = {0};
            pj_result_t rc =
                pj_event_body_plan(ctx, schema_id, (const uint8_t *)PQgetvalue(res, i, 2),
                                   (size_t)PQgetlength(res, i, 2), plan, &e);
            rb->inputs++;
            if (rc != PJ_APPLIED)
                pj_plan_destroy(plan);
            if (rc == PJ_RETRY) {
                PQclear(res);
                return hl_error_set(err, e.domain, e.code, "position %lld: %s", (long long)position,
                                    e.message);
            }
            if (rc == PJ_POISON)
                rb->poison++;
            else if (rc == PJ_APPLIED && ++rb->n == REPLAY_BATCH && !replay_flush(ctx, rb)) {
                PQclear(res);
                *err = rb->err;
                return false;
            }
            *after = position;
        }
        PQclear(res);
        /* every row read so far is written before progress is reported or the pass ends */
        if (!replay_flush(ctx, rb)) {
            *err = rb->err;
            return false;
        }
        if (hl_mono_ms() - last_report > 2000 || n < 500) {
            int64_t span = maxpos - start;
            fprintf(stderr, "  progress: position %lld of %lld (%lld%%)\n", (long long)*after,
                    maxpos, span > 0 ? (long long)((*after - start) * 100 / span) : 100LL);
            last_report = hl_mono_ms();
        }
        if (n < 500)
            return true;
    }
}

static bool is_in(const char *const *list, const char *name)
{
    for (; *list; list++)
        if (!strcmp(*list, name))
            return true;
    return false;
}

static int cmd_rebuild(pj_ctx_t *ctx, int argc, char **argv)
{
    if (argc != 1 || (!is_in(pj_cdc_models, argv[0]) && !is_in(pj_event_models, argv[0]))) {
        fprintf(stderr, "usage: projector rebuild <model>; models:");
        for (const char *const *m = pj_cdc_models; *m; m++)
            fprintf(stderr, " %s", *m);
        for (const char *const *m = pj_event_models; *m; m++)
            fprintf(stderr, " %s", *m);
        fprintf(stderr, "\n");
        return 2;
    }
    const char *model = argv[0];
    bool cdc = is_in(pj_cdc_models, model);
    bool from_events = !cdc && ctx->cfg.pg_url[0];
    hl_error_t err = {0};
    int rc = 1;
    PGconn *pg = NULL;
    rd_kafka_topic_partition_list_t *ends = rd_kafka_topic_partition_list_new(16);
    char previous[HL_ALIAS_NAME_MAX];
    /* inputs are planned into batches of REPLAY_BATCH and written as the daemon writes */
    replay_batch_t *rb = hl_xcalloc(1, sizeof *rb);
    int64_t after = 0, t0 = hl_mono_ms();
    const char *topics[16];
    size_t ntopics = 0;
    for (const pj_route_t *r = pj_routes; r->topic; r++) {
        bool is_cdc = !strncmp(r->topic, "cdc.", 4);
        if (cdc ? (is_cdc && pj_cdc_feeds(r->topic + strlen("cdc.public."), model)) : !is_cdc)
            topics[ntopics++] = r->topic;
    }
    if (!pj_aliases_refresh(ctx, 0, &err))
        goto done;
    snprintf(previous, sizeof previous, "%s", pj_physical(ctx, model));
    snprintf(ctx->rebuild_collection, sizeof ctx->rebuild_collection, "%s__rb%lld", model,
             (long long)(hl_now_us() / 1000));
    ctx->rebuild_model = model;
    if (!pj_ensure_model_indexes(ctx, model, ctx->rebuild_collection, &err))
        goto done;
    fprintf(stderr, "rebuild %s: %s → shadow %s, from %s\n", model, previous,
            ctx->rebuild_collection, from_events ? "the events table" : "the topics");
    if (from_events) {
        pg = PQconnectdb(ctx->cfg.pg_url);
        if (PQstatus(pg) != CONNECTION_OK) {
            hl_error_set(&err, HL_ERR_PG, 0, "connect: %s", PQerrorMessage(pg));
            goto done;
        }
        if (!rebuild_from_events(ctx, pg, &after, rb, &err))
            goto done;
    } else if (!read_topics(ctx, topics, ntopics, NULL, NULL, &ends, replay_apply, rb, &err) ||
               !replay_flush(ctx, rb)) {
        if (rb->err.message[0])
            err = rb->err;
        goto done;
    }
    fprintf(stderr,
            "rebuild %s: caught up (%lld applied, %lld poison skipped) in %lld ms; "
            "switching alias\n",
            model, (long long)(rb->inputs - rb->poison), (long long)rb->poison,
            (long long)(hl_mono_ms() - t0));
    if (!hl_alias_switch(ctx->db, model, ctx->rebuild_collection, previous, &err))
        goto done;
    /* The live projector re-reads aliases at least every second; what it wrote to the old
     * collection meanwhile is re-applied here (every write is idempotent). */
    hl_sleep_or_shutdown(2500);
    if (from_events) {
        if (!rebuild_from_events(ctx, pg, &after, rb, &err))
            goto done;
    } else {
        rd_kafka_topic_partition_list_t *ends2 = rd_kafka_topic_partition_list_new(16);
        bool ok = read_topics(ctx, topics, ntopics, ends, NULL, &ends2, replay_apply, rb, &err) &&
                  replay_flush(ctx, rb);
        rd_kafka_topic_partition_list_destroy(ends2);
        if (!ok) {
            if (rb->err.message[0])
                err = rb->err;
            goto done;
        }
    }
    /* Readers resolve the alias per request; give in-flight reads of the old one a moment. */
    hl_sleep_or_shutdown(2000);
    if (strcmp(previous, ctx->rebuild_collection) != 0) {
        mongoc_collection_t *old = mongoc_database_get_collection(ctx->db, previous);
        bson_error_t berr;
        if (!mongoc_collection_drop(old, &berr))
            HL_WARN("drop %s: %s", previous, berr.message);
        mongoc_collection_destroy(old);
    }
    int64_t ms = hl_mono_ms() - t0;
    fprintf(stderr, "rebuild %s: done, %lld inputs in %lld ms (%.0f inputs/s); alias %s → %s\n",
            model, (long long)rb->inputs, (long long)ms,
            ms > 0 ? (double)rb->inputs * 1000.0 / (double)ms : 0.0, model,
            ctx->rebuild_collection);
    rc = 0;
done:
    if (rc)
        fprintf(stderr, "projector rebuild %s: %s\n", model, err.message);
    if (pg)
        PQfinish(pg);
    if (rb) {
        for (size_t i = 0; i < rb->n; i++)
            pj_plan_destroy(&rb->plans[i]);
        free(rb);
    }
    rd_kafka_topic_partition_list_destroy(ends);
    ctx->rebuild_model = NULL;
    return rc;
}

static int cmd_replay(pj_ctx_t *ctx, int argc, char **argv)
{
    hl_error_t err = {0};
    int rc = 1;
    rd_kafka_topic_partition_list_t *until = NULL;
    rd_kafka_topic_partition_list_t *ends = rd_kafka_topic_partition_list_new(32);
    replay_batch_t *rb = hl_xcalloc(1, sizeof *rb);
    const char *topics[16];
    size_t ntopics = 0;
    for (const pj_route_t *r = pj_routes; r->topic && ntopics < 16; r++)
        topics[ntopics++] = r->topic;
    if (argc > 0) {
        until = rd_kafka_topic_partition_list_new(argc);
        for (int i = 0; i < argc; i++) {
            /* topic:partition:offset; topic names hold no ':' */
            char buf[256];
            long long part = 0, off = 0;
            snprintf(buf, sizeof buf, "%s", argv[i]);
            char *c2 = strrchr(buf, ':');
            char *c1 = c2 ? memchr(buf, ':', (size_t)(c2 - buf)) : NULL;
            if (!c1 || (*c1 = '\0', *c2 = '\0', !hl_parse_ll(c1 + 1, &part)) ||
                !hl_parse_ll(c2 + 1, &off) || part < 0 || off < 0) {
                fprintf(stderr, "usage: projector replay [topic:partition:offset ...]\n");
                rc = 2;
                goto done;
            }
            rd_kafka_topic_partition_list_add(until, buf, (int32_t)part)->offset = off;
        }
    }
    int64_t t0 = hl_mono_ms();
    bool ok = read_topics(ctx, topics, ntopics, NULL, until, &ends, replay_apply, rb, &err);
    if (ok && !replay_flush(ctx, rb))
        ok = false;
    if (!ok) {
        if (rb->err.message[0])
            err = rb->err;
        goto done;
    }
    for (int i = 0; i < ends->cnt; i++)
        printf("%s:%d:%lld\n", ends->elems[i].topic, (int)ends->elems[i].partition,
               (long long)ends->elems[i].offset);
    int64_t ms = hl_mono_ms() - t0;
    fprintf(stderr, "replay: %lld inputs (%lld poison skipped) in %lld ms (%.0f inputs/s)\n",
            (long long)rb->inputs, (long long)rb->poison, (long long)ms,
            ms > 0 ? (double)rb->inputs * 1000.0 / (double)ms : 0.0);
    rc = 0;
done:
    if (rc == 1)
        fprintf(stderr, "projector replay: %s\n", err.message);
    if (rb) {
        for (size_t i = 0; i < rb->n; i++)
            pj_plan_destroy(&rb->plans[i]);
        free(rb);
    }
    if (until)
        rd_kafka_topic_partition_list_destroy(until);
    rd_kafka_topic_partition_list_destroy(ends);
    return rc;
}

int pj_cli_main(pj_ctx_t *ctx, int argc, char **argv)
{
    if (!strcmp(argv[0], "dlq"))
        return cmd_dlq(ctx, argc - 1, argv + 1);
    if (!strcmp(argv[0], "rebuild"))
        return cmd_rebuild(ctx, argc - 1, argv + 1);
    if (!strcmp(argv[0], "replay"))
        return cmd_replay(ctx, argc - 1, argv + 1);
    fprintf(stderr, "projector: unknown subcommand %s (dlq list|replay, rebuild <model>, replay)\n",
            argv[0]);
    return 2;
}
