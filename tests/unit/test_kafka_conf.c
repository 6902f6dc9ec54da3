/* Unit tests for hl/kafka.h: hl_kafka_set_overrides parses "k=v,k=v" into librdkafka properties,
 * keeping the commas of list values (debug=cgrp,fetch) and refusing segments without a key. The
 * values are read back from librdkafka itself (rd_kafka_conf_get), not from our parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hl/kafka.h"

#include <string.h>

static void assert_prop(rd_kafka_conf_t *conf, const char *key, const char *want)
{
    char got[512];
    size_t n = sizeof got;
    assert_int_equal(rd_kafka_conf_get(conf, key, got, &n), RD_KAFKA_CONF_OK);
    assert_string_equal(got, want);
}

/* Each test gets a fresh configuration in *state (librdkafka adds debug flags up, so a test
 * never sees another's) and the teardown destroys it. */
static int conf_setup(void **state)
{
    hl_error_t err = {0};
    *state = hl_kafka_conf_new("localhost:9092", "test", &err);
    return *state ? 0 : -1;
}

static int conf_teardown(void **state)
{
    rd_kafka_conf_destroy(*state);
    return 0;
}

static void test_plain_pairs(void **state)
{
    rd_kafka_conf_t *conf = *state;
    hl_error_t err = {0};
    assert_true(hl_kafka_set_overrides(conf, "session.timeout.ms=10000,linger.ms=7", &err));
    assert_prop(conf, "session.timeout.ms", "10000");
    assert_prop(conf, "linger.ms", "7");
}

static void test_list_value_keeps_commas(void **state)
{
    rd_kafka_conf_t *conf = *state;
    hl_error_t err = {0};
    assert_true(hl_kafka_set_overrides(
        conf, "debug=cgrp,fetch,session.timeout.ms=12000,linger.ms=3", &err));
    assert_prop(conf, "debug", "cgrp,fetch");
    assert_prop(conf, "session.timeout.ms", "12000");
    assert_prop(conf, "linger.ms", "3");
}

static void test_list_value_last(void **state)
{
    rd_kafka_conf_t *conf = *state;
    hl_error_t err = {0};
    assert_true(hl_kafka_set_overrides(conf, "linger.ms=4,debug=broker,topic,msg", &err));
    assert_prop(conf, "linger.ms", "4");
    assert_prop(conf, "debug", "broker,topic,msg");
}

static void test_empty_is_nothing(void **state)
{
    rd_kafka_conf_t *conf = *state;
    hl_error_t err = {0};
    assert_true(hl_kafka_set_overrides(conf, NULL, &err));
    assert_true(hl_kafka_set_overrides(conf, "", &err));
    assert_prop(conf, "client.id", "test");
}

static void test_refused(void **state)
{
    rd_kafka_conf_t *conf = *state;
    hl_error_t err = {0};
    assert_false(hl_kafka_set_overrides(conf, "cgrp,linger.ms=5", &err));
    assert_int_equal(err.domain, HL_ERR_CONFIG);
    assert_non_null(strstr(err.message, "\"cgrp\""));
    err = (hl_error_t){0};
    assert_false(hl_kafka_set_overrides(conf, "linger.ms=5,=x", &err));
    assert_int_equal(err.domain, HL_ERR_CONFIG);
    err = (hl_error_t){0};
    assert_false(hl_kafka_set_overrides(conf, "no.such.property=1", &err));
    assert_int_equal(err.domain, HL_ERR_KAFKA);
    err = (hl_error_t){0};
    assert_false(hl_kafka_set_overrides(conf, "linger.ms=not-a-number", &err));
    assert_int_equal(err.domain, HL_ERR_KAFKA);
}

static void test_long_string(void **state)
{
    /* Longer than any fixed buffer the parser could have used (it once copied into 2 KiB). */
    char big[6000];
    size_t off = 0;
    off += (size_t)snprintf(big + off, sizeof big - off, "debug=cgrp");
    while (off < 4000)
        off += (size_t)snprintf(big + off, sizeof big - off, ",fetch");
    snprintf(big + off, sizeof big - off, ",linger.ms=9");
    rd_kafka_conf_t *conf = *state;
    hl_error_t err = {0};
    assert_true(hl_kafka_set_overrides(conf, big, &err));
    assert_prop(conf, "linger.ms", "9");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, conf_setup, conf_teardown)
    const struct CMUnitTest tests[] = {
        T(test_plain_pairs),     T(test_list_value_keeps_commas),
        T(test_list_value_last), T(test_empty_is_nothing),
        T(test_refused),         T(test_long_string),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
