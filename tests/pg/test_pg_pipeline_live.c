/* hl/pg_pipeline.h against a real PostgreSQL (tests/pg/run.sh starts a throwaway cluster and
 * passes its conninfo in HL_TEST_PG_CONNINFO): results in order, the first error aborts the rest
 * of its batch and clears every result, custom SQLSTATEs come back as err.sqlstate, statements are
 * prepared once per connection (and again after a failed PREPARE or a PQreset), a full queue
 * flushes itself, and close leaves the connection idle and out of pipeline mode. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hl/pg_pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static PGconn *connect_db(void)
{
    const char *conninfo = getenv("HL_TEST_PG_CONNINFO");
    assert_non_null(conninfo);
    PGconn *conn = PQconnectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK)
        fail_msg("cannot connect: %s", PQerrorMessage(conn));
    return conn;
}

/* Run sql outside any pipeline (setup and checks). */
static void plain(PGconn *conn, const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

static long long plain_int(PGconn *conn, const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    long long v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

static int group_setup(void **state)
{
    (void)state;
    PGconn *conn = connect_db();
    plain(conn, "CREATE TABLE IF NOT EXISTS pipeline_rows (n int PRIMARY KEY)");
    plain(conn, "CREATE OR REPLACE FUNCTION raise_hl401() RETURNS void LANGUAGE plpgsql AS"
                " $$ BEGIN RAISE EXCEPTION 'session gone' USING ERRCODE = 'HL401'; END $$");
    PQfinish(conn);
    return 0;
}

static void check_results_in_order(bool prepare)
{
    PGconn *conn = connect_db();
    hl_pg_pipeline_t pl;
    hl_error_t err = {0};
    assert_true(hl_pg_pipeline_open(&pl, conn, prepare, &err));
    PGresult *a = NULL, *b = NULL, *c = NULL;
    const char *p1[1] = {"one"}, *p2[1] = {"two"};
    assert_true(hl_pg_pipeline_queue(&pl, "SELECT $1::text AS v", 1, p1, NULL, NULL, &a, &err));
    assert_true(hl_pg_pipeline_queue(&pl, "SELECT $1::text AS v", 1, p2, NULL, NULL, &b, &err));
    assert_null(a); /* not read yet */
    assert_true(hl_pg_pipeline_exec(&pl, "SELECT 3", 0, NULL, &c, &err));
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(PQgetvalue(a, 0, 0), "one");
    assert_string_equal(PQgetvalue(b, 0, 0), "two");
    assert_string_equal(PQgetvalue(c, 0, 0), "3");
    PQclear(a);
    PQclear(b);
    PQclear(c);

    bool found = false;
    int64_t value = 0;
    assert_true(hl_pg_pipeline_int(&pl, "SELECT 42::bigint", 0, NULL, &found, &value, &err));
    assert_true(found);
    assert_int_equal(value, 42);
    assert_true(hl_pg_pipeline_int(&pl, "SELECT 1 WHERE false", 0, NULL, &found, &value, &err));
    assert_false(found);
    assert_int_equal(value, 0);
    assert_true(hl_pg_pipeline_int(&pl, "SELECT NULL::bigint", 0, NULL, &found, &value, &err));
    assert_false(found);
    assert_true(hl_pg_pipeline_close(&pl));
    assert_int_equal(PQpipelineStatus(conn), PQ_PIPELINE_OFF);
    PQfinish(conn);
}

static void test_results_in_order_prepared(void **state)
{
    (void)state;
    check_results_in_order(true);
}

static void test_results_in_order_unprepared(void **state)
{
    (void)state;
    check_results_in_order(false);
}

static void test_first_error_aborts_batch(void **state)
{
    (void)state;
    PGconn *conn = connect_db();
    hl_pg_pipeline_t pl;
    hl_error_t err = {0};
    assert_true(hl_pg_pipeline_open(&pl, conn, true, &err));
    PGresult *a = NULL, *c = NULL;
    assert_true(hl_pg_pipeline_queue(&pl, "SELECT 1", 0, NULL, NULL, NULL, &a, &err));
    assert_true(hl_pg_pipeline_queue(&pl, "SELECT 1/0", 0, NULL, NULL, NULL, NULL, &err));
    assert_true(hl_pg_pipeline_queue(&pl, "SELECT 2", 0, NULL, NULL, NULL, &c, &err));
    assert_false(hl_pg_pipeline_flush(&pl, &err));
    assert_int_equal(err.domain, HL_ERR_PG);
    assert_string_equal(err.sqlstate, "22012"); /* division_by_zero */
    assert_non_null(strstr(err.message, "division by zero"));
    assert_null(a); /* cleared, though it succeeded */
    assert_null(c); /* never ran */
    assert_int_equal(pl.npending, 0);

    /* The pipeline is usable after the failed batch. */
    hl_error_clear(&err);
    PGresult *r = NULL;
    assert_true(hl_pg_pipeline_exec(&pl, "SELECT 'after'", 0, NULL, &r, &err));
    assert_string_equal(PQgetvalue(r, 0, 0), "after");
    PQclear(r);

    /* A custom SQLSTATE (hl_require_session's HL401) is err.sqlstate as is. */
    assert_false(hl_pg_pipeline_exec(&pl, "SELECT raise_hl401()", 0, NULL, &r, &err));
    assert_null(r);
    assert_string_equal(err.sqlstate, "HL401");
    assert_true(hl_pg_pipeline_close(&pl));
    PQfinish(conn);
}

/* How many of this connection's prepared statements are named name. */
static long long prepared_named(hl_pg_pipeline_t *pl, const char *name)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_prepared_statements WHERE name = '%s'",
             name);
    /* Asked through the pipeline itself: PQexec is not allowed in pipeline mode. */
    static char texts[8][160];
    static int used;
    assert_true(used < 8);
    snprintf(texts[used], sizeof texts[used], "%s", sql);
    bool found = false;
    int64_t n = -1;
    hl_error_t err = {0};
    assert_true(hl_pg_pipeline_int(pl, texts[used++], 0, NULL, &found, &n, &err));
    return n;
}

