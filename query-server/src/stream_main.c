/* stream-listener: the read side's real-time streams (SPEC §8): SSE routes and the /v1/ws
 * WebSocket on one libwebsockets event loop, fed by the projector's change feed
 * (stream.changes), with the query server's session, membership and rendering code
 * (read_api.h). See stream_app.h for its threads. */
#include "stream_app.h"
#include "stream_work.h"
#include "stream_loop.h"
#include "stream_feed.h"
#include "stream_presence.h"
#include "stream_revoked.h"

#include "hl/config.h"
#include "hl/log.h"
#include "hl/server.h"
#include "hl/signals.h"

#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define HL_CONFIG_TYPE st_config_t
static const hl_config_option_t options[] = {
    HL_CONFIG_STRING(listen, "listen", "HL_STREAM_LISTEN", "127.0.0.1:8083",
                     "address:port of the SSE and WebSocket streams"),
    HL_CONFIG_STRING(kafka_brokers, "kafka-brokers", "HL_KAFKA_BROKERS", "127.0.0.1:29092",
                     "Kafka bootstrap servers"),
    HL_CONFIG_STRING(feed_topic, "feed-topic", "HL_STREAM_FEED_TOPIC", "stream.changes",
                     "the projector's change-feed topic"),
    HL_CONFIG_STRING_V(schema_registry_url, "schema-registry-url", "HL_SCHEMA_REGISTRY_URL",
                       "http://127.0.0.1:28081/apis/ccompat/v7", hl_config_valid_http_url,
                       "Confluent-compatible schema registry base URL"),
    HL_CONFIG_INT(registry_wait_s, "registry-wait-s", "HL_REGISTRY_WAIT_S", 60, 0, 3600,
                  "how long start-up retries registering the connection facts' schema while the "
                  "registry is unreachable or answers 5xx or slower than 5 s, s"),
    HL_CONFIG_MONGO_OPTIONS,
    HL_CONFIG_TOKEN_OPTIONS("secret shared with command-server for verifying tokens"),
    HL_CONFIG_INT(workers, "workers", "HL_STREAM_WORKERS", 4, 1, 64,
                  "threads doing the MongoDB reads of subscriptions (checks, gaps, snapshots)"),
    HL_CONFIG_INT(send_buffer_bytes, "send-buffer-bytes", "HL_STREAM_SEND_BUFFER", 262144, 4096,
                  16777216, "queued bytes per connection before it is closed as too slow"),
    HL_CONFIG_INT(heartbeat_ms, "heartbeat-ms", "HL_STREAM_HEARTBEAT_MS", 15000, 100, 600000,
                  "idle time after which a heartbeat is sent, ms"),
    HL_CONFIG_INT(hole_wait_ms, "hole-wait-ms", "HL_STREAM_HOLE_WAIT_MS", 30000, 0, 600000,
                  "how long a room's message hole (its predecessor not projected yet: on a "
                  "partition whose projector died, until the group moves it) is re-read before "
                  "it is skipped, ms; longer than the projectors' session timeout (10 s) plus a "
                  "restart"),
    HL_CONFIG_INT(retry_ms, "retry-ms", "HL_STREAM_RETRY_MS", 1000, 0, 600000,
                  "the SSE retry: field sent on connect, ms"),
    HL_CONFIG_INT(max_connections, "max-connections", "HL_STREAM_MAX_CONNECTIONS", 20000, 16,
                  1000000, "connections the loop is sized for (raise ulimit -n to match)"),
    HL_CONFIG_STRING(
        connections_topic, "connections-topic", "HL_STREAM_CONNECTIONS_TOPIC", "stream.connections",
        "topic of the connection facts and heartbeats presence is derived from (empty: none)"),
    HL_CONFIG_STRING(schemas_dir, "schemas-dir", "HL_SCHEMAS_DIR", HL_DEFAULT_SCHEMAS_DIR,
                     "directory holding topics.json and the .avsc files"),
    HL_CONFIG_INT(
        presence_beat_ms, "presence-beat-ms", "HL_STREAM_PRESENCE_BEAT_MS", 5000, 100, 600000,
        "heartbeat interval of this instance on the connections topic, ms (shorter than the "
        "projector's presence grace period)"),
    HL_CONFIG_LOG_OPTIONS,
};
#define NOPTS (sizeof options / sizeof options[0])

