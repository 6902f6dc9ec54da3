/* idempotency.h: Idempotency-Key on commands (SPEC §2): the key's shape, what "the same request"
 * means, looking a key's stored response up, storing one, and replaying it.
 *
 * A response is stored under (scope, key) in the idempotency_keys table (scope: the caller's user
 * id, or "anonymous") together with a keyed BLAKE2b-256 hash of the request's method, path and
 * body. A retry with the key and the same hash replays the stored status, headers and body with
 * "Idempotent-Replayed: true"; another request under the key is refused with 422
 * idempotency-key-reused (cmd.c). Lookup and store run inside the command's transaction on its
 * pipeline (hl/pg_pipeline.h), so a stored response exists exactly when the command committed.
 * Rows older than --idempotency-ttl-s are deleted by the outbox relay's sweep (outbox_relay.c). */
#ifndef CS_IDEMPOTENCY_H
#define CS_IDEMPOTENCY_H

#include "hl/error.h"
#include "hl/http.h"
#include "hl/pg_pipeline.h"
#include "hl/token.h"

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CS_IDEM_HASH_BYTES 32
#define CS_IDEM_KEY_MAX    255 /* characters of an Idempotency-Key header */

/* A request's hash under the server's idempotency key ring. */
typedef struct {
    unsigned char current[CS_IDEM_HASH_BYTES];  /* under the current key: what is stored */
    unsigned char previous[CS_IDEM_HASH_BYTES]; /* under the previous key, when has_previous */
    bool has_previous; /* a key rotation overlap is in progress (a retry across it replays) */
} cs_idem_hash_t;

/* A response stored under a key, as cs_idem_lookup read it. */
typedef struct {
    bool found;        /* a row exists for (scope, key) */
    bool same_request; /* its request hash is this request's (current or previous key) */
    int status;        /* HTTP status */
    char *body;        /* malloc'd relaxed extended JSON, or NULL for an empty body */
    char *headers;     /* malloc'd "Name: value\r\n" lines (may be "") */
} cs_idem_response_t;

/* Check an Idempotency-Key header value (NULL = no key: fine): 1..CS_IDEM_KEY_MAX characters,
 * else HL_ERR_INPUT 400 "invalid-idempotency-key". */
bool cs_idem_key_check(const char *key, hl_error_t *err);

/* Hash req (its method and path) and body (len bytes, NULL = no body) under ring (the server's
 * idempotency key ring, hl/token.h): out->current under the current key, and out->previous under
 * the previous key when ring has one whose deadline is after now_ms (Unix ms). Keyed because a
 * body may hold a password, and an unkeyed hash of it would be an offline-guessable password
 * hash. */
void cs_idem_hash(const hl_token_key_t *ring, int64_t now_ms, const hl_http_request_t *req,
                  const char *body, size_t len, cs_idem_hash_t *out);

/* Look (scope, key) up on pl, inside the command's transaction. First queues a
 * transaction-scoped advisory lock on (scope, key), so a second request with the key waits for
 * the first to commit and then finds its response instead of running the command again; the
 * lookup then flushes pl, so statements queued before it (BEGIN, the session check) ride along
 * and their errors come first. out (caller's, freed with cs_idem_response_free on every path):
 * found false when no row. Errors: those of hl_pg_pipeline_flush. */
bool cs_idem_lookup(hl_pg_pipeline_t *pl, const char *scope, const char *key,
                    const cs_idem_hash_t *hash, cs_idem_response_t *out, hl_error_t *err);

/* Look (scope, key) up on conn, outside any transaction and without the key's lock (one round
 * trip; conn borrowed, e.g. from the pool): for a command whose prepare is costly or writes
 * outside the transaction (cs_cmd_spec_t.read: the avatar's decode and object-store writes), so
 * a replay or a key reused with another body is answered without them. The transaction's own
 * cs_idem_lookup, under the lock, still decides when two requests race. out as cs_idem_lookup's.
 * Errors: HL_ERR_PG (hl_pg_query). */
bool cs_idem_lookup_early(PGconn *conn, const char *scope, const char *key,
                          const cs_idem_hash_t *hash, cs_idem_response_t *out, hl_error_t *err);

/* Store the command's response under (scope, key) with hash->current, unless a row exists:
 * *inserted false then (a concurrent request with the key committed first: the caller rolls back
 * and replays that one). reply: the JSON body (NULL for an empty body, e.g. 204); headers: the
 * "Name: value\r\n" lines to replay. Flushes pl (the insert's result is read before COMMIT).
 * Errors: those of hl_pg_pipeline_flush (*inserted false). */
bool cs_idem_store(hl_pg_pipeline_t *pl, const char *scope, const char *key,
                   const cs_idem_hash_t *hash, int status, const bson_t *reply, const char *headers,
                   bool *inserted, hl_error_t *err);

/* Answer req with the stored response s (found): its status, headers plus
 * "Idempotent-Replayed: true", and body; a body that no longer parses answers 500. */
void cs_idem_replay(hl_http_request_t *req, const cs_idem_response_t *s);

/* Free s's strings and zero it. */
void cs_idem_response_free(cs_idem_response_t *s);

#endif
