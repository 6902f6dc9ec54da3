/* Unit tests for projector/src/cdc_models.c, event_models.c, model_parts.c and plan.c: inputs →
 * plans (no servers). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cdc_models.h"
#include "event_models.h"
#include "model_parts.h"

#include "hl/events.h"

#include <stdio.h>
#include <string.h>

static hl_event_catalog_t *cat;

static int setup(void **state)
{
    (void)state;
    hl_error_t err = {0};
    cat = hl_event_catalog_load(HL_TEST_SCHEMAS_DIR, &err);
    return cat ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    hl_event_catalog_destroy(cat);
    return 0;
}

#define A    "0b6a3c1e-8f2d-4e7a-b9c4-5d1e2f3a4b5c"
#define B    "1b6a3c1e-8f2d-4e7a-b9c4-5d1e2f3a4b5c"
#define C    "2b6a3c1e-8f2d-4e7a-b9c4-5d1e2f3a4b5c"
#define AGG  "9b6a3c1e-8f2d-4e7a-b9c4-5d1e2f3a4b5c"
#define EVID "8b6a3c1e-8f2d-4e7a-b9c4-5d1e2f3a4b5c"

static void head(hl_event_t *ev, const char *type, int64_t version)
{
    hl_error_t err = {0};
    assert_true(hl_event_init(ev, cat, type, &err));
    assert_true(hl_avro_set_string(&ev->record, "event_id", EVID, &err));
    assert_true(hl_avro_set_string(&ev->record, "aggregate_id", AGG, &err));
    assert_true(hl_avro_set_long(&ev->record, "aggregate_version", version, &err));
    /* 2023-11-14T22:13:20.123456Z */
    assert_true(hl_avro_set_long(&ev->record, "occurred_at", 1700000000123456LL, &err));
}

static const pj_op_t *op_on(const pj_plan_t *p, const char *model, size_t nth)
{
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->ops[i]->model, model) && nth-- == 0)
            return p->ops[i];
    fail_msg("no op #%zu on %s", nth, model);
    return NULL;
}

static size_t count_on(const pj_plan_t *p, const char *model)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++)
        n += !strcmp(p->ops[i]->model, model);
    return n;
}

static char *json(const bson_t *b)
{
    return bson_as_relaxed_extended_json(b, NULL);
}

/* ev = MessageSent of chat room AGG at version 7: A sends body (message EVID, seq 5) to B and
 * C. */
static void message_sent(hl_event_t *ev, const char *body)
{
    hl_error_t err = {0};
    head(ev, "MessageSent", 7);
    const char *recipients[] = {B, C};
    assert_true(hl_avro_set_string(&ev->record, "message_id", EVID, &err));
    assert_true(hl_avro_set_long(&ev->record, "seq", 5, &err));
    assert_true(hl_avro_set_string(&ev->record, "sender_id", A, &err));
    assert_true(hl_avro_set_string(&ev->record, "body", body, &err));
    assert_true(hl_avro_set_string(&ev->record, "client_message_id", "c1", &err));
    assert_true(hl_avro_set_string_array(&ev->record, "recipient_ids", recipients, 2, &err));
}

