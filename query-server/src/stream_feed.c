/* stream_feed.c: the feed thread. Consumes every partition of the change feed from its end
 * (assign, no consumer group: each listener fans out to its own connections; a reconnecting
 * client's gap comes from the read models, never from the feed), decodes each StreamChange
 * (schemas/StreamChange.avsc; writer schemas fetched from the registry by id), renders it once
 * with the query API's renderers and hands it to the loop. Notifications are rendered from
 * their read-model document (read state and actor name as GET /v1/notifications shows them),
 * only for channels someone listens to. */
#include "aliases.h"
#include "page.h"
#include "read_api.h"
#include "stream_app.h"
#include "stream_feed.h"
#include "stream_work.h"
#include "stream_inbox.h"
#include "stream_loop.h"
#include "stream_revoked.h"

#include "hl/events.h"
#include "hl/kafka.h"
#include "hl/log.h"
#include "hl/schema_registry.h"
#include "hl/trace.h"
#include "hl/util.h"
#include "hl/mem.h"

#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMAS_MAX 16

typedef struct {
    st_app_t *app;
    rd_kafka_t *rk;
    hl_schema_registry_t *reg;
    struct {
        int id;
        avro_schema_t schema;
        avro_value_iface_t *iface;
    } schemas[SCHEMAS_MAX];
    size_t nschemas;
} feed_t;

static feed_t g_feed;

static avro_value_iface_t *schema_of(feed_t *f, int id, hl_error_t *err)
{
    for (size_t i = 0; i < f->nschemas; i++)
        if (f->schemas[i].id == id)
            return f->schemas[i].iface;
    char *text = hl_schema_registry_get(f->reg, id, err);
    if (!text)
        return NULL;
    avro_schema_t schema = NULL;
    if (avro_schema_from_json_length(text, strlen(text), &schema) != 0) {
        hl_error_set(err, HL_ERR_AVRO, 0, "schema %d: %s", id, avro_strerror());
        free(text);
        return NULL;
    }
    free(text);
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    if (f->nschemas < SCHEMAS_MAX) {
        f->schemas[f->nschemas].id = id;
        f->schemas[f->nschemas].schema = schema;
        f->schemas[f->nschemas++].iface = iface;
    }
    return iface;
}

