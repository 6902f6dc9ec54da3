/* Unit tests for the command server's idempotency.h without a server: the Idempotency-Key check
 * and the request hash (its exact input, so hashes stored by earlier builds still match, and the
 * previous key of a rotation). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "idempotency.h"

#include <sodium.h>
#include <string.h>

static void test_key_check(void **state)
{
    (void)state;
    hl_error_t err = {0};
    assert_true(cs_idem_key_check(NULL, &err)); /* no header */
    assert_true(cs_idem_key_check("k", &err));
    char key[CS_IDEM_KEY_MAX + 2];
    memset(key, 'a', sizeof key);
    key[CS_IDEM_KEY_MAX] = '\0';
    assert_true(cs_idem_key_check(key, &err));
    assert_int_equal(err.domain, HL_ERR_NONE);

    key[CS_IDEM_KEY_MAX] = 'a';
    key[CS_IDEM_KEY_MAX + 1] = '\0';
    assert_false(cs_idem_key_check(key, &err));
    assert_int_equal(err.domain, HL_ERR_INPUT);
    assert_int_equal(err.code, 400);
    assert_string_equal(err.reason, "invalid-idempotency-key");

    hl_error_clear(&err);
    assert_false(cs_idem_key_check("", &err));
    assert_int_equal(err.code, 400);
    assert_string_equal(err.reason, "invalid-idempotency-key");
}

static hl_http_request_t request(const char *method, const char *path)
{
    hl_http_request_t req;
    memset(&req, 0, sizeof req);
    req.method = method;
    req.path = path;
    return req;
}

/* The hash is keyed BLAKE2b-256 over "<method>\0<path>\0<body>": computed here with libsodium
 * directly, so a change of the format (which would stop stored keys from replaying) fails. */
static void test_hash_format(void **state)
{
    (void)state;
    hl_token_key_t ring;
    hl_error_t err = {0};
    assert_true(hl_token_ring_derive(&ring, "unit-test-secret", NULL, 0, "idempotency", &err));
    hl_http_request_t req = request("POST", "/v1/users");
    const char body[] = "{\"email\":\"a@example.com\"}";
    cs_idem_hash_t h;
    cs_idem_hash(&ring, 1000, &req, body, strlen(body), &h);
    assert_false(h.has_previous);

    /* "POST\0/v1/users\0" then the body, without its NUL. */
    unsigned char input[64], expect[CS_IDEM_HASH_BYTES];
    memcpy(input, "POST\0/v1/users", 14);
    input[14] = '\0';
    memcpy(input + 15, body, strlen(body));
    size_t n = 15 + strlen(body);
    assert_int_equal(crypto_generichash(expect, sizeof expect, input, n, ring.key, sizeof ring.key),
                     0);
    assert_memory_equal(h.current, expect, CS_IDEM_HASH_BYTES);
}

static void test_hash_distinguishes(void **state)
{
    (void)state;
    hl_token_key_t ring, other;
    hl_error_t err = {0};
    assert_true(hl_token_ring_derive(&ring, "unit-test-secret", NULL, 0, "idempotency", &err));
    assert_true(hl_token_ring_derive(&other, "another-secret", NULL, 0, "idempotency", &err));
    hl_http_request_t post = request("POST", "/v1/blocks");
    hl_http_request_t put = request("PUT", "/v1/blocks");
    hl_http_request_t path_ab = request("POST", "/v1/ab");
    hl_http_request_t path_a = request("POST", "/v1/a");
    cs_idem_hash_t base, again, h;

    cs_idem_hash(&ring, 0, &post, "{}", 2, &base);
    cs_idem_hash(&ring, 0, &post, "{}", 2, &again);
    assert_memory_equal(base.current, again.current, CS_IDEM_HASH_BYTES); /* deterministic */

    cs_idem_hash(&ring, 0, &put, "{}", 2, &h);
    assert_memory_not_equal(base.current, h.current, CS_IDEM_HASH_BYTES); /* method */
    cs_idem_hash(&ring, 0, &post, "{ }", 3, &h);
    assert_memory_not_equal(base.current, h.current, CS_IDEM_HASH_BYTES); /* body */
    cs_idem_hash(&other, 0, &post, "{}", 2, &h);
    assert_memory_not_equal(base.current, h.current, CS_IDEM_HASH_BYTES); /* key */

    /* The path is NUL-terminated in the input: "/v1/ab" + "c" is not "/v1/a" + "bc". */
    cs_idem_hash_t h1, h2;
    cs_idem_hash(&ring, 0, &path_ab, "c", 1, &h1);
    cs_idem_hash(&ring, 0, &path_a, "bc", 2, &h2);
    assert_memory_not_equal(h1.current, h2.current, CS_IDEM_HASH_BYTES);
}

/* During a key rotation overlap the request is also hashed under the previous key: equal to what
 * a server still on the previous secret stored, so a retry across the rotation replays. */
static void test_hash_rotation(void **state)
{
    (void)state;
    hl_token_key_t rotated, old;
    hl_error_t err = {0};
    const long long until_s = 2000000000LL;
    assert_true(
        hl_token_ring_derive(&rotated, "new-secret", "old-secret", until_s, "idempotency", &err));
    assert_true(hl_token_ring_derive(&old, "old-secret", NULL, 0, "idempotency", &err));
    hl_http_request_t req = request("POST", "/v1/sessions");
    cs_idem_hash_t h, stored_by_old;
    cs_idem_hash(&old, 0, &req, "{}", 2, &stored_by_old);

    cs_idem_hash(&rotated, until_s * 1000 - 1, &req, "{}", 2, &h);
    assert_true(h.has_previous);
    assert_memory_equal(h.previous, stored_by_old.current, CS_IDEM_HASH_BYTES);
    assert_memory_not_equal(h.current, stored_by_old.current, CS_IDEM_HASH_BYTES);

    /* After the overlap only the current key counts. */
    cs_idem_hash(&rotated, until_s * 1000, &req, "{}", 2, &h);
    assert_false(h.has_previous);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_check),
        cmocka_unit_test(test_hash_format),
        cmocka_unit_test(test_hash_distinguishes),
        cmocka_unit_test(test_hash_rotation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