static void test_message_sent(void **state)
{
    (void)state;
    hl_event_t ev;
    hl_error_t err = {0};
    message_sent(&ev, "hi there");
    pj_plan_t p;
    pj_plan_init(&p);
    assert_true(pj_event_plan("MessageSent", &ev.record, &p, &err));
    assert_int_equal(count_on(&p, "inbox"), 3);         /* two recipients and the sender */
    assert_int_equal(count_on(&p, "notifications"), 2); /* not the sender */
    assert_string_equal(p.wm_input, "ev.ChatRoom");
    assert_string_equal(p.wm_key, AGG);
    assert_int_equal(p.wm_version, 7);
    assert_int_equal(p.source_ms, 1700000000123LL);
    /* the inbox write is guarded by last_seq; the sender reads their own message */
    char *f = json(&op_on(&p, "inbox", 2)->filter), *u = json(&op_on(&p, "inbox", 2)->update);
    assert_non_null(strstr(f, "\"_id\" : \"" A ":" AGG "\""));
    assert_non_null(strstr(f, "\"last_seq\" : { \"$lt\" : 5 }"));
    assert_non_null(strstr(u, "\"last_read_seq\" : 5"));
    bson_free(f);
    bson_free(u);
    u = json(&op_on(&p, "inbox", 0)->update);
    assert_non_null(strstr(u, "\"last_read_seq\" : 0"));
    bson_free(u);
    /* notifications are keyed "<recipient>:<occurred µs, 19 digits>:<event id>" (one _id range
     * per user, in time order) */
    f = json(&op_on(&p, "notifications", 0)->filter);
    assert_non_null(strstr(f, "\"_id\" : \"" B ":0001700000000123456:" EVID "\""));
    bson_free(f);
    /* daily counter: one atomic $inc in the document of the day and the aggregate, guarded by
     * the aggregate version (a duplicate at any offset, or from the events table, counts once) */
    assert_int_equal(count_on(&p, "daily_stats"), 1);
    const pj_op_t *dc = op_on(&p, "daily_stats", 0);
    assert_int_equal(dc->kind, PJ_OP_UPSERT);
    f = json(&dc->filter);
    u = json(&dc->update);
    assert_non_null(strstr(f, "\"_id\" : \"2023-11-14:ChatRoom:" AGG "\""));
    assert_non_null(strstr(f, "\"v\" : { \"$lt\" : 7 }"));
    assert_non_null(strstr(f, "\"v\" : { \"$exists\" : false }"));
    assert_non_null(strstr(u, "\"$inc\" : { \"messages_sent\" : 1 }"));
    assert_non_null(strstr(u, "\"v\" : 7"));
    bson_free(f);
    bson_free(u);
    assert_int_equal(count_on(&p, "daily_active_users"), 1);
    pj_plan_destroy(&p);
    hl_event_destroy(&ev);
}

static void test_friendship(void **state)
{
    (void)state;
    hl_event_t ev;
    hl_error_t err = {0};
    head(&ev, "FriendRequestAccepted", 2);
    assert_true(hl_avro_set_string(&ev.record, "from_user_id", A, &err));
    assert_true(hl_avro_set_string(&ev.record, "to_user_id", B, &err));
    pj_plan_t p;
    pj_plan_init(&p);
    assert_true(pj_event_plan("FriendRequestAccepted", &ev.record, &p, &err));
    char *f = json(&op_on(&p, "friend_requests", 0)->filter);
    assert_non_null(strstr(f, "\"v\" : { \"$lt\" : 2 }"));
    bson_free(f);
    assert_int_equal(count_on(&p, "friends"), 2);
    f = json(&op_on(&p, "friends", 1)->filter);
    assert_non_null(strstr(f, "\"_id\" : \"" B ":" A "\""));
    assert_non_null(strstr(f, "\"at\" : { \"$lt\" : 1700000000123456 }"));
    bson_free(f);
    /* friend_count: one insert-only contribution per user and aggregate (+1 here) */
    assert_int_equal(count_on(&p, "user_counters"), 2);
    const pj_op_t *uc = op_on(&p, "user_counters", 0);
    assert_int_equal(uc->kind, PJ_OP_UPSERT);
    f = json(&uc->filter);
    char *u = json(&uc->update);
    assert_string_equal(f, "{ \"_id\" : \"" A ":" AGG "\" }");
    assert_non_null(strstr(u, "\"$setOnInsert\" : { \"user_id\" : \"" A "\", \"friend_id\" : \"" B
                              "\", \"delta\" : 1"));
    assert_null(strstr(u, "$inc"));
    bson_free(f);
    bson_free(u);
    assert_int_equal(count_on(&p, "notifications"), 1);
    pj_plan_destroy(&p);
    hl_event_destroy(&ev);

    head(&ev, "FriendDeleted", 3);
    assert_true(hl_avro_set_string(&ev.record, "user_id", A, &err));
    assert_true(hl_avro_set_string(&ev.record, "friend_user_id", B, &err));
    pj_plan_init(&p);
    assert_true(pj_event_plan("FriendDeleted", &ev.record, &p, &err));
    u = json(&op_on(&p, "friends", 0)->update);
    assert_non_null(strstr(u, "\"ended\" : true"));
    bson_free(u);
    /* ending: the friendship's own contribution, -1 */
    assert_int_equal(count_on(&p, "user_counters"), 2);
    uc = op_on(&p, "user_counters", 1);
    f = json(&uc->filter);
    u = json(&uc->update);
    assert_string_equal(f, "{ \"_id\" : \"" B ":" AGG "\" }");
    assert_non_null(strstr(u, "\"delta\" : -1"));
    bson_free(f);
    bson_free(u);
    pj_plan_destroy(&p);
    hl_event_destroy(&ev);
}

