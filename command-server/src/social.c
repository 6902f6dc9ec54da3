/* social.c: social context commands (SPEC §2): friend requests (send, accept, reject), delete
 * friend, block, unblock. Aggregates FriendRequest, Friendship and Block; every invariant on a
 * pair of users is checked under a transaction-scoped advisory lock on that pair
 * (cs_lock_pair), so two concurrent commands on one pair see each other's effects. */
#include "social.h"
#include "cmd.h"
#include "validate.h"

#include "hl/log.h"
#include "hl/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- pair locks and facts (social.h) ---- */

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

static void now_text(const cs_cmd_t *cmd, char out[24])
{
    snprintf(out, 24, "%lld", (long long)cmd->now_us);
}

/* Emit a social event carrying two user ids (field names a_field/b_field). */
static bool emit_pair_event(cs_cmd_t *cmd, const char *type, const char *aggregate_type,
                            const char *aggregate_id, int64_t version, const char *a_field,
                            const char *a, const char *b_field, const char *b,
                            const char *friendship_id, hl_error_t *err)
{
    hl_event_t ev = {0};
    bool ok = hl_event_init(&ev, cmd->app->catalog, type, err) &&
              hl_avro_set_string(&ev.record, a_field, a, err) &&
              hl_avro_set_string(&ev.record, b_field, b, err) &&
              (!friendship_id ||
               hl_avro_set_string_opt(&ev.record, "friendship_id", friendship_id, err)) &&
              cs_cmd_emit(cmd, &ev, aggregate_type, aggregate_id, version, err);
    hl_event_destroy(&ev);
    return ok;
}

/* ---- send a friend request ---- */

static bool request_prepare(cs_cmd_t *cmd, hl_error_t *err)
{
    return cs_validate_user_ref(&cmd->body, "to_user_id", cmd->state, err);
}

static bool request_exec(cs_cmd_t *cmd, hl_error_t *err)
{
    const char *to = *(const char **)cmd->state;
    const char *me = cmd->session.user_id;
    cs_pair_facts_t f;
    if (!cs_lock_pair(cmd, me, to, err) || !cs_load_pair_facts(cmd, to, &f, err) ||
        !cs_rule_friend_request(&f, err))
        return false;
    char request_id[HL_UUID_STR_LEN + 1], now[24];
    hl_uuid_v7(request_id);
    now_text(cmd, now);
    const char *p[4] = {request_id, me, to, now};
    if (!cs_sql(cmd,
                "INSERT INTO friend_requests (request_id, from_user_id, to_user_id, status,"
                " version, created_at, updated_at) VALUES ($1, $2, $3, 'pending', 1, " CS_TS(
                    4) ", " CS_TS(4) ")",
                4, p, NULL, err))
        return false;
    if (!emit_pair_event(cmd, "FriendRequestSent", "FriendRequest", request_id, 1, "from_user_id",
                         me, "to_user_id", to, NULL, err))
        return false;
    cmd->status = 201;
    BSON_APPEND_UTF8(&cmd->reply, "request_id", request_id);
    BSON_APPEND_INT64(&cmd->reply, "version", 1);
    cs_cmd_header(cmd, "ETag: \"1\"\r\n");
    cs_cmd_watermark(cmd, "ev.FriendRequest", request_id, 1);
    return true;
}

void cs_handle_friend_request(hl_http_request_t *req)
{
    static const cs_cmd_spec_t spec = {
        .auth = true, .has_body = true, .prepare = request_prepare, .exec = request_exec};
    const char *to = NULL;
    cs_cmd_run(req, &spec, &to);
}

/* ---- accept / reject ---- */

