/* counselling_models.c: see counselling_models.h. */
#include "counselling_models.h"
#include "model_parts.h"

#include "hl/events.h"
#include "hl/util.h"

#include <stdio.h>
#include <string.h>

#define LIST_MAX  16
#define SLOTS_MAX 128

static bool bad_event(hl_error_t *err, const char *type, const char *field)
{
    return hl_error_set_reason(err, HL_ERR_INPUT, 0, "bad-event",
                               "%s: field %s missing or ill-typed", type, field);
}

static bool get_array(avro_value_t *rec, const char *field, const char **strs, int64_t *longs,
                      size_t cap, size_t *n)
{
    avro_value_t arr, item;
    size_t size = 0;
    *n = 0;
    if (avro_value_get_by_name(rec, field, &arr, NULL) != 0 ||
        avro_value_get_type(&arr) != AVRO_ARRAY || avro_value_get_size(&arr, &size) != 0)
        return false;
    for (size_t i = 0; i < size && *n < cap; i++) {
        size_t len = 0;
        if (avro_value_get_by_index(&arr, i, &item, NULL) != 0)
            return false;
        if (strs && avro_value_get_string(&item, &strs[*n], &len) != 0)
            return false;
        if (longs && avro_value_get_long(&item, &longs[*n]) != 0)
            return false;
        (*n)++;
    }
    return true;
}

static void append_strings(bson_t *doc, const char *key, const char *const *items, size_t n)
{
    bson_t arr;
    BSON_APPEND_ARRAY_BEGIN(doc, key, &arr);
    for (size_t i = 0; i < n; i++) {
        char k[24];
        snprintf(k, sizeof k, "%zu", i);
        BSON_APPEND_UTF8(&arr, k, items[i]);
    }
    bson_append_array_end(doc, &arr);
}

/* daily_bookings: the event counted once in the document of its day and aggregate,
 * {_id: "<day>:<aggregate type>:<aggregate id>", day, v, <counters>}: the $inc and the guard
 * v = aggregate_version are one atomic update that only matches while the stored v is older, as
 * daily_stats (models.c): a replay, or the same event again at a new offset, never counts twice.
 * Analysts sum a day's documents. currency (revenue documents) is $set for grouping. */
static void daily(pj_plan_t *plan, const pj_event_head_t *h, const char *aggregate_type,
                  const char *currency, const char *const *counters, const int64_t *amounts,
                  size_t n)
{
    char id[160];
    snprintf(id, sizeof id, "%s:%s:%s", h->day, aggregate_type, h->aggregate_id);
    pj_op_t *op = pj_plan_add(plan, PJ_OP_UPSERT, "daily_bookings");
    BSON_APPEND_UTF8(&op->filter, "_id", id);
    pj_guard_older(&op->filter, "v", h->version);
    bson_t set, inc;
    BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$set", &set);
    BSON_APPEND_UTF8(&set, "day", h->day);
    BSON_APPEND_INT64(&set, "v", h->version);
    if (currency)
        BSON_APPEND_UTF8(&set, "currency", currency);
    bson_append_document_end(&op->update, &set);
    BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$inc", &inc);
    for (size_t i = 0; i < n; i++)
        BSON_APPEND_INT64(&inc, counters[i], amounts[i]);
    bson_append_document_end(&op->update, &inc);
}

static void slot_key(const char *counsellor, int64_t starts_us, const char *slot_id, char *out,
                     size_t cap)
{
    char at[32];
    pj_seq_key(starts_us, at, sizeof at);
    snprintf(out, cap, "%s:%s:%s", counsellor, at, slot_id);
}

