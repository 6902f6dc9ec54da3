/* Unit tests for the load generator's BSON comparison (bench/loadgen/lg_bson_cmp.h): equality
 * across number types, strings, dates, documents as maps, arrays as sets, unsupported types;
 * the field-by-field report and the text of values in mismatch lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lg_bson_cmp.h"

#include <stdio.h>
#include <string.h>

/* Documents from relaxed extended JSON, as the verifier's expectations read. */
static bson_t *doc(const char *json)
{
    bson_error_t e;
    bson_t *b = bson_new_from_json((const uint8_t *)json, -1, &e);
    if (!b)
        fail_msg("bad test JSON %s: %s", json, e.message);
    return b;
}

/* The values of field "v" of two documents equal? */
static bool v_equal(const char *ja, const char *jb)
{
    bson_t *a = doc(ja), *b = doc(jb);
    bson_iter_t ia, ib;
    assert_true(bson_iter_init_find(&ia, a, "v"));
    assert_true(bson_iter_init_find(&ib, b, "v"));
    bool eq = lg_bson_values_equal(&ia, &ib);
    assert_int_equal(eq, lg_bson_values_equal(&ib, &ia)); /* symmetric */
    bson_destroy(a);
    bson_destroy(b);
    return eq;
}

static void test_numbers_across_types(void **state)
{
    (void)state;
    bson_t a = BSON_INITIALIZER, b = BSON_INITIALIZER, c = BSON_INITIALIZER;
    BSON_APPEND_INT32(&a, "v", 5);
    BSON_APPEND_INT64(&b, "v", 5);
    BSON_APPEND_DOUBLE(&c, "v", 5.0);
    bson_iter_t ia, ib, ic;
    bson_iter_init_find(&ia, &a, "v");
    bson_iter_init_find(&ib, &b, "v");
    bson_iter_init_find(&ic, &c, "v");
    assert_true(lg_bson_values_equal(&ia, &ib));
    assert_true(lg_bson_values_equal(&ia, &ic));
    assert_true(lg_bson_values_equal(&ib, &ic));
    assert_true(lg_bson_is_number(bson_iter_type(&ia)));
    assert_true(lg_bson_is_number(bson_iter_type(&ic)));
    assert_false(lg_bson_is_number(BSON_TYPE_UTF8));
    assert_false(lg_bson_is_number(BSON_TYPE_DECIMAL128));
    bson_destroy(&a);
    bson_destroy(&b);
    bson_destroy(&c);
    assert_false(v_equal("{\"v\": 5}", "{\"v\": 5.5}"));
    assert_false(v_equal("{\"v\": 5}", "{\"v\": -5}"));
    /* two int64s compare exactly, beyond a double's 53 bits */
    bson_t x = BSON_INITIALIZER, y = BSON_INITIALIZER;
    BSON_APPEND_INT64(&x, "v", (INT64_C(1) << 53) + 1);
    BSON_APPEND_INT64(&y, "v", INT64_C(1) << 53);
    bson_iter_t ix, iy;
    bson_iter_init_find(&ix, &x, "v");
    bson_iter_init_find(&iy, &y, "v");
    assert_false(lg_bson_values_equal(&ix, &iy));
    bson_destroy(&x);
    bson_destroy(&y);
}

static void test_scalars(void **state)
{
    (void)state;
    assert_true(v_equal("{\"v\": \"Zoë\"}", "{\"v\": \"Zoë\"}"));
    assert_false(v_equal("{\"v\": \"abc\"}", "{\"v\": \"abcd\"}"));
    assert_false(v_equal("{\"v\": \"abc\"}", "{\"v\": \"ABC\"}"));
    assert_false(v_equal("{\"v\": \"5\"}", "{\"v\": 5}")); /* no coercion from strings */
    assert_true(v_equal("{\"v\": null}", "{\"v\": null}"));
    assert_false(v_equal("{\"v\": null}", "{\"v\": 0}"));
    assert_false(v_equal("{\"v\": null}", "{\"v\": false}"));
    assert_true(v_equal("{\"v\": true}", "{\"v\": true}"));
    assert_false(v_equal("{\"v\": true}", "{\"v\": false}"));
    assert_false(v_equal("{\"v\": true}", "{\"v\": 1}"));
    assert_true(v_equal("{\"v\": {\"$date\": \"2026-12-03T05:00:00.123Z\"}}",
                        "{\"v\": {\"$date\": \"2026-12-03T05:00:00.123Z\"}}"));
    assert_false(v_equal("{\"v\": {\"$date\": \"2026-12-03T05:00:00.123Z\"}}",
                         "{\"v\": {\"$date\": \"2026-12-03T05:00:00.124Z\"}}"));
    /* strings with an embedded NUL compare over their whole length */
    bson_t a = BSON_INITIALIZER, b = BSON_INITIALIZER;
    bson_append_utf8(&a, "v", 1, "ab\0c", 4);
    bson_append_utf8(&b, "v", 1, "ab\0d", 4);
    bson_iter_t ia, ib;
    bson_iter_init_find(&ia, &a, "v");
    bson_iter_init_find(&ib, &b, "v");
    assert_false(lg_bson_values_equal(&ia, &ib));
    bson_destroy(&a);
    bson_destroy(&b);
}

