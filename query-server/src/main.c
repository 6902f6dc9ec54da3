/* query-server: answers REST reads (SPEC §3) from the MongoDB read models only. */
#include "app.h"
#include "request.h"
#include "routes.h"
#include "watermark_wait.h"

#include "hl/config.h"
#include "hl/server.h"
#include "hl/log.h"
#include "hl/signals.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define HL_CONFIG_TYPE qs_config_t
static const hl_config_option_t options[] = {
    HL_CONFIG_STRING(http_listen, "http-listen", "HL_QUERY_LISTEN", "127.0.0.1:8081",
                     "address:port to serve the query API on"),
    HL_CONFIG_INT(
        http_threads, "http-threads", "HL_QUERY_THREADS", 288, 2, 1024,
        "HTTP worker threads (idle ones cost memory only: the gateway holds the client connections "
        "and keeps at most --gateway keep-alive pool idle connections here)"),
    HL_CONFIG_INT(
        max_waits, "max-waits", "HL_QUERY_MAX_WAITS", 256, 1, 1023,
        "reads that may wait for their X-Consistency-Token at once; must be below --http-threads, "
        "whose remaining workers stay free for every other read; more waits answer 503 at once"),
    HL_CONFIG_INT(mongo_pool, "mongo-pool", "HL_QUERY_MONGO_POOL", 64, 1, 1024,
                  "MongoDB connections (a waiting read holds none)"),
    HL_CONFIG_MONGO_OPTIONS,
    HL_CONFIG_TOKEN_OPTIONS("secret shared with command-server for verifying tokens"),
    HL_CONFIG_INT(consistency_default_wait_ms, "consistency-wait-ms", "HL_CONSISTENCY_WAIT_MS",
                  2000, 0, 10000, "default read-your-writes wait, ms"),
    HL_CONFIG_INT(consistency_max_wait_ms, "consistency-max-wait-ms", "HL_CONSISTENCY_MAX_WAIT_MS",
                  10000, 0, 60000, "largest X-Consistency-Wait-Ms accepted, ms"),
    HL_CONFIG_INT(alias_ttl_ms, "alias-ttl-ms", "HL_QUERY_ALIAS_TTL_MS", 1000, 0, 1000,
                  "longest time a read_model_aliases switch takes to reach reads, ms"),
    HL_CONFIG_INT(
        session_cache_ms, "session-cache-ms", "HL_QUERY_SESSION_CACHE_MS", 1000, 0, 5000,
        "how long a session seen live is not re-read (revocation reaches token-less reads within "
        "this), ms"),
    HL_CONFIG_INT(member_cache_ms, "member-cache-ms", "HL_QUERY_MEMBER_CACHE_MS", 60000, 0, 3600000,
                  "how long a room membership seen is not re-read, ms"),
    HL_CONFIG_INT(
        name_cache_ms, "name-cache-ms", "HL_QUERY_NAME_CACHE_MS", 1000, 0, 5000,
        "how long a display name shown in lists is reused (a rename reaches token-less list reads "
        "within this), ms"),
    HL_CONFIG_LOG_OPTIONS,
};
#define NOPTS (sizeof options / sizeof options[0])

HL_CONFIG_TOKEN_CHECK(check_tokens)

/* The wait options agree: the default wait fits under the largest accepted one, and waiting
 * reads leave workers free for every other read. */
static bool check_waits(const void *cfg, hl_error_t *err)
{
    const qs_config_t *c = cfg;
    if (c->consistency_default_wait_ms > c->consistency_max_wait_ms)
        return hl_error_set_reason(err, HL_ERR_CONFIG, 0, "bad-option",
                                   "--consistency-wait-ms (%lld) must not exceed "
                                   "--consistency-max-wait-ms (%lld)",
                                   c->consistency_default_wait_ms, c->consistency_max_wait_ms);
    if (c->max_waits >= c->http_threads)
        return hl_error_set_reason(err, HL_ERR_CONFIG, 0, "bad-option",
                                   "--max-waits (%lld) must be below --http-threads (%lld)",
                                   c->max_waits, c->http_threads);
    return true;
}

static const hl_config_check_fn checks[] = {check_tokens, check_waits, NULL};