/* Upsert the slot document guarded by its version; minutes < 0 leaves minutes alone. */
static void slot_doc(pj_plan_t *plan, const char *counsellor, const char *slot_id,
                     int64_t starts_us, int64_t minutes, const char *status, int64_t version)
{
    char id[160];
    slot_key(counsellor, starts_us, slot_id, id, sizeof id);
    pj_op_t *op = pj_plan_add(plan, PJ_OP_UPSERT, "slots");
    BSON_APPEND_UTF8(&op->filter, "_id", id);
    pj_guard_older(&op->filter, "v", version);
    bson_t set;
    BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$set", &set);
    BSON_APPEND_UTF8(&set, "counsellor_id", counsellor);
    BSON_APPEND_UTF8(&set, "slot_id", slot_id);
    BSON_APPEND_DATE_TIME(&set, "starts_at", starts_us / 1000);
    if (minutes >= 0)
        BSON_APPEND_INT64(&set, "minutes", minutes);
    BSON_APPEND_UTF8(&set, "status", status);
    BSON_APPEND_INT64(&set, "v", version);
    bson_append_document_end(&op->update, &set);
}

/* The Counsellor's own document: $set v (and the caller's fields through *set, ended by
 * counsellor_end). */
static pj_op_t *counsellor_begin(pj_plan_t *plan, const pj_event_head_t *h, bson_t *set)
{
    pj_op_t *op = pj_plan_add(plan, PJ_OP_UPSERT, "counsellors");
    BSON_APPEND_UTF8(&op->filter, "_id", h->aggregate_id);
    pj_guard_older(&op->filter, "v", h->version);
    BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$set", set);
    BSON_APPEND_UTF8(set, "counsellor_id", h->aggregate_id);
    BSON_APPEND_INT64(set, "v", h->version);
    BSON_APPEND_DATE_TIME(set, "updated_at", h->occurred_us / 1000);
    return op;
}

static void counsellor_end(pj_op_t *op, bson_t *set, bool first)
{
    bson_append_document_end(&op->update, set);
    bson_t soi;
    BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$setOnInsert", &soi);
    BSON_APPEND_INT64(&soi, "rating_sum", 0);
    BSON_APPEND_INT64(&soi, "rating_count", 0);
    if (first)
        BSON_APPEND_BOOL(&soi, "verified", false);
    bson_append_document_end(&op->update, &soi);
}

