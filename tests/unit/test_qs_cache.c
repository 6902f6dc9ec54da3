/* Unit tests for the query server's expiring cache (query-server/src/cache.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cache.h"

#include <stdio.h>
#include <string.h>

static void test_get_put_expiry(void **state)
{
    (void)state;
    qs_cache_t *c = qs_cache_new(64);
    assert_non_null(c);
    int64_t v = -1;
    assert_false(qs_cache_get(c, "s1:u1", 0, &v));
    qs_cache_put(c, "s1:u1", 1, 1000);
    assert_true(qs_cache_get(c, "s1:u1", 999, &v));
    assert_int_equal(v, 1);
    assert_false(qs_cache_get(c, "s1:u1", 1000, &v)); /* expiry is exclusive */
    assert_false(qs_cache_get(c, "s1:u2", 10, &v));   /* other key */
    qs_cache_put(c, "s1:u1", 0, 5000);                /* overwrite: value and expiry */
    assert_true(qs_cache_get(c, "s1:u1", 4000, &v));
    assert_int_equal(v, 0);
    qs_cache_destroy(c);
    qs_cache_destroy(NULL);
}

static void test_collisions_and_long_keys(void **state)
{
    (void)state;
    qs_cache_t *c = qs_cache_new(1); /* rounded up to 16 slots: many keys share slots */
    char key[32];
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "k%d", i);
        qs_cache_put(c, key, i, 100);
    }
    int hits = 0;
    for (int i = 0; i < 200; i++) {
        int64_t v = -1;
        snprintf(key, sizeof key, "k%d", i);
        if (qs_cache_get(c, key, 0, &v)) {
            assert_int_equal(v, i); /* a hit is always the value of that very key */
            hits++;
        }
    }
    assert_true(hits > 0 && hits <= 16);
    char longkey[QS_CACHE_KEY_MAX + 8];
    memset(longkey, 'x', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    int64_t v = 0;
    qs_cache_put(c, longkey, 7, 100);
    assert_false(qs_cache_get(c, longkey, 0, &v));
    qs_cache_put(c, "", 7, 100);
    assert_false(qs_cache_get(c, "", 0, &v));
    qs_cache_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_put_expiry),
        cmocka_unit_test(test_collisions_and_long_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
