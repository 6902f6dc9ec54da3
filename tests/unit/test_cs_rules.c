/* Unit tests for command-server/src/rules.h and the command body validators of validate.h:
 * every SPEC §1 invariant the command side enforces, without a server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rules.h"
#include "validate.h"

#include "hl/json.h"
#include "hl/util.h"

#include <string.h>

#define A "01a1fc89-d221-7049-8337-b56dab19c892"
#define B "01a1fc89-d221-7049-8337-b56dab19c893"
#define C "01a1fc89-d221-7049-8337-b56dab19c894"

static void expect_refusal(bool ok, const hl_error_t *err, int status, const char *reason)
{
    assert_false(ok);
    assert_int_equal(err->code, status);
    assert_string_equal(err->reason, reason);
}

static cs_pair_facts_t strangers(void)
{
    cs_pair_facts_t f = {.target_exists = true};
    return f;
}

static void test_if_match(void **state)
{
    (void)state;
    int64_t v = 0;
    assert_true(cs_if_match_parse("7", &v));
    assert_int_equal(v, 7);
    assert_true(cs_if_match_parse("\"12\"", &v));
    assert_int_equal(v, 12);
    assert_true(cs_if_match_parse(" W/\"3\" ", &v));
    assert_int_equal(v, 3);
    assert_true(cs_if_match_parse("*", &v));
    assert_int_equal(v, -1);
    const char *bad[] = {"", "abc", "\"\"", "-1", "1.5", "\"3", "99999999999999999999", "W/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(cs_if_match_parse(bad[i], &v));
    assert_false(cs_if_match_parse(NULL, &v));
}

static void test_version(void **state)
{
    (void)state;
    hl_error_t err = {0};
    assert_true(cs_rule_version(3, false, 0, &err));
    assert_true(cs_rule_version(3, true, 3, &err));
    assert_true(cs_rule_version(3, true, -1, &err));
    expect_refusal(cs_rule_version(3, true, 2, &err), &err, 412, "version-mismatch");
}

static void test_friend_request(void **state)
{
    (void)state;
    hl_error_t err = {0};
    cs_pair_facts_t f = strangers();
    assert_true(cs_rule_friend_request(&f, &err));
    f.same_user = true;
    expect_refusal(cs_rule_friend_request(&f, &err), &err, 409, "self-request");
    f = strangers();
    f.target_exists = false;
    expect_refusal(cs_rule_friend_request(&f, &err), &err, 404, "user-not-found");
    f = strangers();
    f.friends = true;
    expect_refusal(cs_rule_friend_request(&f, &err), &err, 409, "already-friends");
    f = strangers();
    f.pending_request = true;
    expect_refusal(cs_rule_friend_request(&f, &err), &err, 409, "request-pending");
    f = strangers();
    f.caller_blocked_target = true;
    expect_refusal(cs_rule_friend_request(&f, &err), &err, 403, "blocked");
    f = strangers();
    f.target_blocked_caller = true;
    expect_refusal(cs_rule_friend_request(&f, &err), &err, 403, "blocked");
}

static void test_answer_request(void **state)
{
    (void)state;
    hl_error_t err = {0};
    assert_true(cs_rule_answer_request(true, true, true, false, &err));
    assert_true(cs_rule_answer_request(true, true, false, true, &err)); /* reject despite block */
    expect_refusal(cs_rule_answer_request(false, true, true, false, &err), &err, 403,
                   "not-recipient");
    expect_refusal(cs_rule_answer_request(true, false, true, false, &err), &err, 409,
                   "request-not-pending");
    expect_refusal(cs_rule_answer_request(true, true, true, true, &err), &err, 403, "blocked");
}

static void test_block(void **state)
{
    (void)state;
    hl_error_t err = {0};
    cs_pair_facts_t f = strangers();
    assert_true(cs_rule_block(&f, &err));
    f.target_blocked_caller = true; /* blocking back is allowed */
    assert_true(cs_rule_block(&f, &err));
    f.caller_blocked_target = true;
    expect_refusal(cs_rule_block(&f, &err), &err, 409, "already-blocked");
    f = strangers();
    f.same_user = true;
    expect_refusal(cs_rule_block(&f, &err), &err, 409, "self-block");
    f = strangers();
    f.target_exists = false;
    expect_refusal(cs_rule_block(&f, &err), &err, 404, "user-not-found");
}

static void test_direct_room(void **state)
{
    (void)state;
    hl_error_t err = {0};
    cs_pair_facts_t f = strangers();
    expect_refusal(cs_rule_direct_room(&f, &err), &err, 403, "not-friends");
    f.friends = true;
    assert_true(cs_rule_direct_room(&f, &err));
    assert_true(cs_rule_group_member(&f, &err));
    f.target_blocked_caller = true;
    expect_refusal(cs_rule_direct_room(&f, &err), &err, 403, "blocked");
    f.target_blocked_caller = false;
    f.caller_blocked_target = true;
    expect_refusal(cs_rule_group_member(&f, &err), &err, 403, "blocked");
    f = strangers();
    f.target_exists = false;
    expect_refusal(cs_rule_direct_room(&f, &err), &err, 404, "user-not-found");
}

