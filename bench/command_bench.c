/* command_bench: sustained throughput and p50/p99 latency of two commands of the live command
 * server (register, send-message) at 1, 8 and 32 concurrent clients, each next to pgbench
 * running the SQL those commands issue, so the HTTP + validation + Avro + pipeline overhead
 * shows as a ratio of what PostgreSQL alone sustains.
 *
 * Usage: command_bench [--url=http://127.0.0.1:8180] [--pg=postgresql://...] [--seconds=10]
 *                      [--clients=1,8,32] [--pgbench=/usr/lib/postgresql/15/bin/pgbench]
 *                      [--only=register|send-message]
 * pgbench writes into identically indexed copies (bench_*) of the command tables so its rows
 * never reach the outbox relay, Debezium or the read models. See bench/README.md. */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 64
#define MAX_SAMPLES 400000

typedef struct {
    const char *url;
    const char *pg;
    const char *pgbench;
    int seconds;
    int clients[8];
    int nclients;
    const char *only; /* NULL: both commands; "register" or "send-message" */
} opts_t;

typedef struct {
    char user_id[40];
    char token[512];
    char room_id[40];
    char session_id[40];
} actor_t;

static opts_t opts;
static actor_t actors[MAX_CLIENTS];

typedef struct {
    char *buf;
    size_t len;
} sink_t;

static size_t on_body(char *p, size_t s, size_t n, void *ud)
{
    sink_t *k = ud;
    size_t add = s * n;
    char *nb = realloc(k->buf, k->len + add + 1);
    if (!nb)
        return 0;
    memcpy(nb + k->len, p, add);
    k->buf = nb;
    k->len += add;
    k->buf[k->len] = '\0';
    return add;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* POST/PUT json to path with an optional bearer token; returns the status, body in *out
 * (caller frees). */
static long call(CURL *c, const char *method, const char *path, const char *json, const char *token,
                 char **out)
{
    char url[512], auth[600];
    snprintf(url, sizeof url, "%s%s", opts.url, path);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    sink_t k = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, json ? json : "");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &k);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    if (out)
        *out = k.buf;
    else
        free(k.buf);
    return status;
}

/* Copy the string value of "key" in a flat JSON reply into out. */
static bool json_str(const char *json, const char *key, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\" : \"", key);
    const char *p = json ? strstr(json, pat) : NULL;
    if (!p)
        return false;
    p += strlen(pat);
    const char *e = strchr(p, '"');
    if (!e || (size_t)(e - p) >= cap)
        return false;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
    return true;
}

static bool make_user(CURL *c, const char *tag, int i, actor_t *a)
{
    char body[512], *out = NULL;
    unsigned r = (unsigned)mono_us();
    snprintf(body, sizeof body,
             "{\"email\":\"bench-%s-%d-%u@example.com\",\"password\":\"bench password\","
             "\"display_name\":\"Bench %d\"}",
             tag, i, r, i);
    if (call(c, "POST", "/v1/users", body, NULL, &out) != 201 ||
        !json_str(out, "user_id", a->user_id, sizeof a->user_id)) {
        fprintf(stderr, "register failed: %s\n", out ? out : "(no reply)");
        free(out);
        return false;
    }
    free(out);
    snprintf(body, sizeof body,
             "{\"email\":\"bench-%s-%d-%u@example.com\",\"password\":\"bench password\"}", tag, i,
             r);
    bool ok = call(c, "POST", "/v1/sessions", body, NULL, &out) == 201 &&
              json_str(out, "token", a->token, sizeof a->token) &&
              json_str(out, "session_id", a->session_id, sizeof a->session_id);
    free(out);
    return ok;
}

