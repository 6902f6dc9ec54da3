/* app.c: the store client pool of the process state (app.h). */
#include "app.h"

mongoc_client_t *qs_client_acquire(qs_app_t *app)
{
    return mongoc_client_pool_pop(app->pool);
}

void qs_client_release(qs_app_t *app, mongoc_client_t *client)
{
    if (client)
        mongoc_client_pool_push(app->pool, client);
}