static bool plan_counsellor(const pj_event_head_t *h, avro_value_t *rec, pj_plan_t *plan,
                            hl_error_t *err)
{
    bson_t set;
    if (!strcmp(h->type, "CounsellorRegistered") || !strcmp(h->type, "CounsellorProfileUpdated")) {
        const char *name = NULL, *headline = NULL, *bio = NULL, *currency = NULL;
        const char *spec[LIST_MAX], *lang[LIST_MAX];
        size_t ns = 0, nl = 0;
        int64_t price = 0, minutes = 0;
        if (!hl_avro_get_string(rec, "display_name", &name, err) ||
            !hl_avro_get_string(rec, "headline", &headline, err) ||
            !hl_avro_get_string(rec, "bio", &bio, err) ||
            !hl_avro_get_string(rec, "currency", &currency, err) ||
            !hl_avro_get_long(rec, "price_minor", &price, err) ||
            !hl_avro_get_long(rec, "session_minutes", &minutes, err) ||
            !get_array(rec, "specialties", spec, NULL, LIST_MAX, &ns) ||
            !get_array(rec, "languages", lang, NULL, LIST_MAX, &nl))
            return bad_event(err, h->type, "profile fields");
        pj_op_t *op = counsellor_begin(plan, h, &set);
        BSON_APPEND_UTF8(&set, "display_name", name);
        BSON_APPEND_UTF8(&set, "headline", headline);
        BSON_APPEND_UTF8(&set, "bio", bio);
        append_strings(&set, "specialties", spec, ns);
        /* languages as given and lower-cased for the directory filter (BCP 47 tags compare
         * case-insensitively) */
        append_strings(&set, "languages", lang, nl);
        char lower[LIST_MAX][40];
        const char *lp[LIST_MAX];
        for (size_t i = 0; i < nl; i++) {
            hl_fold_ascii(lang[i], lower[i], sizeof lower[i]);
            lp[i] = lower[i];
        }
        append_strings(&set, "languages_lower", lp, nl);
        BSON_APPEND_INT64(&set, "price_minor", price);
        BSON_APPEND_UTF8(&set, "currency", currency);
        BSON_APPEND_INT64(&set, "session_minutes", minutes);
        if (!strcmp(h->type, "CounsellorRegistered"))
            BSON_APPEND_DATE_TIME(&set, "created_at", h->occurred_us / 1000);
        counsellor_end(op, &set, !strcmp(h->type, "CounsellorRegistered"));
        return true;
    }
    if (!strcmp(h->type, "CounsellorVerified")) {
        pj_op_t *op = counsellor_begin(plan, h, &set);
        BSON_APPEND_BOOL(&set, "verified", true);
        BSON_APPEND_DATE_TIME(&set, "verified_at", h->occurred_us / 1000);
        counsellor_end(op, &set, false);
        return true;
    }
    if (!strcmp(h->type, "SlotsPublished")) {
        const char *ids[SLOTS_MAX];
        int64_t starts[SLOTS_MAX], minutes = 0;
        size_t n = 0, m = 0;
        if (!get_array(rec, "slot_ids", ids, NULL, SLOTS_MAX, &n) ||
            !get_array(rec, "starts_at", NULL, starts, SLOTS_MAX, &m) || n != m ||
            !hl_avro_get_long(rec, "minutes", &minutes, err))
            return bad_event(err, h->type, "slot_ids/starts_at/minutes");
        pj_op_t *op = counsellor_begin(plan, h, &set);
        counsellor_end(op, &set, false);
        for (size_t i = 0; i < n; i++)
            slot_doc(plan, h->aggregate_id, ids[i], starts[i], minutes, "open", 1);
        return true;
    }
    if (!strcmp(h->type, "SlotWithdrawn")) {
        const char *slot_id = NULL;
        int64_t sv = 0, starts = 0;
        if (!hl_avro_get_string(rec, "slot_id", &slot_id, err) ||
            !hl_avro_get_long(rec, "slot_version", &sv, err) ||
            !hl_avro_get_long(rec, "starts_at", &starts, err))
            return bad_event(err, h->type, "slot_id/slot_version/starts_at");
        pj_op_t *op = counsellor_begin(plan, h, &set);
        counsellor_end(op, &set, false);
        slot_doc(plan, h->aggregate_id, slot_id, starts, -1, "withdrawn", sv);
        return true;
    }
    return false;
}

/* The fields every Booking* event carries. */
typedef struct {
    const char *client, *counsellor, *slot, *slot_status, *currency, *job;
    int64_t slot_version, starts, minutes, price;
} booking_fields_t;

static bool booking_fields(const pj_event_head_t *h, avro_value_t *rec, booking_fields_t *b,
                           hl_error_t *err)
{
    if (!hl_avro_get_string(rec, "client_id", &b->client, err) ||
        !hl_avro_get_string(rec, "counsellor_id", &b->counsellor, err) ||
        !hl_avro_get_string(rec, "slot_id", &b->slot, err) ||
        !hl_avro_get_string(rec, "slot_status", &b->slot_status, err) ||
        !hl_avro_get_string(rec, "currency", &b->currency, err) ||
        !hl_avro_get_string(rec, "job_id", &b->job, err) ||
        !hl_avro_get_long(rec, "slot_version", &b->slot_version, err) ||
        !hl_avro_get_long(rec, "starts_at", &b->starts, err) ||
        !hl_avro_get_long(rec, "minutes", &b->minutes, err) ||
        !hl_avro_get_long(rec, "price_minor", &b->price, err))
        return bad_event(err, h->type, "booking fields");
    return true;
}

/* One guarded upsert per booking document (bookings, and bookings_by_user for each party) with
 * the same $set; fill(set, opaque) appends the event's own fields. guard: the position field
 * ("v" or "payment_v") compared with version. */
typedef void (*fill_fn)(bson_t *set, const void *opaque);