HL_CONFIG_TOKEN_CHECK(check_tokens)
static const hl_config_check_fn checks[] = {check_tokens, NULL};

int main(int argc, char **argv)
{
    static st_app_t app;
    hl_error_t err = {0};
    int rc = 1;
    mongoc_uri_t *uri = NULL;
    bool workers = false, feed = false, presence = false;
    pthread_mutex_init(&app.inbox_lock, NULL);
    pthread_mutex_init(&app.jobs_lock, NULL);
    pthread_mutex_init(&app.interest_lock, NULL);
    pthread_cond_init(&app.jobs_cond, NULL);
    pthread_mutex_init(&app.qs.aliases.lock, NULL);
    int code = hl_server_configure("stream-listener", options, NOPTS, checks, &app.cfg,
                                   offsetof(st_config_t, log_level),
                                   offsetof(st_config_t, log_json), argc, argv);
    if (code >= 0) {
        rc = code;
        goto done;
    }
    signal(SIGPIPE, SIG_IGN);
    /* the query server's store state: the same checks and caches as the query API */
    qs_config_t *q = &app.qs.cfg;
    q->mongo_uri = app.cfg.mongo_uri;
    q->mongo_db = app.cfg.mongo_db;
    q->alias_ttl_ms = 1000;
    q->session_cache_ms = 1000;
    q->member_cache_ms = 60000;
    q->name_cache_ms = 1000;
    if (!hl_token_ring_derive(&app.qs.session_key, app.cfg.token_secret,
                              app.cfg.token_secret_previous, app.cfg.token_previous_until_s,
                              "session", &err) ||
        !hl_token_ring_derive(&app.qs.consistency_key, app.cfg.token_secret,
                              app.cfg.token_secret_previous, app.cfg.token_previous_until_s,
                              "consistency", &err)) {
        HL_ERROR("%s", err.message);
        goto done;
    }
    {
        char ring[128];
        HL_INFO("session tokens: %s",
                hl_token_ring_describe(&app.qs.session_key, ring, sizeof ring));
    }
    if (!qs_app_open_store(&app.qs, app.cfg.mongo_uri, (int)app.cfg.workers + 2, 1024, false,
                           "hearlers-stream-listener", &err)) {
        HL_ERROR("%s", err.message);
        rc = err.domain == HL_ERR_CONFIG ? 2 : 1;
        goto done;
    }
    atomic_store(&app.mongo_ready, true);
    /* presence first: its schema registration may wait for a late registry
     * (HL_REGISTRY_WAIT_S), and until it is done the streams' port is not bound, so clients and
     * probes are refused rather than left queued */
    if (!(presence = st_presence_start(&app, &err)) || !st_loop_init(&app, &err) ||
        !(workers = st_workers_start(&app, &err)) || !(feed = st_feed_start(&app, &err))) {
        HL_ERROR("start-up failed: %s", err.message);
        goto done;
    }
    HL_INFO("streams listening on http://%s (feed %s)", app.cfg.listen, app.cfg.feed_topic);
    st_loop_run(&app);
    HL_INFO("shutting down: closing streams");
    rc = 0;
done:
    atomic_store(&app.stopping, true);
    if (feed)
        st_feed_stop(&app);
    st_revoked_clear();
    if (workers)
        st_workers_stop(&app);
    st_loop_destroy(&app);
    if (presence)
        st_presence_stop(&app); /* after the loop closed the connections: their disconnects */
    if (app.qs.pool)
        mongoc_client_pool_destroy(app.qs.pool);
    mongoc_uri_destroy(uri);
    if (app.qs.pool)
        mongoc_cleanup();
    qs_cache_destroy(app.qs.sessions);
    qs_cache_destroy(app.qs.members);
    qs_doc_cache_destroy(app.qs.messages);
    qs_doc_cache_destroy(app.qs.names);
    hl_config_free(options, NOPTS, &app.cfg);
    if (rc == 0)
        HL_INFO("stopped");
    return rc;
}
