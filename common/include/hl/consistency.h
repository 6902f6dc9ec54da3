/* hl/consistency.h: consistency tokens for read-your-writes (SPEC §3).
 *
 * A command answers with a token listing the watermarks its write must reach before a read
 * reflects it. A watermark is (id, version) where id is "<input>:<key>":
 *   "ev.<aggregate type>:<aggregate id>"
 *                                  every domain-event projection applied the aggregate's event
 *                                  with aggregate_version >= version; the type (User, ChatRoom,
 *                                  FriendRequest, Friendship, Block, NotificationInbox) keeps
 *                                  aggregates that share an id apart (a user's User and
 *                                  NotificationInbox): hl_event_watermark_input
 *   "cdc.<table>:<aggregate id>"   the CDC projection of <table> applied a row carrying
 *                                  aggregate version >= version (users.version,
 *                                  sessions.version, chat_rooms.version,
 *                                  room_members.room_version, messages.room_version)
 * The projector advances these in the read-model collection `watermarks`
 * ({_id: id, v: version}, $max) after the read-model write was acknowledged; the query server
 * waits until every watermark of the token is reached.
 *
 * Wire form: hl_token_sign over the JSON payload {"w": [[id, version], ...], "t": issued ms}. */
#ifndef HL_CONSISTENCY_H
#define HL_CONSISTENCY_H

#include "hl/error.h"
#include "hl/token.h"

#include <stddef.h>
#include <stdint.h>

#define HL_WATERMARK_ID_MAX           96
#define HL_CONSISTENCY_MAX_WATERMARKS 8

typedef struct {
    char id[HL_WATERMARK_ID_MAX]; /* "<input>:<key>" */
    int64_t version;
} hl_watermark_t;

/* Fill w->id with "<input>:<key>" (truncated to fit) and w->version. */
void hl_watermark_set(hl_watermark_t *w, const char *input, const char *key, int64_t version);

/* The aggregate type ("User", "ChatRoom", "FriendRequest", "Friendship", "Block",
 * "NotificationInbox") whose events have the Avro record name event_type (SPEC §2: e.g.
 * "MessageSent" → "ChatRoom"), or NULL for an unknown event type. Static string. */
const char *hl_event_aggregate_type(const char *event_type);

/* The watermark input of the events of aggregate_type: "ev.<aggregate_type>" into out[cap]
 * (truncated to fit). The command server passes it to hl_watermark_set for the aggregate it
 * wrote; the projector for the event it applied (type from hl_event_aggregate_type). */
void hl_event_watermark_input(const char *aggregate_type, char *out, size_t cap);

/* Sign a token for n (1..HL_CONSISTENCY_MAX_WATERMARKS) watermarks. Returns a malloc'd string
 * the caller frees, NULL on OOM or bad n. */
char *hl_consistency_token_new(const hl_token_key_t *key, const hl_watermark_t *w, size_t n);

/* Verify and decode a token into out[0..HL_CONSISTENCY_MAX_WATERMARKS), *n entries. Errors:
 * HL_ERR_INPUT 400 "invalid-consistency-token" (bad signature, JSON or shape). */
bool hl_consistency_token_parse(const hl_token_key_t *key, const char *token, hl_watermark_t *out,
                                size_t *n, hl_error_t *err);

#endif
