/* Unit tests for the CDC decode path of every captured table (projector/src/cdc.c, cdc_models.c):
 * a row whose columns arrive with the wrong JSON type, missing, null, empty or oversized must
 * be refused with reason "bad-row" (the projector dead-letters it) or planned, never crash
 * (issue 17: a sessions delete whose key was a JSON number reached BSON_APPEND_UTF8 with NULL).
 *
 * For each table and each op (c, u, r, d) a valid row is taken apart column by column, and each
 * column in turn is replaced by every value of a list of ill-typed ones (or removed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cdc_models.h"
#include "event_models.h"

#include <stdio.h>
#include <string.h>

#define U1 "0b6a3c1e-8f2d-4e7a-b9c4-5d1e2f3a4b5c"
#define U2 "1b6a3c1e-8f2d-4e7a-b9c4-5d1e2f3a4b5c"
#define TS "\"2025-01-01T00:00:00Z\""

/* A valid after image of each captured table (columns as Debezium's JsonConverter emits them). */
static const struct {
    const char *table;
    const char *row;
} tables[] = {
    {"users", "{\"user_id\":\"" U1 "\",\"display_name\":\"Ada\",\"bio\":\"\",\"avatar_url\":\"\","
              "\"presence\":\"online\",\"version\":2,\"created_at\":" TS ",\"updated_at\":" TS "}"},
    {"sessions", "{\"session_id\":\"" U2 "\",\"user_id\":\"" U1 "\",\"created_at\":" TS
                 ",\"expires_at\":" TS ",\"revoked_at\":null,\"version\":1}"},
    {"chat_rooms", "{\"room_id\":\"" U2 "\",\"kind\":\"direct\",\"title\":null,\"created_by\":\"" U1
                   "\",\"direct_key\":\"a:b\",\"last_seq\":3,\"created_at\":" TS
                   ",\"updated_at\":" TS ",\"version\":4}"},
    {"room_members", "{\"room_id\":\"" U2 "\",\"user_id\":\"" U1 "\",\"joined_at\":" TS
                     ",\"last_read_seq\":0,\"room_version\":2}"},
    {"messages",
     "{\"message_id\":\"" U1 "\",\"room_id\":\"" U2 "\",\"seq\":7,\"sender_id\":\"" U1
     "\",\"body\":\"hi\",\"client_message_id\":\"c-1\",\"created_at\":" TS ",\"room_version\":8}"},
    {"jobs",
     "{\"job_id\":\"" U2 "\",\"owner_id\":\"" U1 "\",\"kind\":\"booking\",\"status\":"
     "\"running\",\"booking_id\":\"" U1 "\",\"steps\":\"[{\\\"step\\\":\\\"hold\\\"}]\","
     "\"result\":null,\"error\":null,\"created_at\":" TS ",\"updated_at\":" TS ",\"version\":3}"},
};

/* What replaces one column: a JSON value, or NULL = the column is removed. */
static const char *const bad_values[] = {
    "123",
    "-1",
    "1.5",
    "true",
    "null",
    "{}",
    "[]",
    "{\"a\":1}",
    "[\"" U1 "\"]",
    "\"\"",
    "\"x\"",
    "\"2025-13-45T99:99:99Z\"",
    "9223372036854775807",
    NULL,
};

static char long_string[1200];

static bool plan_envelope(const char *table, char op, const bson_t *row, hl_error_t *err,
                          bool *parsed)
{
    char *row_json = bson_as_relaxed_extended_json(row, NULL);
    char env[8192];
    snprintf(env, sizeof env,
             "{\"op\":\"%c\",\"%s\":%s,\"%s\":null,\"source\":{\"lsn\":5,\"ts_ms\":6,"
             "\"table\":\"%s\"}}",
             op, op == 'd' ? "before" : "after", row_json, op == 'd' ? "after" : "before", table);
    bson_free(row_json);
    pj_cdc_change_t c;
    pj_plan_t p;
    memset(err, 0, sizeof *err);
    *parsed = pj_cdc_parse(env, strlen(env), &c, err);
    if (!*parsed)
        return false;
    pj_plan_init(&p);
    bool ok = pj_cdc_plan(table, &c, &p, err);
    /* every planned _id is a non-empty string (a NULL or empty key would address nothing) */
    for (size_t i = 0; ok && i < p.n; i++) {
        bson_iter_t it;
        if (bson_iter_init_find(&it, &p.ops[i]->filter, "_id") && BSON_ITER_HOLDS_UTF8(&it))
            assert_true(bson_iter_utf8(&it, NULL)[0] != '\0');
    }
    pj_plan_destroy(&p);
    pj_cdc_change_destroy(&c);
    return ok;
}

