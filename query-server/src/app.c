/* app.c: the read store of the process state: its caches and client pool (app.h). */
#include "app.h"

#include "hl/log.h"

#include <stdint.h>

mongoc_client_t *qs_client_acquire(qs_app_t *app)
{
    return mongoc_client_pool_pop(app->pool);
}

void qs_client_release(qs_app_t *app, mongoc_client_t *client)
{
    if (client)
        mongoc_client_pool_push(app->pool, client);
}

bool qs_app_open_store(qs_app_t *app, const char *mongo_uri, int max_pool, size_t message_slots,
                       bool no_retry_writes, const char *appname, hl_error_t *err)
{
    app->sessions = qs_cache_new(8192);
    app->members = qs_cache_new(8192);
    app->messages = qs_doc_cache_new(message_slots);
    app->names = qs_doc_cache_new(16384);
    if (!app->sessions || !app->members || !app->messages || !app->names)
        return hl_error_set(err, HL_ERR_SYSTEM, 0, "out of memory");
    mongoc_init();
    hl_log_route_mongoc();
    bson_error_t berr;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(mongo_uri, &berr);
    if (!uri)
        return hl_error_set(err, HL_ERR_CONFIG, 0, "bad --mongo-uri: %s", berr.message);
    if (no_retry_writes)
        mongoc_uri_set_option_as_bool(uri, MONGOC_URI_RETRYWRITES, false);
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_MAXPOOLSIZE, (int32_t)max_pool);
    app->pool = mongoc_client_pool_new(uri);
    mongoc_uri_destroy(uri);
    if (!app->pool)
        return hl_error_set(err, HL_ERR_SYSTEM, 0, "cannot create the MongoDB client pool");
    mongoc_client_pool_set_appname(app->pool, appname);
    mongoc_client_pool_set_error_api(app->pool, MONGOC_ERROR_API_VERSION_2);
    return true;
}
