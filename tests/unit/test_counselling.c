/* Unit tests for the counselling context without a server: the invariants and validators of
 * command-server/src/counselling_rules.h and every transition of the booking saga's state
 * machine (command-server/src/saga_sm.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "counselling_rules.h"
#include "saga_sm.h"

#include "hl/json.h"

#include <string.h>

#define HOUR_US (3600LL * 1000000)
#define NOW_US  (1796226765LL * 1000000)
#define NOW_MS  (NOW_US / 1000)

static void expect_refusal(bool ok, const hl_error_t *err, int status, const char *reason)
{
    assert_false(ok);
    assert_int_equal(err->code, status);
    assert_string_equal(err->reason, reason);
}

static bool parse(const char *json, bson_t *doc)
{
    hl_error_t err = {0};
    return hl_json_parse_object(json, strlen(json), doc, &err);
}

static void test_tags_and_codes(void **state)
{
    (void)state;
    assert_true(cs_language_tag_valid("en"));
    assert_true(cs_language_tag_valid("de-CH"));
    assert_true(cs_language_tag_valid("zh-Hant-TW"));
    assert_true(cs_language_tag_valid("es-419"));
    assert_false(cs_language_tag_valid("e"));
    assert_false(cs_language_tag_valid("english!"));
    assert_false(cs_language_tag_valid("en-"));
    assert_false(cs_language_tag_valid("en--US"));
    assert_false(cs_language_tag_valid("1a"));
    assert_false(cs_language_tag_valid("en-toolongsubtag"));
    assert_true(cs_currency_valid("EUR"));
    assert_false(cs_currency_valid("eur"));
    assert_false(cs_currency_valid("EURO"));
    assert_true(cs_specialty_valid("self-esteem"));
    assert_false(cs_specialty_valid("astrology"));
}

static void test_validate_counsellor(void **state)
{
    (void)state;
    bson_t d;
    hl_error_t err = {0};
    cs_counsellor_cmd_t c;
    assert_true(parse("{\"headline\":\"I listen\",\"specialties\":[\"grief\",\"trauma\"],"
                      "\"languages\":[\"en\",\"de-CH\"],\"price_minor\":5000,\"currency\":\"EUR\","
                      "\"session_minutes\":50}",
                      &d));
    assert_true(cs_validate_counsellor(&d, false, &c, &err));
    assert_int_equal(c.nspecialties, 2);
    assert_int_equal(c.nlanguages, 2);
    assert_int_equal(c.price_minor, 5000);
    assert_int_equal(c.session_minutes, 50);
    bson_destroy(&d);
    static const char *const bad[] = {
        "{\"headline\":\"x\",\"specialties\":[\"astrology\"],\"languages\":[\"en\"],"
        "\"price_minor\":1,\"currency\":\"EUR\",\"session_minutes\":30}",
        "{\"headline\":\"x\",\"specialties\":[\"grief\",\"grief\"],\"languages\":[\"en\"],"
        "\"price_minor\":1,\"currency\":\"EUR\",\"session_minutes\":30}",
        "{\"headline\":\"x\",\"specialties\":[\"grief\"],\"languages\":[\"en\",\"EN\"],"
        "\"price_minor\":1,\"currency\":\"EUR\",\"session_minutes\":30}",
        "{\"headline\":\"x\",\"specialties\":[\"grief\"],\"languages\":[\"en\"],"
        "\"price_minor\":1.5,\"currency\":\"EUR\",\"session_minutes\":30}",
        "{\"headline\":\"x\",\"specialties\":[\"grief\"],\"languages\":[\"en\"],"
        "\"price_minor\":0,\"currency\":\"EUR\",\"session_minutes\":30}",
        "{\"headline\":\"x\",\"specialties\":[\"grief\"],\"languages\":[\"en\"],"
        "\"price_minor\":1,\"currency\":\"Eur\",\"session_minutes\":30}",
        "{\"headline\":\"x\",\"specialties\":[\"grief\"],\"languages\":[\"en\"],"
        "\"price_minor\":1,\"currency\":\"EUR\",\"session_minutes\":45}",
        "{\"headline\":\" x\",\"specialties\":[\"grief\"],\"languages\":[\"en\"],"
        "\"price_minor\":1,\"currency\":\"EUR\",\"session_minutes\":30}",
        "{\"specialties\":[\"grief\"],\"languages\":[\"en\"],"
        "\"price_minor\":1,\"currency\":\"EUR\",\"session_minutes\":30}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_true(parse(bad[i], &d));
        expect_refusal(cs_validate_counsellor(&d, false, &c, &err), &err, 422, "validation-failed");
        bson_destroy(&d);
    }
    assert_true(parse("{\"price_minor\":6100}", &d));
    assert_true(cs_validate_counsellor(&d, true, &c, &err));
    assert_null(c.headline);
    assert_false(c.has_specialties);
    bson_destroy(&d);
    assert_true(parse("{}", &d));
    expect_refusal(cs_validate_counsellor(&d, true, &c, &err), &err, 422, "validation-failed");
    bson_destroy(&d);
}

static void test_validate_slots(void **state)
{
    (void)state;
    bson_t d;
    hl_error_t err = {0};
    int64_t starts[CS_SLOTS_MAX];
    size_t n = 0;
    /* NOW_US is 2026-12-02T15:52:45Z */
    assert_true(parse("{\"slots\":[{\"starts_at\":\"2026-12-03T10:00:00Z\"},"
                      "{\"starts_at\":\"2026-12-03T11:00:00+01:00\"}]}",
                      &d));
    assert_true(cs_validate_slots(&d, NOW_US, starts, &n, &err));
    assert_int_equal(n, 2);
    assert_int_equal(starts[0], starts[1]); /* same instant: PostgreSQL refuses the overlap */
    bson_destroy(&d);
    static const char *const bad[] = {
        "{\"slots\":[]}",
        "{\"slots\":[{\"starts_at\":\"2020-01-01T10:00:00Z\"}]}", /* past */
        "{\"slots\":[{\"starts_at\":\"2027-06-01T10:00:00Z\"}]}", /* > 90 days */
        "{\"slots\":[{\"starts_at\":\"2026-12-03T10:00:30Z\"}]}", /* not a whole minute */
        "{\"slots\":[{\"starts_at\":\"tomorrow\"}]}",
        "{\"slots\":[{\"starts_at\":\"2026-12-03T10:00:00Z\",\"x\":1}]}",
        "{\"slots\":[\"2026-12-03T10:00:00Z\"]}",
        "{\"slots\":[],\"extra\":1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_true(parse(bad[i], &d));
        expect_refusal(cs_validate_slots(&d, NOW_US, starts, &n, &err), &err, 422,
                       "validation-failed");
        bson_destroy(&d);
    }
}

