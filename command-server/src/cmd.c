/* cmd.c: the command pipeline (cmd.h). */
#include "cmd.h"
#include "event_store.h"

#include "hl/assert.h"
#include "hl/json.h"
#include "hl/log.h"
#include "hl/mem.h"
#include "hl/pg.h"
#include "hl/trace.h"
#include "hl/util.h"

#include <libpq-events.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CS_TX_ATTEMPTS 3

void cs_cmd_watermark(cs_cmd_t *cmd, const char *input, const char *key, int64_t version)
{
    if (cmd->nw < HL_CONSISTENCY_MAX_WATERMARKS)
        hl_watermark_set(&cmd->w[cmd->nw++], input, key, version);
}

void cs_cmd_header(cs_cmd_t *cmd, const char *fmt, ...)
{
    size_t used = strlen(cmd->headers);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd->headers + used, sizeof cmd->headers - used, fmt, ap);
    va_end(ap);
    /* the headers a command sets are ours (a token, a version, a delay): a cut one would be
     * sent half, and stored so with the idempotent reply */
    HL_ASSERT(n >= 0 && (size_t)n < sizeof cmd->headers - used);
}

const char *cs_cmd_causation(const cs_cmd_t *cmd)
{
    const char *id = cmd->req->request_id;
    if (hl_uuid_valid(id))
        return id;
    return cmd->causation[0] ? cmd->causation : NULL;
}

/* The gateway mints 32 lower-case hex digits (nginx $request_id, 128 random bits): written in the
 * 8-4-4-4-12 form they are the causation id of the command's events. */
static void causation_from_request_id(cs_cmd_t *cmd)
{
    const char *id = cmd->req->request_id;
    cmd->causation[0] = '\0';
    if (strlen(id) != 32 || strspn(id, "0123456789abcdef") != 32)
        return;
    snprintf(cmd->causation, sizeof cmd->causation, "%.8s-%.4s-%.4s-%.4s-%.12s", id, id + 8,
             id + 12, id + 16, id + 20);
}

/* ---- statements: pipeline mode, prepared once per connection ---- */

/* Every statement text the server has prepared gets a process-wide id; a connection remembers
 * which ids it has prepared (libpq instance data, freed with the connection, so a reconnected
 * PGconn starts empty). */
#define CS_MAX_STATEMENTS 256

static pthread_mutex_t stmt_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *stmt_sql[CS_MAX_STATEMENTS];
static int stmt_count;

typedef struct {
    unsigned char prepared[CS_MAX_STATEMENTS / 8];
} conn_stmts_t;

/* The id of sql (registered on first use), or -1 when the table is full (then the statement
 * is sent unprepared). */
static int stmt_id(const char *sql)
{
    pthread_mutex_lock(&stmt_lock);
    int id = -1;
    for (int i = 0; i < stmt_count && id < 0; i++)
        if (stmt_sql[i] == sql || !strcmp(stmt_sql[i], sql))
            id = i;
    if (id < 0 && stmt_count < CS_MAX_STATEMENTS) {
        id = stmt_count;
        stmt_sql[stmt_count++] = sql;
    }
    pthread_mutex_unlock(&stmt_lock);
    return id;
}

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

static conn_stmts_t *conn_stmts(PGconn *conn)
{
    conn_stmts_t *st = PQinstanceData(conn, conn_stmts_event);
    if (st)
        return st;
    st = hl_xcalloc(1, sizeof *st);
    if (!PQregisterEventProc(conn, conn_stmts_event, "hl-cmd-statements", NULL) ||
        !PQsetInstanceData(conn, conn_stmts_event, st)) {
        free(st);
        return NULL;
    }
    return st;
}

static bool push_pending(cs_cmd_t *cmd, PGresult **out, int prepare_id)
{
    /* cs_sql_queue flushes a full queue first, and ROLLBACK/COMMIT follow a flush */
    HL_ASSERT(cmd->npending >= 0 && cmd->npending < CS_MAX_PENDING);
    cmd->pending[cmd->npending].out = out;
    cmd->pending[cmd->npending].prepare_id = prepare_id;
    cmd->npending++;
    return true;
}

