/* cmd.c: the command pipeline (cmd.h). */
#include "cmd.h"
#include "event_store.h"

#include "hl/json.h"
#include "hl/log.h"
#include "hl/pg.h"

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
    vsnprintf(cmd->headers + used, sizeof cmd->headers - used, fmt, ap);
    va_end(ap);
}

const char *cs_cmd_causation(const cs_cmd_t *cmd)
{
    return hl_uuid_valid(cmd->req->request_id) ? cmd->req->request_id : NULL;
}

bool cs_sql(cs_cmd_t *cmd, const char *sql, int n, const char *const *params, PGresult **out,
            hl_error_t *err)
{
    PGresult *r = PQexecParams(cmd->conn, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        hl_pg_error(r, cmd->conn, err);
        PQclear(r);
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
    char key[2 * HL_UUID_STR_LEN + 2];
    cs_direct_key(a, b, key);
    const char *p[1] = {key};
    return cs_sql(cmd, "SELECT pg_advisory_xact_lock(hashtextextended($1, 7256))", 1, p, NULL, err);
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

/* BLAKE2b-256 of method, path and body: what "the same request" means for Idempotency-Key. */
static void request_hash(const hl_http_request_t *req, const char *body, size_t len,
                         unsigned char out[32])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 32);
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

static bool idem_lookup(cs_cmd_t *cmd, const char *scope, const char *key,
                        const unsigned char hash[32], stored_response_t *out, hl_error_t *err)
{
    const char *p[2] = {scope, key};
    PGresult *r = NULL;
    memset(out, 0, sizeof *out);
    /* Serialise requests sharing a key: a second one waits for the first to commit and then
     * finds its stored response instead of running the command again. */
    if (!cs_sql(cmd, "SELECT pg_advisory_xact_lock(hashtextextended($1 || ' ' || $2, 7257))", 2, p,
                NULL, err))
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
        out->same_request = stored && hlen == 32 && sodium_memcmp(stored, hash, 32) == 0;
        PQfreemem(stored);
        out->status = (int)strtol(PQgetvalue(r, 0, 1), NULL, 10);
        const char *b = PQgetvalue(r, 0, 2);
        out->body = b[0] ? strdup(b) : NULL;
        out->headers = strdup(PQgetvalue(r, 0, 3));
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

static void rollback(PGconn *conn)
{
    if (conn && PQtransactionStatus(conn) != PQTRANS_IDLE) {
        PGresult *r = PQexec(conn, "ROLLBACK");
        PQclear(r);
    }
}

static bool retryable(const hl_error_t *err)
{
    return err->domain == HL_ERR_PG &&
           (!strcmp(err->reason, "40P01") || !strcmp(err->reason, "40001"));
}

/* Check the session row: not revoked and not expired (the token's signature and expiry were
 * checked already). */
static bool session_live(cs_cmd_t *cmd, hl_error_t *err)
{
    const char *p[2] = {cmd->session.session_id, cmd->session.user_id};
    bool found = false;
    int64_t live = 0;
    if (!cs_sql_int(cmd,
                    "SELECT (revoked_at IS NULL AND expires_at > now())::int FROM sessions"
                    " WHERE session_id = $1 AND user_id = $2",
                    2, p, &found, &live, err))
        return false;
    if (!found || !live)
        return hl_error_set_reason(err, HL_ERR_INPUT, 401, "revoked-token",
                                   "the session was logged out or has expired");
    return true;
}

void cs_cmd_run(hl_http_request_t *req, const cs_cmd_spec_t *spec, void *state)
{
    cs_app_t *app = req->app;
    cs_cmd_t *cmd = calloc(1, sizeof *cmd);
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
    bson_init(&cmd->reply);
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
    unsigned char hash[32];
    request_hash(req, raw, raw_len, hash);
    const char *scope = cmd->authenticated ? cmd->session.user_id : "anonymous";

    cmd->conn = hl_pg_pool_acquire(app->pool, (long)app->cfg.pg_acquire_timeout_ms, &err);
    if (!cmd->conn)
        goto fail;
    bool ok = false;
    for (int attempt = 0; attempt < CS_TX_ATTEMPTS && !ok; attempt++) {
        hl_error_clear(&err);
        cmd->status = 0;
        cmd->nw = 0;
        cmd->headers[0] = '\0';
        bson_reinit(&cmd->reply);
        if (!hl_pg_exec(cmd->conn, "BEGIN", &err))
            break;
        if (cmd->authenticated && !session_live(cmd, &err))
            break;
        if (idem_key) {
            if (!idem_lookup(cmd, scope, idem_key, hash, &stored, &err))
                break;
            if (stored.found)
                break;
        }
        if (!spec->exec(cmd, &err)) {
            rollback(cmd->conn);
            if (retryable(&err))
                continue;
            break;
        }
        if (cmd->nw > 0) {
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
        if (idem_key) {
            char *json =
                cmd->status == 204 ? NULL : bson_as_relaxed_extended_json(&cmd->reply, NULL);
            char status_text[8];
            snprintf(status_text, sizeof status_text, "%d", cmd->status);
            const char *p[6] = {scope,       idem_key,         (const char *)hash,
                                status_text, json ? json : "", cmd->headers};
            int lengths[6] = {0, 0, 32, 0, 0, 0};
            int formats[6] = {0, 0, 1, 0, 0, 0};
            PGresult *r = PQexecParams(cmd->conn,
                                       "INSERT INTO idempotency_keys (scope, idem_key,"
                                       " request_hash, response_status, response_body,"
                                       " response_headers) VALUES ($1, $2, $3, $4, $5, $6)"
                                       " ON CONFLICT DO NOTHING",
                                       6, NULL, p, lengths, formats, 0);
            bson_free(json);
            bool inserted = PQresultStatus(r) == PGRES_COMMAND_OK && !strcmp(PQcmdTuples(r), "1");
            bool failed = PQresultStatus(r) != PGRES_COMMAND_OK;
            if (failed)
                hl_pg_error(r, cmd->conn, &err);
            PQclear(r);
            if (failed)
                break;
            if (!inserted) {
                /* A concurrent request with this key committed first: undo ours, replay its. */
                rollback(cmd->conn);
                if (!hl_pg_exec(cmd->conn, "BEGIN", &err) ||
                    !idem_lookup(cmd, scope, idem_key, hash, &stored, &err))
                    break;
                break;
            }
        }
        if (!hl_pg_exec(cmd->conn, "COMMIT", &err)) {
            if (retryable(&err))
                continue;
            break;
        }
        ok = true;
    }
    rollback(cmd->conn);
    hl_pg_pool_release(app->pool, cmd->conn);
    cmd->conn = NULL;
    if (stored.found) {
        if (!stored.same_request) {
            hl_error_set_reason(&err, HL_ERR_INPUT, 422, "idempotency-key-reused",
                                "this Idempotency-Key was used for another request");
            goto fail;
        }
        reply_stored(req, &stored);
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
    cs_appended_t appended;
    return cs_event_store_append(cmd->conn, ev, &meta, &appended, err);
}
