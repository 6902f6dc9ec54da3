/* hl/token.h: signed, expiring tokens shared by both servers (session bearer tokens and
 * consistency tokens).
 *
 * Wire form: base64url(payload) "." base64url(HMAC-SHA-256(key, base64url(payload))), no
 * padding (RFC 4648 §5). The payload is the caller's bytes (JSON by convention). The key is
 * derived from the configured secret with BLAKE2b (libsodium crypto_generichash) so that any
 * secret string works. Both servers hold the same secret; neither calls the other. */
#ifndef HL_TOKEN_H
#define HL_TOKEN_H

#include "hl/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HL_TOKEN_KEY_BYTES 32

typedef struct {
    uint8_t key[HL_TOKEN_KEY_BYTES];
} hl_token_key_t;

/* Derive a key from secret (NUL-terminated, any length >= 1) and a purpose label such as
 * "session" or "consistency" so that one secret yields unrelated keys per token kind.
 * Returns false (HL_ERR_CONFIG) for an empty secret or when libsodium cannot initialise. */
bool hl_token_key_derive(hl_token_key_t *out, const char *secret, const char *purpose,
                         hl_error_t *err);

/* Sign payload[0..len) into a malloc'd NUL-terminated token (caller frees). NULL on OOM. */
char *hl_token_sign(const hl_token_key_t *key, const void *payload, size_t len);

/* Verify token and return its payload as a malloc'd NUL-terminated buffer (caller frees) with
 * *len its length. Errors: 401 "invalid-token" (HL_ERR_INPUT) when malformed or the MAC does not
 * match (constant-time compare). Expiry is checked by the caller on the payload. */
bool hl_token_verify(const hl_token_key_t *key, const char *token, char **payload, size_t *len,
                     hl_error_t *err);

#endif
