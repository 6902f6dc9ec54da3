/* dead_letter.c: the dead-letter producer (dead_letter.h). */
#include "dead_letter.h"
#include "routes.h"

#include "hl/log.h"
#include "hl/metrics.h"
#include "hl/util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pj_dead_letter_metrics_init(const pj_route_t *routes)
{
    for (const pj_route_t *r = routes; r->topic; r++) {
        char labels[96];
        snprintf(labels, sizeof labels, "projection=\"%s\"", r->projection);
        hl_metric_add(hl_metric_get(HL_METRIC_COUNTER, "hl_projection_dead_letters_total", labels,
                                    "Inputs sent to the dead-letter topic"),
                      0);
    }
}

void pj_dead_letter_report(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    pj_ctx_t *ctx = opaque;
    uint64_t seq = (uint64_t)(uintptr_t)m->_private;
    if (!ctx)
        return;
    if (seq && seq == ctx->dlq_seq && !ctx->dlq_done) {
        ctx->dlq_err = m->err;
        ctx->dlq_done = true;
        return;
    }
    ctx->dlq_late++;
    HL_WARN("late delivery report of dead letter #%llu: %s (its wait had given up)",
            (unsigned long long)seq, m->err ? rd_kafka_err2str(m->err) : "delivered");
}

bool pj_dead_letter(pj_ctx_t *ctx, const rd_kafka_message_t *msg, const char *projection,
                    const hl_error_t *reason, hl_error_t *err)
{
    char partition[16], offset[24], at[40];
    snprintf(partition, sizeof partition, "%d", (int)msg->partition);
    snprintf(offset, sizeof offset, "%lld", (long long)msg->offset);
    hl_format_rfc3339_us(hl_now_us(), at, sizeof at);
    const char *topic = rd_kafka_topic_name(msg->rkt);
    /* the opaque is a number: a report that comes after we gave up finds no frame of ours */
    uint64_t seq = ++ctx->dlq_seq;
    ctx->dlq_done = false;
    ctx->dlq_err = RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(msg, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs)
        hdrs = rd_kafka_headers_copy(hdrs);
    else
        hdrs = rd_kafka_headers_new(8);
    rd_kafka_header_add(hdrs, "dlq.reason", -1, reason->reason[0] ? reason->reason : "error", -1);
    rd_kafka_header_add(hdrs, "dlq.error", -1, reason->message, -1);
    rd_kafka_header_add(hdrs, "dlq.projection", -1, projection ? projection : "", -1);
    rd_kafka_header_add(hdrs, "dlq.topic", -1, topic, -1);
    rd_kafka_header_add(hdrs, "dlq.partition", -1, partition, -1);
    rd_kafka_header_add(hdrs, "dlq.offset", -1, offset, -1);
    rd_kafka_header_add(hdrs, "dlq.at", -1, at, -1);
    rd_kafka_resp_err_t kerr = rd_kafka_producev(
        ctx->dlq_producer, RD_KAFKA_V_TOPIC(ctx->cfg.dlq_topic),
        RD_KAFKA_V_KEY(msg->key, msg->key_len), RD_KAFKA_V_VALUE(msg->payload, msg->len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
        RD_KAFKA_V_OPAQUE((void *)(uintptr_t)seq), RD_KAFKA_V_END);
    if (kerr) {
        rd_kafka_headers_destroy(hdrs);
        return hl_error_set(err, HL_ERR_KAFKA, kerr, "dead-letter produce: %s",
                            rd_kafka_err2str(kerr));
    }
    int64_t deadline = hl_mono_ms() + (ctx->dlq_wait_ms > 0 ? ctx->dlq_wait_ms : 10000);
    while (!ctx->dlq_done && hl_mono_ms() < deadline)
        rd_kafka_poll(ctx->dlq_producer, 50);
    bool done = ctx->dlq_done;
    rd_kafka_resp_err_t derr = ctx->dlq_err;
    ctx->dlq_seq++; /* a report of this message from now on is late */
    if (!done || derr)
        return hl_error_set(err, HL_ERR_KAFKA, derr, "dead-letter delivery: %s",
                            done ? rd_kafka_err2str(derr) : "timed out");
    char labels[96];
    snprintf(labels, sizeof labels, "projection=\"%s\"", projection ? projection : "unknown");
    hl_metric_add(hl_metric_get(HL_METRIC_COUNTER, "hl_projection_dead_letters_total", labels,
                                "Inputs sent to the dead-letter topic"),
                  1);
    HL_WARN("dead-lettered %s[%d]@%lld (%s): %s", topic, (int)msg->partition,
            (long long)msg->offset, reason->reason, reason->message);
    return true;
}
