/* Unit tests for the query server's pure request logic (query-server/src/params.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "params.h"

#include <string.h>

static void test_limit(void **state)
{
    (void)state;
    hl_error_t err = {0};
    int v = 0;
    assert_true(qs_parse_limit(NULL, &v, &err));
    assert_int_equal(v, QS_LIMIT_DEFAULT);
    assert_true(qs_parse_limit("1", &v, &err));
    assert_int_equal(v, 1);
    assert_true(qs_parse_limit("100", &v, &err));
    assert_int_equal(v, 100);
    const char *bad[] = {"0", "101", "-1", "", "ten", "5x", " 5", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hl_error_clear(&err);
        assert_false(qs_parse_limit(bad[i], &v, &err));
        assert_int_equal(err.domain, HL_ERR_INPUT);
        assert_int_equal(err.code, 400);
        assert_string_equal(err.reason, "invalid-parameter");
    }
}

static void test_int64_and_bool(void **state)
{
    (void)state;
    hl_error_t err = {0};
    int64_t v = 0;
    bool b = false;
    assert_true(qs_parse_int64("before_seq", "42", 1, &v, &err));
    assert_int_equal(v, 42);
    assert_false(qs_parse_int64("before_seq", "0", 1, &v, &err));
    assert_non_null(strstr(err.message, "before_seq"));
    assert_false(qs_parse_int64("before_seq", "1e3", 1, &v, &err));
    assert_false(qs_parse_int64("before_seq", "9223372036854775808", 1, &v, &err));
    assert_true(qs_parse_bool("unread", "true", &b, &err) && b);
    assert_true(qs_parse_bool("unread", "0", &b, &err) && !b);
    assert_false(qs_parse_bool("unread", "yes", &b, &err));
    assert_int_equal(err.code, 400);
}

static void test_cursor_round_trip(void **state)
{
    (void)state;
    hl_error_t err = {0};
    qs_cursor_t c, back;
    memset(&c, 0, sizeof c);
    c.num = 1795000000123;
    snprintf(c.id, sizeof c.id, "%s",
             "0190a1b2-0000-7000-8000-000000000001:0190a1b2-0000-7000-8000-000000000002");
    snprintf(c.key, sizeof c.key, "%s", "ada | lovelace");
    char text[QS_CURSOR_TEXT_MAX];
    assert_true(qs_cursor_encode(QS_CURSOR_ROOMS, &c, text, sizeof text));
    /* base64url without padding: no '+', '/', '=' (safe in a query string) */
    assert_null(strpbrk(text, "+/="));
    assert_true(qs_cursor_decode(text, QS_CURSOR_ROOMS, &back, &err));
    assert_int_equal(back.num, c.num);
    assert_string_equal(back.id, c.id);
    assert_string_equal(back.key, c.key);
    /* A cursor of another list, garbage, or a tampered cursor is refused with 400. */
    assert_false(qs_cursor_decode(text, QS_CURSOR_FRIENDS, &back, &err));
    assert_string_equal(err.reason, "invalid-cursor");
    assert_int_equal(err.code, 400);
    assert_false(qs_cursor_decode("!!!", QS_CURSOR_ROOMS, &back, &err));
    assert_false(qs_cursor_decode("", QS_CURSOR_ROOMS, &back, &err));
    assert_false(qs_cursor_decode("YzF8eHh4fGlkfA", QS_CURSOR_ROOMS, &back, &err)); /* c1|xxx|id| */
    /* negative times survive; an id with '|' cannot be encoded */
    c.num = -5;
    assert_true(qs_cursor_encode(QS_CURSOR_MESSAGES, &c, text, sizeof text));
    assert_true(qs_cursor_decode(text, QS_CURSOR_MESSAGES, &back, &err));
    assert_int_equal(back.num, -5);
    snprintf(c.id, sizeof c.id, "%s", "a|b");
    assert_false(qs_cursor_encode(QS_CURSOR_MESSAGES, &c, text, sizeof text));
    /* too small an output buffer */
    snprintf(c.id, sizeof c.id, "%s", "x");
    assert_false(qs_cursor_encode(QS_CURSOR_MESSAGES, &c, text, 8));
}

