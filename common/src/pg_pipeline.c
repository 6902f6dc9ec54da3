/* pg_pipeline.c: libpq pipeline mode and the per-connection prepared-statement cache
 * (hl/pg_pipeline.h). */
#include "hl/pg_pipeline.h"

#include "hl/assert.h"

#include "hl/mem.h"
#include "hl/pg.h"

#include <libpq-events.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the process-wide statement table ---- */

static pthread_mutex_t stmt_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *stmt_sql[HL_PG_MAX_STATEMENTS];
static int stmt_count;

int hl_pg_statement_id(const char *sql)
{
    pthread_mutex_lock(&stmt_lock);
    int id = -1;
    for (int i = 0; i < stmt_count && id < 0; i++)
        if (stmt_sql[i] == sql || !strcmp(stmt_sql[i], sql))
            id = i;
    if (id < 0 && stmt_count < HL_PG_MAX_STATEMENTS) {
        id = stmt_count;
        stmt_sql[stmt_count++] = sql;
    }
    pthread_mutex_unlock(&stmt_lock);
    return id;
}

/* ---- which statements a connection has prepared (libpq instance data) ---- */

typedef struct {
    unsigned char prepared[HL_PG_MAX_STATEMENTS / 8];
} conn_stmts_t;

static int conn_stmts_event(PGEventId id, void *info, void *pass)
{
    (void)pass;
    if (id == PGEVT_CONNDESTROY) {
        PGEventConnDestroy *e = info;
        free(PQinstanceData(e->conn, conn_stmts_event));
    } else if (id == PGEVT_CONNRESET) {
        PGEventConnReset *e = info;
        conn_stmts_t *st = PQinstanceData(e->conn, conn_stmts_event);
        if (st)
            memset(st, 0, sizeof *st);
    }
    return 1;
}

/* conn's table, created (and its event procedure registered) on first use; NULL when libpq
 * refuses the registration (the statement is then sent unprepared). */
static conn_stmts_t *conn_stmts(PGconn *conn)
{
    conn_stmts_t *st = PQinstanceData(conn, conn_stmts_event);
    if (st)
        return st;
    st = hl_xcalloc(1, sizeof *st);
    if (!PQregisterEventProc(conn, conn_stmts_event, "hl-pg-pipeline-statements", NULL) ||
        !PQsetInstanceData(conn, conn_stmts_event, st)) {
        free(st);
        return NULL;
    }
    return st;
}

/* ---- the pipeline ---- */

static void push_pending(hl_pg_pipeline_t *pl, PGresult **out, int prepare_id)
{
    /* a full queue is flushed before a statement is sent, and ROLLBACK/COMMIT follow a flush */
    HL_ASSERT(pl->npending >= 0 && pl->npending < HL_PG_PIPELINE_MAX_PENDING);
    pl->pending[pl->npending].out = out;
    pl->pending[pl->npending].prepare_id = prepare_id;
    pl->npending++;
}

bool hl_pg_pipeline_open(hl_pg_pipeline_t *pl, PGconn *conn, bool prepare, hl_error_t *err)
{
    memset(pl, 0, sizeof *pl);
    pl->conn = conn;
    pl->prepare = prepare;
    if (!conn || !PQenterPipelineMode(conn))
        return hl_pg_error(NULL, conn, err);
    return true;
}

bool hl_pg_pipeline_close(hl_pg_pipeline_t *pl)
{
    hl_pg_pipeline_rollback(pl);
    return PQexitPipelineMode(pl->conn) == 1;
}

bool hl_pg_pipeline_queue(hl_pg_pipeline_t *pl, const char *sql, int n, const char *const *params,
                          const int *lengths, const int *formats, PGresult **out, hl_error_t *err)
{
    if (out)
        *out = NULL;
    /* Room for a PREPARE and the statement; a full queue is flushed first (errors included). */
    if (pl->npending + 2 > HL_PG_PIPELINE_MAX_PENDING && !hl_pg_pipeline_flush(pl, err))
        return false;
    int id = pl->prepare ? hl_pg_statement_id(sql) : -1;
    conn_stmts_t *st = id >= 0 ? conn_stmts(pl->conn) : NULL;
    char name[24];
    int sent;
    if (st) {
        snprintf(name, sizeof name, "hl_stmt_%d", id);
        if (!(st->prepared[id / 8] & (1u << (id % 8)))) {
            if (!PQsendPrepare(pl->conn, name, sql, n, NULL))
                return hl_pg_error(NULL, pl->conn, err);
            st->prepared[id / 8] |= (unsigned char)(1u << (id % 8));
            push_pending(pl, NULL, id);
        }
        sent = PQsendQueryPrepared(pl->conn, name, n, params, lengths, formats, 0);
    } else {
        sent = PQsendQueryParams(pl->conn, sql, n, NULL, params, lengths, formats, 0);
    }
    if (!sent)
        return hl_pg_error(NULL, pl->conn, err);
    push_pending(pl, out, -1);
    return true;
}

