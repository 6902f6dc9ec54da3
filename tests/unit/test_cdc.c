/* Unit tests for projector/src/cdc.c: Debezium envelopes → read-model updates.
 * The golden envelopes in tests/golden/cdc_users_create.json and cdc_users_rename_full.json
 * (an update of `users` with REPLICA IDENTITY FULL: "before" holds the whole old row) were
 * captured from the real Debezium 3.2.3 PostgreSQL connector (pgoutput, JsonConverter,
 * schemas.enable=false). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cdc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", HL_TEST_GOLDEN_DIR, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = calloc(1, 1 << 16);
    *len = fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    return buf;
}

/* Field lookup by dotted path in a document. */
static bson_iter_t find(const bson_t *doc, const char *path)
{
    bson_iter_t it, out;
    assert_true(bson_iter_init(&it, doc));
    if (!bson_iter_find_descendant(&it, path, &out))
        fail_msg("no field %s", path);
    return out;
}

static void test_parse_real_envelope(void **state)
{
    (void)state;
    size_t len = 0;
    char *json = slurp("cdc_users_create.json", &len);
    pj_cdc_change_t c;
    hl_error_t err = {0};
    assert_true(pj_cdc_parse(json, len, &c, &err));
    assert_int_equal(c.op, 'c');
    assert_int_equal(c.lsn, 37335240);
    assert_int_equal(c.ts_ms, 1795237965242LL);
    assert_string_equal(c.table, "users");
    bson_iter_t it = find(&c.row, "display_name");
    assert_string_equal(bson_iter_utf8(&it, NULL), "Grace");

    bson_t filter, update;
    bool is_delete = true;
    assert_true(pj_user_profile_from_cdc(&c, &filter, &update, &is_delete, &err));
    assert_false(is_delete);
    it = find(&filter, "_id");
    assert_string_equal(bson_iter_utf8(&it, NULL), "0b6a3c1e-8f2d-4e7a-b9c4-5d1e2f3a4b5c");
    it = find(&filter, "version.$lt");
    assert_int_equal(bson_iter_as_int64(&it), 1);
    it = find(&update, "$set.display_name_lower");
    assert_string_equal(bson_iter_utf8(&it, NULL), "grace");
    it = find(&update, "$set.bio");
    assert_string_equal(bson_iter_utf8(&it, NULL), "compilers");
    it = find(&update, "$set.created_at");
    assert_true(BSON_ITER_HOLDS_DATE_TIME(&it));
    /* 2025-06-07T06:09:10.500Z */
    assert_int_equal(bson_iter_date_time(&it), 1749276550500LL);
    it = find(&update, "$set.version");
    assert_int_equal(bson_iter_as_int64(&it), 1);
    it = find(&update, "$set.source.lsn");
    assert_int_equal(bson_iter_as_int64(&it), 37335240);
    bson_destroy(&filter);
    bson_destroy(&update);
    pj_cdc_change_destroy(&c);
    free(json);
}

static void test_parse_update_with_before_image(void **state)
{
    (void)state;
    size_t len = 0;
    char *json = slurp("cdc_users_rename_full.json", &len);
    pj_cdc_change_t c;
    hl_error_t err = {0};
    assert_true(pj_cdc_parse(json, len, &c, &err));
    assert_int_equal(c.op, 'u');
    assert_true(c.has_before);
    bson_iter_t it = find(&c.row, "display_name");
    assert_string_equal(bson_iter_utf8(&it, NULL), "Zsrch028988f4 Renamed");
    it = find(&c.before, "display_name");
    assert_string_equal(bson_iter_utf8(&it, NULL), "Srch028988f4 Ann");
    it = find(&c.before, "version");
    assert_int_equal(bson_iter_as_int64(&it), 1);
    pj_cdc_change_destroy(&c);
    assert_false(c.has_before);
    free(json);

    /* the default identity: "before" is null on an update */
    const char *plain = "{\"op\":\"u\",\"before\":null,\"after\":{\"user_id\":\"x\"},"
                        "\"source\":{\"lsn\":1,\"ts_ms\":2}}";
    assert_true(pj_cdc_parse(plain, strlen(plain), &c, &err));
    assert_false(c.has_before);
    pj_cdc_change_destroy(&c);
}

