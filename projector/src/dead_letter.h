/* dead_letter.h: the dead-letter topic: poison inputs are produced there with the reason in
 * headers (dlq.reason, dlq.error, dlq.projection, dlq.topic, dlq.partition, dlq.offset, dlq.at)
 * and the projector goes on (docs/RELIABILITY.md). */
#ifndef PJ_DEAD_LETTER_H
#define PJ_DEAD_LETTER_H

#include "projector.h"
#include "routes.h"

#include "hl/error.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>

/* Create the dead-letter counter of every route's projection at 0, so /metrics shows it from
 * the start (routes: routes.h's table, terminated by {NULL, NULL}). */
void pj_dead_letter_metrics_init(const pj_route_t *routes);

/* Produce msg to the dead-letter topic with the reason in headers and wait for the broker's
 * acknowledgement (up to ctx->dlq_wait_ms, default 10 s; the message stays queued in
 * librdkafka after a timeout, and the caller retries, so a dead letter may be written twice).
 * ctx->dlq_producer must have pj_dead_letter_report as its delivery-report callback and ctx as
 * its opaque. Errors: HL_ERR_KAFKA (produce refused, delivery failed or timed out). */
bool pj_dead_letter(pj_ctx_t *ctx, const rd_kafka_message_t *msg, const char *projection,
                    const hl_error_t *reason, hl_error_t *err);

/* The dead-letter producer's delivery-report callback (rd_kafka_conf_set_dr_msg_cb; opaque:
 * the pj_ctx_t, rd_kafka_conf_set_opaque): completes the wait of pj_dead_letter when the report
 * is for the message it waits for, else counts a late report in ctx->dlq_late. */
void pj_dead_letter_report(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);

#endif
