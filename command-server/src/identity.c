/* identity.c: identity context commands (SPEC §2): register, log in, log out, update profile,
 * set presence. Aggregate User (users row, version); sessions rows are captured by CDC so the
 * query server learns about log-outs. */
#include "identity.h"
#include "cmd.h"
#include "rules.h"
#include "validate.h"

#include "hl/json.h"
#include "hl/log.h"
#include "hl/metrics.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- register ---- */

static bool register_prepare(cs_cmd_t *cmd, hl_error_t *err)
{
    cs_register_cmd_t *c = cmd->state;
    if (!cs_validate_register(&cmd->body, c, err))
        return false;
    if (crypto_pwhash_str_alg(cmd->scratch, c->password, strlen(c->password),
                              (unsigned long long)cmd->app->cfg.argon2_ops,
                              (size_t)cmd->app->cfg.argon2_mem_kib * 1024,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        return hl_error_set(err, HL_ERR_SYSTEM, 0, "argon2id hashing ran out of memory");
    return true;
}

static bool register_exec(cs_cmd_t *cmd, hl_error_t *err)
{
    cs_register_cmd_t *c = cmd->state;
    char user_id[HL_UUID_STR_LEN + 1];
    hl_uuid_v7(user_id);
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)cmd->now_us);
    const char *up[3] = {user_id, c->display_name, now};
    /* Rides with the credentials insert, whose unique e-mail is the check. */
    if (!cs_sql_queue(cmd,
                      "INSERT INTO users (user_id, display_name, version, created_at, updated_at)"
                      " VALUES ($1, $2, 1, " CS_TS(3) ", " CS_TS(3) ")",
                      3, up, NULL, NULL, NULL, err))
        return false;
    const char *cp[3] = {user_id, c->email, cmd->scratch};
    if (!cs_sql(cmd,
                "INSERT INTO user_credentials (user_id, email, password_hash)"
                " VALUES ($1, $2, $3)",
                3, cp, NULL, err)) {
        if (hl_error_is_sqlstate(err, "23505"))
            return hl_error_set_reason(err, HL_ERR_DOMAIN, 409, "email-taken",
                                       "an account with this e-mail address already exists");
        return false;
    }
    hl_event_t ev = {0};
    bool ok = hl_event_init(&ev, cmd->app->catalog, "UserRegistered", err) &&
              hl_avro_set_string(&ev.record, "display_name", c->display_name, err) &&
              cs_cmd_emit(cmd, &ev, "User", user_id, 1, err);
    hl_event_destroy(&ev);
    if (!ok)
        return false;
    cmd->status = 201;
    BSON_APPEND_UTF8(&cmd->reply, "user_id", user_id);
    BSON_APPEND_INT64(&cmd->reply, "version", 1);
    cs_cmd_header(cmd, "Location: /v1/users/%s\r\n", user_id);
    cs_cmd_watermark(cmd, "ev.User", user_id, 1);
    cs_cmd_watermark(cmd, "cdc.users", user_id, 1);
    return true;
}

void cs_handle_register(hl_http_request_t *req)
{
    static const cs_cmd_spec_t spec = {.auth = false,
                                       .has_body = true,
                                       .sensitive = true,
                                       .prepare = register_prepare,
                                       .exec = register_exec};
    cs_register_cmd_t c = {0};
    cs_cmd_run(req, &spec, &c);
}

/* ---- log in ---- */

static bool login_prepare(cs_cmd_t *cmd, hl_error_t *err)
{
    return cs_validate_login(&cmd->body, cmd->state, err);
}

/* The login_throttle key and lock of an e-mail address, as SQL on parameter $1 (the address):
 * PostgreSQL's lower() is the one the unique e-mail index uses, so every spelling of one
 * address shares one throttle. */
#define THROTTLE_KEY "sha256(convert_to(lower($1), 'UTF8'))"

static void count_login(const char *result)
{
    char labels[48];
    snprintf(labels, sizeof labels, "result=\"%s\"", result);
    hl_metric_add(hl_metric_get(HL_METRIC_COUNTER, "hl_login_attempts_total", labels,
                                "log-ins by outcome (ok, failed, locked: refused with 429 during "
                                "a lock-out)"),
                  1);
}

/* Throttle state of the address c->email (zeroed when it has none) and its credentials, in one
 * round trip, holding a transaction-scoped advisory lock on the address so that concurrent
 * log-ins for it are counted one after the other. */