static void booking_docs(pj_plan_t *plan, const char *booking_id, const char *client,
                         const char *counsellor, const char *guard, int64_t version, fill_fn fill,
                         const void *opaque)
{
    for (int k = 0; k < 3; k++) {
        char id[160];
        const char *model = k == 0 ? "bookings" : "bookings_by_user";
        if (k == 0)
            snprintf(id, sizeof id, "%s", booking_id);
        else
            snprintf(id, sizeof id, "%s:%s:%s", k == 1 ? client : counsellor,
                     k == 1 ? "client" : "counsellor", booking_id);
        pj_op_t *op = pj_plan_add(plan, PJ_OP_UPSERT, model);
        BSON_APPEND_UTF8(&op->filter, "_id", id);
        pj_guard_older(&op->filter, guard, version);
        bson_t set;
        BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$set", &set);
        BSON_APPEND_UTF8(&set, "booking_id", booking_id);
        BSON_APPEND_UTF8(&set, "client_id", client);
        BSON_APPEND_UTF8(&set, "counsellor_id", counsellor);
        if (k > 0) {
            BSON_APPEND_UTF8(&set, "user_id", k == 1 ? client : counsellor);
            BSON_APPEND_UTF8(&set, "role", k == 1 ? "client" : "counsellor");
        }
        BSON_APPEND_INT64(&set, guard, version);
        fill(&set, opaque);
        bson_append_document_end(&op->update, &set);
    }
}

typedef struct {
    const pj_event_head_t *h;
    const booking_fields_t *b;
    const char *status;
    const char *room_id, *reason, *cancelled_by, *refund;
    bool slot_reopened;
} booking_fill_t;

static void fill_booking(bson_t *set, const void *opaque)
{
    const booking_fill_t *f = opaque;
    BSON_APPEND_UTF8(set, "slot_id", f->b->slot);
    BSON_APPEND_DATE_TIME(set, "starts_at", f->b->starts / 1000);
    BSON_APPEND_INT64(set, "minutes", f->b->minutes);
    BSON_APPEND_INT64(set, "price_minor", f->b->price);
    BSON_APPEND_UTF8(set, "currency", f->b->currency);
    BSON_APPEND_UTF8(set, "status", f->status);
    BSON_APPEND_UTF8(set, "job_id", f->b->job);
    BSON_APPEND_DATE_TIME(set, "updated_at", f->h->occurred_us / 1000);
    if (!strcmp(f->status, "requested"))
        BSON_APPEND_DATE_TIME(set, "created_at", f->h->occurred_us / 1000);
    if (f->room_id)
        BSON_APPEND_UTF8(set, "room_id", f->room_id);
    if (f->reason)
        BSON_APPEND_UTF8(set, "failure_reason", f->reason);
    if (f->cancelled_by) {
        BSON_APPEND_UTF8(set, "cancelled_by", f->cancelled_by);
        BSON_APPEND_UTF8(set, "refund", f->refund);
        BSON_APPEND_BOOL(set, "slot_reopened", f->slot_reopened);
    }
}

typedef struct {
    int64_t rating;
    int64_t at_ms;
} review_fill_t;

static void fill_review(bson_t *set, const void *opaque)
{
    const review_fill_t *f = opaque;
    BSON_APPEND_INT64(set, "rating", f->rating);
    BSON_APPEND_BOOL(set, "reviewed", true);
    BSON_APPEND_DATE_TIME(set, "updated_at", f->at_ms);
}

typedef struct {
    const char *status;
    const char *provider_ref;
} payment_fill_t;

static void fill_payment(bson_t *set, const void *opaque)
{
    const payment_fill_t *f = opaque;
    BSON_APPEND_UTF8(set, "payment_status", f->status);
}

