/* read_api.h: the pieces of the query API that the stream listener (stream_*.c) shares with the
 * REST routes, so that a streamed item and its session/membership checks are the query API's
 * own code, not a copy: the revocation check of a bearer token's session, the membership check
 * of a room, and the rendering of a message and of a notification as list items (SPEC §3, §8).
 * All take a qs_ctx_t holding a borrowed store client (qs_client_acquire) and, for the checks,
 * the verified session (hl_session_verify_header). They do I/O: call them off any event loop. */
#ifndef QS_READ_API_H
#define QS_READ_API_H

#include "read_store.h"
#include "request.h"

/* Membership of ctx->session.user_id in room (lower-case uuid), remembered for
 * cfg.member_cache_ms once seen. A member of a direct room whose other member blocks them may
 * no longer read it (issue 11: a room stream ends after a block). Returns 1 member, 0 not
 * (err: 403 "not-a-member", 403 "blocked" or 404 "not-found"), -1 store error
 * (HL_ERR_MONGO). */
int qs_check_member(qs_ctx_t *ctx, const char *room, hl_error_t *err);

/* Drop the caller's cached membership of room, so that the next qs_check_member reads the
 * read models (a block may have ended it). */
void qs_forget_member(qs_ctx_t *ctx, const char *room);

/* Render a `messages` read-model document as the item of GET /v1/chat-rooms/{room}/messages
 * into *item (bson_init'ed here; caller destroys). No I/O. */
void qs_render_message(const bson_t *doc, const char *room, bson_t *item);

/* Append the fields of the GET /v1/notifications item of `notifications` document doc to item
 * (an open document); names holds {_id, display_name} of its actor (qs_load_names). No I/O. */
void qs_render_notification(const bson_t *doc, const qs_docs_t *names, bson_t *item);

/* Render a `jobs` read-model document (SPEC §9 job: job_id, kind, status, booking_id, steps,
 * result, error, created_at, updated_at, version) as GET /v1/jobs/{id} answers it into item
 * (an open document). Returns true when the job has ended (status succeeded or failed). No
 * I/O. */
bool qs_render_job(const bson_t *doc, const char *job_id, bson_t *item);

/* The effective presence of a user (SPEC §8) appended to item as "presence" (online | away |
 * offline) and "since" (RFC 3339 or null): a status the user set (profile, user_profiles:
 * presence when presence_set, updated_at) of away or offline wins; online or never set follows the
 * connection presence (conn, the projector's presence document {connected, since}; NULL or without
 * connected = offline). Returns the presence value (a static string). profile may be NULL. */
const char *qs_presence_effective(const bson_t *profile, const bson_t *conn, bson_t *item);

#endif
