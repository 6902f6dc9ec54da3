/* event_models.c: the domain events' read models (event_models.h): one plan function per
 * event type, found in a {type, plan_fn} table. */
#include "event_models.h"
#include "counselling_models.h"
#include "model_parts.h"
#include "presence.h"

#include "hl/consistency.h"
#include "hl/events.h"
#include "hl/util.h"

#include <stdio.h>
#include <string.h>

const char *const pj_event_models[] = {
    "friends", "friend_requests", "friend_requests_by_user", "user_counters", "inbox",
    "notifications", "notification_reads", "daily_active_users", "daily_stats",
    /* counselling and payments (counselling_models.h) */
    "counsellors", "slots", "bookings", "bookings_by_user", "daily_bookings", NULL};

/* An optional string field that may also be absent from the writer schema (added later). */
static const char *get_optional(avro_value_t *rec, const char *field)
{
    avro_value_t f, branch;
    const char *s = NULL;
    size_t len = 0;
    if (avro_value_get_by_name(rec, field, &f, NULL) != 0)
        return NULL;
    if (avro_value_get_type(&f) == AVRO_UNION) {
        if (avro_value_get_current_branch(&f, &branch) != 0)
            return NULL;
        f = branch;
    }
    if (avro_value_get_type(&f) != AVRO_STRING || avro_value_get_string(&f, &s, &len) != 0)
        return NULL;
    return s;
}

/* The envelope of an event (counselling_models.h's: the counselling events share it). */
typedef pj_event_head_t ev_head_t;

/* user_id acted on the event's day: one daily_active_users document (active users of a day =
 * its documents; the query server counts them). */
static void daily_active(pj_plan_t *plan, const ev_head_t *h, const char *user_id)
{
    char id[128];
    snprintf(id, sizeof id, "%s:%s", h->day, user_id);
    pj_op_t *op = pj_plan_add(plan, PJ_OP_UPSERT, "daily_active_users");
    BSON_APPEND_UTF8(&op->filter, "_id", id);
    bson_t soi;
    BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$setOnInsert", &soi);
    BSON_APPEND_UTF8(&soi, "day", h->day);
    BSON_APPEND_UTF8(&soi, "user_id", user_id);
    bson_append_document_end(&op->update, &soi);
}

/* daily_stats counts the event once in the document of its day and aggregate, {_id: "<day>:
 * <aggregate type>:<aggregate id>", day, v, <counter>}: the $inc and the guard v =
 * aggregate_version are one atomic update that only matches while the stored v is older
 * (docs/read-models.md). An aggregate's events reach the projector in version order on one
 * partition, so a replay, or the same event again at a new offset (the outbox relay republishes
 * after a crash: at-least-once), never counts twice; and each document has one writer, the
 * owner of the aggregate's partition, however many projectors share the consumer group. The
 * query server sums a day's documents. */
static void daily_count(pj_plan_t *plan, const ev_head_t *h, const char *counter)
{
    const char *agg_type = hl_event_aggregate_type(h->type);
    char id[160];
    snprintf(id, sizeof id, "%s:%s:%s", h->day, agg_type ? agg_type : "Unknown", h->aggregate_id);
    pj_op_t *op = pj_plan_add(plan, PJ_OP_UPSERT, "daily_stats");
    BSON_APPEND_UTF8(&op->filter, "_id", id);
    pj_guard_older(&op->filter, "v", h->version);
    bson_t set, inc;
    BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$set", &set);
    BSON_APPEND_DATE_TIME(&set, "day", (h->occurred_us / 86400000000LL) * 86400000LL);
    BSON_APPEND_INT64(&set, "v", h->version);
    bson_append_document_end(&op->update, &set);
    BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$inc", &inc);
    BSON_APPEND_INT64(&inc, counter, 1);
    bson_append_document_end(&op->update, &inc);
}

/* The notification _id of recipient for event h: "<recipient>:<occurred µs>:<event id>". */
static void notification_id(const ev_head_t *h, const char *recipient, char *out, size_t cap)
{
    char at[32];
    pj_seq_key(h->occurred_us, at, sizeof at);
    snprintf(out, cap, "%s:%s:%s", recipient, at, h->event_id);
}

