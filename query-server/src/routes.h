/* routes.h: the query server's route handlers (main.c routes[], SPEC §3 and §9). */
#ifndef QS_ROUTES_H
#define QS_ROUTES_H

#include "hl/http.h"

/* Route handlers (main.c routes[]): each parses its parameters, runs qs_begin, reads the read
 * models, and sends exactly one reply (200 JSON or a problem document). */
void qs_handle_user(hl_http_request_t *req);
void qs_handle_users_search(hl_http_request_t *req);
void qs_handle_friends(hl_http_request_t *req);
void qs_handle_friend_requests(hl_http_request_t *req);
void qs_handle_chat_rooms(hl_http_request_t *req);
void qs_handle_chat_room_check(hl_http_request_t *req);
void qs_handle_messages(hl_http_request_t *req);
void qs_handle_notifications(hl_http_request_t *req);
void qs_handle_daily_stats(hl_http_request_t *req);
void qs_handle_readyz(hl_http_request_t *req);
/* counselling.c (SPEC §9) */
void qs_handle_job(hl_http_request_t *req);
void qs_handle_counsellors(hl_http_request_t *req);
void qs_handle_counsellor(hl_http_request_t *req);
void qs_handle_counsellor_slots(hl_http_request_t *req);
void qs_handle_bookings(hl_http_request_t *req);
void qs_handle_booking(hl_http_request_t *req);

#endif
