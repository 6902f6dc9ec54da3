/* saga.c: the booking saga's process manager (saga.h); transitions in saga_sm.c. */
#include "saga.h"
#include "booking_row.h"
#include "event_store.h"
#include "payment_provider.h"
#include "saga_sm.h"

#include "hl/mem.h"
#include "hl/log.h"
#include "hl/pg.h"
#include "hl/util.h"

#include <bson/bson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How long a claim lasts beyond the provider time-out: a worker that died is replaced after it. */
#define SAGA_LEASE_MARGIN_MS 5000
/* Only the first worker polls every poll_ms; the others look on their own every this many
 * poll intervals (a safety net) and otherwise when woken: by a command (cs_saga_wake) or by a
 * worker that just claimed a saga, so a backlog fans out over every worker within a claim each.
 * Idle, a command server then runs 1 + (workers - 1) / SAGA_IDLE_POLL_FACTOR claim statements per
 * poll interval instead of one per worker (8 workers, 200 ms: ~6 statements/s, was 40). */
#define SAGA_IDLE_POLL_FACTOR 25

struct cs_saga_runner {
    cs_saga_config_t cfg; /* strings below are owned copies */
    char *pg_conninfo, *payment_url, *payment_secret, *crash_at;
    pthread_t *threads;
    int nthreads;
    int started; /* workers that took their index (under lock); index 0 is the poller */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int pending_wakeups;
    volatile int stop;
};

void cs_saga_crash_point(cs_saga_runner_t *r, const char *point)
{
    if (r && r->crash_at && r->crash_at[0] && !strcmp(r->crash_at, point)) {
        HL_WARN("saga crash point %s reached (HL_SAGA_CRASH_AT): killing the process", point);
        raise(SIGKILL);
    }
}

void cs_saga_wake(cs_saga_runner_t *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->pending_wakeups++;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

static void wait_for_work(cs_saga_runner_t *r, long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&r->lock);
    while (!r->stop && r->pending_wakeups == 0)
        if (pthread_cond_timedwait(&r->cond, &r->lock, &ts) != 0)
            break;
    if (r->pending_wakeups > 0)
        r->pending_wakeups--;
    pthread_mutex_unlock(&r->lock);
}

/* ---- one saga ---- */

typedef struct {
    char saga_id[HL_UUID_STR_LEN + 1];
    char lease_owner[HL_UUID_STR_LEN + 1];
    cs_saga_kind_t kind;
    char state[32];
    char payment_method[256];
    bool refund;
    int attempts;
    int64_t deadline_ms;
    char reason[64];
    char actor[16];
    cs_booking_row_t b;
    char payment_id[HL_UUID_STR_LEN + 1];
    char payment_status[16];
    char provider_ref[128];
    int64_t payment_version;
} saga_t;

