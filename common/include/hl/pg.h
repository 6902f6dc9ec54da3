/* hl/pg.h: a fixed-size PostgreSQL connection pool (libpq).
 *
 * A PGconn belongs to one thread at a time: acquire, use, release. Broken connections are
 * reset on release. The pool connects lazily so a server starts even when PostgreSQL is briefly
 * away; hl_pg_pool_acquire fails with HL_ERR_PG when it cannot connect. */
#ifndef HL_PG_H
#define HL_PG_H

#include "hl/error.h"

#include <libpq-fe.h>
#include <stdbool.h>

typedef struct hl_pg_pool hl_pg_pool_t;

/* Create a pool of size connections to conninfo (libpq URI or key=value; copied). */
hl_pg_pool_t *hl_pg_pool_new(const char *conninfo, int size, hl_error_t *err);

/* Free the pool, closing every connection. All connections must have been released. */
void hl_pg_pool_destroy(hl_pg_pool_t *pool);

/* Borrow a connection, waiting up to timeout_ms for one to free up. Returns NULL with
 * HL_ERR_TIMEOUT when none frees up, or HL_ERR_PG when connecting fails. */
PGconn *hl_pg_pool_acquire(hl_pg_pool_t *pool, long timeout_ms, hl_error_t *err);

/* Return a connection. A connection left inside a transaction is rolled back; a broken one is
 * closed and reopened lazily. */
void hl_pg_pool_release(hl_pg_pool_t *pool, PGconn *conn);

/* Run sql (no parameters) and require PGRES_COMMAND_OK or PGRES_TUPLES_OK. Fills err with the
 * server's message (HL_ERR_PG; its SQLSTATE in err->sqlstate: hl_error_is_sqlstate). */
bool hl_pg_exec(PGconn *conn, const char *sql, hl_error_t *err);

/* Run sql with n text parameters (PQexecParams, types inferred) and require PGRES_TUPLES_OK or
 * PGRES_COMMAND_OK. *out gets the result (the caller PQclears it), or NULL on failure; out NULL:
 * the result is cleared here. Errors: HL_ERR_PG, the SQLSTATE in err->sqlstate (hl_pg_error). For
 * one statement per round trip; hl/pg_pipeline.h batches a transaction's statements. */
bool hl_pg_query(PGconn *conn, const char *sql, int n, const char *const *params, PGresult **out,
                 hl_error_t *err);

/* Fill err from a failed result: HL_ERR_PG, code 0, PQresultErrorMessage (else the
 * connection's) as message, the SQLSTATE into err->sqlstate ("" without a result). Returns
 * false. */
bool hl_pg_error(const PGresult *res, PGconn *conn, hl_error_t *err);

/* SQLSTATE of a failed result ("23505" unique_violation...) or "" (never NULL). */
const char *hl_pg_sqlstate(const PGresult *res);

#endif
