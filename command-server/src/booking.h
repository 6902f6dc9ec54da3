/* booking.h: booking commands (booking.c, SPEC §9): book a slot (hold it and start the booking
 * saga), cancel, complete, review. Route handlers for hl/http.h; each runs the cmd.h pipeline,
 * and schemas/openapi/command-api.yaml describes their requests and answers. Book, cancel and
 * complete answer 202 with the saga run's job (saga.h does the rest). */
#ifndef CS_BOOKING_H
#define CS_BOOKING_H

#include "hl/http.h"

void cs_handle_book(hl_http_request_t *req);             /* POST /v1/bookings */
void cs_handle_cancel_booking(hl_http_request_t *req);   /* POST /v1/bookings/{id}/cancel */
void cs_handle_complete_booking(hl_http_request_t *req); /* POST /v1/bookings/{id}/complete */
void cs_handle_review_booking(hl_http_request_t *req);   /* POST /v1/bookings/{id}/review */

#endif