/* Claim one due saga (lease). Returns 1 claimed, 0 none due, -1 error. */
static int claim(cs_saga_runner_t *r, PGconn *conn, saga_t *s, hl_error_t *err)
{
    memset(s, 0, sizeof *s);
    hl_uuid_v7(s->lease_owner);
    char lease[24];
    snprintf(lease, sizeof lease, "%ld", r->cfg.payment_timeout_ms + SAGA_LEASE_MARGIN_MS);
    const char *p[2] = {lease, s->lease_owner};
    PGresult *res = NULL;
    if (!hl_pg_query(
            conn,
            "UPDATE sagas SET lease_until = now() + $1::int * interval '1 millisecond',"
            " lease_owner = $2 WHERE saga_id = (SELECT saga_id FROM sagas WHERE NOT done AND"
            " next_run_at <= now() AND (lease_until IS NULL OR lease_until < now())"
            " ORDER BY next_run_at LIMIT 1 FOR UPDATE SKIP LOCKED)"
            " RETURNING saga_id, kind, state, COALESCE(payment_method, ''),"
            " COALESCE(refund, false), attempts,"
            " (extract(epoch FROM deadline_at) * 1000)::bigint, COALESCE(last_error, ''),"
            " COALESCE(actor, ''), booking_id",
            2, p, &res, err))
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return 0;
    }
    snprintf(s->saga_id, sizeof s->saga_id, "%s", PQgetvalue(res, 0, 0));
    if (!cs_saga_kind_parse(PQgetvalue(res, 0, 1), &s->kind))
        s->kind = CS_SAGA_BOOKING;
    snprintf(s->state, sizeof s->state, "%s", PQgetvalue(res, 0, 2));
    snprintf(s->payment_method, sizeof s->payment_method, "%s", PQgetvalue(res, 0, 3));
    s->refund = PQgetvalue(res, 0, 4)[0] == 't';
    s->attempts = (int)strtol(PQgetvalue(res, 0, 5), NULL, 10);
    s->deadline_ms = strtoll(PQgetvalue(res, 0, 6), NULL, 10);
    snprintf(s->reason, sizeof s->reason, "%s", PQgetvalue(res, 0, 7));
    snprintf(s->actor, sizeof s->actor, "%s", PQgetvalue(res, 0, 8));
    const char *bp[1] = {PQgetvalue(res, 0, 9)};
    PGresult *br = NULL;
    bool ok =
        hl_pg_query(conn,
                    "SELECT " CS_BOOKING_COLUMNS ", p.payment_id, p.status,"
                    " COALESCE(p.provider_ref, ''), p.version FROM bookings b JOIN slots s"
                    " USING (slot_id) JOIN payments p USING (booking_id) WHERE b.booking_id = $1",
                    1, bp, &br, err);
    PQclear(res);
    if (!ok)
        return -1;
    if (PQntuples(br) != 1) {
        PQclear(br);
        hl_error_set(err, HL_ERR_SYSTEM, 0, "saga %s: booking or payment row missing", s->saga_id);
        return -1;
    }
    cs_booking_from_result(br, 0, 0, &s->b);
    snprintf(s->b.job_id, sizeof s->b.job_id, "%s", s->saga_id);
    snprintf(s->payment_id, sizeof s->payment_id, "%s", PQgetvalue(br, 0, 13));
    snprintf(s->payment_status, sizeof s->payment_status, "%s", PQgetvalue(br, 0, 14));
    snprintf(s->provider_ref, sizeof s->provider_ref, "%s", PQgetvalue(br, 0, 15));
    s->payment_version = strtoll(PQgetvalue(br, 0, 16), NULL, 10);
    PQclear(br);
    return 1;
}

static cs_saga_outcome_t outcome_of(cs_pay_outcome_t o)
{
    switch (o) {
    case CS_PAY_OK:
        return CS_OUT_OK;
    case CS_PAY_DECLINED:
        return CS_OUT_DECLINED;
    case CS_PAY_TRANSIENT:
        return CS_OUT_TRANSIENT;
    case CS_PAY_REJECTED:
        return CS_OUT_PERMANENT;
    }
    return CS_OUT_TRANSIENT;
}

/* Perform action for s (outside any transaction). */
static cs_saga_outcome_t perform(cs_payment_provider_t *p, saga_t *s, cs_saga_action_t action,
                                 cs_pay_result_t *res)
{
    memset(res, 0, sizeof *res);
    char key[128];
    snprintf(key, sizeof key, "%s:%s", s->saga_id, cs_saga_action_name(action));
    switch (action) {
    case CS_ACT_CREATE_INTENT:
        cs_pay_create_intent(p, s->b.price_minor, s->b.currency, s->b.booking_id, key, res);
        break;
    case CS_ACT_CONFIRM:
        cs_pay_confirm(p, s->provider_ref, s->payment_method, key, res);
        break;
    case CS_ACT_VOID:
        cs_pay_cancel(p, s->provider_ref,
                      s->kind == CS_SAGA_BOOKING ? "abandoned" : "requested_by_customer", key, res);
        break;
    case CS_ACT_CAPTURE:
        cs_pay_capture(p, s->provider_ref, key, res);
        break;
    case CS_ACT_REFUND:
        cs_pay_refund(p, s->provider_ref, key, res);
        break;
    case CS_ACT_SKIP:
    case CS_ACT_DB:
    case CS_ACT_NONE:
        return CS_OUT_OK;
    }
    if (res->outcome != CS_PAY_OK)
        HL_INFO("saga %s %s: %s (HTTP %ld%s%s)", s->saga_id, cs_saga_action_name(action),
                res->outcome == CS_PAY_DECLINED    ? "declined"
                : res->outcome == CS_PAY_TRANSIENT ? "transient failure"
                                                   : "rejected",
                res->http_status, res->decline_code[0] ? ", " : "", res->decline_code);
    return outcome_of(res->outcome);
}