/* One notification for recipient: an upsert by _id whose $set (begun here as *set) holds the
 * content; the caller appends kind-specific fields, then calls notification_end. The content
 * is $set, not $setOnInsert: a NotificationsRead by id applied before the notification existed
 * left a stub {_id, user_id, read, read_at} (see NotificationsRead below) that this fills. */
static pj_op_t *notification_begin(pj_plan_t *plan, const ev_head_t *h, const char *recipient,
                                   const char *kind, const char *actor, bson_t *set)
{
    char id[192];
    notification_id(h, recipient, id, sizeof id);
    pj_op_t *op = pj_plan_add(plan, PJ_OP_UPSERT, "notifications");
    BSON_APPEND_UTF8(&op->filter, "_id", id);
    BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$set", set);
    BSON_APPEND_UTF8(set, "user_id", recipient);
    BSON_APPEND_UTF8(set, "kind", kind);
    BSON_APPEND_UTF8(set, "actor_id", actor);
    BSON_APPEND_UTF8(set, "event_id", h->event_id);
    BSON_APPEND_DATE_TIME(set, "created_at", h->occurred_us / 1000);
    return op;
}

static void notification_end(pj_plan_t *plan, pj_op_t *op, bson_t *set, const ev_head_t *h,
                             const char *recipient)
{
    char id[192];
    notification_id(h, recipient, id, sizeof id);
    pj_notification_end(plan, op, set, id, recipient, h->occurred_us / 1000);
}

/* user_counters: one contribution document per user and friendship aggregate, {_id: "<user>:
 * <aggregate id>", user_id, friend_id, delta, at}: +1 from the FriendRequestAccepted of the
 * request (aggregate: the request), -1 from the FriendDeleted of the friendship (aggregate: the
 * friendship). Each document has one writer, the owner of its aggregate's partition, and is
 * only ever inserted ($setOnInsert, a replay matches and changes nothing), so the counts stay
 * exact with several projectors in one group and in any arrival order; friend_count = the sum of
 * a user's deltas (the _id range "<user>:", summed by the query server). Every friendship is
 * accepted once and deleted at most once (command side), so the sum is the live friendships. */
static void friend_count(pj_plan_t *plan, const ev_head_t *h, const char *user,
                         const char *friend_id, bool ended)
{
    char id[160];
    snprintf(id, sizeof id, "%s:%s", user, h->aggregate_id);
    pj_op_t *op = pj_plan_add(plan, PJ_OP_UPSERT, "user_counters");
    BSON_APPEND_UTF8(&op->filter, "_id", id);
    bson_t soi;
    BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$setOnInsert", &soi);
    BSON_APPEND_UTF8(&soi, "user_id", user);
    BSON_APPEND_UTF8(&soi, "friend_id", friend_id);
    BSON_APPEND_INT64(&soi, "delta", ended ? -1 : 1);
    BSON_APPEND_INT64(&soi, "at", h->occurred_us);
    bson_append_document_end(&op->update, &soi);
}

static void friend_link(pj_plan_t *plan, const ev_head_t *h, const char *user,
                        const char *friend_id, const char *friendship_id, bool ended)
{
    char id[128];
    snprintf(id, sizeof id, "%s:%s", user, friend_id);
    pj_op_t *op = pj_plan_add(plan, PJ_OP_UPSERT, "friends");
    BSON_APPEND_UTF8(&op->filter, "_id", id);
    /* accept and delete travel on different aggregates (request, friendship), both keyed by
     * the pair of users (command-server event_store.c), so on one partition: one writer; the
     * newest occurred_at wins in any arrival order (a replay, events keyed before the pair) */
    pj_guard_older(&op->filter, "at", h->occurred_us);
    bson_t set;
    BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$set", &set);
    BSON_APPEND_UTF8(&set, "user_id", user);
    BSON_APPEND_UTF8(&set, "friend_id", friend_id);
    BSON_APPEND_BOOL(&set, "ended", ended);
    BSON_APPEND_INT64(&set, "at", h->occurred_us);
    if (ended) {
        BSON_APPEND_DATE_TIME(&set, "ended_at", h->occurred_us / 1000);
    } else {
        BSON_APPEND_DATE_TIME(&set, "since", h->occurred_us / 1000);
        BSON_APPEND_NULL(&set, "ended_at");
        if (friendship_id)
            BSON_APPEND_UTF8(&set, "friendship_id", friendship_id);
        else
            BSON_APPEND_NULL(&set, "friendship_id");
    }
    bson_append_document_end(&op->update, &set);
    friend_count(plan, h, user, friend_id, ended);
}

