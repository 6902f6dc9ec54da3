/* feed.c: the change feed of feed.h: which read-model writes become StreamChange records, and
 * their producer. */
#include "feed.h"

#include "hl/events.h"
#include "hl/kafka.h"
#include "hl/log.h"
#include "hl/schema_registry.h"
#include "hl/util.h"
#include "hl/mem.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The $set document of op's update into *set (a static view); false when absent. */
static bool op_set(const pj_op_t *op, bson_t *set)
{
    bson_iter_t it;
    uint32_t len = 0;
    const uint8_t *data = NULL;
    if (!bson_iter_init_find(&it, &op->update, "$set") || !BSON_ITER_HOLDS_DOCUMENT(&it))
        return false;
    bson_iter_document(&it, &len, &data);
    return bson_init_static(set, data, len);
}

static const char *doc_str(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_UTF8(&it)
               ? bson_iter_utf8(&it, NULL)
               : NULL;
}

static bool doc_long(const bson_t *doc, const char *key, int64_t *out)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, key) ||
        !(BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it)))
        return false;
    *out = bson_iter_as_int64(&it);
    return true;
}

/* The first `digits` decimal digits of text as *out (no sign); false when any is not a digit. */
static bool parse_digits(const char *text, int digits, int64_t *out)
{
    int64_t v = 0;
    for (int i = 0; i < digits; i++) {
        if (text[i] < '0' || text[i] > '9' || v > (INT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (text[i] - '0');
    }
    *out = v;
    return true;
}

/* The change of one operation into *c; false when the operation is not streamed. */
static bool change_of(const pj_op_t *op, pj_feed_change_t *c)
{
    bson_t set;
    const char *id = doc_str(&op->filter, "_id");
    const char *owner = NULL;
    if (!id)
        return false;
    memset(c, 0, sizeof *c);
    c->doc_id = id;
    if (op->kind == PJ_OP_DELETE && !strcmp(op->model, "room_members")) {
        /* a member left: _id "<room>:<user>"; their streams of the room end */
        const char *colon = strchr(id, ':');
        if (!colon || colon - id >= 64)
            return false;
        snprintf(c->key, sizeof c->key, "%.*s", (int)(colon - id), id);
        snprintf(c->channel, sizeof c->channel, "room:%s", c->key);
        c->kind = "member-removed";
        bson_t doc = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&doc, "user_id", colon + 1);
        c->document = bson_as_relaxed_extended_json(&doc, NULL);
        bson_destroy(&doc);
        return c->document != NULL;
    }
    if (op->kind != PJ_OP_UPSERT || !op_set(op, &set))
        return false;
    if (!strcmp(op->model, "sessions")) {
        /* a log-out: the session's streams end */
        bson_iter_t it;
        owner = doc_str(&set, "user_id");
        if (!owner || !bson_iter_init_find(&it, &set, "revoked_at") || BSON_ITER_HOLDS_NULL(&it) ||
            !doc_long(&set, "version", &c->position))
            return false;
        c->version = c->position;
        snprintf(c->channel, sizeof c->channel, "session:%s", id);
        c->kind = "revoked";
    } else if (!strcmp(op->model, "messages")) {
        owner = doc_str(&set, "room_id");
        if (!owner || !doc_long(&set, "seq", &c->position) ||
            !doc_long(&set, "room_version", &c->version))
            return false;
        snprintf(c->channel, sizeof c->channel, "room:%s", owner);
        c->kind = "message";
    } else if (!strcmp(op->model, "room_members")) {
        owner = doc_str(&set, "room_id");
        if (!owner || !doc_long(&set, "room_version", &c->position) || c->position <= 1)
            return false;
        c->version = c->position;
        snprintf(c->channel, sizeof c->channel, "room:%s", owner);
        c->kind = "read";
    } else if (!strcmp(op->model, "notifications")) {
        /* only the creation ($set with kind), not read-state updates; _id
         * "<user>:<created µs, 19 digits>:<event id>" */
        owner = doc_str(&set, "user_id");
        const char *colon = strchr(id, ':');
        if (!owner || !doc_str(&set, "kind") || !colon ||
            !parse_digits(colon + 1, 19, &c->position))
            return false;
        c->version = c->position;
        snprintf(c->channel, sizeof c->channel, "notifications:%s", owner);
        c->kind = "notification";
    } else if (!strcmp(op->model, "user_profiles")) {
        owner = id;
        if (!doc_str(&set, "presence") || !doc_long(&set, "version", &c->position))
            return false;
        c->version = c->position;
        snprintf(c->channel, sizeof c->channel, "presence:%s", owner);
        c->kind = "presence";
    } else {
        return false;
    }
    snprintf(c->key, sizeof c->key, "%s", owner);
    c->document = bson_as_relaxed_extended_json(&set, NULL);
    return c->document != NULL;
}

size_t pj_feed_changes(const pj_plan_t *plan, pj_feed_change_t *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < plan->n && n < cap; i++)
        if (change_of(plan->ops[i], &out[n]))
            n++;
    return n;
}