static void test_validate_booking_and_review(void **state)
{
    (void)state;
    bson_t d;
    hl_error_t err = {0};
    cs_booking_cmd_t b;
    cs_review_cmd_t r;
    assert_true(parse("{\"slot_id\":\"01a1fc89-d221-7049-8337-b56dab19c892\","
                      "\"payment_method\":\"pm_card_visa\"}",
                      &d));
    assert_true(cs_validate_booking(&d, &b, &err));
    bson_destroy(&d);
    assert_true(parse("{\"slot_id\":\"01a1fc89-d221-7049-8337-b56dab19c892\","
                      "\"payment_method\":\"pm card\"}",
                      &d));
    expect_refusal(cs_validate_booking(&d, &b, &err), &err, 422, "validation-failed");
    bson_destroy(&d);
    assert_true(parse("{\"rating\":5,\"comment\":\"kind\"}", &d));
    assert_true(cs_validate_review(&d, &r, &err));
    assert_int_equal(r.rating, 5);
    bson_destroy(&d);
    assert_true(parse("{\"rating\":0}", &d));
    expect_refusal(cs_validate_review(&d, &r, &err), &err, 422, "validation-failed");
    bson_destroy(&d);
}

static void test_rule_book(void **state)
{
    (void)state;
    hl_error_t err = {0};
    cs_slot_facts_t f = {.slot_exists = true,
                         .status = "open",
                         .counsellor_verified = true,
                         .starts_us = NOW_US + HOUR_US};
    assert_true(cs_rule_book(&f, NOW_US, &err));
    cs_slot_facts_t g = f;
    g.slot_exists = false;
    expect_refusal(cs_rule_book(&g, NOW_US, &err), &err, 404, "slot-not-found");
    g = f;
    g.own_slot = true;
    expect_refusal(cs_rule_book(&g, NOW_US, &err), &err, 409, "own-slot");
    g = f;
    g.counsellor_verified = false;
    expect_refusal(cs_rule_book(&g, NOW_US, &err), &err, 409, "counsellor-not-verified");
    g = f;
    g.starts_us = NOW_US;
    expect_refusal(cs_rule_book(&g, NOW_US, &err), &err, 409, "slot-in-past");
    g = f;
    g.status = "held";
    expect_refusal(cs_rule_book(&g, NOW_US, &err), &err, 409, "slot-unavailable");
    g.status = "withdrawn";
    expect_refusal(cs_rule_book(&g, NOW_US, &err), &err, 409, "slot-unavailable");
    assert_true(cs_rule_withdraw(true, "open", &err));
    expect_refusal(cs_rule_withdraw(false, "open", &err), &err, 404, "slot-not-found");
    expect_refusal(cs_rule_withdraw(true, "booked", &err), &err, 409, "slot-not-open");
    assert_true(cs_rule_verify(true, true, &err));
    expect_refusal(cs_rule_verify(false, true, &err), &err, 403, "not-operator");
    expect_refusal(cs_rule_verify(true, false, &err), &err, 404, "counsellor-not-found");
}