/* Append ev as the event of (aggregate_type, aggregate_id) at version, caused by the saga. */
static bool emit(PGconn *conn, const saga_t *s, hl_event_t *ev, const char *aggregate_type,
                 const char *aggregate_id, int64_t version, int64_t now_us, hl_error_t *err)
{
    cs_event_meta_t meta = {.aggregate_type = aggregate_type,
                            .aggregate_id = aggregate_id,
                            .aggregate_version = version,
                            .occurred_at_us = now_us,
                            .causation_id = s->saga_id,
                            .correlation_id = s->saga_id,
                            .traceparent = NULL};
    cs_event_row_t row;
    if (!cs_event_store_row(ev, &meta, &row, err))
        return false;
    PGresult *r = PQexecParams(conn, CS_EVENT_APPEND_SQL, CS_EVENT_APPEND_PARAMS, NULL, row.values,
                               row.lengths, row.formats, 0);
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        hl_pg_error(r, conn, err);
    PQclear(r);
    cs_event_row_free(&row);
    return ok;
}

/* A Payment* event of s's payment at version. */
static bool emit_payment(PGconn *conn, hl_event_catalog_t *cat, const saga_t *s, const char *type,
                         int64_t version, const char *decline_code, int64_t now_us, hl_error_t *err)
{
    hl_event_t ev = {0};
    bool ok =
        hl_event_init(&ev, cat, type, err) &&
        hl_avro_set_string(&ev.record, "booking_id", s->b.booking_id, err) &&
        hl_avro_set_string(&ev.record, "client_id", s->b.client_id, err) &&
        hl_avro_set_string(&ev.record, "counsellor_id", s->b.counsellor_id, err) &&
        hl_avro_set_long(&ev.record, "amount_minor", s->b.price_minor, err) &&
        hl_avro_set_string(&ev.record, "currency", s->b.currency, err) &&
        hl_avro_set_string_opt(&ev.record, "provider_ref",
                               s->provider_ref[0] ? s->provider_ref : NULL, err) &&
        (!decline_code || hl_avro_set_string(&ev.record, "decline_code", decline_code, err)) &&
        emit(conn, s, &ev, "Payment", s->payment_id, version, now_us, err);
    hl_event_destroy(&ev);
    return ok;
}

/* Move the payment from status `from` to `to` and emit type; nothing when it is not in `from`
 * (a repeated step, or nothing was authorized). */
static bool payment_move(PGconn *conn, hl_event_catalog_t *cat, const saga_t *s, const char *from,
                         const char *to, const char *type, const char *decline_code, int64_t now_us,
                         hl_error_t *err)
{
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)now_us);
    const char *p[5] = {s->payment_id, from, to, now, s->provider_ref[0] ? s->provider_ref : NULL};
    PGresult *r = NULL;
    if (!hl_pg_query(
            conn,
            "UPDATE payments SET status = $3, provider_ref = COALESCE(provider_ref, $5),"
            " version = version + 1, updated_at = 'epoch'::timestamptz + $4::bigint *"
            " interval '1 microsecond' WHERE payment_id = $1 AND status = $2 RETURNING version",
            5, p, &r, err))
        return false;
    bool moved = PQntuples(r) == 1;
    int64_t version = moved ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return !moved || emit_payment(conn, cat, s, type, version, decline_code, now_us, err);
}

