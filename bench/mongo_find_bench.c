/* mongo_find_bench: the query server's peer in the benchmark report (bench/report.sh). A plain
 * mongo-c-driver loop issuing the same MongoDB finds as one request of GET /v1/users/{id},
 * GET /v1/chat-rooms or GET /v1/chat-rooms/{id}/messages (query-server/src/handlers.c, rooms.c,
 * store.c), from N threads on one client pool for a fixed duration, with no HTTP, no JSON and no
 * authentication in between. Prints one table row: req/s and latency percentiles.
 *
 * Usage: mongo_find_bench --route=profile|chat-rooms|messages [--mode=steady|cold]
 *          [--mongo-uri=mongodb://127.0.0.1:27027/] [--db=hearlers_read] [--user=UUID]
 *          [--room=UUID] [--threads=32] [--seconds=15] [--requests=N] [--header]
 *   --requests=N  run exactly N "requests" per thread instead of --seconds (for callgrind).
 *   --header      print the column header line first.
 *
 * Finds per "request" (logical collection names resolved through read_model_aliases once at
 * start, as the query server does every alias_ttl_ms):
 *   profile     user_profiles {_id: user} limit 1; user_counters {_id: user} limit 1
 *               (the same in both modes: the route has no cache).
 *   chat-rooms  steady: inbox {_id: {$gte: "<user>:", $lt: "<user>;"}, user_id: user}
 *               sort {last_activity_at: -1, _id: -1} limit 21
 *               (the server keeps sessions and display names for <= 1 s, so under load this is
 *               the one find it issues); cold: that, plus sessions-free display names: one
 *               user_profiles {_id} find (projection {display_name: 1}, limit 1) per distinct
 *               member of the page, as the server does on a name-cache miss.
 *   messages    steady: chat_rooms {_id: room} limit 1 (last_seq; membership and rendered
 *               messages are kept by the server once seen); cold: room_members
 *               {_id: "<room>:<user>"} limit 1, chat_rooms {_id: room} limit 1, then messages
 *               {_id: {$gte: "<room>:<last_seq - 19>", $lte: "<room>:<last_seq>"}} (the page of
 *               20; seqs as 19 zero-padded digits: docs/read-models.md).
 * Output columns: route, mode, req/s, p50/p90/p99/max in ms, errors (failed finds or documents
 * not found). Requests still running at the end get a grace period (the duration, at least 30 s);
 * what is still in flight then is left out (said on stderr). Exit status 0 when no request
 * failed. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <mongoc/mongoc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS            256
#define MAX_SAMPLES_PER_THREAD 2000000
#define PAGE                   20
#define NAME_MAX_IDS           32

typedef enum { ROUTE_PROFILE, ROUTE_ROOMS, ROUTE_MESSAGES } route_t;

static struct {
    const char *uri, *db, *user, *room, *route_name, *mode;
    route_t route;
    bool cold, header;
    int threads, seconds;
    long requests;
} O = {.uri = "mongodb://127.0.0.1:27027/",
       .db = "hearlers_read",
       .mode = "steady",
       .threads = 32,
       .seconds = 15};

static mongoc_client_pool_t *pool;
static atomic_bool stop_flag;
static char aliases[32][2][128];
static int naliases;

typedef struct {
    int64_t *lat_us;
    atomic_long n, errors; /* written by the worker, read by main at the grace deadline */
} worker_t;

static atomic_int running; /* workers not yet finished */

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static const char *physical(const char *logical)
{
    for (int i = 0; i < naliases; i++)
        if (!strcmp(aliases[i][0], logical))
            return aliases[i][1];
    return logical;
}

/* Run one find; copies the first document into *first (when given and found). Returns the
 * number of documents, -1 on error. */
static long find(mongoc_client_t *c, const char *logical, const bson_t *filter, const bson_t *opts,
                 bson_t *first)
{
    mongoc_collection_t *coll = mongoc_client_get_collection(c, O.db, physical(logical));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
    const bson_t *doc;
    long n = 0;
    while (mongoc_cursor_next(cur, &doc)) {
        if (n == 0 && first)
            bson_copy_to(doc, first);
        n++;
    }
    bson_error_t err;
    if (mongoc_cursor_error(cur, &err)) {
        if (n > 0 && first)
            bson_destroy(first);
        n = -1;
    }
    mongoc_cursor_destroy(cur);
    mongoc_collection_destroy(coll);
    return n;
}