static bool answer(cs_cmd_t *cmd, bool accepting, hl_error_t *err)
{
    const char *request_id = cmd->req->params[0];
    if (!hl_uuid_valid(request_id))
        return hl_error_set_reason(err, HL_ERR_DOMAIN, 404, "request-not-found",
                                   "no such friend request");
    const char *p[1] = {request_id};
    PGresult *r = NULL;
    if (!cs_sql(cmd,
                "SELECT from_user_id, to_user_id, status, version FROM friend_requests"
                " WHERE request_id = $1",
                1, p, &r, err))
        return false;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return hl_error_set_reason(err, HL_ERR_DOMAIN, 404, "request-not-found",
                                   "no such friend request");
    }
    char from[HL_UUID_STR_LEN + 1], to[HL_UUID_STR_LEN + 1];
    snprintf(from, sizeof from, "%s", PQgetvalue(r, 0, 0));
    snprintf(to, sizeof to, "%s", PQgetvalue(r, 0, 1));
    PQclear(r);
    const char *me = cmd->session.user_id;
    bool recipient = !strcasecmp(to, me);
    if (!recipient && strcasecmp(from, me))
        /* A stranger's request: do not reveal that it exists. */
        return hl_error_set_reason(err, HL_ERR_DOMAIN, 403, "not-recipient",
                                   "only the recipient may answer a friend request");
    /* Lock the pair, then the request row, and re-read its state under the lock. */
    if (!cs_lock_pair(cmd, from, to, err) ||
        !cs_sql(cmd, "SELECT status, version FROM friend_requests WHERE request_id = $1 FOR UPDATE",
                1, p, &r, err))
        return false;
    bool pending = !strcmp(PQgetvalue(r, 0, 0), "pending");
    int64_t version = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    PQclear(r);
    cs_pair_facts_t f;
    if (!cs_load_pair_facts(cmd, from, &f, err) ||
        !cs_rule_answer_request(recipient, pending, accepting,
                                f.caller_blocked_target || f.target_blocked_caller, err) ||
        !cs_rule_version(version, cmd->has_if_match, cmd->if_match, err))
        return false;
    char now[24];
    now_text(cmd, now);
    const char *up[3] = {request_id, accepting ? "accepted" : "rejected", now};
    bool found = false;
    if (!cs_sql_int(cmd,
                    "UPDATE friend_requests SET status = $2, version = version + 1,"
                    " updated_at = " CS_TS(3) " WHERE request_id = $1 RETURNING version",
                    3, up, &found, &version, err))
        return false;
    char friendship_id[HL_UUID_STR_LEN + 1] = "";
    if (accepting) {
        if (f.friends)
            return hl_error_set_reason(err, HL_ERR_DOMAIN, 409, "already-friends",
                                       "you are already friends");
        hl_uuid_v7(friendship_id);
        const char *fp[5] = {friendship_id, from, to, request_id, now};
        if (!cs_sql(cmd,
                    "INSERT INTO friendships (friendship_id, user_a, user_b, request_id, since,"
                    " version) VALUES ($1, LEAST($2::uuid, $3::uuid), GREATEST($2::uuid,"
                    " $3::uuid), $4, " CS_TS(5) ", 1)",
                    5, fp, NULL, err))
            return false;
    }
    if (!emit_pair_event(cmd, accepting ? "FriendRequestAccepted" : "FriendRequestRejected",
                         "FriendRequest", request_id, version, "from_user_id", from, "to_user_id",
                         to, accepting ? friendship_id : NULL, err))
        return false;
    cmd->status = 200;
    BSON_APPEND_UTF8(&cmd->reply, "request_id", request_id);
    BSON_APPEND_UTF8(&cmd->reply, "status", accepting ? "accepted" : "rejected");
    if (accepting)
        BSON_APPEND_UTF8(&cmd->reply, "friendship_id", friendship_id);
    BSON_APPEND_INT64(&cmd->reply, "version", version);
    cs_cmd_header(cmd, "ETag: \"%lld\"\r\n", (long long)version);
    cs_cmd_watermark(cmd, "ev.FriendRequest", request_id, version);
    return true;
}

static bool accept_exec(cs_cmd_t *cmd, hl_error_t *err)
{
    return answer(cmd, true, err);
}

static bool reject_exec(cs_cmd_t *cmd, hl_error_t *err)
{
    return answer(cmd, false, err);
}

void cs_handle_accept_request(hl_http_request_t *req)
{
    static const cs_cmd_spec_t spec = {.auth = true, .exec = accept_exec};
    cs_cmd_run(req, &spec, NULL);
}

void cs_handle_reject_request(hl_http_request_t *req)
{
    static const cs_cmd_spec_t spec = {.auth = true, .exec = reject_exec};
    cs_cmd_run(req, &spec, NULL);
}

/* ---- delete a friend ---- */

static bool unfriend_exec(cs_cmd_t *cmd, hl_error_t *err)
{
    const char *other = cmd->req->params[0];
    const char *me = cmd->session.user_id;
    if (!hl_uuid_valid(other))
        return hl_error_set_reason(err, HL_ERR_DOMAIN, 404, "not-friends",
                                   "you are not friends with this user");
    if (!cs_lock_pair(cmd, me, other, err))
        return false;
    const char *p[2] = {me, other};
    PGresult *r = NULL;
    if (!cs_sql(cmd,
                "SELECT friendship_id, version FROM friendships WHERE user_a = LEAST($1::uuid,"
                " $2::uuid) AND user_b = GREATEST($1::uuid, $2::uuid) AND ended_at IS NULL"
                " FOR UPDATE",
                2, p, &r, err))
        return false;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return hl_error_set_reason(err, HL_ERR_DOMAIN, 404, "not-friends",
                                   "you are not friends with this user");
    }
    char friendship_id[HL_UUID_STR_LEN + 1];
    snprintf(friendship_id, sizeof friendship_id, "%s", PQgetvalue(r, 0, 0));
    int64_t version = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    PQclear(r);
    if (!cs_rule_version(version, cmd->has_if_match, cmd->if_match, err))
        return false;
    const char *up[1] = {friendship_id};
    bool found = false;
    if (!cs_sql_int(cmd,
                    "UPDATE friendships SET ended_at = now(), version = version + 1"
                    " WHERE friendship_id = $1 RETURNING version",
                    1, up, &found, &version, err) ||
        !emit_pair_event(cmd, "FriendDeleted", "Friendship", friendship_id, version, "user_id", me,
                         "friend_user_id", other, NULL, err))
        return false;
    cmd->status = 204;
    cs_cmd_header(cmd, "X-Aggregate-Id: %s\r\nETag: \"%lld\"\r\n", friendship_id,
                  (long long)version);
    cs_cmd_watermark(cmd, "ev.Friendship", friendship_id, version);
    return true;
}

