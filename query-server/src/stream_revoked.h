/* stream_revoked.h: the revoked sessions the stream listener knows of, so that a WebSocket
 * handshake of a logged-out session is refused with 401 before the upgrade (101), on the event
 * loop, without a store round trip there (the loop does no I/O but its sockets).
 *
 * Filled by the feed thread (stream_feed.c): at start, after every partition of the change feed
 * is assigned at its current end, every revoked and unexpired session of the `sessions` read
 * model; then each `revoked` record of the feed. The projector publishes a record only after
 * its MongoDB write was acknowledged, so every revocation is in the load or after the assigned
 * offsets. An entry is dropped once its session has expired (its tokens are refused as
 * expired anyway): memory is one entry (about 64 bytes) per log-out within a session lifetime.
 *
 * Thread-safe: one mutex, held only for a lookup, an insert or a sweep. Session ids are the
 * read model's `_id` (uuid text); they are compared ASCII case-insensitively. */
#ifndef QS_STREAM_REVOKED_H
#define QS_STREAM_REVOKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Remember session_id (up to 36 characters; longer ids are ignored) as revoked until
 * expires_ms (Unix ms; the session's own expiry). Adding it again keeps the later expiry. */
void st_revoked_add(const char *session_id, int64_t expires_ms);

/* Whether session_id is known revoked and not expired at now_ms (Unix ms). No I/O. */
bool st_revoked_has(const char *session_id, int64_t now_ms);

/* Drop the entries expired at now_ms; returns how many are left. */
size_t st_revoked_sweep(int64_t now_ms);

/* The load of the read model is done (set once by the feed thread); until then a handshake
 * cannot be checked and is answered 503 with Retry-After. */
void st_revoked_set_loaded(void);
bool st_revoked_loaded(void);

/* Forget every entry and the loaded mark (shutdown, tests). */
void st_revoked_clear(void);

#endif
