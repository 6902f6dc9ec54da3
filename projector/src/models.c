#include "models.h"
#include "presence.h"
#include "counselling_models.h"

#include "hl/consistency.h"
#include "hl/events.h"
#include "hl/util.h"

#include <stdio.h>
#include <string.h>

const char *const pj_cdc_models[] = {"user_profiles", "user_names", "sessions", "chat_rooms",
                                     "room_members",  "messages",   "jobs",     NULL};
const char *const pj_event_models[] = {
    "friends", "friend_requests", "friend_requests_by_user", "user_counters", "inbox",
    "notifications", "notification_reads", "daily_active_users", "daily_stats",
    /* counselling and payments (counselling_models.h) */
    "counsellors", "slots", "bookings", "bookings_by_user", "daily_bookings", NULL};

/* ---- CDC ---- */

/* C_JSON(_OPT): a json/jsonb column (Debezium io.debezium.data.Json: the JSON text), stored as
 * the document or array it holds. */
typedef enum { C_STR, C_STR_OPT, C_TS, C_TS_OPT, C_LONG, C_JSON, C_JSON_OPT } col_type_t;
typedef struct {
    const char *name;
    col_type_t type;
} col_t;

typedef struct {
    const char *table;
    const char *model;
    /* the primary-key columns (all a delete's before image carries): _id = key[0] or
     * "key[0]:key[1]"; a key column declared C_LONG in cols is an integer (zero-padded to
     * PJ_SEQ_DIGITS, so _id order is numeric order), any other is a uuid string */
    const char *key[2];
    const char *version_col; /* aggregate version guard */
    const char *wm_col;      /* watermark key: the aggregate id column */
    col_t cols[12];
} table_spec_t;

static const table_spec_t specs[] = {
    {"sessions",
     "sessions",
     {"session_id", NULL},
     "version",
     "session_id",
     {{"user_id", C_STR},
      {"created_at", C_TS},
      {"expires_at", C_TS},
      {"revoked_at", C_TS_OPT},
      {"version", C_LONG}}},
    {"chat_rooms",
     "chat_rooms",
     {"room_id", NULL},
     "version",
     "room_id",
     {{"kind", C_STR},
      {"title", C_STR_OPT},
      {"created_by", C_STR},
      {"direct_key", C_STR_OPT},
      {"last_seq", C_LONG},
      {"created_at", C_TS},
      {"updated_at", C_TS},
      {"version", C_LONG}}},
    {"room_members",
     "room_members",
     {"room_id", "user_id"},
     "room_version",
     "room_id",
     {{"room_id", C_STR},
      {"user_id", C_STR},
      {"joined_at", C_TS},
      {"last_read_seq", C_LONG},
      {"room_version", C_LONG}}},
    {"messages",
     "messages",
     {"room_id", "seq"},
     "room_version",
     "room_id",
     {{"message_id", C_STR},
      {"room_id", C_STR},
      {"seq", C_LONG},
      {"sender_id", C_STR},
      {"body", C_STR},
      {"client_message_id", C_STR},
      {"created_at", C_TS},
      {"room_version", C_LONG}}},
    {"jobs",
     "jobs",
     {"job_id", NULL},
     "version",
     "job_id",
     {{"owner_id", C_STR},
      {"kind", C_STR},
      {"status", C_STR},
      {"booking_id", C_STR},
      {"steps", C_JSON},
      {"result", C_JSON_OPT},
      {"error", C_JSON_OPT},
      {"created_at", C_TS},
      {"updated_at", C_TS},
      {"version", C_LONG}}},
};
#define NSPECS (sizeof specs / sizeof specs[0])

const char *pj_cdc_model_of(const char *table)
{
    if (!strcmp(table, "users"))
        return "user_profiles";
    for (size_t i = 0; i < NSPECS; i++)
        if (!strcmp(specs[i].table, table))
            return specs[i].model;
    return NULL;
}

bool pj_cdc_feeds(const char *table, const char *model)
{
    if (!strcmp(table, "users") && !strcmp(model, "user_names"))
        return true;
    const char *m = pj_cdc_model_of(table);
    return m && !strcmp(m, model);
}

