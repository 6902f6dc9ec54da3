/* counselling.c: the query routes of counselling and payments (SPEC §9), from the read models
 * jobs, counsellors, slots, bookings and bookings_by_user (docs/read-models.md).
 *
 *   GET /v1/jobs/{job_id}                 the job document; its owner only (403 not-owner)
 *   GET /v1/counsellors?specialty=&language=&max_price=&available_from=&available_to=
 *                                         verified counsellors by id, with rating and the next
 *                                         open slot (in the availability window when given)
 *   GET /v1/counsellors/{id}              one counsellor (verified or not)
 *   GET /v1/counsellors/{id}/slots?from=&to=   open slots by start time (one _id range)
 *   GET /v1/bookings?role=client|counsellor&status=   the caller's bookings, newest first
 *   GET /v1/bookings/{id}                 one booking; its two parties only (403 not-a-party) */
#include "read_store.h"
#include "request.h"
#include "routes.h"
#include "page.h"
#include "params.h"
#include "read_api.h"

#include "hl/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CURSOR_COUNSELLORS 'k'
#define CURSOR_SLOTS       's'
#define CURSOR_BOOKINGS    'b'
/* Pages of counsellors read per request when the availability window filters some out. */
#define DIRECTORY_READS 5
#define MAX_WINDOW_US   (366LL * 86400 * 1000000)

static bool lower_uuid(const char *in, char out[HL_UUID_STR_LEN + 1])
{
    if (!hl_uuid_valid(in))
        return false;
    hl_fold_ascii(in, out, HL_UUID_STR_LEN + 1);
    return true;
}

static bool bad_param(hl_error_t *err, const char *name, const char *what)
{
    return hl_error_set_reason(err, HL_ERR_INPUT, 400, "invalid-parameter", "%s %s", name, what);
}

static void copy_value(bson_t *out, const char *key, const bson_t *doc, const char *field)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, field))
        bson_append_iter(out, key, -1, &it);
    else
        BSON_APPEND_NULL(out, key);
}

/* ---- jobs ---- */

bool qs_render_job(const bson_t *doc, const char *job_id, bson_t *item)
{
    const char *status = qs_doc_string(doc, "status", "");
    BSON_APPEND_UTF8(item, "job_id", job_id);
    BSON_APPEND_UTF8(item, "kind", qs_doc_string(doc, "kind", ""));
    BSON_APPEND_UTF8(item, "status", status);
    BSON_APPEND_UTF8(item, "booking_id", qs_doc_string(doc, "booking_id", ""));
    copy_value(item, "steps", doc, "steps");
    copy_value(item, "result", doc, "result");
    copy_value(item, "error", doc, "error");
    qs_append_date(item, "created_at", doc, "created_at");
    qs_append_date(item, "updated_at", doc, "updated_at");
    BSON_APPEND_INT64(item, "version", qs_doc_int(doc, "version", 0));
    return !strcmp(status, "succeeded") || !strcmp(status, "failed");
}

void qs_handle_job(hl_http_request_t *req)
{
    hl_error_t err = {0};
    qs_ctx_t ctx = {0};
    char id[HL_UUID_STR_LEN + 1];
    if (!qs_begin(req, QS_AUTH_REQUIRED, &ctx, &err))
        goto fail;
    bson_t job;
    int found = lower_uuid(req->params[0], id) ? qs_find_one(&ctx, "jobs", id, &job, &err) : 0;
    qs_end(&ctx);
    if (found < 0)
        goto fail;
    if (found == 0) {
        hl_http_reply_problem(req, 404, "not-found", NULL, "no job with this id", NULL);
        return;
    }
    if (strcasecmp(qs_doc_string(&job, "owner_id", ""), ctx.session.user_id) != 0) {
        bson_destroy(&job);
        hl_http_reply_problem(req, 403, "not-owner", NULL, "this job is not yours", NULL);
        return;
    }
    bson_t out = BSON_INITIALIZER;
    qs_render_job(&job, id, &out);
    hl_http_reply_json(req, 200, &out, NULL);
    bson_destroy(&out);
    bson_destroy(&job);
    return;
fail:
    qs_end(&ctx);
    qs_reply_error(req, &err);
}

/* ---- counsellors ---- */

/* The first open slot of counsellor starting in [from_us, to_us) (to_us < 0: no end) into
 * *slot (bson_init'ed when found). Returns 1 found, 0 none, -1 error. */