static void test_documents_as_maps(void **state)
{
    (void)state;
    assert_true(v_equal("{\"v\": {\"a\": 1, \"b\": \"x\"}}", "{\"v\": {\"b\": \"x\", \"a\": 1}}"));
    assert_false(v_equal("{\"v\": {\"a\": 1}}", "{\"v\": {\"a\": 1, \"b\": 2}}"));
    assert_false(v_equal("{\"v\": {\"a\": 1, \"b\": 2}}", "{\"v\": {\"a\": 1, \"c\": 2}}"));
    assert_true(v_equal("{\"v\": {\"a\": {\"n\": [1, 2]}}}", "{\"v\": {\"a\": {\"n\": [2, 1]}}}"));
    assert_false(v_equal("{\"v\": {\"a\": {\"n\": 1}}}", "{\"v\": {\"a\": {\"n\": 2}}}"));
    assert_true(v_equal("{\"v\": {}}", "{\"v\": {}}"));
    /* a document is not an array with the same values */
    assert_false(v_equal("{\"v\": {\"0\": \"a\"}}", "{\"v\": [\"a\"]}"));
    bson_t *x = doc("{\"a\": 1, \"b\": [\"p\", \"q\"]}"),
           *y = doc("{\"b\": [\"q\", \"p\"], \"a\": 1}");
    assert_true(lg_bson_docs_equal(x, y, false));
    bson_destroy(x);
    bson_destroy(y);
}

static void test_arrays_as_sets(void **state)
{
    (void)state;
    assert_true(v_equal("{\"v\": [\"a\", \"b\", \"c\"]}", "{\"v\": [\"c\", \"a\", \"b\"]}"));
    assert_false(v_equal("{\"v\": [\"a\", \"b\"]}", "{\"v\": [\"a\", \"c\"]}"));
    assert_false(v_equal("{\"v\": [\"a\", \"b\"]}", "{\"v\": [\"a\", \"b\", \"b\"]}"));
    assert_true(v_equal("{\"v\": []}", "{\"v\": []}"));
    assert_false(v_equal("{\"v\": []}", "{\"v\": [null]}"));
    assert_true(
        v_equal("{\"v\": [{\"id\": 1}, {\"id\": 2}]}", "{\"v\": [{\"id\": 2}, {\"id\": 1}]}"));
    assert_true(v_equal("{\"v\": [1, 2.0]}", "{\"v\": [2, 1]}"));
}

/* Types an expected document never holds are never equal, not even to themselves. */
static void test_other_types_never_equal(void **state)
{
    (void)state;
    assert_false(v_equal("{\"v\": {\"$oid\": \"5f0000000000000000000001\"}}",
                         "{\"v\": {\"$oid\": \"5f0000000000000000000001\"}}"));
    assert_false(
        v_equal("{\"v\": {\"$numberDecimal\": \"1\"}}", "{\"v\": {\"$numberDecimal\": \"1\"}}"));
}

/* lg_bson_compare_fields' report, collected as "field:want-type:got-type" lines. */
typedef struct {
    char lines[512];
    int n;
} diffs_t;

static void collect(void *ud, const char *field, const bson_iter_t *want, const bson_iter_t *got)
{
    diffs_t *d = ud;
    size_t used = strlen(d->lines);
    snprintf(d->lines + used, sizeof d->lines - used, "%s:%d:%d;", field, (int)bson_iter_type(want),
             got ? (int)bson_iter_type(got) : -1);
    d->n++;
}

