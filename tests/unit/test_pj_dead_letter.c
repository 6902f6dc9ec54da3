/* Unit test for pj_dead_letter (projector/src/dead_letter.c) with a broker that is down (issue 17,
 * defect 3): the wait gives up before librdkafka's message.timeout.ms, and the delivery report
 * of that message arrives later, during the next dead letter's wait. It must not complete that
 * wait nor write into the returned frame of the first call (the opaque used to be the address of
 * a local); under AddressSanitizer (HL_SANITIZE=ON, ASAN_OPTIONS=detect_stack_use_after_return=1)
 * the earlier code is reported as a stack-use-after-return. No broker is needed: the bootstrap
 * address is a closed port. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dead_letter.h"

#include "hl/util.h"

#include <string.h>

/* A closed local port: connecting fails at once (nothing listens on port 1). */
#define DOWN_BROKER "127.0.0.1:1"

static rd_kafka_t *producer(pj_ctx_t *ctx, const char *message_timeout_ms)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(
        rd_kafka_conf_set(conf, "bootstrap.servers", DOWN_BROKER, errstr, sizeof errstr),
        RD_KAFKA_CONF_OK);
    assert_int_equal(
        rd_kafka_conf_set(conf, "message.timeout.ms", message_timeout_ms, errstr, sizeof errstr),
        RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof errstr),
                     RD_KAFKA_CONF_OK);
    rd_kafka_conf_set_dr_msg_cb(conf, pj_dead_letter_report);
    rd_kafka_conf_set_opaque(conf, ctx);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    assert_non_null(rk);
    return rk;
}

/* A consumed message as pj_dead_letter receives it (topic handle, key, value, position), in
 * *buf. librdkafka's rd_kafka_message_t is the head of its private rd_kafka_msg_t, which
 * rd_kafka_message_headers reads: the zeroed tail of buf is "no headers". */
static rd_kafka_message_t *input(rd_kafka_t *rk, rd_kafka_topic_t **rkt, void *buf)
{
    *rkt = rd_kafka_topic_new(rk, "cdc.public.sessions", NULL);
    rd_kafka_message_t *m = buf;
    m->rkt = *rkt;
    m->partition = 2;
    m->offset = 17;
    m->payload = (void *)"{\"op\":\"d\"}";
    m->len = strlen(m->payload);
    m->key = (void *)"k";
    m->key_len = 1;
    return m;
}

/* The first call gives up (100 ms) before the message times out in librdkafka (400 ms); its
 * report arrives during the second call, whose own message then times out: the second call
 * reports its own message's failure, the first report counts as late. */
static void test_late_report_after_timeout(void **state)
{
    (void)state;
    pj_ctx_t ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.cfg.dlq_topic = "projector.dead-letter";
    ctx.dlq_producer = producer(&ctx, "400");
    ctx.dlq_wait_ms = 100;
    rd_kafka_topic_t *rkt = NULL;
    static _Alignas(64) unsigned char buf[4096];
    memset(buf, 0, sizeof buf);
    const rd_kafka_message_t *m = input(ctx.dlq_producer, &rkt, buf);
    hl_error_t reason = {0}, err = {0};
    hl_error_set_reason(&reason, HL_ERR_INPUT, 0, "bad-row", "sessions row: column session_id");

    int64_t t0 = hl_mono_ms();
    assert_false(pj_dead_letter(&ctx, m, "sessions", &reason, &err));
    assert_non_null(strstr(err.message, "timed out"));
    assert_true(hl_mono_ms() - t0 < 1000);
    assert_int_equal(ctx.dlq_late, 0);

    /* the second wait outlasts both messages' timeouts: it sees the first report (late) and
     * its own (failed: the broker is down) */
    ctx.dlq_wait_ms = 3000;
    memset(&err, 0, sizeof err);
    assert_false(pj_dead_letter(&ctx, m, "sessions", &reason, &err));
    assert_string_not_equal(err.message, "dead-letter delivery: timed out");
    assert_int_equal(err.code, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT);
    assert_int_equal(ctx.dlq_late, 1);

    rd_kafka_topic_destroy(rkt);
    rd_kafka_flush(ctx.dlq_producer, 2000);
    rd_kafka_destroy(ctx.dlq_producer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_late_report_after_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
