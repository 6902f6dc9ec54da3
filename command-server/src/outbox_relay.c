#include "outbox_relay.h"

#include "hl/events.h"
#include "hl/kafka.h"
#include "hl/log.h"
#include "hl/mem.h"
#include "hl/metrics.h"
#include "hl/pg.h"
#include "hl/trace.h"
#include "hl/util.h"

#include "hl/signals.h"

#include <bson/bson.h>
#include <librdkafka/rdkafka.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RELAY_LOCK_KEY 0x686c6f7574626f78LL /* "hloutbox" */

struct cs_relay {
    char *conninfo;
    int batch_size;
    long poll_interval_ms;
    rd_kafka_t *rk;
    pthread_t thread;
    atomic_bool stop;
    atomic_bool kafka_up;
    PGconn *pg;
    bool leader;
    int64_t last_backlog_ms; /* when update_backlog last ran (monotonic) */
    long long idempotency_ttl_s;
    int64_t last_sweep_ms; /* when sweep_idempotency_keys last ran (monotonic) */
    /* the next rows to publish, read by the statement that deleted the last acknowledged
     * ones (publish_batch); NULL = read them first */
    PGresult *next;
    hl_metric_t *m_expired;
    hl_metric_t *m_published, *m_failed, *m_backlog, *m_lag, *m_oldest_age;
};

/* One produced row awaiting its delivery report. */
typedef struct {
    int64_t position;
    int64_t occurred_at_us;
    int state;       /* 0 pending, 1 delivered, -1 failed */
    hl_span_t *span; /* outbox.publish of a sampled event, NULL otherwise (owned) */
} inflight_t;

/* Start the publish span of an event whose stored traceparent is sampled; tp_out gets the
 * traceparent the Kafka record carries (the span's, or the stored one unchanged). */
static hl_span_t *publish_span(const char *stored_tp, const char *topic, const char *etype,
                               char tp_out[HL_TRACE_PARENT_LEN + 1])
{
    hl_trace_ctx_t parent;
    snprintf(tp_out, HL_TRACE_PARENT_LEN + 1, "%s", stored_tp);
    if (!hl_trace_parse(stored_tp, &parent) || !parent.sampled)
        return NULL;
    hl_span_t *s = hl_xmalloc(sizeof *s);
    hl_span_start(s, "outbox.publish", HL_SPAN_PRODUCER, &parent, 0);
    hl_span_attr_str(s, "messaging.system", "kafka");
    hl_span_attr_str(s, "messaging.destination.name", topic);
    hl_span_attr_str(s, "hl.event_type", etype);
    hl_trace_format(&s->ctx, tp_out);
    return s;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    cs_relay_t *relay = opaque;
    inflight_t *f = m->_private;
    if (!f)
        return;
    if (m->err) {
        f->state = -1;
        hl_metric_add(relay->m_failed, 1);
        HL_WARN("outbox relay: delivery of position %lld failed: %s", (long long)f->position,
                rd_kafka_err2str(m->err));
    } else {
        f->state = 1;
        atomic_store(&relay->kafka_up, true);
    }
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    cs_relay_t *relay = opaque;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || err == RD_KAFKA_RESP_ERR__TRANSPORT)
        atomic_store(&relay->kafka_up, false);
    HL_WARN("outbox relay: kafka: %s: %s", rd_kafka_err2name(err), reason);
}

static rd_kafka_t *producer_new(cs_relay_t *relay, const cs_relay_config_t *cfg, hl_error_t *err)
{
    rd_kafka_conf_t *conf = hl_kafka_conf_new(cfg->kafka_brokers, "hearlers-command-relay", err);
    if (!conf)
        return NULL;
    if (!hl_kafka_set(conf, "enable.idempotence", "true", err) ||
        !hl_kafka_set(conf, "acks", "all", err) || !hl_kafka_set(conf, "linger.ms", "2", err) ||
        !hl_kafka_set(conf, "message.timeout.ms", "30000", err) ||
        !hl_kafka_set(conf, "partitioner", "murmur2_random", err) ||
        !hl_kafka_set_overrides(conf, cfg->kafka_overrides, err)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, relay);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        hl_error_set(err, HL_ERR_KAFKA, 0, "producer: %s", errstr);
    }
    return rk;
}

