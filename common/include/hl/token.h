/* hl/token.h: signed, expiring tokens shared by both servers (session bearer tokens and
 * consistency tokens), with signing-key rotation.
 *
 * Wire form: kid "." base64url(payload) "." base64url(HMAC-SHA-256(key, kid "."
 * base64url(payload))), no padding (RFC 4648 §5). The payload is the caller's bytes (JSON by
 * convention). The key is derived from the configured secret with BLAKE2b (libsodium
 * crypto_generichash) so that any secret string works; the key id (kid, HL_TOKEN_KID_LEN base64url
 * characters) is derived from the key, so every server holding the same secret computes the same
 * kid and none is configured. Both servers hold the same secret; neither calls the other.
 *
 * Rotation: a key ring holds the current key (signs and verifies) and optionally the previous
 * one with a deadline (verifies only, until then). Operators set the new secret as
 * HL_TOKEN_SECRET and the old one as HL_TOKEN_SECRET_PREVIOUS with HL_TOKEN_PREVIOUS_UNTIL (Unix
 * seconds), restart the servers one at a time, and drop the previous secret after the deadline.
 * Tokens of the two-segment form issued before key ids existed (payload "." MAC) are verified
 * against the ring's keys in the same way. */
#ifndef HL_TOKEN_H
#define HL_TOKEN_H

#include "hl/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HL_TOKEN_KEY_BYTES 32
#define HL_TOKEN_KID_LEN   8 /* base64url characters: 48 bits of BLAKE2b(key) */

/* A key ring for one purpose. key/kid: the current key (signs, verifies). previous: accepted
 * for verification while has_previous and the clock is before previous_until_ms (Unix ms). */
typedef struct {
    uint8_t key[HL_TOKEN_KEY_BYTES];
    char kid[HL_TOKEN_KID_LEN + 1];
    bool has_previous;
    uint8_t previous[HL_TOKEN_KEY_BYTES];
    char previous_kid[HL_TOKEN_KID_LEN + 1];
    int64_t previous_until_ms;
} hl_token_key_t;

/* Derive a key from secret (NUL-terminated, any length >= 1) and a purpose label such as
 * "session" or "consistency" so that one secret yields unrelated keys per token kind. The ring
 * gets no previous key. Returns false (HL_ERR_CONFIG) for an empty secret or when libsodium
 * cannot initialise. */
bool hl_token_key_derive(hl_token_key_t *out, const char *secret, const char *purpose,
                         hl_error_t *err);

/* Derive the ring of one purpose from the server configuration: secret (current, required),
 * previous (NULL or "" = no rotation in progress) and previous_until_s (Unix seconds; required,
 * > 0, when previous is set). Errors (HL_ERR_CONFIG): those of hl_token_key_derive, a previous
 * secret without a deadline, a previous secret equal to the current one. A deadline already
 * past is allowed (the previous key is then simply refused). */
bool hl_token_ring_derive(hl_token_key_t *out, const char *secret, const char *previous,
                          long long previous_until_s, const char *purpose, hl_error_t *err);

/* The key of kid (HL_TOKEN_KID_LEN characters, not NUL-terminated) usable at now_ms (Unix ms):
 * the current key, the previous key before its deadline, else NULL. */
const uint8_t *hl_token_key_for(const hl_token_key_t *ring, const char *kid, int64_t now_ms);

/* Describe the ring for the start-up log into out[cap]: "key id K" or "key id K, previous key
 * id P accepted until <Unix s>" (no key material). Returns out. */
const char *hl_token_ring_describe(const hl_token_key_t *ring, char *out, size_t cap);

/* Sign payload[0..len) with the ring's current key into a malloc'd NUL-terminated token
 * (caller frees; aborts on OOM, never NULL). */
char *hl_token_sign(const hl_token_key_t *key, const void *payload, size_t len);

/* Verify token at the wall clock and return its payload as a malloc'd NUL-terminated buffer
 * (caller frees) with *len its length. Errors: 401 "invalid-token" (HL_ERR_INPUT) when
 * malformed, signed with an unknown or expired key id, or the MAC does not match (constant-time
 * compare). Expiry of the token itself is checked by the caller on the payload. */
bool hl_token_verify(const hl_token_key_t *key, const char *token, char **payload, size_t *len,
                     hl_error_t *err);

/* hl_token_verify with the clock given (now_ms, Unix ms) for the previous key's deadline. */
bool hl_token_verify_at(const hl_token_key_t *key, const char *token, int64_t now_ms,
                        char **payload, size_t *len, hl_error_t *err);

#endif
