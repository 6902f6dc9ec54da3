/* Unit tests for hl/token.h: HMAC-signed tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hl/token.h"

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

static void test_roundtrip(void **state)
{
    (void)state;
    hl_token_key_t key;
    derive(&key, "s3cret", "session");
    char *tok = hl_token_sign(&key, payload, strlen(payload));
    assert_non_null(tok);
    /* base64url(payload) "." base64url(mac): 43 characters of MAC, URL-safe alphabet, no '='. */
    const char *dot = strchr(tok, '.');
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
    size_t dot = (size_t)(strchr(tok, '.') - tok);
    char *t = malloc(n + 2);
    assert_non_null(t);

    /* Flip one character of the payload, at several positions. */
    for (size_t pos = 0; pos < dot; pos += 7) {
        strcpy(t, tok);
        t[pos] = t[pos] == 'A' ? 'B' : 'A';
        assert_invalid(&key, t);
    }
    /* Flip one character of the MAC, at every position. */
    for (size_t pos = dot + 1; pos < n; pos++) {
        strcpy(t, tok);
        t[pos] = t[pos] == 'A' ? 'B' : 'A';
        assert_invalid(&key, t);
    }
    /* Payload of another valid token with this MAC. */
    char *other = hl_token_sign(&key, "{\"sub\":\"x\"}", 11);
    const char *odot = strchr(other, '.');
    char *spliced = malloc(strlen(other) + n);
    memcpy(spliced, other, (size_t)(odot - other));
    strcpy(spliced + (odot - other), tok + dot);
    assert_invalid(&key, spliced);
    free(spliced);
    free(other);

    /* Truncated or extended MAC, appended data. */
    strcpy(t, tok);
    t[n - 1] = '\0';
    assert_invalid(&key, t);
    strcpy(t, tok);
    strcat(t, "A");
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_roundtrip_binary_and_lengths),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_purpose_and_secret_separate_keys),
        cmocka_unit_test(test_empty_secret_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