static bool login_load(cs_cmd_t *cmd, const char *email, cs_login_throttle_t *t, char *user_id,
                       size_t user_id_cap, char *hash, size_t hash_cap, bool *found,
                       hl_error_t *err)
{
    const char *p[1] = {email};
    PGresult *tr = NULL, *r = NULL;
    if (!cs_sql_queue(cmd, "SELECT pg_advisory_xact_lock(hashtextextended(lower($1), 7256002))", 1,
                      p, NULL, NULL, NULL, err) ||
        !cs_sql_queue(cmd,
                      "SELECT failures, window_start_us, locked_until_us, lockouts"
                      " FROM login_throttle WHERE email_key = " THROTTLE_KEY,
                      1, p, NULL, NULL, &tr, err) ||
        !cs_sql(cmd,
                "SELECT user_id, password_hash FROM user_credentials"
                " WHERE lower(email) = lower($1)",
                1, p, &r, err)) {
        PQclear(tr);
        return false;
    }
    memset(t, 0, sizeof *t);
    if (PQntuples(tr) == 1) {
        t->failures = (int)strtol(PQgetvalue(tr, 0, 0), NULL, 10);
        t->window_start_us = strtoll(PQgetvalue(tr, 0, 1), NULL, 10);
        t->locked_until_us = strtoll(PQgetvalue(tr, 0, 2), NULL, 10);
        t->lockouts = (int)strtol(PQgetvalue(tr, 0, 3), NULL, 10);
    }
    PQclear(tr);
    *found = PQntuples(r) == 1;
    if (*found) {
        snprintf(user_id, user_id_cap, "%s", PQgetvalue(r, 0, 0));
        snprintf(hash, hash_cap, "%s", PQgetvalue(r, 0, 1));
    }
    PQclear(r);
    return true;
}

/* A failed log-in: store the address's new throttle state (committed although the command is
 * refused) and answer 401, the same for unknown and known addresses. */
static bool login_failed(cs_cmd_t *cmd, const char *email, cs_login_throttle_t *t, hl_error_t *err)
{
    const cs_config_t *cfg = &cmd->app->cfg;
    cs_login_policy_t policy = {.max_failures = (int)cfg->login_max_failures,
                                .window_us = cfg->login_window_s * 1000000LL,
                                .lockout_us = cfg->login_lockout_s * 1000000LL,
                                .lockout_max_us = cfg->login_lockout_max_s * 1000000LL};
    if (cs_login_record_failure(t, &policy, cmd->now_us)) {
        hl_metric_add(hl_metric_get(HL_METRIC_COUNTER, "hl_login_lockouts_total", NULL,
                                    "e-mail addresses locked out after repeated failed log-ins"),
                      1);
        HL_WARN("log-in: an e-mail address is locked out for %lld s after %lld failures",
                (long long)cs_login_locked_for_s(t, cmd->now_us), cfg->login_max_failures);
    }
    char failures[16], window[24], locked[24], lockouts[16];
    snprintf(failures, sizeof failures, "%d", t->failures);
    snprintf(window, sizeof window, "%lld", (long long)t->window_start_us);
    snprintf(locked, sizeof locked, "%lld", (long long)t->locked_until_us);
    snprintf(lockouts, sizeof lockouts, "%d", t->lockouts);
    const char *p[5] = {email, failures, window, locked, lockouts};
    if (!cs_sql_queue(cmd,
                      "INSERT INTO login_throttle (email_key, failures, window_start_us,"
                      " locked_until_us, lockouts) VALUES (" THROTTLE_KEY ", $2, $3, $4, $5)"
                      " ON CONFLICT (email_key) DO UPDATE SET failures = EXCLUDED.failures,"
                      " window_start_us = EXCLUDED.window_start_us,"
                      " locked_until_us = EXCLUDED.locked_until_us,"
                      " lockouts = EXCLUDED.lockouts, updated_at = now()",
                      5, p, NULL, NULL, NULL, err))
        return false;
    count_login("failed");
    hl_error_t refusal = {0};
    hl_error_set_reason(&refusal, HL_ERR_INPUT, 401, "invalid-credentials",
                        "e-mail or password is wrong");
    return cs_cmd_refuse_committed(cmd, &refusal);
}

