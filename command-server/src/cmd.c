/* cmd.c: the command pipeline (cmd.h). */
#include "cmd.h"
#include "event_store.h"
#include "idempotency.h"
#include "rules.h"

#include "hl/assert.h"
#include "hl/json.h"
#include "hl/log.h"
#include "hl/mem.h"
#include "hl/pg.h"
#include "hl/pg_pipeline.h"
#include "hl/trace.h"
#include "hl/util.h"

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

/* ---- statements: the transaction's pipeline (hl/pg_pipeline.h) ---- */

/* After a failed pipeline call: the session check's SQLSTATE HL401 (hl_require_session) is the
 * client's 401 revoked-token. Returns false. */
static bool session_error(hl_error_t *err)
{
    if (hl_error_is_sqlstate(err, "HL401"))
        hl_error_set_reason(err, HL_ERR_INPUT, 401, "revoked-token",
                            "the session was logged out or has expired");
    return false;
}

bool cs_sql_queue(cs_cmd_t *cmd, const char *sql, int n, const char *const *params,
                  const int *lengths, const int *formats, PGresult **out, hl_error_t *err)
{
    return hl_pg_pipeline_queue(&cmd->pg, sql, n, params, lengths, formats, out, err) ||
           session_error(err);
}

/* After a pipeline call that read results: on success every statement queued before it ran,
 * the session check (session_live) included; on failure the session error becomes 401. */
static bool settled(cs_cmd_t *cmd, bool ok, hl_error_t *err)
{
    if (!ok)
        return session_error(err);
    if (cmd->session_queued) {
        cmd->session_ok = true;
        cmd->session_queued = false;
    }
    return true;
}

bool cs_sql_flush(cs_cmd_t *cmd, hl_error_t *err)
{
    return settled(cmd, hl_pg_pipeline_flush(&cmd->pg, err), err);
}

bool cs_sql(cs_cmd_t *cmd, const char *sql, int n, const char *const *params, PGresult **out,
            hl_error_t *err)
{
    return settled(cmd, hl_pg_pipeline_exec(&cmd->pg, sql, n, params, out, err), err);
}

bool cs_sql_int(cs_cmd_t *cmd, const char *sql, int n, const char *const *params, bool *found,
                int64_t *value, hl_error_t *err)
{
    return settled(cmd, hl_pg_pipeline_int(&cmd->pg, sql, n, params, found, value, err), err);
}

static bool retryable(const hl_error_t *err)
{
    return hl_error_is_sqlstate(err, "40P01") || hl_error_is_sqlstate(err, "40001");
}

#define SESSION_LIVE_SQL "SELECT hl_require_session($1, $2)"

/* Queue the session row check (not revoked, not expired; the token's signature and expiry were
 * checked already): hl_require_session raises HL401, which cs_sql_flush turns into 401
 * revoked-token, and nothing queued after it runs. The next successful flush sets
 * session_ok. */
static bool session_live(cs_cmd_t *cmd, hl_error_t *err)
{
    const char *p[2] = {cmd->session.session_id, cmd->session.user_id};
    if (!cs_sql_queue(cmd, SESSION_LIVE_SQL, 2, p, NULL, NULL, NULL, err))
        return false;
    cmd->session_queued = true;
    return true;
}

/* The session row check outside the transaction, on a pooled connection (one round trip): true
 * when live (sets session_ok); false with 401 "revoked-token" when the row is revoked or expired,
 * or with the pool's or PostgreSQL's error when it could not be checked. */
static bool session_live_now(cs_cmd_t *cmd, hl_error_t *err)
{
    PGconn *conn =
        hl_pg_pool_acquire(cmd->app->pool, (long)cmd->app->cfg.pg_acquire_timeout_ms, err);
    if (!conn)
        return false;
    const char *p[2] = {cmd->session.session_id, cmd->session.user_id};
    bool ok = hl_pg_query(conn, SESSION_LIVE_SQL, 2, p, NULL, err);
    hl_pg_pool_release(cmd->app->pool, conn);
    if (ok)
        cmd->session_ok = true;
    else
        session_error(err);
    return ok;
}

/* A refusal about to be answered to an authenticated caller whose session row was not seen live
 * yet: a dead session's 401 takes its place (authentication before validation). */
static void session_before_refusal(cs_cmd_t *cmd, hl_error_t *err)
{
    if (!cmd->authenticated || cmd->session_ok ||
        (err->domain != HL_ERR_INPUT && err->domain != HL_ERR_DOMAIN) || err->code == 401)
        return;
    hl_error_t e = {0};
    if (!session_live_now(cmd, &e) && e.domain == HL_ERR_INPUT && e.code == 401)
        *err = e;
}

/* The stored response of (scope, key) read on a pooled connection before prepare runs
 * (cs_idem_lookup_early), for a spec with read. */
static bool idem_lookup_early(cs_cmd_t *cmd, const char *scope, const char *key,
                              const cs_idem_hash_t *hash, cs_idem_response_t *out, hl_error_t *err)
{
    memset(out, 0, sizeof *out);
    PGconn *conn =
        hl_pg_pool_acquire(cmd->app->pool, (long)cmd->app->cfg.pg_acquire_timeout_ms, err);
    if (!conn)
        return false;
    bool ok = cs_idem_lookup_early(conn, scope, key, hash, out, err);
    hl_pg_pool_release(cmd->app->pool, conn);
    return ok;
}

