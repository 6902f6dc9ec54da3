/* chat.c: chat context commands (SPEC §2): create room, send message, mark read.
 *
 * Aggregate ChatRoom = chat_rooms row + room_members rows + messages rows. Its version
 * (chat_rooms.version) increments on every event (ChatRoomCreated, MessageSent, MessagesRead);
 * captured rows carry it (room_members.room_version, messages.room_version). Commands lock the
 * chat_rooms row (FOR UPDATE) first, so seq is gapless and versions never repeat.
 *
 * Block rule (documented in schemas/openapi): in a direct room a block either way refuses
 * messages; in a group room a sender is refused when any other member blocks them (their
 * message would reach the blocker), while a blocker may still write to the group. */
#include "chat.h"
#include "cmd.h"
#include "social.h"
#include "validate.h"

#include "hl/log.h"
#include "hl/mem.h"
#include "hl/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- create a room ---- */

static bool room_prepare(cs_cmd_t *cmd, hl_error_t *err)
{
    return cs_validate_room(&cmd->body, cmd->state, err);
}

static void reply_room(cs_cmd_t *cmd, int status, const char *room_id, const char *kind,
                       int64_t version)
{
    cmd->status = status;
    BSON_APPEND_UTF8(&cmd->reply, "room_id", room_id);
    BSON_APPEND_UTF8(&cmd->reply, "kind", kind);
    BSON_APPEND_INT64(&cmd->reply, "version", version);
    cs_cmd_header(cmd, "Location: /v1/chat-rooms/%s\r\nETag: \"%lld\"\r\n", room_id,
                  (long long)version);
    cs_cmd_watermark(cmd, "ev.ChatRoom", room_id, version);
    cs_cmd_watermark(cmd, "cdc.chat_rooms", room_id, version);
    cs_cmd_watermark(cmd, "cdc.room_members", room_id, version);
}

static bool room_exec(cs_cmd_t *cmd, hl_error_t *err)
{
    cs_room_cmd_t *c = cmd->state;
    const char *me = cmd->session.user_id;
    const char *members[CS_ROOM_MAX_MEMBERS + 1];
    size_t n = cs_room_members(me, c->ids, c->n, members, err);
    if (n == 0)
        return false;
    bool direct = n == 2;
    char direct_key[HL_DIRECT_KEY_MAX] = "";
    /* Pair locks in a global order (members are few) keep the checks true until commit. */
    for (size_t i = 0; i + 1 < n; i++) {
        cs_pair_facts_t f;
        if (!cs_lock_pair(cmd, me, members[i], err) ||
            !cs_load_pair_facts(cmd, members[i], &f, err) ||
            !(direct ? cs_rule_direct_room(&f, err) : cs_rule_group_member(&f, err)))
            return false;
    }
    if (direct) {
        if (!hl_direct_key(me, members[0], direct_key, sizeof direct_key))
            return hl_error_set_reason(err, HL_ERR_INPUT, 422, "validation-failed",
                                       "a member id is not a UUID");
        const char *p[1] = {direct_key};
        PGresult *r = NULL;
        if (!cs_sql(cmd, "SELECT room_id, version FROM chat_rooms WHERE direct_key = $1", 1, p, &r,
                    err))
            return false;
        if (PQntuples(r) == 1) {
            char room_id[HL_UUID_STR_LEN + 1];
            snprintf(room_id, sizeof room_id, "%s", PQgetvalue(r, 0, 0));
            int64_t version = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
            PQclear(r);
            reply_room(cmd, 200, room_id, "direct", version);
            return true;
        }
        PQclear(r);
    }
    char room_id[HL_UUID_STR_LEN + 1], now[24];
    hl_uuid_v7(room_id);
    snprintf(now, sizeof now, "%lld", (long long)cmd->now_us);
    const char *kind = direct ? "direct" : "group";
    const char *rp[6] = {room_id, kind, c->title, me, direct ? direct_key : NULL, now};
    if (!cs_sql(cmd,
                "INSERT INTO chat_rooms (room_id, kind, title, created_by, direct_key, last_seq,"
                " version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 0, 1, " CS_TS(
                    6) ", " CS_TS(6) ")",
                6, rp, NULL, err))
        return false;
    bson_string_t *arr = bson_string_new("{");
    for (size_t i = 0; i < n; i++)
        bson_string_append_printf(arr, "%s%s", i ? "," : "", members[i]);
    bson_string_append(arr, "}");
    const char *mp[3] = {room_id, arr->str, now};
    bool ok = cs_sql(cmd,
                     "INSERT INTO room_members (room_id, user_id, joined_at, last_read_seq,"
                     " room_version) SELECT $1, m, " CS_TS(3) ", 0, 1 FROM unnest($2::uuid[]) AS m",
                     3, mp, NULL, err);
    bson_string_free(arr, true);
    if (!ok)
        return false;
    hl_event_t ev = {0};
    ok = hl_event_init(&ev, cmd->app->catalog, "ChatRoomCreated", err) &&
         hl_avro_set_string(&ev.record, "kind", kind, err) &&
         hl_avro_set_string_opt(&ev.record, "title", c->title, err) &&
         hl_avro_set_string_array(&ev.record, "member_ids", members, n, err) &&
         hl_avro_set_string(&ev.record, "created_by", me, err) &&
         cs_cmd_emit(cmd, &ev, "ChatRoom", room_id, 1, err);
    hl_event_destroy(&ev);
    if (!ok)
        return false;
    reply_room(cmd, 201, room_id, kind, 1);
    return true;
}

