/* event_store.h: appending domain events to the `events` table and the outbox, inside the
 * caller's PostgreSQL transaction (SPEC §1: aggregate rows + events rows in one transaction). */
#ifndef CS_EVENT_STORE_H
#define CS_EVENT_STORE_H

#include "hl/error.h"
#include "hl/events.h"
#include "hl/util.h"

#include <stddef.h>
#include <stdint.h>

/* The number of parameters of CS_EVENT_APPEND_SQL (below). */
#define CS_EVENT_APPEND_PARAMS 13

/* Envelope metadata of one event. Strings are borrowed. */
typedef struct {
    const char *aggregate_type; /* "User", "FriendRequest", "ChatRoom", ... */
    const char *aggregate_id;   /* UUID text */
    int64_t aggregate_version;  /* version after this event, >= 1 */
    int64_t occurred_at_us;     /* microseconds since the epoch */
    const char *causation_id;   /* UUID text or NULL */
    const char *correlation_id; /* UUID text or NULL */
    const char *traceparent;    /* W3C traceparent or NULL */
} cs_event_meta_t;

/* The parameters of one CS_EVENT_APPEND_SQL execution: values[i] with lengths[i]/formats[i]
 * as PQexecParams takes them. values point into the row itself (and into meta's strings and ev's
 * record, which must outlive the row's use); payload is malloc'd and freed by cs_event_row_free. */
typedef struct {
    char event_id[HL_UUID_STR_LEN + 1]; /* generated UUIDv7 */
    char version[24], occurred[24], schema_id[16];
    char partition_key[2 * HL_UUID_STR_LEN + 2]; /* a composed Kafka key (pair of ids) */
    uint8_t *payload; /* the Avro-encoded event (Confluent wire format) */
    size_t payload_len;
    const char *values[CS_EVENT_APPEND_PARAMS];
    int lengths[CS_EVENT_APPEND_PARAMS];
    int formats[CS_EVENT_APPEND_PARAMS];
} cs_event_row_t;

/* Insert the `events` row and its `outbox` row, and pg_notify('hl_outbox') so the relay wakes at
 * commit; returns one row (position). Its 13 parameters come from cs_event_store_row. Must run
 * inside the command's transaction. Errors: HL_ERR_PG (a duplicate aggregate version is SQLSTATE
 * 23505). */
extern const char CS_EVENT_APPEND_SQL[];

/* Fill the envelope fields of ev from meta (event_id generated), encode it with its topic's
 * schema (whose schema_id must be known) and fill row with CS_EVENT_APPEND_SQL's parameters.
 * On success the caller owns row (cs_event_row_free). Errors: HL_ERR_AVRO (no schema id,
 * encoding). */
bool cs_event_store_row(hl_event_t *ev, const cs_event_meta_t *meta, cs_event_row_t *row,
                        hl_error_t *err);

/* The Kafka key of ev (stored in events.partition_key, published by the outbox relay): the
 * aggregate id, except
 *   - counselling.events and payment.events: the event's `counsellor_id` when it has one
 *     (Booking*, ReviewSubmitted, Payment*);
 *   - friend.events: the event's two users, "<lower id>:<higher id>" (from_user_id/to_user_id,
 *     user_id/friend_user_id, blocker_id/blocked_id), composed in buf (cap bytes; a key that
 *     does not fit falls back to the aggregate id);
 * so that every event that changes one read-model document lands on one partition number of
 * every topic (one writer per document with several projectors, docs/read-models.md). Returns a
 * string borrowed from ev's record, buf or aggregate_id itself; never NULL when aggregate_id is
 * not. */
const char *cs_event_partition_key(hl_event_t *ev, const char *aggregate_id, char *buf, size_t cap);

/* Free what cs_event_store_row allocated (row itself is the caller's; NULL-safe). */
void cs_event_row_free(cs_event_row_t *row);

#endif
