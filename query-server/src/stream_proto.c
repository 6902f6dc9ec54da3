/* stream_proto.c: wire formats of the streams (stream_proto.h). */
#include "stream_proto.h"

#include "hl/events.h"
#include "hl/util.h"

#include <bson/bson.h>
#include <stdio.h>
#include <string.h>

static bool bad(hl_error_t *err, const char *reason, const char *detail)
{
    return hl_error_set_reason(err, HL_ERR_INPUT, 400, reason, "%s", detail);
}

bool st_ws_op_parse(const char *text, size_t len, st_ws_op_t *out, hl_error_t *err)
{
    memset(out, 0, sizeof *out);
    bson_error_t berr;
    bson_t *doc = len ? bson_new_from_json((const uint8_t *)text, (ssize_t)len, &berr) : NULL;
    bson_iter_t it;
    bool ok = false;
    if (!doc) {
        bad(err, "invalid-json", "a frame must be one JSON object");
        goto done;
    }
    if (!bson_iter_init_find(&it, doc, "op") || !BSON_ITER_HOLDS_UTF8(&it)) {
        bad(err, "unknown-op", "op must be \"subscribe\" or \"unsubscribe\"");
        goto done;
    }
    const char *op = bson_iter_utf8(&it, NULL);
    if (!strcmp(op, "subscribe"))
        out->op = ST_OP_SUBSCRIBE;
    else if (!strcmp(op, "unsubscribe"))
        out->op = ST_OP_UNSUBSCRIBE;
    else {
        bad(err, "unknown-op", "op must be \"subscribe\" or \"unsubscribe\"");
        goto done;
    }
    uint32_t n = 0;
    if (!bson_iter_init_find(&it, doc, "channel") || !BSON_ITER_HOLDS_UTF8(&it) ||
        (bson_iter_utf8(&it, &n), n == 0 || n >= sizeof out->channel)) {
        bad(err, "invalid-channel",
            "channel must be room:<id>, notifications, presence or job:<id>");
        goto done;
    }
    memcpy(out->channel, bson_iter_utf8(&it, NULL), n + 1);
    if (bson_iter_init_find(&it, doc, "last_event_id") && !BSON_ITER_HOLDS_NULL(&it)) {
        if (!BSON_ITER_HOLDS_UTF8(&it) ||
            (bson_iter_utf8(&it, &n), n >= sizeof out->last_event_id)) {
            bad(err, "invalid-last-event-id", "last_event_id must be an event id string");
            goto done;
        }
        memcpy(out->last_event_id, bson_iter_utf8(&it, NULL), n + 1);
    }
    ok = true;
done:
    if (doc)
        bson_destroy(doc);
    return ok;
}

/* Copy a uuid (36 chars at p, ending at end or '/') lower-cased into id; "" when not one. */
static void take_uuid(const char *p, size_t n, char id[37])
{
    id[0] = '\0';
    if (n != 36)
        return;
    char tmp[37];
    memcpy(tmp, p, 36);
    tmp[36] = '\0';
    if (!hl_uuid_valid(tmp))
        return;
    hl_fold_ascii(tmp, id, 37);
}

/* path = prefix <segment> suffix: the segment into id (validated); false when the shape differs */
static bool shape(const char *path, const char *prefix, const char *suffix, char id[37])
{
    size_t pl = strlen(prefix), sl = strlen(suffix), n = strlen(path);
    if (n <= pl + sl || strncmp(path, prefix, pl) || strcmp(path + n - sl, suffix))
        return false;
    const char *seg = path + pl;
    size_t segn = n - pl - sl;
    if (memchr(seg, '/', segn))
        return false;
    take_uuid(seg, segn, id);
    return true;
}

st_route_t st_route_match(const char *path, char id[37])
{
    id[0] = '\0';
    if (!strcmp(path, "/v1/notifications/stream"))
        return ST_ROUTE_NOTIFICATIONS;
    if (!strcmp(path, "/v1/friends/presence/stream"))
        return ST_ROUTE_PRESENCE;
    if (!strcmp(path, "/v1/ws"))
        return ST_ROUTE_WS;
    if (shape(path, "/v1/chat-rooms/", "/messages/stream", id))
        return ST_ROUTE_ROOM;
    if (shape(path, "/v1/jobs/", "/stream", id))
        return ST_ROUTE_JOB;
    return ST_ROUTE_NONE;
}