/* Each client gets its own direct room with a friend (no cross-client contention). */
static bool setup_rooms(int n)
{
    CURL *c = curl_easy_init();
    bool ok = true;
    for (int i = 0; ok && i < n; i++) {
        actor_t peer;
        char body[256], *out = NULL, rid[40];
        ok = make_user(c, "a", i, &actors[i]) && make_user(c, "b", i, &peer);
        snprintf(body, sizeof body, "{\"to_user_id\":\"%s\"}", peer.user_id);
        ok = ok && call(c, "POST", "/v1/friend-requests", body, actors[i].token, &out) == 201 &&
             json_str(out, "request_id", rid, sizeof rid);
        free(out);
        char path[128];
        snprintf(path, sizeof path, "/v1/friend-requests/%s/accept", rid);
        ok = ok && call(c, "POST", path, NULL, peer.token, NULL) == 200;
        snprintf(body, sizeof body, "{\"member_ids\":[\"%s\"]}", peer.user_id);
        out = NULL;
        ok = ok && call(c, "POST", "/v1/chat-rooms", body, actors[i].token, &out) == 201 &&
             json_str(out, "room_id", actors[i].room_id, sizeof actors[i].room_id);
        free(out);
    }
    curl_easy_cleanup(c);
    return ok;
}

typedef struct {
    int idx;
    bool messages; /* false: register */
    int64_t until_us;
    int64_t *lat;
    size_t nlat, cap;
    long errors;
} worker_t;

static void *worker(void *arg)
{
    worker_t *w = arg;
    CURL *c = curl_easy_init();
    char body[512], path[128];
    long n = 0;
    while (mono_us() < w->until_us) {
        int64_t t0 = mono_us();
        long st;
        if (w->messages) {
            snprintf(path, sizeof path, "/v1/chat-rooms/%s/messages", actors[w->idx].room_id);
            snprintf(body, sizeof body,
                     "{\"body\":\"bench message %ld\",\"client_message_id\":"
                     "\"b-%lld-%d-%ld\"}",
                     n, (long long)t0, w->idx, n);
            st = call(c, "POST", path, body, actors[w->idx].token, NULL);
        } else {
            snprintf(body, sizeof body,
                     "{\"email\":\"bench-r-%lld-%d-%ld@example.com\",\"password\":\"bench "
                     "password\",\"display_name\":\"Bench R\"}",
                     (long long)t0, w->idx, n);
            st = call(c, "POST", "/v1/users", body, NULL, NULL);
        }
        int64_t dt = mono_us() - t0;
        if (st != 201)
            w->errors++;
        else if (w->nlat < w->cap)
            w->lat[w->nlat++] = dt;
        n++;
    }
    curl_easy_cleanup(c);
    return NULL;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    double tps, p50_ms, p99_ms;
    long errors;
} result_t;

static result_t run_http(bool messages, int clients)
{
    pthread_t th[MAX_CLIENTS];
    worker_t w[MAX_CLIENTS];
    int64_t start = mono_us(), until = start + (int64_t)opts.seconds * 1000000;
    for (int i = 0; i < clients; i++) {
        w[i] = (worker_t){.idx = i,
                          .messages = messages,
                          .until_us = until,
                          .cap = MAX_SAMPLES / (size_t)clients};
        w[i].lat = malloc(w[i].cap * sizeof(int64_t));
        pthread_create(&th[i], NULL, worker, &w[i]);
    }
    size_t total = 0;
    result_t r = {0};
    for (int i = 0; i < clients; i++) {
        pthread_join(th[i], NULL);
        total += w[i].nlat;
        r.errors += w[i].errors;
    }
    double secs = (double)(mono_us() - start) / 1e6;
    int64_t *all = malloc((total + 1) * sizeof(int64_t));
    size_t k = 0;
    for (int i = 0; i < clients; i++) {
        memcpy(all + k, w[i].lat, w[i].nlat * sizeof(int64_t));
        k += w[i].nlat;
        free(w[i].lat);
    }
    qsort(all, total, sizeof(int64_t), cmp64);
    r.tps = (double)total / secs;
    r.p50_ms = total ? (double)all[total / 2] / 1000.0 : 0;
    r.p99_ms = total ? (double)all[(size_t)((double)total * 0.99)] / 1000.0 : 0;
    free(all);
    return r;
}

/* ---- pgbench side ---- */

