/* stream_inbox.c: the event loop's inbox, the one hand-over from the feed thread and the
 * workers to the loop (stream_app.h). */
#include "stream_app.h"
#include "stream_inbox.h"

#include <libwebsockets.h>
#include <pthread.h>

void st_post(st_app_t *app, st_msg_t *msg)
{
    msg->next = NULL;
    pthread_mutex_lock(&app->inbox_lock);
    if (app->inbox_tail)
        app->inbox_tail->next = msg;
    else
        app->inbox_head = msg;
    app->inbox_tail = msg;
    pthread_mutex_unlock(&app->inbox_lock);
    if (app->lws)
        lws_cancel_service(app->lws);
}

st_msg_t *st_inbox_take(st_app_t *app)
{
    pthread_mutex_lock(&app->inbox_lock);
    st_msg_t *m = app->inbox_head;
    app->inbox_head = app->inbox_tail = NULL;
    pthread_mutex_unlock(&app->inbox_lock);
    return m;
}
