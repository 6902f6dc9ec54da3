/* Unit tests for tools/topics.c: the deploy/topics.conf parser (hl-topics). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "topics.h"

#include <stdio.h>
#include <string.h>

static bool parse(const char *text, hl_topic_list_t *out, hl_error_t *err)
{
    memset(err, 0, sizeof *err);
    return hl_topics_parse(text, strlen(text), out, err);
}

static void test_declared_file(void **state)
{
    (void)state;
    static hl_topic_list_t list;
    char buf[1 << 16];
    FILE *f = fopen(HL_TEST_TOPICS_FILE, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    hl_error_t err = {0};
    assert_true(hl_topics_parse(buf, n, &list, &err));
    assert_true(list.n >= 11);
    const hl_topic_decl_t *t = hl_topics_find(&list, "message.events");
    assert_non_null(t);
    assert_int_equal(t->partitions, 3);
    assert_int_equal(t->retention_ms, -1);
    assert_string_equal(t->cleanup_policy, "delete");
    t = hl_topics_find(&list, "cdc.public.users");
    assert_non_null(t);
    assert_string_equal(t->cleanup_policy, "compact");
    assert_non_null(hl_topics_find(&list, "projector.dead-letter"));
    assert_null(hl_topics_find(&list, "nope"));
}

static void test_lines(void **state)
{
    (void)state;
    static hl_topic_list_t list;
    hl_error_t err;
    assert_true(
        parse("# c\n\n  \t\na.b 1 0 compact,delete # x\nc-d_e 10000 86400000 delete", &list, &err));
    assert_int_equal(list.n, 2);
    assert_int_equal(list.topics[1].partitions, 10000);
    assert_int_equal(list.topics[1].retention_ms, 86400000);
    assert_true(parse("", &list, &err));
    assert_int_equal(list.n, 0);
    static const char *const bad[] = {
        "a 3 -1",                       /* a column missing */
        "a 3 -1 delete extra",          /* one too many */
        "a 0 -1 delete",                /* partitions */
        "a 10001 -1 delete",            /* partitions */
        "a x -1 delete",                /* partitions */
        "a 3 -2 delete",                /* retention */
        "a 3 1.5 delete",               /* retention */
        "a 3 -1 compaction",            /* policy */
        "a/b 3 -1 delete",              /* name */
        ". 3 -1 delete",                /* name */
        ".. 3 -1 delete",               /* name */
        "a 3 -1 delete\na 1 -1 delete", /* twice */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (parse(bad[i], &list, &err))
            fail_msg("accepted: %s", bad[i]);
        assert_non_null(strstr(err.message, "line"));
    }
    char longname[300];
    memset(longname, 'a', 250);
    snprintf(longname + 250, sizeof longname - 250, " 1 -1 delete");
    assert_false(parse(longname, &list, &err)); /* 250 characters: Kafka allows 249 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_declared_file),
        cmocka_unit_test(test_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
