/* support.c: MongoDB store helpers, writer-schema cache, dead-letter producer, lag metrics. */
#include "projector.h"

#include "hl/log.h"
#include "hl/mem.h"
#include "hl/metrics.h"
#include "hl/util.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool pj_upsert_guarded(mongoc_database_t *db, const char *collection, const bson_t *filter,
                       const bson_t *update, bool *applied, hl_error_t *err)
{
    mongoc_collection_t *coll = mongoc_database_get_collection(db, collection);
    bson_t opts = BSON_INITIALIZER, reply;
    BSON_APPEND_BOOL(&opts, "upsert", true);
    bson_error_t berr;
    bool ok = mongoc_collection_update_one(coll, filter, update, &opts, &reply, &berr);
    if (!ok && berr.code == 11000) {
        /* Either the guard did not match an existing document, or another projector inserted
         * the same _id between this upsert's read and its insert (FerretDB 1.x applies an
         * upsert as a read, then an insert; MongoDB retries such an upsert itself). Once more:
         * the document now exists, so the update applies, or its guard answers E11000 again. */
        bson_destroy(&reply);
        ok = mongoc_collection_update_one(coll, filter, update, &opts, &reply, &berr);
    }
    *applied = false;
    if (ok) {
        bson_iter_t it;
        int64_t matched = 0, upserted = 0;
        if (bson_iter_init_find(&it, &reply, "matchedCount"))
            matched = bson_iter_as_int64(&it);
        if (bson_iter_init_find(&it, &reply, "upsertedCount"))
            upserted = bson_iter_as_int64(&it);
        *applied = matched > 0 || upserted > 0;
    } else if (berr.code == 11000) {
        ok = true; /* the guard did not match: the stored state is as new or newer */
    } else {
        hl_error_set(err, HL_ERR_MONGO, (int)berr.code, "update %s: %s", collection, berr.message);
    }
    bson_destroy(&reply);
    bson_destroy(&opts);
    mongoc_collection_destroy(coll);
    return ok;
}

bool pj_watermark_advance(pj_ctx_t *ctx, const char *input, const char *key, int64_t version,
                          hl_error_t *err)
{
    char id[160];
    snprintf(id, sizeof id, "%s:%s", input, key);
    mongoc_collection_t *coll = mongoc_database_get_collection(ctx->db, "watermarks");
    bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, max, opts = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", id);
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$max", &max);
    BSON_APPEND_INT64(&max, "v", version);
    bson_append_document_end(&update, &max);
    BSON_APPEND_BOOL(&opts, "upsert", true);
    bson_error_t berr;
    bool ok = mongoc_collection_update_one(coll, &filter, &update, &opts, NULL, &berr);
    if (!ok && berr.code == 11000) /* a concurrent upsert of the same id won: retry as update */
        ok = mongoc_collection_update_one(coll, &filter, &update, NULL, NULL, &berr);
    if (!ok)
        hl_error_set(err, HL_ERR_MONGO, (int)berr.code, "watermark %s: %s", id, berr.message);
    bson_destroy(&filter);
    bson_destroy(&update);
    bson_destroy(&opts);
    mongoc_collection_destroy(coll);
    return ok;
}

static bool create_index(pj_ctx_t *ctx, const char *collection, const char *name,
                         const bson_t *keys, bool unique, hl_error_t *err)
{
    bson_t cmd = BSON_INITIALIZER, arr, idx;
    BSON_APPEND_UTF8(&cmd, "createIndexes", collection);
    BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &arr);
    BSON_APPEND_DOCUMENT_BEGIN(&arr, "0", &idx);
    BSON_APPEND_DOCUMENT(&idx, "key", keys);
    BSON_APPEND_UTF8(&idx, "name", name);
    if (unique)
        BSON_APPEND_BOOL(&idx, "unique", true);
    bson_append_document_end(&arr, &idx);
    bson_append_array_end(&cmd, &arr);
    bson_error_t berr;
    bool ok = mongoc_database_write_command_with_opts(ctx->db, &cmd, NULL, NULL, &berr);
    bson_destroy(&cmd);
    if (!ok)
        hl_error_set(err, HL_ERR_MONGO, (int)berr.code, "createIndexes %s.%s: %s", collection, name,
                     berr.message);
    return ok;
}

/* Secondary index keys per logical model: "field:dir,field:dir" (dir 1 or -1). Every list the
 * query server reads is an _id range or _id list (the only index FerretDB 1.24 reaches, with
 * patch 4 of deploy/local/mongo.sh), so these serve analysts on MongoDB only; FerretDB keeps
 * them up to date on every write and never reads them: only the ones analysts need. */
static const struct {
    const char *model;
    const char *keys;
} model_indexes[] = {
    {"user_profiles", "display_name_lower:1"},
    {"user_names", "user_id:1"},
    {"sessions", "user_id:1"},
    {"chat_rooms", "direct_key:1"},
    {"room_members", "user_id:1"},
    {"daily_active_users", "day:1"},
};

