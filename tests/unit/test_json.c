/* Unit tests for hl/json.h: strict JSON object parsing and field-table validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hl/json.h"

#include <stdlib.h>
#include <string.h>

/* Parse a body that must be rejected; check status and reason. */
static void parse_fails(const char *body, size_t len, int code, const char *reason)
{
    bson_t doc;
    hl_error_t err;
    hl_error_clear(&err);
    assert_false(hl_json_parse_object(body, len, &doc, &err));
    assert_int_equal(err.domain, HL_ERR_INPUT);
    assert_int_equal(err.code, code);
    assert_string_equal(err.reason, reason);
    assert_true(err.message[0] != '\0');
}

#define PARSE_FAILS(lit, code, reason) parse_fails(lit, sizeof(lit) - 1, code, reason)

static void parse_ok(const char *body, bson_t *doc)
{
    hl_error_t err;
    hl_error_clear(&err);
    if (!hl_json_parse_object(body, strlen(body), doc, &err))
        fail_msg("parse of %s failed: %s (%s)", body, err.message, err.reason);
}

static void test_parse_empty(void **state)
{
    (void)state;
    parse_fails("", 0, 400, "malformed-json");
    parse_fails(NULL, 0, 400, "malformed-json");
    PARSE_FAILS("   \r\n\t", 400, "malformed-json");
}

static void test_parse_not_object(void **state)
{
    (void)state;
    PARSE_FAILS("[1]", 400, "malformed-json");
    PARSE_FAILS("\"x\"", 400, "malformed-json");
    PARSE_FAILS("42", 400, "malformed-json");
    PARSE_FAILS("null", 400, "malformed-json");
    PARSE_FAILS("true", 400, "malformed-json");
    PARSE_FAILS("  [ {} ]", 400, "malformed-json");
}

static void test_parse_invalid_utf8(void **state)
{
    (void)state;
    PARSE_FAILS("\xff", 400, "invalid-utf8");
    PARSE_FAILS("{\"a\":\"\xff\"}", 400, "invalid-utf8");
    /* A truncated multi-byte sequence (first two bytes of U+2713). */
    PARSE_FAILS("{\"a\":\"\xe2\x9c\"}", 400, "invalid-utf8");
    /* An overlong encoding of '/'. */
    PARSE_FAILS("{\"a\":\"\xc0\xaf\"}", 400, "invalid-utf8");
    /* A raw NUL byte inside the body. */
    PARSE_FAILS("{\"a\":\"x\0y\"}", 400, "invalid-utf8");
}

static void test_parse_malformed(void **state)
{
    (void)state;
    PARSE_FAILS("{", 400, "malformed-json");
    PARSE_FAILS("{\"a\":}", 400, "malformed-json");
    PARSE_FAILS("{\"a\" 1}", 400, "malformed-json");
    PARSE_FAILS("{\"a\":1,}", 400, "malformed-json");
    PARSE_FAILS("{a:1}", 400, "malformed-json");
    PARSE_FAILS("{'a':1}", 400, "malformed-json");
    PARSE_FAILS("{\"a\":\"unterminated}", 400, "malformed-json");
}

static void test_parse_deep_nesting(void **state)
{
    (void)state;
    /* {"a":[[[...]]]} nested 100000 deep: refused as a client error, without exhausting the
     * stack. */
    enum { DEPTH = 100000 };
    char *body = malloc(2 * DEPTH + 16);
    assert_non_null(body);
    size_t n = 0;
    memcpy(body, "{\"a\":", 5);
    n = 5;
    memset(body + n, '[', DEPTH);
    n += DEPTH;
    memset(body + n, ']', DEPTH);
    n += DEPTH;
    body[n++] = '}';
    parse_fails(body, n, 400, "malformed-json");
    free(body);
}

static void test_parse_two_values(void **state)
{
    (void)state;
    PARSE_FAILS("{}{}", 400, "malformed-json");
    PARSE_FAILS("{\"a\":1} {\"b\":2}", 400, "malformed-json");
    PARSE_FAILS("{} 1", 400, "malformed-json");
    PARSE_FAILS("{} x", 400, "malformed-json");
}

static void test_parse_valid(void **state)
{
    (void)state;
    bson_t doc;
    parse_ok(" {\"name\": \"Ada \\u2713\", \"n\": 3, \"ok\": true, \"tags\": [\"a\", \"b\"]}\n",
             &doc);
    assert_int_equal(bson_count_keys(&doc), 4);
    uint32_t len = 0;
    const char *name = hl_json_get_string(&doc, "name", &len);
    assert_non_null(name);
    assert_string_equal(name, "Ada \xe2\x9c\x93");
    assert_int_equal(len, 7);
    assert_null(hl_json_get_string(&doc, "n", NULL));       /* not a string */
    assert_null(hl_json_get_string(&doc, "missing", NULL)); /* absent */
    bson_iter_t it;
    assert_true(bson_iter_init_find(&it, &doc, "n"));
    assert_int_equal(bson_iter_as_int64(&it), 3);
    bson_destroy(&doc);

    parse_ok("{}", &doc);
    assert_int_equal(bson_count_keys(&doc), 0);
    bson_destroy(&doc);
}