static void test_snapshot_and_delete(void **state)
{
    (void)state;
    const char *snap =
        "{\"before\":null,\"after\":{\"user_id\":\"0b6a3c1e-8f2d-4e7a-b9c4-5d1e2f3a4b5c\","
        "\"display_name\":\"G\",\"bio\":\"\",\"avatar_url\":\"\",\"presence\":\"online\","
        "\"version\":7,\"created_at\":1700000000123456,\"updated_at\":\"2025-01-01T00:00:00Z\"},"
        "\"source\":{\"lsn\":10,\"ts_ms\":5,\"table\":\"users\",\"snapshot\":\"true\"},"
        "\"op\":\"r\",\"ts_ms\":6}";
    pj_cdc_change_t c;
    hl_error_t err = {0};
    assert_true(pj_cdc_parse(snap, strlen(snap), &c, &err));
    assert_int_equal(c.op, 'r');
    bson_t filter, update;
    bool is_delete = true;
    assert_true(pj_user_profile_from_cdc(&c, &filter, &update, &is_delete, &err));
    bson_iter_t it = find(&update, "$set.created_at"); /* MicroTimestamp as a number */
    assert_int_equal(bson_iter_date_time(&it), 1700000000123LL);
    it = find(&filter, "version.$lt");
    assert_int_equal(bson_iter_as_int64(&it), 7);
    bson_destroy(&filter);
    bson_destroy(&update);
    pj_cdc_change_destroy(&c);

    const char *del = "{\"before\":{\"user_id\":\"0b6a3c1e-8f2d-4e7a-b9c4-5d1e2f3a4b5c\","
                      "\"version\":0},\"after\":null,\"source\":{\"lsn\":11,\"ts_ms\":7},"
                      "\"op\":\"d\",\"ts_ms\":8}";
    assert_true(pj_cdc_parse(del, strlen(del), &c, &err));
    assert_int_equal(c.op, 'd');
    assert_true(pj_user_profile_from_cdc(&c, &filter, &update, &is_delete, &err));
    assert_true(is_delete);
    bson_destroy(&filter);
    bson_destroy(&update);
    pj_cdc_change_destroy(&c);
}

static void expect_bad_envelope(const char *json)
{
    pj_cdc_change_t c;
    hl_error_t err = {0};
    assert_false(pj_cdc_parse(json, strlen(json), &c, &err));
    assert_string_equal(err.reason, "bad-envelope");
    pj_cdc_change_destroy(&c); /* safe after a failed parse */
}

static void test_bad_envelopes(void **state)
{
    (void)state;
    expect_bad_envelope("not json");
    expect_bad_envelope("[1,2]");
    expect_bad_envelope("{\"after\":{},\"source\":{\"lsn\":1,\"ts_ms\":1}}"); /* no op */
    expect_bad_envelope(
        "{\"op\":\"x\",\"after\":{},\"source\":{\"lsn\":1,\"ts_ms\":1}}");       /* bad op */
    expect_bad_envelope("{\"op\":\"c\",\"after\":{},\"source\":{\"ts_ms\":1}}"); /* no lsn */
    expect_bad_envelope("{\"op\":\"c\",\"source\":{\"lsn\":1,\"ts_ms\":1}}");    /* no after */
    expect_bad_envelope("{\"op\":\"c\",\"after\":null,\"source\":{\"lsn\":1,\"ts_ms\":1}}");
    expect_bad_envelope("{\"op\":\"d\",\"after\":null,\"source\":{\"lsn\":1,\"ts_ms\":1}}");
}

static void test_bad_rows(void **state)
{
    (void)state;
    const char *rows[] = {
        /* no version */
        "{\"op\":\"c\",\"after\":{\"user_id\":\"0b6a3c1e-8f2d-4e7a-b9c4-5d1e2f3a4b5c\"},"
        "\"source\":{\"lsn\":1,\"ts_ms\":1}}",
        /* bad uuid */
        "{\"op\":\"c\",\"after\":{\"user_id\":\"nope\",\"version\":1},\"source\":{\"lsn\":1,"
        "\"ts_ms\":1}}",
        /* timestamp that is neither ISO-8601 nor a number */
        "{\"op\":\"u\",\"after\":{\"user_id\":\"0b6a3c1e-8f2d-4e7a-b9c4-5d1e2f3a4b5c\","
        "\"display_name\":\"G\",\"bio\":\"\",\"avatar_url\":\"\",\"presence\":\"online\","
        "\"version\":2,\"created_at\":\"yesterday\",\"updated_at\":1},"
        "\"source\":{\"lsn\":1,\"ts_ms\":1}}",
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        pj_cdc_change_t c;
        hl_error_t err = {0};
        assert_true(pj_cdc_parse(rows[i], strlen(rows[i]), &c, &err));
        bson_t filter, update;
        bool is_delete = false;
        assert_false(pj_user_profile_from_cdc(&c, &filter, &update, &is_delete, &err));
        assert_string_equal(err.reason, "bad-row");
        pj_cdc_change_destroy(&c);
    }
}

static void test_fold_case(void **state)
{
    (void)state;
    char out[64];
    pj_fold_case("Ada ÉLAN", out, sizeof out);
    assert_string_equal(out, "ada Élan"); /* ASCII folded, other bytes untouched */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_real_envelope),
        cmocka_unit_test(test_parse_update_with_before_image),
        cmocka_unit_test(test_snapshot_and_delete),
        cmocka_unit_test(test_bad_envelopes),
        cmocka_unit_test(test_bad_rows),
        cmocka_unit_test(test_fold_case),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