static cs_booking_facts_t confirmed(bool client, int64_t starts_in_us)
{
    cs_booking_facts_t f = {.exists = true,
                            .caller_is_client = client,
                            .caller_is_counsellor = !client,
                            .status = "confirmed",
                            .starts_us = NOW_US + starts_in_us,
                            .minutes = 50};
    return f;
}

static void test_rule_cancel(void **state)
{
    (void)state;
    hl_error_t err = {0};
    cs_cancel_terms_t t;
    cs_booking_facts_t f = confirmed(true, 24 * HOUR_US);
    assert_true(cs_rule_cancel(&f, NOW_US, &t, &err));
    assert_true(t.refund); /* exactly 24 h before: still in full */
    assert_true(t.reopen_slot);
    f = confirmed(true, 24 * HOUR_US - 1);
    assert_true(cs_rule_cancel(&f, NOW_US, &t, &err));
    assert_false(t.refund);
    assert_false(t.reopen_slot);
    f = confirmed(false, HOUR_US);
    assert_true(cs_rule_cancel(&f, NOW_US, &t, &err));
    assert_true(t.refund && t.by_counsellor && !t.reopen_slot);
    f.caller_is_counsellor = false; /* exists, but another pair's booking */
    expect_refusal(cs_rule_cancel(&f, NOW_US, &t, &err), &err, 403, "not-a-party");
    expect_refusal(cs_rule_complete(&f, NOW_US, &err), &err, 403, "not-a-party");
    expect_refusal(cs_rule_review(&f, &err), &err, 403, "not-a-party");
    f.exists = false; /* no such booking */
    expect_refusal(cs_rule_cancel(&f, NOW_US, &t, &err), &err, 404, "booking-not-found");
    expect_refusal(cs_rule_complete(&f, NOW_US, &err), &err, 404, "booking-not-found");
    expect_refusal(cs_rule_review(&f, &err), &err, 404, "booking-not-found");
    f = confirmed(true, 48 * HOUR_US);
    f.saga_running = true;
    expect_refusal(cs_rule_cancel(&f, NOW_US, &t, &err), &err, 409, "booking-busy");
    f.saga_running = false;
    f.status = "requested";
    expect_refusal(cs_rule_cancel(&f, NOW_US, &t, &err), &err, 409, "booking-not-confirmed");
}

static void test_rule_complete_and_review(void **state)
{
    (void)state;
    hl_error_t err = {0};
    cs_booking_facts_t f = confirmed(false, -50 * 60 * 1000000LL);
    assert_true(cs_rule_complete(&f, NOW_US, &err));
    f = confirmed(false, -49 * 60 * 1000000LL);
    expect_refusal(cs_rule_complete(&f, NOW_US, &err), &err, 409, "session-not-ended");
    f = confirmed(true, -2 * HOUR_US);
    expect_refusal(cs_rule_complete(&f, NOW_US, &err), &err, 403, "not-the-counsellor");
    f = confirmed(false, -2 * HOUR_US);
    f.status = "completed";
    expect_refusal(cs_rule_complete(&f, NOW_US, &err), &err, 409, "booking-not-confirmed");
    f = confirmed(true, -2 * HOUR_US);
    expect_refusal(cs_rule_review(&f, &err), &err, 409, "booking-not-completed");
    f.status = "completed";
    assert_true(cs_rule_review(&f, &err));
    f.reviewed = true;
    expect_refusal(cs_rule_review(&f, &err), &err, 409, "already-reviewed");
    f = confirmed(false, -2 * HOUR_US);
    f.status = "completed";
    expect_refusal(cs_rule_review(&f, &err), &err, 403, "not-the-client");
}

