#include "hl/token.h"

#include "hl/mem.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define MAC_B64_LEN                                                                                \
    (sodium_base64_ENCODED_LEN(crypto_auth_hmacsha256_BYTES,                                       \
                               sodium_base64_VARIANT_URLSAFE_NO_PADDING) -                         \
     1)

bool hl_token_key_derive(hl_token_key_t *out, const char *secret, const char *purpose,
                         hl_error_t *err)
{
    if (sodium_init() < 0)
        return hl_error_set(err, HL_ERR_CONFIG, 0, "libsodium failed to initialise");
    if (!secret || !*secret)
        return hl_error_set(err, HL_ERR_CONFIG, 0, "the token secret must not be empty");
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof out->key);
    crypto_generichash_update(&st, (const unsigned char *)purpose, strlen(purpose));
    crypto_generichash_update(&st, (const unsigned char *)"\0", 1);
    crypto_generichash_update(&st, (const unsigned char *)secret, strlen(secret));
    crypto_generichash_final(&st, out->key, sizeof out->key);
    return true;
}

char *hl_token_sign(const hl_token_key_t *key, const void *payload, size_t len)
{
    const int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
    size_t b64cap = sodium_base64_ENCODED_LEN(len, variant);
    size_t cap = b64cap + 1 + MAC_B64_LEN + 1;
    char *out = hl_xmalloc(cap);
    sodium_bin2base64(out, b64cap, payload, len, variant);
    size_t plen = strlen(out);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256(mac, (const unsigned char *)out, plen, key->key);
    out[plen] = '.';
    sodium_bin2base64(out + plen + 1, cap - plen - 1, mac, sizeof mac, variant);
    return out;
}

bool hl_token_verify(const hl_token_key_t *key, const char *token, char **payload, size_t *len,
                     hl_error_t *err)
{
    *payload = NULL;
    *len = 0;
    const char *dot = token ? strchr(token, '.') : NULL;
    if (!dot || dot == token || strlen(dot + 1) != MAC_B64_LEN || strlen(token) > 4096)
        return hl_error_set_reason(err, HL_ERR_INPUT, 401, "invalid-token", "malformed token");
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    size_t maclen = 0;
    if (sodium_base642bin(mac, sizeof mac, dot + 1, MAC_B64_LEN, NULL, &maclen, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        maclen != sizeof mac)
        return hl_error_set_reason(err, HL_ERR_INPUT, 401, "invalid-token", "malformed token");
    if (crypto_auth_hmacsha256_verify(mac, (const unsigned char *)token, (size_t)(dot - token),
                                      key->key) != 0)
        return hl_error_set_reason(err, HL_ERR_INPUT, 401, "invalid-token",
                                   "token signature does not match");
    size_t b64len = (size_t)(dot - token);
    char *buf = hl_xmalloc(b64len + 1);
    size_t n = 0;
    if (sodium_base642bin((unsigned char *)buf, b64len, token, b64len, NULL, &n, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
        free(buf);
        return hl_error_set_reason(err, HL_ERR_INPUT, 401, "invalid-token", "malformed token");
    }
    buf[n] = '\0';
    *payload = buf;
    *len = n;
    return true;
}