bool pj_ensure_model_indexes(pj_ctx_t *ctx, const char *model, const char *collection,
                             hl_error_t *err)
{
    for (size_t i = 0; i < sizeof model_indexes / sizeof model_indexes[0]; i++) {
        if (strcmp(model_indexes[i].model, model) != 0)
            continue;
        bson_t k = BSON_INITIALIZER;
        char name[128] = "", spec[128];
        snprintf(spec, sizeof spec, "%s", model_indexes[i].keys);
        size_t nlen = 0;
        for (char *p = spec, *next; p && *p; p = next) {
            next = strchr(p, ',');
            if (next)
                *next++ = '\0';
            char *colon = strchr(p, ':');
            if (!colon)
                continue;
            *colon = '\0';
            int dir = colon[1] == '-' ? -1 : 1;
            BSON_APPEND_INT32(&k, p, dir);
            int w = snprintf(name + nlen, sizeof name - nlen, "%s%s_%d", nlen ? "_" : "", p, dir);
            if (w > 0 && (size_t)w < sizeof name - nlen)
                nlen += (size_t)w;
        }
        bool ok = create_index(ctx, collection, name, &k, false, err);
        bson_destroy(&k);
        if (!ok)
            return false;
    }
    return true;
}

bool pj_ensure_indexes(pj_ctx_t *ctx, hl_error_t *err)
{
    if (!pj_aliases_refresh(ctx, 0, err))
        return false;
    for (size_t i = 0; i < sizeof model_indexes / sizeof model_indexes[0]; i++)
        if (!pj_ensure_model_indexes(ctx, model_indexes[i].model,
                                     pj_physical(ctx, model_indexes[i].model), err))
            return false;
    return true;
}

/* Last observed lag per route (index into pj_routes), for /readyz; -1 = none yet. */
#define MAX_ROUTES 32
static _Atomic int64_t last_lag_ms[MAX_ROUTES] = {0};
static _Atomic int lag_seen[MAX_ROUTES] = {0};

static int route_index(const char *projection)
{
    for (int i = 0; pj_routes[i].topic && i < MAX_ROUTES; i++)
        if (!strcmp(pj_routes[i].projection, projection))
            return i;
    return -1;
}

void pj_observe_lag(const char *projection, int64_t source_ms)
{
    char labels[96];
    snprintf(labels, sizeof labels, "projection=\"%s\"", projection);
    int64_t lag_ms = hl_now_us() / 1000 - source_ms;
    if (lag_ms < 0)
        lag_ms = 0;
    int r = route_index(projection);
    if (r >= 0) {
        atomic_store(&last_lag_ms[r], lag_ms);
        atomic_store(&lag_seen[r], 1);
    }
    hl_metric_set(hl_metric_get(HL_METRIC_GAUGE, "hl_projection_lag_ms", labels,
                                "Source time (event or commit) to applied, of the last input, ms"),
                  lag_ms);
    hl_metric_observe_us(hl_metric_get(HL_METRIC_HISTOGRAM, "hl_projection_lag_seconds", labels,
                                       "Source time (event or commit) to applied"),
                         lag_ms * 1000);
}

int64_t pj_last_lag_ms(const char *projection)
{
    int r = route_index(projection);
    return r >= 0 && atomic_load(&lag_seen[r]) ? atomic_load(&last_lag_ms[r]) : -1;
}

void pj_metrics_init(void)
{
    for (const pj_route_t *r = pj_routes; r->topic; r++) {
        char labels[96];
        snprintf(labels, sizeof labels, "projection=\"%s\"", r->projection);
        hl_metric_add(hl_metric_get(HL_METRIC_COUNTER, "hl_projection_dead_letters_total", labels,
                                    "Inputs sent to the dead-letter topic"),
                      0);
    }
}

/* ---- writer schema cache ---- */

#define CACHE_MAX 256
struct pj_schema_cache {
    hl_schema_registry_t *reg;
    int ids[CACHE_MAX];
    avro_schema_t schemas[CACHE_MAX];
    avro_value_iface_t *ifaces[CACHE_MAX];
    int n;
};

pj_schema_cache_t *pj_schema_cache_new(hl_schema_registry_t *reg)
{
    pj_schema_cache_t *c = hl_xcalloc(1, sizeof *c);
    if (c)
        c->reg = reg;
    return c;
}

void pj_schema_cache_destroy(pj_schema_cache_t *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n; i++) {
        avro_value_iface_decref(c->ifaces[i]);
        avro_schema_decref(c->schemas[i]);
    }
    free(c);
}

