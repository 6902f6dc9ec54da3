/* booking.c: booking commands (SPEC §9): book (hold the slot and start the booking saga),
 * cancel, complete (each starts a saga run), review.
 *
 * POST /v1/bookings holds the slot in its own transaction: the slot row is locked FOR UPDATE
 * and moves open -> held, so of concurrent requests exactly one holds it and the others get
 * 409 slot-unavailable at once (the partial unique index bookings_one_live_per_slot refuses a
 * second live booking even without the lock). The same transaction writes the booking
 * (requested), the payment (pending), the job (pending) and the saga (create_intent), and
 * BookingRequested. The saga (saga.c) does the rest; the answer is 202 with the job. */
#include "booking.h"
#include "booking_row.h"
#include "cmd.h"
#include "counselling_rules.h"
#include "rules.h"
#include "saga.h"
#include "saga_sm.h"

#include "hl/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The job row of a new saga run, queued on cmd: {job_id, owner, kind, status pending, steps
 * [first_step succeeded at now], version 1}. */
static bool queue_job(cs_cmd_t *cmd, const char *job_id, const char *kind, const char *booking_id,
                      const char *first_step, hl_error_t *err)
{
    char now[24], at[40];
    snprintf(now, sizeof now, "%lld", (long long)cmd->now_us);
    hl_format_rfc3339_us(cmd->now_us, at, sizeof at);
    const char *p[7] = {job_id, cmd->session.user_id, kind, booking_id, first_step, at, now};
    return cs_sql_queue(cmd,
                        "INSERT INTO jobs (job_id, owner_id, kind, status, booking_id, steps,"
                        " version, created_at, updated_at) VALUES ($1, $2, $3, 'pending', $4,"
                        " jsonb_build_array(jsonb_build_object('name', $5::text, 'status',"
                        " 'succeeded', 'at', $6::text)), 1, " CS_TS(7) ", " CS_TS(7) ")",
                        7, p, NULL, NULL, NULL, err);
}

/* The saga row (due now), queued on cmd. deadline_s: give-up time of the steps before the
 * authorization. */
static bool queue_saga(cs_cmd_t *cmd, const char *job_id, cs_saga_kind_t kind,
                       const char *booking_id, const char *payment_method, const char *actor,
                       const char *refund, hl_error_t *err)
{
    char now[24], deadline[24];
    snprintf(now, sizeof now, "%lld", (long long)cmd->now_us);
    snprintf(deadline, sizeof deadline, "%lld",
             (long long)(cmd->now_us + cmd->app->cfg.saga_deadline_ms * 1000));
    const char *p[9] = {job_id,         cs_saga_kind_name(kind),
                        booking_id,     cs_saga_initial_state(kind),
                        payment_method, actor,
                        refund,         now,
                        deadline};
    return cs_sql_queue(cmd,
                        "INSERT INTO sagas (saga_id, kind, booking_id, state, payment_method,"
                        " actor, refund, next_run_at, deadline_at, created_at, updated_at)"
                        " VALUES ($1, $2, $3, $4, $5, $6, $7::boolean, " CS_TS(8) ", " CS_TS(
                            9) ", " CS_TS(8) ", " CS_TS(8) ")",
                        9, p, NULL, NULL, NULL, err);
}

static void reply_job(cs_cmd_t *cmd, const char *booking_id, const char *job_id, int64_t version)
{
    cmd->status = 202;
    BSON_APPEND_UTF8(&cmd->reply, "booking_id", booking_id);
    BSON_APPEND_UTF8(&cmd->reply, "job_id", job_id);
    BSON_APPEND_UTF8(&cmd->reply, "status", "pending");
    BSON_APPEND_INT64(&cmd->reply, "version", version);
    cs_cmd_header(cmd, "Location: /v1/jobs/%s\r\n", job_id);
    cs_cmd_watermark(cmd, "ev.Booking", booking_id, version);
    cs_cmd_watermark(cmd, "cdc.jobs", job_id, 1);
}

/* ---- book ---- */

static bool book_prepare(cs_cmd_t *cmd, hl_error_t *err)
{
    return cs_validate_booking(&cmd->body, cmd->state, err);
}