static bool bad_row(hl_error_t *err, const char *table, const char *col)
{
    return hl_error_set_reason(err, HL_ERR_INPUT, 0, "bad-row",
                               "%s row: column %s missing or ill-typed", table, col);
}

static const char *row_str(const bson_t *row, const char *col)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, row, col) && BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, NULL);
    return NULL;
}

static bool row_null(const bson_t *row, const char *col)
{
    bson_iter_t it;
    return !bson_iter_init_find(&it, row, col) || BSON_ITER_HOLDS_NULL(&it);
}

static bool row_long(const bson_t *row, const char *col, int64_t *out)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, row, col) &&
        (BSON_ITER_HOLDS_INT32(&it) || BSON_ITER_HOLDS_INT64(&it))) {
        *out = bson_iter_as_int64(&it);
        return true;
    }
    return false;
}

/* Whether column col of spec s is declared an integer (C_LONG). */
static bool spec_col_is_long(const table_spec_t *s, const char *col)
{
    for (const col_t *c = s->cols; c->name; c++)
        if (!strcmp(c->name, col))
            return c->type == C_LONG;
    return false;
}

/* The key text of column col of a row into out[cap]: a uuid string, or for an integer key
 * column a non-negative integer as PJ_SEQ_DIGITS zero-padded digits. Anything else (another
 * JSON type, an empty or oversized string, a negative number) is not a key: false. */
static bool key_part(const table_spec_t *s, const bson_t *row, const char *col, char *out,
                     size_t cap)
{
    int64_t n = 0;
    if (spec_col_is_long(s, col)) {
        if (!row_long(row, col, &n) || n < 0 || cap <= PJ_SEQ_DIGITS)
            return false;
        pj_seq_key(n, out, cap);
        return true;
    }
    const char *str = row_str(row, col);
    if (!str || !hl_uuid_valid(str) || strlen(str) >= cap)
        return false;
    memcpy(out, str, strlen(str) + 1);
    return true;
}

/* The _id of a row of spec s (key columns, models.h) into out[cap]; false = bad-row in err. */
static bool spec_id(const table_spec_t *s, const bson_t *row, char *out, size_t cap,
                    hl_error_t *err)
{
    char a[64], b[64];
    if (!key_part(s, row, s->key[0], a, sizeof a))
        return bad_row(err, s->table, s->key[0]);
    if (!s->key[1]) {
        snprintf(out, cap, "%s", a);
        return true;
    }
    if (!key_part(s, row, s->key[1], b, sizeof b))
        return bad_row(err, s->table, s->key[1]);
    snprintf(out, cap, "%s:%s", a, b);
    return true;
}

/* Append key: the JSON value text (an object or array) as a BSON document or array. */
static bool append_json(bson_t *doc, const char *key, const char *text)
{
    bson_string_t *wrapped = bson_string_new("{\"v\": ");
    bson_string_append(wrapped, text);
    bson_string_append(wrapped, "}");
    bson_t parsed;
    bson_error_t berr;
    bool ok = bson_init_from_json(&parsed, wrapped->str, -1, &berr);
    bson_string_free(wrapped, true);
    if (!ok)
        return false;
    bson_iter_t it;
    ok = bson_iter_init_find(&it, &parsed, "v") && bson_append_iter(doc, key, -1, &it);
    bson_destroy(&parsed);
    return ok;
}

void pj_seq_key(int64_t n, char *out, size_t cap)
{
    snprintf(out, cap, "%0*lld", PJ_SEQ_DIGITS, (long long)n);
}