/* (Re)connect to PostgreSQL, LISTEN and try to become the publishing leader. */
static bool pg_ensure(cs_relay_t *relay)
{
    if (relay->pg && PQstatus(relay->pg) == CONNECTION_OK)
        return true;
    if (relay->pg)
        PQfinish(relay->pg);
    relay->leader = false;
    PQclear(relay->next); /* read under the lost connection's leadership: read again */
    relay->next = NULL;
    relay->pg = PQconnectdb(relay->conninfo);
    if (PQstatus(relay->pg) != CONNECTION_OK) {
        HL_WARN("outbox relay: cannot connect to PostgreSQL: %s", PQerrorMessage(relay->pg));
        PQfinish(relay->pg);
        relay->pg = NULL;
        return false;
    }
    hl_error_t err;
    if (!hl_pg_exec(relay->pg, "LISTEN hl_outbox", &err)) {
        HL_WARN("outbox relay: LISTEN failed: %s", err.message);
        return false;
    }
    /* The relay only deletes what it may redo: an outbox row whose delete is lost in a
     * PostgreSQL crash is published again (at-least-once, consumers are idempotent), an expired
     * key or throttle row is deleted again. So its commits need not wait for the WAL flush. */
    if (!hl_pg_exec(relay->pg, "SET synchronous_commit TO off", &err))
        HL_WARN("outbox relay: synchronous_commit off refused (%s): commits wait for the flush",
                err.message);
    return true;
}

static bool try_lead(cs_relay_t *relay)
{
    if (relay->leader)
        return true;
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT pg_try_advisory_lock(%lld)", RELAY_LOCK_KEY);
    PGresult *r = PQexec(relay->pg, sql);
    relay->leader = PQresultStatus(r) == PGRES_TUPLES_OK && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (relay->leader)
        HL_INFO("outbox relay: publishing (advisory lock held)");
    return relay->leader;
}

/* Wait for a NOTIFY or timeout_ms, whichever first; drain notifications. */
static void wait_notify(cs_relay_t *relay, long timeout_ms)
{
    if (!relay->pg) {
        hl_sleep_or_shutdown(timeout_ms);
        return;
    }
    /* poll(2), not select(2): the socket may be any descriptor, also >= FD_SETSIZE */
    int ready = hl_wait_readable(PQsocket(relay->pg), timeout_ms);
    if (ready < 0)
        hl_sleep_or_shutdown(timeout_ms); /* no socket (connection lost): the loop reconnects */
    if (ready > 0) {
        PQconsumeInput(relay->pg);
        PGnotify *n;
        while ((n = PQnotifies(relay->pg)))
            PQfreemem(n);
    }
}

/* Gauges for alerting (deploy/prometheus/rules/alerts.yml), read with the backlog: sagas past
 * their deadline and not done, and this database's logical replication slots (Debezium's):
 * how many are active (a connected, streaming walsender) and the largest WAL distance in bytes
 * from the current LSN to a slot's confirmed flush position. */