static int next_open_slot(qs_ctx_t *ctx, const char *counsellor, int64_t from_us, int64_t to_us,
                          bson_t *slot, hl_error_t *err)
{
    char lo[160], hi[160], at[32];
    snprintf(at, sizeof at, "%019lld", (long long)from_us);
    snprintf(lo, sizeof lo, "%s:%s", counsellor, at);
    if (to_us >= 0) {
        snprintf(at, sizeof at, "%019lld", (long long)to_us);
        snprintf(hi, sizeof hi, "%s:%s", counsellor, at);
    } else {
        snprintf(hi, sizeof hi, "%s;", counsellor); /* ';' follows ':' */
    }
    bson_t filter = BSON_INITIALIZER, range, opts = BSON_INITIALIZER, sort;
    BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &range);
    BSON_APPEND_UTF8(&range, "$gte", lo);
    BSON_APPEND_UTF8(&range, "$lt", hi);
    bson_append_document_end(&filter, &range);
    BSON_APPEND_UTF8(&filter, "status", "open");
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
    BSON_APPEND_INT32(&sort, "_id", 1);
    bson_append_document_end(&opts, &sort);
    BSON_APPEND_INT64(&opts, "limit", 1);
    qs_docs_t d = {0};
    bool ok = qs_find(ctx, "slots", &filter, &opts, &d, err);
    bson_destroy(&filter);
    bson_destroy(&opts);
    int rc = !ok ? -1 : d.n > 0 ? 1 : 0;
    if (rc == 1)
        bson_copy_to(d.docs[0], slot);
    qs_docs_free(&d);
    return rc;
}

static void append_slot(bson_t *out, const char *key, const bson_t *slot)
{
    bson_t s;
    BSON_APPEND_DOCUMENT_BEGIN(out, key, &s);
    BSON_APPEND_UTF8(&s, "slot_id", qs_doc_string(slot, "slot_id", ""));
    qs_append_date(&s, "starts_at", slot, "starts_at");
    BSON_APPEND_INT64(&s, "minutes", qs_doc_int(slot, "minutes", 0));
    BSON_APPEND_UTF8(&s, "status", qs_doc_string(slot, "status", ""));
    bson_append_document_end(out, &s);
}

/* Render a counsellors document; slot: its next open slot or NULL. */
static void render_counsellor(bson_t *out, const bson_t *c, const bson_t *slot)
{
    BSON_APPEND_UTF8(out, "counsellor_id", qs_doc_string(c, "_id", ""));
    BSON_APPEND_UTF8(out, "display_name", qs_doc_string(c, "display_name", ""));
    BSON_APPEND_UTF8(out, "headline", qs_doc_string(c, "headline", ""));
    BSON_APPEND_UTF8(out, "bio", qs_doc_string(c, "bio", ""));
    copy_value(out, "specialties", c, "specialties");
    copy_value(out, "languages", c, "languages");
    bson_t price, rating;
    BSON_APPEND_DOCUMENT_BEGIN(out, "price", &price);
    BSON_APPEND_INT64(&price, "amount_minor", qs_doc_int(c, "price_minor", 0));
    BSON_APPEND_UTF8(&price, "currency", qs_doc_string(c, "currency", ""));
    bson_append_document_end(out, &price);
    BSON_APPEND_INT64(out, "session_minutes", qs_doc_int(c, "session_minutes", 0));
    BSON_APPEND_BOOL(out, "verified", qs_doc_bool(c, "verified", false));
    int64_t n = qs_doc_int(c, "rating_count", 0), sum = qs_doc_int(c, "rating_sum", 0);
    BSON_APPEND_DOCUMENT_BEGIN(out, "rating", &rating);
    if (n > 0)
        BSON_APPEND_DOUBLE(&rating, "average", (double)(sum * 100 / n) / 100.0);
    else
        BSON_APPEND_NULL(&rating, "average");
    BSON_APPEND_INT64(&rating, "count", n);
    bson_append_document_end(out, &rating);
    if (slot)
        append_slot(out, "next_open_slot", slot);
    else
        BSON_APPEND_NULL(out, "next_open_slot");
    BSON_APPEND_INT64(out, "version", qs_doc_int(c, "v", 0));
}