static bool login_exec(cs_cmd_t *cmd, hl_error_t *err)
{
    cs_login_cmd_t *c = cmd->state;
    cs_login_throttle_t throttle;
    bool found = false;
    char user_id[HL_UUID_STR_LEN + 1] = "";
    char hash[crypto_pwhash_STRBYTES] = "";
    if (!login_load(cmd, c->email, &throttle, user_id, sizeof user_id, hash, sizeof hash, &found,
                    err))
        return false;
    int64_t locked_s = cs_login_locked_for_s(&throttle, cmd->now_us);
    if (locked_s > 0) {
        /* Whatever the password: a lock-out is not lifted by guessing right. */
        sodium_memzero(hash, sizeof hash);
        count_login("locked");
        cs_cmd_header(cmd, "Retry-After: %lld\r\n", (long long)locked_s);
        hl_error_t refusal = {0};
        hl_error_set_reason(&refusal, HL_ERR_INPUT, 429, "login-locked",
                            "too many failed log-ins for this e-mail address; retry later");
        return cs_cmd_refuse_committed(cmd, &refusal);
    }
    /* Unknown e-mail: verify against a dummy hash so both paths cost one argon2id run. */
    bool good = crypto_pwhash_str_verify(found ? hash : cmd->app->dummy_hash, c->password,
                                         strlen(c->password)) == 0 &&
                found;
    sodium_memzero(hash, sizeof hash);
    if (!good)
        return login_failed(cmd, c->email, &throttle, err);
    if (throttle.window_start_us || throttle.lockouts) {
        const char *p[1] = {c->email};
        if (!cs_sql_queue(cmd, "DELETE FROM login_throttle WHERE email_key = " THROTTLE_KEY, 1, p,
                          NULL, NULL, NULL, err))
            return false;
    }
    count_login("ok");
    hl_session_t s = {0};
    hl_uuid_v7(s.session_id);
    snprintf(s.user_id, sizeof s.user_id, "%s", user_id);
    int64_t expires_us = cmd->now_us + (int64_t)cmd->app->cfg.session_ttl_s * 1000000;
    s.expires_at_ms = expires_us / 1000;
    char now[24], exp[24];
    snprintf(now, sizeof now, "%lld", (long long)cmd->now_us);
    snprintf(exp, sizeof exp, "%lld", (long long)(s.expires_at_ms * 1000));
    const char *sp[4] = {s.session_id, user_id, now, exp};
    if (!cs_sql(cmd,
                "INSERT INTO sessions (session_id, user_id, created_at, expires_at, version)"
                " VALUES ($1, $2, " CS_TS(3) ", " CS_TS(4) ", 1)",
                4, sp, NULL, err))
        return false;
    char *token = hl_session_token_new(&cmd->app->session_key, &s);
    if (!token)
        return hl_error_set(err, HL_ERR_SYSTEM, 0, "out of memory");
    char exp_text[40];
    hl_format_rfc3339_us(s.expires_at_ms * 1000, exp_text, sizeof exp_text);
    cmd->status = 201;
    BSON_APPEND_UTF8(&cmd->reply, "token", token);
    BSON_APPEND_UTF8(&cmd->reply, "user_id", user_id);
    BSON_APPEND_UTF8(&cmd->reply, "session_id", s.session_id);
    BSON_APPEND_UTF8(&cmd->reply, "expires_at", exp_text);
    BSON_APPEND_INT64(&cmd->reply, "version", 1);
    cs_cmd_header(cmd, "Cache-Control: no-store\r\n");
    cs_cmd_watermark(cmd, "cdc.sessions", s.session_id, 1);
    sodium_memzero(token, strlen(token));
    free(token);
    return true;
}

void cs_handle_login(hl_http_request_t *req)
{
    static const cs_cmd_spec_t spec = {.auth = false,
                                       .has_body = true,
                                       .sensitive = true,
                                       .prepare = login_prepare,
                                       .exec = login_exec};
    cs_login_cmd_t c = {0};
    cs_cmd_run(req, &spec, &c);
}

/* ---- log out ---- */

static bool logout_exec(cs_cmd_t *cmd, hl_error_t *err)
{
    const char *p[1] = {cmd->session.session_id};
    bool found = false;
    int64_t version = 0;
    if (!cs_sql_int(cmd,
                    "UPDATE sessions SET revoked_at = now(), version = version + 1"
                    " WHERE session_id = $1 AND revoked_at IS NULL RETURNING version",
                    1, p, &found, &version, err))
        return false;
    if (!found)
        return hl_error_set_reason(err, HL_ERR_INPUT, 401, "revoked-token",
                                   "the session was logged out already");
    cmd->status = 204;
    cs_cmd_header(cmd, "ETag: \"%lld\"\r\n", (long long)version);
    cs_cmd_watermark(cmd, "cdc.sessions", cmd->session.session_id, version);
    return true;
}

void cs_handle_logout(hl_http_request_t *req)
{
    static const cs_cmd_spec_t spec = {.auth = true, .exec = logout_exec};
    cs_cmd_run(req, &spec, NULL);
}

/* ---- User aggregate updates ---- */