static void test_send_message(void **state)
{
    (void)state;
    hl_error_t err = {0};
    assert_true(cs_rule_send_message(true, true, false, false, &err));
    expect_refusal(cs_rule_send_message(false, false, false, false, &err), &err, 403, "not-member");
    expect_refusal(cs_rule_send_message(true, true, true, false, &err), &err, 403, "blocked");
    expect_refusal(cs_rule_send_message(true, false, true, false, &err), &err, 403, "blocked");
    expect_refusal(cs_rule_send_message(true, true, false, true, &err), &err, 403, "blocked");
    /* In a group the blocker may still write. */
    assert_true(cs_rule_send_message(true, false, false, true, &err));
}

static void test_mark_read(void **state)
{
    (void)state;
    hl_error_t err = {0};
    bool adv = true;
    assert_true(cs_rule_mark_read(true, 2, 5, 4, &adv, &err));
    assert_true(adv);
    assert_true(cs_rule_mark_read(true, 4, 5, 2, &adv, &err));
    assert_false(adv); /* monotonic: older markers change nothing */
    assert_true(cs_rule_mark_read(true, 4, 5, 4, &adv, &err));
    assert_false(adv);
    expect_refusal(cs_rule_mark_read(true, 0, 5, 6, &adv, &err), &err, 409, "seq-beyond-last");
    expect_refusal(cs_rule_mark_read(false, 0, 5, 1, &adv, &err), &err, 403, "not-member");
}

static void test_room_members(void **state)
{
    (void)state;
    hl_error_t err = {0};
    const char *ids[] = {B, A, B, C};
    const char *out[8];
    size_t n = cs_room_members(A, ids, 4, out, &err);
    assert_int_equal(n, 3);
    assert_string_equal(out[0], B);
    assert_string_equal(out[1], C);
    assert_string_equal(out[2], A);
    const char *only_self[] = {A, A};
    expect_refusal(cs_room_members(A, only_self, 2, out, &err) != 0, &err, 422,
                   "validation-failed");
    char key[80], key2[80];
    assert_true(hl_direct_key(B, A, key, sizeof key));
    assert_true(hl_direct_key(A, B, key2, sizeof key2));
    assert_string_equal(key, A ":" B);
    assert_string_equal(key, key2);
}

static bool parse(const char *json, bson_t *doc)
{
    hl_error_t err = {0};
    return hl_json_parse_object(json, strlen(json), doc, &err);
}