/* Render one decoded change into an event (NULL: nothing to fan out). */
static st_event_t *render(feed_t *f, const char *channel, const char *kind, int64_t position,
                          int64_t version, const char *doc_id, const char *document)
{
    bson_error_t berr;
    bson_t *doc = bson_new_from_json((const uint8_t *)document, -1, &berr);
    st_event_t *ev = NULL;
    bson_t item = BSON_INITIALIZER;
    char presence[16] = "";
    bool ended = false;
    if (!doc) {
        HL_WARN("feed: undecodable document of %s: %s", channel, berr.message);
        goto done;
    }
    if (!strcmp(kind, "message") && !strncmp(channel, "room:", 5)) {
        bson_destroy(&item);
        qs_render_message(doc, channel + 5, &item);
    } else if (!strcmp(kind, "read")) {
        BSON_APPEND_UTF8(&item, "user_id", qs_doc_string(doc, "user_id", ""));
        BSON_APPEND_INT64(&item, "up_to_seq", qs_doc_int(doc, "last_read_seq", 0));
    } else if (!strcmp(kind, "presence")) {
        /* the effective presence as the read models hold it now (a user_profiles change of
         * the user-set status or a presence change of the connections: either needs the
         * other; qs_presence_effective) */
        qs_ctx_t ctx;
        memset(&ctx, 0, sizeof ctx);
        ctx.app = &f->app->qs;
        ctx.client = qs_client_acquire(&f->app->qs);
        hl_error_t err = {0};
        bson_t profile, conn;
        int pf = qs_find_one(&ctx, "user_profiles", doc_id, &profile, &err);
        int cf = pf < 0 ? -1 : qs_find_one(&ctx, "presence", doc_id, &conn, &err);
        qs_end(&ctx);
        if (pf < 0 || cf < 0) {
            HL_WARN("feed: presence of %s: %s", doc_id, err.message);
            if (pf > 0)
                bson_destroy(&profile);
            goto done;
        }
        BSON_APPEND_UTF8(&item, "user_id", doc_id);
        snprintf(presence, sizeof presence, "%s",
                 qs_presence_effective(pf ? &profile : NULL, cf ? &conn : NULL, &item));
        if (pf)
            bson_destroy(&profile);
        if (cf)
            bson_destroy(&conn);
    } else if (!strcmp(kind, "notification")) {
        /* the document as the read model holds it now (read state, stubs filled) */
        qs_ctx_t ctx;
        memset(&ctx, 0, sizeof ctx);
        ctx.app = &f->app->qs;
        ctx.client = qs_client_acquire(&f->app->qs);
        qs_docs_t d = {0};
        hl_error_t err = {0};
        st_job_t tmp;
        memset(&tmp, 0, sizeof tmp);
        size_t cap = 0;
        bson_t *filter = BCON_NEW("_id", BCON_UTF8(doc_id));
        bool ok = qs_find(&ctx, "notifications", filter, NULL, &d, &err) &&
                  st_render_notifications(&ctx, channel, &d, &tmp, &cap, &err);
        bson_destroy(filter);
        qs_docs_free(&d);
        qs_end(&ctx);
        if (!ok)
            HL_WARN("feed: notification %s: %s", doc_id, err.message);
        if (tmp.nevents)
            ev = tmp.events[0];
        for (size_t i = 1; i < tmp.nevents; i++)
            st_event_unref(tmp.events[i]);
        free(tmp.events);
        goto done;
    } else if (strcmp(kind, "revoked") && strcmp(kind, "member-removed") && strcmp(kind, "job") &&
               strcmp(kind, "blocked")) {
        goto done; /* a kind this listener does not know yet */
    } else if (!strcmp(kind, "job")) {
        /* the fields the projector wrote are the whole job row (CDC): render them as
         * GET /v1/jobs/{id} does */
        ended = qs_render_job(doc, doc_id, &item);
    }
    size_t len = 0;
    char *json = bson_as_relaxed_extended_json(&item, &len);
    ev = json ? st_event_new(channel, kind, json, len) : NULL;
    bson_free(json);
done:
    if (ev) {
        if (!strcmp(kind, "message"))
            ev->pos.a = position;
        else if (!strcmp(kind, "read"))
            ev->pos.b = position;
        else
            ev->pos.a = position;
        ev->version = version;
        if (!strcmp(kind, "read") || !strcmp(kind, "member-removed"))
            snprintf(ev->subject, sizeof ev->subject, "%s", qs_doc_string(doc, "user_id", ""));
        else if (!strcmp(kind, "presence"))
            snprintf(ev->subject, sizeof ev->subject, "%s", presence);
        else if (!strcmp(kind, "job") && ended)
            snprintf(ev->subject, sizeof ev->subject, "ended");
        else if (!strcmp(kind, "revoked") && !strncmp(channel, "session:", 8))
            snprintf(ev->subject, sizeof ev->subject, "%s", channel + 8);
    }
    bson_destroy(&item);
    if (doc)
        bson_destroy(doc);
    return ev;
}

/* A session's expiry (Unix ms) from its `sessions` fields ($date expires_at); when absent or
 * unreadable, the longest session lifetime the command server allows (a year) from now. */
static int64_t expiry_of(const bson_t *doc)
{
    bson_iter_t it;
    if (doc && bson_iter_init_find(&it, doc, "expires_at") && BSON_ITER_HOLDS_DATE_TIME(&it))
        return bson_iter_date_time(&it);
    return hl_now_us() / 1000 + 366LL * 86400 * 1000;
}

/* A log-out from the feed (the session's fields as the projector wrote them, JSON): remembered
 * before the loop sees the record, so a handshake after it is refused (stream_revoked.h). */
static void remember_revoked(const char *session_id, const char *document)
{
    bson_error_t berr;
    bson_t *doc = document ? bson_new_from_json((const uint8_t *)document, -1, &berr) : NULL;
    st_revoked_add(session_id, expiry_of(doc));
    if (doc)
        bson_destroy(doc);
}

/* Every revoked, unexpired session of the `sessions` read model into the revoked set (after the
 * feed is assigned: stream_revoked.h says why that order). Error: HL_ERR_MONGO. */
