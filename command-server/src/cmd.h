/* cmd.h: the pipeline every command runs through (SPEC §2), shared by the context modules.
 *
 *   authenticate (bearer token, signature + expiry) → read and parse the JSON body (64 KiB,
 *   application/json; or spec->read's own body, then the Idempotency-Key looked up early) →
 *   prepare (pure validation, password hashing, the avatar's decode; no connection held) →
 *   BEGIN → session not revoked → Idempotency-Key lookup (replay or 422) → execute (locks,
 *   invariants, aggregate rows, events) → consistency token → store the response under the
 *   Idempotency-Key → COMMIT → reply.
 *
 * Authentication comes first for every answer: a revoked or expired session gets 401 whatever
 * its body holds. The live-session check rides with the transaction's first statement, so a
 * command that fails before it (a 400/413/415/422 of the body or headers, or any refusal of
 * prepare) checks the session row on a pooled connection before answering, and answers 401 when
 * the session is dead; a spec with session_first (a prepare that decodes or writes, e.g. the
 * avatar's) checks it before reading the body at all. The success path costs no extra round trip.
 *
 * Round trips: the transaction runs on an hl/pg_pipeline.h pipeline (libpq pipeline mode).
 * Statements whose results the command does not need before its next step are queued
 * (cs_sql_queue) and go to PostgreSQL together with the next statement whose result it does need
 * (cs_sql), or with COMMIT. BEGIN and the session check (hl_require_session, which raises SQLSTATE
 * HL401 so the rest of the pipeline is skipped) ride with the command's first read; event inserts
 * ride with COMMIT. send-message is 2 round trips: {BEGIN, session, room lock, checks} and
 * {message insert, event + outbox insert, COMMIT}. Statements are prepared once per connection
 * (--pg-prepare). Each statement still runs in order with its own snapshot (READ COMMITTED), so
 * a check queued after a lock sees everything committed before the lock was granted.
 *
 * A command that fails rolls back, so refused commands and bad input write nothing. Deadlocks
 * and serialization failures are retried (3 attempts). Concurrent requests with one
 * Idempotency-Key are serialised by a lock on the key, so the second replays the first's stored
 * response; one that still finds the key taken when it stores its own rolls back and replays the
 * winner's (idempotency.h).
 *
 * Modules: the pipeline (cmd.c) calls down into idempotency.h, event_store.h and
 * hl/pg_pipeline.h; the context modules (identity, social, chat, notification, counselling,
 * booking, media) implement commands on it, and never the other way round. social.h owns the pair
 * lock and facts that chat.c uses too. */
#ifndef CS_CMD_H
#define CS_CMD_H

#include "app.h"

#include "hl/consistency.h"
#include "hl/error.h"
#include "hl/http.h"
#include "hl/pg_pipeline.h"
#include "hl/session.h"
#include "hl/util.h"

#include <bson/bson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#define CS_MAX_BODY (64 * 1024)

typedef struct cs_cmd cs_cmd_t;

/* Runs before BEGIN without a connection (validation, hashing). cmd->body is parsed when the
 * spec has a body. Fill err and return false to refuse. */
typedef bool (*cs_prepare_fn)(cs_cmd_t *cmd, hl_error_t *err);

/* Runs inside the transaction on cmd->pg (through cs_sql*). Sets cmd->status, fills cmd->reply,
 * appends watermarks (cs_cmd_watermark) and extra headers (cmd->headers). */
typedef bool (*cs_exec_fn)(cs_cmd_t *cmd, hl_error_t *err);

typedef struct {
    bool auth;          /* needs a bearer token */
    bool has_body;      /* parses a JSON body */
    bool sensitive;     /* body holds a password: wiped after use */
    bool session_first; /* auth: check the session row before the body and prepare (one more
                           round trip; for a prepare that is costly or writes outside the
                           transaction) */
    /* Optional, before prepare: reads a body that is not JSON into cmd->raw and checks what is
     * cheap to check (the avatar's Content-Type and size). With it, an Idempotency-Key is looked
     * up on a pooled connection before prepare runs, so a replay, or the key reused with another
     * body (422), answers without prepare's decoding and object-store writes. That replay
     * happens before the transaction's session check: an authenticated spec with read must set
     * session_first too (the avatar's does). */
    cs_prepare_fn read;
    cs_prepare_fn prepare;
    cs_exec_fn exec;
} cs_cmd_spec_t;

struct cs_cmd {
    hl_http_request_t *req;
    cs_app_t *app;
    hl_pg_pipeline_t pg; /* the transaction's statements (hl/pg_pipeline.h); use cs_sql* */
    bool authenticated;
    hl_session_t session; /* the caller when authenticated */
    bool session_ok;      /* the session row was seen live (this request) */
    bool session_queued;  /* the transaction's session check is queued, not read yet */
    bson_t body;
    bool have_body;
    /* The request body as read: the JSON (has_body) or what a read step handed over here (the
     * avatar's image bytes; malloc'd, the pipeline frees it). What the Idempotency-Key request
     * hash covers, with the method and path. */
    char *raw;
    size_t raw_len;
    bool has_if_match;
    int64_t if_match; /* -1 = "*" */
    char traceparent[HL_TRACEPARENT_LEN + 1];
    char causation[HL_UUID_STR_LEN + 1]; /* a gateway request id in UUID form, or "" */
    int64_t now_us;
    /* Scratch space for prepare → exec (e.g. the password hash); wiped at the end. */
    char scratch[256];
    void *state; /* command-specific validated input, owned by the handler's stack */
    /* The reply. */
    int status;
    bson_t reply;
    char headers[1536];
    hl_watermark_t w[HL_CONSISTENCY_MAX_WATERMARKS];
    size_t nw;
    /* Set by cs_cmd_refuse_committed: answer this problem, yet commit the transaction. */
    bool refused;
    hl_error_t refusal;
};