static void request_fields(bson_t *set, const ev_head_t *h, const char *from, const char *to,
                           const char *status)
{
    bson_t *s = set;
    BSON_APPEND_UTF8(s, "from_user_id", from);
    BSON_APPEND_UTF8(s, "to_user_id", to);
    BSON_APPEND_UTF8(s, "status", status);
    BSON_APPEND_DATE_TIME(s, "updated_at", h->occurred_us / 1000);
    BSON_APPEND_INT64(s, "v", h->version);
    if (!strcmp(status, "pending"))
        BSON_APPEND_DATE_TIME(s, "created_at", h->occurred_us / 1000);
}

/* The request's state in friend_requests (_id = request id) and in friend_requests_by_user, once
 * per party (_id "<to>:in:<request>" and "<from>:out:<request>": a user's incoming or outgoing
 * requests are one _id range), each guarded by the aggregate version. */
static void request_status(pj_plan_t *plan, const ev_head_t *h, const char *from, const char *to,
                           const char *status)
{
    for (int k = 0; k < 3; k++) {
        char id[192];
        const char *model = k == 0 ? "friend_requests" : "friend_requests_by_user";
        if (k == 0)
            snprintf(id, sizeof id, "%s", h->aggregate_id);
        else
            snprintf(id, sizeof id, "%s:%s:%s", k == 1 ? to : from, k == 1 ? "in" : "out",
                     h->aggregate_id);
        pj_op_t *op = pj_plan_add(plan, PJ_OP_UPSERT, model);
        BSON_APPEND_UTF8(&op->filter, "_id", id);
        pj_guard_older(&op->filter, "v", h->version);
        bson_t set;
        BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$set", &set);
        if (k > 0) {
            BSON_APPEND_UTF8(&set, "user_id", k == 1 ? to : from);
            BSON_APPEND_UTF8(&set, "direction", k == 1 ? "incoming" : "outgoing");
            BSON_APPEND_UTF8(&set, "request_id", h->aggregate_id);
        }
        request_fields(&set, h, from, to, status);
        bson_append_document_end(&op->update, &set);
    }
}

#define MAX_MEMBERS 1024

static bool plan_message_sent(avro_value_t *rec, const ev_head_t *h, pj_plan_t *plan,
                              hl_error_t *err)
{
    const char *message_id = NULL, *sender = NULL, *body = NULL;
    int64_t seq = 0;
    const char *recipients[MAX_MEMBERS];
    size_t nrec = 0;
    if (!hl_avro_get_string(rec, "message_id", &message_id, err) ||
        !hl_avro_get_string(rec, "sender_id", &sender, err) ||
        !hl_avro_get_string(rec, "body", &body, err) || !hl_avro_get_long(rec, "seq", &seq, err))
        return pj_bad_event(err, h->type, "message_id/sender_id/body/seq");
    if (!pj_avro_array(rec, "recipient_ids", recipients, NULL, MAX_MEMBERS, &nrec))
        return pj_bad_event(err, h->type, "recipient_ids");
    char preview[128];
    pj_preview(body, 100, preview, sizeof preview);
    for (size_t i = 0; i <= nrec; i++) {
        const char *user = i < nrec ? recipients[i] : sender;
        if (i < nrec && !strcmp(user, sender))
            continue; /* the sender's entry is written last, once */
        char id[128];
        snprintf(id, sizeof id, "%s:%s", user, h->aggregate_id);
        pj_op_t *op = pj_plan_add(plan, PJ_OP_UPSERT, "inbox");
        BSON_APPEND_UTF8(&op->filter, "_id", id);
        pj_guard_older(&op->filter, "last_seq", seq);
        bson_t set, lm, max, soi;
        BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$set", &set);
        BSON_APPEND_UTF8(&set, "user_id", user);
        BSON_APPEND_UTF8(&set, "room_id", h->aggregate_id);
        BSON_APPEND_DOCUMENT_BEGIN(&set, "last_message", &lm);
        BSON_APPEND_UTF8(&lm, "message_id", message_id);
        BSON_APPEND_INT64(&lm, "seq", seq);
        BSON_APPEND_UTF8(&lm, "sender_id", sender);
        BSON_APPEND_UTF8(&lm, "body", body);
        BSON_APPEND_DATE_TIME(&lm, "sent_at", h->occurred_us / 1000);
        bson_append_document_end(&set, &lm);
        BSON_APPEND_INT64(&set, "last_seq", seq);
        bson_append_document_end(&op->update, &set);
        BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$max", &max);
        BSON_APPEND_DATE_TIME(&max, "last_activity_at", h->occurred_us / 1000);
        /* a sender has read their own message */
        BSON_APPEND_INT64(&max, "last_read_seq", i == nrec ? seq : 0);
        bson_append_document_end(&op->update, &max);
        BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$setOnInsert", &soi);
        BSON_APPEND_NULL(&soi, "kind");
        bson_append_document_end(&op->update, &soi);
        if (i < nrec) {
            op = notification_begin(plan, h, user, "new_message", sender, &soi);
            BSON_APPEND_UTF8(&soi, "room_id", h->aggregate_id);
            BSON_APPEND_UTF8(&soi, "message_id", message_id);
            BSON_APPEND_INT64(&soi, "seq", seq);
            BSON_APPEND_UTF8(&soi, "preview", preview);
            notification_end(plan, op, &soi, h, user);
        }
    }
    daily_count(plan, h, "messages_sent");
    daily_active(plan, h, sender);
    return true;
}