/* ---- the saga state machine ---- */

static cs_saga_ctx_t booking_at(const char *state)
{
    cs_saga_ctx_t c = {.kind = CS_SAGA_BOOKING,
                       .state = state,
                       .has_intent = strcmp(state, "create_intent") != 0,
                       .payment_status = "pending",
                       .deadline_ms = NOW_MS + 30000};
    return c;
}

static void test_saga_booking_happy_path(void **state)
{
    (void)state;
    cs_saga_step_t s;
    cs_saga_ctx_t c = booking_at(cs_saga_initial_state(CS_SAGA_BOOKING));
    assert_int_equal(cs_saga_action(&c), CS_ACT_CREATE_INTENT);
    assert_true(cs_saga_next(&c, CS_OUT_OK, NOW_MS, &s));
    assert_string_equal(s.state, "confirm_intent");
    assert_int_equal(s.effect, CS_EFF_INTENT_CREATED);
    assert_string_equal(s.job_status, "running");
    c = booking_at(s.state);
    assert_int_equal(cs_saga_action(&c), CS_ACT_CONFIRM);
    assert_true(cs_saga_next(&c, CS_OUT_OK, NOW_MS, &s));
    assert_string_equal(s.state, "confirm_booking");
    assert_int_equal(s.effect, CS_EFF_AUTHORIZED);
    c = booking_at(s.state);
    assert_int_equal(cs_saga_action(&c), CS_ACT_DB);
    assert_true(cs_saga_next(&c, CS_OUT_OK, NOW_MS, &s));
    assert_string_equal(s.state, "confirmed");
    assert_true(s.done);
    assert_int_equal(s.effect, CS_EFF_BOOKING_CONFIRMED);
    assert_string_equal(s.job_status, "succeeded");
    c = booking_at("confirmed");
    assert_int_equal(cs_saga_action(&c), CS_ACT_NONE);
    assert_false(cs_saga_next(&c, CS_OUT_OK, NOW_MS, &s));
}

static void test_saga_decline_compensates(void **state)
{
    (void)state;
    cs_saga_step_t s;
    cs_saga_ctx_t c = booking_at("confirm_intent");
    assert_true(cs_saga_next(&c, CS_OUT_DECLINED, NOW_MS, &s));
    assert_string_equal(s.state, "void");
    assert_int_equal(s.effect, CS_EFF_DECLINED);
    assert_string_equal(s.reason, "payment-declined");
    c = booking_at("void");
    c.reason = s.reason;
    assert_int_equal(cs_saga_action(&c), CS_ACT_VOID); /* voids a decline after authorization */
    assert_true(cs_saga_next(&c, CS_OUT_OK, NOW_MS, &s));
    assert_string_equal(s.state, "fail_booking");
    assert_int_equal(s.effect, CS_EFF_VOIDED);
    c = booking_at("fail_booking");
    c.reason = s.reason;
    assert_true(cs_saga_next(&c, CS_OUT_OK, NOW_MS, &s));
    assert_true(s.done);
    assert_string_equal(s.state, "failed");
    assert_int_equal(s.effect, CS_EFF_BOOKING_FAILED);
    assert_string_equal(s.job_status, "failed");
    assert_string_equal(s.reason, "payment-declined");
    /* no intent yet: nothing to void */
    c = booking_at("void");
    c.has_intent = false;
    assert_int_equal(cs_saga_action(&c), CS_ACT_SKIP);
}

static void test_saga_retries_then_deadline(void **state)
{
    (void)state;
    cs_saga_step_t s;
    cs_saga_ctx_t c = booking_at("confirm_intent");
    assert_true(cs_saga_next(&c, CS_OUT_TRANSIENT, NOW_MS, &s));
    assert_string_equal(s.state, "confirm_intent");
    assert_false(s.done);
    assert_int_equal(s.attempts, 1);
    assert_int_equal(s.run_at_ms, NOW_MS + CS_SAGA_BACKOFF_BASE_MS);
    assert_string_equal(s.step_status, "retrying");
    c.attempts = 3;
    assert_true(cs_saga_next(&c, CS_OUT_TRANSIENT, NOW_MS, &s));
    assert_int_equal(s.run_at_ms, NOW_MS + 8 * CS_SAGA_BACKOFF_BASE_MS);
    assert_int_equal(cs_saga_backoff_ms(20), CS_SAGA_BACKOFF_MAX_MS);
    /* past the deadline: compensate */
    c.deadline_ms = NOW_MS + 100;
    assert_true(cs_saga_next(&c, CS_OUT_TRANSIENT, NOW_MS, &s));
    assert_string_equal(s.state, "void");
    assert_string_equal(s.reason, "payment-provider-unavailable");
    c = booking_at("create_intent");
    assert_true(cs_saga_next(&c, CS_OUT_PERMANENT, NOW_MS, &s));
    assert_string_equal(s.state, "void");
    assert_string_equal(s.reason, "payment-error");
    /* compensation never gives up */
    c = booking_at("void");
    c.deadline_ms = NOW_MS - 1;
    c.attempts = 50;
    assert_true(cs_saga_next(&c, CS_OUT_TRANSIENT, NOW_MS, &s));
    assert_string_equal(s.state, "void");
    assert_int_equal(s.run_at_ms, NOW_MS + CS_SAGA_BACKOFF_MAX_MS);
}