static bool load_revoked(feed_t *f, hl_error_t *err)
{
    qs_app_t *qs = &f->app->qs;
    mongoc_client_t *client = qs_client_acquire(qs);
    mongoc_collection_t *coll = qs_collection(qs, client, "sessions");
    bson_t *filter = BCON_NEW("revoked_at", "{", "$ne", BCON_NULL, "}", "expires_at", "{", "$gt",
                              BCON_DATE_TIME(hl_now_us() / 1000), "}");
    bson_t *opts =
        BCON_NEW("projection", "{", "_id", BCON_INT32(1), "expires_at", BCON_INT32(1), "}");
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
    const bson_t *doc;
    size_t n = 0;
    while (mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it;
        if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_UTF8(&it)) {
            st_revoked_add(bson_iter_utf8(&it, NULL), expiry_of(doc));
            n++;
        }
    }
    bson_error_t berr;
    bool ok = !mongoc_cursor_error(cur, &berr);
    if (!ok)
        hl_error_set(err, HL_ERR_MONGO, (int)berr.code, "revoked sessions: %s", berr.message);
    else
        HL_INFO("feed: %zu revoked sessions loaded", n);
    mongoc_cursor_destroy(cur);
    bson_destroy(opts);
    bson_destroy(filter);
    mongoc_collection_destroy(coll);
    qs_client_release(qs, client);
    return ok;
}

/* The record's traceparent header into out (HL_TRACE_PARENT_LEN + 1 bytes), "" when none. */
static void traceparent_of(const rd_kafka_message_t *m, char *out)
{
    rd_kafka_headers_t *h = NULL;
    const void *v = NULL;
    size_t len = 0;
    out[0] = '\0';
    if (rd_kafka_message_headers(m, &h) == 0 && h &&
        rd_kafka_header_get_last(h, "traceparent", &v, &len) == 0 && v &&
        len == HL_TRACE_PARENT_LEN) {
        memcpy(out, v, len);
        out[len] = '\0';
    }
}

static void handle(feed_t *f, const rd_kafka_message_t *m)
{
    int64_t received_ns = hl_trace_now_ns();
    hl_error_t err = {0};
    int id = 0;
    const uint8_t *body = NULL;
    size_t blen = 0;
    avro_value_t value, rec;
    const char *type = NULL;
    st_change_t ch;
    avro_value_iface_t *iface;
    if (!hl_confluent_unframe(m->payload, m->len, &id, &body, &blen, &err) ||
        !(iface = schema_of(f, id, &err)) ||
        !hl_event_decode(iface, body, blen, &value, &rec, &type, &err)) {
        HL_WARN("feed: %s[%d]@%lld: %s", rd_kafka_topic_name(m->rkt), (int)m->partition,
                (long long)m->offset, err.message);
        return;
    }
    if (st_change_decode(&rec, &ch, &err)) {
        if (!strcmp(ch.kind, "revoked") && !strncmp(ch.channel, "session:", 8))
            remember_revoked(ch.channel + 8, ch.document);
        bool wanted = !strcmp(ch.kind, "revoked") || !strcmp(ch.kind, "blocked") ||
                      st_interested(f->app, ch.channel);
        st_event_t *ev =
            wanted ? render(f, ch.channel, ch.kind, ch.position, ch.version, ch.doc_id, ch.document)
                   : NULL;
        st_msg_t *msg = ev ? hl_xcalloc(1, sizeof *msg) : NULL;
        if (msg) {
            ev->projected_us = ch.projected_at;
            ev->received_ns = received_ns;
            traceparent_of(m, ev->traceparent);
            msg->kind = ST_MSG_EVENT;
            msg->event = ev;
            st_post(f->app, msg);
        } else {
            st_event_unref(ev);
        }
    } else {
        HL_WARN("feed: %s", err.message);
    }
    avro_value_decref(&value);
}

/* Assign every partition of the topic at its end (the high watermark read now, not
 * OFFSET_END, which is resolved later: what load_revoked reads must come before it); false
 * until the topic exists and every watermark is known. */