void pj_feed_changes_free(pj_feed_change_t *changes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bson_free(changes[i].document);
        changes[i].document = NULL;
    }
}

struct pj_feed {
    rd_kafka_t *producer;
    rd_kafka_topic_t *topic;
    hl_event_catalog_t *catalog;
    hl_topic_schema_t *schema;
    atomic_llong published;
};

/* Delivery report: count outstanding records of the publish call that owns *opaque. */
typedef struct {
    int pending;
    rd_kafka_resp_err_t first_err;
} feed_batch_t;

static void feed_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    pj_feed_t *f = opaque;
    feed_batch_t *b = m->_private;
    if (!m->err && f)
        atomic_fetch_add(&f->published, 1);
    if (!b)
        return;
    if (m->err && !b->first_err)
        b->first_err = m->err;
    b->pending--;
}

pj_feed_t *pj_feed_new(const char *brokers, const char *registry_url, const char *schemas_dir,
                       const char *topic, hl_error_t *err)
{
    pj_feed_t *f = hl_xcalloc(1, sizeof *f);
    hl_schema_registry_t *reg = NULL;
    rd_kafka_conf_t *conf = NULL;
    if (!f) {
        hl_error_set(err, HL_ERR_SYSTEM, 0, "out of memory");
        return NULL;
    }
    if (!(f->catalog = hl_event_catalog_load(schemas_dir, err)))
        goto fail;
    if (!(f->schema = hl_event_catalog_topic(f->catalog, topic))) {
        hl_error_set(err, HL_ERR_CONFIG, 0, "topics.json declares no topic %s", topic);
        goto fail;
    }
    if (!(reg = hl_schema_registry_new(registry_url, 5000, err)) ||
        !hl_schema_registry_set_compatibility(reg, f->schema->subject, "BACKWARD", err) ||
        !hl_schema_registry_register(reg, f->schema->subject, f->schema->schema_json,
                                     &f->schema->schema_id, err))
        goto fail;
    HL_INFO("change feed %s: schema %s id %d", topic, f->schema->subject, f->schema->schema_id);
    if (!(conf = hl_kafka_conf_new(brokers, "hearlers-projector-feed", err)) ||
        !hl_kafka_set(conf, "enable.idempotence", "true", err) ||
        !hl_kafka_set(conf, "acks", "all", err) || !hl_kafka_set(conf, "linger.ms", "2", err))
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, feed_dr);
    rd_kafka_conf_set_opaque(conf, f);
    char errstr[512];
    if (!(f->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr))) {
        hl_error_set(err, HL_ERR_KAFKA, 0, "change-feed producer: %s", errstr);
        goto fail;
    }
    conf = NULL; /* owned by the producer */
    f->topic = rd_kafka_topic_new(f->producer, topic, NULL);
    hl_schema_registry_destroy(reg);
    return f;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    hl_schema_registry_destroy(reg);
    pj_feed_destroy(f);
    return NULL;
}

