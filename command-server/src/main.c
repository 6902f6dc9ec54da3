/* command-server: the only writer. Takes REST commands (SPEC §2), stores aggregates and domain
 * events in PostgreSQL in one transaction, and relays the events to Kafka from the outbox. */
#include "app.h"
#include "booking.h"
#include "chat.h"
#include "counselling.h"
#include "health.h"
#include "identity.h"
#include "media.h"
#include "notification.h"
#include "social.h"

#include "hl/config.h"
#include "hl/mem.h"
#include "hl/server.h"
#include "hl/log.h"
#include "hl/schema_registry.h"
#include "hl/signals.h"
#include "hl/util.h"

#include <dirent.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CS_DEFAULT_SQL_DIR
#define CS_DEFAULT_SQL_DIR "command-server/sql"
#endif

#define HL_CONFIG_TYPE cs_config_t
static const hl_config_option_t options[] = {
    HL_CONFIG_STRING(http_listen, "http-listen", "HL_COMMAND_LISTEN", "127.0.0.1:8080",
                     "address:port to serve the command API on"),
    HL_CONFIG_INT(http_threads, "http-threads", "HL_COMMAND_THREADS", 32, 1, 512,
                  "HTTP worker threads"),
    HL_CONFIG_STRING(pg_url, "pg-url", "HL_PG_URL",
                     "postgresql://hearlers@127.0.0.1:25432/hearlers",
                     "PostgreSQL connection URI (password via PGPASSWORD)"),
    HL_CONFIG_INT(
        pg_pool_size, "pg-pool-size", "HL_PG_POOL_SIZE", 32, 1, 500,
        "PostgreSQL connections for commands (as many as http-threads: none waits for one)"),
    HL_CONFIG_BOOL(
        pg_prepare, "pg-prepare", "HL_PG_PREPARE", true,
        "prepare each command statement once per connection (false behind a transaction pooler)"),
    HL_CONFIG_INT(pg_acquire_timeout_ms, "pg-acquire-timeout-ms", "HL_PG_ACQUIRE_TIMEOUT_MS", 5000,
                  1, 60000, "max wait for a pooled connection, ms"),
    HL_CONFIG_INT(session_ttl_s, "session-ttl-s", "HL_SESSION_TTL_S", 86400, 60, 31536000,
                  "lifetime of a log-in session (bearer token), s"),
    HL_CONFIG_INT(login_max_failures, "login-max-failures", "HL_LOGIN_MAX_FAILURES", 5, 1, 1000,
                  "failed log-ins for one e-mail address within --login-window-s that lock it out"),
    HL_CONFIG_INT(login_window_s, "login-window-s", "HL_LOGIN_WINDOW_S", 900, 1, 86400,
                  "window in which failed log-ins are counted, s"),
    HL_CONFIG_INT(login_lockout_s, "login-lockout-s", "HL_LOGIN_LOCKOUT_S", 60, 1, 86400,
                  "first lock-out (429 with Retry-After), doubling with each next one, s"),
    HL_CONFIG_INT(login_lockout_max_s, "login-lockout-max-s", "HL_LOGIN_LOCKOUT_MAX_S", 3600, 1,
                  604800, "longest lock-out, s"),
    HL_CONFIG_STRING(kafka_brokers, "kafka-brokers", "HL_KAFKA_BROKERS", "127.0.0.1:29092",
                     "Kafka bootstrap servers"),
    HL_CONFIG_STRING(kafka_overrides, "kafka-overrides", "HL_KAFKA_PRODUCER_OVERRIDES", "",
                     "extra librdkafka producer properties k=v,k=v"),
    HL_CONFIG_STRING_V(schema_registry_url, "schema-registry-url", "HL_SCHEMA_REGISTRY_URL",
                       "http://127.0.0.1:28081/apis/ccompat/v7", hl_config_valid_http_url,
                       "Confluent-compatible schema registry base URL"),
    HL_CONFIG_INT(registry_wait_s, "registry-wait-s", "HL_REGISTRY_WAIT_S", 60, 0, 3600,
                  "how long to retry schema registration at start, s"),
    HL_CONFIG_STRING(schemas_dir, "schemas-dir", "HL_SCHEMAS_DIR", HL_DEFAULT_SCHEMAS_DIR,
                     "directory holding topics.json and the .avsc files"),
    HL_CONFIG_STRING(sql_dir, "sql-dir", "HL_SQL_DIR", CS_DEFAULT_SQL_DIR,
                     "directory of NNN_*.sql migrations applied at start"),
    HL_CONFIG_TOKEN_OPTIONS("secret shared with query-server for signing tokens"),
    HL_CONFIG_INT(argon2_ops, "argon2-ops", "HL_ARGON2_OPS", 2, 1, 10, "argon2id passes"),
    HL_CONFIG_INT(argon2_mem_kib, "argon2-mem-kib", "HL_ARGON2_MEM_KIB", 19456, 8192, 1048576,
                  "argon2id memory per hash, KiB"),
    HL_CONFIG_INT(outbox_batch, "outbox-batch", "HL_OUTBOX_BATCH", 500, 1, 10000,
                  "events per relay round trip"),
    HL_CONFIG_INT(outbox_poll_ms, "outbox-poll-ms", "HL_OUTBOX_POLL_MS", 1000, 10, 60000,
                  "relay wake-up interval without NOTIFY, ms"),
    HL_CONFIG_INT(idempotency_ttl_s, "idempotency-ttl-s", "HL_IDEMPOTENCY_TTL_S", 86400, 0,
                  31536000,
                  "how long an Idempotency-Key's stored response is replayed, s (0 = forever)"),
    HL_CONFIG_LOG_OPTIONS,
    HL_CONFIG_STRING_V(payment_url, "payment-url", "HL_PAYMENT_URL", "http://127.0.0.1:8085",
                       hl_config_valid_http_url,
                       "payment provider base URL (Stripe PaymentIntents API subset)"),
    HL_CONFIG_SECRET(payment_secret, "payment-secret", "HL_PAYMENT_SECRET", "sk_test_hearlers",
                     "payment provider secret key"),
    HL_CONFIG_INT(payment_timeout_ms, "payment-timeout-ms", "HL_PAYMENT_TIMEOUT_MS", 3000, 50,
                  120000, "time-out of one payment provider call, ms"),
    HL_CONFIG_INT(saga_workers, "saga-workers", "HL_SAGA_WORKERS", 8, 1, 128,
                  "booking saga worker threads (each with its own PostgreSQL connection)"),
    HL_CONFIG_INT(saga_poll_ms, "saga-poll-ms", "HL_SAGA_POLL_MS", 200, 10, 60000,
                  "how often idle saga workers look for due sagas, ms"),
    HL_CONFIG_INT(saga_deadline_ms, "saga-deadline-ms", "HL_SAGA_DEADLINE_MS", 30000, 100, 86400000,
                  "how long a booking keeps retrying the provider before it is compensated, ms"),
    HL_CONFIG_STRING(
        saga_crash_at, "saga-crash-at", "HL_SAGA_CRASH_AT", "",
        "TEST HOOK: SIGKILL the process at this saga point (after-hold, after-confirm-call, ...)"),
    HL_CONFIG_STRING_V(s3_endpoint, "s3-endpoint", "HL_S3_ENDPOINT", "http://127.0.0.1:29000",
                       hl_config_valid_http_url,
                       "S3-compatible object store base URL (path-style requests) for avatars"),
    HL_CONFIG_STRING(s3_bucket, "s3-bucket", "HL_S3_BUCKET", "hearlers-media",
                     "object store bucket (must exist; the gateway serves it under /media/)"),
    HL_CONFIG_STRING(s3_region, "s3-region", "HL_S3_REGION", "us-east-1", "SigV4 signing region"),
    HL_CONFIG_STRING(s3_access_key, "s3-access-key", "HL_S3_ACCESS_KEY", "hearlers",
                     "object store access key id"),
    HL_CONFIG_SECRET(s3_secret_key, "s3-secret-key", "HL_S3_SECRET_KEY", "hearlers-dev-s3-secret",
                     "object store secret access key"),
    HL_CONFIG_INT(s3_timeout_ms, "s3-timeout-ms", "HL_S3_TIMEOUT_MS", 10000, 100, 120000,
                  "time-out of one object store request, ms"),
    HL_CONFIG_INT(media_max_bytes, "media-max-bytes", "HL_MEDIA_MAX_BYTES", 5242880, 1024, 67108864,
                  "largest avatar upload body, bytes (the gateway allows 5 MiB)"),
    HL_CONFIG_INT(media_max_pixels, "media-max-pixels", "HL_MEDIA_MAX_PIXELS", 40000000, 1,
                  1000000000,
                  "largest width x height accepted, read from the header before decoding"),
    HL_CONFIG_INT(media_decoders, "media-decoders", "HL_MEDIA_DECODERS", 2, 1, 64,
                  "image-worker threads (8 MiB stacks): uploads decoded at once; up to 4 per "
                  "thread wait, beyond that 503"),
    HL_CONFIG_INT(media_decode_timeout_ms, "media-decode-timeout-ms", "HL_MEDIA_DECODE_TIMEOUT_MS",
                  20000, 100, 600000,
                  "longest wait of an upload for its decode (queue included), ms; then 503 with "
                  "Retry-After"),
    HL_CONFIG_INT(media_sweep_s, "media-sweep-s", "HL_MEDIA_SWEEP_S", 60, 1, 86400,
                  "how often the orphan sweep runs, s"),
    HL_CONFIG_INT(
        media_orphan_grace_s, "media-orphan-grace-s", "HL_MEDIA_ORPHAN_GRACE_S", 600, 0, 604800,
        "age after which an unreferenced object is deleted, s (above the longest upload)"),
    HL_CONFIG_STRING(media_crash_at, "media-crash-at", "HL_MEDIA_CRASH_AT", "",
                     "TEST HOOK: SIGKILL the process at this avatar upload point (after-store)"),
};
#define NOPTS (sizeof options / sizeof options[0])