static const hl_http_route_t routes[] = {
    {"GET", "/v1/users/{id}", qs_handle_user},
    {"GET", "/v1/users", qs_handle_users_search},
    {"GET", "/v1/friends", qs_handle_friends},
    {"GET", "/v1/friend-requests", qs_handle_friend_requests},
    {"GET", "/v1/chat-rooms", qs_handle_chat_rooms},
    {"GET", "/v1/chat-rooms/check/{user_id}", qs_handle_chat_room_check},
    {"GET", "/v1/chat-rooms/{room_id}/messages", qs_handle_messages},
    {"GET", "/v1/notifications", qs_handle_notifications},
    {"GET", "/v1/stats/daily", qs_handle_daily_stats},
    {"GET", "/v1/jobs/{job_id}", qs_handle_job},
    {"GET", "/v1/counsellors", qs_handle_counsellors},
    {"GET", "/v1/counsellors/{id}", qs_handle_counsellor},
    {"GET", "/v1/counsellors/{id}/slots", qs_handle_counsellor_slots},
    {"GET", "/v1/bookings", qs_handle_bookings},
    {"GET", "/v1/bookings/{id}", qs_handle_booking},
    {"GET", "/healthz", hl_server_handle_healthz},
    {"GET", "/readyz", qs_handle_readyz},
    {"GET", "/metrics", hl_server_handle_metrics},
};

int main(int argc, char **argv)
{
    qs_app_t app;
    memset(&app, 0, sizeof app);
    hl_error_t err = {0};
    int rc = 1;
    hl_http_server_t *http = NULL;
    mongoc_uri_t *uri = NULL;

    pthread_mutex_init(&app.aliases.lock, NULL);
    int code = hl_server_configure("query-server", options, NOPTS, checks, &app.cfg,
                                   offsetof(qs_config_t, log_level),
                                   offsetof(qs_config_t, log_json), argc, argv);
    if (code >= 0) {
        rc = code;
        goto done;
    }
    if (!hl_token_ring_derive(&app.consistency_key, app.cfg.token_secret,
                              app.cfg.token_secret_previous, app.cfg.token_previous_until_s,
                              "consistency", &err) ||
        !hl_token_ring_derive(&app.session_key, app.cfg.token_secret, app.cfg.token_secret_previous,
                              app.cfg.token_previous_until_s, "session", &err)) {
        HL_ERROR("%s", err.message);
        goto done;
    }
    {
        char ring[128];
        HL_INFO("session tokens: %s", hl_token_ring_describe(&app.session_key, ring, sizeof ring));
    }
    if (!qs_app_open_store(&app, app.cfg.mongo_uri, (int)app.cfg.mongo_pool,
                           8192 /* <= 8192 x 17 kB */, true, "hearlers-query-server", &err)) {
        HL_ERROR("%s", err.message);
        rc = err.domain == HL_ERR_CONFIG ? 2 : 1;
        goto done;
    }
    if (!(app.waiter = qs_wm_waiter_new(&app, (int)app.cfg.max_waits, &err))) {
        HL_ERROR("%s", err.message);
        goto done;
    }
    http = hl_http_server_start(app.cfg.http_listen, (int)app.cfg.http_threads, routes,
                                sizeof routes / sizeof routes[0],
                                HL_HTTP_HEAD_AS_GET | HL_HTTP_READ_ONLY, &app, &err);
    if (!http) {
        HL_ERROR("%s", err.message);
        goto done;
    }
    HL_INFO("query API listening on http://%s", app.cfg.http_listen);
    while (!hl_sleep_or_shutdown(1000))
        ;
    HL_INFO("shutting down: draining HTTP");
    rc = 0;
done:
    hl_http_server_stop(http);
    qs_wm_waiter_destroy(app.waiter);
    if (app.pool)
        mongoc_client_pool_destroy(app.pool);
    mongoc_uri_destroy(uri);
    if (app.pool)
        mongoc_cleanup();
    hl_config_free(options, NOPTS, &app.cfg);
    pthread_mutex_destroy(&app.aliases.lock);
    qs_cache_destroy(app.sessions);
    qs_cache_destroy(app.members);
    qs_doc_cache_destroy(app.messages);
    qs_doc_cache_destroy(app.names);
    if (rc == 0 && code < 0) /* not after --help */
        HL_INFO("stopped");
    return rc;
}
