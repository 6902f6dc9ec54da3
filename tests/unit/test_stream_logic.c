/* Unit tests of the stream listener's pure parts (stream_ids.h, stream_proto.h) and of the
 * projector's change-feed derivation (feed.h) and presence rule (presence.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "feed.h"
#include "presence.h"
#include "stream_ids.h"
#include "stream_proto.h"
#include "stream_revoked.h"

#include <stdio.h>
#include <string.h>

#define ROOM "01a23789-6934-72b2-b15c-136da2763dbb"
#define EV   "01a23789-0000-7000-8000-000000000001"

static void test_ids_round_trip_and_other_stream(void **state)
{
    (void)state;
    st_pos_t p = {.a = 42, .b = 7}, q;
    char id[ST_ID_MAX];
    hl_error_t err = {0};
    st_id_format("room:" ROOM, &p, id);
    assert_true(st_id_parse("room:" ROOM, id, &q, &err));
    assert_int_equal(q.a, 42);
    assert_int_equal(q.b, 7);
    assert_false(st_id_parse("notifications:" ROOM, id, &q, &err));
    assert_string_equal(err.reason, "invalid-last-event-id");
    assert_non_null(strstr(err.message, "another stream"));
    st_pos_t n = {.a = 1700000000000000, .b = 1700000000000000};
    memcpy(n.extra, EV, sizeof EV);
    st_id_format("notifications:u", &n, id);
    assert_true(st_id_parse("notifications:u", id, &q, &err));
    assert_string_equal(q.extra, EV);
    assert_false(st_pos_after(&q, &n));
    q.extra[35] = '2';
    assert_true(st_pos_after(&q, &n));
}

static void test_ids_malformed(void **state)
{
    (void)state;
    const char *bad[] = {"",
                         "garbage",
                         "zzzzzzzz.1.2",
                         "00000000.1",
                         "00000000.1.2.x",
                         "00000000.-1.2",
                         "00000000.1.2.3.4",
                         "00000000.1234567890123456789.0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        st_pos_t q;
        hl_error_t err = {0};
        assert_false(st_id_parse("room:" ROOM, bad[i], &q, &err));
        assert_int_equal(err.code, 400);
    }
}

static void test_ws_ops(void **state)
{
    (void)state;
    st_ws_op_t op;
    hl_error_t err = {0};
    const char *ok = "{\"op\":\"subscribe\",\"channel\":\"room:" ROOM "\",\"last_event_id\":\"x\"}";
    assert_true(st_ws_op_parse(ok, strlen(ok), &op, &err));
    assert_int_equal(op.op, ST_OP_SUBSCRIBE);
    assert_string_equal(op.last_event_id, "x");
    char id[37];
    assert_int_equal(st_channel_route(op.channel, id), ST_ROUTE_ROOM);
    assert_string_equal(id, ROOM);
    const char *cases[][2] = {{"{\"op\":\"dance\",\"channel\":\"presence\"}", "unknown-op"},
                              {"[1,2]", "unknown-op"},
                              {"not json", "invalid-json"},
                              {"{\"op\":\"subscribe\"}", "invalid-channel"},
                              {"{\"op\":\"subscribe\",\"channel\":1}", "invalid-channel"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hl_error_clear(&err);
        assert_false(st_ws_op_parse(cases[i][0], strlen(cases[i][0]), &op, &err));
        assert_string_equal(err.reason, cases[i][1]);
    }
}

static void test_routes_and_frames(void **state)
{
    (void)state;
    char id[37], buf[256];
    assert_int_equal(st_route_match("/v1/chat-rooms/" ROOM "/messages/stream", id), ST_ROUTE_ROOM);
    assert_string_equal(id, ROOM);
    assert_int_equal(st_route_match("/v1/chat-rooms/nope/messages/stream", id), ST_ROUTE_ROOM);
    assert_string_equal(id, "");
    assert_int_equal(st_route_match("/v1/notifications/stream", id), ST_ROUTE_NOTIFICATIONS);
    assert_int_equal(st_route_match("/v1/friends/presence/stream", id), ST_ROUTE_PRESENCE);
    assert_int_equal(st_route_match("/v1/jobs/" ROOM "/stream", id), ST_ROUTE_JOB);
    assert_int_equal(st_route_match("/v1/chat-rooms/a/b/messages/stream", id), ST_ROUTE_NONE);
    size_t n = st_sse_event(buf, sizeof buf, "i", "message", "{\"a\":1}", 7);
    assert_string_equal(buf, "id: i\nevent: message\ndata: {\"a\":1}\n\n");
    assert_int_equal(n, strlen(buf));
    assert_int_equal(st_sse_event(buf, 10, "i", "message", "{\"a\":1}", 7), 0);
    st_ws_event(buf, sizeof buf, "presence", "i", "presence", "{}", 2);
    assert_string_equal(
        buf, "{\"channel\":\"presence\",\"id\":\"i\",\"event\":\"presence\",\"data\":{}}");
    hl_error_t err = {0};
    hl_error_set(&err, HL_ERR_MONGO, 1, "secret detail");
    /* the read store away: retryable (the listener sends it with Retry-After), no detail */
    assert_int_equal(st_problem_json(&err, "/x", buf, sizeof buf), 503);
    assert_non_null(strstr(buf, "urn:hearlers:problem:unavailable"));
    assert_null(strstr(buf, "secret"));
    hl_error_set(&err, HL_ERR_SYSTEM, 1, "secret detail");
    assert_int_equal(st_problem_json(&err, "/x", buf, sizeof buf), 500);
    assert_non_null(strstr(buf, "urn:hearlers:problem:internal"));
    assert_null(strstr(buf, "secret"));
}