static void test_validators(void **state)
{
    (void)state;
    hl_error_t err = {0};
    bson_t d;
    cs_message_cmd_t m;
    assert_true(parse("{\"body\": \"hi\", \"client_message_id\": \"c1\"}", &d));
    assert_true(cs_validate_message(&d, &m, &err));
    bson_destroy(&d);
    assert_true(parse("{\"body\": \"   \", \"client_message_id\": \"c1\"}", &d));
    expect_refusal(cs_validate_message(&d, &m, &err), &err, 422, "validation-failed");
    bson_destroy(&d);
    assert_true(parse("{\"body\": \"x\"}", &d));
    expect_refusal(cs_validate_message(&d, &m, &err), &err, 422, "validation-failed");
    bson_destroy(&d);

    const char *status = NULL;
    assert_true(parse("{\"status\": \"away\"}", &d));
    assert_true(cs_validate_presence(&d, &status, &err));
    assert_string_equal(status, "away");
    bson_destroy(&d);
    assert_true(parse("{\"status\": \"busy\"}", &d));
    assert_false(cs_validate_presence(&d, &status, &err));
    bson_destroy(&d);

    const char *id = NULL;
    assert_true(parse("{\"to_user_id\": \"" A "\"}", &d));
    assert_true(cs_validate_user_ref(&d, "to_user_id", &id, &err));
    bson_destroy(&d);
    assert_true(parse("{\"to_user_id\": \"" A "\", \"x\": 1}", &d));
    assert_false(cs_validate_user_ref(&d, "to_user_id", &id, &err));
    bson_destroy(&d);

    cs_room_cmd_t room;
    assert_true(parse("{\"member_ids\": [\"" B "\", \"" C "\"], \"title\": \"T\"}", &d));
    assert_true(cs_validate_room(&d, &room, &err));
    assert_int_equal(room.n, 2);
    assert_string_equal(room.title, "T");
    bson_destroy(&d);
    assert_true(parse("{\"member_ids\": [\"nope\"]}", &d));
    expect_refusal(cs_validate_room(&d, &room, &err), &err, 422, "validation-failed");
    bson_destroy(&d);
    assert_true(parse("{\"member_ids\": []}", &d));
    assert_false(cs_validate_room(&d, &room, &err));
    bson_destroy(&d);

    int64_t seq = 0;
    assert_true(parse("{\"up_to_seq\": 5}", &d));
    assert_true(cs_validate_mark_read(&d, &seq, &err));
    assert_int_equal(seq, 5);
    bson_destroy(&d);
    assert_true(parse("{\"up_to_seq\": -1}", &d));
    assert_false(cs_validate_mark_read(&d, &seq, &err));
    bson_destroy(&d);

    cs_notifications_cmd_t nc;
    assert_true(parse("{\"all\": true}", &d));
    assert_true(cs_validate_notifications(&d, &nc, &err));
    assert_true(nc.all);
    bson_destroy(&d);
    assert_true(parse("{\"notification_ids\": [\"a\", \"b\"]}", &d));
    assert_true(cs_validate_notifications(&d, &nc, &err));
    assert_int_equal(nc.n, 2);
    bson_destroy(&d);
    const char *bad[] = {"{}", "{\"all\": false}", "{\"all\": true, \"notification_ids\": [\"a\"]}",
                         "{\"notification_ids\": []}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_true(parse(bad[i], &d));
        assert_false(cs_validate_notifications(&d, &nc, &err));
        bson_destroy(&d);
    }

    cs_profile_cmd_t p;
    assert_true(parse("{\"bio\": \"\"}", &d));
    assert_true(cs_validate_profile(&d, &p, &err));
    assert_null(p.display_name);
    bson_destroy(&d);
    assert_true(parse("{}", &d));
    assert_false(cs_validate_profile(&d, &p, &err));
    bson_destroy(&d);
    assert_true(parse("{\"avatar_url\": \"javascript:alert(1)\"}", &d));
    assert_false(cs_validate_profile(&d, &p, &err));
    bson_destroy(&d);

    cs_login_cmd_t l;
    assert_true(parse("{\"email\": \"a@b.co\", \"password\": \"x\"}", &d));
    assert_true(cs_validate_login(&d, &l, &err));
    bson_destroy(&d);
}

/* Log-in throttling: 5 failures in 15 min lock for 1, then 2, 4 ... minutes, capped; a
 * window that runs out starts the count again; nothing changes while locked. */
static void test_login_throttle(void **state)
{
    (void)state;
    const int64_t s = 1000000, t0 = 1700000000LL * s;
    cs_login_policy_t p = {
        .max_failures = 5, .window_us = 900 * s, .lockout_us = 60 * s, .lockout_max_us = 300 * s};
    cs_login_throttle_t t = {0};
    assert_int_equal(cs_login_locked_for_s(&t, t0), 0);
    for (int i = 0; i < 4; i++)
        assert_false(cs_login_record_failure(&t, &p, t0 + i * s));
    assert_int_equal(cs_login_locked_for_s(&t, t0 + 4 * s), 0);
    assert_true(cs_login_record_failure(&t, &p, t0 + 4 * s));
    assert_int_equal(cs_login_locked_for_s(&t, t0 + 4 * s), 60);
    assert_int_equal(cs_login_locked_for_s(&t, t0 + 4 * s + 1), 60); /* rounded up */
    assert_int_equal(cs_login_locked_for_s(&t, t0 + 63 * s), 1);
    assert_int_equal(cs_login_locked_for_s(&t, t0 + 64 * s), 0);
    /* The next five failures lock for 2 minutes, then 4, then the cap of 5. */
    int64_t now = t0 + 100 * s;
    const int64_t want[] = {120, 240, 300, 300};
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 4; i++)
            assert_false(cs_login_record_failure(&t, &p, now + i));
        assert_true(cs_login_record_failure(&t, &p, now + 4));
        assert_int_equal(cs_login_locked_for_s(&t, now + 4), want[round]);
        now += 1000 * s;
    }
    /* Failures spread over more than the window never lock. */
    cs_login_throttle_t slow = {0};
    for (int i = 0; i < 20; i++)
        assert_false(cs_login_record_failure(&slow, &p, t0 + i * 300 * s));
    assert_int_equal(slow.lockouts, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_if_match),       cmocka_unit_test(test_version),
        cmocka_unit_test(test_friend_request), cmocka_unit_test(test_answer_request),
        cmocka_unit_test(test_block),          cmocka_unit_test(test_direct_room),
        cmocka_unit_test(test_send_message),   cmocka_unit_test(test_mark_read),
        cmocka_unit_test(test_room_members),   cmocka_unit_test(test_validators),
        cmocka_unit_test(test_login_throttle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
