/* Unit tests for the query server's pure request logic (query-server/src/params.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "params.h"

#include "hl/util.h"

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
    assert_true(hl_direct_key(a, b, key, sizeof key));
    assert_string_equal(
        key, "0190a1b2-0000-7000-8000-00000000000a:0190a1b2-0000-7000-8000-00000000000b");
    char key2[80];
    assert_true(hl_direct_key(b, a, key2, sizeof key2));
    assert_string_equal(key, key2);
    assert_false(hl_direct_key(a, "not-a-uuid", key, sizeof key));
    assert_false(hl_direct_key(a, b, key, 10));
}

static void test_search_prefix(void **state)
{
    (void)state;
    hl_error_t err = {0};
    char p[QS_QUERY_MAX + 1];
    assert_true(qs_search_prefix("AdA Lo", p, sizeof p, &err));
    assert_string_equal(p, "ada lo");
    assert_true(qs_search_prefix("\xc3\x89milie", p, sizeof p, &err)); /* UTF-8 kept as is */
    assert_string_equal(p, "\xc3\x89milie");
    assert_false(qs_search_prefix("", p, sizeof p, &err));
    assert_false(qs_search_prefix(NULL, p, sizeof p, &err));
    assert_false(qs_search_prefix("a\tb", p, sizeof p, &err));
    assert_false(qs_search_prefix("a\x1f", p, sizeof p, &err)); /* the user_names separator */
    hl_error_clear(&err);
    assert_false(qs_search_prefix("\xc3(", p, sizeof p, &err)); /* not UTF-8 */
    assert_string_equal(err.reason, "invalid-parameter");
    char longq[QS_QUERY_MAX + 2];
    memset(longq, 'a', sizeof longq - 1);
    longq[sizeof longq - 1] = '\0';
    assert_false(qs_search_prefix(longq, p, sizeof p, &err));
    assert_int_equal(err.code, 400);
}

/* s starts with prefix iff prefix <= s < bound (byte order), over names around the bound */
static void test_prefix_upper_bound(void **state)
{
    (void)state;
    char b[QS_QUERY_MAX + 8];
    assert_true(qs_prefix_upper_bound("ada", b, sizeof b));
    assert_string_equal(b, "adb");
    assert_true(qs_prefix_upper_bound("a~", b, sizeof b));
    assert_string_equal(b, "a\x7f");
    assert_true(qs_prefix_upper_bound("\xc3\xa9", b, sizeof b)); /* é → ê */
    assert_string_equal(b, "\xc3\xaa");
    assert_true(qs_prefix_upper_bound("a\xc2\xbf", b, sizeof b)); /* U+00BF → U+00C0 */
    assert_string_equal(b, "a\xc3\x80");
    assert_true(qs_prefix_upper_bound("a\x7f", b, sizeof b)); /* U+007F → U+0080 */
    assert_string_equal(b, "a\xc2\x80");
    assert_true(qs_prefix_upper_bound("x\xed\x9f\xbf", b, sizeof b)); /* U+D7FF → U+E000 */
    assert_string_equal(b, "x\xee\x80\x80");
    assert_true(qs_prefix_upper_bound("z\xf4\x8f\xbf\xbf", b, sizeof b)); /* U+10FFFF dropped */
    assert_string_equal(b, "{");
    assert_false(qs_prefix_upper_bound("\xf4\x8f\xbf\xbf", b, sizeof b));
    assert_false(qs_prefix_upper_bound("", b, sizeof b));
    assert_false(qs_prefix_upper_bound("\xc3", b, sizeof b));
    assert_false(qs_prefix_upper_bound("abc", b, 3));

    const char *prefix = "an\xc3\xa9";
    const char *names[] = {"an",
                           "an\xc3\xa9",
                           "an\xc3\xa9 smith",
                           "an\xc3\xa9\x7f",
                           "an\xc3\xaa",
                           "an\xc3\xa8zzz",
                           "an\xc3\xa9\xf4\x8f\xbf\xbf",
                           "ao",
                           "an\xc3\xaa\x01",
                           "anz",
                           "an\xc3\xa9\x1fid"};
    assert_true(qs_prefix_upper_bound(prefix, b, sizeof b));
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        bool starts = !strncmp(names[i], prefix, strlen(prefix));
        bool in_range = strcmp(names[i], prefix) >= 0 && strcmp(names[i], b) < 0;
        assert_true(starts == in_range);
    }
}

