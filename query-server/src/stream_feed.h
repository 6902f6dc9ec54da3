/* stream_feed.h: the change-feed consumer thread (stream_feed.c). */
#ifndef QS_STREAM_FEED_H
#define QS_STREAM_FEED_H

#include "stream_app.h"

#include "hl/error.h"

/* Feed thread (stream_feed.c). */
bool st_feed_start(st_app_t *app, hl_error_t *err);
void st_feed_stop(st_app_t *app);

#endif