static bool pg_exec(PGconn *pg, const char *sql)
{
    PGresult *r = PQexec(pg, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "bench setup SQL failed: %s\n", PQresultErrorMessage(r));
    PQclear(r);
    return ok;
}

/* Identically indexed copies of the tables the two commands write, plus each client's room. */
static bool pg_setup(int n)
{
    PGconn *pg = PQconnectdb(opts.pg);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect to %s: %s\n", opts.pg, PQerrorMessage(pg));
        PQfinish(pg);
        return false;
    }
    bool ok =
        pg_exec(pg, "DROP TABLE IF EXISTS bench_outbox, bench_events, bench_messages,"
                    " bench_chat_rooms, bench_user_credentials, bench_users, bench_actors;"
                    "CREATE TABLE bench_users (LIKE users INCLUDING ALL);"
                    "CREATE TABLE bench_user_credentials (LIKE user_credentials INCLUDING ALL);"
                    "CREATE TABLE bench_chat_rooms (LIKE chat_rooms INCLUDING ALL);"
                    "CREATE TABLE bench_messages (LIKE messages INCLUDING ALL);"
                    "CREATE TABLE bench_events (LIKE events INCLUDING ALL);"
                    "CREATE TABLE bench_outbox (LIKE outbox INCLUDING ALL);"
                    "CREATE TABLE bench_actors (client int PRIMARY KEY, user_id uuid,"
                    " session_id uuid, room_id uuid)");
    for (int i = 0; ok && i < n; i++) {
        char c[16];
        snprintf(c, sizeof c, "%d", i);
        const char *p[4] = {c, actors[i].user_id, actors[i].session_id, actors[i].room_id};
        PGresult *r = PQexecParams(pg, "INSERT INTO bench_actors VALUES ($1, $2, $3, $4)", 4, NULL,
                                   p, NULL, NULL, 0);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
    }
    ok = ok && pg_exec(pg, "INSERT INTO bench_chat_rooms SELECT r.* FROM chat_rooms r JOIN"
                           " bench_actors a USING (room_id)");
    PQfinish(pg);
    return ok;
}

/* The statements cs_cmd_run + message_exec issue for one send-message, in the same two
 * round trips (libpq pipelines): {BEGIN, session check, room lock, checks} and {room update +
 * message insert, event + outbox insert, COMMIT}. Bench copies for the written tables; the
 * read-only ones are the real tables. pgbench 15 cannot \gset inside a pipeline, so each
 * client reads its actor and its room's last_seq/version once (first transaction, :init) and
 * counts seq/version itself (it alone writes its bench room). Differences from the server's
 * text: ids come from gen_random_uuid() and constants are literals where the server binds
 * parameters, the payload is 160 fixed bytes, NOTIFY goes to hl_bench (no relay wake-up). */
