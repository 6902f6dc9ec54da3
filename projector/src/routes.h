/* routes.h: the projector's inputs: which topic feeds which projection, and applying one
 * message of them (decode → plan → execute). */
#ifndef PJ_ROUTES_H
#define PJ_ROUTES_H

#include "plan.h"
#include "projector.h"

#include "hl/error.h"

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

/* A route maps a topic to the projection it feeds (metrics label, dead-letter header). */
typedef struct {
    const char *topic;
    const char *projection;
} pj_route_t;

/* All routes (routes.c), terminated by {NULL, NULL}. */
extern const pj_route_t pj_routes[];

/* The route of topic, or NULL. */
const pj_route_t *pj_route_find(const char *topic);

/* Apply one message: plan it, run the plan (plan_exec.h), advance its watermark, observe lag. */
pj_result_t pj_apply(pj_ctx_t *ctx, const rd_kafka_message_t *msg, hl_error_t *err);

/* Decode a message of a route's topic into a plan (no writes). PJ_APPLIED = planned, PJ_SKIPPED
 * = nothing to do (tombstone), PJ_POISON / PJ_RETRY as for apply. Used by apply and by
 * rebuilds. */
pj_result_t pj_route_plan(pj_ctx_t *ctx, const char *topic, const void *payload, size_t len,
                          pj_plan_t *plan, hl_error_t *err);

/* Plan a domain event stored in the `events` table (Avro body without framing, writer schema
 * id schema_id). */
pj_result_t pj_event_body_plan(pj_ctx_t *ctx, int schema_id, const uint8_t *body, size_t len,
                               pj_plan_t *plan, hl_error_t *err);

#endif
