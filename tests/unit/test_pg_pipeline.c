/* Unit tests for hl/pg_pipeline.h without a server: the process-wide statement table, and every
 * call on a connection that never connected (errors with libpq's message, nothing left queued,
 * out pointers reset). Pipelines against PostgreSQL run in every command of the e2e suites. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hl/pg_pipeline.h"

#include <stdio.h>
#include <string.h>

/* A socket directory that does not exist: libpq fails at once, without a network. */
#define NO_SERVER "host=/nonexistent-hearlers-test-socket-dir port=1 connect_timeout=1"

static void test_statement_id_by_text(void **state)
{
    (void)state;
    static const char a[] = "SELECT 1 /* test_statement_id_by_text a */";
    static const char b[] = "SELECT 2 /* test_statement_id_by_text b */";
    static char a_copy[sizeof a];
    memcpy(a_copy, a, sizeof a);
    int id_a = hl_pg_statement_id(a);
    assert_true(id_a >= 0);
    assert_true(id_a < HL_PG_MAX_STATEMENTS);
    assert_int_equal(hl_pg_statement_id(a), id_a);      /* same pointer */
    assert_int_equal(hl_pg_statement_id(a_copy), id_a); /* equal text elsewhere */
    int id_b = hl_pg_statement_id(b);
    assert_true(id_b >= 0);
    assert_int_not_equal(id_b, id_a);
    assert_int_equal(hl_pg_statement_id(b), id_b);
}

static void test_open_without_connection(void **state)
{
    (void)state;
    hl_pg_pipeline_t pl;
    hl_error_t err = {0};
    assert_false(hl_pg_pipeline_open(&pl, NULL, true, &err));
    assert_int_equal(err.domain, HL_ERR_PG);
    assert_non_null(strstr(err.message, "connection pointer is NULL"));
    assert_null(pl.conn);
    assert_int_equal(pl.npending, 0);
}

static void test_flush_nothing_queued(void **state)
{
    (void)state;
    PGconn *conn = PQconnectdb(NO_SERVER);
    assert_int_equal(PQstatus(conn), CONNECTION_BAD);
    hl_pg_pipeline_t pl;
    hl_error_t err = {0};
    assert_true(hl_pg_pipeline_open(&pl, conn, false, &err));
    /* Nothing queued: no round trip, and err is not touched. */
    hl_error_set_reason(&err, HL_ERR_DOMAIN, 409, "sentinel", "left alone");
    assert_true(hl_pg_pipeline_flush(&pl, &err));
    assert_int_equal(err.domain, HL_ERR_DOMAIN);
    assert_string_equal(err.reason, "sentinel");
    assert_true(hl_pg_pipeline_close(&pl));
    PQfinish(conn);
}

/* Every call that sends fails with libpq's message and leaves nothing queued; results the caller
 * asked for are NULL. */
static void check_send_failures(bool prepare)
{
    PGconn *conn = PQconnectdb(NO_SERVER);
    assert_int_equal(PQstatus(conn), CONNECTION_BAD);
    hl_pg_pipeline_t pl;
    hl_error_t err = {0};
    assert_true(hl_pg_pipeline_open(&pl, conn, prepare, &err));
    assert_ptr_equal(pl.conn, conn);
    assert_true(pl.prepare == prepare);

    PGresult *sentinel = (PGresult *)&err; /* any non-NULL pointer: must be overwritten */
    PGresult *out = sentinel;
    const char *params[1] = {"x"};
    assert_false(hl_pg_pipeline_queue(&pl, "SELECT $1::text /* send failures */", 1, params, NULL,
                                      NULL, &out, &err));
    assert_int_equal(err.domain, HL_ERR_PG);
    assert_non_null(strstr(err.message, "no connection to the server"));
    assert_int_equal(err.message[strlen(err.message) - 1] == '\n', 0); /* newline trimmed */
    assert_null(out);
    assert_int_equal(pl.npending, 0); /* not even a PREPARE is left pending */

    hl_error_clear(&err);
    out = sentinel;
    assert_false(hl_pg_pipeline_exec(&pl, "SELECT 1 /* send failures */", 0, NULL, &out, &err));
    assert_int_equal(err.domain, HL_ERR_PG);
    assert_null(out);
    assert_int_equal(pl.npending, 0);

    hl_error_clear(&err);
    bool found = true;
    int64_t value = 42;
    assert_false(
        hl_pg_pipeline_int(&pl, "SELECT 1 /* send failures */", 0, NULL, &found, &value, &err));
    assert_int_equal(err.domain, HL_ERR_PG);

    hl_error_clear(&err);
    assert_false(hl_pg_pipeline_queue_control(&pl, "BEGIN", &err));
    assert_int_equal(err.domain, HL_ERR_PG);
    assert_int_equal(pl.npending, 0);

    hl_error_clear(&err);
    assert_false(hl_pg_pipeline_commit(&pl, &err));
    assert_int_equal(err.domain, HL_ERR_PG);
    assert_int_equal(pl.npending, 0);

    /* Rolling back a connection that is not in a transaction does nothing. */
    hl_pg_pipeline_rollback(&pl);
    assert_int_equal(pl.npending, 0);
    assert_true(hl_pg_pipeline_close(&pl));
    PQfinish(conn);
}

static void test_send_failures_unprepared(void **state)
{
    (void)state;
    check_send_failures(false);
}

static void test_send_failures_prepared(void **state)
{
    (void)state;
    check_send_failures(true);
}

/* Last: fills the process-wide table. */
static void test_statement_table_full(void **state)
{
    (void)state;
    static char texts[HL_PG_MAX_STATEMENTS + 1][48];
    static const char first[] = "SELECT 'first' /* test_statement_table_full */";
    int id_first = hl_pg_statement_id(first);
    assert_true(id_first >= 0);
    int registered = -1, last = id_first;
    for (int i = 0; i <= HL_PG_MAX_STATEMENTS; i++) {
        snprintf(texts[i], sizeof texts[i], "SELECT %d /* full */", i);
        int id = hl_pg_statement_id(texts[i]);
        if (id < 0) {
            registered = i;
            break;
        }
        assert_int_equal(id, last + 1); /* ids are dense, in registration order */
        last = id;
    }
    /* The table holds exactly HL_PG_MAX_STATEMENTS texts; the rest are sent unprepared. */
    assert_true(registered >= 0);
    assert_int_equal(last, HL_PG_MAX_STATEMENTS - 1);
    assert_int_equal(hl_pg_statement_id(texts[registered]), -1);
    /* Texts registered before keep their ids. */
    assert_int_equal(hl_pg_statement_id(first), id_first);
    assert_int_equal(hl_pg_statement_id(texts[0]), id_first + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_statement_id_by_text),
        cmocka_unit_test(test_open_without_connection),
        cmocka_unit_test(test_flush_nothing_queued),
        cmocka_unit_test(test_send_failures_unprepared),
        cmocka_unit_test(test_send_failures_prepared),
        cmocka_unit_test(test_statement_table_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
