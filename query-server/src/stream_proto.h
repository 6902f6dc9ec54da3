/* stream_proto.h: the wire formats of the streams (SPEC §8), pure functions (no I/O).
 *
 * SSE (WHATWG HTML "Server-sent events"): "id: <id>\nevent: <name>\ndata: <one-line JSON>\n\n";
 * a heartbeat is the comment ":\n\n"; the first bytes of a stream are "retry: <ms>\n\n".
 * WebSocket /v1/ws (RFC 6455 text frames, JSON):
 *   client {"op": "subscribe", "channel": "room:<id>"|"notifications"|"presence"|"job:<id>",
 *           "last_event_id": "<id>"?} and {"op": "unsubscribe", "channel": ...}
 *   server {"channel", "id", "event", "data"} and, for a refused op,
 *          {"channel": <channel or null>, "error": <problem document>}. */
#ifndef QS_STREAM_PROTO_H
#define QS_STREAM_PROTO_H

#include "stream_ids.h"

#include "hl/error.h"

#include <avro.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest client frame accepted on /v1/ws, bytes; a larger one closes with 1009. */
#define ST_WS_FRAME_MAX 4096

typedef enum { ST_OP_SUBSCRIBE, ST_OP_UNSUBSCRIBE } st_op_kind_t;

typedef struct {
    st_op_kind_t op;
    char channel[64];              /* as the client wrote it: "room:<id>", "notifications", ... */
    char last_event_id[ST_ID_MAX]; /* empty when absent */
} st_ws_op_t;

/* Parse one client text frame (len bytes, not NUL-terminated). Errors (HL_ERR_INPUT 400):
 * "invalid-json" (not a JSON object), "unknown-op", "invalid-channel" (missing or not a
 * string), "invalid-last-event-id" (not a string or too long). */
bool st_ws_op_parse(const char *text, size_t len, st_ws_op_t *out, hl_error_t *err);

/* Route of a stream request: the channel kind and its id (room or job uuid, lower-cased). */
typedef enum {
    ST_ROUTE_NONE,
    ST_ROUTE_ROOM,
    ST_ROUTE_NOTIFICATIONS,
    ST_ROUTE_PRESENCE,
    ST_ROUTE_JOB,
    ST_ROUTE_WS
} st_route_t;

/* Match an SSE path ("/v1/chat-rooms/<uuid>/messages/stream", "/v1/notifications/stream",
 * "/v1/friends/presence/stream", "/v1/jobs/<uuid>/stream", "/v1/ws") and copy the uuid, lower
 * case, into id[37] (empty when the route has none). A path of a known shape whose uuid is not
 * one returns its route with id "" (the caller answers 404). */
st_route_t st_route_match(const char *path, char id[37]);

/* The same route of a WebSocket channel name ("room:<uuid>", "notifications", "presence",
 * "job:<uuid>"); ST_ROUTE_NONE when unknown. */
st_route_t st_channel_route(const char *channel, char id[37]);

/* An SSE event into out[cap]: returns the length, 0 when it does not fit. */
size_t st_sse_event(char *out, size_t cap, const char *id, const char *event, const char *data,
                    size_t data_len);

/* A WebSocket event frame {"channel","id","event","data"} into out[cap] (data is JSON); returns
 * the length, 0 when it does not fit. channel is a JSON-safe name (no quotes or escapes). */
size_t st_ws_event(char *out, size_t cap, const char *channel, const char *id, const char *event,
                   const char *data, size_t data_len);

/* An RFC 9457 problem document {type: "urn:hearlers:problem:<reason>", title, status, detail,
 * instance} of err (INPUT/DOMAIN: err->code and err->reason; MONGO/TIMEOUT, the read store away:
 * 503 "unavailable", which the caller sends with Retry-After; anything else 500 "internal"; the
 * last two without err->message) as JSON into out[cap]; returns the HTTP status. */
int st_problem_json(const hl_error_t *err, const char *instance, char *out, size_t cap);

/* One StreamChange record of the change feed (schemas/StreamChange.avsc), its strings borrowed
 * from the decoded Avro value they came from. */
typedef struct {
    const char *channel, *kind, *doc_id, *document;
    int64_t position, version, projected_at;
} st_change_t;

/* The fields of a decoded StreamChange record (hl_event_decode of a stream.changes value) into
 * *out. Errors (HL_ERR_AVRO): a field missing or of another type (a writer schema that is not a
 * StreamChange). The document text is not parsed here (it is untrusted JSON: the renderer
 * parses it with bson_new_from_json). */
bool st_change_decode(avro_value_t *record, st_change_t *out, hl_error_t *err);

#endif