static long find_id(mongoc_client_t *c, const char *logical, const char *id, const bson_t *proj,
                    bson_t *first)
{
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", id);
    if (proj)
        BSON_APPEND_DOCUMENT(&opts, "projection", proj);
    BSON_APPEND_INT64(&opts, "limit", 1);
    long n = find(c, logical, &filter, &opts, first);
    bson_destroy(&opts);
    bson_destroy(&filter);
    return n;
}

static bool req_profile(mongoc_client_t *c)
{
    return find_id(c, "user_profiles", O.user, NULL, NULL) == 1 &&
           find_id(c, "user_counters", O.user, NULL, NULL) >= 0;
}

static bool req_rooms(mongoc_client_t *c)
{
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
    bson_t *sort = BCON_NEW("last_activity_at", BCON_INT32(-1), "_id", BCON_INT32(-1));
    char lo_id[64], hi_id[64];
    snprintf(lo_id, sizeof lo_id, "%s:", O.user);
    snprintf(hi_id, sizeof hi_id, "%s;", O.user);
    bson_t range;
    BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &range);
    BSON_APPEND_UTF8(&range, "$gte", lo_id);
    BSON_APPEND_UTF8(&range, "$lt", hi_id);
    bson_append_document_end(&filter, &range);
    BSON_APPEND_UTF8(&filter, "user_id", O.user);
    BSON_APPEND_DOCUMENT(&opts, "sort", sort);
    BSON_APPEND_INT64(&opts, "limit", PAGE + 1);
    bool ok = true;
    if (!O.cold) {
        ok = find(c, "inbox", &filter, &opts, NULL) > 0;
    } else {
        /* the page's distinct members, then one _id find per member for the display name */
        mongoc_collection_t *coll = mongoc_client_get_collection(c, O.db, physical("inbox"));
        mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
        char ids[NAME_MAX_IDS][40];
        int nids = 0;
        long ndocs = 0;
        const bson_t *doc;
        while (mongoc_cursor_next(cur, &doc)) {
            bson_iter_t it, arr;
            if (++ndocs > PAGE || !bson_iter_init_find(&it, doc, "member_ids") ||
                !BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &arr))
                continue;
            while (bson_iter_next(&arr) && nids < NAME_MAX_IDS) {
                if (!BSON_ITER_HOLDS_UTF8(&arr))
                    continue;
                const char *v = bson_iter_utf8(&arr, NULL);
                bool seen = false;
                for (int j = 0; j < nids && !seen; j++)
                    seen = !strcmp(ids[j], v);
                if (!seen)
                    snprintf(ids[nids++], sizeof ids[0], "%s", v);
            }
        }
        bson_error_t err;
        ok = !mongoc_cursor_error(cur, &err) && ndocs > 0;
        mongoc_cursor_destroy(cur);
        mongoc_collection_destroy(coll);
        bson_t *proj = BCON_NEW("display_name", BCON_INT32(1));
        for (int i = 0; ok && i < nids; i++)
            ok = find_id(c, "user_profiles", ids[i], proj, NULL) >= 0;
        bson_destroy(proj);
    }
    bson_destroy(sort);
    bson_destroy(&opts);
    bson_destroy(&filter);
    return ok;
}

static bool req_messages(mongoc_client_t *c)
{
    if (O.cold) {
        char mid[100];
        snprintf(mid, sizeof mid, "%s:%s", O.room, O.user);
        if (find_id(c, "room_members", mid, NULL, NULL) != 1)
            return false;
    }
    bson_t room;
    if (find_id(c, "chat_rooms", O.room, NULL, &room) != 1)
        return false;
    bson_iter_t it;
    int64_t last = bson_iter_init_find(&it, &room, "last_seq") ? bson_iter_as_int64(&it) : 0;
    bson_destroy(&room);
    if (!O.cold)
        return last > 0;
    int64_t lo = last - PAGE + 1 > 1 ? last - PAGE + 1 : 1;
    char lo_id[80], hi_id[80];
    snprintf(lo_id, sizeof lo_id, "%s:%019lld", O.room, (long long)lo);
    snprintf(hi_id, sizeof hi_id, "%s:%019lld", O.room, (long long)last);
    bson_t *filter = BCON_NEW("_id", "{", "$gte", BCON_UTF8(lo_id), "$lte", BCON_UTF8(hi_id), "}");
    long n = find(c, "messages", filter, NULL, NULL);
    bson_destroy(filter);
    return n > 0;
}

