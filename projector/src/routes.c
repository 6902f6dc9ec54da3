/* routes.c: topic → projection apply functions.
 *
 * Inputs and their read models (SPEC §5; one input kind per read model):
 *   cdc.public.users (Debezium CDC)  → user_profiles
 *   user.events (domain events, Avro) → daily_stats (users_registered)
 */
#include "cdc.h"
#include "projector.h"
#include "stats.h"

#include "hl/events.h"
#include "hl/log.h"

#include <string.h>

static pj_result_t apply_users_cdc(pj_ctx_t *ctx, const rd_kafka_message_t *msg,
                                   const char **projection, hl_error_t *err)
{
    *projection = "user_profiles";
    pj_cdc_change_t change;
    if (!msg->payload) /* a tombstone: nothing to apply (tombstones.on.delete=false anyway) */
        return PJ_SKIPPED;
    if (!pj_cdc_parse(msg->payload, msg->len, &change, err))
        return PJ_POISON;
    bson_t filter, update;
    bool is_delete = false, applied = false;
    pj_result_t rc = PJ_POISON;
    if (!pj_user_profile_from_cdc(&change, &filter, &update, &is_delete, err))
        goto done;
    if (is_delete) {
        mongoc_collection_t *coll = mongoc_database_get_collection(ctx->db, "user_profiles");
        bson_error_t berr;
        applied = mongoc_collection_delete_one(coll, &filter, NULL, NULL, &berr);
        mongoc_collection_destroy(coll);
        rc = applied ? PJ_APPLIED : PJ_RETRY;
        if (!applied)
            hl_error_set(err, HL_ERR_MONGO, (int)berr.code, "delete: %s", berr.message);
    } else if (!pj_upsert_guarded(ctx, "user_profiles", &filter, &update, &applied, err)) {
        rc = PJ_RETRY;
    } else {
        rc = applied ? PJ_APPLIED : PJ_SKIPPED;
    }
    if (rc != PJ_RETRY) {
        bson_iter_t it;
        if (bson_iter_init_find(&it, &filter, "_id") && change.op != 'd') {
            int64_t version = 0;
            bson_iter_t v;
            if (bson_iter_init_find(&v, &change.row, "version"))
                version = bson_iter_as_int64(&v);
            if (!pj_watermark_advance(ctx, "cdc.users", bson_iter_utf8(&it, NULL), version, err))
                rc = PJ_RETRY;
        }
        pj_observe_lag(*projection, change.ts_ms);
    }
    bson_destroy(&filter);
    bson_destroy(&update);
done:
    pj_cdc_change_destroy(&change);
    return rc;
}

/* Decode a Confluent-framed Avro domain event. PJ_APPLIED here means "decoded". */
static pj_result_t decode_event(pj_ctx_t *ctx, const rd_kafka_message_t *msg, avro_value_t *value,
                                avro_value_t *record, const char **event_type, hl_error_t *err)
{
    int schema_id = 0;
    const uint8_t *body = NULL;
    size_t body_len = 0;
    if (!hl_confluent_unframe(msg->payload, msg->len, &schema_id, &body, &body_len, err))
        return PJ_POISON;
    avro_value_iface_t *iface = pj_schema_cache_get(ctx->schemas, schema_id, err);
    if (!iface) {
        if (err->domain == HL_ERR_HTTP && err->code == 404) {
            hl_error_set_reason(err, HL_ERR_AVRO, 404, "unknown-schema-id",
                                "schema id %d is not in the registry", schema_id);
            return PJ_POISON;
        }
        return err->domain == HL_ERR_AVRO ? PJ_POISON : PJ_RETRY;
    }
    if (!hl_event_decode(iface, body, body_len, value, record, event_type, err))
        return PJ_POISON;
    return PJ_APPLIED;
}

static pj_result_t apply_user_events(pj_ctx_t *ctx, const rd_kafka_message_t *msg,
                                     const char **projection, hl_error_t *err)
{
    *projection = "daily_stats";
    avro_value_t value, record;
    const char *event_type = NULL;
    pj_result_t rc = decode_event(ctx, msg, &value, &record, &event_type, err);
    if (rc != PJ_APPLIED)
        return rc;
    int64_t occurred = 0;
    if (!hl_avro_get_long(&record, "occurred_at", &occurred, err)) {
        rc = PJ_POISON;
        goto done;
    }
    if (!strcmp(event_type, "UserRegistered")) {
        char source[96];
        pj_source_key(rd_kafka_topic_name(msg->rkt), msg->partition, source, sizeof source);
        bson_t filter, update;
        pj_daily_stats_update("users_registered", occurred, source, msg->offset, &filter, &update);
        bool applied = false;
        if (!pj_upsert_guarded(ctx, "daily_stats", &filter, &update, &applied, err))
            rc = PJ_RETRY;
        else
            rc = applied ? PJ_APPLIED : PJ_SKIPPED;
        bson_destroy(&filter);
        bson_destroy(&update);
    } else {
        rc = PJ_SKIPPED; /* no read model consumes this type yet */
    }
    if (rc != PJ_RETRY) {
        const char *aggregate_id = NULL;
        int64_t version = 0;
        if (hl_avro_get_string(&record, "aggregate_id", &aggregate_id, err) &&
            hl_avro_get_long(&record, "aggregate_version", &version, err) &&
            !pj_watermark_advance(ctx, "ev", aggregate_id, version, err))
            rc = PJ_RETRY;
        pj_observe_lag(*projection, occurred / 1000);
    }
done:
    avro_value_decref(&value);
    return rc;
}

const pj_route_t pj_routes[] = {
    {"cdc.public.users", apply_users_cdc},
    {"user.events", apply_user_events},
    {NULL, NULL},
};