static void update_ops_gauges(cs_relay_t *relay)
{
    PGresult *r = PQexec(
        relay->pg,
        "SELECT (SELECT count(*) FROM sagas WHERE NOT done AND deadline_at < now()),"
        " (SELECT count(*) FROM pg_replication_slots WHERE slot_type = 'logical'"
        "   AND database = current_database() AND active),"
        " (SELECT COALESCE(max(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)), 0)"
        "   ::bigint FROM pg_replication_slots WHERE slot_type = 'logical'"
        "   AND database = current_database())");
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        hl_metric_set(hl_metric_get(HL_METRIC_GAUGE, "hl_saga_overdue", NULL,
                                    "Sagas not done past their deadline"),
                      strtoll(PQgetvalue(r, 0, 0), NULL, 10));
        hl_metric_set(hl_metric_get(HL_METRIC_GAUGE, "hl_cdc_slots_active", NULL,
                                    "Logical replication slots of this database in use (Debezium"
                                    " streaming)"),
                      strtoll(PQgetvalue(r, 0, 1), NULL, 10));
        hl_metric_set(hl_metric_get(HL_METRIC_GAUGE, "hl_cdc_slot_lag_bytes", NULL,
                                    "WAL bytes between now and the furthest-behind logical slot's"
                                    " confirmed flush"),
                      strtoll(PQgetvalue(r, 0, 2), NULL, 10));
    } else {
        HL_WARN("outbox relay: reading saga and slot gauges failed: %s", PQresultErrorMessage(r));
    }
    PQclear(r);
}

static void update_backlog(cs_relay_t *relay)
{
    relay->last_backlog_ms = hl_mono_ms();
    update_ops_gauges(relay);
    PGresult *r =
        PQexec(relay->pg, "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(e.occurred_at))"
                          " * 1000, 0)::bigint FROM outbox o JOIN events e USING (position)");
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        hl_metric_set(relay->m_backlog, strtoll(PQgetvalue(r, 0, 0), NULL, 10));
        hl_metric_set(relay->m_oldest_age, strtoll(PQgetvalue(r, 0, 1), NULL, 10));
    }
    PQclear(r);
}

/* Delete expired Idempotency-Key records in batches of CS_IDEMPOTENCY_SWEEP_ROWS (short
 * statements: command transactions inserting keys are never held up for long). */
static void sweep_idempotency_keys(cs_relay_t *relay)
{
    relay->last_sweep_ms = hl_mono_ms();
    char ttl[24], limit[16];
    snprintf(ttl, sizeof ttl, "%lld", relay->idempotency_ttl_s);
    snprintf(limit, sizeof limit, "%d", CS_IDEMPOTENCY_SWEEP_ROWS);
    const char *p[2] = {ttl, limit};
    for (int round = 0; round < 100 && !atomic_load(&relay->stop); round++) {
        PGresult *r = PQexecParams(relay->pg,
                                   "DELETE FROM idempotency_keys WHERE ctid = ANY (ARRAY("
                                   "SELECT ctid FROM idempotency_keys WHERE created_at <"
                                   " now() - $1::bigint * interval '1 second' LIMIT $2::int))",
                                   2, NULL, p, NULL, NULL, 0);
        long n = -1;
        if (PQresultStatus(r) == PGRES_COMMAND_OK)
            n = strtol(PQcmdTuples(r), NULL, 10);
        else
            HL_WARN("outbox relay: expiring idempotency keys failed: %s", PQresultErrorMessage(r));
        PQclear(r);
        if (n > 0)
            hl_metric_add(relay->m_expired, n);
        if (n < CS_IDEMPOTENCY_SWEEP_ROWS)
            break;
    }
    /* Log-in throttle rows (007_login_throttle.sql) quiet for a day and not locked: forgetting
     * them resets the lock-out growth of an address nobody has tried since. */
    PGresult *r =
        PQexec(relay->pg, "DELETE FROM login_throttle WHERE ctid = ANY (ARRAY(SELECT ctid FROM"
                          " login_throttle WHERE updated_at < now() - interval '1 day' AND"
                          " locked_until_us < (extract(epoch FROM now()) * 1000000)::bigint"
                          " LIMIT 1000))");
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        HL_WARN("outbox relay: expiring log-in throttle rows failed: %s", PQresultErrorMessage(r));
    PQclear(r);
}

/* The rows a round publishes: position, event_id, aggregate_id, event_type, topic, schema_id,
 * payload, traceparent ('' when none), occurred_at (µs since the epoch), in position order. */
