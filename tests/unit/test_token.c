/* Unit tests for hl/token.h: HMAC-signed tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hl/token.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char payload[] =
    "{\"sub\":\"01890a5d-ac96-774b-bcce-b302099a8058\",\"exp\":1700000000}";

static void derive(hl_token_key_t *key, const char *secret, const char *purpose)
{
    hl_error_t err;
    hl_error_clear(&err);
    if (!hl_token_key_derive(key, secret, purpose, &err))
        fail_msg("derive failed: %s", err.message);
}

static void assert_invalid(const hl_token_key_t *key, const char *token)
{
    hl_error_t err;
    hl_error_clear(&err);
    char *out = (char *)0x1;
    size_t len = 123;
    if (hl_token_verify(key, token, &out, &len, &err))
        fail_msg("token \"%s\" verified", token ? token : "(null)");
    assert_null(out);
    assert_int_equal(len, 0);
    assert_int_equal(err.domain, HL_ERR_INPUT);
    assert_int_equal(err.code, 401);
    assert_string_equal(err.reason, "invalid-token");
}

static char *hl_xstrdup_test(const char *s)
{
    char *c = strdup(s);
    if (!c)
        abort();
    return c;
}

static void test_roundtrip(void **state)
{
    (void)state;
    hl_token_key_t key;
    derive(&key, "s3cret", "session");
    char *tok = hl_token_sign(&key, payload, strlen(payload));
    assert_non_null(tok);
    /* kid "." base64url(payload) "." base64url(mac): 8 characters of key id, 43 of MAC,
     * URL-safe alphabet, no '='. */
    const char *kdot = strchr(tok, '.');
    assert_non_null(kdot);
    assert_int_equal(kdot - tok, HL_TOKEN_KID_LEN);
    assert_memory_equal(tok, key.kid, HL_TOKEN_KID_LEN);
    const char *dot = strchr(kdot + 1, '.');
    assert_non_null(dot);
    assert_null(strchr(dot + 1, '.'));
    assert_int_equal(strlen(dot + 1), 43);
    assert_int_equal(
        strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."),
        strlen(tok));

    char *out = NULL;
    size_t len = 0;
    hl_error_t err;
    hl_error_clear(&err);
    assert_true(hl_token_verify(&key, tok, &out, &len, &err));
    assert_int_equal(len, strlen(payload));
    assert_memory_equal(out, payload, len);
    assert_int_equal(out[len], '\0');
    free(out);

    /* Signing is deterministic for one key and payload. */
    char *tok2 = hl_token_sign(&key, payload, strlen(payload));
    assert_string_equal(tok, tok2);
    free(tok2);
    free(tok);
}

static void test_roundtrip_binary_and_lengths(void **state)
{
    (void)state;
    hl_token_key_t key;
    derive(&key, "another secret", "consistency");
    unsigned char buf[300];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 7 + 3);
    /* Every length from 1 to 300 (covers all base64 tail sizes), bytes including 0x00 and 0xff. */
    for (size_t n = 1; n <= sizeof buf; n++) {
        char *tok = hl_token_sign(&key, buf, n);
        assert_non_null(tok);
        char *out = NULL;
        size_t len = 0;
        hl_error_t err;
        if (!hl_token_verify(&key, tok, &out, &len, &err))
            fail_msg("length %zu: %s", n, err.message);
        assert_int_equal(len, n);
        assert_memory_equal(out, buf, n);
        free(out);
        free(tok);
    }
}

static void test_tampered(void **state)
{
    (void)state;
    hl_token_key_t key;
    derive(&key, "s3cret", "session");
    char *tok = hl_token_sign(&key, payload, strlen(payload));
    assert_non_null(tok);
    size_t n = strlen(tok);
    size_t dot = (size_t)(strrchr(tok, '.') - tok);
    char *t = malloc(n + 2);
    assert_non_null(t);

    /* Flip one character of the key id and the payload, at several positions. */
    for (size_t pos = 0; pos < dot; pos += 3) {
        memcpy(t, tok, n + 1);
        t[pos] = t[pos] == 'A' ? 'B' : 'A';
        assert_invalid(&key, t);
    }
    /* Flip one character of the MAC, at every position. */
    for (size_t pos = dot + 1; pos < n; pos++) {
        memcpy(t, tok, n + 1);
        t[pos] = t[pos] == 'A' ? 'B' : 'A';
        assert_invalid(&key, t);
    }
    /* Payload of another valid token with this MAC. */
    char *other = hl_token_sign(&key, "{\"sub\":\"x\"}", 11);
    const char *odot = strrchr(other, '.');
    char *spliced = malloc(strlen(other) + n);
    memcpy(spliced, other, (size_t)(odot - other));
    memcpy(spliced + (odot - other), tok + dot, n - dot + 1);
    assert_invalid(&key, spliced);
    free(spliced);
    free(other);

    /* Truncated or extended MAC, appended data. */
    memcpy(t, tok, n + 1);
    t[n - 1] = '\0';
    assert_invalid(&key, t);
    snprintf(t, n + 2, "%sA", tok);
    assert_invalid(&key, t);
    free(t);
    free(tok);
}