/* Set the slot's status (version + 1) and record it in s->b for the booking event. */
static bool slot_move(PGconn *conn, saga_t *s, const char *to, int64_t now_us, hl_error_t *err)
{
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)now_us);
    const char *p[3] = {s->b.slot_id, to, now};
    PGresult *r = NULL;
    if (!hl_pg_query(
            conn,
            "UPDATE slots SET status = $2, version = version + 1, updated_at ="
            " 'epoch'::timestamptz + $3::bigint * interval '1 microsecond' WHERE slot_id = $1"
            " RETURNING version, status",
            3, p, &r, err))
        return false;
    if (PQntuples(r) == 1) {
        s->b.slot_version = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        snprintf(s->b.slot_status, sizeof s->b.slot_status, "%s", PQgetvalue(r, 0, 1));
    }
    PQclear(r);
    return true;
}

/* Move the booking to status (version + 1) with extra column values; false + err on failure.
 * *moved is false when the booking was not in from (a repeated step). */
static bool booking_move(PGconn *conn, saga_t *s, const char *from, const char *to,
                         const char *reason, const char *cancelled_by, const char *room_id,
                         int64_t now_us, bool *moved, hl_error_t *err)
{
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)now_us);
    const char *p[7] = {s->b.booking_id, from, to, reason, cancelled_by, room_id, now};
    PGresult *r = NULL;
    if (!hl_pg_query(
            conn,
            "UPDATE bookings SET status = $3, failure_reason = COALESCE($4, failure_reason),"
            " cancelled_by = COALESCE($5, cancelled_by), room_id = COALESCE($6::uuid,"
            " room_id), version = version + 1, updated_at = 'epoch'::timestamptz +"
            " $7::bigint * interval '1 microsecond' WHERE booking_id = $1 AND status = $2"
            " RETURNING version",
            7, p, &r, err))
        return false;
    *moved = PQntuples(r) == 1;
    if (*moved) {
        s->b.version = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        snprintf(s->b.status, sizeof s->b.status, "%s", to);
    }
    PQclear(r);
    return true;
}

/* Open the counselling chat room of the two (no friendship needed) with ChatRoomCreated. */
static bool open_room(PGconn *conn, hl_event_catalog_t *cat, const saga_t *s, char *room_id,
                      int64_t now_us, hl_error_t *err)
{
    hl_uuid_v7(room_id);
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)now_us);
    const char *p[5] = {room_id, "Counselling session", s->b.client_id, s->b.counsellor_id, now};
    if (!hl_pg_query(
            conn,
            "WITH r AS (INSERT INTO chat_rooms (room_id, kind, title, created_by, last_seq,"
            " version, created_at, updated_at) VALUES ($1, 'counselling', $2, $3, 0, 1,"
            " 'epoch'::timestamptz + $5::bigint * interval '1 microsecond', 'epoch'::timestamptz"
            " + $5::bigint * interval '1 microsecond') RETURNING room_id)"
            " INSERT INTO room_members (room_id, user_id, joined_at, last_read_seq,"
            " room_version) SELECT r.room_id, m, 'epoch'::timestamptz + $5::bigint *"
            " interval '1 microsecond', 0, 1 FROM r, unnest(ARRAY[$3::uuid, $4::uuid]) AS m",
            5, p, NULL, err))
        return false;
    const char *members[2] = {s->b.counsellor_id, s->b.client_id};
    hl_event_t ev = {0};
    bool ok = hl_event_init(&ev, cat, "ChatRoomCreated", err) &&
              hl_avro_set_string(&ev.record, "kind", "counselling", err) &&
              hl_avro_set_string_opt(&ev.record, "title", "Counselling session", err) &&
              hl_avro_set_string_array(&ev.record, "member_ids", members, 2, err) &&
              hl_avro_set_string(&ev.record, "created_by", s->b.client_id, err) &&
              emit(conn, s, &ev, "ChatRoom", room_id, 1, now_us, err);
    hl_event_destroy(&ev);
    return ok;
}