/* hl_json_check */

static const hl_json_field_t fields[] = {
    {"name", HL_JSON_STRING, true, 1, 4, 0},
    {"age", HL_JSON_INT, false, 0, 150, 0},
    {"admin", HL_JSON_BOOL, false, 0, 0, 0},
    {"tags", HL_JSON_STRING_ARRAY, false, 1, 3, 5},
};
#define NFIELDS (sizeof fields / sizeof fields[0])

static bool check(const char *body, hl_error_t *err)
{
    bson_t doc;
    parse_ok(body, &doc);
    hl_error_clear(err);
    bool ok = hl_json_check(&doc, fields, NFIELDS, err);
    bson_destroy(&doc);
    return ok;
}

static void check_ok(const char *body)
{
    hl_error_t err;
    if (!check(body, &err))
        fail_msg("check of %s failed: %s (%s)", body, err.message, err.reason);
}

/* The check must fail with 422, reason, and a message naming needle. */
static void check_fails(const char *body, const char *reason, const char *needle)
{
    hl_error_t err;
    if (check(body, &err))
        fail_msg("check of %s unexpectedly passed", body);
    assert_int_equal(err.domain, HL_ERR_INPUT);
    assert_int_equal(err.code, 422);
    assert_string_equal(err.reason, reason);
    if (!strstr(err.message, needle))
        fail_msg("message \"%s\" does not mention \"%s\"", err.message, needle);
}

static void test_check_valid(void **state)
{
    (void)state;
    check_ok("{\"name\":\"Ada\"}");
    check_ok("{\"name\":\"Ada\",\"age\":36,\"admin\":false,\"tags\":[\"x\",\"yz\"]}");
    check_ok("{\"tags\":[\"x\"],\"name\":\"A\"}"); /* order does not matter */
}

static void test_check_unknown_field(void **state)
{
    (void)state;
    check_fails("{\"name\":\"Ada\",\"role\":\"x\"}", "unknown-field", "role");
    check_fails("{\"Name\":\"Ada\"}", "unknown-field", "Name"); /* case-sensitive */
}

static void test_check_duplicate_key(void **state)
{
    (void)state;
    check_fails("{\"name\":\"Ada\",\"name\":\"Bob\"}", "validation-failed", "name");
    check_fails("{\"name\":\"Ada\",\"age\":1,\"age\":1}", "validation-failed", "age");
}

static void test_check_wrong_type(void **state)
{
    (void)state;
    check_fails("{\"name\":1}", "validation-failed", "name");
    check_fails("{\"name\":null}", "validation-failed", "name");
    check_fails("{\"name\":[\"Ada\"]}", "validation-failed", "name");
    check_fails("{\"name\":\"Ada\",\"age\":\"36\"}", "validation-failed", "age");
    check_fails("{\"name\":\"Ada\",\"age\":36.5}", "validation-failed", "age");
    check_fails("{\"name\":\"Ada\",\"admin\":1}", "validation-failed", "admin");
    check_fails("{\"name\":\"Ada\",\"admin\":\"true\"}", "validation-failed", "admin");
    check_fails("{\"name\":\"Ada\",\"tags\":\"x\"}", "validation-failed", "tags");
    check_fails("{\"name\":\"Ada\",\"tags\":{\"0\":\"x\"}}", "validation-failed", "tags");
}

static void test_check_string_length_code_points(void **state)
{
    (void)state;
    /* Four characters of 3 bytes each (12 bytes) fit max 4 code points. */
    check_ok("{\"name\":\"\xe2\x9c\x93\xe2\x9c\x93\xe2\x9c\x93\xe2\x9c\x93\"}");
    /* Two 4-byte characters (U+1F600) plus two ASCII. */
    check_ok("{\"name\":\"\xf0\x9f\x98\x80\xf0\x9f\x98\x80hi\"}");
    /* The same characters written as JSON escapes, including a surrogate pair. */
    check_ok("{\"name\":\"\\u00e9\\u00e9\\ud83d\\ude00x\"}");
    /* Five characters are one too many, whatever their byte size. */
    check_fails("{\"name\":\"\xe2\x9c\x93\xe2\x9c\x93\xe2\x9c\x93\xe2\x9c\x93\xe2\x9c\x93\"}",
                "validation-failed", "name");
    check_fails("{\"name\":\"abcde\"}", "validation-failed", "name");
    /* Below the minimum. */
    check_fails("{\"name\":\"\"}", "validation-failed", "name");
}