static void test_watermark_only_and_many_ops(void **state)
{
    (void)state;
    hl_event_t ev;
    hl_error_t err = {0};
    head(&ev, "UserBlocked", 4);
    assert_true(hl_avro_set_string(&ev.record, "blocker_id", A, &err));
    assert_true(hl_avro_set_string(&ev.record, "blocked_id", B, &err));
    pj_plan_t p;
    pj_plan_init(&p);
    assert_true(pj_event_plan("UserBlocked", &ev.record, &p, &err));
    /* one guarded upsert of the blocks read model (a block ends a direct room's reading) */
    assert_int_equal(p.n, 1);
    assert_string_equal(p.ops[0]->model, "blocks");
    assert_int_equal(p.wm_version, 4);
    pj_plan_destroy(&p);
    hl_event_destroy(&ev);
    /* a large room: many operations whose documents outgrow bson's inline buffer survive the
     * plan growing */
    head(&ev, "ChatRoomCreated", 1);
    const char *members[40];
    char ids[40][40];
    for (int i = 0; i < 40; i++) {
        snprintf(ids[i], sizeof ids[i], "%08d-8f2d-4e7a-b9c4-5d1e2f3a4b5c", i);
        members[i] = ids[i];
    }
    assert_true(hl_avro_set_string(&ev.record, "kind", "group", &err));
    assert_true(hl_avro_set_string_opt(&ev.record, "title", "Big", &err));
    assert_true(hl_avro_set_string(&ev.record, "created_by", A, &err));
    assert_true(hl_avro_set_string_array(&ev.record, "member_ids", members, 40, &err));
    pj_plan_init(&p);
    assert_true(pj_event_plan("ChatRoomCreated", &ev.record, &p, &err));
    assert_int_equal(count_on(&p, "inbox"), 40);
    char *u = json(&op_on(&p, "inbox", 0)->update);
    assert_non_null(strstr(u, ids[39]));
    bson_free(u);
    pj_plan_destroy(&p);
    hl_event_destroy(&ev);
}

static void parse(const char *text, pj_cdc_change_t *c)
{
    hl_error_t err = {0};
    assert_true(pj_cdc_parse(text, strlen(text), c, &err));
}

static void test_cdc_tables(void **state)
{
    (void)state;
    pj_cdc_change_t c;
    pj_plan_t p;
    hl_error_t err = {0};
    parse("{\"op\":\"u\",\"after\":{\"room_id\":\"" AGG "\",\"user_id\":\"" B "\","
          "\"joined_at\":\"2025-01-01T00:00:00Z\",\"last_read_seq\":3,\"room_version\":9},"
          "\"source\":{\"lsn\":5,\"ts_ms\":6}}",
          &c);
    pj_plan_init(&p);
    assert_true(pj_cdc_plan("room_members", &c, &p, &err));
    char *f = json(&p.ops[0]->filter);
    assert_non_null(strstr(f, "\"_id\" : \"" AGG ":" B "\""));
    assert_non_null(strstr(f, "\"room_version\" : { \"$lt\" : 9 }"));
    bson_free(f);
    assert_string_equal(p.wm_input, "cdc.room_members");
    assert_string_equal(p.wm_key, AGG);
    assert_int_equal(p.wm_version, 9);
    pj_plan_destroy(&p);
    pj_cdc_change_destroy(&c);

    parse("{\"op\":\"r\",\"after\":{\"session_id\":\"" AGG "\",\"user_id\":\"" A "\","
          "\"created_at\":\"2025-01-01T00:00:00Z\",\"expires_at\":\"2025-01-02T00:00:00Z\","
          "\"revoked_at\":null,\"version\":1},\"source\":{\"lsn\":5,\"ts_ms\":6}}",
          &c);
    pj_plan_init(&p);
    assert_true(pj_cdc_plan("sessions", &c, &p, &err));
    char *u = json(&p.ops[0]->update);
    assert_non_null(strstr(u, "\"revoked_at\" : null"));
    bson_free(u);
    assert_string_equal(p.wm_input, "cdc.sessions");
    pj_plan_destroy(&p);
    pj_cdc_change_destroy(&c);

    /* a delete trusts only the key */
    parse("{\"op\":\"d\",\"before\":{\"room_id\":\"" AGG "\",\"seq\":4,\"body\":\"\"},"
          "\"after\":null,\"source\":{\"lsn\":5,\"ts_ms\":6}}",
          &c);
    pj_plan_init(&p);
    assert_true(pj_cdc_plan("messages", &c, &p, &err));
    assert_int_equal(p.ops[0]->kind, PJ_OP_DELETE);
    f = json(&p.ops[0]->filter);
    assert_non_null(strstr(f, "\"_id\" : \"" AGG ":0000000000000000004\""));
    bson_free(f);
    assert_string_equal(p.wm_input, "");
    pj_plan_destroy(&p);
    pj_cdc_change_destroy(&c);

    /* a missing column is poison */
    parse("{\"op\":\"c\",\"after\":{\"room_id\":\"" AGG "\",\"version\":1},"
          "\"source\":{\"lsn\":5,\"ts_ms\":6}}",
          &c);
    pj_plan_init(&p);
    assert_false(pj_cdc_plan("chat_rooms", &c, &p, &err));
    assert_string_equal(err.reason, "bad-row");
    pj_plan_destroy(&p);
    pj_cdc_change_destroy(&c);
    assert_string_equal(pj_cdc_model_of("users"), "user_profiles");
    assert_null(pj_cdc_model_of("friendships"));
}