static void *work(void *arg)
{
    worker_t *w = arg;
    mongoc_client_t *c = mongoc_client_pool_pop(pool);
    for (long i = 0; O.requests ? i < O.requests : !atomic_load(&stop_flag); i++) {
        int64_t t0 = mono_us();
        bool ok = O.route == ROUTE_PROFILE ? req_profile(c)
                  : O.route == ROUTE_ROOMS ? req_rooms(c)
                                           : req_messages(c);
        if (!ok)
            atomic_fetch_add(&w->errors, 1);
        long n = atomic_load(&w->n);
        if (n < MAX_SAMPLES_PER_THREAD) {
            w->lat_us[n] = mono_us() - t0;
            atomic_store(&w->n, n + 1);
        }
    }
    mongoc_client_pool_push(pool, c);
    atomic_fetch_sub(&running, 1);
    return NULL;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double pct_ms(const int64_t *xs, long n, double p)
{
    if (n == 0)
        return 0;
    long i = (long)(p / 100.0 * (double)n + 0.5) - 1;
    i = i < 0 ? 0 : i >= n ? n - 1 : i;
    return (double)xs[i] / 1000.0;
}

static bool load_aliases(void)
{
    mongoc_client_t *c = mongoc_client_pool_pop(pool);
    mongoc_collection_t *coll = mongoc_client_get_collection(c, O.db, "read_model_aliases");
    bson_t filter = BSON_INITIALIZER;
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, NULL, NULL);
    const bson_t *doc;
    while (mongoc_cursor_next(cur, &doc) && naliases < 32) {
        bson_iter_t a, b;
        if (bson_iter_init_find(&a, doc, "_id") && BSON_ITER_HOLDS_UTF8(&a) &&
            bson_iter_init_find(&b, doc, "collection") && BSON_ITER_HOLDS_UTF8(&b)) {
            snprintf(aliases[naliases][0], sizeof aliases[0][0], "%s", bson_iter_utf8(&a, NULL));
            snprintf(aliases[naliases][1], sizeof aliases[0][1], "%s", bson_iter_utf8(&b, NULL));
            naliases++;
        }
    }
    bson_error_t err;
    bool ok = !mongoc_cursor_error(cur, &err);
    if (!ok)
        fprintf(stderr, "mongo_find_bench: read_model_aliases: %s\n", err.message);
    mongoc_cursor_destroy(cur);
    bson_destroy(&filter);
    mongoc_collection_destroy(coll);
    mongoc_client_pool_push(pool, c);
    return ok;
}