/* the key: events.partition_key (event_store.c), else the aggregate id */
#define RELAY_COLUMNS                                                                              \
    "e.position, e.event_id, COALESCE(e.partition_key, e.aggregate_id::text), e.event_type,"       \
    " e.topic, e.schema_id, e.payload, COALESCE(e.traceparent, ''),"                               \
    " (EXTRACT(EPOCH FROM e.occurred_at) * 1000000)::bigint"

/* Read the next rows to publish into relay->next (NULL when there are none). With acked (a
 * PostgreSQL bigint[] literal of the positions Kafka acknowledged last round, or NULL) the
 * delete of those rows and the read of the next ones are one statement and one transaction:
 * the read's snapshot still sees the deleted rows, so they are left out by position. A failure
 * deletes nothing (those rows are sent again: at-least-once). Returns false on error. */
static bool read_next(cs_relay_t *relay, const char *acked)
{
    char limit[16];
    snprintf(limit, sizeof limit, "%d", relay->batch_size);
    PGresult *res;
    if (acked) {
        const char *params[2] = {limit, acked};
        res = PQexecParams(relay->pg,
                           "WITH gone AS (DELETE FROM outbox WHERE position = ANY($2::bigint[]))"
                           " SELECT " RELAY_COLUMNS " FROM outbox o JOIN events e USING (position)"
                           " WHERE o.position <> ALL($2::bigint[]) ORDER BY o.position"
                           " LIMIT $1::int",
                           2, NULL, params, NULL, NULL, 0);
    } else {
        const char *params[1] = {limit};
        res = PQexecParams(relay->pg,
                           "SELECT " RELAY_COLUMNS " FROM outbox o JOIN events e USING (position)"
                           " ORDER BY o.position LIMIT $1::int",
                           1, NULL, params, NULL, NULL, 0);
    }
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        HL_WARN("outbox relay: %s failed%s: %s", acked ? "delete and read" : "read",
                acked ? " (the acknowledged rows will be re-sent)" : "", PQresultErrorMessage(res));
        PQclear(res);
        return false;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        res = NULL;
    }
    relay->next = res;
    return true;
}

/* Publish the rows of relay->next (read first when there are none): produce every row, wait
 * for every delivery report, then delete the acknowledged prefix in the statement that reads
 * the next rows (read_next), which leaves them in relay->next. Returns the number of rows
 * acknowledged and deleted (0 when idle), -1 on error (what was not deleted is sent again). */
