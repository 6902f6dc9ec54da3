/* Unit tests for the load generator's string-keyed hash map (bench/loadgen/lg_strmap.h):
 * lookups across growth, duplicate keys, the seen flag, the slot walk and freeing values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lg_strmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_empty_map(void **state)
{
    (void)state;
    lg_strmap_t m = {0};
    assert_null(lg_strmap_find(&m, "anything"));
    assert_null(lg_strmap_find(&m, ""));
    lg_strmap_free(&m, free); /* nothing to free */
    assert_int_equal(m.cap, 0);
    assert_int_equal(m.n, 0);
}

/* 5000 keys: the map grows from 1024 slots four times; every key keeps its value. */
static void test_put_find_across_growth(void **state)
{
    (void)state;
    lg_strmap_t m = {0};
    static int vals[5000];
    char key[32];
    for (int i = 0; i < 5000; i++) {
        vals[i] = i;
        snprintf(key, sizeof key, "user-%d", i);
        lg_strmap_slot_t *s = lg_strmap_put(&m, key, &vals[i]);
        assert_non_null(s);
        assert_string_equal(s->key, key);
        assert_ptr_equal(s->val, &vals[i]);
        assert_false(s->seen);
    }
    assert_int_equal(m.n, 5000);
    assert_true(m.cap >= 2 * m.n);
    assert_int_equal(m.cap & (m.cap - 1), 0); /* a power of two */
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "user-%d", i);
        lg_strmap_slot_t *s = lg_strmap_find(&m, key);
        assert_non_null(s);
        assert_int_equal(*(int *)s->val, i);
    }
    assert_null(lg_strmap_find(&m, "user-5000"));
    assert_null(lg_strmap_find(&m, "user-"));
    assert_null(lg_strmap_find(&m, ""));
    lg_strmap_free(&m, NULL);
    assert_null(m.slots);
}

/* The key is copied: the caller's buffer can change after the put. */
static void test_key_is_copied(void **state)
{
    (void)state;
    lg_strmap_t m = {0};
    char key[16];
    snprintf(key, sizeof key, "%s", "room-a");
    int v = 7;
    lg_strmap_put(&m, key, &v);
    snprintf(key, sizeof key, "%s", "room-b");
    assert_non_null(lg_strmap_find(&m, "room-a"));
    assert_null(lg_strmap_find(&m, "room-b"));
    lg_strmap_free(&m, NULL);
}

/* A second put of a key returns the first slot and keeps the first value. */
static void test_duplicate_key_keeps_first(void **state)
{
    (void)state;
    lg_strmap_t m = {0};
    int a = 1, b = 2;
    lg_strmap_slot_t *s1 = lg_strmap_put(&m, "k", &a);
    s1->seen = true;
    lg_strmap_slot_t *s2 = lg_strmap_put(&m, "k", &b);
    assert_ptr_equal(s1, s2);
    assert_ptr_equal(s2->val, &a);
    assert_true(s2->seen);
    assert_int_equal(m.n, 1);
    lg_strmap_free(&m, NULL);
}

/* The seen flag survives rehashing, and the slot walk meets every entry once. */
static void test_seen_survives_growth_and_walk(void **state)
{
    (void)state;
    lg_strmap_t m = {0};
    char key[32];
    for (int i = 0; i < 600; i++) {
        snprintf(key, sizeof key, "doc:%d", i);
        lg_strmap_slot_t *s = lg_strmap_put(&m, key, NULL);
        s->seen = i % 3 == 0;
    }
    size_t cap_before = m.cap;
    for (int i = 600; i < 3000; i++) {
        snprintf(key, sizeof key, "doc:%d", i);
        lg_strmap_put(&m, key, NULL);
    }
    assert_true(m.cap > cap_before);
    size_t entries = 0, seen = 0;
    for (size_t i = 0; i < m.cap; i++) {
        if (!m.slots[i].key)
            continue;
        entries++;
        seen += m.slots[i].seen;
        char *end = NULL;
        long k = strtol(m.slots[i].key + 4, &end, 10);
        assert_true(end && *end == '\0' && k >= 0 && k < 3000); /* keys are "doc:<n>" */
        assert_int_equal(m.slots[i].seen, k < 600 && k % 3 == 0);
    }
    assert_int_equal(entries, 3000);
    assert_int_equal(seen, 200);
    lg_strmap_free(&m, NULL);
}

static int freed;
static void count_free(void *p)
{
    freed++;
    free(p);
}

/* lg_strmap_free frees each non-NULL value once and leaves an empty, reusable map. */
static void test_free_values(void **state)
{
    (void)state;
    lg_strmap_t m = {0};
    char key[16];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "%d", i);
        lg_strmap_put(&m, key, i < 7 ? malloc(8) : NULL);
    }
    freed = 0;
    lg_strmap_free(&m, count_free);
    assert_int_equal(freed, 7);
    assert_int_equal(m.n, 0);
    assert_null(lg_strmap_find(&m, "1"));
    lg_strmap_put(&m, "again", NULL);
    assert_non_null(lg_strmap_find(&m, "again"));
    lg_strmap_free(&m, count_free);
    assert_int_equal(freed, 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_map),
        cmocka_unit_test(test_put_find_across_growth),
        cmocka_unit_test(test_key_is_copied),
        cmocka_unit_test(test_duplicate_key_keeps_first),
        cmocka_unit_test(test_seen_survives_growth_and_walk),
        cmocka_unit_test(test_free_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