static const char *MESSAGE_SQL =
    "\\set c :client_id % 32\n"
    "\\if :init\n"
    "SELECT user_id AS uid, session_id AS sid, room_id AS room FROM bench_actors WHERE client ="
    " :c \\gset\n"
    "SELECT last_seq AS seq, version AS ver FROM bench_chat_rooms WHERE room_id = :room \\gset\n"
    "\\set init 0\n"
    "\\endif\n"
    "\\set seq :seq + 1\n"
    "\\set ver :ver + 1\n"
    "\\startpipeline\n"
    "BEGIN;\n"
    "SELECT hl_require_session(:sid, :uid);\n"
    "SELECT kind, last_seq, version FROM bench_chat_rooms WHERE room_id = :room FOR UPDATE;\n"
    "SELECT EXISTS (SELECT 1 FROM room_members WHERE room_id = :room AND user_id = :uid),"
    " EXISTS (SELECT 1 FROM room_members m JOIN blocks b ON b.blocker_id = m.user_id"
    " AND b.blocked_id = :uid AND b.removed_at IS NULL WHERE m.room_id = :room),"
    " EXISTS (SELECT 1 FROM room_members m JOIN blocks b ON b.blocked_id = m.user_id"
    " AND b.blocker_id = :uid AND b.removed_at IS NULL WHERE m.room_id = :room),"
    " (SELECT message_id || ' ' || seq || ' ' || room_version FROM bench_messages"
    " WHERE room_id = :room AND sender_id = :uid AND client_message_id = :seq),"
    " array_to_string(ARRAY(SELECT user_id FROM room_members WHERE room_id = :room"
    " AND user_id <> :uid ORDER BY user_id), ',');\n"
    "\\endpipeline\n"
    "\\startpipeline\n"
    "WITH room AS (UPDATE bench_chat_rooms SET last_seq = :seq::bigint, version = :ver::bigint,"
    " updated_at = ('epoch'::timestamptz + :now::bigint * interval '1 microsecond') WHERE"
    " room_id = :room) INSERT INTO bench_messages (room_id, seq, message_id, sender_id, body,"
    " client_message_id, room_version, created_at) VALUES (:room, :seq, gen_random_uuid(), :uid,"
    " 'bench message', :seq, :ver, ('epoch'::timestamptz + :now::bigint * interval"
    " '1 microsecond'));\n"
    "WITH e AS (INSERT INTO bench_events (event_id, aggregate_type, aggregate_id,"
    " aggregate_version, event_type, topic, schema_id, payload, occurred_at, causation_id,"
    " correlation_id, traceparent) VALUES (gen_random_uuid(), 'ChatRoom', :room, :ver,"
    " 'MessageSent', 'message.events', 4, decode(repeat('ab', 160), 'hex'), 'epoch'::timestamptz"
    " + :now::bigint * interval '1 microsecond', NULL, NULL,"
    " '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01') RETURNING position), o AS"
    " (INSERT INTO bench_outbox (position) SELECT position FROM e) SELECT position,"
    " pg_notify('hl_bench', '') FROM e;\n"
    "COMMIT;\n"
    "\\endpipeline\n";

/* register_exec's statements in its two round trips: {BEGIN, users insert, credentials
 * insert} and {event + outbox insert, COMMIT}. The user id comes from one extra statement
 * before the transaction (pgbench has no UUID generator and no \gset inside a pipeline). */
static const char *REGISTER_SQL =
    "SELECT gen_random_uuid() AS uid \\gset\n"
    "\\startpipeline\n"
    "BEGIN;\n"
    "INSERT INTO bench_users (user_id, display_name, version, created_at, updated_at) VALUES"
    " (:uid, 'Bench R', 1, ('epoch'::timestamptz + :now::bigint * interval '1 microsecond'),"
    " ('epoch'::timestamptz + :now::bigint * interval '1 microsecond'));\n"
    "INSERT INTO bench_user_credentials (user_id, email, password_hash) VALUES (:uid, :uid ||"
    " '@example.com', '$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$"
    "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g');\n"
    "\\endpipeline\n"
    "\\startpipeline\n"
    "WITH e AS (INSERT INTO bench_events (event_id, aggregate_type, aggregate_id,"
    " aggregate_version, event_type, topic, schema_id, payload, occurred_at, causation_id,"
    " correlation_id, traceparent) VALUES (gen_random_uuid(), 'User', :uid, 1,"
    " 'UserRegistered', 'user.events', 1, decode(repeat('ab', 100), 'hex'), 'epoch'::timestamptz"
    " + :now::bigint * interval '1 microsecond', NULL, NULL,"
    " '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01') RETURNING position), o AS"
    " (INSERT INTO bench_outbox (position) SELECT position FROM e) SELECT position,"
    " pg_notify('hl_bench', '') FROM e;\n"
    "COMMIT;\n"
    "\\endpipeline\n";