static int publish_batch(cs_relay_t *relay)
{
    if (!relay->next && !read_next(relay, NULL))
        return -1;
    PGresult *res = relay->next;
    relay->next = NULL;
    if (!res)
        return 0;
    int n = PQntuples(res);
    inflight_t *fl = hl_xcalloc((size_t)n, sizeof *fl);
    int produced = 0;
    for (int i = 0; i < n; i++) {
        fl[i].position = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        fl[i].occurred_at_us = strtoll(PQgetvalue(res, i, 8), NULL, 10);
        size_t plen = 0;
        unsigned char *payload =
            PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 6), &plen);
        uint8_t *frame = NULL;
        size_t flen = 0;
        hl_error_t err;
        int schema_id = (int)strtol(PQgetvalue(res, i, 5), NULL, 10);
        if (!payload || !hl_confluent_frame(schema_id, payload, plen, &frame, &flen, &err)) {
            PQfreemem(payload);
            fl[i].state = -1;
            break;
        }
        PQfreemem(payload);
        const char *key = PQgetvalue(res, i, 2);
        const char *etype = PQgetvalue(res, i, 3);
        char tp[HL_TRACE_PARENT_LEN + 1];
        fl[i].span = publish_span(PQgetvalue(res, i, 7), PQgetvalue(res, i, 4), etype, tp);
        const char *eid = PQgetvalue(res, i, 1);
        rd_kafka_resp_err_t kerr = rd_kafka_producev(
            relay->rk, RD_KAFKA_V_TOPIC(PQgetvalue(res, i, 4)), RD_KAFKA_V_KEY(key, strlen(key)),
            RD_KAFKA_V_VALUE(frame, flen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
            RD_KAFKA_V_HEADER("traceparent", tp, -1), RD_KAFKA_V_HEADER("event_type", etype, -1),
            RD_KAFKA_V_HEADER("event_id", eid, -1), RD_KAFKA_V_OPAQUE(&fl[i]), RD_KAFKA_V_END);
        if (kerr) {
            free(frame);
            fl[i].state = -1;
            HL_WARN("outbox relay: produce failed: %s", rd_kafka_err2str(kerr));
            break;
        }
        produced++;
    }
    PQclear(res);
    /* Wait for every delivery report; librdkafka retries internally until message.timeout.ms. */
    while (rd_kafka_outq_len(relay->rk) > 0) {
        bool pending = false;
        for (int i = 0; i < produced; i++)
            if (fl[i].state == 0)
                pending = true;
        if (!pending)
            break;
        rd_kafka_poll(relay->rk, 50);
        /* Kafka may be away for a while (up to message.timeout.ms): keep /metrics current. */
        if (hl_mono_ms() - relay->last_backlog_ms >= 1000)
            update_backlog(relay);
    }
    rd_kafka_poll(relay->rk, 0);
    /* Delete the acknowledged prefix: stopping at the first failure keeps per-key order on retry.
     */
    int acked = 0;
    while (acked < produced && fl[acked].state == 1)
        acked++;
    int rc = acked;
    if (acked > 0) {
        bson_string_t *arr = bson_string_new("{");
        for (int i = 0; i < acked; i++)
            bson_string_append_printf(arr, "%s%lld", i ? "," : "", (long long)fl[i].position);
        bson_string_append(arr, "}");
        /* after a failed delivery the rows behind it must go out again before anything newer:
         * read from the start next time, not what follows them */
        /* after a failed delivery, the next rows read start with the rows it left (the read
         * is from the head of the outbox), so per-key order holds on the retry */
        if (!read_next(relay, arr->str)) {
            rc = -1;
        } else {
            int64_t now = hl_now_us();
            hl_metric_add(relay->m_published, acked);
            for (int i = 0; i < acked; i++)
                hl_metric_observe_us(relay->m_lag, now - fl[i].occurred_at_us);
        }
        bson_string_free(arr, true);
    }
    if (acked < produced || produced < n)
        rc = rc > 0 ? rc : -1;
    for (int i = 0; i < n; i++) {
        if (!fl[i].span)
            continue;
        hl_span_attr_int(fl[i].span, "hl.position", fl[i].position);
        if (fl[i].state != 1)
            hl_span_error(fl[i].span, "not acknowledged: will be re-sent");
        hl_span_end(fl[i].span, 0);
        free(fl[i].span);
    }
    free(fl);
    return rc;
}

/* A NOTIFY hl_outbox that libpq already read while it waited for a result (it queues them;
 * the socket then shows nothing): drain the queue, true when it held any. */
static bool notify_pending(cs_relay_t *relay)
{
    bool any = false;
    if (!relay->pg)
        return false;
    PQconsumeInput(relay->pg);
    PGnotify *n;
    while ((n = PQnotifies(relay->pg))) {
        PQfreemem(n);
        any = true;
    }
    return any;
}