/* A booking_confirmed notification for recipient (actor: the other party). */
static void notify(pj_plan_t *plan, const pj_event_head_t *h, const char *recipient,
                   const char *actor, const char *room_id, int64_t starts_us)
{
    char at[32], id[192];
    pj_seq_key(h->occurred_us, at, sizeof at);
    snprintf(id, sizeof id, "%s:%s:%s", recipient, at, h->event_id);
    pj_op_t *op = pj_plan_add(plan, PJ_OP_UPSERT, "notifications");
    BSON_APPEND_UTF8(&op->filter, "_id", id);
    bson_t set;
    BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$set", &set);
    BSON_APPEND_UTF8(&set, "user_id", recipient);
    BSON_APPEND_UTF8(&set, "kind", "booking_confirmed");
    BSON_APPEND_UTF8(&set, "actor_id", actor);
    BSON_APPEND_UTF8(&set, "event_id", h->event_id);
    BSON_APPEND_DATE_TIME(&set, "created_at", h->occurred_us / 1000);
    BSON_APPEND_UTF8(&set, "booking_id", h->aggregate_id);
    BSON_APPEND_UTF8(&set, "room_id", room_id);
    BSON_APPEND_DATE_TIME(&set, "starts_at", starts_us / 1000);
    /* read state as for every notification: a read-all applied before this one covers it */
    pj_notification_end(plan, op, &set, id, recipient, h->occurred_us / 1000);
}

static bool plan_booking(const pj_event_head_t *h, avro_value_t *rec, pj_plan_t *plan,
                         hl_error_t *err)
{
    if (!strcmp(h->type, "ReviewSubmitted")) {
        const char *client = NULL, *counsellor = NULL;
        int64_t rating = 0;
        if (!hl_avro_get_string(rec, "client_id", &client, err) ||
            !hl_avro_get_string(rec, "counsellor_id", &counsellor, err) ||
            !hl_avro_get_long(rec, "rating", &rating, err))
            return bad_event(err, h->type, "client_id/counsellor_id/rating");
        review_fill_t f = {rating, h->occurred_us / 1000};
        booking_docs(plan, h->aggregate_id, client, counsellor, "v", h->version, fill_review, &f);
        /* the counsellor's rating counts each booking once */
        char key[96];
        snprintf(key, sizeof key, "reviews.%s", h->aggregate_id);
        pj_op_t *op = pj_plan_add(plan, PJ_OP_UPSERT, "counsellors");
        BSON_APPEND_UTF8(&op->filter, "_id", counsellor);
        bson_t cond, set, inc;
        BSON_APPEND_DOCUMENT_BEGIN(&op->filter, key, &cond);
        BSON_APPEND_BOOL(&cond, "$exists", false);
        bson_append_document_end(&op->filter, &cond);
        BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$set", &set);
        BSON_APPEND_INT64(&set, key, rating);
        bson_append_document_end(&op->update, &set);
        BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$inc", &inc);
        BSON_APPEND_INT64(&inc, "rating_sum", rating);
        BSON_APPEND_INT64(&inc, "rating_count", 1);
        bson_append_document_end(&op->update, &inc);
        return true;
    }
    booking_fields_t b;
    if (!booking_fields(h, rec, &b, err))
        return false;
    booking_fill_t f = {.h = h, .b = &b};
    const char *counter = NULL;
    char reason_key[96];
    const char *counters[2];
    int64_t ones[2] = {1, 1};
    size_t ncounters = 1;
    if (!strcmp(h->type, "BookingRequested")) {
        f.status = "requested";
        counter = "requested";
    } else if (!strcmp(h->type, "BookingConfirmed")) {
        f.status = "confirmed";
        counter = "confirmed";
        if (!hl_avro_get_string(rec, "room_id", &f.room_id, err))
            return bad_event(err, h->type, "room_id");
    } else if (!strcmp(h->type, "BookingFailed")) {
        f.status = "failed";
        counter = "failed";
        if (!hl_avro_get_string(rec, "reason", &f.reason, err))
            return bad_event(err, h->type, "reason");
        snprintf(reason_key, sizeof reason_key, "failed_by_reason.%s", f.reason);
        for (char *c = reason_key + strlen("failed_by_reason."); *c; c++)
            if (*c == '.' || *c == '$')
                *c = '_';
        counters[1] = reason_key;
        ncounters = 2;
    } else if (!strcmp(h->type, "BookingCancelled")) {
        f.status = "cancelled";
        counter = "cancelled";
        bool reopened = false;
        if (!hl_avro_get_string(rec, "cancelled_by", &f.cancelled_by, err) ||
            !hl_avro_get_string(rec, "refund", &f.refund, err) ||
            !hl_avro_get_bool(rec, "slot_reopened", &reopened, err))
            return bad_event(err, h->type, "cancelled_by/refund/slot_reopened");
        f.slot_reopened = reopened;
    } else if (!strcmp(h->type, "BookingCompleted")) {
        f.status = "completed";
        counter = "completed";
    } else {
        return false;
    }
    counters[0] = counter;
    slot_doc(plan, b.counsellor, b.slot, b.starts, b.minutes, b.slot_status, b.slot_version);
    booking_docs(plan, h->aggregate_id, b.client, b.counsellor, "v", h->version, fill_booking, &f);
    daily(plan, h, "Booking", NULL, counters, ones, ncounters);
    if (f.room_id) {
        notify(plan, h, b.client, b.counsellor, f.room_id, b.starts);
        notify(plan, h, b.counsellor, b.client, f.room_id, b.starts);
    }
    return true;
}

