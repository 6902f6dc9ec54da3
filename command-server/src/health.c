/* health.c: /healthz (liveness), /readyz (PostgreSQL and Kafka reachable), /metrics. */
#include "app.h"

#include "hl/metrics.h"

#include <stdlib.h>

void cs_handle_healthz(hl_http_request_t *req)
{
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "status", "ok");
    hl_http_reply_json(req, 200, &doc, NULL);
    bson_destroy(&doc);
}

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

void cs_handle_metrics(hl_http_request_t *req)
{
    size_t len = 0;
    char *text = hl_metrics_render(&len);
    hl_http_reply_text(req, 200, "text/plain; version=0.0.4", text, len);
    free(text);
}
