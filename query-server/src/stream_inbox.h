/* stream_inbox.h: the event loop's inbox, the one hand-over to the loop thread (stream_inbox.c). */
#ifndef QS_STREAM_INBOX_H
#define QS_STREAM_INBOX_H

#include "stream_app.h"

/* The loop's inbox (stream_inbox.c). st_post: hand a message to the loop and wake it with
 * lws_cancel_service (any thread; takes msg over). st_inbox_take: the loop takes every queued
 * message, oldest first, as a list linked by next (caller owns it; NULL when empty). */
void st_post(st_app_t *app, st_msg_t *msg);
st_msg_t *st_inbox_take(st_app_t *app);

#endif
