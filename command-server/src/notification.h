/* notification.h: the notification command (notification.c, SPEC §2): mark notifications read.
 * A route handler for hl/http.h running the cmd.h pipeline; schemas/openapi/command-api.yaml
 * describes its request and answer. */
#ifndef CS_NOTIFICATION_H
#define CS_NOTIFICATION_H

#include "hl/http.h"

void cs_handle_notifications_read(hl_http_request_t *req); /* POST /v1/notifications/read */

#endif