static void test_prepared_once_per_connection(void **state)
{
    (void)state;
    static const char sql[] = "SELECT $1::int + 1 /* prepared once */";
    int id = hl_pg_statement_id(sql);
    assert_true(id >= 0);
    char name[32];
    snprintf(name, sizeof name, "hl_stmt_%d", id);

    PGconn *conn = connect_db();
    hl_pg_pipeline_t pl;
    hl_error_t err = {0};
    assert_true(hl_pg_pipeline_open(&pl, conn, true, &err));
    assert_int_equal(prepared_named(&pl, name), 0);
    for (int i = 0; i < 3; i++) {
        const char *p[1] = {"41"};
        PGresult *r = NULL;
        assert_true(hl_pg_pipeline_exec(&pl, sql, 1, p, &r, &err));
        assert_string_equal(PQgetvalue(r, 0, 0), "42");
        PQclear(r);
    }
    assert_int_equal(prepared_named(&pl, name), 1);
    assert_true(hl_pg_pipeline_close(&pl));

    /* A reset connection has no prepared statements: the pipeline prepares again. */
    PQreset(conn);
    assert_int_equal(PQstatus(conn), CONNECTION_OK);
    assert_true(hl_pg_pipeline_open(&pl, conn, true, &err));
    const char *p[1] = {"1"};
    PGresult *r = NULL;
    assert_true(hl_pg_pipeline_exec(&pl, sql, 1, p, &r, &err));
    assert_string_equal(PQgetvalue(r, 0, 0), "2");
    PQclear(r);
    assert_true(hl_pg_pipeline_close(&pl));
    PQfinish(conn);

    /* Unprepared: nothing is prepared on the connection. */
    conn = connect_db();
    assert_true(hl_pg_pipeline_open(&pl, conn, false, &err));
    assert_true(hl_pg_pipeline_exec(&pl, sql, 1, p, NULL, &err));
    assert_int_equal(prepared_named(&pl, name), 0);
    assert_true(hl_pg_pipeline_close(&pl));
    PQfinish(conn);
}

/* A PREPARE that fails (its table does not exist yet) is forgotten: once the table exists the
 * statement is prepared and runs, instead of executing a statement that was never prepared. */
static void test_failed_prepare_retried(void **state)
{
    (void)state;
    static const char sql[] = "SELECT count(*) FROM pipeline_later";
    PGconn *conn = connect_db();
    plain(conn, "DROP TABLE IF EXISTS pipeline_later");
    hl_pg_pipeline_t pl;
    hl_error_t err = {0};
    assert_true(hl_pg_pipeline_open(&pl, conn, true, &err));
    assert_false(hl_pg_pipeline_exec(&pl, sql, 0, NULL, NULL, &err));
    assert_string_equal(err.sqlstate, "42P01"); /* undefined_table */
    assert_true(hl_pg_pipeline_close(&pl));
    plain(conn, "CREATE TABLE pipeline_later (n int)");
    assert_true(hl_pg_pipeline_open(&pl, conn, true, &err));
    hl_error_clear(&err);
    bool found = false;
    int64_t n = -1;
    assert_true(hl_pg_pipeline_int(&pl, sql, 0, NULL, &found, &n, &err));
    assert_int_equal(n, 0);
    assert_true(hl_pg_pipeline_close(&pl));
    plain(conn, "DROP TABLE pipeline_later");
    PQfinish(conn);
}