/* Read an RFC 3339 time parameter; 0 absent, 1 present, -1 error. */
static int time_param(hl_http_request_t *req, const char *name, int64_t *us, hl_error_t *err)
{
    char text[64];
    int got = qs_param(req, name, text, sizeof text, err);
    if (got <= 0)
        return got;
    if (!hl_parse_rfc3339_us(text, us)) {
        bad_param(err, name, "must be an RFC 3339 time such as 2026-12-01T10:00:00Z");
        return -1;
    }
    return 1;
}

void qs_handle_counsellors(hl_http_request_t *req)
{
    hl_error_t err = {0};
    qs_ctx_t ctx = {0};
    qs_page_params_t page;
    char specialty[40], language[40], max_price[24];
    int64_t from = 0, to = -1, price = 0, now = hl_now_us();
    int hs, hl, hp, hf, ht;
    if (!qs_read_page_params(req, CURSOR_COUNSELLORS, &page, &err) ||
        (hs = qs_param(req, "specialty", specialty, sizeof specialty, &err)) < 0 ||
        (hl = qs_param(req, "language", language, sizeof language, &err)) < 0 ||
        (hp = qs_param(req, "max_price", max_price, sizeof max_price, &err)) < 0 ||
        (hp && !qs_parse_int64("max_price", max_price, 0, &price, &err)) ||
        (hf = time_param(req, "available_from", &from, &err)) < 0 ||
        (ht = time_param(req, "available_to", &to, &err)) < 0)
        goto fail;
    if (!hf || from < now)
        from = now;
    if (ht && (to <= from || to - from > MAX_WINDOW_US)) {
        bad_param(&err, "available_to", "must be after available_from, at most 366 days later");
        goto fail;
    }
    if (!qs_begin(req, QS_AUTH_OPTIONAL, &ctx, &err))
        goto fail;
    bson_t items = BSON_INITIALIZER;
    size_t nitems = 0;
    char after[QS_CURSOR_ID_MAX] = "", next[QS_CURSOR_TEXT_MAX] = "";
    if (page.has_cursor)
        snprintf(after, sizeof after, "%s", page.cursor.id);
    bool more = true, ok = true;
    for (int round = 0; round < DIRECTORY_READS && more && (int)nitems < page.limit; round++) {
        bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort = BSON_INITIALIZER, cond;
        BSON_APPEND_BOOL(&filter, "verified", true);
        if (after[0]) {
            BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &cond);
            BSON_APPEND_UTF8(&cond, "$gt", after);
            bson_append_document_end(&filter, &cond);
        }
        if (hs)
            BSON_APPEND_UTF8(&filter, "specialties", specialty);
        if (hl) {
            char lower[40];
            hl_fold_ascii(language, lower, sizeof lower);
            BSON_APPEND_UTF8(&filter, "languages_lower", lower);
        }
        if (hp) {
            BSON_APPEND_DOCUMENT_BEGIN(&filter, "price_minor", &cond);
            BSON_APPEND_INT64(&cond, "$lte", price);
            bson_append_document_end(&filter, &cond);
        }
        BSON_APPEND_INT32(&sort, "_id", 1);
        qs_page_opts(&opts, &sort, page.limit);
        qs_docs_t d = {0};
        ok = qs_find(&ctx, "counsellors", &filter, &opts, &d, &err);
        bson_destroy(&filter);
        bson_destroy(&opts);
        bson_destroy(&sort);
        more = ok && d.n > (size_t)page.limit;
        size_t n = d.n > (size_t)page.limit ? (size_t)page.limit : d.n;
        for (size_t i = 0; ok && i < n && (int)nitems < page.limit; i++) {
            const char *cid = qs_doc_string(d.docs[i], "_id", "");
            snprintf(after, sizeof after, "%s", cid);
            bson_t slot;
            int found = next_open_slot(&ctx, cid, from, ht ? to : -1, &slot, &err);
            if (found < 0) {
                ok = false;
                break;
            }
            if (ht && !found)
                continue; /* nothing open in the window */
            char key[24];
            snprintf(key, sizeof key, "%zu", nitems++);
            bson_t item;
            BSON_APPEND_DOCUMENT_BEGIN(&items, key, &item);
            render_counsellor(&item, d.docs[i], found ? &slot : NULL);
            bson_append_document_end(&items, &item);
            if (found)
                bson_destroy(&slot);
        }
        if (ok && (int)nitems >= page.limit && n > 0 &&
            strcmp(after, qs_doc_string(d.docs[n - 1], "_id", "")) != 0)
            more = true; /* stopped inside this page: continue after the last one shown */
        qs_docs_free(&d);
    }
    qs_end(&ctx);
    if (!ok) {
        bson_destroy(&items);
        goto fail;
    }
    if (more) {
        qs_cursor_t c = {0};
        snprintf(c.id, sizeof c.id, "%s", after);
        qs_cursor_encode(CURSOR_COUNSELLORS, &c, next, sizeof next);
    }
    qs_reply_page(req, &items, more ? next : NULL);
    bson_destroy(&items);
    return;