static bool plan_room_created(avro_value_t *rec, const ev_head_t *h, pj_plan_t *plan,
                              hl_error_t *err)
{
    const char *kind = NULL, *title = NULL, *created_by = NULL;
    const char *members[MAX_MEMBERS];
    size_t n = 0;
    if (!hl_avro_get_string(rec, "kind", &kind, err) ||
        !hl_avro_get_string_opt(rec, "title", &title, err) ||
        !hl_avro_get_string(rec, "created_by", &created_by, err))
        return pj_bad_event(err, h->type, "kind/title/created_by");
    if (!pj_avro_array(rec, "member_ids", members, NULL, MAX_MEMBERS, &n))
        return pj_bad_event(err, h->type, "member_ids");
    for (size_t i = 0; i < n; i++) {
        char id[128];
        snprintf(id, sizeof id, "%s:%s", members[i], h->aggregate_id);
        pj_op_t *op = pj_plan_add(plan, PJ_OP_UPSERT, "inbox");
        BSON_APPEND_UTF8(&op->filter, "_id", id);
        bson_t set, arr, max, soi;
        BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$set", &set);
        BSON_APPEND_UTF8(&set, "user_id", members[i]);
        BSON_APPEND_UTF8(&set, "room_id", h->aggregate_id);
        BSON_APPEND_UTF8(&set, "kind", kind);
        if (title)
            BSON_APPEND_UTF8(&set, "title", title);
        else
            BSON_APPEND_NULL(&set, "title");
        BSON_APPEND_ARRAY_BEGIN(&set, "member_ids", &arr);
        for (size_t j = 0; j < n; j++) {
            char key[24];
            snprintf(key, sizeof key, "%zu", j);
            BSON_APPEND_UTF8(&arr, key, members[j]);
        }
        bson_append_array_end(&set, &arr);
        bson_append_document_end(&op->update, &set);
        BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$max", &max);
        BSON_APPEND_DATE_TIME(&max, "last_activity_at", h->occurred_us / 1000);
        BSON_APPEND_INT64(&max, "last_seq", 0);
        BSON_APPEND_INT64(&max, "last_read_seq", 0);
        bson_append_document_end(&op->update, &max);
        BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$setOnInsert", &soi);
        BSON_APPEND_NULL(&soi, "last_message");
        bson_append_document_end(&op->update, &soi);
    }
    return true;
}

/* ---- one plan function per event type ---- */

typedef bool (*event_plan_fn)(avro_value_t *rec, const ev_head_t *h, pj_plan_t *plan,
                              hl_error_t *err);

static bool plan_user_registered(avro_value_t *rec, const ev_head_t *h, pj_plan_t *plan,
                                 hl_error_t *err)
{
    (void)rec;
    (void)err;
    daily_count(plan, h, "users_registered");
    return true;
}

static bool plan_presence_changed(avro_value_t *rec, const ev_head_t *h, pj_plan_t *plan,
                                  hl_error_t *err)
{
    const char *status = NULL;
    if (!hl_avro_get_string(rec, "status", &status, err))
        return pj_bad_event(err, h->type, "status");
    if (!strcmp(status, "online"))
        daily_active(plan, h, h->aggregate_id);
    return true;
}

