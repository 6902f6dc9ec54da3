#include "hl/token.h"

#include "hl/mem.h"
#include "hl/util.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAC_B64_LEN                                                                                \
    (sodium_base64_ENCODED_LEN(crypto_auth_hmacsha256_BYTES,                                       \
                               sodium_base64_VARIANT_URLSAFE_NO_PADDING) -                         \
     1)

static void derive_key(uint8_t out[HL_TOKEN_KEY_BYTES], char kid[HL_TOKEN_KID_LEN + 1],
                       const char *secret, const char *purpose)
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, HL_TOKEN_KEY_BYTES);
    crypto_generichash_update(&st, (const unsigned char *)purpose, strlen(purpose));
    crypto_generichash_update(&st, (const unsigned char *)"\0", 1);
    crypto_generichash_update(&st, (const unsigned char *)secret, strlen(secret));
    crypto_generichash_final(&st, out, HL_TOKEN_KEY_BYTES);
    /* kid: 6 bytes of BLAKE2b keyed with the key itself, so it reveals nothing about the key */
    unsigned char id[6];
    crypto_generichash(id, sizeof id, (const unsigned char *)"kid", 3, out, HL_TOKEN_KEY_BYTES);
    sodium_bin2base64(kid, HL_TOKEN_KID_LEN + 1, id, sizeof id,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

bool hl_token_key_derive(hl_token_key_t *out, const char *secret, const char *purpose,
                         hl_error_t *err)
{
    if (sodium_init() < 0)
        return hl_error_set(err, HL_ERR_CONFIG, 0, "libsodium failed to initialise");
    if (!secret || !*secret)
        return hl_error_set(err, HL_ERR_CONFIG, 0, "the token secret must not be empty");
    memset(out, 0, sizeof *out);
    derive_key(out->key, out->kid, secret, purpose);
    return true;
}

bool hl_token_ring_derive(hl_token_key_t *out, const char *secret, const char *previous,
                          long long previous_until_s, const char *purpose, hl_error_t *err)
{
    if (!hl_token_key_derive(out, secret, purpose, err))
        return false;
    if (!previous || !*previous)
        return true;
    if (previous_until_s <= 0)
        return hl_error_set(err, HL_ERR_CONFIG, 0,
                            "HL_TOKEN_SECRET_PREVIOUS needs HL_TOKEN_PREVIOUS_UNTIL (Unix seconds "
                            "until which tokens signed with it are accepted)");
    if (!strcmp(previous, secret))
        return hl_error_set(err, HL_ERR_CONFIG, 0,
                            "HL_TOKEN_SECRET_PREVIOUS equals HL_TOKEN_SECRET");
    derive_key(out->previous, out->previous_kid, previous, purpose);
    out->has_previous = true;
    out->previous_until_ms =
        previous_until_s > INT64_MAX / 1000 ? INT64_MAX : (int64_t)previous_until_s * 1000;
    return true;
}

const uint8_t *hl_token_key_for(const hl_token_key_t *ring, const char *kid, int64_t now_ms)
{
    if (!memcmp(kid, ring->kid, HL_TOKEN_KID_LEN))
        return ring->key;
    if (ring->has_previous && now_ms < ring->previous_until_ms &&
        !memcmp(kid, ring->previous_kid, HL_TOKEN_KID_LEN))
        return ring->previous;
    return NULL;
}

const char *hl_token_ring_describe(const hl_token_key_t *ring, char *out, size_t cap)
{
    if (ring->has_previous)
        snprintf(out, cap, "key id %s, previous key id %s accepted until %lld", ring->kid,
                 ring->previous_kid, (long long)(ring->previous_until_ms / 1000));
    else
        snprintf(out, cap, "key id %s", ring->kid);
    return out;
}

char *hl_token_sign(const hl_token_key_t *key, const void *payload, size_t len)
{
    const int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
    size_t b64cap = sodium_base64_ENCODED_LEN(len, variant);
    size_t cap = HL_TOKEN_KID_LEN + 1 + b64cap + 1 + MAC_B64_LEN + 1;
    char *out = hl_xmalloc(cap);
    memcpy(out, key->kid, HL_TOKEN_KID_LEN);
    out[HL_TOKEN_KID_LEN] = '.';
    sodium_bin2base64(out + HL_TOKEN_KID_LEN + 1, b64cap, payload, len, variant);
    size_t plen = strlen(out);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256(mac, (const unsigned char *)out, plen, key->key);
    out[plen] = '.';
    sodium_bin2base64(out + plen + 1, cap - plen - 1, mac, sizeof mac, variant);
    return out;
}

static bool mac_ok(const uint8_t *key, const unsigned char *mac, const char *signed_part,
                   size_t len)
{
    return key &&
           crypto_auth_hmacsha256_verify(mac, (const unsigned char *)signed_part, len, key) == 0;
}

bool hl_token_verify_at(const hl_token_key_t *key, const char *token, int64_t now_ms,
                        char **payload, size_t *len, hl_error_t *err)
{
    *payload = NULL;
    *len = 0;
    if (!token || strlen(token) > 4096)
        return hl_error_set_reason(err, HL_ERR_INPUT, 401, "invalid-token", "malformed token");
    const char *last = strrchr(token, '.');
    const char *first = strchr(token, '.');
    if (!last || strlen(last + 1) != MAC_B64_LEN)
        return hl_error_set_reason(err, HL_ERR_INPUT, 401, "invalid-token", "malformed token");
    const char *b64 = token; /* the payload's base64url text, up to last */
    if (first != last) {
        if ((size_t)(first - token) != HL_TOKEN_KID_LEN || strchr(first + 1, '.') != last)
            return hl_error_set_reason(err, HL_ERR_INPUT, 401, "invalid-token", "malformed token");
        b64 = first + 1;
    }
    if (b64 == last)
        return hl_error_set_reason(err, HL_ERR_INPUT, 401, "invalid-token", "malformed token");
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    size_t maclen = 0;
    if (sodium_base642bin(mac, sizeof mac, last + 1, MAC_B64_LEN, NULL, &maclen, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        maclen != sizeof mac)
        return hl_error_set_reason(err, HL_ERR_INPUT, 401, "invalid-token", "malformed token");
    size_t signed_len = (size_t)(last - token);
    bool ok;
    if (b64 != token) {
        const uint8_t *k = hl_token_key_for(key, token, now_ms);
        if (!k)
            return hl_error_set_reason(err, HL_ERR_INPUT, 401, "invalid-token",
                                       "token signed with an unknown or retired key");
        ok = mac_ok(k, mac, token, signed_len);
    } else {
        /* the two-segment form of tokens issued before key ids: any key of the ring */
        ok = mac_ok(key->key, mac, token, signed_len) ||
             (key->has_previous && now_ms < key->previous_until_ms &&
              mac_ok(key->previous, mac, token, signed_len));
    }
    if (!ok)
        return hl_error_set_reason(err, HL_ERR_INPUT, 401, "invalid-token",
                                   "token signature does not match");
    size_t b64len = (size_t)(last - b64);
    char *buf = hl_xmalloc(b64len + 1);
    size_t n = 0;
    if (sodium_base642bin((unsigned char *)buf, b64len, b64, b64len, NULL, &n, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
        free(buf);
        return hl_error_set_reason(err, HL_ERR_INPUT, 401, "invalid-token", "malformed token");
    }
    buf[n] = '\0';
    *payload = buf;
    *len = n;
    return true;
}

bool hl_token_verify(const hl_token_key_t *key, const char *token, char **payload, size_t *len,
                     hl_error_t *err)
{
    return hl_token_verify_at(key, token, hl_now_us() / 1000, payload, len, err);
}