fail:
    qs_end(&ctx);
    qs_reply_error(req, &err);
}

void qs_handle_counsellor(hl_http_request_t *req)
{
    hl_error_t err = {0};
    qs_ctx_t ctx = {0};
    char id[HL_UUID_STR_LEN + 1];
    if (!qs_begin(req, QS_AUTH_OPTIONAL, &ctx, &err))
        goto fail;
    bson_t c, slot;
    int found = lower_uuid(req->params[0], id) ? qs_find_one(&ctx, "counsellors", id, &c, &err) : 0;
    int sfound = 0;
    if (found > 0 && !qs_doc_string(&c, "headline", NULL)) {
        bson_destroy(&c); /* only a rating stub so far */
        found = 0;
    }
    if (found > 0 && (sfound = next_open_slot(&ctx, id, hl_now_us(), -1, &slot, &err)) < 0) {
        bson_destroy(&c);
        found = -1;
    }
    qs_end(&ctx);
    if (found < 0)
        goto fail;
    if (found == 0) {
        hl_http_reply_problem(req, 404, "not-found", NULL, "no counsellor with this id", NULL);
        return;
    }
    bson_t out = BSON_INITIALIZER;
    render_counsellor(&out, &c, sfound ? &slot : NULL);
    hl_http_reply_json(req, 200, &out, NULL);
    bson_destroy(&out);
    bson_destroy(&c);
    if (sfound)
        bson_destroy(&slot);
    return;
fail:
    qs_end(&ctx);
    qs_reply_error(req, &err);
}

void qs_handle_counsellor_slots(hl_http_request_t *req)
{
    hl_error_t err = {0};
    qs_ctx_t ctx = {0};
    qs_page_params_t page;
    char id[HL_UUID_STR_LEN + 1];
    int64_t from = 0, to = 0, now = hl_now_us();
    int hf, ht;
    if (!qs_read_page_params(req, CURSOR_SLOTS, &page, &err) ||
        (hf = time_param(req, "from", &from, &err)) < 0 ||
        (ht = time_param(req, "to", &to, &err)) < 0)
        goto fail;
    if (!hf || from < now)
        from = now;
    if (!ht)
        to = from + 90LL * 86400 * 1000000;
    if (to <= from || to - from > MAX_WINDOW_US) {
        bad_param(&err, "to", "must be after from, at most 366 days later");
        goto fail;
    }
    if (!lower_uuid(req->params[0], id)) {
        hl_http_reply_problem(req, 404, "not-found", NULL, "no counsellor with this id", NULL);
        return;
    }
    if (!qs_begin(req, QS_AUTH_OPTIONAL, &ctx, &err))
        goto fail;
    char lo[160], hi[160], at[32];
    snprintf(at, sizeof at, "%019lld", (long long)from);
    snprintf(lo, sizeof lo, "%s:%s", id, at);
    snprintf(at, sizeof at, "%019lld", (long long)to);
    snprintf(hi, sizeof hi, "%s:%s", id, at);
    bson_t filter = BSON_INITIALIZER, range, opts = BSON_INITIALIZER, sort = BSON_INITIALIZER;
    BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &range);
    if (page.has_cursor && strncmp(page.cursor.id, id, HL_UUID_STR_LEN) == 0)
        BSON_APPEND_UTF8(&range, "$gt", page.cursor.id);
    else
        BSON_APPEND_UTF8(&range, "$gte", lo);
    BSON_APPEND_UTF8(&range, "$lt", hi);
    bson_append_document_end(&filter, &range);
    BSON_APPEND_UTF8(&filter, "status", "open");
    BSON_APPEND_INT32(&sort, "_id", 1);
    qs_page_opts(&opts, &sort, page.limit);
    qs_docs_t d = {0};
    bool ok = qs_find(&ctx, "slots", &filter, &opts, &d, &err);
    qs_end(&ctx);
    bson_destroy(&filter);
    bson_destroy(&opts);
    bson_destroy(&sort);
    if (!ok) {
        qs_docs_free(&d);
        goto fail;
    }
    size_t n = d.n > (size_t)page.limit ? (size_t)page.limit : d.n;
    bson_t items = BSON_INITIALIZER;
    for (size_t i = 0; i < n; i++) {
        char key[24];
        snprintf(key, sizeof key, "%zu", i);
        bson_t item;
        BSON_APPEND_DOCUMENT_BEGIN(&items, key, &item);
        BSON_APPEND_UTF8(&item, "slot_id", qs_doc_string(d.docs[i], "slot_id", ""));
        BSON_APPEND_UTF8(&item, "counsellor_id", id);
        qs_append_date(&item, "starts_at", d.docs[i], "starts_at");
        BSON_APPEND_INT64(&item, "minutes", qs_doc_int(d.docs[i], "minutes", 0));
        BSON_APPEND_UTF8(&item, "status", "open");
        bson_append_document_end(&items, &item);
    }
    char next[QS_CURSOR_TEXT_MAX] = "";
    if (d.n > (size_t)page.limit) {
        qs_cursor_t c = {0};
        snprintf(c.id, sizeof c.id, "%s", qs_doc_string(d.docs[n - 1], "_id", ""));
        qs_cursor_encode(CURSOR_SLOTS, &c, next, sizeof next);
    }
    qs_reply_page(req, &items, next[0] ? next : NULL);
    bson_destroy(&items);
    qs_docs_free(&d);
    return;