avro_value_iface_t *pj_schema_cache_get(pj_schema_cache_t *c, int id, hl_error_t *err)
{
    for (int i = 0; i < c->n; i++)
        if (c->ids[i] == id)
            return c->ifaces[i];
    if (c->n == CACHE_MAX) {
        hl_error_set(err, HL_ERR_AVRO, 0, "writer schema cache full");
        return NULL;
    }
    char *text = hl_schema_registry_get(c->reg, id, err);
    if (!text)
        return NULL;
    avro_schema_t schema = NULL;
    if (avro_schema_from_json_length(text, strlen(text), &schema) != 0) {
        hl_error_set_reason(err, HL_ERR_AVRO, 0, "bad-schema", "schema %d does not parse: %s", id,
                            avro_strerror());
        free(text);
        return NULL;
    }
    free(text);
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    if (!iface) {
        avro_schema_decref(schema);
        hl_error_set_reason(err, HL_ERR_AVRO, 0, "bad-schema", "schema %d: %s", id,
                            avro_strerror());
        return NULL;
    }
    c->ids[c->n] = id;
    c->schemas[c->n] = schema;
    c->ifaces[c->n] = iface;
    c->n++;
    return iface;
}

/* ---- dead letters ---- */

void pj_dead_letter_report(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    pj_ctx_t *ctx = opaque;
    uint64_t seq = (uint64_t)(uintptr_t)m->_private;
    if (!ctx)
        return;
    if (seq && seq == ctx->dlq_seq && !ctx->dlq_done) {
        ctx->dlq_err = m->err;
        ctx->dlq_done = true;
        return;
    }
    ctx->dlq_late++;
    HL_WARN("late delivery report of dead letter #%llu: %s (its wait had given up)",
            (unsigned long long)seq, m->err ? rd_kafka_err2str(m->err) : "delivered");
}

bool pj_dead_letter(pj_ctx_t *ctx, const rd_kafka_message_t *msg, const char *projection,
                    const hl_error_t *reason, hl_error_t *err)
{
    char partition[16], offset[24], at[40];
    snprintf(partition, sizeof partition, "%d", (int)msg->partition);
    snprintf(offset, sizeof offset, "%lld", (long long)msg->offset);
    hl_format_rfc3339_us(hl_now_us(), at, sizeof at);
    const char *topic = rd_kafka_topic_name(msg->rkt);
    /* the opaque is a number: a report that comes after we gave up finds no frame of ours */
    uint64_t seq = ++ctx->dlq_seq;
    ctx->dlq_done = false;
    ctx->dlq_err = RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(msg, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs)
        hdrs = rd_kafka_headers_copy(hdrs);
    else
        hdrs = rd_kafka_headers_new(8);
    rd_kafka_header_add(hdrs, "dlq.reason", -1, reason->reason[0] ? reason->reason : "error", -1);
    rd_kafka_header_add(hdrs, "dlq.error", -1, reason->message, -1);
    rd_kafka_header_add(hdrs, "dlq.projection", -1, projection ? projection : "", -1);
    rd_kafka_header_add(hdrs, "dlq.topic", -1, topic, -1);
    rd_kafka_header_add(hdrs, "dlq.partition", -1, partition, -1);
    rd_kafka_header_add(hdrs, "dlq.offset", -1, offset, -1);
    rd_kafka_header_add(hdrs, "dlq.at", -1, at, -1);
    rd_kafka_resp_err_t kerr = rd_kafka_producev(
        ctx->dlq_producer, RD_KAFKA_V_TOPIC(ctx->cfg.dlq_topic),
        RD_KAFKA_V_KEY(msg->key, msg->key_len), RD_KAFKA_V_VALUE(msg->payload, msg->len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
        RD_KAFKA_V_OPAQUE((void *)(uintptr_t)seq), RD_KAFKA_V_END);
    if (kerr) {
        rd_kafka_headers_destroy(hdrs);
        return hl_error_set(err, HL_ERR_KAFKA, kerr, "dead-letter produce: %s",
                            rd_kafka_err2str(kerr));
    }
    int64_t deadline = hl_mono_ms() + (ctx->dlq_wait_ms > 0 ? ctx->dlq_wait_ms : 10000);
    while (!ctx->dlq_done && hl_mono_ms() < deadline)
        rd_kafka_poll(ctx->dlq_producer, 50);
    bool done = ctx->dlq_done;
    rd_kafka_resp_err_t derr = ctx->dlq_err;
    ctx->dlq_seq++; /* a report of this message from now on is late */
    if (!done || derr)
        return hl_error_set(err, HL_ERR_KAFKA, derr, "dead-letter delivery: %s",
                            done ? rd_kafka_err2str(derr) : "timed out");
    char labels[96];
    snprintf(labels, sizeof labels, "projection=\"%s\"", projection ? projection : "unknown");
    hl_metric_add(hl_metric_get(HL_METRIC_COUNTER, "hl_projection_dead_letters_total", labels,
                                "Inputs sent to the dead-letter topic"),
                  1);
    HL_WARN("dead-lettered %s[%d]@%lld (%s): %s", topic, (int)msg->partition,
            (long long)msg->offset, reason->reason, reason->message);
    return true;
}
