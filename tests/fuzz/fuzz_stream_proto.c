/* libFuzzer target: what a client sends the stream listener (query-server/src/stream_proto.c,
 * stream_ids.c). Byte 0 selects: a /v1/ws client text frame (st_ws_op_parse, then the route of
 * its channel and, when it has one, its last_event_id against that channel); a request path
 * (st_route_match); a Last-Event-ID header or last_event_id parameter against each channel kind
 * (st_id_parse). Invariants: a parsed op has a NUL-terminated channel; a parsed id formats back to
 * an id that parses to the same position (the resume point a client gets is the one it gave). */
#include "fuzz_util.h"

#include "stream_proto.h"

#include <stdio.h>

static const char *const channels[] = {
    "room:01890a5d-ac96-774b-bcce-b302099a8057",
    "notifications:01890a5d-ac96-774b-bcce-b302099a8058",
    "presence:01890a5d-ac96-774b-bcce-b302099a8059",
    "job:01890a5d-ac96-774b-bcce-b302099a805a",
};

static void id_roundtrip(const char *channel, const char *text)
{
    st_pos_t pos, again;
    hl_error_t err = {0};
    if (!st_id_parse(channel, text, &pos, &err)) {
        FUZZ_CHECK(err.domain == HL_ERR_INPUT && err.code == 400);
        return;
    }
    FUZZ_CHECK(pos.a >= 0 && pos.b >= 0);
    FUZZ_CHECK(memchr(pos.extra, '\0', sizeof pos.extra));
    char out[ST_ID_MAX];
    st_id_format(channel, &pos, out);
    FUZZ_CHECK(memchr(out, '\0', sizeof out));
    hl_error_t err2 = {0};
    FUZZ_CHECK(st_id_parse(channel, out, &again, &err2));
    FUZZ_CHECK(again.a == pos.a && again.b == pos.b && !strcmp(again.extra, pos.extra));
    FUZZ_CHECK(!st_pos_after(&again, &pos) && !st_pos_after(&pos, &again));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t which = data[0] % 3;
    const uint8_t *rest = data + 1;
    size_t n = size - 1;
    hl_error_t err = {0};
    char id[37];
    switch (which) {
    case 0: {
        if (n > ST_WS_FRAME_MAX)
            return 0; /* the loop closes larger frames with 1009 before parsing */
        st_ws_op_t op;
        if (!st_ws_op_parse((const char *)rest, n, &op, &err)) {
            FUZZ_CHECK(err.domain == HL_ERR_INPUT && err.code == 400 && err.reason[0]);
            char problem[1024];
            FUZZ_CHECK(st_problem_json(&err, "/v1/ws", problem, sizeof problem) == 400);
            break;
        }
        FUZZ_CHECK(op.op == ST_OP_SUBSCRIBE || op.op == ST_OP_UNSUBSCRIBE);
        FUZZ_CHECK(memchr(op.channel, '\0', sizeof op.channel));
        FUZZ_CHECK(memchr(op.last_event_id, '\0', sizeof op.last_event_id));
        st_route_t r = st_channel_route(op.channel, id);
        FUZZ_CHECK(memchr(id, '\0', sizeof id));
        if (r != ST_ROUTE_NONE && op.last_event_id[0])
            id_roundtrip(op.channel, op.last_event_id);
        break;
    }
    case 1: {
        char *path = fuzz_cstr(rest, n);
        (void)st_route_match(path, id);
        FUZZ_CHECK(strlen(id) == 0 || strlen(id) == 36);
        (void)st_channel_route(path, id);
        FUZZ_CHECK(strlen(id) == 0 || strlen(id) == 36);
        free(path);
        break;
    }
    case 2: {
        char *text = fuzz_cstr(rest, n);
        for (size_t i = 0; i < sizeof channels / sizeof *channels; i++)
            id_roundtrip(channels[i], text);
        free(text);
        break;
    }
    }
    return 0;
}