fail:
    qs_end(&ctx);
    qs_reply_error(req, &err);
}

/* ---- bookings ---- */

static void render_booking(bson_t *out, const bson_t *b)
{
    BSON_APPEND_UTF8(out, "booking_id", qs_doc_string(b, "booking_id", ""));
    BSON_APPEND_UTF8(out, "client_id", qs_doc_string(b, "client_id", ""));
    BSON_APPEND_UTF8(out, "counsellor_id", qs_doc_string(b, "counsellor_id", ""));
    BSON_APPEND_UTF8(out, "slot_id", qs_doc_string(b, "slot_id", ""));
    qs_append_date(out, "starts_at", b, "starts_at");
    BSON_APPEND_INT64(out, "minutes", qs_doc_int(b, "minutes", 0));
    bson_t price;
    BSON_APPEND_DOCUMENT_BEGIN(out, "price", &price);
    BSON_APPEND_INT64(&price, "amount_minor", qs_doc_int(b, "price_minor", 0));
    BSON_APPEND_UTF8(&price, "currency", qs_doc_string(b, "currency", ""));
    bson_append_document_end(out, &price);
    BSON_APPEND_UTF8(out, "status", qs_doc_string(b, "status", ""));
    qs_append_string_or_null(out, "payment_status", b, "payment_status");
    qs_append_string_or_null(out, "room_id", b, "room_id");
    qs_append_string_or_null(out, "failure_reason", b, "failure_reason");
    qs_append_string_or_null(out, "cancelled_by", b, "cancelled_by");
    qs_append_string_or_null(out, "refund", b, "refund");
    copy_value(out, "rating", b, "rating");
    qs_append_string_or_null(out, "job_id", b, "job_id");
    qs_append_date(out, "created_at", b, "created_at");
    qs_append_date(out, "updated_at", b, "updated_at");
    BSON_APPEND_INT64(out, "version", qs_doc_int(b, "v", 0));
}