bool cs_sql_queue(cs_cmd_t *cmd, const char *sql, int n, const char *const *params,
                  const int *lengths, const int *formats, PGresult **out, hl_error_t *err)
{
    if (out)
        *out = NULL;
    /* Room for a PREPARE and the statement; a full queue is flushed first (errors included). */
    if (cmd->npending + 2 > CS_MAX_PENDING && !cs_sql_flush(cmd, err))
        return false;
    int id = cmd->app->cfg.pg_prepare ? stmt_id(sql) : -1;
    conn_stmts_t *st = id >= 0 ? conn_stmts(cmd->conn) : NULL;
    char name[24];
    int sent;
    if (st) {
        snprintf(name, sizeof name, "hl_cmd_%d", id);
        if (!(st->prepared[id / 8] & (1u << (id % 8)))) {
            if (!PQsendPrepare(cmd->conn, name, sql, n, NULL))
                return hl_pg_error(NULL, cmd->conn, err);
            st->prepared[id / 8] |= (unsigned char)(1u << (id % 8));
            push_pending(cmd, NULL, id);
        }
        sent = PQsendQueryPrepared(cmd->conn, name, n, params, lengths, formats, 0);
    } else {
        sent = PQsendQueryParams(cmd->conn, sql, n, NULL, params, lengths, formats, 0);
    }
    if (!sent)
        return hl_pg_error(NULL, cmd->conn, err);
    return push_pending(cmd, out, -1);
}

bool cs_sql_flush(cs_cmd_t *cmd, hl_error_t *err)
{
    if (cmd->npending == 0)
        return true;
    bool ok = PQpipelineSync(cmd->conn) == 1;
    if (!ok)
        hl_pg_error(NULL, cmd->conn, err);
    conn_stmts_t *st = PQinstanceData(cmd->conn, conn_stmts_event);
    for (int i = 0; i < cmd->npending; i++) {
        PGresult *first = NULL, *r;
        /* Each queued statement yields its result(s) and then NULL. */
        while ((r = PQgetResult(cmd->conn)) != NULL) {
            if (!first)
                first = r;
            else
                PQclear(r);
        }
        ExecStatusType status = first ? PQresultStatus(first) : PGRES_FATAL_ERROR;
        bool good = status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK;
        int pid = cmd->pending[i].prepare_id;
        if (pid >= 0 && !good && st) /* not prepared after all */
            st->prepared[pid / 8] &= (unsigned char)~(1u << (pid % 8));
        if (!good && ok) {
            /* The first failure; the statements after it come back PIPELINE_ABORTED. */
            ok = false;
            hl_pg_error(first, cmd->conn, err);
        }
        if (good && cmd->pending[i].out)
            *cmd->pending[i].out = first;
        else
            PQclear(first);
        if (PQstatus(cmd->conn) == CONNECTION_BAD)
            break;
    }
    /* The sync point. */
    for (int guard = 0; guard < 4 && PQstatus(cmd->conn) != CONNECTION_BAD; guard++) {
        PGresult *r = PQgetResult(cmd->conn);
        if (!r)
            continue;
        ExecStatusType status = PQresultStatus(r);
        PQclear(r);
        if (status == PGRES_PIPELINE_SYNC)
            break;
    }
    if (!ok) {
        for (int i = 0; i < cmd->npending; i++)
            if (cmd->pending[i].out && *cmd->pending[i].out) {
                PQclear(*cmd->pending[i].out);
                *cmd->pending[i].out = NULL;
            }
        if (!strcmp(err->reason, "HL401"))
            hl_error_set_reason(err, HL_ERR_INPUT, 401, "revoked-token",
                                "the session was logged out or has expired");
    }
    cmd->npending = 0;
    return ok;
}

bool cs_sql(cs_cmd_t *cmd, const char *sql, int n, const char *const *params, PGresult **out,
            hl_error_t *err)
{
    PGresult *r = NULL;
    if (!cs_sql_queue(cmd, sql, n, params, NULL, NULL, &r, err) || !cs_sql_flush(cmd, err)) {
        if (out)
            *out = NULL;
        return false;
    }
    if (out)
        *out = r;
    else
        PQclear(r);
    return true;
}

bool cs_sql_int(cs_cmd_t *cmd, const char *sql, int n, const char *const *params, bool *found,
                int64_t *value, hl_error_t *err)
{
    PGresult *r = NULL;
    if (!cs_sql(cmd, sql, n, params, &r, err))
        return false;
    *found = PQntuples(r) > 0 && !PQgetisnull(r, 0, 0);
    *value = *found ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return true;
}