/* Run spec for req. state: the handler's command struct (borrowed for the call). */
void cs_cmd_run(hl_http_request_t *req, const cs_cmd_spec_t *spec, void *state);

/* Add watermark "<input>:<key>" at version to the reply's consistency token (ignored past
 * HL_CONSISTENCY_MAX_WATERMARKS). */
void cs_cmd_watermark(cs_cmd_t *cmd, const char *input, const char *key, int64_t version);

/* The W3C traceparent of this command's request span (what its events carry), for a captured
 * row's traceparent column (010_trace_context.sql). Owned by cmd. */
const char *cs_cmd_traceparent(const cs_cmd_t *cmd);

/* For an exec that refuses the command but must keep what it wrote (a failed log-in's throttle
 * state): copies err (HL_ERR_INPUT or HL_ERR_DOMAIN with status and reason) and returns true, so
 * the exec returns it and the pipeline COMMITs, then answers err's problem document with
 * cmd->headers (e.g. Retry-After). No consistency token; nothing is stored under an
 * Idempotency-Key, so a retry with the key runs again. */
bool cs_cmd_refuse_committed(cs_cmd_t *cmd, const hl_error_t *err);

/* Append a "Name: value\r\n" header line (printf-style) to cmd->headers (1,536 bytes in all).
 * The lines are the server's own, so one that does not fit is a programmer error: HL_ASSERT
 * aborts (hl/assert.h) instead of sending a cut header. */
void cs_cmd_header(cs_cmd_t *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Causation/correlation id of events this command emits: the request id when it is a UUID or
 * the gateway's 32 hex digits (then written as a UUID); NULL for other client-chosen ids. */
const char *cs_cmd_causation(const cs_cmd_t *cmd);

/* Run a parameterised statement on cmd's transaction expecting PGRES_TUPLES_OK or COMMAND_OK
 * (hl_pg_pipeline_exec); *out gets the result (caller PQclears) or, when out is NULL, it is
 * cleared here. Statements queued before it go in the same round trip, and their errors come
 * first. sql: a literal (see cs_sql_queue). Errors: HL_ERR_PG with its SQLSTATE in err->sqlstate;
 * SQLSTATE HL401 (hl_require_session) becomes HL_ERR_INPUT 401 "revoked-token". */
bool cs_sql(cs_cmd_t *cmd, const char *sql, int n, const char *const *params, PGresult **out,
            hl_error_t *err);

/* Queue a parameterised statement on cmd's transaction without waiting for it
 * (hl_pg_pipeline_queue): it is sent now and its result is read at the next cs_sql or
 * cs_sql_flush (or discarded when the command fails). out: NULL to only require success, or where
 * the result (PGRES_TUPLES_OK or COMMAND_OK) is stored at that flush; *out must stay valid until
 * then and the caller PQclears it. lengths/formats: as PQexecParams (NULL = all text). sql must be
 * a string that lives as long as the process (a literal): it is prepared once per connection
 * under its text. An error of a queued statement surfaces at the flush (as cs_sql's) and the
 * statements queued after it do not run. Returns false only when sending fails (or a forced
 * flush of a full queue fails). */
bool cs_sql_queue(cs_cmd_t *cmd, const char *sql, int n, const char *const *params,
                  const int *lengths, const int *formats, PGresult **out, hl_error_t *err);

/* Read the results of every queued statement (one round trip). On failure every *out of the
 * batch is cleared to NULL and err holds the first failing statement's error, as cs_sql's. */
bool cs_sql_flush(cs_cmd_t *cmd, hl_error_t *err);

/* Like cs_sql, returning the first column of the first row as an int64 in *value, *found
 * false when no row. */
bool cs_sql_int(cs_cmd_t *cmd, const char *sql, int n, const char *const *params, bool *found,
                int64_t *value, hl_error_t *err);

/* Append ev (fields set by the caller) to the event store and outbox as the event of
 * aggregate (type, id) at version, with this command's time, causation and traceparent. */
bool cs_cmd_emit(cs_cmd_t *cmd, hl_event_t *ev, const char *aggregate_type,
                 const char *aggregate_id, int64_t version, hl_error_t *err);

/* Microseconds as the SQL expression parameter text used by the modules
 * ('epoch'::timestamptz + $n::bigint * interval '1 microsecond'). */
#define CS_TS(n) "('epoch'::timestamptz + $" #n "::bigint * interval '1 microsecond')"

#endif