static void test_compare_fields(void **state)
{
    (void)state;
    bson_t *want = doc("{\"name\": \"Ann\", \"friends\": 3, \"bio\": null, \"unread\": 0,"
                       " \"tags\": [\"a\", \"b\"]}");
    /* the same content in another order and with projector bookkeeping: no difference */
    bson_t *same =
        doc("{\"tags\": [\"b\", \"a\"], \"unread\": 0, \"friends\": 3.0, \"name\": \"Ann\","
            " \"applied\": 17, \"source\": \"x\"}");
    diffs_t d = {{0}, 0};
    lg_bson_compare_fields(want, same, false, collect, &d);
    assert_int_equal(d.n, 0);

    /* a different value, a missing string and a missing zero: three, or two with zero_if_absent */
    bson_t *other = doc("{\"name\": \"Anne\", \"friends\": 3, \"tags\": [\"a\", \"b\"]}");
    memset(&d, 0, sizeof d);
    lg_bson_compare_fields(want, other, false, collect, &d);
    assert_int_equal(d.n, 2);
    assert_string_equal(d.lines, "name:2:2;unread:16:-1;");
    memset(&d, 0, sizeof d);
    lg_bson_compare_fields(want, other, true, collect, &d);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.lines, "name:2:2;");

    /* a null expected and absent is no difference; a null expected and a value present is */
    bson_t *bio =
        doc("{\"name\": \"Ann\", \"friends\": 3, \"bio\": \"hi\", \"unread\": 0, \"tags\": []}");
    memset(&d, 0, sizeof d);
    lg_bson_compare_fields(want, bio, false, collect, &d);
    assert_string_equal(d.lines, "bio:10:2;tags:4:4;");

    /* a non-zero number absent is a difference even with zero_if_absent */
    bson_t *w2 = doc("{\"friends\": 2}"), *empty = doc("{}");
    memset(&d, 0, sizeof d);
    lg_bson_compare_fields(w2, empty, true, collect, &d);
    assert_string_equal(d.lines, "friends:16:-1;");
    bson_destroy(want);
    bson_destroy(same);
    bson_destroy(other);
    bson_destroy(bio);
    bson_destroy(w2);
    bson_destroy(empty);
}

/* The text of field "v" of a JSON document. */
static void text_of(const char *json, char *out, size_t cap)
{
    bson_t *b = doc(json);
    bson_iter_t it;
    assert_true(bson_iter_init_find(&it, b, "v"));
    lg_bson_value_text(&it, out, cap);
    bson_destroy(b);
}

static void test_value_text(void **state)
{
    (void)state;
    char t[400];
    lg_bson_value_text(NULL, t, sizeof t);
    assert_string_equal(t, "(absent)");
    text_of("{\"v\": \"two\\nlines\\tand a tab\"}", t, sizeof t);
    assert_string_equal(t, "\"two lines and a tab\"");
    text_of("{\"v\": 42}", t, sizeof t);
    assert_string_equal(t, "42");
    text_of("{\"v\": {\"$numberLong\": \"-9000000000\"}}", t, sizeof t);
    assert_string_equal(t, "-9000000000");
    text_of("{\"v\": 2.5}", t, sizeof t);
    assert_string_equal(t, "2.5");
    text_of("{\"v\": false}", t, sizeof t);
    assert_string_equal(t, "false");
    text_of("{\"v\": null}", t, sizeof t);
    assert_string_equal(t, "null");
    text_of("{\"v\": {\"$date\": \"2026-12-03T05:06:07.089Z\"}}", t, sizeof t);
    assert_string_equal(t, "2026-12-03T05:06:07.089000Z");
    text_of("{\"v\": [\"a\", 1]}", t, sizeof t);
    assert_string_equal(t, "{ \"0\" : \"a\", \"1\" : 1 }");
    text_of("{\"v\": {\"$oid\": \"5f0000000000000000000001\"}}", t, sizeof t);
    assert_string_equal(t, "(bson type 7)");
    /* a long string is cut at 120 bytes and marked */
    char json[400], want[200];
    memset(want, 0, sizeof want);
    want[0] = '"';
    memset(want + 1, 'x', 120);
    memcpy(want + 121, "…\"", strlen("…\"") + 1);
    snprintf(
        json, sizeof json, "{\"v\": \"%.200s\"}",
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        "x");
    text_of(json, t, sizeof t);
    assert_string_equal(t, want);
    /* a small buffer gets a NUL-terminated prefix */
    text_of("{\"v\": \"abcdef\"}", t, 4);
    assert_string_equal(t, "\"ab");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers_across_types),
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_documents_as_maps),
        cmocka_unit_test(test_arrays_as_sets),
        cmocka_unit_test(test_other_types_never_equal),
        cmocka_unit_test(test_compare_fields),
        cmocka_unit_test(test_value_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