void cs_handle_delete_friend(hl_http_request_t *req)
{
    static const cs_cmd_spec_t spec = {.auth = true, .exec = unfriend_exec};
    cs_cmd_run(req, &spec, NULL);
}

/* ---- block / unblock ---- */

static bool block_prepare(cs_cmd_t *cmd, hl_error_t *err)
{
    return cs_validate_user_ref(&cmd->body, "user_id", cmd->state, err);
}

static bool block_exec(cs_cmd_t *cmd, hl_error_t *err)
{
    const char *other = *(const char **)cmd->state;
    const char *me = cmd->session.user_id;
    cs_pair_facts_t f;
    if (!cs_lock_pair(cmd, me, other, err) || !cs_load_pair_facts(cmd, other, &f, err) ||
        !cs_rule_block(&f, err))
        return false;
    char block_id[HL_UUID_STR_LEN + 1], now[24];
    hl_uuid_v7(block_id);
    now_text(cmd, now);
    const char *p[4] = {block_id, me, other, now};
    if (!cs_sql(cmd,
                "INSERT INTO blocks (block_id, blocker_id, blocked_id, created_at, version)"
                " VALUES ($1, $2, $3, " CS_TS(4) ", 1)",
                4, p, NULL, err) ||
        !emit_pair_event(cmd, "UserBlocked", "Block", block_id, 1, "blocker_id", me, "blocked_id",
                         other, NULL, err))
        return false;
    cmd->status = 201;
    BSON_APPEND_UTF8(&cmd->reply, "block_id", block_id);
    BSON_APPEND_UTF8(&cmd->reply, "user_id", other);
    BSON_APPEND_INT64(&cmd->reply, "version", 1);
    cs_cmd_header(cmd, "ETag: \"1\"\r\n");
    cs_cmd_watermark(cmd, "ev.Block", block_id, 1);
    return true;
}

void cs_handle_block(hl_http_request_t *req)
{
    static const cs_cmd_spec_t spec = {
        .auth = true, .has_body = true, .prepare = block_prepare, .exec = block_exec};
    const char *other = NULL;
    cs_cmd_run(req, &spec, &other);
}

static bool unblock_exec(cs_cmd_t *cmd, hl_error_t *err)
{
    const char *other = cmd->req->params[0];
    const char *me = cmd->session.user_id;
    if (!hl_uuid_valid(other))
        return hl_error_set_reason(err, HL_ERR_DOMAIN, 404, "not-blocked",
                                   "you do not block this user");
    if (!cs_lock_pair(cmd, me, other, err))
        return false;
    const char *p[2] = {me, other};
    PGresult *r = NULL;
    if (!cs_sql(cmd,
                "SELECT block_id, version FROM blocks WHERE blocker_id = $1 AND blocked_id = $2"
                " AND removed_at IS NULL FOR UPDATE",
                2, p, &r, err))
        return false;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return hl_error_set_reason(err, HL_ERR_DOMAIN, 404, "not-blocked",
                                   "you do not block this user");
    }
    char block_id[HL_UUID_STR_LEN + 1];
    snprintf(block_id, sizeof block_id, "%s", PQgetvalue(r, 0, 0));
    int64_t version = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    PQclear(r);
    if (!cs_rule_version(version, cmd->has_if_match, cmd->if_match, err))
        return false;
    const char *up[1] = {block_id};
    bool found = false;
    if (!cs_sql_int(cmd,
                    "UPDATE blocks SET removed_at = now(), version = version + 1"
                    " WHERE block_id = $1 RETURNING version",
                    1, up, &found, &version, err) ||
        !emit_pair_event(cmd, "UserUnblocked", "Block", block_id, version, "blocker_id", me,
                         "blocked_id", other, NULL, err))
        return false;
    cmd->status = 204;
    cs_cmd_header(cmd, "X-Aggregate-Id: %s\r\nETag: \"%lld\"\r\n", block_id, (long long)version);
    cs_cmd_watermark(cmd, "ev.Block", block_id, version);
    return true;
}

void cs_handle_unblock(hl_http_request_t *req)
{
    static const cs_cmd_spec_t spec = {.auth = true, .exec = unblock_exec};
    cs_cmd_run(req, &spec, NULL);
}