bool cs_lock_pair(cs_cmd_t *cmd, const char *a, const char *b, hl_error_t *err)
{
    char key[HL_DIRECT_KEY_MAX];
    if (!hl_direct_key(a, b, key, sizeof key))
        return hl_error_set_reason(err, HL_ERR_INPUT, 422, "validation-failed",
                                   "a user id is not a UUID");
    const char *p[1] = {key};
    return cs_sql_queue(cmd, "SELECT pg_advisory_xact_lock(hashtextextended($1, 7256))", 1, p, NULL,
                        NULL, NULL, err);
}

bool cs_load_pair_facts(cs_cmd_t *cmd, const char *target, cs_pair_facts_t *f, hl_error_t *err)
{
    const char *me = cmd->session.user_id;
    memset(f, 0, sizeof *f);
    f->same_user = !strcasecmp(me, target);
    const char *p[2] = {me, target};
    PGresult *r = NULL;
    if (!cs_sql(cmd,
                "SELECT EXISTS (SELECT 1 FROM users WHERE user_id = $2),"
                " EXISTS (SELECT 1 FROM friendships WHERE user_a = LEAST($1::uuid, $2::uuid)"
                "   AND user_b = GREATEST($1::uuid, $2::uuid) AND ended_at IS NULL),"
                " EXISTS (SELECT 1 FROM friend_requests WHERE status = 'pending' AND"
                "   ((from_user_id = $1 AND to_user_id = $2) OR"
                "    (from_user_id = $2 AND to_user_id = $1))),"
                " EXISTS (SELECT 1 FROM blocks WHERE blocker_id = $1 AND blocked_id = $2"
                "   AND removed_at IS NULL),"
                " EXISTS (SELECT 1 FROM blocks WHERE blocker_id = $2 AND blocked_id = $1"
                "   AND removed_at IS NULL)",
                2, p, &r, err))
        return false;
    f->target_exists = PQgetvalue(r, 0, 0)[0] == 't';
    f->friends = PQgetvalue(r, 0, 1)[0] == 't';
    f->pending_request = PQgetvalue(r, 0, 2)[0] == 't';
    f->caller_blocked_target = PQgetvalue(r, 0, 3)[0] == 't';
    f->target_blocked_caller = PQgetvalue(r, 0, 4)[0] == 't';
    PQclear(r);
    return true;
}

/* BLAKE2b-256 of method, path and body, keyed with key (one of the server's idempotency keys):
 * what "the same request" means for Idempotency-Key. Keyed because the body may hold a
 * password. */
static void request_hash(const uint8_t key[HL_TOKEN_KEY_BYTES], const hl_http_request_t *req,
                         const char *body, size_t len, unsigned char out[32])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, key, HL_TOKEN_KEY_BYTES, 32);
    crypto_generichash_update(&st, (const unsigned char *)req->method, strlen(req->method) + 1);
    crypto_generichash_update(&st, (const unsigned char *)req->path, strlen(req->path) + 1);
    if (body)
        crypto_generichash_update(&st, (const unsigned char *)body, len);
    crypto_generichash_final(&st, out, 32);
}

typedef struct {
    bool found;
    bool same_request;
    int status;
    char *body;    /* malloc'd JSON or NULL for an empty body */
    char *headers; /* malloc'd */
} stored_response_t;

static void stored_response_free(stored_response_t *s)
{
    free(s->body);
    free(s->headers);
    memset(s, 0, sizeof *s);
}

/* prev_hash: the request's hash under the previous idempotency key during a key rotation
 * overlap (NULL outside one), so a retry across the rotation still replays. */
static bool idem_lookup(cs_cmd_t *cmd, const char *scope, const char *key,
                        const unsigned char hash[32], const unsigned char *prev_hash,
                        stored_response_t *out, hl_error_t *err)
{
    const char *p[2] = {scope, key};
    PGresult *r = NULL;
    memset(out, 0, sizeof *out);
    /* Serialise requests sharing a key: a second one waits for the first to commit and then
     * finds its stored response instead of running the command again. */
    if (!cs_sql_queue(cmd, "SELECT pg_advisory_xact_lock(hashtextextended($1 || ' ' || $2, 7257))",
                      2, p, NULL, NULL, NULL, err))
        return false;
    if (!cs_sql(cmd,
                "SELECT request_hash, response_status, response_body, response_headers"
                " FROM idempotency_keys WHERE scope = $1 AND idem_key = $2",
                2, p, &r, err))
        return false;
    if (PQntuples(r) == 1) {
        out->found = true;
        size_t hlen = 0;
        unsigned char *stored = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 0), &hlen);
        out->same_request = stored && hlen == 32 &&
                            (sodium_memcmp(stored, hash, 32) == 0 ||
                             (prev_hash && sodium_memcmp(stored, prev_hash, 32) == 0));
        PQfreemem(stored);
        out->status = (int)strtol(PQgetvalue(r, 0, 1), NULL, 10);
        const char *b = PQgetvalue(r, 0, 2);
        out->body = b[0] ? hl_xstrdup(b) : NULL;
        out->headers = hl_xstrdup(PQgetvalue(r, 0, 3));
    }
    PQclear(r);
    return true;
}