/* A problem document for a failed job (RFC 9457), as JSON text (bson_free). */
static char *problem_json(const char *reason)
{
    const char *title = "Payment failed";
    int status = 402;
    if (!strcmp(reason, "payment-provider-unavailable")) {
        title = "Payment provider unavailable";
        status = 503;
    } else if (!strcmp(reason, "payment-declined")) {
        title = "Payment declined";
    }
    char type[96];
    snprintf(type, sizeof type, "urn:hearlers:problem:%s", reason);
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "type", type);
    BSON_APPEND_UTF8(&doc, "title", title);
    BSON_APPEND_INT32(&doc, "status", status);
    BSON_APPEND_UTF8(&doc, "detail",
                     !strcmp(reason, "payment-declined")
                         ? "the payment method was declined; the slot was released"
                         : "the payment could not be completed; nothing was charged "
                           "and the slot was released");
    char *json = bson_as_relaxed_extended_json(&doc, NULL);
    bson_destroy(&doc);
    return json;
}

/* The effect's rows and events. *result gets the job result JSON when the saga succeeds. */
static bool apply_effect(cs_saga_runner_t *r, PGconn *conn, saga_t *s, const cs_saga_step_t *st,
                         const cs_pay_result_t *res, int64_t now_us, char **result, hl_error_t *err)
{
    hl_event_catalog_t *cat = r->cfg.catalog;
    bool moved = false;
    hl_event_t ev = {0};
    bool ok = true;
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)now_us);
    switch (st->effect) {
    case CS_EFF_NONE:
        return true;
    case CS_EFF_INTENT_CREATED: {
        snprintf(s->provider_ref, sizeof s->provider_ref, "%s", res->id);
        const char *p[3] = {s->payment_id, res->id, now};
        return hl_pg_query(
            conn,
            "UPDATE payments SET provider_ref = $2, updated_at = 'epoch'::timestamptz +"
            " $3::bigint * interval '1 microsecond' WHERE payment_id = $1",
            3, p, NULL, err);
    }
    case CS_EFF_AUTHORIZED:
        return payment_move(conn, cat, s, "pending", "authorized", "PaymentAuthorized", NULL,
                            now_us, err);
    case CS_EFF_DECLINED:
        return payment_move(conn, cat, s, "pending", "declined", "PaymentDeclined",
                            res->decline_code[0] ? res->decline_code : "card_declined", now_us,
                            err);
    case CS_EFF_VOIDED:
        return payment_move(conn, cat, s, "authorized", "voided", "PaymentVoided", NULL, now_us,
                            err);
    case CS_EFF_CAPTURED:
        return payment_move(conn, cat, s, "authorized", "captured", "PaymentCaptured", NULL, now_us,
                            err);
    case CS_EFF_REFUNDED:
        return payment_move(conn, cat, s, "captured", "refunded", "PaymentRefunded", NULL, now_us,
                            err);
    case CS_EFF_BOOKING_CONFIRMED: {
        char room_id[HL_UUID_STR_LEN + 1];
        ok = open_room(conn, cat, s, room_id, now_us, err) &&
             slot_move(conn, s, "booked", now_us, err) &&
             booking_move(conn, s, "requested", "confirmed", NULL, NULL, room_id, now_us, &moved,
                          err);
        if (ok && moved) {
            snprintf(s->b.room_id, sizeof s->b.room_id, "%s", room_id);
            ok = cs_booking_event_init(&ev, cat, "BookingConfirmed", &s->b, err) &&
                 hl_avro_set_string(&ev.record, "room_id", room_id, err) &&
                 hl_avro_set_string(&ev.record, "payment_id", s->payment_id, err) &&
                 emit(conn, s, &ev, "Booking", s->b.booking_id, s->b.version, now_us, err);
        }
        bson_t doc = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&doc, "booking_id", s->b.booking_id);
        BSON_APPEND_UTF8(&doc, "status", "confirmed");
        BSON_APPEND_UTF8(&doc, "room_id", room_id);
        BSON_APPEND_UTF8(&doc, "payment_id", s->payment_id);
        *result = bson_as_relaxed_extended_json(&doc, NULL);
        bson_destroy(&doc);
        break;
    }
    case CS_EFF_BOOKING_FAILED:
        ok = slot_move(conn, s, "open", now_us, err) &&
             booking_move(conn, s, "requested", "failed", st->reason, NULL, NULL, now_us, &moved,
                          err);
        if (ok && moved)
            ok = cs_booking_event_init(&ev, cat, "BookingFailed", &s->b, err) &&
                 hl_avro_set_string(&ev.record, "reason", st->reason, err) &&
                 emit(conn, s, &ev, "Booking", s->b.booking_id, s->b.version, now_us, err);
        break;
    case CS_EFF_BOOKING_CANCELLED: {
        bool by_counsellor = !strcmp(s->actor, "counsellor");
        bool reopen = !by_counsellor && s->refund;
        ok = slot_move(conn, s, reopen ? "open" : "withdrawn", now_us, err) &&
             booking_move(conn, s, "confirmed", "cancelled", NULL, s->actor, NULL, now_us, &moved,
                          err);
        if (ok && moved)
            ok = cs_booking_event_init(&ev, cat, "BookingCancelled", &s->b, err) &&
                 hl_avro_set_string(&ev.record, "cancelled_by", s->actor, err) &&
                 hl_avro_set_string(&ev.record, "refund", s->refund ? "full" : "none", err) &&
                 hl_avro_set_bool(&ev.record, "slot_reopened", reopen, err) &&
                 emit(conn, s, &ev, "Booking", s->b.booking_id, s->b.version, now_us, err);
        bson_t doc = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&doc, "booking_id", s->b.booking_id);
        BSON_APPEND_UTF8(&doc, "status", "cancelled");
        BSON_APPEND_UTF8(&doc, "refund", s->refund ? "full" : "none");
        BSON_APPEND_BOOL(&doc, "slot_reopened", reopen);
        *result = bson_as_relaxed_extended_json(&doc, NULL);
        bson_destroy(&doc);
        break;
    }
    case CS_EFF_BOOKING_COMPLETED: {
        ok = booking_move(conn, s, "confirmed", "completed", NULL, NULL, NULL, now_us, &moved, err);
        if (ok && moved)
            ok = cs_booking_event_init(&ev, cat, "BookingCompleted", &s->b, err) &&
                 emit(conn, s, &ev, "Booking", s->b.booking_id, s->b.version, now_us, err);
        bson_t doc = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&doc, "booking_id", s->b.booking_id);
        BSON_APPEND_UTF8(&doc, "status", "completed");
        *result = bson_as_relaxed_extended_json(&doc, NULL);
        bson_destroy(&doc);
        break;
    }
    }
    hl_event_destroy(&ev);
    return ok;
}

