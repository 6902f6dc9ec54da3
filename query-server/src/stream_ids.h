/* stream_ids.h: event ids of the real-time streams (SPEC §8), pure functions (no I/O).
 *
 * An id is "<tag>.<a>.<b>": tag = 8 lower-case hex digits of the FNV-1a 32-bit hash of the
 * channel name ("room:<room_id>", "notifications:<user_id>", "presence:<user_id>",
 * "job:<job_id>"), so that an id of another stream is recognised and refused (400); a and b are
 * read-model positions, decimal, each non-decreasing along the stream:
 *   room          a = highest message seq sent (messages are sent in seq order, gapless),
 *                 b = highest room version of a read marker sent (room_members.room_version)
 *   notifications a = creation µs and b = the creation µs again, with the event id as a third
 *                 part: "<tag>.<µs>.<µs>.<event uuid>", the tail of the notification's _id
 *                 "<user>:<µs, 19 digits>:<event id>", so the gap is the _id range above it
 *   presence, job a = position of the last event sent (user version, job version), b = 0
 * The gap after an id is read from the read models: messages seq > a, room_members
 * room_version > b, notifications _id > "<user>:<a>:<event>", so no buffer bounds a resume. */
#ifndef QS_STREAM_IDS_H
#define QS_STREAM_IDS_H

#include "hl/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ST_ID_MAX 96 /* longest id text, NUL included */

typedef struct {
    int64_t a, b;
    char extra[40]; /* notifications: the event id of position a; else empty */
} st_pos_t;

/* The 8-hex-digit tag of channel into out[9]. */
void st_channel_tag(const char *channel, char out[9]);

/* Format pos as the id text of channel into out[ST_ID_MAX]. */
void st_id_format(const char *channel, const st_pos_t *pos, char out[ST_ID_MAX]);

/* Parse a Last-Event-ID (header or last_event_id parameter) of channel into *pos. Errors
 * (HL_ERR_INPUT 400 "invalid-last-event-id"): malformed text, a negative or overlong number, an
 * extra part that is not a uuid; "another stream" when the tag is another channel's. */
bool st_id_parse(const char *channel, const char *text, st_pos_t *pos, hl_error_t *err);

/* Whether position p (with its extra) is after q in stream order: (a, b, extra) compared as a
 * tuple (extra as bytes). */
bool st_pos_after(const st_pos_t *p, const st_pos_t *q);

#endif
