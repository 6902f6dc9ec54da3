/* chat.h: chat context commands (chat.c, SPEC §2): create a room, send a message, mark read.
 * Route handlers for hl/http.h; each runs the cmd.h pipeline, and
 * schemas/openapi/command-api.yaml describes their requests and answers. */
#ifndef CS_CHAT_H
#define CS_CHAT_H

#include "hl/http.h"

void cs_handle_create_room(hl_http_request_t *req);  /* POST /v1/chat-rooms */
void cs_handle_send_message(hl_http_request_t *req); /* POST /v1/chat-rooms/{room_id}/messages */
void cs_handle_mark_read(hl_http_request_t *req);    /* POST /v1/chat-rooms/{room_id}/read */

#endif