st_route_t st_channel_route(const char *channel, char id[37])
{
    id[0] = '\0';
    if (!strcmp(channel, "notifications"))
        return ST_ROUTE_NOTIFICATIONS;
    if (!strcmp(channel, "presence"))
        return ST_ROUTE_PRESENCE;
    if (!strncmp(channel, "room:", 5)) {
        take_uuid(channel + 5, strlen(channel + 5), id);
        return ST_ROUTE_ROOM;
    }
    if (!strncmp(channel, "job:", 4)) {
        take_uuid(channel + 4, strlen(channel + 4), id);
        return ST_ROUTE_JOB;
    }
    return ST_ROUTE_NONE;
}

size_t st_sse_event(char *out, size_t cap, const char *id, const char *event, const char *data,
                    size_t data_len)
{
    int h = snprintf(out, cap, "id: %s\nevent: %s\ndata: ", id, event);
    if (h < 0 || (size_t)h + data_len + 2 >= cap)
        return 0;
    memcpy(out + h, data, data_len);
    memcpy(out + h + data_len, "\n\n", 3);
    return (size_t)h + data_len + 2;
}

size_t st_ws_event(char *out, size_t cap, const char *channel, const char *id, const char *event,
                   const char *data, size_t data_len)
{
    int h =
        snprintf(out, cap, "{\"channel\":\"%s\",\"id\":\"%s\",\"event\":\"%s\",\"data\":", channel,
                 id, event);
    if (h < 0 || (size_t)h + data_len + 2 >= cap)
        return 0;
    memcpy(out + h, data, data_len);
    memcpy(out + h + data_len, "}", 2);
    return (size_t)h + data_len + 1;
}

int st_problem_json(const hl_error_t *err, const char *instance, char *out, size_t cap)
{
    bool client = err->domain == HL_ERR_INPUT || err->domain == HL_ERR_DOMAIN;
    /* the read store away or slow: retryable, as the query API answers it (hl_http_reply_error) */
    bool away = err->domain == HL_ERR_MONGO || err->domain == HL_ERR_TIMEOUT;
    int status = client && err->code >= 400 && err->code < 600 ? err->code : away ? 503 : 500;
    const char *reason = client && err->reason[0] ? err->reason : away ? "unavailable" : "internal";
    const char *title = status == 400   ? "Bad Request"
                        : status == 401 ? "Unauthorized"
                        : status == 403 ? "Forbidden"
                        : status == 404 ? "Not Found"
                        : status == 503 ? "Service Unavailable"
                                        : "Internal Server Error";
    bson_t doc = BSON_INITIALIZER;
    char type[96];
    snprintf(type, sizeof type, "urn:hearlers:problem:%s", reason);
    BSON_APPEND_UTF8(&doc, "type", type);
    BSON_APPEND_UTF8(&doc, "title", title);
    BSON_APPEND_INT32(&doc, "status", status);
    BSON_APPEND_UTF8(&doc, "detail",
                     client ? err->message
                     : away ? "the read store is not answering; retry later"
                            : "internal error");
    if (instance && bson_utf8_validate(instance, strlen(instance), false))
        BSON_APPEND_UTF8(&doc, "instance", instance);
    char *json = bson_as_relaxed_extended_json(&doc, NULL);
    snprintf(out, cap, "%s", json ? json : "{}");
    bson_free(json);
    bson_destroy(&doc);
    return status;
}

bool st_change_decode(avro_value_t *record, st_change_t *out, hl_error_t *err)
{
    memset(out, 0, sizeof *out);
    return hl_avro_get_string(record, "channel", &out->channel, err) &&
           hl_avro_get_string(record, "kind", &out->kind, err) &&
           hl_avro_get_long(record, "position", &out->position, err) &&
           hl_avro_get_long(record, "version", &out->version, err) &&
           hl_avro_get_string(record, "doc_id", &out->doc_id, err) &&
           hl_avro_get_string(record, "document", &out->document, err) &&
           hl_avro_get_long(record, "projected_at", &out->projected_at, err);
}
