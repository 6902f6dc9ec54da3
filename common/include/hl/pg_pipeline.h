/* hl/pg_pipeline.h: one PostgreSQL transaction's statements batched in libpq pipeline mode, each
 * statement prepared once per connection.
 *
 * A pipeline wraps a PGconn the caller borrowed (hl/pg.h) for one unit of work. Statements whose
 * results are not needed before the next step are queued (hl_pg_pipeline_queue): they are sent at
 * once and their results read together at the next flush, so N queued statements and one read cost
 * one round trip. PostgreSQL runs them in order, each with its own snapshot (READ COMMITTED); the
 * first failing statement aborts the ones queued after it (libpq PIPELINE_ABORTED) and its error is
 * the flush's.
 *
 * Prepared statements: with prepare on, a statement is named by a process-wide id of its SQL text
 * (hl_pg_statement_id) and prepared on a connection the first time that connection runs it; the
 * PREPARE rides in the same round trip as its first execution. Which ids a connection has prepared
 * is libpq instance data of that PGconn, so it dies with the connection and is emptied by
 * PQreset: a reconnected connection prepares again. A PREPARE that fails is forgotten and retried
 * on the next use.
 *
 * Not thread-safe per pipeline (a PGconn belongs to one thread at a time); the statement table
 * is shared by all threads under a lock. Used by the command server's pipeline (cmd.h). */
#ifndef HL_PG_PIPELINE_H
#define HL_PG_PIPELINE_H

#include "hl/error.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

/* Statements (a one-time PREPARE counts as one) a pipeline holds unread; queueing past it flushes
 * first. */
#define HL_PG_PIPELINE_MAX_PENDING 32
/* Distinct statement texts that get prepared; texts past it are sent unprepared. */
#define HL_PG_MAX_STATEMENTS 256

/* One transaction's pipeline. The caller owns it (usually on its stack or inside a request
 * struct). Callers read conn (and may NULL it once pl is closed) and npending; the rest belongs
 * to pg_pipeline.c. */
typedef struct {
    PGconn *conn; /* borrowed from the caller for the pipeline's life; NULL when not open */
    bool prepare; /* prepare statements once per connection */
    int npending; /* statements sent whose results are not read yet */
    struct {
        PGresult **out; /* where the result goes at the next flush, or NULL to discard it */
        int prepare_id; /* >= 0: this entry is the PREPARE of statement prepare_id */
    } pending[HL_PG_PIPELINE_MAX_PENDING];
} hl_pg_pipeline_t;

/* Put conn (borrowed, idle, not inside a transaction) into pipeline mode and start pl on it.
 * prepare: prepare each statement once per connection (false: every statement is sent with its
 * text, PQsendQueryParams). Errors: HL_ERR_PG with libpq's message (conn NULL, or not idle); pl
 * is then initialised with nothing queued but conn is not in pipeline mode: do not close pl. */
bool hl_pg_pipeline_open(hl_pg_pipeline_t *pl, PGconn *conn, bool prepare, hl_error_t *err);

/* Finish pl: read every result still queued (discarding them), roll back a transaction left
 * open, and leave pipeline mode. The connection is then idle and may go back to its pool.
 * Returns false when libpq refuses to leave pipeline mode (the connection should then be treated
 * as broken; PQerrorMessage(pl->conn) says why). pl->conn is left set. */
bool hl_pg_pipeline_close(hl_pg_pipeline_t *pl);

/* The process-wide id of statement text sql, registered on its first use: equal texts get one id
 * whatever their address. -1 when HL_PG_MAX_STATEMENTS texts are registered already (the
 * statement is then sent unprepared). sql must live as long as the process (a literal): the table
 * keeps the pointer. Thread-safe. */
int hl_pg_statement_id(const char *sql);

/* Queue a parameterised statement: it is sent now and its result read at the next
 * hl_pg_pipeline_flush (or hl_pg_pipeline_exec). n params as PQexecParams: params[i] text or
 * binary per formats[i] with lengths[i] bytes (lengths/formats NULL = all text); parameter types
 * are inferred by the server. sql: a string that lives as long as the process (a literal), see
 * hl_pg_statement_id. out: NULL to only require success, or where the result (PGRES_TUPLES_OK or
 * COMMAND_OK) is stored at that flush (*out is set to NULL now, must stay valid until the flush,
 * and the caller PQclears what it gets). A full queue is flushed first, and that flush's error is
 * returned. Returns false (HL_ERR_PG, libpq's message) when sending fails; an error of the
 * statement itself surfaces at the flush. */
bool hl_pg_pipeline_queue(hl_pg_pipeline_t *pl, const char *sql, int n, const char *const *params,
                          const int *lengths, const int *formats, PGresult **out, hl_error_t *err);

/* Queue the parameterless transaction-control statement sql ("BEGIN", "COMMIT", "ROLLBACK",
 * "SAVEPOINT x" ...), never prepared; its result is discarded at the next flush. Errors as
 * hl_pg_pipeline_queue. */
bool hl_pg_pipeline_queue_control(hl_pg_pipeline_t *pl, const char *sql, hl_error_t *err);

/* Read the results of every queued statement (one round trip: a libpq sync point). Returns true
 * at once when nothing is queued. On failure err holds the first failing statement's error
 * (HL_ERR_PG, the SQLSTATE in err->sqlstate, e.g. "40P01"; a statement raising a custom SQLSTATE
 * such as "HL401" gives it as is) and every *out of the batch is cleared to NULL; the queue is
 * empty either way. */
bool hl_pg_pipeline_flush(hl_pg_pipeline_t *pl, hl_error_t *err);

/* Queue sql (as hl_pg_pipeline_queue, text parameters) and flush: statements queued before it go
 * in the same round trip and their errors come first. *out gets its result (the caller PQclears
 * it) or NULL on failure; out NULL: the result is cleared here. */
bool hl_pg_pipeline_exec(hl_pg_pipeline_t *pl, const char *sql, int n, const char *const *params,
                         PGresult **out, hl_error_t *err);

/* Like hl_pg_pipeline_exec, returning the first column of the first row parsed as a decimal
 * int64 in *value; *found false (and *value 0) when there is no row or the value is NULL. */
bool hl_pg_pipeline_int(hl_pg_pipeline_t *pl, const char *sql, int n, const char *const *params,
                        bool *found, int64_t *value, hl_error_t *err);

/* COMMIT: queue it and flush. Errors as hl_pg_pipeline_flush (a serialization failure at commit
 * is "40001"). */
bool hl_pg_pipeline_commit(hl_pg_pipeline_t *pl, hl_error_t *err);

/* End whatever the connection is in without leaving pipeline mode: read the results still
 * queued (discarding them and their errors), roll an open transaction back. */
void hl_pg_pipeline_rollback(hl_pg_pipeline_t *pl);

#endif