#define USER_ROW(name, version)                                                                    \
    "{\"user_id\":\"" A "\",\"display_name\":\"" name "\",\"bio\":\"\",\"avatar_url\":\"\","       \
    "\"presence\":\"online\",\"version\":" #version ",\"created_at\":\"2025-01-01T00:00:00Z\","    \
    "\"updated_at\":\"2025-01-01T00:00:00Z\"}"

/* users → user_profiles and user_names: the current name's key (guarded by version), the old
 * key of a rename with a before image, every key of a deleted user */
static void test_user_names(void **state)
{
    (void)state;
    hl_error_t err = {0};
    pj_cdc_change_t c;
    pj_plan_t p;

    /* an update without before image (REPLICA IDENTITY DEFAULT): upsert only */
    parse("{\"op\":\"u\",\"before\":null,\"after\":" USER_ROW(
              "Ada Lovelace", 3) ",\"source\":{\"lsn\":5,\"ts_ms\":6}}",
          &c);
    assert_false(c.has_before);
    pj_plan_init(&p);
    assert_true(pj_cdc_plan("users", &c, &p, &err));
    assert_int_equal(count_on(&p, "user_profiles"), 1);
    assert_int_equal(count_on(&p, "user_names"), 1);
    const pj_op_t *op = op_on(&p, "user_names", 0);
    assert_int_equal(op->kind, PJ_OP_UPSERT);
    char *f = json(&op->filter), *u = json(&op->update);
    assert_non_null(strstr(f, "\"_id\" : \"ada lovelace\\u001f" A "\""));
    assert_non_null(strstr(f, "\"version\" : { \"$lt\" : 3 }"));
    assert_non_null(strstr(u, "\"user_id\" : \"" A "\""));
    assert_non_null(strstr(u, "\"display_name_lower\" : \"ada lovelace\""));
    assert_non_null(strstr(u, "\"version\" : 3"));
    assert_non_null(strstr(u, "\"source\" : { \"lsn\" : 5, \"ts_ms\" : 6 }"));
    bson_free(f);
    bson_free(u);
    assert_string_equal(p.wm_input, "cdc.users");
    assert_int_equal(p.wm_version, 3);
    pj_plan_destroy(&p);
    pj_cdc_change_destroy(&c);

    /* a rename with its before image (REPLICA IDENTITY FULL): the old key goes where older */
    parse("{\"op\":\"u\",\"before\":" USER_ROW("Ada Lovelace", 3) ",\"after\":" USER_ROW(
              "Ada King", 4) ",\"source\":{\"lsn\":7,\"ts_ms\":8}}",
          &c);
    assert_true(c.has_before);
    pj_plan_init(&p);
    assert_true(pj_cdc_plan("users", &c, &p, &err));
    assert_int_equal(count_on(&p, "user_names"), 2);
    f = json(&op_on(&p, "user_names", 0)->filter);
    assert_non_null(strstr(f, "\"_id\" : \"ada king\\u001f" A "\""));
    bson_free(f);
    op = op_on(&p, "user_names", 1);
    assert_int_equal(op->kind, PJ_OP_DELETE);
    f = json(&op->filter);
    assert_string_equal(f, "{ \"_id\" : \"ada lovelace\\u001f" A
                           "\", \"version\" : { \"$lt\" : 4 } }");
    bson_free(f);
    pj_plan_destroy(&p);
    pj_cdc_change_destroy(&c);

    /* a change that keeps the name (only the case differs: the same key) deletes nothing */
    parse("{\"op\":\"u\",\"before\":" USER_ROW("ada king", 4) ",\"after\":" USER_ROW(
              "Ada King", 5) ",\"source\":{\"lsn\":9,\"ts_ms\":10}}",
          &c);
    pj_plan_init(&p);
    assert_true(pj_cdc_plan("users", &c, &p, &err));
    assert_int_equal(count_on(&p, "user_names"), 1);
    pj_plan_destroy(&p);
    pj_cdc_change_destroy(&c);

    /* a delete carries only the key: every key of the user goes */
    parse("{\"op\":\"d\",\"before\":{\"user_id\":\"" A "\",\"display_name\":\"\",\"version\":0},"
          "\"after\":null,\"source\":{\"lsn\":11,\"ts_ms\":12}}",
          &c);
    pj_plan_init(&p);
    assert_true(pj_cdc_plan("users", &c, &p, &err));
    op = op_on(&p, "user_names", 0);
    assert_int_equal(op->kind, PJ_OP_DELETE_MANY);
    f = json(&op->filter);
    assert_string_equal(f, "{ \"user_id\" : \"" A "\" }");
    bson_free(f);
    assert_int_equal(op_on(&p, "user_profiles", 0)->kind, PJ_OP_DELETE);
    pj_plan_destroy(&p);
    pj_cdc_change_destroy(&c);

    assert_true(pj_cdc_feeds("users", "user_names"));
    assert_true(pj_cdc_feeds("users", "user_profiles"));
    assert_false(pj_cdc_feeds("sessions", "user_names"));
    assert_true(pj_cdc_feeds("messages", "messages"));
}