static bool spec_plan(const table_spec_t *s, const pj_cdc_change_t *c, pj_plan_t *plan,
                      hl_error_t *err)
{
    const bson_t *row = &c->row;
    char id[160];
    if (!spec_id(s, row, id, sizeof id, err))
        return false;
    plan->source_ms = c->ts_ms;
    if (c->op == 'd') {
        /* the before image of a delete carries only the key: address the document by _id */
        pj_op_t *op = pj_plan_add(plan, PJ_OP_DELETE, s->model);
        BSON_APPEND_UTF8(&op->filter, "_id", id);
        return true;
    }
    int64_t version = 0;
    if (!row_long(row, s->version_col, &version))
        return bad_row(err, s->table, s->version_col);
    const char *wm_key = row_str(row, s->wm_col);
    if (!wm_key || !hl_uuid_valid(wm_key))
        return bad_row(err, s->table, s->wm_col);

    pj_op_t *op = pj_plan_add(plan, PJ_OP_UPSERT, s->model);
    BSON_APPEND_UTF8(&op->filter, "_id", id);
    pj_guard_older(&op->filter, s->version_col, version);
    bson_t set, src;
    BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$set", &set);
    for (const col_t *col = s->cols; col->name; col++) {
        const char *str = NULL;
        int64_t n = 0;
        switch (col->type) {
        case C_STR:
        case C_STR_OPT:
            if ((str = row_str(row, col->name)))
                BSON_APPEND_UTF8(&set, col->name, str);
            else if (col->type == C_STR_OPT && row_null(row, col->name))
                BSON_APPEND_NULL(&set, col->name);
            else
                goto bad;
            break;
        case C_TS:
        case C_TS_OPT:
            if (pj_cdc_timestamp_us(row, col->name, &n))
                BSON_APPEND_DATE_TIME(&set, col->name, n / 1000);
            else if (col->type == C_TS_OPT && row_null(row, col->name))
                BSON_APPEND_NULL(&set, col->name);
            else
                goto bad;
            break;
        case C_LONG:
            if (!row_long(row, col->name, &n))
                goto bad;
            BSON_APPEND_INT64(&set, col->name, n);
            break;
        case C_JSON:
        case C_JSON_OPT:
            if ((str = row_str(row, col->name))) {
                if (!append_json(&set, col->name, str))
                    goto bad;
            } else if (col->type == C_JSON_OPT && row_null(row, col->name)) {
                BSON_APPEND_NULL(&set, col->name);
            } else {
                goto bad;
            }
            break;
        }
        continue;
    bad:
        bson_append_document_end(&op->update, &set);
        return bad_row(err, s->table, col->name);
    }
    BSON_APPEND_DOCUMENT_BEGIN(&set, "source", &src);
    BSON_APPEND_INT64(&src, "lsn", c->lsn);
    BSON_APPEND_INT64(&src, "ts_ms", c->ts_ms);
    bson_append_document_end(&set, &src);
    bson_append_document_end(&op->update, &set);
    char input[48];
    snprintf(input, sizeof input, "cdc.%s", s->table);
    pj_plan_watermark(plan, input, wm_key, version);
    plan->source_ms = c->ts_ms;
    return true;
}

/* user_names from a users change (models.h): upsert the current name's key, delete the key of
 * the before image's name when it differs, or every key of a deleted user. */
static bool plan_user_names(const pj_cdc_change_t *c, pj_plan_t *plan, hl_error_t *err)
{
    const bson_t *row = &c->row;
    const char *id = row_str(row, "user_id");
    if (!id || !hl_uuid_valid(id))
        return bad_row(err, "users", "user_id");
    if (c->op == 'd') {
        pj_op_t *op = pj_plan_add(plan, PJ_OP_DELETE_MANY, "user_names");
        BSON_APPEND_UTF8(&op->filter, "user_id", id);
        return true;
    }
    const char *name = row_str(row, "display_name");
    int64_t version = 0;
    char key[HL_USER_NAME_KEY_MAX], lower[HL_USER_NAME_KEY_MAX];
    if (!name || !hl_user_name_key(name, id, key, sizeof key))
        return bad_row(err, "users", "display_name");
    if (!row_long(row, "version", &version))
        return bad_row(err, "users", "version");
    hl_fold_ascii(name, lower, sizeof lower);
    pj_op_t *op = pj_plan_add(plan, PJ_OP_UPSERT, "user_names");
    BSON_APPEND_UTF8(&op->filter, "_id", key);
    pj_guard_older(&op->filter, "version", version);
    bson_t set, src;
    BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$set", &set);
    BSON_APPEND_UTF8(&set, "user_id", id);
    BSON_APPEND_UTF8(&set, "display_name_lower", lower);
    BSON_APPEND_INT64(&set, "version", version);
    BSON_APPEND_DOCUMENT_BEGIN(&set, "source", &src);
    BSON_APPEND_INT64(&src, "lsn", c->lsn);
    BSON_APPEND_INT64(&src, "ts_ms", c->ts_ms);
    bson_append_document_end(&set, &src);
    bson_append_document_end(&op->update, &set);
    /* a rename seen with its before image (REPLICA IDENTITY FULL): the old key goes, unless a
     * newer change wrote it again (the same name given back later) */
    const char *old = c->has_before ? row_str(&c->before, "display_name") : NULL;
    char old_key[HL_USER_NAME_KEY_MAX];
    if (old && hl_user_name_key(old, id, old_key, sizeof old_key) && strcmp(old_key, key) != 0) {
        bson_t cond;
        op = pj_plan_add(plan, PJ_OP_DELETE, "user_names");
        BSON_APPEND_UTF8(&op->filter, "_id", old_key);
        BSON_APPEND_DOCUMENT_BEGIN(&op->filter, "version", &cond);
        BSON_APPEND_INT64(&cond, "$lt", version);
        bson_append_document_end(&op->filter, &cond);
    }
    return true;
}