/* The two users of a friend request event. */
static bool request_users(avro_value_t *rec, const ev_head_t *h, const char **from, const char **to,
                          hl_error_t *err)
{
    if (!hl_avro_get_string(rec, "from_user_id", from, err) ||
        !hl_avro_get_string(rec, "to_user_id", to, err))
        return pj_bad_event(err, h->type, "from_user_id/to_user_id");
    return true;
}

static bool plan_request_sent(avro_value_t *rec, const ev_head_t *h, pj_plan_t *plan,
                              hl_error_t *err)
{
    const char *from = NULL, *to = NULL;
    if (!request_users(rec, h, &from, &to, err))
        return false;
    bson_t soi;
    request_status(plan, h, from, to, "pending");
    pj_op_t *op = notification_begin(plan, h, to, "friend_request", from, &soi);
    BSON_APPEND_UTF8(&soi, "request_id", h->aggregate_id);
    notification_end(plan, op, &soi, h, to);
    daily_active(plan, h, from);
    return true;
}

static bool plan_request_accepted(avro_value_t *rec, const ev_head_t *h, pj_plan_t *plan,
                                  hl_error_t *err)
{
    const char *from = NULL, *to = NULL;
    if (!request_users(rec, h, &from, &to, err))
        return false;
    bson_t soi;
    request_status(plan, h, from, to, "accepted");
    const char *friendship = get_optional(rec, "friendship_id");
    friend_link(plan, h, from, to, friendship, false);
    friend_link(plan, h, to, from, friendship, false);
    pj_op_t *op = notification_begin(plan, h, from, "friend_accepted", to, &soi);
    BSON_APPEND_UTF8(&soi, "request_id", h->aggregate_id);
    notification_end(plan, op, &soi, h, from);
    daily_count(plan, h, "friendships_formed");
    daily_active(plan, h, to);
    return true;
}

static bool plan_request_rejected(avro_value_t *rec, const ev_head_t *h, pj_plan_t *plan,
                                  hl_error_t *err)
{
    const char *from = NULL, *to = NULL;
    if (!request_users(rec, h, &from, &to, err))
        return false;
    request_status(plan, h, from, to, "rejected");
    return true;
}

static bool plan_friend_deleted(avro_value_t *rec, const ev_head_t *h, pj_plan_t *plan,
                                hl_error_t *err)
{
    const char *from = NULL, *to = NULL;
    if (!hl_avro_get_string(rec, "user_id", &from, err) ||
        !hl_avro_get_string(rec, "friend_user_id", &to, err))
        return pj_bad_event(err, h->type, "user_id/friend_user_id");
    friend_link(plan, h, from, to, NULL, true);
    friend_link(plan, h, to, from, NULL, true);
    return true;
}

static bool plan_messages_read(avro_value_t *rec, const ev_head_t *h, pj_plan_t *plan,
                               hl_error_t *err)
{
    const char *reader = NULL;
    int64_t up_to = 0;
    if (!hl_avro_get_string(rec, "reader_id", &reader, err) ||
        !hl_avro_get_long(rec, "up_to_seq", &up_to, err))
        return pj_bad_event(err, h->type, "reader_id/up_to_seq");
    char id[128];
    snprintf(id, sizeof id, "%s:%s", reader, h->aggregate_id);
    pj_op_t *op = pj_plan_add(plan, PJ_OP_UPSERT, "inbox");
    BSON_APPEND_UTF8(&op->filter, "_id", id);
    bson_t set, max;
    BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$set", &set);
    BSON_APPEND_UTF8(&set, "user_id", reader);
    BSON_APPEND_UTF8(&set, "room_id", h->aggregate_id);
    bson_append_document_end(&op->update, &set);
    BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$max", &max);
    BSON_APPEND_INT64(&max, "last_read_seq", up_to);
    BSON_APPEND_INT64(&max, "last_seq", 0);
    bson_append_document_end(&op->update, &max);
    daily_active(plan, h, reader);
    return true;
}

