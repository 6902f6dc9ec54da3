/* routes.c: topic → projection, and the decode → plan → execute path of one input.
 *
 * Inputs and their read models (SPEC §5; one input kind per read model; models.h):
 *   cdc.public.<table> (Debezium CDC)  → user_profiles, user_names, sessions, chat_rooms,
 *                                         room_members, messages
 *   <context>.events (Avro domain events) → friends, friend_requests, user_counters, inbox,
 *                                         notifications, daily_stats, daily_active_users
 */
#include "cdc_models.h"
#include "event_models.h"
#include "projector.h"
#include "feed.h"
#include "schema_cache.h"
#include "plan_exec.h"
#include "lag.h"

#include "hl/events.h"
#include "hl/log.h"

#include <stdio.h>
#include <string.h>

const pj_route_t pj_routes[] = {
    {"cdc.public.users", "user_profiles"},
    {"cdc.public.sessions", "sessions"},
    {"cdc.public.chat_rooms", "chat_rooms"},
    {"cdc.public.room_members", "room_members"},
    {"cdc.public.messages", "messages"},
    {"cdc.public.jobs", "jobs"},
    {"user.events", "user_events"},
    {"friend.events", "friend_events"},
    {"chat.events", "chat_events"},
    {"message.events", "message_events"},
    {"notification.events", "notification_events"},
    {"counselling.events", "counselling_events"},
    {"payment.events", "payment_events"},
    {"stream.connections", "presence"},
    {NULL, NULL},
};

const pj_route_t *pj_route_find(const char *topic)
{
    for (const pj_route_t *r = pj_routes; r->topic; r++)
        if (!strcmp(r->topic, topic))
            return r;
    return NULL;
}

#define CDC_PREFIX "cdc.public."

/* Give a poison error the dead-letter reason slug documented in docs/read-models.md (replacing
 * the decoder's own, more generic one). */
static void set_reason(hl_error_t *err, const char *slug)
{
    snprintf(err->reason, sizeof err->reason, "%s", slug);
}

pj_result_t pj_event_body_plan(pj_ctx_t *ctx, int schema_id, const uint8_t *body, size_t len,
                               pj_plan_t *plan, hl_error_t *err)
{
    avro_value_iface_t *iface = pj_schema_cache_get(ctx->schemas, schema_id, err);
    if (!iface) {
        if (err->domain == HL_ERR_HTTP && err->code == 404) {
            hl_error_set_reason(err, HL_ERR_AVRO, 404, "unknown-schema-id",
                                "schema id %d is not in the registry", schema_id);
            return PJ_POISON;
        }
        return err->domain == HL_ERR_AVRO ? PJ_POISON : PJ_RETRY;
    }
    avro_value_t value, record;
    const char *event_type = NULL;
    if (!hl_event_decode(iface, body, len, &value, &record, &event_type, err)) {
        set_reason(err, "undecodable-avro");
        return PJ_POISON;
    }
    pj_result_t rc = pj_event_plan(event_type, &record, plan, err) ? PJ_APPLIED : PJ_POISON;
    avro_value_decref(&value);
    return rc;
}

pj_result_t pj_route_plan(pj_ctx_t *ctx, const char *topic, const void *payload, size_t len,
                          pj_plan_t *plan, hl_error_t *err)
{
    if (!strncmp(topic, CDC_PREFIX, strlen(CDC_PREFIX))) {
        if (!payload) /* a tombstone: nothing to apply (tombstones.on.delete=false anyway) */
            return PJ_SKIPPED;
        pj_cdc_change_t change;
        if (!pj_cdc_parse(payload, len, &change, err))
            return PJ_POISON;
        pj_result_t rc =
            pj_cdc_plan(topic + strlen(CDC_PREFIX), &change, plan, err) ? PJ_APPLIED : PJ_POISON;
        /* an inserted row's trace context (010_trace_context.sql), for the apply span */
        bson_iter_t tp;
        if (rc == PJ_APPLIED && change.op == 'c' &&
            bson_iter_init_find(&tp, &change.row, "traceparent") && BSON_ITER_HOLDS_UTF8(&tp))
            snprintf(plan->traceparent, sizeof plan->traceparent, "%s", bson_iter_utf8(&tp, NULL));
        pj_cdc_change_destroy(&change);
        return rc;
    }
    int schema_id = 0;
    const uint8_t *body = NULL;
    size_t body_len = 0;
    if (!hl_confluent_unframe(payload, len, &schema_id, &body, &body_len, err)) {
        set_reason(err, "undecodable-avro");
        return PJ_POISON;
    }
    return pj_event_body_plan(ctx, schema_id, body, body_len, plan, err);
}

pj_result_t pj_apply(pj_ctx_t *ctx, const rd_kafka_message_t *msg, hl_error_t *err)
{
    const pj_route_t *route = pj_route_find(rd_kafka_topic_name(msg->rkt));
    if (!route)
        return PJ_SKIPPED;
    pj_plan_t plan;
    pj_plan_init(&plan);
    pj_result_t rc = pj_route_plan(ctx, route->topic, msg->payload, msg->len, &plan, err);
    if (rc == PJ_APPLIED) {
        hl_error_t aerr = {0};
        if (!pj_aliases_refresh(ctx, 1000, &aerr))
            HL_WARN("%s (keeping the previous aliases)", aerr.message);
        bool applied = false;
        const pj_plan_t *one = &plan;
        if (!pj_plan_execute(ctx, &plan, &applied, err) ||
            (ctx->feed && !pj_feed_publish(ctx->feed, &one, 1, 10000, err)))
            rc = PJ_RETRY;
        else
            rc = applied ? PJ_APPLIED : PJ_SKIPPED;
        if (rc != PJ_RETRY)
            pj_observe_lag(route->projection, plan.source_ms);
    }
    pj_plan_destroy(&plan);
    return rc;
}