static void reply_stored(hl_http_request_t *req, stored_response_t *s)
{
    char headers[2048];
    snprintf(headers, sizeof headers, "%sIdempotent-Replayed: true\r\n",
             s->headers ? s->headers : "");
    if (!s->body) {
        hl_http_reply_empty(req, s->status, headers);
        return;
    }
    bson_t doc;
    bson_error_t berr;
    if (!bson_init_from_json(&doc, s->body, -1, &berr)) {
        hl_http_reply_problem(req, 500, "internal", "Internal Server Error",
                              "stored response unreadable", NULL);
        return;
    }
    hl_http_reply_json(req, s->status, &doc, headers);
    bson_destroy(&doc);
}

/* End whatever the connection is in: read the results still queued, roll an open transaction
 * back. Leaves the connection idle and in pipeline mode. */
static void rollback(cs_cmd_t *cmd)
{
    hl_error_t ignored = {0};
    if (!cmd->conn)
        return;
    cs_sql_flush(cmd, &ignored);
    if (PQstatus(cmd->conn) == CONNECTION_OK && PQtransactionStatus(cmd->conn) != PQTRANS_IDLE &&
        PQsendQueryParams(cmd->conn, "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0)) {
        push_pending(cmd, NULL, -1);
        cs_sql_flush(cmd, &ignored);
    }
}

static bool begin(cs_cmd_t *cmd, hl_error_t *err)
{
    if (!PQsendQueryParams(cmd->conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0))
        return hl_pg_error(NULL, cmd->conn, err);
    return push_pending(cmd, NULL, -1);
}

static bool commit(cs_cmd_t *cmd, hl_error_t *err)
{
    if (!PQsendQueryParams(cmd->conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0))
        return hl_pg_error(NULL, cmd->conn, err);
    push_pending(cmd, NULL, -1);
    return cs_sql_flush(cmd, err);
}

static bool retryable(const hl_error_t *err)
{
    return err->domain == HL_ERR_PG &&
           (!strcmp(err->reason, "40P01") || !strcmp(err->reason, "40001"));
}

/* Queue the session row check (not revoked, not expired; the token's signature and expiry were
 * checked already): hl_require_session raises HL401, which cs_sql_flush turns into 401
 * revoked-token, and nothing queued after it runs. */
static bool session_live(cs_cmd_t *cmd, hl_error_t *err)
{
    const char *p[2] = {cmd->session.session_id, cmd->session.user_id};
    return cs_sql_queue(cmd, "SELECT hl_require_session($1, $2)", 2, p, NULL, NULL, NULL, err);
}

void cs_cmd_run(hl_http_request_t *req, const cs_cmd_spec_t *spec, void *state)
{
    cs_app_t *app = req->app;
    cs_cmd_t *cmd = hl_xcalloc(1, sizeof *cmd);
    hl_error_t err = {0};
    char *raw = NULL;
    size_t raw_len = 0;
    stored_response_t stored = {0};
    bool replied = false;
    if (!cmd) {
        hl_http_reply_problem(req, 503, "unavailable", "Service Unavailable", "out of memory",
                              "Retry-After: 1\r\n");
        return;
    }
    cmd->req = req;
    cmd->app = app;
    cmd->state = state;
    cmd->now_us = hl_now_us();
    causation_from_request_id(cmd);
    bson_init(&cmd->reply);
    /* The events carry the request span's context (hl/http.c made it current). */
    if (hl_trace_current())
        hl_trace_format(hl_trace_current(), cmd->traceparent);
    else
        hl_traceparent_next(hl_http_header(req, "traceparent"), cmd->traceparent);

    if (spec->auth) {
        if (!hl_session_verify_header(&app->session_key, hl_http_header(req, "Authorization"),
                                      cmd->now_us / 1000, &cmd->session, &err))
            goto fail;
        cmd->authenticated = true;
    }
    const char *if_match = hl_http_header(req, "If-Match");
    if (if_match) {
        if (!cs_if_match_parse(if_match, &cmd->if_match)) {
            hl_error_set_reason(&err, HL_ERR_INPUT, 400, "invalid-if-match",
                                "If-Match must be an aggregate version such as \"3\"");
            goto fail;
        }
        cmd->has_if_match = true;
    }
    const char *idem_key = hl_http_header(req, "Idempotency-Key");
    if (idem_key && (!idem_key[0] || strlen(idem_key) > 255)) {
        hl_error_set_reason(&err, HL_ERR_INPUT, 400, "invalid-idempotency-key",
                            "Idempotency-Key must be 1..255 characters");
        goto fail;
    }
    if (spec->has_body) {
        if (!hl_http_read_body(req, CS_MAX_BODY, true, &raw, &raw_len, &err) ||
            !hl_json_parse_object(raw, raw_len, &cmd->body, &err))
            goto fail;
        cmd->have_body = true;
    }
    if (spec->prepare && !spec->prepare(cmd, &err))
        goto fail;
    unsigned char hash[32], prev_hash_buf[32];
    const unsigned char *prev_hash = NULL;
    request_hash(app->idempotency_key.key, req, raw, raw_len, hash);
    if (app->idempotency_key.has_previous &&
        hl_now_us() / 1000 < app->idempotency_key.previous_until_ms) {
        request_hash(app->idempotency_key.previous, req, raw, raw_len, prev_hash_buf);
        prev_hash = prev_hash_buf;
    }
    const char *scope = cmd->authenticated ? cmd->session.user_id : "anonymous";

    hl_span_t tx_span; /* the PostgreSQL transaction, attempts included */
    hl_span_start_child(&tx_span, "pg.transaction", HL_SPAN_CLIENT);
    hl_span_attr_str(&tx_span, "db.system", "postgresql");
    cmd->conn = hl_pg_pool_acquire(app->pool, (long)app->cfg.pg_acquire_timeout_ms, &err);
    if (!cmd->conn) {
        hl_span_error(&tx_span, err.message);
        hl_span_end(&tx_span, 0);
        goto fail;
    }
    bool ok = false;
    if (!PQenterPipelineMode(cmd->conn)) {
        hl_pg_error(NULL, cmd->conn, &err);
        goto release;
    }
    for (int attempt = 0; attempt < CS_TX_ATTEMPTS && !ok; attempt++) {
        hl_error_clear(&err);
        rollback(cmd);
        cmd->status = 0;
        cmd->nw = 0;
        cmd->refused = false;
        cmd->headers[0] = '\0';
        bson_reinit(&cmd->reply);
        if (!begin(cmd, &err))
            break;
        if (cmd->authenticated && !session_live(cmd, &err))
            break;
        if (idem_key) {
            if (!idem_lookup(cmd, scope, idem_key, hash, prev_hash, &stored, &err))
                break;
            if (stored.found)
                break;
        }
        if (!spec->exec(cmd, &err)) {
            if (retryable(&err))
                continue;
            break;
        }
        if (cmd->nw > 0 && !cmd->refused) {
            char *token = hl_consistency_token_new(&app->consistency_key, cmd->w, cmd->nw);
            if (!token) {
                hl_error_set(&err, HL_ERR_SYSTEM, 0, "out of memory");
                break;
            }
            if (cmd->status != 204)
                BSON_APPEND_UTF8(&cmd->reply, "consistency_token", token);
            cs_cmd_header(cmd, "X-Consistency-Token: %s\r\n", token);
            free(token);
        }
        if (idem_key && !cmd->refused) {
            char *json =
                cmd->status == 204 ? NULL : bson_as_relaxed_extended_json(&cmd->reply, NULL);
            char status_text[8];
            snprintf(status_text, sizeof status_text, "%d", cmd->status);
            const char *p[6] = {scope,       idem_key,         (const char *)hash,
                                status_text, json ? json : "", cmd->headers};
            int lengths[6] = {0, 0, 32, 0, 0, 0};
            int formats[6] = {0, 0, 1, 0, 0, 0};
            PGresult *r = NULL;
            /* Read before COMMIT: a lost race with the same key must roll ours back. */
            bool stored_ok = cs_sql_queue(cmd,
                                          "INSERT INTO idempotency_keys (scope, idem_key,"
                                          " request_hash, response_status, response_body,"
                                          " response_headers) VALUES ($1, $2, $3, $4, $5, $6)"
                                          " ON CONFLICT DO NOTHING",
                                          6, p, lengths, formats, &r, &err) &&
                             cs_sql_flush(cmd, &err);
            bson_free(json);
            bool inserted = stored_ok && !strcmp(PQcmdTuples(r), "1");
            PQclear(r);
            if (!stored_ok) {
                if (retryable(&err))
                    continue;
                break;
            }
            if (!inserted) {
                /* A concurrent request with this key committed first: undo ours, replay its. */
                rollback(cmd);
                if (!begin(cmd, &err) ||
                    !idem_lookup(cmd, scope, idem_key, hash, prev_hash, &stored, &err))
                    break;
                break;
            }
        }
        if (!commit(cmd, &err)) {
            if (retryable(&err))
                continue;
            break;
        }
        ok = true;
    }
    rollback(cmd);
    if (!PQexitPipelineMode(cmd->conn))
        HL_ERROR("leaving libpq pipeline mode failed: %s", PQerrorMessage(cmd->conn));
release:
    hl_pg_pool_release(app->pool, cmd->conn);
    cmd->conn = NULL;
    if (!ok && !stored.found)
        hl_span_error(&tx_span, err.message[0] ? err.message : "transaction failed");
    hl_span_attr_int(&tx_span, "hl.events", cmd->nw);
    hl_span_end(&tx_span, 0);
    if (stored.found) {
        if (!stored.same_request) {
            hl_error_set_reason(&err, HL_ERR_INPUT, 422, "idempotency-key-reused",
                                "this Idempotency-Key was used for another request");
            goto fail;
        }
        reply_stored(req, &stored);
        replied = true;
    } else if (ok && cmd->refused) {
        const hl_error_t *r = &cmd->refusal;
        hl_http_reply_problem(req, r->code, r->reason[0] ? r->reason : "invalid-request",
                              hl_http_status_text(r->code), r->message, cmd->headers);
        replied = true;
    } else if (ok) {
        if (cmd->status == 204)
            hl_http_reply_empty(req, 204, cmd->headers);
        else
            hl_http_reply_json(req, cmd->status, &cmd->reply, cmd->headers);
        replied = true;
    }
fail:
    if (!replied) {
        if (err.domain == HL_ERR_NONE)
            hl_error_set(&err, HL_ERR_SYSTEM, 0, "command failed without an error");
        if (err.domain != HL_ERR_INPUT && err.domain != HL_ERR_DOMAIN)
            HL_ERROR("%s %s failed: %s: %s", req->method, req->path,
                     hl_error_domain_name(err.domain), err.message);
        hl_http_reply_error(req, &err);
    }
    stored_response_free(&stored);
    if (raw) {
        if (spec->sensitive)
            sodium_memzero(raw, raw_len);
        free(raw);
    }
    if (cmd->have_body) {
        if (spec->sensitive)
            sodium_memzero((void *)bson_get_data(&cmd->body), cmd->body.len);
        bson_destroy(&cmd->body);
    }
    bson_destroy(&cmd->reply);
    sodium_memzero(cmd->scratch, sizeof cmd->scratch);
    free(cmd);
}

const char *cs_cmd_traceparent(const cs_cmd_t *cmd)
{
    return cmd->traceparent;
}

bool cs_cmd_refuse_committed(cs_cmd_t *cmd, const hl_error_t *err)
{
    cmd->refused = true;
    cmd->refusal = *err;
    return true;
}

bool cs_cmd_emit(cs_cmd_t *cmd, hl_event_t *ev, const char *aggregate_type,
                 const char *aggregate_id, int64_t version, hl_error_t *err)
{
    cs_event_meta_t meta = {.aggregate_type = aggregate_type,
                            .aggregate_id = aggregate_id,
                            .aggregate_version = version,
                            .occurred_at_us = cmd->now_us,
                            .causation_id = cs_cmd_causation(cmd),
                            .correlation_id = cs_cmd_causation(cmd),
                            .traceparent = cmd->traceparent};
    cs_event_row_t row;
    if (!cs_event_store_row(ev, &meta, &row, err))
        return false;
    /* The result (the event's position) is not needed: the insert rides with the next flush,
     * normally COMMIT's. */
    bool ok = cs_sql_queue(cmd, CS_EVENT_APPEND_SQL, CS_EVENT_APPEND_PARAMS, row.values,
                           row.lengths, row.formats, NULL, err);
    cs_event_row_free(&row);
    return ok;
}