static bool plan_notifications_read(avro_value_t *rec, const ev_head_t *h, pj_plan_t *plan,
                                    hl_error_t *err)
{
    const char *ids[MAX_MEMBERS];
    size_t n = 0;
    bool all = false;
    if (!hl_avro_get_bool(rec, "all", &all, err))
        return pj_bad_event(err, h->type, "all");
    if (!pj_avro_array(rec, "notification_ids", ids, NULL, MAX_MEMBERS, &n))
        return pj_bad_event(err, h->type, "notification_ids");
    pj_op_t *op = NULL;
    bson_t cond, in, set;
    if (all) {
        /* the mark first, notifications_reads {_id: user, read_all: [t...]}: notifications
         * created later (here or in another process) read it (notification_end); then, in
         * the batch's second round, the update of the notifications that exist */
        pj_op_t *mark = pj_plan_add(plan, PJ_OP_UPSERT, "notification_reads");
        bson_t add;
        BSON_APPEND_UTF8(&mark->filter, "_id", h->aggregate_id);
        BSON_APPEND_DOCUMENT_BEGIN(&mark->update, "$addToSet", &add);
        BSON_APPEND_DATE_TIME(&add, "read_all", h->occurred_us / 1000);
        bson_append_document_end(&mark->update, &add);
        op = pj_plan_add(plan, PJ_OP_UPDATE_MANY, "notifications");
        op->after = true;
        /* the user's notifications created up to this read's millisecond: _id from
         * "<user>:" up to "<user>:<first µs of the next ms>" (an indexed _id range), then
         * the exact conditions */
        char lo[96], hi[128], at[32];
        snprintf(lo, sizeof lo, "%s:", h->aggregate_id);
        pj_seq_key((h->occurred_us / 1000 + 1) * 1000, at, sizeof at);
        snprintf(hi, sizeof hi, "%s:%s", h->aggregate_id, at);
        BSON_APPEND_DOCUMENT_BEGIN(&op->filter, "_id", &cond);
        BSON_APPEND_UTF8(&cond, "$gte", lo);
        BSON_APPEND_UTF8(&cond, "$lt", hi);
        bson_append_document_end(&op->filter, &cond);
        BSON_APPEND_UTF8(&op->filter, "user_id", h->aggregate_id);
        BSON_APPEND_BOOL(&op->filter, "read", false);
        BSON_APPEND_DOCUMENT_BEGIN(&op->filter, "created_at", &cond);
        BSON_APPEND_DATE_TIME(&cond, "$lte", h->occurred_us / 1000);
        bson_append_document_end(&op->filter, &cond);
    } else {
        /* a notification not applied yet gets a stub {_id, user_id, read: true, read_at}
         * that its creation fills (notification_begin); only ids of this user's range with
         * the shape of a notification _id, so a client cannot plant other documents */
        char prefix[80];
        int plen = snprintf(prefix, sizeof prefix, "%s:", h->aggregate_id);
        op = pj_plan_add(plan, PJ_OP_UPDATE_MANY, "notifications");
        for (size_t i = 0; i < n; i++) {
            size_t len = strlen(ids[i]);
            if (plen <= 0 || strncmp(ids[i], prefix, (size_t)plen) != 0 ||
                len != (size_t)plen + PJ_SEQ_DIGITS + 1 + 36 || ids[i][plen + PJ_SEQ_DIGITS] != ':')
                continue;
            pj_op_t *stub = pj_plan_add(plan, PJ_OP_UPSERT, "notifications");
            bson_t soi;
            BSON_APPEND_UTF8(&stub->filter, "_id", ids[i]);
            BSON_APPEND_DOCUMENT_BEGIN(&stub->update, "$setOnInsert", &soi);
            BSON_APPEND_UTF8(&soi, "user_id", h->aggregate_id);
            BSON_APPEND_BOOL(&soi, "read", true);
            BSON_APPEND_DATE_TIME(&soi, "read_at", h->occurred_us / 1000);
            bson_append_document_end(&stub->update, &soi);
        }
        BSON_APPEND_DOCUMENT_BEGIN(&op->filter, "_id", &cond);
        BSON_APPEND_ARRAY_BEGIN(&cond, "$in", &in);
        for (size_t i = 0; i < n; i++) {
            char key[24];
            snprintf(key, sizeof key, "%zu", i);
            BSON_APPEND_UTF8(&in, key, ids[i]);
        }
        bson_append_array_end(&cond, &in);
        bson_append_document_end(&op->filter, &cond);
        BSON_APPEND_UTF8(&op->filter, "user_id", h->aggregate_id);
        BSON_APPEND_BOOL(&op->filter, "read", false);
    }
    BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$set", &set);
    BSON_APPEND_BOOL(&set, "read", true);
    BSON_APPEND_DATE_TIME(&set, "read_at", h->occurred_us / 1000);
    bson_append_document_end(&op->update, &set);
    return true;
}

