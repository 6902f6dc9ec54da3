/* users.c: identity context commands (SPEC §2): register. */
#include "app.h"
#include "event_store.h"
#include "validate.h"

#include "hl/json.h"
#include "hl/log.h"
#include "hl/util.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CS_MAX_BODY (64 * 1024)

/* Wipe request memory that held a password before it is freed. */
static void wipe_request(char *body, size_t len, bson_t *doc, bool have_doc)
{
    if (body)
        sodium_memzero(body, len);
    if (have_doc) {
        sodium_memzero((void *)bson_get_data(doc), doc->len);
        bson_destroy(doc);
    }
    free(body);
}

bool cs_consistency_token(cs_app_t *app, const hl_watermark_t *w, size_t n, bson_t *reply,
                          char *header, size_t header_cap)
{
    char *token = hl_consistency_token_new(&app->consistency_key, w, n);
    if (!token)
        return false;
    BSON_APPEND_UTF8(reply, "consistency_token", token);
    size_t used = strlen(header);
    snprintf(header + used, header_cap - used, "X-Consistency-Token: %s\r\n", token);
    free(token);
    return true;
}

/* Run the register transaction. On success fills user_id and *position. */
static bool register_tx(cs_app_t *app, PGconn *conn, const cs_register_cmd_t *cmd,
                        const char *hash, const char *request_id, const char *traceparent,
                        char user_id[HL_UUID_STR_LEN + 1], int64_t *position, hl_error_t *err)
{
    hl_uuid_v7(user_id);
    int64_t now = hl_now_us();
    char now_text[24];
    snprintf(now_text, sizeof now_text, "%lld", (long long)now);
    hl_event_t ev = {0};
    cs_appended_t appended;
    bool ok = false;
    if (!hl_pg_exec(conn, "BEGIN", err))
        return false;
    const char *uparams[3] = {user_id, cmd->display_name, now_text};
    PGresult *r = PQexecParams(conn,
                               "INSERT INTO users (user_id, display_name, version, created_at,"
                               " updated_at) VALUES ($1, $2, 1, 'epoch'::timestamptz + $3::bigint"
                               " * interval '1 microsecond', 'epoch'::timestamptz + $3::bigint *"
                               " interval '1 microsecond')",
                               3, NULL, uparams, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        hl_pg_error(r, conn, err);
        PQclear(r);
        goto done;
    }
    PQclear(r);
    const char *cparams[3] = {user_id, cmd->email, hash};
    r = PQexecParams(conn,
                     "INSERT INTO user_credentials (user_id, email, password_hash)"
                     " VALUES ($1, $2, $3)",
                     3, NULL, cparams, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        if (!strcmp(hl_pg_sqlstate(r), "23505"))
            hl_error_set_reason(err, HL_ERR_DOMAIN, 409, "email-taken",
                                "an account with this e-mail address already exists");
        else
            hl_pg_error(r, conn, err);
        PQclear(r);
        goto done;
    }
    PQclear(r);
    if (!hl_event_init(&ev, app->catalog, "UserRegistered", err) ||
        !hl_avro_set_string(&ev.record, "display_name", cmd->display_name, err))
        goto done;
    cs_event_meta_t meta = {.aggregate_type = "User",
                            .aggregate_id = user_id,
                            .aggregate_version = 1,
                            .occurred_at_us = now,
                            .causation_id = hl_uuid_valid(request_id) ? request_id : NULL,
                            .correlation_id = hl_uuid_valid(request_id) ? request_id : NULL,
                            .traceparent = traceparent};
    if (!cs_event_store_append(conn, &ev, &meta, &appended, err))
        goto done;
    if (!hl_pg_exec(conn, "COMMIT", err))
        goto done;
    *position = appended.position;
    ok = true;
done:
    hl_event_destroy(&ev);
    if (!ok && PQtransactionStatus(conn) != PQTRANS_IDLE) {
        PGresult *rb = PQexec(conn, "ROLLBACK");
        PQclear(rb);
    }
    return ok;
}

void cs_handle_register(hl_http_request_t *req)
{
    cs_app_t *app = req->app;
    hl_error_t err = {0};
    char *body = NULL;
    size_t len = 0;
    bson_t doc;
    bool have_doc = false;
    PGconn *conn = NULL;
    char hash[crypto_pwhash_STRBYTES];
    if (!hl_http_read_body(req, CS_MAX_BODY, true, &body, &len, &err) ||
        !hl_json_parse_object(body, len, &doc, &err))
        goto fail;
    have_doc = true;
    cs_register_cmd_t cmd;
    if (!cs_validate_register(&doc, &cmd, &err))
        goto fail;
    if (crypto_pwhash_str_alg(hash, cmd.password, strlen(cmd.password),
                              (unsigned long long)app->cfg.argon2_ops,
                              (size_t)app->cfg.argon2_mem_kib * 1024,
                              crypto_pwhash_ALG_ARGON2ID13) != 0) {
        hl_error_set(&err, HL_ERR_SYSTEM, 0, "argon2id hashing ran out of memory");
        goto fail;
    }
    conn = hl_pg_pool_acquire(app->pool, (long)app->cfg.pg_acquire_timeout_ms, &err);
    if (!conn)
        goto fail;
    char traceparent[HL_TRACEPARENT_LEN + 1];
    hl_traceparent_next(hl_http_header(req, "traceparent"), traceparent);
    char user_id[HL_UUID_STR_LEN + 1];
    int64_t position = 0;
    if (!register_tx(app, conn, &cmd, hash, req->request_id, traceparent, user_id, &position,
                     &err))
        goto fail;
    hl_pg_pool_release(app->pool, conn);
    conn = NULL;
    sodium_memzero(hash, sizeof hash);

    bson_t reply = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&reply, "user_id", user_id);
    BSON_APPEND_INT64(&reply, "version", 1);
    char headers[1024];
    snprintf(headers, sizeof headers, "Location: /v1/users/%s\r\n", user_id);
    hl_watermark_t w[2];
    hl_watermark_set(&w[0], "ev", user_id, 1);        /* daily_stats */
    hl_watermark_set(&w[1], "cdc.users", user_id, 1); /* user_profiles */
    cs_consistency_token(app, w, 2, &reply, headers, sizeof headers);
    hl_http_reply_json(req, 201, &reply, headers);
    bson_destroy(&reply);
    wipe_request(body, len, &doc, have_doc);
    return;
fail:
    sodium_memzero(hash, sizeof hash);
    hl_pg_pool_release(app->pool, conn);
    wipe_request(body, len, &doc, have_doc);
    hl_http_reply_error(req, &err);
}