HL_CONFIG_TOKEN_CHECK(check_tokens)
static const hl_config_check_fn checks[] = {check_tokens, NULL};

static const hl_http_route_t routes[] = {
    {"POST", "/v1/users", cs_handle_register},
    {"PATCH", "/v1/users/me", cs_handle_update_profile},
    {"PUT", "/v1/users/me/presence", cs_handle_set_presence},
    {"PUT", "/v1/users/me/avatar", cs_handle_put_avatar},
    {"DELETE", "/v1/users/me/avatar", cs_handle_delete_avatar},
    {"POST", "/v1/sessions", cs_handle_login},
    {"DELETE", "/v1/sessions/current", cs_handle_logout},
    {"POST", "/v1/friend-requests", cs_handle_friend_request},
    {"POST", "/v1/friend-requests/{id}/accept", cs_handle_accept_request},
    {"POST", "/v1/friend-requests/{id}/reject", cs_handle_reject_request},
    {"DELETE", "/v1/friends/{user_id}", cs_handle_delete_friend},
    {"POST", "/v1/blocks", cs_handle_block},
    {"DELETE", "/v1/blocks/{user_id}", cs_handle_unblock},
    {"POST", "/v1/chat-rooms", cs_handle_create_room},
    {"POST", "/v1/chat-rooms/{room_id}/messages", cs_handle_send_message},
    {"POST", "/v1/chat-rooms/{room_id}/read", cs_handle_mark_read},
    {"POST", "/v1/notifications/read", cs_handle_notifications_read},
    {"POST", "/v1/counsellors", cs_handle_register_counsellor},
    {"PATCH", "/v1/counsellors/me", cs_handle_update_counsellor},
    {"POST", "/v1/counsellors/me/slots", cs_handle_publish_slots},
    {"DELETE", "/v1/counsellors/me/slots/{slot_id}", cs_handle_withdraw_slot},
    {"POST", "/v1/counsellors/{id}/verify", cs_handle_verify_counsellor},
    {"POST", "/v1/bookings", cs_handle_book},
    {"POST", "/v1/bookings/{id}/cancel", cs_handle_cancel_booking},
    {"POST", "/v1/bookings/{id}/complete", cs_handle_complete_booking},
    {"POST", "/v1/bookings/{id}/review", cs_handle_review_booking},
    {"GET", "/healthz", hl_server_handle_healthz},
    {"GET", "/readyz", cs_handle_readyz},
    {"GET", "/metrics", hl_server_handle_metrics},
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Apply every *.sql file of sql_dir in name order, each in one transaction, under an advisory
 * lock so concurrent starts do not race. The files are idempotent (IF NOT EXISTS). */
static bool apply_migrations(cs_app_t *app, hl_error_t *err)
{
    DIR *d = opendir(app->cfg.sql_dir);
    if (!d)
        return hl_error_set(err, HL_ERR_CONFIG, 0, "cannot open sql dir %s", app->cfg.sql_dir);
    char *names[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        size_t l = strlen(e->d_name);
        if (l > 4 && !strcmp(e->d_name + l - 4, ".sql"))
            names[n++] = hl_xstrdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof names[0], cmp_str);
    PGconn *conn = hl_pg_pool_acquire(app->pool, 30000, err);
    bool ok = conn != NULL;
    if (ok)
        ok = hl_pg_exec(conn, "SELECT pg_advisory_lock(7256001)", err);
    for (size_t i = 0; ok && i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", app->cfg.sql_dir, names[i]);
        FILE *f = fopen(path, "rb");
        if (!f) {
            ok = hl_error_set(err, HL_ERR_CONFIG, 0, "cannot read %s", path);
            break;
        }
        char *sql = hl_xcalloc(1, 1 << 20);
        size_t len = sql ? fread(sql, 1, (1 << 20) - 1, f) : 0;
        fclose(f);
        ok = sql && len > 0 && hl_pg_exec(conn, "BEGIN", err) && hl_pg_exec(conn, sql, err) &&
             hl_pg_exec(conn, "COMMIT", err);
        if (ok)
            HL_INFO("applied migration %s", names[i]);
        else {
            char cause[HL_ERROR_MESSAGE_MAX]; /* hl_error_set must not read the buffer it fills */
            snprintf(cause, sizeof cause, "%s", err->message);
            hl_error_set(err, HL_ERR_PG, 0, "migration %s failed: %s", names[i], cause);
        }
        free(sql);
    }
    if (conn) {
        hl_error_t ignored;
        hl_pg_exec(conn, "SELECT pg_advisory_unlock(7256001)", &ignored);
        hl_pg_pool_release(app->pool, conn);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    return ok;
}

/* Register every topic's union schema under <topic>-value with BACKWARD compatibility,
 * retrying until registry_wait_s runs out. */
static bool register_schemas(cs_app_t *app, hl_error_t *err)
{
    hl_schema_registry_t *reg = hl_schema_registry_new(app->cfg.schema_registry_url, 5000, err);
    if (!reg)
        return false;
    int64_t deadline = hl_mono_ms() + app->cfg.registry_wait_s * 1000;
    bool ok = true;
    for (size_t i = 0; ok && i < hl_event_catalog_topic_count(app->catalog); i++) {
        hl_topic_schema_t *t = hl_event_catalog_topic_at(app->catalog, i);
        ok = hl_schema_registry_publish(reg, t->subject, t->schema_json, "BACKWARD", deadline,
                                        &t->schema_id, err);
        if (ok)
            HL_INFO("schema %s registered with id %d", t->subject, t->schema_id);
    }
    hl_schema_registry_destroy(reg);
    return ok;
}

static void quiet_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* `command-server grant-role|revoke-role <email> <role> [flags]`: grant or revoke a role
 * (SPEC §9: operator is granted from the command line only, never over HTTP). Applies the
 * migrations first so it works on a fresh database. Exit 0 done, 1 unknown e-mail or database
 * error, 2 usage. */
static int role_command(int argc, char **argv)
{
    bool grant = !strcmp(argv[1], "grant-role");
    if (argc < 4 || strcmp(argv[3], "operator") != 0) {
        fprintf(stderr, "usage: command-server %s <email> operator [--pg-url=...]\n", argv[1]);
        return 2;
    }
    const char *email = argv[2];
    char *args[64];
    int n = 0;
    args[n++] = argv[0];
    for (int i = 4; i < argc && n < 63; i++)
        args[n++] = argv[i];
    args[n] = NULL;
    /* a command-line tool: its answer on stdout, only warnings and errors on stderr (not the
     * server's config dump and migration log) unless a level is asked for (--log-level,
     * HL_LOG_LEVEL); PostgreSQL's NOTICEs of the idempotent migrations are dropped below */
    bool level_given = getenv("HL_LOG_LEVEL") && *getenv("HL_LOG_LEVEL");
    for (int i = 4; i < argc; i++)
        level_given = level_given || !strncmp(argv[i], "--log-level", 11);
    if (!level_given)
        setenv("HL_LOG_LEVEL", "warn", 1);
    cs_app_t app;
    memset(&app, 0, sizeof app);
    hl_error_t err = {0};
    int rc = hl_server_configure("command-server", options, NOPTS, checks, &app.cfg,
                                 offsetof(cs_config_t, log_level), offsetof(cs_config_t, log_json),
                                 n, args);
    if (rc >= 0) {
        hl_config_free(options, NOPTS, &app.cfg);
        return rc;
    }
    rc = 1;
    PGconn *conn = NULL;
    if ((app.pool = hl_pg_pool_new(app.cfg.pg_url, 1, &err)) &&
        (conn = hl_pg_pool_acquire(app.pool, 30000, &err))) {
        PQsetNoticeProcessor(conn, quiet_notice, NULL);
        hl_pg_pool_release(app.pool, conn);
        conn = NULL;
    }
    if (!app.pool || err.domain != HL_ERR_NONE || !apply_migrations(&app, &err) ||
        !(conn = hl_pg_pool_acquire(app.pool, 30000, &err))) {
        fprintf(stderr, "command-server %s: %s\n", argv[1], err.message);
    } else {
        const char *p[2] = {email, argv[3]};
        PGresult *r = PQexecParams(
            conn,
            grant ? "INSERT INTO user_roles (user_id, role, granted_at) SELECT user_id, $2, now()"
                    " FROM user_credentials WHERE lower(email) = lower($1)"
                    " ON CONFLICT DO NOTHING RETURNING user_id"
                  : "DELETE FROM user_roles WHERE role = $2 AND user_id = (SELECT user_id FROM"
                    " user_credentials WHERE lower(email) = lower($1)) RETURNING user_id",
            2, NULL, p, NULL, NULL, 0);
        PGresult *known = PQexecParams(
            conn, "SELECT user_id FROM user_credentials WHERE lower(email) = lower($1)", 1, NULL, p,
            NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQresultStatus(known) != PGRES_TUPLES_OK) {
            fprintf(stderr, "command-server %s: %s", argv[1], PQerrorMessage(conn));
        } else if (PQntuples(known) == 0) {
            fprintf(stderr, "command-server %s: no user with e-mail %s\n", argv[1], email);
        } else {
            printf("%s %s %s %s (user %s)%s\n", grant ? "granted" : "revoked", argv[3],
                   grant ? "to" : "from", email, PQgetvalue(known, 0, 0),
                   PQntuples(r) == 0 ? ": nothing changed" : "");
            rc = 0;
        }
        PQclear(r);
        PQclear(known);
        hl_pg_pool_release(app.pool, conn);
    }
    hl_pg_pool_destroy(app.pool);
    hl_config_free(options, NOPTS, &app.cfg);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "grant-role") || !strcmp(argv[1], "revoke-role")))
        return role_command(argc, argv);
    cs_app_t app;
    memset(&app, 0, sizeof app);
    hl_error_t err = {0};
    int rc = 1;
    hl_http_server_t *http = NULL;

    int code = hl_server_configure("command-server", options, NOPTS, checks, &app.cfg,
                                   offsetof(cs_config_t, log_level),
                                   offsetof(cs_config_t, log_json), argc, argv);
    if (code >= 0) {
        rc = code;
        goto done;
    }
    if (sodium_init() < 0) {
        HL_ERROR("libsodium failed to initialise");
        goto done;
    }
    {
        char pw[33];
        hl_random_hex(pw, 16);
        if (crypto_pwhash_str_alg(
                app.dummy_hash, pw, strlen(pw), (unsigned long long)app.cfg.argon2_ops,
                (size_t)app.cfg.argon2_mem_kib * 1024, crypto_pwhash_ALG_ARGON2ID13) != 0) {
            HL_ERROR("argon2id hashing failed at start");
            goto done;
        }
    }
    if (!strcmp(app.cfg.token_secret, "hearlers-dev-secret-change-me"))
        HL_WARN("using the built-in development token secret: set HL_TOKEN_SECRET in production");
    if (!hl_token_ring_derive(&app.consistency_key, app.cfg.token_secret,
                              app.cfg.token_secret_previous, app.cfg.token_previous_until_s,
                              "consistency", &err) ||
        !hl_token_ring_derive(&app.session_key, app.cfg.token_secret, app.cfg.token_secret_previous,
                              app.cfg.token_previous_until_s, "session", &err) ||
        !hl_token_ring_derive(&app.idempotency_key, app.cfg.token_secret,
                              app.cfg.token_secret_previous, app.cfg.token_previous_until_s,
                              "idempotency", &err) ||
        !(app.catalog = hl_event_catalog_load(app.cfg.schemas_dir, &err)) ||
        !(app.pool = hl_pg_pool_new(app.cfg.pg_url, (int)app.cfg.pg_pool_size, &err)) ||
        !apply_migrations(&app, &err) || !register_schemas(&app, &err)) {
        HL_ERROR("start-up failed: %s", err.message);
        goto done;
    }
    {
        char ring[128];
        HL_INFO("session tokens: %s", hl_token_ring_describe(&app.session_key, ring, sizeof ring));
    }
    cs_relay_config_t rcfg = {.pg_conninfo = app.cfg.pg_url,
                              .kafka_brokers = app.cfg.kafka_brokers,
                              .kafka_overrides = app.cfg.kafka_overrides,
                              .batch_size = (int)app.cfg.outbox_batch,
                              .poll_interval_ms = (long)app.cfg.outbox_poll_ms,
                              .idempotency_ttl_s = app.cfg.idempotency_ttl_s};
    if (!(app.relay = cs_relay_start(&rcfg, &err))) {
        HL_ERROR("outbox relay failed to start: %s", err.message);
        goto done;
    }
    cs_saga_config_t scfg = {.pg_conninfo = app.cfg.pg_url,
                             .payment_url = app.cfg.payment_url,
                             .payment_secret = app.cfg.payment_secret,
                             .payment_timeout_ms = (long)app.cfg.payment_timeout_ms,
                             .workers = (int)app.cfg.saga_workers,
                             .poll_ms = (long)app.cfg.saga_poll_ms,
                             .crash_at = app.cfg.saga_crash_at,
                             .catalog = app.catalog};
    if (!(app.saga = cs_saga_start(&scfg, &err))) {
        HL_ERROR("booking saga failed to start: %s", err.message);
        goto done;
    }
    hl_s3_config_t s3 = {.endpoint = app.cfg.s3_endpoint,
                         .bucket = app.cfg.s3_bucket,
                         .region = app.cfg.s3_region,
                         .access_key = app.cfg.s3_access_key,
                         .secret_key = app.cfg.s3_secret_key,
                         .timeout_ms = (long)app.cfg.s3_timeout_ms};
    if (!cs_media_start(&app.media, argv[0], (int)app.cfg.media_decoders, &s3, &err)) {
        HL_ERROR("media (libvips, object store) failed to start: %s", err.message);
        goto done;
    }
    http = hl_http_server_start(app.cfg.http_listen, (int)app.cfg.http_threads, routes,
                                sizeof routes / sizeof routes[0], 0, &app, &err);
    if (!http) {
        HL_ERROR("%s", err.message);
        goto done;
    }
    HL_INFO("command API listening on http://%s", app.cfg.http_listen);
    while (!hl_sleep_or_shutdown(1000))
        cs_media_sweep(&app, app.cfg.media_sweep_s, app.cfg.media_orphan_grace_s);
    HL_INFO("shutting down: draining HTTP, flushing the outbox relay");
    rc = 0;
done:
    hl_http_server_stop(http);
    cs_saga_stop(app.saga);
    cs_media_stop(&app.media);
    cs_relay_stop(app.relay);
    hl_pg_pool_destroy(app.pool);
    hl_event_catalog_destroy(app.catalog);
    hl_config_free(options, NOPTS, &app.cfg);
    if (rc == 0 && code < 0) /* not after --help */
        HL_INFO("stopped");
    return rc;
}