void cs_handle_create_room(hl_http_request_t *req)
{
    static const cs_cmd_spec_t spec = {
        .auth = true, .has_body = true, .prepare = room_prepare, .exec = room_exec};
    cs_room_cmd_t c;
    memset(&c, 0, sizeof c);
    cs_cmd_run(req, &spec, &c);
}

/* The locked room: kind, last_seq, version; 404 "room-not-found" when absent. */
typedef struct {
    bool direct;
    int64_t last_seq;
    int64_t version;
} room_state_t;

/* Queue the lock of the room row (FOR UPDATE); its result arrives in *res at the next flush
 * and room_locked reads it. 404 "room-not-found" for a malformed id. */
static bool queue_lock_room(cs_cmd_t *cmd, const char *room_id, PGresult **res, hl_error_t *err)
{
    if (!hl_uuid_valid(room_id))
        return hl_error_set_reason(err, HL_ERR_DOMAIN, 404, "room-not-found", "no such room");
    const char *p[1] = {room_id};
    return cs_sql_queue(cmd,
                        "SELECT kind, last_seq, version FROM chat_rooms WHERE room_id = $1"
                        " FOR UPDATE",
                        1, p, NULL, NULL, res, err);
}

/* Read the locked room from queue_lock_room's result (which it clears); 404 when absent. */
static bool room_locked(PGresult *r, room_state_t *s, hl_error_t *err)
{
    if (PQntuples(r) != 1) {
        PQclear(r);
        return hl_error_set_reason(err, HL_ERR_DOMAIN, 404, "room-not-found", "no such room");
    }
    s->direct = !strcmp(PQgetvalue(r, 0, 0), "direct");
    s->last_seq = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    s->version = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    PQclear(r);
    return true;
}

/* ---- send a message ---- */

static bool message_prepare(cs_cmd_t *cmd, hl_error_t *err)
{
    return cs_validate_message(&cmd->body, cmd->state, err);
}

static void reply_message(cs_cmd_t *cmd, const char *room_id, const char *message_id, int64_t seq,
                          int64_t version)
{
    cmd->status = 201;
    BSON_APPEND_UTF8(&cmd->reply, "room_id", room_id);
    BSON_APPEND_UTF8(&cmd->reply, "message_id", message_id);
    BSON_APPEND_INT64(&cmd->reply, "seq", seq);
    BSON_APPEND_INT64(&cmd->reply, "version", version);
    cs_cmd_header(cmd, "ETag: \"%lld\"\r\n", (long long)version);
    cs_cmd_watermark(cmd, "ev.ChatRoom", room_id, version);
    cs_cmd_watermark(cmd, "cdc.chat_rooms", room_id, version);
    cs_cmd_watermark(cmd, "cdc.messages", room_id, version);
}