/* Notifications are planned unread and recorded for the executor, which settles their read
 * state from the read-all marks in the store after the insert (plan_exec.c); a read-all writes its
 * mark first and updates the existing notifications in the batch's second round. */
static void test_notification_read_marks(void **state)
{
    (void)state;
    hl_event_t ev;
    hl_error_t err = {0};
    message_sent(&ev, "hi");
    pj_plan_t p;
    pj_plan_init(&p);
    assert_true(pj_event_plan("MessageSent", &ev.record, &p, &err));
    /* B and C: inserted unread, content $set so that a by-id stub is filled; both recorded */
    assert_int_equal(count_on(&p, "notifications"), 2);
    char *u = json(&op_on(&p, "notifications", 0)->update);
    assert_non_null(strstr(u, "\"$setOnInsert\" : { \"read\" : false, \"read_at\" : null }"));
    assert_non_null(strstr(u, "\"$set\" : { \"user_id\" : \"" B "\""));
    bson_free(u);
    assert_int_equal(p.nunread, 2);
    assert_string_equal(p.unread[0].user, B);
    assert_string_equal(p.unread[1].user, C);
    assert_int_equal(p.unread[0].created_ms, 1700000000123LL);
    assert_int_equal(strncmp(p.unread[0].id, B ":000170000000012", strlen(B) + 16), 0);
    assert_false(op_on(&p, "notifications", 0)->after);
    pj_plan_destroy(&p);
    hl_event_destroy(&ev);

    /* a counselling notification (booking_confirmed, one per party) gets the same read state as
     * every other kind: inserted unread and recorded for the executor's read-all check */
    head(&ev, "BookingConfirmed", 3);
    assert_true(hl_avro_set_string(&ev.record, "client_id", B, &err));
    assert_true(hl_avro_set_string(&ev.record, "counsellor_id", C, &err));
    assert_true(hl_avro_set_string(&ev.record, "slot_id", A, &err));
    assert_true(hl_avro_set_long(&ev.record, "slot_version", 3, &err));
    assert_true(hl_avro_set_string(&ev.record, "slot_status", "booked", &err));
    assert_true(hl_avro_set_long(&ev.record, "starts_at", 1700100000000000LL, &err));
    assert_true(hl_avro_set_long(&ev.record, "minutes", 50, &err));
    assert_true(hl_avro_set_long(&ev.record, "price_minor", 5000, &err));
    assert_true(hl_avro_set_string(&ev.record, "currency", "EUR", &err));
    assert_true(hl_avro_set_string(&ev.record, "job_id", EVID, &err));
    assert_true(hl_avro_set_string(&ev.record, "room_id", AGG, &err));
    assert_true(hl_avro_set_string(&ev.record, "payment_id", EVID, &err));
    pj_plan_init(&p);
    assert_true(pj_event_plan("BookingConfirmed", &ev.record, &p, &err));
    assert_int_equal(count_on(&p, "notifications"), 2);
    u = json(&op_on(&p, "notifications", 0)->update);
    assert_non_null(strstr(u, "\"kind\" : \"booking_confirmed\""));
    assert_non_null(strstr(u, "\"$setOnInsert\" : { \"read\" : false, \"read_at\" : null }"));
    bson_free(u);
    u = json(&op_on(&p, "notifications", 1)->update);
    assert_non_null(strstr(u, "\"user_id\" : \"" C "\""));
    bson_free(u);
    assert_int_equal(p.nunread, 2);
    assert_string_equal(p.unread[0].user, B);
    assert_string_equal(p.unread[1].user, C);
    pj_plan_destroy(&p);
    hl_event_destroy(&ev);

    /* read-all: the mark (notification_reads) first, the update of what exists after it */
    head(&ev, "NotificationsRead", 2);
    assert_true(hl_avro_set_bool(&ev.record, "all", true, &err));
    assert_true(hl_avro_set_string_array(&ev.record, "notification_ids", NULL, 0, &err));
    pj_plan_init(&p);
    assert_true(pj_event_plan("NotificationsRead", &ev.record, &p, &err));
    assert_int_equal(count_on(&p, "notification_reads"), 1);
    assert_string_equal(p.ops[0]->model, "notification_reads");
    assert_false(p.ops[0]->after);
    assert_int_equal(op_on(&p, "notifications", 0)->kind, PJ_OP_UPDATE_MANY);
    assert_true(op_on(&p, "notifications", 0)->after);
    assert_int_equal(p.nunread, 0);
    assert_string_equal(p.wm_input, "ev.NotificationInbox");
    pj_plan_destroy(&p);
    hl_event_destroy(&ev);

    /* by ids: a stub upsert for each id of the reader's range shaped like a notification id */
    head(&ev, "NotificationsRead", 3);
    const char *ids[] = {AGG ":0001700000000000000:" EVID, "someone-else:1", AGG ":short"};
    assert_true(hl_avro_set_bool(&ev.record, "all", false, &err));
    assert_true(hl_avro_set_string_array(&ev.record, "notification_ids", ids, 3, &err));
    pj_plan_init(&p);
    assert_true(pj_event_plan("NotificationsRead", &ev.record, &p, &err));
    assert_int_equal(count_on(&p, "notifications"), 2); /* the update of existing + one stub */
    u = json(&op_on(&p, "notifications", 1)->update);
    assert_non_null(strstr(u, "\"$setOnInsert\" : { \"user_id\" : \"" AGG "\", \"read\" : true"));
    bson_free(u);
    pj_plan_destroy(&p);
    hl_event_destroy(&ev);
}

static void test_preview(void **state)
{
    (void)state;
    char out[16];
    pj_preview("héllo", 2, out, sizeof out); /* 'é' is two bytes: never cut in half */
    assert_string_equal(out, "h");
    pj_preview("abc", 10, out, sizeof out);
    assert_string_equal(out, "abc");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_sent),
        cmocka_unit_test(test_friendship),
        cmocka_unit_test(test_watermark_only_and_many_ops),
        cmocka_unit_test(test_cdc_tables),
        cmocka_unit_test(test_user_names),
        cmocka_unit_test(test_preview),
        cmocka_unit_test(test_notification_read_marks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