/* Commit the transition st of s: re-check the lease, the effect, the saga row, the job row. */
static bool commit_step(cs_saga_runner_t *r, PGconn *conn, saga_t *s, const cs_saga_step_t *st,
                        const cs_pay_result_t *res, hl_error_t *err)
{
    int64_t now_us = hl_now_us();
    char *result = NULL, *error = NULL;
    PGresult *lock = NULL;
    const char *lp[2] = {s->saga_id, s->lease_owner};
    bool ok = hl_pg_query(conn, "BEGIN", 0, NULL, NULL, err) &&
              hl_pg_query(conn,
                          "SELECT 1 FROM sagas WHERE saga_id = $1 AND lease_owner = $2 AND NOT done"
                          " FOR UPDATE",
                          2, lp, &lock, err);
    if (ok && PQntuples(lock) != 1) {
        PQclear(lock);
        hl_error_t ignored;
        hl_pg_query(conn, "ROLLBACK", 0, NULL, NULL, &ignored);
        HL_WARN("saga %s: lease lost before commit (another worker took over)", s->saga_id);
        return true;
    }
    PQclear(lock);
    ok = ok && apply_effect(r, conn, s, st, res, now_us, &result, err);
    if (ok && st->done && strcmp(st->job_status, "failed") == 0)
        error = problem_json(st->reason ? st->reason : "payment-error");
    char now[24], run_at[24], attempts[16], at[40];
    snprintf(now, sizeof now, "%lld", (long long)now_us);
    snprintf(run_at, sizeof run_at, "%lld", (long long)st->run_at_ms * 1000);
    snprintf(attempts, sizeof attempts, "%d", st->attempts);
    hl_format_rfc3339_us(now_us, at, sizeof at);
    const char *sp[7] = {s->saga_id, st->state, st->done ? "t" : "f", attempts, run_at,
                         st->reason, now};
    ok = ok &&
         hl_pg_query(conn,
                     "UPDATE sagas SET state = $2, done = $3::boolean, attempts = $4::int,"
                     " next_run_at = 'epoch'::timestamptz + $5::bigint * interval '1 microsecond',"
                     " last_error = $6, lease_until = NULL, lease_owner = NULL, updated_at ="
                     " 'epoch'::timestamptz + $7::bigint * interval '1 microsecond'"
                     " WHERE saga_id = $1",
                     7, sp, NULL, err);
    const char *jp[8] = {s->saga_id, st->job_status, st->step, st->step_status,
                         at,         result,         error,    now};
    ok = ok &&
         hl_pg_query(conn,
                     "UPDATE jobs SET status = $2, steps = CASE WHEN steps->-1->>'name' = $3 AND"
                     " steps->-1->>'status' = 'retrying' THEN steps - (-1) ELSE steps END ||"
                     " jsonb_build_array(jsonb_build_object('name', $3::text, 'status', $4::text,"
                     " 'at', $5::text)), result = COALESCE($6::jsonb, result), error ="
                     " COALESCE($7::jsonb, error), version = version + 1, updated_at ="
                     " 'epoch'::timestamptz + $8::bigint * interval '1 microsecond'"
                     " WHERE job_id = $1",
                     8, jp, NULL, err);
    ok = ok && hl_pg_query(conn, "COMMIT", 0, NULL, NULL, err);
    if (!ok) {
        hl_error_t ignored;
        hl_pg_query(conn, "ROLLBACK", 0, NULL, NULL, &ignored);
    }
    bson_free(result);
    bson_free(error);
    return ok;
}