static void test_check_embedded_nul(void **state)
{
    (void)state;
    hl_error_t err;
    bson_t doc;
    hl_error_clear(&err);
    const char *body = "{\"name\":\"a\\u0000b\"}";
    /* The parser keeps the NUL (BSON strings carry their length)... */
    assert_true(hl_json_parse_object(body, strlen(body), &doc, &err));
    uint32_t len = 0;
    assert_non_null(hl_json_get_string(&doc, "name", &len));
    assert_int_equal(len, 3);
    /* ...and the check refuses it, although "a\0b" is within the length bounds. */
    hl_error_clear(&err);
    assert_false(hl_json_check(&doc, fields, NFIELDS, &err));
    assert_int_equal(err.code, 422);
    assert_string_equal(err.reason, "validation-failed");
    assert_non_null(strstr(err.message, "NUL"));
    bson_destroy(&doc);

    /* A NUL in a key cannot be represented in BSON: the body is refused at parse time. */
    PARSE_FAILS("{\"a\\u0000\":1}", 400, "malformed-json");

    /* Also inside a string array element. */
    check_fails("{\"name\":\"a\",\"tags\":[\"x\\u0000\"]}", "validation-failed", "tags");
}

static void test_check_required_missing(void **state)
{
    (void)state;
    check_fails("{}", "validation-failed", "name");
    check_fails("{\"age\":3}", "validation-failed", "name");
}

static void test_check_int_bounds(void **state)
{
    (void)state;
    check_ok("{\"name\":\"A\",\"age\":0}");
    check_ok("{\"name\":\"A\",\"age\":150}");
    check_fails("{\"name\":\"A\",\"age\":-1}", "validation-failed", "age");
    check_fails("{\"name\":\"A\",\"age\":151}", "validation-failed", "age");
    /* An int64-sized value is still an integer, and out of bounds. */
    check_fails("{\"name\":\"A\",\"age\":9007199254740993}", "validation-failed", "age");
}

static void test_check_string_arrays(void **state)
{
    (void)state;
    check_ok("{\"name\":\"A\",\"tags\":[\"a\",\"b\",\"c\"]}");
    check_ok("{\"name\":\"A\",\"tags\":[\"\xe2\x9c\x93\xe2\x9c\x93\xe2\x9c\x93\xe2\x9c\x93"
             "\xe2\x9c\x93\"]}"); /* 5 code points = item_max_len */
    /* Too few / too many items. */
    check_fails("{\"name\":\"A\",\"tags\":[]}", "validation-failed", "tags");
    check_fails("{\"name\":\"A\",\"tags\":[\"a\",\"b\",\"c\",\"d\"]}", "validation-failed", "tags");
    /* An item too long, an empty item, a non-string item. */
    check_fails("{\"name\":\"A\",\"tags\":[\"abcdef\"]}", "validation-failed", "tags");
    check_fails("{\"name\":\"A\",\"tags\":[\"\"]}", "validation-failed", "tags");
    check_fails("{\"name\":\"A\",\"tags\":[\"a\",1]}", "validation-failed", "tags");
    check_fails("{\"name\":\"A\",\"tags\":[\"a\",null]}", "validation-failed", "tags");
    check_fails("{\"name\":\"A\",\"tags\":[[\"a\"]]}", "validation-failed", "tags");
}

static void test_utf8_length(void **state)
{
    (void)state;
    assert_int_equal(hl_utf8_length("", 0), 0);
    assert_int_equal(hl_utf8_length("abc", 3), 3);
    assert_int_equal(hl_utf8_length("\xc3\xa9", 2), 1);         /* U+00E9 */
    assert_int_equal(hl_utf8_length("\xe2\x9c\x93", 3), 1);     /* U+2713 */
    assert_int_equal(hl_utf8_length("\xf0\x9f\x98\x80", 4), 1); /* U+1F600 */
    assert_int_equal(hl_utf8_length("Ada Lovelace \xe2\x9c\x93", 16), 14);
    /* The length argument bounds the scan, NUL bytes included. */
    assert_int_equal(hl_utf8_length("ab\0cd", 5), 5);
    assert_int_equal(hl_utf8_length("abcdef", 2), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_empty),
        cmocka_unit_test(test_parse_not_object),
        cmocka_unit_test(test_parse_invalid_utf8),
        cmocka_unit_test(test_parse_malformed),
        cmocka_unit_test(test_parse_deep_nesting),
        cmocka_unit_test(test_parse_two_values),
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_check_valid),
        cmocka_unit_test(test_check_unknown_field),
        cmocka_unit_test(test_check_duplicate_key),
        cmocka_unit_test(test_check_wrong_type),
        cmocka_unit_test(test_check_string_length_code_points),
        cmocka_unit_test(test_check_embedded_nul),
        cmocka_unit_test(test_check_required_missing),
        cmocka_unit_test(test_check_int_bounds),
        cmocka_unit_test(test_check_string_arrays),
        cmocka_unit_test(test_utf8_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
