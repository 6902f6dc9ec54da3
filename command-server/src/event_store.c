#include "event_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char CS_EVENT_APPEND_SQL[] =
    "WITH e AS (INSERT INTO events (event_id, aggregate_type, aggregate_id, aggregate_version,"
    " event_type, topic, schema_id, payload, occurred_at, causation_id, correlation_id,"
    " traceparent, partition_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
    " 'epoch'::timestamptz + $9::bigint * interval '1 microsecond', $10, $11, $12, $13)"
    " RETURNING position),"
    " o AS (INSERT INTO outbox (position) SELECT position FROM e)"
    " SELECT position, pg_notify('hl_outbox', '') FROM e";

/* Topics whose events are keyed by fields of the event rather than by their aggregate id (issue
 * 16: one writer per read-model document with several projectors; the projectors' range
 * assignor gives partition p of every topic to one member).
 *
 * - counselling.events, payment.events: by `counsellor_id`. Every counselling document
 *   (docs/read-models.md: counsellors, slots, bookings, bookings_by_user) belongs to one
 *   counsellor and is changed by events of three aggregates (Counsellor, Booking, Payment) on
 *   the two topics: keyed by the counsellor, all of them land on partition p(counsellor) of
 *   both. Counsellor and Slot events have no such field: their aggregate id is the counsellor's.
 * - friend.events: by the pair of users, "<lower id>:<higher id>". A pair's `friends` documents
 *   are changed by the acceptance of a request (aggregate: the request) and the deletion of the
 *   friendship (aggregate: the friendship), and again by later requests of the same pair.
 *
 * The first `fields` entry whose fields the event has decides (field_b NULL: one field). Per-
 * aggregate order is kept: these fields never change over an aggregate's life. */
static const struct {
    const char *topic;
    const char *field_a, *field_b;
} partition_fields[] = {
    {"counselling.events", "counsellor_id", NULL},   {"payment.events", "counsellor_id", NULL},
    {"friend.events", "from_user_id", "to_user_id"}, /* FriendRequest* */
    {"friend.events", "user_id", "friend_user_id"},  /* FriendDeleted */
    {"friend.events", "blocker_id", "blocked_id"},   /* UserBlocked, UserUnblocked */
};

/* The non-empty string field name of ev's record, or NULL. */
static const char *string_field(hl_event_t *ev, const char *name)
{
    avro_value_t field;
    const char *s = NULL;
    size_t len = 0;
    if (avro_value_get_by_name(&ev->record, name, &field, NULL) != 0 ||
        avro_value_get_type(&field) != AVRO_STRING ||
        avro_value_get_string(&field, &s, &len) != 0 || !s || len <= 1)
        return NULL;
    return s;
}

const char *cs_event_partition_key(hl_event_t *ev, const char *aggregate_id, char *buf, size_t cap)
{
    for (size_t i = 0; i < sizeof partition_fields / sizeof partition_fields[0]; i++) {
        if (strcmp(ev->topic->topic, partition_fields[i].topic) != 0)
            continue;
        const char *a = string_field(ev, partition_fields[i].field_a);
        if (!a)
            continue;
        if (!partition_fields[i].field_b)
            return a;
        const char *b = string_field(ev, partition_fields[i].field_b);
        if (!b)
            continue;
        int n = strcmp(a, b) <= 0 ? snprintf(buf, cap, "%s:%s", a, b)
                                  : snprintf(buf, cap, "%s:%s", b, a);
        if (n > 0 && (size_t)n < cap)
            return buf;
    }
    return aggregate_id;
}

bool cs_event_store_row(hl_event_t *ev, const cs_event_meta_t *meta, cs_event_row_t *row,
                        hl_error_t *err)
{
    memset(row, 0, sizeof *row);
    if (ev->topic->schema_id <= 0)
        return hl_error_set(err, HL_ERR_AVRO, 0, "no schema id registered for %s",
                            ev->topic->topic);
    hl_uuid_v7(row->event_id);
    if (!hl_avro_set_string(&ev->record, "event_id", row->event_id, err) ||
        !hl_avro_set_string(&ev->record, "aggregate_id", meta->aggregate_id, err) ||
        !hl_avro_set_long(&ev->record, "aggregate_version", meta->aggregate_version, err) ||
        !hl_avro_set_long(&ev->record, "occurred_at", meta->occurred_at_us, err) ||
        !hl_avro_set_string_opt(&ev->record, "causation_id", meta->causation_id, err) ||
        !hl_avro_set_string_opt(&ev->record, "correlation_id", meta->correlation_id, err))
        return false;
    if (!hl_event_serialize(ev, &row->payload, &row->payload_len, err))
        return false;
    snprintf(row->version, sizeof row->version, "%lld", (long long)meta->aggregate_version);
    snprintf(row->occurred, sizeof row->occurred, "%lld", (long long)meta->occurred_at_us);
    snprintf(row->schema_id, sizeof row->schema_id, "%d", ev->topic->schema_id);
    const char *key = cs_event_partition_key(ev, meta->aggregate_id, row->partition_key,
                                             sizeof row->partition_key);
    const char *values[CS_EVENT_APPEND_PARAMS] = {row->event_id,
                                                  meta->aggregate_type,
                                                  meta->aggregate_id,
                                                  row->version,
                                                  ev->event_type,
                                                  ev->topic->topic,
                                                  row->schema_id,
                                                  (const char *)row->payload,
                                                  row->occurred,
                                                  meta->causation_id,
                                                  meta->correlation_id,
                                                  meta->traceparent,
                                                  key};
    memcpy(row->values, values, sizeof values);
    row->lengths[7] = (int)row->payload_len;
    row->formats[7] = 1; /* payload is bytea in binary */
    return true;
}

void cs_event_row_free(cs_event_row_t *row)
{
    if (!row)
        return;
    free(row->payload);
    row->payload = NULL;
}
