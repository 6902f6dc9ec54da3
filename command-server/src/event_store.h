/* event_store.h: appending domain events to the `events` table and the outbox, inside the
 * caller's PostgreSQL transaction (SPEC §1: aggregate rows + events rows in one transaction). */
#ifndef CS_EVENT_STORE_H
#define CS_EVENT_STORE_H

#include "hl/error.h"
#include "hl/events.h"
#include "hl/util.h"

#include <libpq-fe.h>
#include <stdint.h>

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

/* What an append produced. */
typedef struct {
    int64_t position;                   /* global position in `events` */
    char event_id[HL_UUID_STR_LEN + 1]; /* generated UUIDv7 */
} cs_appended_t;

/* Fill the envelope fields of ev from meta (event_id generated), encode it with its topic's
 * schema (whose schema_id must be known), insert the `events` row and its `outbox` row, and
 * pg_notify('hl_outbox') so the relay wakes at commit. conn must be inside BEGIN. Errors:
 * HL_ERR_AVRO (encoding), HL_ERR_PG (insert; a duplicate aggregate version is SQLSTATE 23505). */
bool cs_event_store_append(PGconn *conn, hl_event_t *ev, const cs_event_meta_t *meta,
                           cs_appended_t *out, hl_error_t *err);

#endif
