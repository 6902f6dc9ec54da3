/* booking_row.h: the Booking aggregate's state as the command side reads it, shared by the
 * booking commands (booking.c) and the booking saga (saga.c), and the fields every Booking* event
 * carries (schemas/Booking*.avsc). Below both: it calls neither. */
#ifndef CS_BOOKING_ROW_H
#define CS_BOOKING_ROW_H

#include "hl/error.h"
#include "hl/events.h"
#include "hl/util.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    char booking_id[HL_UUID_STR_LEN + 1];
    char client_id[HL_UUID_STR_LEN + 1];
    char counsellor_id[HL_UUID_STR_LEN + 1];
    char slot_id[HL_UUID_STR_LEN + 1];
    char job_id[HL_UUID_STR_LEN + 1]; /* the job writing the event */
    char status[16];
    char room_id[HL_UUID_STR_LEN + 1]; /* "" when none */
    int64_t starts_us;
    int minutes;
    int64_t price_minor;
    char currency[4];
    int64_t version;
    int64_t slot_version; /* after the event */
    char slot_status[16]; /* after the event */
} cs_booking_row_t;

/* The SELECT list that cs_booking_from_result reads, in order, from bookings b joined with
 * slots s (columns 0..12). */
#define CS_BOOKING_COLUMNS                                                                         \
    "b.booking_id, b.client_id, b.counsellor_id, b.slot_id, b.status,"                             \
    " COALESCE(b.room_id::text, ''),"                                                              \
    " (extract(epoch FROM b.starts_at) * 1000000)::bigint, b.minutes, b.price_minor,"              \
    " b.currency, b.version, s.version, s.status"

/* Fill b from row of r (columns as CS_BOOKING_COLUMNS, first at column col). */
void cs_booking_from_result(const PGresult *r, int row, int col, cs_booking_row_t *b);

/* Start event type (a Booking* event) with the fields every booking event carries, from b.
 * The caller sets the type's own fields, emits and destroys ev. */
bool cs_booking_event_init(hl_event_t *ev, hl_event_catalog_t *cat, const char *type,
                           const cs_booking_row_t *b, hl_error_t *err);

#endif