/* row with column col replaced by value (JSON text; NULL = removed) into out. */
static void replace_column(const bson_t *row, const char *col, const char *value, bson_t *out)
{
    bson_init(out);
    bson_iter_t it;
    assert_true(bson_iter_init(&it, row));
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        if (strcmp(key, col) != 0) {
            assert_true(bson_append_iter(out, key, -1, &it));
            continue;
        }
        if (!value)
            continue;
        char wrap[1400];
        snprintf(wrap, sizeof wrap, "{\"v\":%s}", value);
        bson_error_t berr;
        bson_t *v = bson_new_from_json((const uint8_t *)wrap, -1, &berr);
        assert_non_null(v);
        bson_iter_t vi;
        assert_true(bson_iter_init_find(&vi, v, "v"));
        assert_true(bson_append_iter(out, key, -1, &vi));
        bson_destroy(v);
    }
}

static void test_every_column_every_type(void **state)
{
    (void)state;
    memset(long_string, 'k', sizeof long_string);
    long_string[0] = '"';
    long_string[sizeof long_string - 2] = '"';
    long_string[sizeof long_string - 1] = '\0';
    static const char ops[] = {'c', 'u', 'r', 'd'};
    size_t cases = 0, refused = 0;
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
        bson_error_t berr;
        bson_t *row = bson_new_from_json((const uint8_t *)tables[t].row, -1, &berr);
        assert_non_null(row);
        for (size_t o = 0; o < sizeof ops; o++) {
            hl_error_t err;
            bool parsed = false;
            /* the valid row plans */
            if (!plan_envelope(tables[t].table, ops[o], row, &err, &parsed))
                fail_msg("%s %c: valid row refused: %s", tables[t].table, ops[o], err.message);
            bson_iter_t it;
            assert_true(bson_iter_init(&it, row));
            while (bson_iter_next(&it)) {
                const char *col = bson_iter_key(&it);
                size_t nvalues = sizeof bad_values / sizeof bad_values[0];
                for (size_t v = 0; v <= nvalues; v++) {
                    const char *value = v < nvalues ? bad_values[v] : long_string;
                    bson_t bad;
                    replace_column(row, col, value, &bad);
                    if (!plan_envelope(tables[t].table, ops[o], &bad, &err, &parsed)) {
                        assert_true(parsed);
                        if (strcmp(err.reason, "bad-row") != 0)
                            fail_msg("%s %c %s=%.40s: reason %s (%s)", tables[t].table, ops[o], col,
                                     value ? value : "(missing)", err.reason, err.message);
                        refused++;
                    }
                    cases++;
                    bson_destroy(&bad);
                }
            }
        }
        bson_destroy(row);
    }
    print_message("%zu ill-typed rows planned without crash, %zu refused as bad-row\n", cases,
                  refused);
    assert_true(refused > 0);
}

/* The defect of issue 17: a sessions delete whose key is a JSON number (and the other single-
 * column deletes) is refused as bad-row. */
static void test_delete_with_numeric_key(void **state)
{
    (void)state;
    static const struct {
        const char *table, *key;
    } keyed[] = {{"sessions", "session_id"}, {"chat_rooms", "room_id"}, {"users", "user_id"}};
    for (size_t i = 0; i < sizeof keyed / sizeof keyed[0]; i++) {
        char env[512];
        snprintf(env, sizeof env,
                 "{\"op\":\"d\",\"before\":{\"%s\":42},\"after\":null,"
                 "\"source\":{\"lsn\":5,\"ts_ms\":6}}",
                 keyed[i].key);
        pj_cdc_change_t c;
        pj_plan_t p;
        hl_error_t err = {0};
        assert_true(pj_cdc_parse(env, strlen(env), &c, &err));
        pj_plan_init(&p);
        assert_false(pj_cdc_plan(keyed[i].table, &c, &p, &err));
        assert_string_equal(err.reason, "bad-row");
        pj_plan_destroy(&p);
        pj_cdc_change_destroy(&c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delete_with_numeric_key),
        cmocka_unit_test(test_every_column_every_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
