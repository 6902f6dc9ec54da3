/* presence.c: the pure half of presence.h: StreamConnection facts → plans, and the rule. */
#include "presence.h"

#include "hl/events.h"
#include "hl/util.h"

#include <stdio.h>
#include <string.h>

static bool bad_fact(hl_error_t *err, const char *what)
{
    return hl_error_set_reason(err, HL_ERR_INPUT, 0, "bad-event", "StreamConnection: %s", what);
}

bool pj_presence_fact_plan(avro_value_t *rec, pj_plan_t *plan, hl_error_t *err)
{
    const char *listener = NULL, *kind = NULL, *user = NULL;
    int64_t seq = 0, open = 0, users = 0, at_us = 0, started_us = 0;
    if (!hl_avro_get_string(rec, "listener_id", &listener, err) ||
        !hl_avro_get_string(rec, "kind", &kind, err) ||
        !hl_avro_get_string(rec, "user_id", &user, err) ||
        !hl_avro_get_long(rec, "seq", &seq, err) || !hl_avro_get_long(rec, "open", &open, err) ||
        !hl_avro_get_long(rec, "users", &users, err) || !hl_avro_get_long(rec, "at", &at_us, err) ||
        !hl_avro_get_long(rec, "started_at", &started_us, err))
        return bad_fact(err, "missing field");
    if (!listener[0] || strlen(listener) > 40 || seq < 1 || open < 0 || at_us <= 0)
        return bad_fact(err, "listener_id, seq, open or at out of range");
    plan->source_ms = at_us / 1000;
    bson_t set;
    if (!strcmp(kind, "heartbeat")) {
        pj_op_t *op = pj_plan_add(plan, PJ_OP_UPSERT, "presence_listeners");
        BSON_APPEND_UTF8(&op->filter, "_id", listener);
        pj_guard_older(&op->filter, "beat_at", at_us / 1000);
        BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$set", &set);
        BSON_APPEND_INT64(&set, "beat_at", at_us / 1000);
        BSON_APPEND_INT64(&set, "seq", seq);
        BSON_APPEND_INT64(&set, "connections", open);
        BSON_APPEND_INT64(&set, "users", users);
        BSON_APPEND_DATE_TIME(&set, "started_at", started_us / 1000);
        bson_append_document_end(&op->update, &set);
        return true;
    }
    if (strcmp(kind, "connect") && strcmp(kind, "disconnect"))
        return bad_fact(err, "kind is not connect, disconnect or heartbeat");
    if (!hl_uuid_valid(user))
        return bad_fact(err, "user_id is not a uuid");
    char id[128];
    snprintf(id, sizeof id, "%s:%s", user, listener);
    pj_op_t *op = pj_plan_add(plan, PJ_OP_UPSERT, "presence_connections");
    BSON_APPEND_UTF8(&op->filter, "_id", id);
    pj_guard_older(&op->filter, "seq", seq);
    BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$set", &set);
    BSON_APPEND_UTF8(&set, "user_id", user);
    BSON_APPEND_UTF8(&set, "listener_id", listener);
    BSON_APPEND_INT64(&set, "open", open);
    BSON_APPEND_INT64(&set, "seq", seq);
    BSON_APPEND_INT64(&set, "at", at_us / 1000);
    bson_append_document_end(&op->update, &set);
    /* the user is due for evaluation (a replayed fact only causes one more evaluation) */
    op = pj_plan_add(plan, PJ_OP_UPSERT, "presence");
    BSON_APPEND_UTF8(&op->filter, "_id", user);
    BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$set", &set);
    BSON_APPEND_INT64(&set, "due_at", 0);
    bson_append_document_end(&op->update, &set);
    return true;
}

void pj_presence_evaluate(const pj_presence_conn_t *conns, size_t n, int64_t now_ms,
                          int64_t grace_ms, pj_presence_state_t *out, bool *expired)
{
    int64_t until = 0, oldest_open = INT64_MAX;
    for (size_t i = 0; i < n; i++) {
        const pj_presence_conn_t *c = &conns[i];
        int64_t seen = c->open > 0 && c->beat_ms > c->at_ms ? c->beat_ms : c->at_ms;
        int64_t u = seen + grace_ms;
        if (u > until)
            until = u;
        if (expired)
            expired[i] = now_ms >= u;
        if (c->open > 0 && now_ms < u && c->at_ms < oldest_open)
            oldest_open = c->at_ms;
    }
    out->until_ms = until;
    out->online = until > now_ms;
    out->due_ms = out->online ? until : PJ_PRESENCE_NEVER;
    out->since_ms = out->online ? (oldest_open != INT64_MAX ? oldest_open : now_ms) : until;
}