static bool message_exec(cs_cmd_t *cmd, hl_error_t *err)
{
    cs_message_cmd_t *c = cmd->state;
    const char *room_id = cmd->req->params[0];
    const char *me = cmd->session.user_id;
    room_state_t room;
    PGresult *lock = NULL, *r = NULL;
    const char *p[3] = {room_id, me, c->client_message_id};
    /* The room lock, then membership, blocks and the client_message_id replay (read after the
     * lock is granted) in one round trip with BEGIN and the session check. */
    if (!queue_lock_room(cmd, room_id, &lock, err) ||
        !cs_sql(cmd,
                "SELECT EXISTS (SELECT 1 FROM room_members WHERE room_id = $1 AND user_id = $2),"
                " EXISTS (SELECT 1 FROM room_members m JOIN blocks b ON b.blocker_id = m.user_id"
                "   AND b.blocked_id = $2 AND b.removed_at IS NULL WHERE m.room_id = $1),"
                " EXISTS (SELECT 1 FROM room_members m JOIN blocks b ON b.blocked_id = m.user_id"
                "   AND b.blocker_id = $2 AND b.removed_at IS NULL WHERE m.room_id = $1),"
                " (SELECT message_id || ' ' || seq || ' ' || room_version FROM messages"
                "   WHERE room_id = $1 AND sender_id = $2 AND client_message_id = $3),"
                " array_to_string(ARRAY(SELECT user_id FROM room_members WHERE room_id = $1"
                "   AND user_id <> $2 ORDER BY user_id), ',')",
                3, p, &r, err))
        return false;
    if (!room_locked(lock, &room, err)) {
        PQclear(r);
        return false;
    }
    bool member = PQgetvalue(r, 0, 0)[0] == 't';
    bool blocked_by = PQgetvalue(r, 0, 1)[0] == 't';
    bool blocks_other = PQgetvalue(r, 0, 2)[0] == 't';
    if (!cs_rule_send_message(member, room.direct, blocked_by, blocks_other, err)) {
        PQclear(r);
        return false;
    }
    if (!PQgetisnull(r, 0, 3)) {
        /* Same client_message_id from this sender: answer with the message already stored. */
        char message_id[HL_UUID_STR_LEN + 1];
        long long seq = 0, version = 0;
        snprintf(message_id, sizeof message_id, "%s", PQgetvalue(r, 0, 3));
        const char *rest = PQgetvalue(r, 0, 3) + HL_UUID_STR_LEN;
        char *end = NULL;
        seq = strtoll(rest, &end, 10);
        version = strtoll(end, NULL, 10);
        PQclear(r);
        reply_message(cmd, room_id, message_id, seq, version);
        return true;
    }
    /* Recipients: split the comma list into an array of pointers into a copy. */
    char *list = hl_xstrdup(PQgetvalue(r, 0, 4));
    PQclear(r);
    const char *recipients[CS_ROOM_MAX_MEMBERS + 8];
    size_t nrec = 0;
    for (char *s = list; *s && nrec < sizeof recipients / sizeof recipients[0];) {
        recipients[nrec++] = s;
        char *comma = strchr(s, ',');
        if (!comma)
            break;
        *comma = '\0';
        s = comma + 1;
    }
    if (!cs_rule_version(room.version, cmd->has_if_match, cmd->if_match, err)) {
        free(list);
        return false;
    }
    int64_t seq = room.last_seq + 1, version = room.version + 1;
    char message_id[HL_UUID_STR_LEN + 1], now[24], seq_text[24], version_text[24];
    hl_uuid_v7(message_id);
    snprintf(now, sizeof now, "%lld", (long long)cmd->now_us);
    snprintf(seq_text, sizeof seq_text, "%lld", (long long)seq);
    snprintf(version_text, sizeof version_text, "%lld", (long long)version);
    const char *mp[9] = {room_id,      seq_text, message_id,
                         me,           c->body,  c->client_message_id,
                         version_text, now,      cs_cmd_traceparent(cmd)};
    /* Rides with the event insert and COMMIT. */
    bool ok = cs_sql_queue(
        cmd,
        "WITH room AS (UPDATE chat_rooms SET last_seq = $2::bigint, version = $7::bigint,"
        " updated_at = " CS_TS(
            8) " WHERE room_id = $1)"
               " INSERT INTO messages (room_id, seq, message_id, sender_id, body,"
               " client_message_id, room_version, created_at, traceparent) VALUES ($1, $2, $3,"
               " $4, $5, $6, $7, " CS_TS(8) ", $9)",
        9, mp, NULL, NULL, NULL, err);
    hl_event_t ev = {0};
    ok = ok && hl_event_init(&ev, cmd->app->catalog, "MessageSent", err) &&
         hl_avro_set_string(&ev.record, "message_id", message_id, err) &&
         hl_avro_set_long(&ev.record, "seq", seq, err) &&
         hl_avro_set_string(&ev.record, "sender_id", me, err) &&
         hl_avro_set_string(&ev.record, "body", c->body, err) &&
         hl_avro_set_string(&ev.record, "client_message_id", c->client_message_id, err) &&
         hl_avro_set_string_array(&ev.record, "recipient_ids", recipients, nrec, err) &&
         cs_cmd_emit(cmd, &ev, "ChatRoom", room_id, version, err);
    hl_event_destroy(&ev);
    free(list);
    if (!ok)
        return false;
    reply_message(cmd, room_id, message_id, seq, version);
    return true;
}

