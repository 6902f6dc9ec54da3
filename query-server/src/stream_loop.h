/* stream_loop.h: the stream listener's libwebsockets event loop (stream_loop.c): SSE and
 * WebSocket connections, subscriptions, fan-out, and the channels they listen to. */
#ifndef QS_STREAM_LOOP_H
#define QS_STREAM_LOOP_H

#include "stream_app.h"

#include "hl/error.h"

#include <stdbool.h>

/* Interest of the loop's subscribers in a feed channel (add +1/-1 on the loop; feed thread
 * asks st_interested). */
void st_interest_add(st_app_t *app, const char *channel, int delta);
bool st_interested(st_app_t *app, const char *channel);

/* The event loop (stream_loop.c): create the lws context on cfg.listen; run until shutdown. */
bool st_loop_init(st_app_t *app, hl_error_t *err);
void st_loop_run(st_app_t *app);
void st_loop_destroy(st_app_t *app);

#endif
