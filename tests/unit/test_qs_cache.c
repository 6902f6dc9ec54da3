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

static void test_doc_cache(void **state)
{
    (void)state;
    qs_doc_cache_t *c = qs_doc_cache_new(4);
    assert_non_null(c);
    bson_t out;
    assert_false(qs_doc_cache_get(c, "r:1", &out));
    bson_t *doc = BCON_NEW("seq", BCON_INT64(1), "body", BCON_UTF8("hello"));
    qs_doc_cache_put(c, "r:1", doc);
    bson_destroy(doc); /* the cache keeps its own copy */
    assert_true(qs_doc_cache_get(c, "r:1", &out));
    bson_iter_t it;
    assert_true(bson_iter_init_find(&it, &out, "body"));
    assert_string_equal(bson_iter_utf8(&it, NULL), "hello");
    bson_destroy(&out);
    /* many keys in 16 slots: evictions free the old copies (ASan/valgrind clean) */
    char key[32];
    for (int i = 0; i < 100; i++) {
        bson_t *d = BCON_NEW("seq", BCON_INT64(i));
        snprintf(key, sizeof key, "r:%d", i);
        qs_doc_cache_put(c, key, d);
        bson_destroy(d);
    }
    assert_true(qs_doc_cache_get(c, "r:99", &out));
    assert_true(bson_iter_init_find(&it, &out, "seq"));
    assert_int_equal(bson_iter_as_int64(&it), 99);
    bson_destroy(&out);
    /* documents over the size bound are not kept */
    bson_t big = BSON_INITIALIZER;
    char body[QS_DOC_CACHE_DOC_MAX + 1];
    memset(body, 'x', sizeof body - 1);
    body[sizeof body - 1] = '\0';
    BSON_APPEND_UTF8(&big, "body", body);
    qs_doc_cache_put(c, "big", &big);
    bson_destroy(&big);
    assert_false(qs_doc_cache_get(c, "big", &out));
    qs_doc_cache_destroy(c);
    qs_doc_cache_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_put_expiry),
        cmocka_unit_test(test_collisions_and_long_keys),
        cmocka_unit_test(test_doc_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