/* user_names keys: byte order is (display_name_lower, user id) order; the search range and
 * cursor round trip */
static void test_user_names_range_and_cursor(void **state)
{
    (void)state;
    const char *u1 = "01234567-89ab-7def-8123-456789abcdef";
    const char *u2 = "11234567-89ab-7def-8123-456789abcdef";
    /* names in (name, id) order; every key of a later pair sorts after every earlier one */
    const char *names[] = {"ann",  "ann smith", "ann!", "ann-b",      "ann.c",
                           "ann2", "ann:",      "anna", "ann\xc3\xa9"};
    char prev[HL_USER_NAME_KEY_MAX] = "", k[HL_USER_NAME_KEY_MAX];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        for (int j = 0; j < 2; j++) {
            assert_true(hl_user_name_key(names[i], j ? u2 : u1, k, sizeof k));
            if (prev[0])
                assert_true(strcmp(prev, k) < 0);
            snprintf(prev, sizeof prev, "%s", k);
        }
    }
    assert_true(hl_user_name_key("Ann Smith", u1, k, sizeof k));
    assert_int_equal(k[9], HL_USER_NAME_SEP);
    assert_string_equal(k + 10, u1);
    assert_memory_equal(k, "ann smith", 9);
    char small[30];
    assert_false(hl_user_name_key("ann", u1, small, sizeof small));
    assert_string_equal(small, "");

    qs_cursor_t c;
    assert_true(qs_user_name_cursor(k, &c));
    assert_string_equal(c.key, "ann smith");
    assert_string_equal(c.id, u1);
    char back[HL_USER_NAME_KEY_MAX];
    assert_true(qs_user_name_after(&c, back, sizeof back));
    assert_string_equal(back, k);
    assert_false(qs_user_name_cursor("ann:01234567-89ab-7def-8123-456789abcdef", &c));
    assert_false(qs_user_name_cursor("short", &c));
    snprintf(c.id, sizeof c.id, "%s", "not-a-uuid");
    assert_false(qs_user_name_after(&c, back, sizeof back));

    bson_t f = BSON_INITIALIZER;
    qs_users_search_range(&f, "ann", NULL);
    char *j = bson_as_relaxed_extended_json(&f, NULL);
    assert_string_equal(j, "{ \"_id\" : { \"$gte\" : \"ann\", \"$lt\" : \"ano\" } }");
    bson_free(j);
    bson_reinit(&f);
    qs_users_search_range(&f, "ann",
                          "ann2\x1f"
                          "01234567-89ab-7def-8123-456789abcdef");
    j = bson_as_relaxed_extended_json(&f, NULL);
    assert_string_equal(j, "{ \"_id\" : { \"$gt\" : \"ann2\\u001f01234567-89ab-7def-8123-"
                           "456789abcdef\", \"$lt\" : \"ano\" } }");
    bson_free(j);
    bson_reinit(&f);
    qs_users_search_range(&f, "ann", "ab"); /* a cursor below the prefix: the prefix bounds */
    j = bson_as_relaxed_extended_json(&f, NULL);
    assert_string_equal(j, "{ \"_id\" : { \"$gte\" : \"ann\", \"$lt\" : \"ano\" } }");
    bson_free(j);
    bson_destroy(&f);

    assert_true(qs_user_name_live("ann", "ann", "an"));
    assert_false(qs_user_name_live("ann", "bob", "an")); /* renamed: stale key */
    assert_false(qs_user_name_live("ann", NULL, "an"));  /* no profile */
    assert_false(qs_user_name_live("bob", "bob", "an")); /* outside the prefix */
    assert_false(qs_user_name_live(NULL, "ann", "an"));
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
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_int64_and_bool),
        cmocka_unit_test(test_cursor_round_trip),
        cmocka_unit_test(test_direct_key),
        cmocka_unit_test(test_search_prefix),
        cmocka_unit_test(test_prefix_upper_bound),
        cmocka_unit_test(test_user_names_range_and_cursor),
        cmocka_unit_test(test_filters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