/* The revoked-session set a WebSocket handshake is checked against (stream_revoked.h). */
static void test_revoked_sessions(void **state)
{
    (void)state;
    st_revoked_clear();
    assert_false(st_revoked_loaded());
    const char *a = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
               *b = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c";
    assert_false(st_revoked_has(a, 1000));
    st_revoked_add(a, 5000);
    assert_true(st_revoked_has(a, 1000));
    assert_true(st_revoked_has("0190A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B", 1000)); /* case */
    assert_false(st_revoked_has(b, 1000));
    assert_false(st_revoked_has(a, 5000)); /* expired: its tokens are refused as expired */
    st_revoked_add(a, 3000);               /* an earlier expiry does not shorten it */
    assert_true(st_revoked_has(a, 4000));
    st_revoked_add("", 9000);                                              /* ignored */
    st_revoked_add("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b-too-long", 9000); /* ignored */
    assert_false(st_revoked_has("", 0));
    assert_false(st_revoked_has(NULL, 0));
    /* many entries in few buckets' chains: each found, sweep drops the expired ones only */
    char id[40];
    for (int i = 0; i < 10000; i++) {
        snprintf(id, sizeof id, "s-%d", i);
        st_revoked_add(id, i % 2 ? 100000 : 2000);
    }
    for (int i = 0; i < 10000; i += 997) {
        snprintf(id, sizeof id, "s-%d", i);
        assert_true(st_revoked_has(id, 1000));
    }
    assert_int_equal(st_revoked_sweep(2500), 5000 + 1); /* the odd ones and a (5000) */
    assert_false(st_revoked_has("s-2", 1000));
    assert_true(st_revoked_has("s-3", 1000));
    assert_int_equal(st_revoked_sweep(200000), 0);
    st_revoked_set_loaded();
    assert_true(st_revoked_loaded());
    st_revoked_clear();
    assert_false(st_revoked_loaded());
}

static void test_feed_changes_of_plans(void **state)
{
    (void)state;
    pj_plan_t plan;
    pj_plan_init(&plan);
    pj_op_t *m = pj_plan_add(&plan, PJ_OP_UPSERT, "messages");
    BSON_APPEND_UTF8(&m->filter, "_id", ROOM ":0000000000000000003");
    bson_t set;
    BSON_APPEND_DOCUMENT_BEGIN(&m->update, "$set", &set);
    BSON_APPEND_UTF8(&set, "room_id", ROOM);
    BSON_APPEND_INT64(&set, "seq", 3);
    BSON_APPEND_INT64(&set, "room_version", 9);
    bson_append_document_end(&m->update, &set);
    pj_op_t *r = pj_plan_add(&plan, PJ_OP_UPSERT, "room_members");
    BSON_APPEND_UTF8(&r->filter, "_id", ROOM ":u");
    BSON_APPEND_DOCUMENT_BEGIN(&r->update, "$set", &set);
    BSON_APPEND_UTF8(&set, "room_id", ROOM);
    BSON_APPEND_INT64(&set, "room_version", 1); /* room creation: not a read marker */
    bson_append_document_end(&r->update, &set);
    pj_op_t *n = pj_plan_add(&plan, PJ_OP_UPSERT, "notifications");
    BSON_APPEND_UTF8(&n->filter, "_id", "u:0001700000000000000:" EV);
    BSON_APPEND_DOCUMENT_BEGIN(&n->update, "$set", &set);
    BSON_APPEND_UTF8(&set, "user_id", "u");
    BSON_APPEND_UTF8(&set, "kind", "new_message");
    bson_append_document_end(&n->update, &set);
    pj_op_t *d = pj_plan_add(&plan, PJ_OP_DELETE, "room_members");
    BSON_APPEND_UTF8(&d->filter, "_id", ROOM ":gone");
    pj_op_t *o = pj_plan_add(&plan, PJ_OP_UPSERT, "inbox"); /* not streamed */
    BSON_APPEND_UTF8(&o->filter, "_id", "x");
    pj_feed_change_t c[8];
    size_t k = pj_feed_changes(&plan, c, 8);
    assert_int_equal(k, 3);
    assert_string_equal(c[0].channel, "room:" ROOM);
    assert_string_equal(c[0].kind, "message");
    assert_int_equal(c[0].position, 3);
    assert_int_equal(c[0].version, 9);
    assert_string_equal(c[0].key, ROOM);
    assert_string_equal(c[1].channel, "notifications:u");
    assert_int_equal(c[1].position, 1700000000000000);
    assert_string_equal(c[1].key, "u");
    assert_string_equal(c[2].kind, "member-removed");
    assert_non_null(strstr(c[2].document, "gone"));
    pj_feed_changes_free(c, k);
    pj_plan_destroy(&plan);
}