static void test_malformed(void **state)
{
    (void)state;
    hl_token_key_t key;
    derive(&key, "s3cret", "session");
    assert_invalid(&key, NULL);
    assert_invalid(&key, "");
    assert_invalid(&key, "no-dot-at-all");
    assert_invalid(&key, ".");
    assert_invalid(&key, "abc.");
    assert_invalid(&key, ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert_invalid(&key, "abc.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert_invalid(&key, "abc.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="); /* padding */
    assert_invalid(&key, "abc.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+A"); /* not URL-safe */

    /* A huge token is refused without trouble. */
    size_t big = 10000;
    char *t = malloc(big + 1);
    memset(t, 'A', big);
    t[big - 44] = '.';
    t[big] = '\0';
    assert_invalid(&key, t);
    free(t);
}

static void test_purpose_and_secret_separate_keys(void **state)
{
    (void)state;
    hl_token_key_t session, consistency, other_secret, session2;
    derive(&session, "s3cret", "session");
    derive(&consistency, "s3cret", "consistency");
    derive(&other_secret, "s3cret2", "session");
    derive(&session2, "s3cret", "session");
    assert_memory_not_equal(session.key, consistency.key, sizeof session.key);
    assert_memory_not_equal(session.key, other_secret.key, sizeof session.key);
    assert_memory_equal(session.key, session2.key, sizeof session.key); /* deterministic */

    char *tok = hl_token_sign(&session, payload, strlen(payload));
    assert_invalid(&consistency, tok);
    assert_invalid(&other_secret, tok);
    char *out = NULL;
    size_t len = 0;
    hl_error_t err;
    assert_true(hl_token_verify(&session2, tok, &out, &len, &err));
    free(out);
    free(tok);

    tok = hl_token_sign(&consistency, payload, strlen(payload));
    assert_invalid(&session, tok);
    free(tok);
}

static void test_empty_secret_rejected(void **state)
{
    (void)state;
    hl_token_key_t key;
    hl_error_t err;
    hl_error_clear(&err);
    assert_false(hl_token_key_derive(&key, "", "session", &err));
    assert_int_equal(err.domain, HL_ERR_CONFIG);
    assert_true(err.message[0] != '\0');
    hl_error_clear(&err);
    assert_false(hl_token_key_derive(&key, NULL, "session", &err));
    assert_int_equal(err.domain, HL_ERR_CONFIG);
}

static hl_token_key_t ring(const char *secret, const char *previous, long long until_s)
{
    hl_token_key_t r;
    hl_error_t err;
    hl_error_clear(&err);
    if (!hl_token_ring_derive(&r, secret, previous, until_s, "session", &err))
        fail_msg("ring failed: %s", err.message);
    return r;
}

static bool verifies_at(const hl_token_key_t *key, const char *token, int64_t now_ms)
{
    char *out = NULL;
    size_t len = 0;
    hl_error_t err;
    hl_error_clear(&err);
    bool ok = hl_token_verify_at(key, token, now_ms, &out, &len, &err);
    if (ok)
        assert_memory_equal(out, payload, len);
    else
        assert_string_equal(err.reason, "invalid-token");
    free(out);
    return ok;
}

/* The two-segment form from before key ids: base64url(payload) "." base64url(mac). */
static char *legacy_sign(const uint8_t *key, const char *p)
{
    static char buf[512];
    const int v = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
    sodium_bin2base64(buf, sizeof buf, (const unsigned char *)p, strlen(p), v);
    size_t n = strlen(buf);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256(mac, (const unsigned char *)buf, n, key);
    buf[n] = '.';
    sodium_bin2base64(buf + n + 1, sizeof buf - n - 1, mac, sizeof mac, v);
    return buf;
}

static void test_rotation(void **state)
{
    (void)state;
    const int64_t until_s = 1800000000LL, before = until_s * 1000 - 1, after = until_s * 1000;
    hl_token_key_t old_ring = ring("old secret", NULL, 0);
    hl_token_key_t new_ring = ring("new secret", "old secret", until_s);
    hl_token_key_t final_ring = ring("new secret", NULL, 0);
    /* key ids follow the secret, not the configuration around it */
    assert_string_equal(new_ring.previous_kid, old_ring.kid);
    assert_string_equal(new_ring.kid, final_ring.kid);
    assert_string_not_equal(new_ring.kid, old_ring.kid);
    assert_int_equal(strlen(new_ring.kid), HL_TOKEN_KID_LEN);

    char *old_tok = hl_token_sign(&old_ring, payload, strlen(payload));
    char *new_tok = hl_token_sign(&new_ring, payload, strlen(payload));
    assert_memory_equal(new_tok, new_ring.kid, HL_TOKEN_KID_LEN); /* signed with the new key */
    /* during the overlap: both; after it: only the new key's tokens */
    assert_true(verifies_at(&new_ring, old_tok, before));
    assert_true(verifies_at(&new_ring, new_tok, before));
    assert_false(verifies_at(&new_ring, old_tok, after));
    assert_true(verifies_at(&new_ring, new_tok, after));
    /* a server not yet restarted does not know the new key; one past the rotation forgets
     * the old one */
    assert_true(verifies_at(&old_ring, old_tok, before));
    assert_false(verifies_at(&old_ring, new_tok, before));
    assert_false(verifies_at(&final_ring, old_tok, before));
    assert_true(verifies_at(&final_ring, new_tok, before));

    /* the kid selects the key: the old token's body under the new kid does not verify, nor
     * does the new MAC under the old kid */
    char *swapped = hl_xstrdup_test(old_tok);
    memcpy(swapped, new_ring.kid, HL_TOKEN_KID_LEN);
    assert_false(verifies_at(&new_ring, swapped, before));
    free(swapped);
    swapped = hl_xstrdup_test(new_tok);
    memcpy(swapped, old_ring.kid, HL_TOKEN_KID_LEN);
    assert_false(verifies_at(&new_ring, swapped, before));
    free(swapped);
    /* an unknown kid */
    swapped = hl_xstrdup_test(new_tok);
    swapped[0] = swapped[0] == 'A' ? 'B' : 'A';
    assert_false(verifies_at(&new_ring, swapped, before));
    free(swapped);

    /* two-segment tokens of either key, within the overlap only for the old one */
    assert_true(verifies_at(&new_ring, legacy_sign(old_ring.key, payload), before));
    assert_false(verifies_at(&new_ring, legacy_sign(old_ring.key, payload), after));
    assert_true(verifies_at(&new_ring, legacy_sign(new_ring.key, payload), after));
    assert_false(verifies_at(&final_ring, legacy_sign(old_ring.key, payload), before));
    free(old_tok);
    free(new_tok);

    char desc[128];
    hl_token_ring_describe(&new_ring, desc, sizeof desc);
    assert_non_null(strstr(desc, new_ring.previous_kid));
    assert_non_null(strstr(desc, "1800000000"));
}

static void test_ring_config_errors(void **state)
{
    (void)state;
    hl_token_key_t r;
    hl_error_t err;
    hl_error_clear(&err);
    assert_false(hl_token_ring_derive(&r, "new", "old", 0, "session", &err)); /* no deadline */
    assert_int_equal(err.domain, HL_ERR_CONFIG);
    assert_non_null(strstr(err.message, "HL_TOKEN_PREVIOUS_UNTIL"));
    hl_error_clear(&err);
    assert_false(hl_token_ring_derive(&r, "same", "same", 1800000000LL, "session", &err));
    assert_int_equal(err.domain, HL_ERR_CONFIG);
    hl_error_clear(&err);
    assert_false(hl_token_ring_derive(&r, "", "old", 1800000000LL, "session", &err));
    hl_error_clear(&err);
    assert_true(hl_token_ring_derive(&r, "new", "", 0, "session", &err));
    assert_false(r.has_previous);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_roundtrip_binary_and_lengths),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_purpose_and_secret_separate_keys),
        cmocka_unit_test(test_empty_secret_rejected),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_ring_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