static void *relay_main(void *arg)
{
    cs_relay_t *relay = arg;
    long backoff_ms = 100;
    while (!atomic_load(&relay->stop)) {
        if (!pg_ensure(relay) || !try_lead(relay)) {
            hl_sleep_or_shutdown(backoff_ms);
            backoff_ms = backoff_ms < 5000 ? backoff_ms * 2 : 5000;
            if (!relay->pg)
                continue;
            wait_notify(relay, 0);
            continue;
        }
        if (hl_mono_ms() - relay->last_backlog_ms >= 1000)
            update_backlog(relay);
        if (relay->idempotency_ttl_s > 0 &&
            hl_mono_ms() - relay->last_sweep_ms >= CS_IDEMPOTENCY_SWEEP_MS)
            sweep_idempotency_keys(relay);
        int n = publish_batch(relay);
        if (n < 0) {
            hl_sleep_or_shutdown(backoff_ms);
            backoff_ms = backoff_ms < 5000 ? backoff_ms * 2 : 5000;
            continue;
        }
        backoff_ms = 100;
        /* nothing left (the last delete's read found no row): wait for a NOTIFY, unless one
         * came in while a statement ran */
        if (!relay->next && !notify_pending(relay))
            wait_notify(relay, relay->poll_interval_ms);
        rd_kafka_poll(relay->rk, 0);
    }
    return NULL;
}

cs_relay_t *cs_relay_start(const cs_relay_config_t *cfg, hl_error_t *err)
{
    cs_relay_t *relay = hl_xcalloc(1, sizeof *relay);
    relay->conninfo = hl_xstrdup(cfg->pg_conninfo);
    relay->batch_size = cfg->batch_size;
    relay->poll_interval_ms = cfg->poll_interval_ms;
    relay->idempotency_ttl_s = cfg->idempotency_ttl_s;
    relay->m_expired = hl_metric_get(HL_METRIC_COUNTER, "hl_idempotency_keys_expired_total", NULL,
                                     "Idempotency-Key records deleted after idempotency-ttl-s");
    relay->m_published = hl_metric_get(HL_METRIC_COUNTER, "hl_outbox_published_total", NULL,
                                       "Events acknowledged by Kafka and removed from the outbox");
    relay->m_failed = hl_metric_get(HL_METRIC_COUNTER, "hl_outbox_delivery_failures_total", NULL,
                                    "Delivery reports with an error (the row is re-sent)");
    relay->m_backlog = hl_metric_get(HL_METRIC_GAUGE, "hl_outbox_backlog", NULL,
                                     "Events committed but not yet acknowledged by Kafka");
    relay->m_oldest_age = hl_metric_get(HL_METRIC_GAUGE, "hl_outbox_oldest_age_ms", NULL,
                                        "Age of the oldest unpublished event, ms");
    relay->m_lag = hl_metric_get(HL_METRIC_HISTOGRAM, "hl_outbox_publish_lag_seconds", NULL,
                                 "Time from command commit (occurred_at) to Kafka acknowledgement");
    relay->rk = producer_new(relay, cfg, err);
    if (!relay->rk) {
        free(relay->conninfo);
        free(relay);
        return NULL;
    }
    if (pthread_create(&relay->thread, NULL, relay_main, relay) != 0) {
        rd_kafka_destroy(relay->rk);
        free(relay->conninfo);
        free(relay);
        hl_error_set(err, HL_ERR_SYSTEM, 0, "cannot start the relay thread");
        return NULL;
    }
    return relay;
}

bool cs_relay_kafka_up(cs_relay_t *relay)
{
    const struct rd_kafka_metadata *md = NULL;
    bool up = rd_kafka_metadata(relay->rk, 0, NULL, &md, 1000) == RD_KAFKA_RESP_ERR_NO_ERROR;
    if (md)
        rd_kafka_metadata_destroy(md);
    return up;
}

void cs_relay_stop(cs_relay_t *relay)
{
    if (!relay)
        return;
    atomic_store(&relay->stop, true);
    pthread_join(relay->thread, NULL);
    rd_kafka_flush(relay->rk, 10000);
    rd_kafka_destroy(relay->rk);
    PQclear(relay->next);
    if (relay->pg)
        PQfinish(relay->pg);
    free(relay->conninfo);
    free(relay);
}
