/* hl/kafka.h: librdkafka configuration shared by producer and consumers.
 *
 * Builds an rd_kafka_conf_t with bootstrap.servers, client.id and the log callback routed
 * through hl_log, and applies "key=value,key=value" overrides from configuration. */
#ifndef HL_KAFKA_H
#define HL_KAFKA_H

#include "hl/error.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>

/* New configuration for brokers ("host:port,...") and client_id. Caller owns the result; pass
 * it to rd_kafka_new (which takes ownership on success). NULL with HL_ERR_KAFKA on a bad value. */
rd_kafka_conf_t *hl_kafka_conf_new(const char *brokers, const char *client_id, hl_error_t *err);

/* Set one property; HL_ERR_KAFKA with librdkafka's errstr on failure. */
bool hl_kafka_set(rd_kafka_conf_t *conf, const char *key, const char *value, hl_error_t *err);

/* Apply overrides "k1=v1,k2=v2" (librdkafka CONFIGURATION.md names; empty or NULL: nothing),
 * in order. A comma-separated segment without '=' continues the value before it, so a list
 * value keeps its commas: "debug=cgrp,fetch,session.timeout.ms=10000" sets debug to
 * "cgrp,fetch". conf is borrowed. False with HL_ERR_CONFIG when the first segment (or any
 * segment starting with '=') has no key, or HL_ERR_KAFKA with librdkafka's errstr when it
 * refuses a property; properties before the bad one stay set. */
bool hl_kafka_set_overrides(rd_kafka_conf_t *conf, const char *overrides, hl_error_t *err);

/* Get the header value named name as a NUL-terminated copy into out[cap]; false when absent. */
bool hl_kafka_header(const rd_kafka_message_t *msg, const char *name, char *out, size_t cap);

#endif