/* The presence rule (presence.h): seen until max(heartbeat, record time) + grace while open,
 * the close time + grace once closed. */
static void test_presence_rule(void **state)
{
    (void)state;
    const int64_t g = 30000, t = 1000000;
    pj_presence_state_t st;
    bool expired[3];
    /* no records: offline, nothing due */
    pj_presence_evaluate(NULL, 0, t, g, &st, NULL);
    assert_false(st.online);
    assert_int_equal(st.due_ms, PJ_PRESENCE_NEVER);
    /* open on a listener that beat 1 s ago: online, due when that beat's grace ends */
    pj_presence_conn_t open1 = {.open = 1, .at_ms = t - 60000, .beat_ms = t - 1000};
    pj_presence_evaluate(&open1, 1, t, g, &st, expired);
    assert_true(st.online);
    assert_false(expired[0]);
    assert_int_equal(st.due_ms, t - 1000 + g);
    assert_int_equal(st.since_ms, t - 60000);
    /* its listener stopped heart-beating 31 s ago (kill -9): offline since beat + grace */
    open1.beat_ms = t - 31000;
    pj_presence_evaluate(&open1, 1, t, g, &st, expired);
    assert_false(st.online);
    assert_true(expired[0]);
    assert_int_equal(st.since_ms, t - 31000 + g);
    /* closed 10 s ago: still online (grace), due at close + grace; then offline */
    pj_presence_conn_t closed = {.open = 0, .at_ms = t - 10000, .beat_ms = t};
    pj_presence_evaluate(&closed, 1, t, g, &st, expired);
    assert_true(st.online);
    assert_int_equal(st.due_ms, t + 20000);
    pj_presence_evaluate(&closed, 1, t + 20000, g, &st, expired);
    assert_false(st.online);
    assert_true(expired[0]);
    /* two listeners: the dead one's record expires, the live one keeps the user online */
    pj_presence_conn_t two[2] = {{.open = 2, .at_ms = t - 50000, .beat_ms = t - 40000},
                                 {.open = 1, .at_ms = t - 2000, .beat_ms = t - 500}};
    pj_presence_evaluate(two, 2, t, g, &st, expired);
    assert_true(st.online);
    assert_true(expired[0]);
    assert_false(expired[1]);
}

/* A connection fact plans the guarded record and makes its user due; the sweeper's presence
 * change is a feed record, its due-time-only update is not. */
static void test_presence_facts_and_feed(void **state)
{
    (void)state;
    pj_plan_t plan;
    pj_plan_init(&plan);
    pj_op_t *p = pj_plan_add(&plan, PJ_OP_UPSERT, "presence");
    BSON_APPEND_UTF8(&p->filter, "_id", ROOM);
    bson_t set;
    BSON_APPEND_DOCUMENT_BEGIN(&p->update, "$set", &set);
    BSON_APPEND_UTF8(&set, "connected", "online");
    BSON_APPEND_INT64(&set, "pos", 42);
    BSON_APPEND_INT64(&set, "due_at", 7);
    bson_append_document_end(&p->update, &set);
    pj_op_t *q = pj_plan_add(&plan, PJ_OP_UPSERT, "presence");
    BSON_APPEND_UTF8(&q->filter, "_id", EV);
    BSON_APPEND_DOCUMENT_BEGIN(&q->update, "$set", &set);
    BSON_APPEND_INT64(&set, "due_at", 0);
    bson_append_document_end(&q->update, &set);
    pj_op_t *j = pj_plan_add(&plan, PJ_OP_UPSERT, "jobs");
    BSON_APPEND_UTF8(&j->filter, "_id", EV);
    BSON_APPEND_DOCUMENT_BEGIN(&j->update, "$set", &set);
    BSON_APPEND_UTF8(&set, "status", "running");
    BSON_APPEND_INT64(&set, "version", 3);
    bson_append_document_end(&j->update, &set);
    pj_feed_change_t c[4];
    size_t k = pj_feed_changes(&plan, c, 4);
    assert_int_equal(k, 2);
    assert_string_equal(c[0].channel, "presence:" ROOM);
    assert_string_equal(c[0].kind, "presence");
    assert_int_equal(c[0].position, 42);
    assert_string_equal(c[1].channel, "job:" EV);
    assert_string_equal(c[1].kind, "job");
    assert_int_equal(c[1].position, 3);
    assert_string_equal(c[1].key, EV);
    pj_feed_changes_free(c, k);
    pj_plan_destroy(&plan);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_round_trip_and_other_stream),
        cmocka_unit_test(test_ids_malformed),
        cmocka_unit_test(test_ws_ops),
        cmocka_unit_test(test_routes_and_frames),
        cmocka_unit_test(test_revoked_sessions),
        cmocka_unit_test(test_feed_changes_of_plans),
        cmocka_unit_test(test_presence_rule),
        cmocka_unit_test(test_presence_facts_and_feed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