static double run_pgbench(const char *script, int clients, double *lat_ms)
{
    char file[] = "/tmp/hl-pgbench-XXXXXX";
    int fd = mkstemp(file);
    if (fd < 0)
        return 0;
    FILE *f = fdopen(fd, "w");
    fputs(script, f);
    fclose(f);
    char cmd[2048];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(cmd, sizeof cmd,
             "%s -n -M prepared -D init=1 -D now=%lld -c %d -j %d -T %d -f %s '%s' 2>&1",
             opts.pgbench, (long long)now.tv_sec * 1000000, clients, clients < 2 ? 1 : 2,
             opts.seconds, file, opts.pg);
    FILE *p = popen(cmd, "r");
    double tps = 0;
    *lat_ms = 0;
    char line[512];
    while (p && fgets(line, sizeof line, p)) {
        const char *t = strstr(line, "tps = ");
        if (t)
            tps = strtod(t + 6, NULL);
        const char *l = strstr(line, "latency average = ");
        if (l)
            *lat_ms = strtod(l + 18, NULL);
        if (strstr(line, "ERROR") || strstr(line, "error"))
            fprintf(stderr, "pgbench: %s", line);
    }
    if (p)
        pclose(p);
    unlink(file);
    return tps;
}

static void parse_opts(int argc, char **argv)
{
    opts.url = "http://127.0.0.1:8180";
    opts.pg = "postgresql://hearlers@127.0.0.1:35432/hearlers";
    opts.pgbench = "/usr/lib/postgresql/15/bin/pgbench";
    opts.seconds = 10;
    const char *clients = "1,8,32";
    for (int i = 1; i < argc; i++) {
        if (!strncmp(argv[i], "--url=", 6))
            opts.url = argv[i] + 6;
        else if (!strncmp(argv[i], "--pg=", 5))
            opts.pg = argv[i] + 5;
        else if (!strncmp(argv[i], "--pgbench=", 10))
            opts.pgbench = argv[i] + 10;
        else if (!strncmp(argv[i], "--seconds=", 10))
            opts.seconds = (int)strtol(argv[i] + 10, NULL, 10);
        else if (!strncmp(argv[i], "--clients=", 10))
            clients = argv[i] + 10;
        else if (!strcmp(argv[i], "--only=register") || !strcmp(argv[i], "--only=send-message"))
            opts.only = argv[i] + 7;
        else {
            fprintf(stderr,
                    "usage: %s [--url=] [--pg=] [--pgbench=] [--seconds=] [--clients=]"
                    " [--only=register|send-message]\n",
                    argv[0]);
            exit(2);
        }
    }
    for (const char *s = clients; *s && opts.nclients < 8;) {
        char *end = NULL;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 32) {
            fprintf(stderr, "--clients: 1..32 each\n");
            exit(2);
        }
        opts.clients[opts.nclients++] = (int)v;
        s = *end == ',' ? end + 1 : end;
    }
    if (opts.seconds < 1)
        opts.seconds = 1;
}

int main(int argc, char **argv)
{
    parse_opts(argc, argv);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int maxc = 0;
    for (int i = 0; i < opts.nclients; i++)
        maxc = opts.clients[i] > maxc ? opts.clients[i] : maxc;
    fprintf(stderr, "setting up %d rooms (register, log in, befriend, create room)...\n", maxc);
    if (!setup_rooms(maxc) || !pg_setup(maxc)) {
        fprintf(stderr, "setup failed\n");
        return 1;
    }
    printf("%-13s %7s %10s %8s %8s %7s %11s %9s %7s\n", "command", "clients", "cmd/s", "p50 ms",
           "p99 ms", "errors", "pgbench/s", "pg avg ms", "ratio");
    for (int m = 0; m < 2; m++) {
        bool messages = m == 1;
        if (opts.only && strcmp(opts.only, messages ? "send-message" : "register"))
            continue;
        for (int i = 0; i < opts.nclients; i++) {
            int n = opts.clients[i];
            result_t r = run_http(messages, n);
            double lat = 0;
            double pg = run_pgbench(messages ? MESSAGE_SQL : REGISTER_SQL, n, &lat);
            printf("%-13s %7d %10.1f %8.2f %8.2f %7ld %11.1f %9.2f %7.2f\n",
                   messages ? "send-message" : "register", n, r.tps, r.p50_ms, r.p99_ms, r.errors,
                   pg, lat, pg > 0 ? r.tps / pg : 0.0);
            fflush(stdout);
        }
    }
    curl_global_cleanup();
    return 0;
}