static bool book_exec(cs_cmd_t *cmd, hl_error_t *err)
{
    cs_booking_cmd_t *c = cmd->state;
    const char *me = cmd->session.user_id;
    const char *p[1] = {c->slot_id};
    PGresult *r = NULL;
    if (!cs_sql(cmd,
                "SELECT s.status, s.counsellor_id, (extract(epoch FROM s.starts_at) * 1000000)"
                "::bigint, s.minutes, s.version, k.verified, k.price_minor, k.currency"
                " FROM slots s JOIN counsellors k USING (counsellor_id) WHERE s.slot_id = $1"
                " FOR UPDATE OF s",
                1, p, &r, err))
        return false;
    cs_slot_facts_t f = {.slot_exists = PQntuples(r) == 1};
    cs_booking_row_t b;
    memset(&b, 0, sizeof b);
    char status[16] = "";
    if (f.slot_exists) {
        snprintf(status, sizeof status, "%s", PQgetvalue(r, 0, 0));
        snprintf(b.counsellor_id, sizeof b.counsellor_id, "%s", PQgetvalue(r, 0, 1));
        b.starts_us = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
        b.minutes = (int)strtol(PQgetvalue(r, 0, 3), NULL, 10);
        b.slot_version = strtoll(PQgetvalue(r, 0, 4), NULL, 10) + 1;
        f.counsellor_verified = PQgetvalue(r, 0, 5)[0] == 't';
        b.price_minor = strtoll(PQgetvalue(r, 0, 6), NULL, 10);
        snprintf(b.currency, sizeof b.currency, "%s", PQgetvalue(r, 0, 7));
        f.status = status;
        f.own_slot = !strcasecmp(b.counsellor_id, me);
        f.starts_us = b.starts_us;
    }
    PQclear(r);
    if (!cs_rule_book(&f, cmd->now_us, err))
        return false;
    hl_uuid_v7(b.booking_id);
    hl_uuid_v7(b.job_id);
    char payment_id[HL_UUID_STR_LEN + 1];
    hl_uuid_v7(payment_id);
    snprintf(b.client_id, sizeof b.client_id, "%s", me);
    hl_fold_ascii(c->slot_id, b.slot_id, sizeof b.slot_id);
    snprintf(b.status, sizeof b.status, "requested");
    snprintf(b.slot_status, sizeof b.slot_status, "held");
    b.version = 1;
    char now[24], starts[24], minutes[8], price[24], sv[24];
    snprintf(now, sizeof now, "%lld", (long long)cmd->now_us);
    snprintf(starts, sizeof starts, "%lld", (long long)b.starts_us);
    snprintf(minutes, sizeof minutes, "%d", b.minutes);
    snprintf(price, sizeof price, "%lld", (long long)b.price_minor);
    snprintf(sv, sizeof sv, "%lld", (long long)b.slot_version);
    const char *bp[11] = {b.booking_id, me,  b.counsellor_id, b.slot_id, starts, minutes, price,
                          b.currency,   now, payment_id,      sv};
    hl_event_t ev = {0};
    bool ok =
        cs_sql_queue(
            cmd,
            "WITH s AS (UPDATE slots SET status = 'held', version = $11::bigint,"
            " updated_at = " CS_TS(
                9) " WHERE slot_id = $4),"
                   " b AS (INSERT INTO bookings (booking_id, client_id, counsellor_id, slot_id,"
                   " starts_at, minutes, price_minor, currency, status, version, created_at,"
                   " updated_at) VALUES ($1, $2, $3, $4, " CS_TS(
                       5) ", $6::int, $7::bigint,"
                          " $8, 'requested', 1, " CS_TS(9) ", " CS_TS(
                              9) ") RETURNING booking_id)"
                                 " INSERT INTO payments (payment_id, booking_id, amount_minor, "
                                 "currency,"
                                 " status, version, created_at, updated_at) SELECT $10, booking_id,"
                                 " $7::bigint, $8, 'pending', 1, " CS_TS(9) ", " CS_TS(9) " FROM b",
            11, bp, NULL, NULL, NULL, err) &&
        queue_job(cmd, b.job_id, "booking", b.booking_id, "slot-held", err) &&
        queue_saga(cmd, b.job_id, CS_SAGA_BOOKING, b.booking_id, c->payment_method, "client", NULL,
                   err) &&
        cs_booking_event_init(&ev, cmd->app->catalog, "BookingRequested", &b, err) &&
        cs_cmd_emit(cmd, &ev, "Booking", b.booking_id, 1, err) && cs_sql_flush(cmd, err);
    hl_event_destroy(&ev);
    if (!ok) {
        if (hl_error_is_sqlstate(err, "23505"))
            return hl_error_set_reason(err, HL_ERR_DOMAIN, 409, "slot-unavailable",
                                       "this slot is not open");
        return false;
    }
    reply_job(cmd, b.booking_id, b.job_id, 1);
    cs_cmd_header(cmd, "Content-Location: /v1/bookings/%s\r\n", b.booking_id);
    return true;
}