/* Encode change c as a Confluent-framed StreamChange into *out (malloc'd). */
static bool encode(pj_feed_t *f, const pj_feed_change_t *c, int64_t now_us, uint8_t **out,
                   size_t *len, hl_error_t *err)
{
    hl_event_t ev;
    uint8_t *body = NULL;
    size_t blen = 0;
    if (!hl_event_init(&ev, f->catalog, "StreamChange", err))
        return false;
    bool ok = hl_avro_set_string(&ev.record, "channel", c->channel, err) &&
              hl_avro_set_string(&ev.record, "kind", c->kind, err) &&
              hl_avro_set_long(&ev.record, "position", c->position, err) &&
              hl_avro_set_long(&ev.record, "version", c->version, err) &&
              hl_avro_set_string(&ev.record, "doc_id", c->doc_id, err) &&
              hl_avro_set_string(&ev.record, "document", c->document, err) &&
              hl_avro_set_long(&ev.record, "projected_at", now_us, err) &&
              hl_event_serialize(&ev, &body, &blen, err) &&
              hl_confluent_frame(f->schema->schema_id, body, blen, out, len, err);
    free(body);
    hl_event_destroy(&ev);
    return ok;
}

bool pj_feed_publish(pj_feed_t *feed, const pj_plan_t *const *plans, size_t n, int timeout_ms,
                     hl_error_t *err)
{
    feed_batch_t batch = {0};
    int64_t now_us = hl_now_us();
    bool ok = true;
    enum { PER_PLAN = 64 };
    pj_feed_change_t changes[PER_PLAN];
    for (size_t p = 0; p < n && ok; p++) {
        size_t k = pj_feed_changes(plans[p], changes, PER_PLAN);
        for (size_t i = 0; i < k && ok; i++) {
            uint8_t *frame = NULL;
            size_t flen = 0;
            if (!encode(feed, &changes[i], now_us, &frame, &flen, err)) {
                ok = false;
                break;
            }
            for (;;) {
                if (rd_kafka_produce(feed->topic, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_FREE, frame,
                                     flen, changes[i].key, strlen(changes[i].key), &batch) == 0) {
                    batch.pending++;
                    break;
                }
                rd_kafka_resp_err_t e = rd_kafka_last_error();
                if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                    free(frame);
                    ok = hl_error_set(err, HL_ERR_KAFKA, e, "produce %s: %s",
                                      rd_kafka_topic_name(feed->topic), rd_kafka_err2str(e));
                    break;
                }
                rd_kafka_poll(feed->producer, 10);
            }
        }
        pj_feed_changes_free(changes, k);
    }
    /* wait for every delivery report of this call (even after a failure: batch is on the
     * stack) */
    for (int64_t end = hl_mono_ms() + timeout_ms; batch.pending > 0;) {
        rd_kafka_poll(feed->producer, 5);
        if (hl_mono_ms() > end && batch.pending > 0) {
            rd_kafka_purge(feed->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            end = INT64_MAX; /* purged records report __PURGE_* at once */
            if (!batch.first_err)
                batch.first_err = RD_KAFKA_RESP_ERR__TIMED_OUT;
        }
    }
    if (ok && batch.first_err)
        ok = hl_error_set(err, HL_ERR_KAFKA, batch.first_err, "change feed: %s",
                          rd_kafka_err2str(batch.first_err));
    return ok;
}

int64_t pj_feed_published(const pj_feed_t *feed)
{
    return feed ? atomic_load(&feed->published) : 0;
}

void pj_feed_destroy(pj_feed_t *feed)
{
    if (!feed)
        return;
    if (feed->topic)
        rd_kafka_topic_destroy(feed->topic);
    if (feed->producer) {
        rd_kafka_flush(feed->producer, 10000);
        rd_kafka_destroy(feed->producer);
    }
    hl_event_catalog_destroy(feed->catalog);
    free(feed);
}