void cs_handle_send_message(hl_http_request_t *req)
{
    static const cs_cmd_spec_t spec = {
        .auth = true, .has_body = true, .prepare = message_prepare, .exec = message_exec};
    cs_message_cmd_t c = {0};
    cs_cmd_run(req, &spec, &c);
}

/* ---- mark read ---- */

static bool read_prepare(cs_cmd_t *cmd, hl_error_t *err)
{
    return cs_validate_mark_read(&cmd->body, cmd->state, err);
}

static bool read_exec(cs_cmd_t *cmd, hl_error_t *err)
{
    int64_t up_to = *(int64_t *)cmd->state;
    const char *room_id = cmd->req->params[0];
    const char *me = cmd->session.user_id;
    room_state_t room;
    PGresult *lock = NULL;
    const char *p[2] = {room_id, me};
    bool member = false;
    int64_t last_read = 0;
    if (!queue_lock_room(cmd, room_id, &lock, err) ||
        !cs_sql_int(cmd,
                    "SELECT last_read_seq FROM room_members WHERE room_id = $1 AND user_id = $2", 2,
                    p, &member, &last_read, err) ||
        !room_locked(lock, &room, err))
        return false;
    bool advances = false;
    if (!cs_rule_mark_read(member, last_read, room.last_seq, up_to, &advances, err) ||
        !cs_rule_version(room.version, cmd->has_if_match, cmd->if_match, err))
        return false;
    int64_t version = room.version;
    if (advances) {
        version++;
        char up_text[24], version_text[24], now[24];
        snprintf(up_text, sizeof up_text, "%lld", (long long)up_to);
        snprintf(version_text, sizeof version_text, "%lld", (long long)version);
        snprintf(now, sizeof now, "%lld", (long long)cmd->now_us);
        const char *up[5] = {room_id, me, up_text, version_text, now};
        hl_event_t ev = {0};
        bool ok =
            cs_sql(cmd,
                   "WITH room AS (UPDATE chat_rooms SET version = $4::bigint, updated_at = " CS_TS(
                       5) " WHERE room_id = $1) UPDATE room_members SET last_read_seq ="
                          " $3::bigint, room_version = $4::bigint WHERE room_id = $1 AND"
                          " user_id = $2",
                   5, up, NULL, err) &&
            hl_event_init(&ev, cmd->app->catalog, "MessagesRead", err) &&
            hl_avro_set_string(&ev.record, "reader_id", me, err) &&
            hl_avro_set_long(&ev.record, "up_to_seq", up_to, err) &&
            cs_cmd_emit(cmd, &ev, "ChatRoom", room_id, version, err);
        hl_event_destroy(&ev);
        if (!ok)
            return false;
    }
    cmd->status = 200;
    BSON_APPEND_UTF8(&cmd->reply, "room_id", room_id);
    BSON_APPEND_INT64(&cmd->reply, "last_read_seq", advances ? up_to : last_read);
    BSON_APPEND_INT64(&cmd->reply, "version", version);
    cs_cmd_header(cmd, "ETag: \"%lld\"\r\n", (long long)version);
    cs_cmd_watermark(cmd, "ev.ChatRoom", room_id, version);
    cs_cmd_watermark(cmd, "cdc.chat_rooms", room_id, version);
    cs_cmd_watermark(cmd, "cdc.room_members", room_id, version);
    return true;
}

void cs_handle_mark_read(hl_http_request_t *req)
{
    static const cs_cmd_spec_t spec = {
        .auth = true, .has_body = true, .prepare = read_prepare, .exec = read_exec};
    int64_t up_to = 0;
    cs_cmd_run(req, &spec, &up_to);
}