static void test_transactions(void **state)
{
    (void)state;
    static const char insert[] = "INSERT INTO pipeline_rows (n) VALUES ($1::int)";
    PGconn *conn = connect_db();
    plain(conn, "TRUNCATE pipeline_rows");
    hl_pg_pipeline_t pl;
    hl_error_t err = {0};
    assert_true(hl_pg_pipeline_open(&pl, conn, true, &err));

    /* Rolled back: nothing stays, and the connection is idle again. */
    const char *p[1] = {"1"};
    assert_true(hl_pg_pipeline_queue_control(&pl, "BEGIN", &err));
    assert_true(hl_pg_pipeline_queue(&pl, insert, 1, p, NULL, NULL, NULL, &err));
    assert_true(hl_pg_pipeline_flush(&pl, &err));
    assert_int_equal(PQtransactionStatus(conn), PQTRANS_INTRANS);
    hl_pg_pipeline_rollback(&pl);
    assert_int_equal(PQtransactionStatus(conn), PQTRANS_IDLE);

    /* More statements than the queue holds: it flushes itself, and all of them commit. */
    char texts[3 * HL_PG_PIPELINE_MAX_PENDING][8];
    assert_true(hl_pg_pipeline_queue_control(&pl, "BEGIN", &err));
    for (int i = 0; i < 3 * HL_PG_PIPELINE_MAX_PENDING; i++) {
        snprintf(texts[i], sizeof texts[i], "%d", 100 + i);
        const char *q[1] = {texts[i]};
        assert_true(hl_pg_pipeline_queue(&pl, insert, 1, q, NULL, NULL, NULL, &err));
        assert_true(pl.npending <= HL_PG_PIPELINE_MAX_PENDING);
    }
    assert_true(hl_pg_pipeline_commit(&pl, &err));
    assert_int_equal(pl.npending, 0);

    /* A transaction left open is rolled back by close. */
    const char *q[1] = {"2"};
    assert_true(hl_pg_pipeline_queue_control(&pl, "BEGIN", &err));
    assert_true(hl_pg_pipeline_queue(&pl, insert, 1, q, NULL, NULL, NULL, &err));
    assert_true(hl_pg_pipeline_close(&pl));
    assert_int_equal(PQtransactionStatus(conn), PQTRANS_IDLE);
    assert_int_equal(PQpipelineStatus(conn), PQ_PIPELINE_OFF);

    assert_int_equal(plain_int(conn, "SELECT count(*) FROM pipeline_rows"),
                     3 * HL_PG_PIPELINE_MAX_PENDING);
    assert_int_equal(plain_int(conn, "SELECT count(*) FROM pipeline_rows WHERE n < 100"), 0);

    /* A unique violation at commit time's batch is its SQLSTATE; nothing of the batch stays. */
    assert_true(hl_pg_pipeline_open(&pl, conn, true, &err));
    const char *dup[1] = {"100"};
    assert_true(hl_pg_pipeline_queue_control(&pl, "BEGIN", &err));
    assert_true(hl_pg_pipeline_queue(&pl, insert, 1, q, NULL, NULL, NULL, &err));
    assert_true(hl_pg_pipeline_queue(&pl, insert, 1, dup, NULL, NULL, NULL, &err));
    assert_false(hl_pg_pipeline_commit(&pl, &err));
    assert_string_equal(err.sqlstate, "23505");
    assert_true(hl_pg_pipeline_close(&pl));
    assert_int_equal(PQtransactionStatus(conn), PQTRANS_IDLE);
    assert_int_equal(plain_int(conn, "SELECT count(*) FROM pipeline_rows WHERE n = 2"), 0);
    PQfinish(conn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_results_in_order_prepared),
        cmocka_unit_test(test_results_in_order_unprepared),
        cmocka_unit_test(test_first_error_aborts_batch),
        cmocka_unit_test(test_prepared_once_per_connection),
        cmocka_unit_test(test_failed_prepare_retried),
        cmocka_unit_test(test_transactions),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
