/* health.c: /readyz (PostgreSQL and Kafka reachable); /healthz and /metrics come from hl/server.h.
 */
#include "health.h"
#include "app.h"

#include "hl/metrics.h"

#include <stdlib.h>

void cs_handle_readyz(hl_http_request_t *req)
{
    cs_app_t *app = req->app;
    hl_error_t err = {0};
    bool pg_ok = false;
    PGconn *conn = hl_pg_pool_acquire(app->pool, 1000, &err);
    if (conn) {
        pg_ok = hl_pg_exec(conn, "SELECT 1", &err);
        hl_pg_pool_release(app->pool, conn);
    }
    bool kafka_ok = cs_relay_kafka_up(app->relay);
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "status", pg_ok && kafka_ok ? "ready" : "not-ready");
    BSON_APPEND_BOOL(&doc, "postgres", pg_ok);
    BSON_APPEND_BOOL(&doc, "kafka", kafka_ok);
    hl_http_reply_json(req, pg_ok && kafka_ok ? 200 : 503, &doc, NULL);
    bson_destroy(&doc);
}