void qs_handle_bookings(hl_http_request_t *req)
{
    hl_error_t err = {0};
    qs_ctx_t ctx = {0};
    qs_page_params_t page;
    char role[16] = "client", status[16];
    int hr, hs;
    if (!qs_read_page_params(req, CURSOR_BOOKINGS, &page, &err) ||
        (hr = qs_param(req, "role", role, sizeof role, &err)) < 0 ||
        (hs = qs_param(req, "status", status, sizeof status, &err)) < 0)
        goto fail;
    if (hr && strcmp(role, "client") != 0 && strcmp(role, "counsellor") != 0) {
        bad_param(&err, "role", "must be client or counsellor");
        goto fail;
    }
    if (hs && strcmp(status, "requested") && strcmp(status, "confirmed") &&
        strcmp(status, "failed") && strcmp(status, "cancelled") && strcmp(status, "completed")) {
        bad_param(&err, "status", "must be requested, confirmed, failed, cancelled or completed");
        goto fail;
    }
    if (!qs_begin(req, QS_AUTH_REQUIRED, &ctx, &err))
        goto fail;
    char lo[96], hi[96];
    snprintf(lo, sizeof lo, "%s:%s:", ctx.session.user_id, role);
    snprintf(hi, sizeof hi, "%s:%s;", ctx.session.user_id, role);
    if (page.has_cursor && strncmp(page.cursor.id, lo, strlen(lo)) != 0) {
        qs_invalid_cursor(&err);
        goto fail;
    }
    bson_t filter = BSON_INITIALIZER, range, opts = BSON_INITIALIZER, sort = BSON_INITIALIZER;
    BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &range);
    BSON_APPEND_UTF8(&range, "$gte", lo);
    BSON_APPEND_UTF8(&range, "$lt", page.has_cursor ? page.cursor.id : hi);
    bson_append_document_end(&filter, &range);
    if (hs)
        BSON_APPEND_UTF8(&filter, "status", status);
    BSON_APPEND_INT32(&sort, "_id", -1); /* booking ids are UUIDv7: newest first */
    qs_page_opts(&opts, &sort, page.limit);
    qs_docs_t d = {0};
    bool ok = qs_find(&ctx, "bookings_by_user", &filter, &opts, &d, &err);
    qs_end(&ctx);
    bson_destroy(&filter);
    bson_destroy(&opts);
    bson_destroy(&sort);
    if (!ok) {
        qs_docs_free(&d);
        goto fail;
    }
    size_t n = d.n > (size_t)page.limit ? (size_t)page.limit : d.n;
    bson_t items = BSON_INITIALIZER;
    for (size_t i = 0; i < n; i++) {
        char key[24];
        snprintf(key, sizeof key, "%zu", i);
        bson_t item;
        BSON_APPEND_DOCUMENT_BEGIN(&items, key, &item);
        render_booking(&item, d.docs[i]);
        bson_append_document_end(&items, &item);
    }
    char next[QS_CURSOR_TEXT_MAX] = "";
    if (d.n > (size_t)page.limit) {
        qs_cursor_t c = {0};
        snprintf(c.id, sizeof c.id, "%s", qs_doc_string(d.docs[n - 1], "_id", ""));
        qs_cursor_encode(CURSOR_BOOKINGS, &c, next, sizeof next);
    }
    qs_reply_page(req, &items, next[0] ? next : NULL);
    bson_destroy(&items);
    qs_docs_free(&d);
    return;
fail:
    qs_end(&ctx);
    qs_reply_error(req, &err);
}

void qs_handle_booking(hl_http_request_t *req)
{
    hl_error_t err = {0};
    qs_ctx_t ctx = {0};
    char id[HL_UUID_STR_LEN + 1];
    if (!qs_begin(req, QS_AUTH_REQUIRED, &ctx, &err))
        goto fail;
    bson_t b;
    int found = lower_uuid(req->params[0], id) ? qs_find_one(&ctx, "bookings", id, &b, &err) : 0;
    qs_end(&ctx);
    if (found < 0)
        goto fail;
    if (found == 0) {
        hl_http_reply_problem(req, 404, "not-found", NULL, "no booking with this id", NULL);
        return;
    }
    const char *me = ctx.session.user_id;
    if (strcasecmp(qs_doc_string(&b, "client_id", ""), me) != 0 &&
        strcasecmp(qs_doc_string(&b, "counsellor_id", ""), me) != 0) {
        bson_destroy(&b);
        hl_http_reply_problem(req, 403, "not-a-party", NULL, "this booking is not yours", NULL);
        return;
    }
    bson_t out = BSON_INITIALIZER;
    render_booking(&out, &b);
    hl_http_reply_json(req, 200, &out, NULL);
    bson_destroy(&out);
    bson_destroy(&b);
    return;
fail:
    qs_end(&ctx);
    qs_reply_error(req, &err);
}