/* Claim and advance one saga by one step. Returns true when a saga was found. */
static bool run_one(cs_saga_runner_t *r, PGconn *conn, cs_payment_provider_t *p)
{
    hl_error_t err = {0};
    saga_t *s = hl_xcalloc(1, sizeof *s);
    int claimed = claim(r, conn, s, &err);
    if (claimed <= 0) {
        if (claimed < 0)
            HL_ERROR("saga claim failed: %s", err.message);
        free(s);
        return false;
    }
    cs_saga_wake(r); /* there may be more due: let an idle worker look at once */
    cs_saga_ctx_t ctx = {.kind = s->kind,
                         .state = s->state,
                         .has_intent = s->provider_ref[0] != '\0',
                         .payment_status = s->payment_status,
                         .refund = s->refund,
                         .attempts = s->attempts,
                         .deadline_ms = s->deadline_ms,
                         .reason = s->reason[0] ? s->reason : NULL};
    cs_saga_action_t action = cs_saga_action(&ctx);
    cs_pay_result_t res;
    cs_saga_outcome_t outcome = perform(p, s, action, &res);
    char point[64];
    snprintf(point, sizeof point, "after-%s-call", cs_saga_action_name(action));
    cs_saga_crash_point(r, point);
    cs_saga_step_t st;
    if (!cs_saga_next(&ctx, outcome, hl_now_us() / 1000, &st)) {
        /* a terminal state that was not marked done: finish it */
        memset(&st, 0, sizeof st);
        st.state = s->state;
        st.done = true;
        st.job_status = "failed";
        st.step = "unknown-state";
        st.step_status = "failed";
        st.reason = "saga-state-unknown";
        HL_ERROR("saga %s: no transition from state %s", s->saga_id, s->state);
    }
    if (!commit_step(r, conn, s, &st, &res, &err))
        HL_ERROR("saga %s: committing %s -> %s failed: %s", s->saga_id, s->state, st.state,
                 err.message);
    else
        HL_DEBUG("saga %s: %s -> %s (%s)", s->saga_id, s->state, st.state, st.step_status);
    snprintf(point, sizeof point, "after-%s-commit", s->state);
    cs_saga_crash_point(r, point);
    free(s);
    return true;
}

