/* booking_row.c: the Booking aggregate's row and the fields every Booking* event carries
 * (booking_row.h). */
#include "booking_row.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cs_booking_from_result(const PGresult *r, int row, int col, cs_booking_row_t *b)
{
    memset(b, 0, sizeof *b);
    snprintf(b->booking_id, sizeof b->booking_id, "%s", PQgetvalue(r, row, col + 0));
    snprintf(b->client_id, sizeof b->client_id, "%s", PQgetvalue(r, row, col + 1));
    snprintf(b->counsellor_id, sizeof b->counsellor_id, "%s", PQgetvalue(r, row, col + 2));
    snprintf(b->slot_id, sizeof b->slot_id, "%s", PQgetvalue(r, row, col + 3));
    snprintf(b->status, sizeof b->status, "%s", PQgetvalue(r, row, col + 4));
    snprintf(b->room_id, sizeof b->room_id, "%s", PQgetvalue(r, row, col + 5));
    b->starts_us = strtoll(PQgetvalue(r, row, col + 6), NULL, 10);
    b->minutes = (int)strtol(PQgetvalue(r, row, col + 7), NULL, 10);
    b->price_minor = strtoll(PQgetvalue(r, row, col + 8), NULL, 10);
    snprintf(b->currency, sizeof b->currency, "%s", PQgetvalue(r, row, col + 9));
    b->version = strtoll(PQgetvalue(r, row, col + 10), NULL, 10);
    b->slot_version = strtoll(PQgetvalue(r, row, col + 11), NULL, 10);
    snprintf(b->slot_status, sizeof b->slot_status, "%s", PQgetvalue(r, row, col + 12));
}

bool cs_booking_event_init(hl_event_t *ev, hl_event_catalog_t *cat, const char *type,
                           const cs_booking_row_t *b, hl_error_t *err)
{
    return hl_event_init(ev, cat, type, err) &&
           hl_avro_set_string(&ev->record, "client_id", b->client_id, err) &&
           hl_avro_set_string(&ev->record, "counsellor_id", b->counsellor_id, err) &&
           hl_avro_set_string(&ev->record, "slot_id", b->slot_id, err) &&
           hl_avro_set_long(&ev->record, "slot_version", b->slot_version, err) &&
           hl_avro_set_string(&ev->record, "slot_status", b->slot_status, err) &&
           hl_avro_set_long(&ev->record, "starts_at", b->starts_us, err) &&
           hl_avro_set_long(&ev->record, "minutes", b->minutes, err) &&
           hl_avro_set_long(&ev->record, "price_minor", b->price_minor, err) &&
           hl_avro_set_string(&ev->record, "currency", b->currency, err) &&
           hl_avro_set_string(&ev->record, "job_id", b->job_id, err);
}