bool pj_cdc_plan(const char *table, const pj_cdc_change_t *c, pj_plan_t *plan, hl_error_t *err)
{
    plan->source_ms = c->ts_ms;
    if (!strcmp(table, "users")) {
        bson_t filter, update;
        bool is_delete = false;
        if (!pj_user_profile_from_cdc(c, &filter, &update, &is_delete, err))
            return false;
        pj_op_t *op = pj_plan_add(plan, is_delete ? PJ_OP_DELETE : PJ_OP_UPSERT, "user_profiles");
        bson_copy_to_excluding_noinit(&filter, &op->filter, "", NULL);
        bson_copy_to_excluding_noinit(&update, &op->update, "", NULL);
        bson_destroy(&filter);
        bson_destroy(&update);
        if (!plan_user_names(c, plan, err))
            return false;
        int64_t version = 0;
        bson_iter_t it;
        if (!is_delete && bson_iter_init_find(&it, &c->row, "version"))
            version = bson_iter_as_int64(&it);
        const char *id = row_str(&c->row, "user_id");
        if (!is_delete && id)
            pj_plan_watermark(plan, "cdc.users", id, version);
        return true;
    }
    for (size_t i = 0; i < NSPECS; i++)
        if (!strcmp(specs[i].table, table))
            return spec_plan(&specs[i], c, plan, err);
    return hl_error_set_reason(err, HL_ERR_INPUT, 0, "unknown-table",
                               "no read model for CDC table %s", table);
}

/* ---- domain events ---- */

static bool bad_event(hl_error_t *err, const char *type, const char *field)
{
    return hl_error_set_reason(err, HL_ERR_INPUT, 0, "bad-event",
                               "%s: field %s missing or ill-typed", type, field);
}

/* Strings of an array field; at most cap, *n set. Pointers borrow from the record. */
static bool get_string_array(avro_value_t *rec, const char *field, const char **out, size_t cap,
                             size_t *n)
{
    avro_value_t arr, item;
    size_t size = 0;
    *n = 0;
    if (avro_value_get_by_name(rec, field, &arr, NULL) != 0 ||
        avro_value_get_type(&arr) != AVRO_ARRAY || avro_value_get_size(&arr, &size) != 0)
        return false;
    for (size_t i = 0; i < size && *n < cap; i++) {
        const char *s = NULL;
        size_t len = 0;
        if (avro_value_get_by_index(&arr, i, &item, NULL) != 0 ||
            avro_value_get_string(&item, &s, &len) != 0)
            return false;
        out[(*n)++] = s;
    }
    return true;
}

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

void pj_preview(const char *body, size_t max_bytes, char *out, size_t cap)
{
    size_t n = strlen(body);
    if (n > max_bytes)
        n = max_bytes;
    if (n >= cap)
        n = cap - 1;
    /* step back over continuation bytes so a multi-byte character is never cut */
    if (body[n] != '\0')
        while (n > 0 && ((unsigned char)body[n] & 0xC0) == 0x80)
            n--;
    memcpy(out, body, n);
    out[n] = '\0';
}

typedef struct {
    const char *type;
    const char *event_id;
    const char *aggregate_id;
    int64_t version;
    int64_t occurred_us;
    char day[16];
} ev_head_t;

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