void cs_handle_book(hl_http_request_t *req)
{
    static const cs_cmd_spec_t spec = {
        .auth = true, .has_body = true, .prepare = book_prepare, .exec = book_exec};
    cs_booking_cmd_t c = {0};
    cs_app_t *app = req->app;
    cs_cmd_run(req, &spec, &c);
    cs_saga_crash_point(app->saga, "after-hold");
    cs_saga_wake(app->saga);
}

/* ---- facts of a booking for cancel, complete, review ---- */

static bool booking_facts(cs_cmd_t *cmd, cs_booking_row_t *b, cs_booking_facts_t *f,
                          hl_error_t *err)
{
    const char *id = cmd->req->params[0];
    const char *me = cmd->session.user_id;
    memset(f, 0, sizeof *f);
    memset(b, 0, sizeof *b);
    if (!hl_uuid_valid(id))
        return true;
    const char *p[1] = {id};
    PGresult *r = NULL;
    if (!cs_sql(cmd,
                "SELECT " CS_BOOKING_COLUMNS ","
                " EXISTS (SELECT 1 FROM sagas WHERE booking_id = b.booking_id AND NOT done),"
                " EXISTS (SELECT 1 FROM reviews WHERE booking_id = b.booking_id)"
                " FROM bookings b JOIN slots s USING (slot_id) WHERE b.booking_id = $1"
                " FOR UPDATE OF b",
                1, p, &r, err))
        return false;
    if (PQntuples(r) == 1) {
        cs_booking_from_result(r, 0, 0, b);
        f->exists = true;
        f->caller_is_client = !strcasecmp(b->client_id, me);
        f->caller_is_counsellor = !strcasecmp(b->counsellor_id, me);
        f->status = b->status;
        f->starts_us = b->starts_us;
        f->minutes = b->minutes;
        f->saga_running = PQgetvalue(r, 0, 13)[0] == 't';
        f->reviewed = PQgetvalue(r, 0, 14)[0] == 't';
    }
    PQclear(r);
    return true;
}

/* ---- cancel ---- */

static bool cancel_exec(cs_cmd_t *cmd, hl_error_t *err)
{
    cs_booking_row_t b;
    cs_booking_facts_t f;
    cs_cancel_terms_t terms;
    if (!booking_facts(cmd, &b, &f, err) || !cs_rule_cancel(&f, cmd->now_us, &terms, err) ||
        !cs_rule_version(b.version, cmd->has_if_match, cmd->if_match, err))
        return false;
    char job_id[HL_UUID_STR_LEN + 1];
    hl_uuid_v7(job_id);
    if (!queue_job(cmd, job_id, "cancellation", b.booking_id, "cancellation-requested", err) ||
        !queue_saga(cmd, job_id, CS_SAGA_CANCELLATION, b.booking_id, NULL,
                    terms.by_counsellor ? "counsellor" : "client", terms.refund ? "t" : "f", err))
        return false;
    reply_job(cmd, b.booking_id, job_id, b.version);
    BSON_APPEND_UTF8(&cmd->reply, "refund", terms.refund ? "full" : "none");
    return true;
}

void cs_handle_cancel_booking(hl_http_request_t *req)
{
    static const cs_cmd_spec_t spec = {.auth = true, .exec = cancel_exec};
    cs_app_t *app = req->app;
    cs_cmd_run(req, &spec, NULL);
    cs_saga_wake(app->saga);
}

