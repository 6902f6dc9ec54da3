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

static rd_kafka_conf_t *conf_new(void)
{
    hl_error_t err = {0};
    rd_kafka_conf_t *conf = hl_kafka_conf_new("localhost:9092", "test", &err);
    assert_non_null(conf);
    return conf;
}

static void test_plain_pairs(void **state)
{
    (void)state;
    rd_kafka_conf_t *conf = conf_new();
    hl_error_t err = {0};
    assert_true(hl_kafka_set_overrides(conf, "session.timeout.ms=10000,linger.ms=7", &err));
    assert_prop(conf, "session.timeout.ms", "10000");
    assert_prop(conf, "linger.ms", "7");
    rd_kafka_conf_destroy(conf);
}

static void test_list_value_keeps_commas(void **state)
{
    (void)state;
    rd_kafka_conf_t *conf = conf_new();
    hl_error_t err = {0};
    assert_true(hl_kafka_set_overrides(
        conf, "debug=cgrp,fetch,session.timeout.ms=12000,linger.ms=3", &err));
    assert_prop(conf, "debug", "cgrp,fetch");
    assert_prop(conf, "session.timeout.ms", "12000");
    assert_prop(conf, "linger.ms", "3");
    rd_kafka_conf_destroy(conf);
    /* A list value last in the string, too (a fresh conf: librdkafka adds debug flags up). */
    conf = conf_new();
    assert_true(hl_kafka_set_overrides(conf, "linger.ms=4,debug=broker,topic,msg", &err));
    assert_prop(conf, "linger.ms", "4");
    assert_prop(conf, "debug", "broker,topic,msg");
    rd_kafka_conf_destroy(conf);
}

static void test_empty_is_nothing(void **state)
{
    (void)state;
    rd_kafka_conf_t *conf = conf_new();
    hl_error_t err = {0};
    assert_true(hl_kafka_set_overrides(conf, NULL, &err));
    assert_true(hl_kafka_set_overrides(conf, "", &err));
    assert_prop(conf, "client.id", "test");
    rd_kafka_conf_destroy(conf);
}

static void test_refused(void **state)
{
    (void)state;
    rd_kafka_conf_t *conf = conf_new();
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
    rd_kafka_conf_destroy(conf);
}

static void test_long_string(void **state)
{
    (void)state;
    /* Longer than any fixed buffer the parser could have used (it once copied into 2 KiB). */
    char big[6000];
    size_t off = 0;
    off += (size_t)snprintf(big + off, sizeof big - off, "debug=cgrp");
    while (off < 4000)
        off += (size_t)snprintf(big + off, sizeof big - off, ",fetch");
    snprintf(big + off, sizeof big - off, ",linger.ms=9");
    rd_kafka_conf_t *conf = conf_new();
    hl_error_t err = {0};
    assert_true(hl_kafka_set_overrides(conf, big, &err));
    assert_prop(conf, "linger.ms", "9");
    rd_kafka_conf_destroy(conf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_pairs),      cmocka_unit_test(test_list_value_keeps_commas),
        cmocka_unit_test(test_empty_is_nothing), cmocka_unit_test(test_refused),
        cmocka_unit_test(test_long_string),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