/* Parse a decimal integer in [lo, hi] from text into *out; false when it is not one. */
static bool parse_long(const char *text, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static const char *opt(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return !strncmp(arg, name, n) && arg[n] == '=' ? arg + n + 1 : NULL;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *v;
        long n;
        if ((v = opt(argv[i], "--mongo-uri")))
            O.uri = v;
        else if ((v = opt(argv[i], "--db")))
            O.db = v;
        else if ((v = opt(argv[i], "--user")))
            O.user = v;
        else if ((v = opt(argv[i], "--room")))
            O.room = v;
        else if ((v = opt(argv[i], "--route")))
            O.route_name = v;
        else if ((v = opt(argv[i], "--mode")))
            O.mode = v;
        else if ((v = opt(argv[i], "--threads")) && parse_long(v, 1, MAX_THREADS, &n))
            O.threads = (int)n;
        else if ((v = opt(argv[i], "--seconds")) && parse_long(v, 1, 86400, &n))
            O.seconds = (int)n;
        else if ((v = opt(argv[i], "--requests")) && parse_long(v, 1, MAX_SAMPLES_PER_THREAD, &n))
            O.requests = n;
        else if (!strcmp(argv[i], "--header"))
            O.header = true;
        else {
            fprintf(stderr,
                    "mongo_find_bench: bad argument %s (see the comment at the top of "
                    "bench/mongo_find_bench.c)\n",
                    argv[i]);
            return 2;
        }
    }
    if (!O.route_name || O.threads < 1 || O.threads > MAX_THREADS || O.seconds < 1 ||
        (strcmp(O.mode, "steady") && strcmp(O.mode, "cold"))) {
        fprintf(stderr, "usage: mongo_find_bench --route=profile|chat-rooms|messages "
                        "[--mode=steady|cold] [--user=UUID] [--room=UUID] ...\n");
        return 2;
    }
    O.cold = !strcmp(O.mode, "cold");
    if (!strcmp(O.route_name, "profile"))
        O.route = ROUTE_PROFILE;
    else if (!strcmp(O.route_name, "chat-rooms"))
        O.route = ROUTE_ROOMS;
    else if (!strcmp(O.route_name, "messages"))
        O.route = ROUTE_MESSAGES;
    else {
        fprintf(stderr, "mongo_find_bench: unknown route %s\n", O.route_name);
        return 2;
    }
    if (!O.user || (O.route == ROUTE_MESSAGES && !O.room)) {
        fprintf(stderr, "mongo_find_bench: --user (and --room for messages) required\n");
        return 2;
    }
    mongoc_init();
    bson_error_t berr;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(O.uri, &berr);
    if (!uri) {
        fprintf(stderr, "mongo_find_bench: %s: %s\n", O.uri, berr.message);
        return 2;
    }
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_MAXPOOLSIZE, O.threads);
    pool = mongoc_client_pool_new(uri);
    mongoc_client_pool_set_error_api(pool, MONGOC_ERROR_API_VERSION_2);
    if (!load_aliases())
        return 1;
    pthread_t tid[MAX_THREADS];
    worker_t *w = calloc((size_t)O.threads, sizeof *w);
    long cap = O.requests ? O.requests : MAX_SAMPLES_PER_THREAD;
    for (int i = 0; i < O.threads; i++) {
        w[i].lat_us = malloc((size_t)cap * sizeof(int64_t));
        if (!w[i].lat_us) {
            fprintf(stderr, "mongo_find_bench: out of memory\n");
            return 1;
        }
    }
    int64_t t0 = mono_us();
    atomic_store(&running, O.threads);
    for (int i = 0; i < O.threads; i++)
        pthread_create(&tid[i], NULL, work, &w[i]);
    int in_flight = 0;
    if (!O.requests) {
        struct timespec d = {.tv_sec = O.seconds}, tick = {.tv_nsec = 100000000};
        nanosleep(&d, NULL);
        atomic_store(&stop_flag, true);
        /* Requests still in flight get a grace period (the duration, at least 30 s); what has
         * not finished then is not counted, and the process exits without waiting for it. */
        int64_t grace_end = mono_us() + (int64_t)(O.seconds > 30 ? O.seconds : 30) * 1000000;
        while (atomic_load(&running) > 0 && mono_us() < grace_end)
            nanosleep(&tick, NULL);
        in_flight = atomic_load(&running);
    }
    if (in_flight == 0)
        for (int i = 0; i < O.threads; i++)
            pthread_join(tid[i], NULL);
    double secs = (double)(mono_us() - t0) / 1e6;
    long total = 0, errors = 0;
    long counts[MAX_THREADS];
    for (int i = 0; i < O.threads; i++) {
        counts[i] = atomic_load(&w[i].n);
        total += counts[i];
        errors += atomic_load(&w[i].errors);
    }
    int64_t *all = malloc((size_t)(total ? total : 1) * sizeof *all);
    long k = 0;
    for (int i = 0; i < O.threads; i++) {
        memcpy(all + k, w[i].lat_us, (size_t)counts[i] * sizeof *all);
        k += counts[i];
    }
    qsort(all, (size_t)total, sizeof *all, cmp64);
    if (O.header)
        printf("%-12s %-7s %10s %9s %9s %9s %9s %8s\n", "route", "mode", "req/s", "p50_ms",
               "p90_ms", "p99_ms", "max_ms", "errors");
    printf("%-12s %-7s %10.1f %9.2f %9.2f %9.2f %9.2f %8ld\n", O.route_name, O.mode,
           (double)total / secs, pct_ms(all, total, 50), pct_ms(all, total, 90),
           pct_ms(all, total, 99), total ? (double)all[total - 1] / 1000.0 : 0.0, errors);
    free(all);
    if (in_flight) {
        fprintf(stderr,
                "mongo_find_bench: %d requests still in flight after the grace period, "
                "not counted\n",
                in_flight);
        fflush(stdout);
        _exit(errors ? 1 : 0); /* the workers are blocked in the driver: do not wait for them */
    }
    for (int i = 0; i < O.threads; i++)
        free(w[i].lat_us);
    free(w);
    mongoc_client_pool_destroy(pool);
    mongoc_uri_destroy(uri);
    mongoc_cleanup();
    return errors ? 1 : 0;
}