/* End the notification op begun by notification_begin with its read state: $setOnInsert {read:
 * false, read_at: null}, and the notification recorded in the plan (pj_plan_unread) for the
 * executor. A read of every notification (NotificationsRead {all}) at time t covers those
 * created at or before t; its update only reaches the notifications that exist when it is
 * applied, perhaps by another projector process (another topic and partition). So once the
 * creation is acknowledged the executor reads the recipient's marks from notification_reads and,
 * for the earliest mark t covering the notification, runs update {_id, read: false} $set {read:
 * true, read_at: t} and update {_id, read_at > t} $set {read_at: t} (store.c): read_at is the
 * earliest read covering it in any arrival order, as when the notification was there first. */
void pj_notification_end(pj_plan_t *plan, pj_op_t *op, bson_t *set, const char *id,
                         const char *recipient, int64_t created_ms)
{
    bson_append_document_end(&op->update, set);
    bson_t soi;
    BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$setOnInsert", &soi);
    BSON_APPEND_BOOL(&soi, "read", false);
    BSON_APPEND_NULL(&soi, "read_at");
    bson_append_document_end(&op->update, &soi);
    pj_plan_unread(plan, id, recipient, created_ms);
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
        return bad_event(err, h->type, "message_id/sender_id/body/seq");
    if (!get_string_array(rec, "recipient_ids", recipients, MAX_MEMBERS, &nrec))
        return bad_event(err, h->type, "recipient_ids");
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
        return bad_event(err, h->type, "kind/title/created_by");
    if (!get_string_array(rec, "member_ids", members, MAX_MEMBERS, &n))
        return bad_event(err, h->type, "member_ids");
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

bool pj_event_plan(const char *type, avro_value_t *rec, pj_plan_t *plan, hl_error_t *err)
{
    ev_head_t h = {.type = type};
    if (!strcmp(type, "StreamConnection")) /* a stream listener's fact, not a domain event */
        return pj_presence_fact_plan(rec, plan, err);
    if (!hl_avro_get_string(rec, "event_id", &h.event_id, err) ||
        !hl_avro_get_string(rec, "aggregate_id", &h.aggregate_id, err) ||
        !hl_avro_get_long(rec, "aggregate_version", &h.version, err) ||
        !hl_avro_get_long(rec, "occurred_at", &h.occurred_us, err))
        return bad_event(err, type, "event_id/aggregate_id/aggregate_version/occurred_at");
    hl_format_day(h.occurred_us, h.day, sizeof h.day);
    plan->source_ms = h.occurred_us / 1000;
    /* "ev.<aggregate type>:<id>": a user's User and NotificationInbox share the id */
    const char *agg_type = hl_event_aggregate_type(type);
    char wm_input[48];
    hl_event_watermark_input(agg_type ? agg_type : "Unknown", wm_input, sizeof wm_input);
    pj_plan_watermark(plan, wm_input, h.aggregate_id, h.version);

    pj_event_head_t ch = {type, h.event_id, h.aggregate_id, h.version, h.occurred_us, h.day};
    bool handled = false;
    if (!pj_counselling_plan(&ch, rec, plan, &handled, err))
        return false;
    if (handled)
        return true;
    const char *from = NULL, *to = NULL;
    if (!strcmp(type, "UserRegistered")) {
        daily_count(plan, &h, "users_registered");
    } else if (!strcmp(type, "UserPresenceChanged")) {
        const char *status = NULL;
        if (!hl_avro_get_string(rec, "status", &status, err))
            return bad_event(err, type, "status");
        if (!strcmp(status, "online"))
            daily_active(plan, &h, h.aggregate_id);
    } else if (!strcmp(type, "FriendRequestSent") || !strcmp(type, "FriendRequestAccepted") ||
               !strcmp(type, "FriendRequestRejected")) {
        if (!hl_avro_get_string(rec, "from_user_id", &from, err) ||
            !hl_avro_get_string(rec, "to_user_id", &to, err))
            return bad_event(err, type, "from_user_id/to_user_id");
        bson_t soi;
        if (!strcmp(type, "FriendRequestSent")) {
            request_status(plan, &h, from, to, "pending");
            pj_op_t *op = notification_begin(plan, &h, to, "friend_request", from, &soi);
            BSON_APPEND_UTF8(&soi, "request_id", h.aggregate_id);
            notification_end(plan, op, &soi, &h, to);
            daily_active(plan, &h, from);
        } else if (!strcmp(type, "FriendRequestAccepted")) {
            request_status(plan, &h, from, to, "accepted");
            const char *friendship = get_optional(rec, "friendship_id");
            friend_link(plan, &h, from, to, friendship, false);
            friend_link(plan, &h, to, from, friendship, false);
            pj_op_t *op = notification_begin(plan, &h, from, "friend_accepted", to, &soi);
            BSON_APPEND_UTF8(&soi, "request_id", h.aggregate_id);
            notification_end(plan, op, &soi, &h, from);
            daily_count(plan, &h, "friendships_formed");
            daily_active(plan, &h, to);
        } else {
            request_status(plan, &h, from, to, "rejected");
        }
    } else if (!strcmp(type, "FriendDeleted")) {
        if (!hl_avro_get_string(rec, "user_id", &from, err) ||
            !hl_avro_get_string(rec, "friend_user_id", &to, err))
            return bad_event(err, type, "user_id/friend_user_id");
        friend_link(plan, &h, from, to, NULL, true);
        friend_link(plan, &h, to, from, NULL, true);
    } else if (!strcmp(type, "ChatRoomCreated")) {
        return plan_room_created(rec, &h, plan, err);
    } else if (!strcmp(type, "MessageSent")) {
        return plan_message_sent(rec, &h, plan, err);
    } else if (!strcmp(type, "MessagesRead")) {
        const char *reader = NULL;
        int64_t up_to = 0;
        if (!hl_avro_get_string(rec, "reader_id", &reader, err) ||
            !hl_avro_get_long(rec, "up_to_seq", &up_to, err))
            return bad_event(err, type, "reader_id/up_to_seq");
        char id[128];
        snprintf(id, sizeof id, "%s:%s", reader, h.aggregate_id);
        pj_op_t *op = pj_plan_add(plan, PJ_OP_UPSERT, "inbox");
        BSON_APPEND_UTF8(&op->filter, "_id", id);
        bson_t set, max;
        BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$set", &set);
        BSON_APPEND_UTF8(&set, "user_id", reader);
        BSON_APPEND_UTF8(&set, "room_id", h.aggregate_id);
        bson_append_document_end(&op->update, &set);
        BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$max", &max);
        BSON_APPEND_INT64(&max, "last_read_seq", up_to);
        BSON_APPEND_INT64(&max, "last_seq", 0);
        bson_append_document_end(&op->update, &max);
        daily_active(plan, &h, reader);
    } else if (!strcmp(type, "NotificationsRead")) {
        const char *ids[MAX_MEMBERS];
        size_t n = 0;
        bool all = false;
        if (!hl_avro_get_bool(rec, "all", &all, err))
            return bad_event(err, type, "all");
        if (!get_string_array(rec, "notification_ids", ids, MAX_MEMBERS, &n))
            return bad_event(err, type, "notification_ids");
        pj_op_t *op = NULL;
        bson_t cond, in, set;
        if (all) {
            /* the mark first, notifications_reads {_id: user, read_all: [t...]}: notifications
             * created later (here or in another process) read it (notification_end); then, in
             * the batch's second round, the update of the notifications that exist */
            pj_op_t *mark = pj_plan_add(plan, PJ_OP_UPSERT, "notification_reads");
            bson_t add;
            BSON_APPEND_UTF8(&mark->filter, "_id", h.aggregate_id);
            BSON_APPEND_DOCUMENT_BEGIN(&mark->update, "$addToSet", &add);
            BSON_APPEND_DATE_TIME(&add, "read_all", h.occurred_us / 1000);
            bson_append_document_end(&mark->update, &add);
            op = pj_plan_add(plan, PJ_OP_UPDATE_MANY, "notifications");
            op->after = true;
            /* the user's notifications created up to this read's millisecond: _id from
             * "<user>:" up to "<user>:<first µs of the next ms>" (an indexed _id range), then
             * the exact conditions */
            char lo[96], hi[128], at[32];
            snprintf(lo, sizeof lo, "%s:", h.aggregate_id);
            pj_seq_key((h.occurred_us / 1000 + 1) * 1000, at, sizeof at);
            snprintf(hi, sizeof hi, "%s:%s", h.aggregate_id, at);
            BSON_APPEND_DOCUMENT_BEGIN(&op->filter, "_id", &cond);
            BSON_APPEND_UTF8(&cond, "$gte", lo);
            BSON_APPEND_UTF8(&cond, "$lt", hi);
            bson_append_document_end(&op->filter, &cond);
            BSON_APPEND_UTF8(&op->filter, "user_id", h.aggregate_id);
            BSON_APPEND_BOOL(&op->filter, "read", false);
            BSON_APPEND_DOCUMENT_BEGIN(&op->filter, "created_at", &cond);
            BSON_APPEND_DATE_TIME(&cond, "$lte", h.occurred_us / 1000);
            bson_append_document_end(&op->filter, &cond);
        } else {
            /* a notification not applied yet gets a stub {_id, user_id, read: true, read_at}
             * that its creation fills (notification_begin); only ids of this user's range with
             * the shape of a notification _id, so a client cannot plant other documents */
            char prefix[80];
            int plen = snprintf(prefix, sizeof prefix, "%s:", h.aggregate_id);
            op = pj_plan_add(plan, PJ_OP_UPDATE_MANY, "notifications");
            for (size_t i = 0; i < n; i++) {
                size_t len = strlen(ids[i]);
                if (plen <= 0 || strncmp(ids[i], prefix, (size_t)plen) != 0 ||
                    len != (size_t)plen + PJ_SEQ_DIGITS + 1 + 36 ||
                    ids[i][plen + PJ_SEQ_DIGITS] != ':')
                    continue;
                pj_op_t *stub = pj_plan_add(plan, PJ_OP_UPSERT, "notifications");
                bson_t soi;
                BSON_APPEND_UTF8(&stub->filter, "_id", ids[i]);
                BSON_APPEND_DOCUMENT_BEGIN(&stub->update, "$setOnInsert", &soi);
                BSON_APPEND_UTF8(&soi, "user_id", h.aggregate_id);
                BSON_APPEND_BOOL(&soi, "read", true);
                BSON_APPEND_DATE_TIME(&soi, "read_at", h.occurred_us / 1000);
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
            BSON_APPEND_UTF8(&op->filter, "user_id", h.aggregate_id);
            BSON_APPEND_BOOL(&op->filter, "read", false);
        }
        BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$set", &set);
        BSON_APPEND_BOOL(&set, "read", true);
        BSON_APPEND_DATE_TIME(&set, "read_at", h.occurred_us / 1000);
        bson_append_document_end(&op->update, &set);
    }
    if (!strcmp(type, "UserBlocked") || !strcmp(type, "UserUnblocked")) {
        /* blocks {_id: "<blocker>:<blocked>", active}: the query side refuses a direct room
         * to the user its other member blocks (and the change feed ends their streams of it) */
        const char *blocker = NULL, *blocked = NULL;
        if (!hl_avro_get_string(rec, "blocker_id", &blocker, err) ||
            !hl_avro_get_string(rec, "blocked_id", &blocked, err))
            return bad_event(err, type, "blocker_id/blocked_id");
        char id[96];
        snprintf(id, sizeof id, "%s:%s", blocker, blocked);
        pj_op_t *op = pj_plan_add(plan, PJ_OP_UPSERT, "blocks");
        BSON_APPEND_UTF8(&op->filter, "_id", id);
        pj_guard_older(&op->filter, "version", h.version);
        bson_t set;
        BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$set", &set);
        BSON_APPEND_UTF8(&set, "blocker_id", blocker);
        BSON_APPEND_UTF8(&set, "blocked_id", blocked);
        BSON_APPEND_BOOL(&set, "active", !strcmp(type, "UserBlocked"));
        BSON_APPEND_UTF8(&set, "block_id", h.aggregate_id);
        BSON_APPEND_INT64(&set, "version", h.version);
        BSON_APPEND_DATE_TIME(&set, "updated_at", h.occurred_us / 1000);
        bson_append_document_end(&op->update, &set);
    }
    /* UserProfileUpdated: no event read model (profiles come from CDC); only the watermark
     * advances. */
    return true;
}