static bool plan_payment(const pj_event_head_t *h, avro_value_t *rec, pj_plan_t *plan,
                         hl_error_t *err)
{
    const char *booking = NULL, *client = NULL, *counsellor = NULL, *currency = NULL;
    int64_t amount = 0;
    if (!hl_avro_get_string(rec, "booking_id", &booking, err) ||
        !hl_avro_get_string(rec, "client_id", &client, err) ||
        !hl_avro_get_string(rec, "counsellor_id", &counsellor, err) ||
        !hl_avro_get_string(rec, "currency", &currency, err) ||
        !hl_avro_get_long(rec, "amount_minor", &amount, err))
        return bad_event(err, h->type, "payment fields");
    payment_fill_t f = {0};
    if (!strcmp(h->type, "PaymentAuthorized"))
        f.status = "authorized";
    else if (!strcmp(h->type, "PaymentDeclined"))
        f.status = "declined";
    else if (!strcmp(h->type, "PaymentCaptured"))
        f.status = "captured";
    else if (!strcmp(h->type, "PaymentVoided"))
        f.status = "voided";
    else if (!strcmp(h->type, "PaymentRefunded"))
        f.status = "refunded";
    else
        return false;
    booking_docs(plan, booking, client, counsellor, "payment_v", h->version, fill_payment, &f);
    if (!strcmp(h->type, "PaymentCaptured")) {
        const char *c[1] = {"revenue_minor"};
        daily(plan, h, "Payment", currency, c, &amount, 1);
    } else if (!strcmp(h->type, "PaymentRefunded")) {
        const char *c[2] = {"revenue_minor", "refunded_minor"};
        int64_t a[2] = {-amount, amount};
        daily(plan, h, "Payment", currency, c, a, 2);
    }
    return true;
}

bool pj_counselling_plan(const pj_event_head_t *h, avro_value_t *rec, pj_plan_t *plan,
                         bool *handled, hl_error_t *err)
{
    *handled = true;
    if (!strncmp(h->type, "Counsellor", 10) || !strncmp(h->type, "Slot", 4)) {
        if (plan_counsellor(h, rec, plan, err))
            return true;
        if (err->domain != HL_ERR_NONE)
            return false;
    } else if (!strncmp(h->type, "Booking", 7) || !strcmp(h->type, "ReviewSubmitted")) {
        if (plan_booking(h, rec, plan, err))
            return true;
        if (err->domain != HL_ERR_NONE)
            return false;
    } else if (!strncmp(h->type, "Payment", 7)) {
        if (plan_payment(h, rec, plan, err))
            return true;
        if (err->domain != HL_ERR_NONE)
            return false;
    }
    *handled = false;
    return true;
}