static void test_direct_key(void **state)
{
    (void)state;
    char key[80];
    const char *a = "0190A1B2-0000-7000-8000-00000000000B";
    const char *b = "0190a1b2-0000-7000-8000-00000000000a";
    assert_true(qs_direct_key(a, b, key, sizeof key));
    assert_string_equal(
        key, "0190a1b2-0000-7000-8000-00000000000a:0190a1b2-0000-7000-8000-00000000000b");
    char key2[80];
    assert_true(qs_direct_key(b, a, key2, sizeof key2));
    assert_string_equal(key, key2);
    assert_false(qs_direct_key(a, "not-a-uuid", key, sizeof key));
    assert_false(qs_direct_key(a, b, key, 10));
}

static void test_search_prefix_and_regex(void **state)
{
    (void)state;
    hl_error_t err = {0};
    char p[QS_QUERY_MAX + 1], re[2 * QS_QUERY_MAX + 2];
    assert_true(qs_search_prefix("AdA Lo", p, sizeof p, &err));
    assert_string_equal(p, "ada lo");
    assert_true(qs_search_prefix("\xc3\x89milie", p, sizeof p, &err)); /* UTF-8 kept as is */
    assert_string_equal(p, "\xc3\x89milie");
    assert_false(qs_search_prefix("", p, sizeof p, &err));
    assert_false(qs_search_prefix(NULL, p, sizeof p, &err));
    assert_false(qs_search_prefix("a\tb", p, sizeof p, &err));
    char longq[QS_QUERY_MAX + 2];
    memset(longq, 'a', sizeof longq - 1);
    longq[sizeof longq - 1] = '\0';
    assert_false(qs_search_prefix(longq, p, sizeof p, &err));
    assert_int_equal(err.code, 400);

    assert_true(qs_regex_prefix("a.b*(c)[d]$^|?+{1}\\", re, sizeof re));
    assert_string_equal(re, "^a\\.b\\*\\(c\\)\\[d\\]\\$\\^\\|\\?\\+\\{1\\}\\\\");
    assert_true(qs_regex_prefix("plain name", re, sizeof re));
    assert_string_equal(re, "^plain name");
    assert_false(qs_regex_prefix("....", re, 6));
}

static char *json_of(const bson_t *b)
{
    return bson_as_relaxed_extended_json(b, NULL);
}

static void test_filters(void **state)
{
    (void)state;
    qs_cursor_t c;
    memset(&c, 0, sizeof c);
    c.num = 1000;
    snprintf(c.id, sizeof c.id, "%s", "u:r");
    bson_t f = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&f, "user_id", "u");
    qs_filter_after_date_desc(&f, "last_activity_at", &c);
    char *j = json_of(&f);
    assert_string_equal(j,
                        "{ \"user_id\" : \"u\", \"$or\" : [ { \"last_activity_at\" : { \"$lt\" : "
                        "{ \"$date\" : \"1970-01-01T00:00:01Z\" } } }, { \"last_activity_at\" : "
                        "{ \"$date\" : \"1970-01-01T00:00:01Z\" }, \"_id\" : { \"$lt\" : "
                        "\"u:r\" } } ] }");
    bson_free(j);
    bson_destroy(&f);

    bson_t s = BSON_INITIALIZER;
    snprintf(c.key, sizeof c.key, "%s", "ada");
    snprintf(c.id, sizeof c.id, "%s", "id1");
    assert_true(qs_users_search_filter(&s, "a.d", &c));
    j = json_of(&s);
    assert_string_equal(j,
                        "{ \"display_name_lower\" : { \"$regex\" : \"^a\\\\.d\" }, \"$or\" : [ { "
                        "\"display_name_lower\" : { \"$gt\" : \"ada\" } }, { "
                        "\"display_name_lower\" : \"ada\", \"_id\" : { \"$gt\" : \"id1\" } } ] "
                        "}");
    bson_free(j);
    bson_destroy(&s);

    bson_t s2 = BSON_INITIALIZER;
    assert_true(qs_users_search_filter(&s2, "ada", NULL));
    j = json_of(&s2);
    assert_string_equal(j, "{ \"display_name_lower\" : { \"$regex\" : \"^ada\" } }");
    bson_free(j);
    bson_destroy(&s2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_int64_and_bool),
        cmocka_unit_test(test_cursor_round_trip),
        cmocka_unit_test(test_direct_key),
        cmocka_unit_test(test_search_prefix_and_regex),
        cmocka_unit_test(test_filters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