/* UserBlocked and UserUnblocked. */
static bool plan_block(avro_value_t *rec, const ev_head_t *h, pj_plan_t *plan, hl_error_t *err)
{
    /* blocks {_id: "<blocker>:<blocked>", active}: the query side refuses a direct room
     * to the user its other member blocks (and the change feed ends their streams of it) */
    const char *blocker = NULL, *blocked = NULL;
    if (!hl_avro_get_string(rec, "blocker_id", &blocker, err) ||
        !hl_avro_get_string(rec, "blocked_id", &blocked, err))
        return pj_bad_event(err, h->type, "blocker_id/blocked_id");
    char id[96];
    snprintf(id, sizeof id, "%s:%s", blocker, blocked);
    pj_op_t *op = pj_plan_add(plan, PJ_OP_UPSERT, "blocks");
    BSON_APPEND_UTF8(&op->filter, "_id", id);
    pj_guard_older(&op->filter, "version", h->version);
    bson_t set;
    BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$set", &set);
    BSON_APPEND_UTF8(&set, "blocker_id", blocker);
    BSON_APPEND_UTF8(&set, "blocked_id", blocked);
    BSON_APPEND_BOOL(&set, "active", !strcmp(h->type, "UserBlocked"));
    BSON_APPEND_UTF8(&set, "block_id", h->aggregate_id);
    BSON_APPEND_INT64(&set, "version", h->version);
    BSON_APPEND_DATE_TIME(&set, "updated_at", h->occurred_us / 1000);
    bson_append_document_end(&op->update, &set);
    return true;
}

/* Event types and their plans. The counselling and payment events are counselling_models.h's;
 * a type found in neither (UserProfileUpdated: profiles come from CDC) only advances its
 * watermark. */
static const struct {
    const char *type;
    event_plan_fn plan;
} event_plans[] = {
    {"UserRegistered", plan_user_registered},
    {"UserPresenceChanged", plan_presence_changed},
    {"FriendRequestSent", plan_request_sent},
    {"FriendRequestAccepted", plan_request_accepted},
    {"FriendRequestRejected", plan_request_rejected},
    {"FriendDeleted", plan_friend_deleted},
    {"ChatRoomCreated", plan_room_created},
    {"MessageSent", plan_message_sent},
    {"MessagesRead", plan_messages_read},
    {"NotificationsRead", plan_notifications_read},
    {"UserBlocked", plan_block},
    {"UserUnblocked", plan_block},
};

bool pj_event_plan(const char *type, avro_value_t *rec, pj_plan_t *plan, hl_error_t *err)
{
    char day[16];
    ev_head_t h = {.type = type, .day = day};
    if (!strcmp(type, "StreamConnection")) /* a stream listener's fact, not a domain event */
        return pj_presence_fact_plan(rec, plan, err);
    if (!hl_avro_get_string(rec, "event_id", &h.event_id, err) ||
        !hl_avro_get_string(rec, "aggregate_id", &h.aggregate_id, err) ||
        !hl_avro_get_long(rec, "aggregate_version", &h.version, err) ||
        !hl_avro_get_long(rec, "occurred_at", &h.occurred_us, err))
        return pj_bad_event(err, type, "event_id/aggregate_id/aggregate_version/occurred_at");
    hl_format_day(h.occurred_us, day, sizeof day);
    plan->source_ms = h.occurred_us / 1000;
    /* "ev.<aggregate type>:<id>": a user's User and NotificationInbox share the id */
    const char *agg_type = hl_event_aggregate_type(type);
    char wm_input[48];
    hl_event_watermark_input(agg_type ? agg_type : "Unknown", wm_input, sizeof wm_input);
    pj_plan_watermark(plan, wm_input, h.aggregate_id, h.version);

    bool handled = false;
    if (!pj_counselling_plan(&h, rec, plan, &handled, err))
        return false;
    if (handled)
        return true;
    for (size_t i = 0; i < sizeof event_plans / sizeof event_plans[0]; i++)
        if (!strcmp(event_plans[i].type, type))
            return event_plans[i].plan(rec, &h, plan, err);
    return true;
}