static void test_saga_cancellation_and_completion(void **state)
{
    (void)state;
    cs_saga_step_t s;
    cs_saga_ctx_t c = {.kind = CS_SAGA_CANCELLATION,
                       .state = cs_saga_initial_state(CS_SAGA_CANCELLATION),
                       .has_intent = true,
                       .payment_status = "authorized",
                       .refund = true};
    assert_int_equal(cs_saga_action(&c), CS_ACT_VOID);
    c.payment_status = "captured";
    assert_int_equal(cs_saga_action(&c), CS_ACT_REFUND);
    assert_true(cs_saga_next(&c, CS_OUT_OK, NOW_MS, &s));
    assert_int_equal(s.effect, CS_EFF_REFUNDED);
    c.payment_status = "authorized";
    c.refund = false;
    assert_int_equal(cs_saga_action(&c), CS_ACT_CAPTURE);
    assert_true(cs_saga_next(&c, CS_OUT_TRANSIENT, NOW_MS, &s));
    assert_string_equal(s.state, "settle");
    assert_true(cs_saga_next(&c, CS_OUT_OK, NOW_MS, &s));
    assert_string_equal(s.state, "cancel_booking");
    assert_int_equal(s.effect, CS_EFF_CAPTURED);
    c.state = "cancel_booking";
    assert_true(cs_saga_next(&c, CS_OUT_OK, NOW_MS, &s));
    assert_true(s.done);
    assert_int_equal(s.effect, CS_EFF_BOOKING_CANCELLED);

    cs_saga_ctx_t k = {.kind = CS_SAGA_COMPLETION,
                       .state = cs_saga_initial_state(CS_SAGA_COMPLETION),
                       .has_intent = true,
                       .payment_status = "authorized"};
    assert_int_equal(cs_saga_action(&k), CS_ACT_CAPTURE);
    assert_true(cs_saga_next(&k, CS_OUT_OK, NOW_MS, &s));
    assert_string_equal(s.state, "complete_booking");
    assert_int_equal(s.effect, CS_EFF_CAPTURED);
    k.state = "complete_booking";
    assert_true(cs_saga_next(&k, CS_OUT_OK, NOW_MS, &s));
    assert_true(s.done);
    assert_int_equal(s.effect, CS_EFF_BOOKING_COMPLETED);
    assert_string_equal(s.job_status, "succeeded");
    k.state = "capture";
    assert_true(cs_saga_next(&k, CS_OUT_PERMANENT, NOW_MS, &s));
    assert_true(s.done);
    assert_string_equal(s.job_status, "failed");
    assert_int_equal(s.effect, CS_EFF_NONE); /* the booking stays confirmed */

    cs_saga_kind_t kind;
    assert_true(cs_saga_kind_parse("cancellation", &kind));
    assert_int_equal(kind, CS_SAGA_CANCELLATION);
    assert_false(cs_saga_kind_parse("refund", &kind));
    assert_string_equal(cs_saga_action_name(CS_ACT_CONFIRM), "confirm");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tags_and_codes),
        cmocka_unit_test(test_validate_counsellor),
        cmocka_unit_test(test_validate_slots),
        cmocka_unit_test(test_validate_booking_and_review),
        cmocka_unit_test(test_rule_book),
        cmocka_unit_test(test_rule_cancel),
        cmocka_unit_test(test_rule_complete_and_review),
        cmocka_unit_test(test_saga_booking_happy_path),
        cmocka_unit_test(test_saga_decline_compensates),
        cmocka_unit_test(test_saga_retries_then_deadline),
        cmocka_unit_test(test_saga_cancellation_and_completion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
