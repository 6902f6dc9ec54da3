/* stream_presence.h: connection facts for presence (stream_presence.c). */
#ifndef QS_STREAM_PRESENCE_H
#define QS_STREAM_PRESENCE_H

#include "stream_app.h"

#include "hl/error.h"

/* Connection facts for presence (stream_presence.c): start the producer and the heartbeat
 * thread (nothing when cfg.connections_topic is empty); open/close count a user's stream
 * connection and produce its fact (loop thread only); stop after the loop closed every
 * connection (flushes their disconnects). Errors: HL_ERR_CONFIG, HL_ERR_HTTP (registry),
 * HL_ERR_KAFKA. */
bool st_presence_start(st_app_t *app, hl_error_t *err);
void st_presence_open(const char *user);
void st_presence_close(const char *user);
void st_presence_stop(st_app_t *app);

#endif