/* ---- complete ---- */

static bool complete_exec(cs_cmd_t *cmd, hl_error_t *err)
{
    cs_booking_row_t b;
    cs_booking_facts_t f;
    if (!booking_facts(cmd, &b, &f, err) || !cs_rule_complete(&f, cmd->now_us, err) ||
        !cs_rule_version(b.version, cmd->has_if_match, cmd->if_match, err))
        return false;
    char job_id[HL_UUID_STR_LEN + 1];
    hl_uuid_v7(job_id);
    if (!queue_job(cmd, job_id, "completion", b.booking_id, "completion-requested", err) ||
        !queue_saga(cmd, job_id, CS_SAGA_COMPLETION, b.booking_id, NULL, "counsellor", NULL, err))
        return false;
    reply_job(cmd, b.booking_id, job_id, b.version);
    return true;
}

void cs_handle_complete_booking(hl_http_request_t *req)
{
    static const cs_cmd_spec_t spec = {.auth = true, .exec = complete_exec};
    cs_app_t *app = req->app;
    cs_cmd_run(req, &spec, NULL);
    cs_saga_wake(app->saga);
}

/* ---- review ---- */

static bool review_prepare(cs_cmd_t *cmd, hl_error_t *err)
{
    return cs_validate_review(&cmd->body, cmd->state, err);
}

static bool review_exec(cs_cmd_t *cmd, hl_error_t *err)
{
    cs_review_cmd_t *c = cmd->state;
    cs_booking_row_t b;
    cs_booking_facts_t f;
    if (!booking_facts(cmd, &b, &f, err) || !cs_rule_review(&f, err) ||
        !cs_rule_version(b.version, cmd->has_if_match, cmd->if_match, err))
        return false;
    int64_t version = b.version + 1;
    char now[24], vtext[24], rating[4];
    snprintf(now, sizeof now, "%lld", (long long)cmd->now_us);
    snprintf(vtext, sizeof vtext, "%lld", (long long)version);
    snprintf(rating, sizeof rating, "%d", c->rating);
    const char *p[7] = {b.booking_id, b.client_id, b.counsellor_id, rating, c->comment, vtext, now};
    hl_event_t ev = {0};
    bool ok =
        cs_sql_queue(cmd,
                     "WITH b AS (UPDATE bookings SET version = $6::bigint, updated_at = " CS_TS(
                         7) " WHERE booking_id = $1) INSERT INTO reviews (booking_id,"
                            " client_id, counsellor_id, rating, comment, created_at) VALUES"
                            " ($1, $2, $3, $4::int, $5, " CS_TS(7) ")",
                     7, p, NULL, NULL, NULL, err) &&
        hl_event_init(&ev, cmd->app->catalog, "ReviewSubmitted", err) &&
        hl_avro_set_string(&ev.record, "client_id", b.client_id, err) &&
        hl_avro_set_string(&ev.record, "counsellor_id", b.counsellor_id, err) &&
        hl_avro_set_long(&ev.record, "rating", c->rating, err) &&
        hl_avro_set_string_opt(&ev.record, "comment", c->comment, err) &&
        cs_cmd_emit(cmd, &ev, "Booking", b.booking_id, version, err) && cs_sql_flush(cmd, err);
    hl_event_destroy(&ev);
    if (!ok) {
        if (hl_error_is_sqlstate(err, "23505"))
            return hl_error_set_reason(err, HL_ERR_DOMAIN, 409, "already-reviewed",
                                       "this booking was reviewed already");
        return false;
    }
    cmd->status = 201;
    BSON_APPEND_UTF8(&cmd->reply, "booking_id", b.booking_id);
    BSON_APPEND_INT32(&cmd->reply, "rating", c->rating);
    BSON_APPEND_INT64(&cmd->reply, "version", version);
    cs_cmd_watermark(cmd, "ev.Booking", b.booking_id, version);
    return true;
}

void cs_handle_review_booking(hl_http_request_t *req)
{
    static const cs_cmd_spec_t spec = {
        .auth = true, .has_body = true, .prepare = review_prepare, .exec = review_exec};
    cs_review_cmd_t c = {0};
    cs_cmd_run(req, &spec, &c);
}