bool hl_pg_pipeline_queue_control(hl_pg_pipeline_t *pl, const char *sql, hl_error_t *err)
{
    if (pl->npending + 1 > HL_PG_PIPELINE_MAX_PENDING && !hl_pg_pipeline_flush(pl, err))
        return false;
    if (!PQsendQueryParams(pl->conn, sql, 0, NULL, NULL, NULL, NULL, 0))
        return hl_pg_error(NULL, pl->conn, err);
    push_pending(pl, NULL, -1);
    return true;
}

bool hl_pg_pipeline_flush(hl_pg_pipeline_t *pl, hl_error_t *err)
{
    if (pl->npending == 0)
        return true;
    bool ok = PQpipelineSync(pl->conn) == 1;
    if (!ok)
        hl_pg_error(NULL, pl->conn, err);
    conn_stmts_t *st = PQinstanceData(pl->conn, conn_stmts_event);
    for (int i = 0; i < pl->npending; i++) {
        PGresult *first = NULL, *r;
        /* Each queued statement yields its result(s) and then NULL. */
        while ((r = PQgetResult(pl->conn)) != NULL) {
            if (!first)
                first = r;
            else
                PQclear(r);
        }
        ExecStatusType status = first ? PQresultStatus(first) : PGRES_FATAL_ERROR;
        bool good = status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK;
        int pid = pl->pending[i].prepare_id;
        if (pid >= 0 && !good && st) /* not prepared after all */
            st->prepared[pid / 8] &= (unsigned char)~(1u << (pid % 8));
        if (!good && ok) {
            /* The first failure; the statements after it come back PIPELINE_ABORTED. */
            ok = false;
            hl_pg_error(first, pl->conn, err);
        }
        if (good && pl->pending[i].out)
            *pl->pending[i].out = first;
        else
            PQclear(first);
        if (PQstatus(pl->conn) == CONNECTION_BAD)
            break;
    }
    /* The sync point. */
    for (int guard = 0; guard < 4 && PQstatus(pl->conn) != CONNECTION_BAD; guard++) {
        PGresult *r = PQgetResult(pl->conn);
        if (!r)
            continue;
        ExecStatusType status = PQresultStatus(r);
        PQclear(r);
        if (status == PGRES_PIPELINE_SYNC)
            break;
    }
    if (!ok)
        for (int i = 0; i < pl->npending; i++)
            if (pl->pending[i].out && *pl->pending[i].out) {
                PQclear(*pl->pending[i].out);
                *pl->pending[i].out = NULL;
            }
    pl->npending = 0;
    return ok;
}

bool hl_pg_pipeline_exec(hl_pg_pipeline_t *pl, const char *sql, int n, const char *const *params,
                         PGresult **out, hl_error_t *err)
{
    PGresult *r = NULL; /* stays NULL unless the statement succeeded */
    bool ok = hl_pg_pipeline_queue(pl, sql, n, params, NULL, NULL, &r, err) &&
              hl_pg_pipeline_flush(pl, err);
    if (out)
        *out = r;
    else
        PQclear(r);
    return ok;
}

bool hl_pg_pipeline_int(hl_pg_pipeline_t *pl, const char *sql, int n, const char *const *params,
                        bool *found, int64_t *value, hl_error_t *err)
{
    PGresult *r = NULL;
    if (!hl_pg_pipeline_exec(pl, sql, n, params, &r, err))
        return false;
    *found = PQntuples(r) > 0 && !PQgetisnull(r, 0, 0);
    *value = *found ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return true;
}

bool hl_pg_pipeline_commit(hl_pg_pipeline_t *pl, hl_error_t *err)
{
    return hl_pg_pipeline_queue_control(pl, "COMMIT", err) && hl_pg_pipeline_flush(pl, err);
}

void hl_pg_pipeline_rollback(hl_pg_pipeline_t *pl)
{
    hl_error_t ignored = {0};
    if (!pl->conn)
        return;
    hl_pg_pipeline_flush(pl, &ignored);
    if (PQstatus(pl->conn) == CONNECTION_OK && PQtransactionStatus(pl->conn) != PQTRANS_IDLE &&
        hl_pg_pipeline_queue_control(pl, "ROLLBACK", &ignored))
        hl_pg_pipeline_flush(pl, &ignored);
}