static void *worker_main(void *arg)
{
    cs_saga_runner_t *r = arg;
    hl_error_t err = {0};
    cs_payment_provider_t *p = cs_payment_provider_new(r->cfg.payment_url, r->cfg.payment_secret,
                                                       r->cfg.payment_timeout_ms, &err);
    if (!p) {
        HL_ERROR("saga worker: %s", err.message);
        return NULL;
    }
    pthread_mutex_lock(&r->lock);
    long idle_ms = r->started++ == 0 ? r->cfg.poll_ms : r->cfg.poll_ms * SAGA_IDLE_POLL_FACTOR;
    pthread_mutex_unlock(&r->lock);
    PGconn *conn = NULL;
    while (!r->stop) {
        if (!conn || PQstatus(conn) != CONNECTION_OK) {
            if (conn)
                PQfinish(conn);
            conn = PQconnectdb(r->cfg.pg_conninfo);
            if (PQstatus(conn) != CONNECTION_OK) {
                HL_WARN("saga worker: PostgreSQL unreachable: %s", PQerrorMessage(conn));
                wait_for_work(r, 1000);
                continue;
            }
        }
        if (!run_one(r, conn, p))
            wait_for_work(r, idle_ms);
    }
    if (conn)
        PQfinish(conn);
    cs_payment_provider_destroy(p);
    return NULL;
}

cs_saga_runner_t *cs_saga_start(const cs_saga_config_t *cfg, hl_error_t *err)
{
    cs_saga_runner_t *r = hl_xcalloc(1, sizeof *r);
    r->cfg = *cfg;
    r->pg_conninfo = hl_xstrdup(cfg->pg_conninfo);
    r->payment_url = hl_xstrdup(cfg->payment_url);
    r->payment_secret = hl_xstrdup(cfg->payment_secret);
    r->crash_at = hl_xstrdup(cfg->crash_at ? cfg->crash_at : "");
    r->cfg.pg_conninfo = r->pg_conninfo;
    r->cfg.payment_url = r->payment_url;
    r->cfg.payment_secret = r->payment_secret;
    r->cfg.crash_at = r->crash_at;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    r->threads = hl_xcalloc((size_t)cfg->workers, sizeof *r->threads);
    for (int i = 0; i < cfg->workers; i++) {
        if (pthread_create(&r->threads[i], NULL, worker_main, r) != 0) {
            cs_saga_stop(r);
            hl_error_set(err, HL_ERR_SYSTEM, 0, "cannot start saga worker threads");
            return NULL;
        }
        r->nthreads++;
    }
    if (r->crash_at[0])
        HL_WARN("saga crash point armed: %s (test hook HL_SAGA_CRASH_AT)", r->crash_at);
    return r;
}

void cs_saga_stop(cs_saga_runner_t *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->stop = 1;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    for (int i = 0; i < r->nthreads; i++)
        pthread_join(r->threads[i], NULL);
    free(r->threads);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->cond);
    free(r->pg_conninfo);
    free(r->payment_url);
    free(r->payment_secret);
    free(r->crash_at);
    free(r);
}