static bool assign_all(feed_t *f)
{
    const char *topic = f->app->cfg.feed_topic;
    rd_kafka_topic_t *t = rd_kafka_topic_new(f->rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    bool ok = false;
    if (rd_kafka_metadata(f->rk, 0, t, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR && md &&
        md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0) {
        rd_kafka_topic_partition_list_t *parts =
            rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
        ok = true;
        for (int i = 0; ok && i < md->topics[0].partition_cnt; i++) {
            int32_t part = md->topics[0].partitions[i].id;
            int64_t low = 0, high = 0;
            ok = rd_kafka_query_watermark_offsets(f->rk, topic, part, &low, &high, 5000) ==
                 RD_KAFKA_RESP_ERR_NO_ERROR;
            rd_kafka_topic_partition_list_add(parts, topic, part)->offset = high;
        }
        ok = ok && rd_kafka_assign(f->rk, parts) == RD_KAFKA_RESP_ERR_NO_ERROR;
        if (ok)
            HL_INFO("feed: consuming %d partitions of %s from their end",
                    md->topics[0].partition_cnt, topic);
        rd_kafka_topic_partition_list_destroy(parts);
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    return ok;
}

static void *feed_main(void *arg)
{
    feed_t *f = arg;
    while (!atomic_load(&f->app->stopping) && !assign_all(f)) {
        HL_INFO("feed: topic %s not available yet; retrying", f->app->cfg.feed_topic);
        for (int i = 0; i < 10 && !atomic_load(&f->app->stopping); i++)
            rd_kafka_poll(f->rk, 100);
    }
    for (hl_error_t err = {0}; !atomic_load(&f->app->stopping) && !load_revoked(f, &err);) {
        HL_WARN("feed: %s; retrying", err.message);
        hl_error_clear(&err);
        for (int i = 0; i < 10 && !atomic_load(&f->app->stopping); i++)
            rd_kafka_poll(f->rk, 100);
    }
    st_revoked_set_loaded();
    atomic_store(&f->app->feed_ready, true);
    int64_t next_sweep_ms = hl_mono_ms() + 60000;
    while (!atomic_load(&f->app->stopping)) {
        if (hl_mono_ms() >= next_sweep_ms) {
            st_revoked_sweep(hl_now_us() / 1000);
            next_sweep_ms = hl_mono_ms() + 60000;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(f->rk, 200);
        if (!m)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                HL_WARN("feed: %s", rd_kafka_message_errstr(m));
        } else {
            handle(f, m);
        }
        rd_kafka_message_destroy(m);
    }
    return NULL;
}

bool st_feed_start(st_app_t *app, hl_error_t *err)
{
    feed_t *f = &g_feed;
    memset(f, 0, sizeof *f);
    f->app = app;
    if (!(f->reg = hl_schema_registry_new(app->cfg.schema_registry_url, 5000, err)))
        return false;
    rd_kafka_conf_t *conf = hl_kafka_conf_new(app->cfg.kafka_brokers, "hearlers-stream-feed", err);
    if (!conf || !hl_kafka_set(conf, "group.id", "hearlers-stream-listener-unused", err) ||
        !hl_kafka_set(conf, "enable.auto.commit", "false", err) ||
        !hl_kafka_set(conf, "enable.auto.offset.store", "false", err) ||
        !hl_kafka_set(conf, "fetch.wait.max.ms", "10", err)) {
        if (conf)
            rd_kafka_conf_destroy(conf);
        return false;
    }
    char errstr[512];
    if (!(f->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr))) {
        rd_kafka_conf_destroy(conf);
        return hl_error_set(err, HL_ERR_KAFKA, 0, "feed consumer: %s", errstr);
    }
    if (pthread_create(&app->feed_thread, NULL, feed_main, f) != 0)
        return hl_error_set(err, HL_ERR_SYSTEM, 0, "cannot start the feed thread");
    return true;
}

void st_feed_stop(st_app_t *app)
{
    feed_t *f = &g_feed;
    if (!f->rk)
        return;
    pthread_join(app->feed_thread, NULL);
    /* assign() only: nothing to commit, no group to leave, so no consumer close (which can
     * wait on the group coordinator) */
    rd_kafka_destroy_flags(f->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    for (size_t i = 0; i < f->nschemas; i++) {
        avro_value_iface_decref(f->schemas[i].iface);
        avro_schema_decref(f->schemas[i].schema);
    }
    hl_schema_registry_destroy(f->reg);
    f->rk = NULL;
}