void cs_cmd_run(hl_http_request_t *req, const cs_cmd_spec_t *spec, void *state)
{
    cs_app_t *app = req->app;
    cs_cmd_t *cmd = hl_xcalloc(1, sizeof *cmd);
    hl_error_t err = {0};
    cs_idem_response_t stored = {0};
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
        if (spec->session_first && !session_live_now(cmd, &err))
            goto fail;
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
    if (!cs_idem_key_check(idem_key, &err))
        goto fail;
    if (spec->has_body) {
        if (!hl_http_read_body(req, CS_MAX_BODY, true, &cmd->raw, &cmd->raw_len, &err) ||
            !hl_json_parse_object(cmd->raw, cmd->raw_len, &cmd->body, &err))
            goto fail;
        cmd->have_body = true;
    }
    if (spec->read && !spec->read(cmd, &err))
        goto fail;
    cs_idem_hash_t hash;
    cs_idem_hash(&app->idempotency_key, hl_now_us() / 1000, req, cmd->raw, cmd->raw_len, &hash);
    const char *scope = cmd->authenticated ? cmd->session.user_id : "anonymous";
    bool ok = false;
    if (idem_key && spec->read) {
        if (!idem_lookup_early(cmd, scope, idem_key, &hash, &stored, &err))
            goto fail;
        if (stored.found)
            goto answer;
    }
    if (spec->prepare && !spec->prepare(cmd, &err))
        goto fail;

    hl_span_t tx_span; /* the PostgreSQL transaction, attempts included */
    hl_span_start_child(&tx_span, "pg.transaction", HL_SPAN_CLIENT);
    hl_span_attr_str(&tx_span, "db.system", "postgresql");
    PGconn *conn = hl_pg_pool_acquire(app->pool, (long)app->cfg.pg_acquire_timeout_ms, &err);
    if (!conn) {
        hl_span_error(&tx_span, err.message);
        hl_span_end(&tx_span, 0);
        goto fail;
    }
    if (!hl_pg_pipeline_open(&cmd->pg, conn, app->cfg.pg_prepare, &err))
        goto release;
    for (int attempt = 0; attempt < CS_TX_ATTEMPTS && !ok; attempt++) {
        hl_error_clear(&err);
        hl_pg_pipeline_rollback(&cmd->pg);
        cmd->status = 0;
        cmd->nw = 0;
        cmd->refused = false;
        cmd->headers[0] = '\0';
        bson_reinit(&cmd->reply);
        if (!hl_pg_pipeline_queue_control(&cmd->pg, "BEGIN", &err))
            break;
        if (cmd->authenticated && !session_live(cmd, &err))
            break;
        if (idem_key) {
            if (!cs_idem_lookup(&cmd->pg, scope, idem_key, &hash, &stored, &err)) {
                session_error(&err);
                break;
            }
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
            /* Read before COMMIT: a lost race with the same key must roll ours back. */
            bool inserted = false;
            if (!cs_idem_store(&cmd->pg, scope, idem_key, &hash, cmd->status,
                               cmd->status == 204 ? NULL : &cmd->reply, cmd->headers, &inserted,
                               &err)) {
                session_error(&err);
                if (retryable(&err))
                    continue;
                break;
            }
            if (!inserted) {
                /* A concurrent request with this key committed first: undo ours, replay its. */
                hl_pg_pipeline_rollback(&cmd->pg);
                if (!hl_pg_pipeline_queue_control(&cmd->pg, "BEGIN", &err) ||
                    !cs_idem_lookup(&cmd->pg, scope, idem_key, &hash, &stored, &err))
                    session_error(&err);
                break;
            }
        }
        if (!hl_pg_pipeline_commit(&cmd->pg, &err)) {
            session_error(&err);
            if (retryable(&err))
                continue;
            break;
        }
        ok = true;
    }
    if (!hl_pg_pipeline_close(&cmd->pg))
        HL_ERROR("leaving libpq pipeline mode failed: %s", PQerrorMessage(conn));
release:
    hl_pg_pool_release(app->pool, conn);
    cmd->pg.conn = NULL;
    if (!ok && !stored.found)
        hl_span_error(&tx_span, err.message[0] ? err.message : "transaction failed");
    hl_span_attr_int(&tx_span, "hl.events", cmd->nw);
    hl_span_end(&tx_span, 0);
answer:
    if (stored.found) {
        if (!stored.same_request) {
            hl_error_set_reason(&err, HL_ERR_INPUT, 422, "idempotency-key-reused",
                                "this Idempotency-Key was used for another request");
            goto fail;
        }
        cs_idem_replay(req, &stored);
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
        session_before_refusal(cmd, &err);
        if (err.domain != HL_ERR_INPUT && err.domain != HL_ERR_DOMAIN)
            HL_ERROR("%s %s failed: %s: %s", req->method, req->path,
                     hl_error_domain_name(err.domain), err.message);
        hl_http_reply_error(req, &err);
    }
    cs_idem_response_free(&stored);
    if (cmd->raw) {
        if (spec->sensitive)
            sodium_memzero(cmd->raw, cmd->raw_len);
        free(cmd->raw);
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