/* Lock the caller's users row and check If-Match; *version gets the current version. */
static bool lock_user(cs_cmd_t *cmd, int64_t *version, hl_error_t *err)
{
    const char *p[1] = {cmd->session.user_id};
    bool found = false;
    if (!cs_sql_int(cmd, "SELECT version FROM users WHERE user_id = $1 FOR UPDATE", 1, p, &found,
                    version, err))
        return false;
    if (!found)
        return hl_error_set_reason(err, HL_ERR_INPUT, 401, "invalid-token", "no such user");
    return cs_rule_version(*version, cmd->has_if_match, cmd->if_match, err);
}

static void reply_user(cs_cmd_t *cmd, int64_t version, bool changed)
{
    cmd->status = 200;
    BSON_APPEND_UTF8(&cmd->reply, "user_id", cmd->session.user_id);
    BSON_APPEND_INT64(&cmd->reply, "version", version);
    cs_cmd_header(cmd, "ETag: \"%lld\"\r\n", (long long)version);
    (void)changed;
    cs_cmd_watermark(cmd, "ev.User", cmd->session.user_id, version);
    cs_cmd_watermark(cmd, "cdc.users", cmd->session.user_id, version);
}

static bool profile_prepare(cs_cmd_t *cmd, hl_error_t *err)
{
    return cs_validate_profile(&cmd->body, cmd->state, err);
}

static bool profile_exec(cs_cmd_t *cmd, hl_error_t *err)
{
    cs_profile_cmd_t *c = cmd->state;
    int64_t version = 0;
    if (!lock_user(cmd, &version, err))
        return false;
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)cmd->now_us);
    const char *p[5] = {cmd->session.user_id, c->display_name, c->bio, c->avatar_url, now};
    bool found = false;
    if (!cs_sql_int(cmd,
                    "UPDATE users SET display_name = COALESCE($2, display_name),"
                    " bio = COALESCE($3, bio), avatar_url = COALESCE($4, avatar_url),"
                    " version = version + 1, updated_at = " CS_TS(
                        5) " WHERE user_id = $1 RETURNING version",
                    5, p, &found, &version, err))
        return false;
    hl_event_t ev = {0};
    bool ok = hl_event_init(&ev, cmd->app->catalog, "UserProfileUpdated", err) &&
              hl_avro_set_string_opt(&ev.record, "display_name", c->display_name, err) &&
              hl_avro_set_string_opt(&ev.record, "bio", c->bio, err) &&
              hl_avro_set_string_opt(&ev.record, "avatar_url", c->avatar_url, err) &&
              cs_cmd_emit(cmd, &ev, "User", cmd->session.user_id, version, err);
    hl_event_destroy(&ev);
    if (ok)
        reply_user(cmd, version, true);
    return ok;
}

void cs_handle_update_profile(hl_http_request_t *req)
{
    static const cs_cmd_spec_t spec = {
        .auth = true, .has_body = true, .prepare = profile_prepare, .exec = profile_exec};
    cs_profile_cmd_t c = {0};
    cs_cmd_run(req, &spec, &c);
}

static bool presence_prepare(cs_cmd_t *cmd, hl_error_t *err)
{
    return cs_validate_presence(&cmd->body, cmd->state, err);
}

static bool presence_exec(cs_cmd_t *cmd, hl_error_t *err)
{
    const char **status = cmd->state;
    int64_t version = 0;
    if (!lock_user(cmd, &version, err))
        return false;
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)cmd->now_us);
    const char *p[3] = {cmd->session.user_id, *status, now};
    PGresult *r = NULL;
    /* Setting the presence it already has changes nothing and emits no event (but a first
     * choice is one: presence_set, migration 008). */
    if (!cs_sql(cmd,
                "UPDATE users SET presence = $2, presence_set = true, version = version + 1,"
                " updated_at = " CS_TS(3) " WHERE user_id = $1 AND (presence <> $2 OR NOT"
                                          " presence_set) RETURNING version",
                3, p, &r, err))
        return false;
    bool changed = PQntuples(r) == 1;
    if (changed)
        version = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    if (changed) {
        hl_event_t ev = {0};
        bool ok = hl_event_init(&ev, cmd->app->catalog, "UserPresenceChanged", err) &&
                  hl_avro_set_string(&ev.record, "status", *status, err) &&
                  cs_cmd_emit(cmd, &ev, "User", cmd->session.user_id, version, err);
        hl_event_destroy(&ev);
        if (!ok)
            return false;
    }
    reply_user(cmd, version, changed);
    BSON_APPEND_UTF8(&cmd->reply, "status", *status);
    return true;
}

void cs_handle_set_presence(hl_http_request_t *req)
{
    static const cs_cmd_spec_t spec = {
        .auth = true, .has_body = true, .prepare = presence_prepare, .exec = presence_exec};
    const char *status = NULL;
    cs_cmd_run(req, &spec, &status);
}
