#include "hl/pg.h"

#include "hl/mem.h"
#include "hl/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct hl_pg_pool {
    char *conninfo;
    int size;
    PGconn **conns; /* NULL slot = not yet connected */
    bool *busy;
    pthread_mutex_t lock;
    pthread_cond_t freed;
};

hl_pg_pool_t *hl_pg_pool_new(const char *conninfo, int size, hl_error_t *err)
{
    (void)err; /* nothing can fail: allocation failure aborts (hl/mem.h) */
    hl_pg_pool_t *p = hl_xcalloc(1, sizeof *p);
    p->conninfo = hl_xstrdup(conninfo);
    p->conns = hl_xcalloc((size_t)size, sizeof *p->conns);
    p->busy = hl_xcalloc((size_t)size, sizeof *p->busy);
    p->size = size;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->freed, NULL);
    return p;
}

void hl_pg_pool_destroy(hl_pg_pool_t *pool)
{
    if (!pool)
        return;
    for (int i = 0; i < pool->size; i++)
        if (pool->conns[i])
            PQfinish(pool->conns[i]);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->freed);
    free(pool->conns);
    free(pool->busy);
    free(pool->conninfo);
    free(pool);
}

PGconn *hl_pg_pool_acquire(hl_pg_pool_t *pool, long timeout_ms, hl_error_t *err)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&pool->lock);
    int slot = -1;
    for (;;) {
        for (int i = 0; i < pool->size; i++) {
            if (!pool->busy[i] && pool->conns[i]) { /* prefer an open connection */
                slot = i;
                break;
            }
        }
        if (slot < 0)
            for (int i = 0; i < pool->size; i++)
                if (!pool->busy[i]) {
                    slot = i;
                    break;
                }
        if (slot >= 0)
            break;
        if (pthread_cond_timedwait(&pool->freed, &pool->lock, &deadline) == ETIMEDOUT) {
            pthread_mutex_unlock(&pool->lock);
            hl_error_set(err, HL_ERR_TIMEOUT, 0, "no PostgreSQL connection free within %ld ms",
                         timeout_ms);
            return NULL;
        }
    }
    pool->busy[slot] = true;
    PGconn *conn = pool->conns[slot];
    pthread_mutex_unlock(&pool->lock);

    if (!conn || PQstatus(conn) != CONNECTION_OK) {
        if (conn)
            PQfinish(conn);
        conn = PQconnectdb(pool->conninfo);
        if (PQstatus(conn) != CONNECTION_OK) {
            hl_error_set(err, HL_ERR_PG, 0, "cannot connect to PostgreSQL: %s",
                         PQerrorMessage(conn));
            PQfinish(conn);
            conn = NULL;
        }
        pthread_mutex_lock(&pool->lock);
        pool->conns[slot] = conn;
        if (!conn) {
            pool->busy[slot] = false;
            pthread_cond_signal(&pool->freed);
        }
        pthread_mutex_unlock(&pool->lock);
    }
    return conn;
}

void hl_pg_pool_release(hl_pg_pool_t *pool, PGconn *conn)
{
    if (!conn)
        return;
    if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE) {
        PGresult *r = PQexec(conn, "ROLLBACK");
        PQclear(r);
    }
    pthread_mutex_lock(&pool->lock);
    for (int i = 0; i < pool->size; i++) {
        if (pool->conns[i] == conn) {
            if (PQstatus(conn) != CONNECTION_OK) {
                PQfinish(conn);
                pool->conns[i] = NULL;
            }
            pool->busy[i] = false;
            break;
        }
    }
    pthread_cond_signal(&pool->freed);
    pthread_mutex_unlock(&pool->lock);
}

const char *hl_pg_sqlstate(const PGresult *res)
{
    const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return s ? s : "";
}

bool hl_pg_error(const PGresult *res, PGconn *conn, hl_error_t *err)
{
    const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(conn);
    hl_error_set(err, HL_ERR_PG, 0, "%s", msg && *msg ? msg : PQerrorMessage(conn));
    if (err)
        snprintf(err->sqlstate, sizeof err->sqlstate, "%s", hl_pg_sqlstate(res));
    size_t n = strlen(err ? err->message : "");
    if (err && n && err->message[n - 1] == '\n')
        err->message[n - 1] = '\0';
    return false;
}

bool hl_pg_exec(PGconn *conn, const char *sql, hl_error_t *err)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        hl_pg_error(res, conn, err);
    PQclear(res);
    return ok;
}

bool hl_pg_query(PGconn *conn, const char *sql, int n, const char *const *params, PGresult **out,
                 hl_error_t *err)
{
    PGresult *r = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    bool ok = st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
    if (!ok) {
        hl_pg_error(r, conn, err);
        PQclear(r);
        r = NULL;
    }
    if (out)
        *out = r;
    else
        PQclear(r);
    return ok;
}
