/* hl-loadgen: a reproducible social-chat workload against the public REST APIs of hearlers,
 * followed by a verification pass of every read model against PostgreSQL (bench/README.md).
 *
 *   hl-loadgen [--command-url=URL] [--query-url=URL] [--pg-url=URL] [--mongo-uri=URI]
 *              [--scale=F | --users=N --messages=N] [--seed=N] [--clients=N]
 *              [--summary-json=FILE] [--no-verify] [--verify-only] [--no-progress]
 *
 * The plan (users and their names, the friendship graph, blocks, rooms, every message and read
 * receipt) is computed up front from --seed and the scale, so the same seed gives the same
 * plan; only server-made ids and the e-mail nonce differ between runs. Exit 0 iff every command
 * got its expected answer and the verification found zero mismatches. */
#include "lg_corpus.h"
#include "lg_plan.h"
#include "lg_verify.h"

#include <bson/bson.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef LG_SOURCE_DIR
#define LG_SOURCE_DIR "."
#endif
#ifndef LG_COMMAND_SERVER
#define LG_COMMAND_SERVER "command-server"
#endif

/* ---- operations and counters ---- */

typedef enum {
    OP_REGISTER,
    OP_LOGIN,
    OP_PROFILE,
    OP_PRESENCE,
    OP_FRIEND_REQUEST,
    OP_ACCEPT,
    OP_REJECT,
    OP_UNFRIEND,
    OP_BLOCK,
    OP_UNBLOCK,
    OP_CREATE_DIRECT,
    OP_CREATE_GROUP,
    OP_SEND,
    OP_READ,
    OP_QUERY,
    OP_NOTIF_READ,
    OP_LOGOUT,
    OP_COUNSELLOR,
    OP_VERIFY,
    OP_SLOTS,
    OP_BOOK,
    OP_JOB,
    OP_CANCEL,
    OP_COMPLETE,
    OP_REVIEW,
    OP_COUNT
} op_kind_t;

static const char *const op_names[OP_COUNT] = {"register",
                                               "login",
                                               "update_profile",
                                               "set_presence",
                                               "friend_request",
                                               "accept",
                                               "reject",
                                               "delete_friend",
                                               "block",
                                               "unblock",
                                               "create_direct",
                                               "create_group",
                                               "send_message",
                                               "mark_read",
                                               "query",
                                               "notifications_read",
                                               "logout",
                                               "register_counsellor",
                                               "verify_counsellor",
                                               "publish_slots",
                                               "book",
                                               "job_poll",
                                               "cancel_booking",
                                               "complete_booking",
                                               "review"};

static atomic_long op_done[OP_COUNT];
static atomic_long op_errors[OP_COUNT];
static atomic_long phase_done, phase_errors;
static atomic_long errors_printed;
static atomic_long unretryable_printed; /* 5xx/429 answers without Retry-After, first 20 */
static atomic_long sessions_not_ended;  /* planned completions whose session had not ended */

/* Every answer (also the retried ones) by class, for the fault matrix (tests/chaos): 503 with
 * Retry-After is the one retryable answer the SPEC allows under a fault; the others count as
 * errors a client would see. */
enum { ANS_OK, ANS_503_RA, ANS_429_RA, ANS_5XX_OTHER, ANS_TRANSPORT, ANS_OTHER, ANS_COUNT };
static const char *ans_names[ANS_COUNT] = {"expected",  "503_retry_after", "429_retry_after",
                                           "5xx_other", "transport",       "other"};
static atomic_long answers[ANS_COUNT];

/* ---- options ---- */

typedef struct {
    char command_url[256], query_url[256], pg_url[512], mongo_uri[256], mongo_db[64];
    char projector_url[256], names_dir[1024], fortunes_dir[1024], summary_json[1024];
    double scale;
    long users, messages;
    uint64_t seed;
    int clients;
    bool verify, verify_only, progress, progress_forced, plan_only;
    lg_scope_t scope;
    char run_tag[33];
    double verify_timeout_s;
    long retry_for_s;          /* 0: five attempts; else retry retryable answers this long */
    char command_server[1024]; /* the command-server binary (grant-role) */
    long session_wait_s;       /* how long completions wait for sessions to end */
} opts_t;

static opts_t opts;

/* ---- plan (lg_plan.h) ---- */

static lg_plan_t plan;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("hl-loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        die("out of memory");
    return p;
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        die("out of memory");
    return p;
}

/* ---- corpora ---- */

static void load_names(void)
{
    char dir[1024];
    if (opts.names_dir[0]) {
        snprintf(dir, sizeof dir, "%s", opts.names_dir);
    } else {
        /* the PyPI package `names` in the project's venv (deploy/local/deps.sh test) */
        const char *cache = getenv("HL_CACHE_DIR");
        char pattern[1200];
        snprintf(pattern, sizeof pattern, "%s/venv/lib/python3*/site-packages/names",
                 cache && *cache ? cache : LG_SOURCE_DIR "/.cache");
        glob_t g;
        if (glob(pattern, 0, NULL, &g) != 0 || g.gl_pathc == 0)
            die("no name corpus: %s not found (bash deploy/local/deps.sh test installs the PyPI "
                "package `names`; or pass --names-dir=DIR holding dist.male.first, "
                "dist.female.first, dist.all.last)",
                pattern);
        snprintf(dir, sizeof dir, "%s", g.gl_pathv[0]);
        globfree(&g);
    }
    struct {
        const char *file;
        lg_corpus_t *c;
    } lists[3] = {{"dist.male.first", &plan.first_m},
                  {"dist.female.first", &plan.first_f},
                  {"dist.all.last", &plan.last}};
    for (int i = 0; i < 3; i++) {
        char path[1200], *text = NULL;
        size_t len = 0;
        snprintf(path, sizeof path, "%s/%s", dir, lists[i].file);
        if (!lg_read_file(path, &text, &len))
            die("cannot read name list %s: %s", path, strerror(errno));
        long n = lg_corpus_parse_names(lists[i].c, text, len);
        free(text);
        if (n <= 0)
            die("name list %s holds no names", path);
    }
}

static void load_fortunes(void)
{
    char err[512];
    long n = lg_corpus_load_fortunes_dir(&plan.fortunes, opts.fortunes_dir, 4000, err, sizeof err);
    if (n <= 0)
        die("%s", err);
}

/* ---- HTTP ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct {
    CURL *curl;
    char *buf;
    size_t len, cap;
    int index;
} worker_t;

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    worker_t *w = ud;
    size_t n = size * nmemb;
    if (w->len + n + 1 > w->cap) {
        size_t cap = (w->len + n + 1) * 2;
        char *nb = realloc(w->buf, cap);
        if (!nb)
            return 0;
        w->buf = nb;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, data, n);
    w->len += n;
    w->buf[w->len] = '\0';
    return n;
}

static char *to_json(const bson_t *b)
{
    return bson_as_relaxed_extended_json(b, NULL);
}

/* One REST call with retries on transport errors and 5xx/429 (same Idempotency-Key, so a
 * retried command is applied once): five attempts 0.2..1.6 s apart, or with --retry-for=S
 * attempts for S seconds, each after the answer's Retry-After (RFC 9110 §10.2.3, delay-seconds,
 * capped at 5 s) or a doubling backoff up to 2 s. Counts every answer by class (answers[]) and
 * the operation; a final answer other than ok1/ok2 is an error (printed, the first 20). Returns
 * the status (0: no answer); the body is in w->buf. */
static long call(worker_t *w, op_kind_t kind, const char *base, const char *method,
                 const char *path, const char *token, const char *idem, const bson_t *body,
                 long ok1, long ok2)
{
    char url[1024], *json = body ? to_json(body) : NULL;
    snprintf(url, sizeof url, "%s%s", base, path);
    long status = 0;
    char cerr[CURL_ERROR_SIZE] = "";
    double give_up = now_s() + (double)opts.retry_for_s;
    long wait_ms = 0;
    for (int attempt = 0; opts.retry_for_s ? attempt == 0 || now_s() < give_up : attempt < 5;
         attempt++) {
        if (attempt > 0)
            usleep(opts.retry_for_s ? (useconds_t)wait_ms * 1000u
                                    : (useconds_t)(100000u << attempt));
        struct curl_slist *h = NULL;
        char line[1200];
        h = curl_slist_append(h, "Content-Type: application/json");
        h = curl_slist_append(h, "Expect:");
        if (token) {
            snprintf(line, sizeof line, "Authorization: Bearer %s", token);
            h = curl_slist_append(h, line);
        }
        if (idem) {
            snprintf(line, sizeof line, "Idempotency-Key: %s", idem);
            h = curl_slist_append(h, line);
        }
        w->len = 0;
        if (w->buf)
            w->buf[0] = '\0';
        curl_easy_setopt(w->curl, CURLOPT_URL, url);
        curl_easy_setopt(w->curl, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(w->curl, CURLOPT_ERRORBUFFER, cerr);
        if (json) {
            curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS, json);
            curl_easy_setopt(w->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(json));
        } else if (!strcmp(method, "GET")) {
            curl_easy_setopt(w->curl, CURLOPT_HTTPGET, 1L);
        } else {
            curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS, "");
            curl_easy_setopt(w->curl, CURLOPT_POSTFIELDSIZE, 0L);
        }
        CURLcode rc = curl_easy_perform(w->curl);
        curl_slist_free_all(h);
        status = 0;
        if (rc == CURLE_OK)
            curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &status);
        struct curl_header *ra = NULL;
        long ra_s = -1;
        if (rc == CURLE_OK &&
            curl_easy_header(w->curl, "Retry-After", 0, CURLH_HEADER, -1, &ra) == CURLHE_OK)
            ra_s = strtol(ra->value, NULL, 10);
        int cls = rc != CURLE_OK                   ? ANS_TRANSPORT
                  : status == ok1 || status == ok2 ? ANS_OK
                  : status == 503 && ra_s >= 0     ? ANS_503_RA
                  : status == 429 && ra_s >= 0     ? ANS_429_RA
                  : status >= 500 || status == 429 ? ANS_5XX_OTHER
                                                   : ANS_OTHER;
        atomic_fetch_add(&answers[cls], 1);
        if (cls == ANS_5XX_OTHER && atomic_fetch_add(&unretryable_printed, 1) < 20)
            fprintf(stderr, "\nhl-loadgen: %s %s%s -> %ld without Retry-After: %.300s\n", method,
                    base, path, status, w->buf ? w->buf : "");
        if (rc == CURLE_OK && status < 500 && status != 429)
            break;
        long backoff = 100L << (attempt < 5 ? attempt : 5);
        wait_ms = ra_s >= 0 ? (ra_s < 5 ? ra_s * 1000 : 5000) : backoff < 2000 ? backoff : 2000;
        if (wait_ms == 0)
            wait_ms = 100;
    }
    bson_free(json);
    atomic_fetch_add(&op_done[kind], 1);
    atomic_fetch_add(&phase_done, 1);
    if (status != ok1 && status != ok2) {
        atomic_fetch_add(&op_errors[kind], 1);
        atomic_fetch_add(&phase_errors, 1);
        if (atomic_fetch_add(&errors_printed, 1) < 20)
            fprintf(stderr, "\nhl-loadgen: %s %s%s -> %ld %s%.300s\n", method, base, path, status,
                    status ? "" : cerr, w->buf ? w->buf : "");
    }
    return status;
}

/* The string field key of the JSON object in w->buf copied to out (cap bytes); false if none. */
static bool reply_string(worker_t *w, const char *key, char *out, size_t cap)
{
    bson_t b;
    bson_error_t e;
    if (!w->buf || !bson_init_from_json(&b, w->buf, (ssize_t)w->len, &e))
        return false;
    bson_iter_t it;
    bool ok = bson_iter_init_find(&it, &b, key) && BSON_ITER_HOLDS_UTF8(&it);
    if (ok)
        snprintf(out, cap, "%s", bson_iter_utf8(&it, NULL));
    bson_destroy(&b);
    return ok;
}

static int64_t reply_int(worker_t *w, const char *key)
{
    bson_t b;
    bson_error_t e;
    int64_t v = -1;
    if (!w->buf || !bson_init_from_json(&b, w->buf, (ssize_t)w->len, &e))
        return -1;
    bson_iter_t it;
    if (bson_iter_init_find(&it, &b, key) && BSON_ITER_HOLDS_NUMBER(&it))
        v = bson_iter_as_int64(&it);
    bson_destroy(&b);
    return v;
}

/* ---- phases ---- */

typedef void (*item_fn)(worker_t *w, size_t item);

typedef struct {
    const char *name;
    size_t nitems;
    long planned_ops;
    item_fn fn;
    atomic_size_t next;
    double seconds;
    long ops, errors;
} phase_t;

#define MAX_PHASES 16
static phase_t phases[MAX_PHASES];
static int nphases;
static phase_t *volatile current_phase;
static atomic_bool progress_stop;
static worker_t *workers;

static double phase_t0;

static void draw_progress(bool final)
{
    phase_t *ph = current_phase;
    if (!ph)
        return;
    long done = atomic_load(&phase_done), errs = atomic_load(&phase_errors);
    double el = now_s() - phase_t0,
           frac = ph->planned_ops ? (double)done / (double)ph->planned_ops : 1;
    if (frac > 1)
        frac = 1;
    char bar[31];
    int fillc = (int)(frac * 30);
    for (int i = 0; i < 30; i++)
        bar[i] = i < fillc ? '#' : '.';
    bar[30] = '\0';
    fprintf(stderr, "\r%-14s [%s] %5.1f%% %9ld/%-9ld %8.0f ops/s  errors %ld%s", ph->name, bar,
            frac * 100, done, ph->planned_ops, el > 0 ? (double)done / el : 0.0, errs,
            final ? "\n" : "");
    fflush(stderr);
}

static void *progress_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&progress_stop)) {
        draw_progress(false);
        usleep(250000);
    }
    return NULL;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    phase_t *ph = current_phase;
    for (;;) {
        size_t i = atomic_fetch_add(&ph->next, 1);
        if (i >= ph->nitems)
            break;
        ph->fn(w, i);
    }
    return NULL;
}

static void run_phase(const char *name, size_t nitems, long planned_ops, item_fn fn)
{
    phase_t *ph = &phases[nphases++];
    ph->name = name;
    ph->nitems = nitems;
    ph->planned_ops = planned_ops;
    ph->fn = fn;
    atomic_store(&ph->next, 0);
    atomic_store(&phase_done, 0);
    atomic_store(&phase_errors, 0);
    phase_t0 = now_s();
    current_phase = ph;
    pthread_t prog;
    atomic_store(&progress_stop, false);
    if (opts.progress)
        pthread_create(&prog, NULL, progress_main, NULL);
    pthread_t *th = xcalloc((size_t)opts.clients, sizeof *th);
    for (int i = 0; i < opts.clients; i++)
        pthread_create(&th[i], NULL, worker_main, &workers[i]);
    for (int i = 0; i < opts.clients; i++)
        pthread_join(th[i], NULL);
    free(th);
    ph->seconds = now_s() - phase_t0;
    ph->ops = atomic_load(&phase_done);
    ph->errors = atomic_load(&phase_errors);
    if (opts.progress) {
        atomic_store(&progress_stop, true);
        pthread_join(prog, NULL);
        draw_progress(true);
    }
    fprintf(stderr, "phase %-14s %8ld ops in %7.1f s = %8.1f ops/s, %ld errors\n", name, ph->ops,
            ph->seconds, ph->seconds > 0 ? (double)ph->ops / ph->seconds : 0.0, ph->errors);
    current_phase = NULL;
}

static void idem_key(char *out, size_t cap, const char *what, size_t i)
{
    snprintf(out, cap, "lg-%s-%s-%zu", plan.nonce, what, i);
}

static void do_register(worker_t *w, size_t i)
{
    lg_user_t *u = &plan.users[i];
    bson_t b = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&b, "email", u->email);
    BSON_APPEND_UTF8(&b, "password", u->password);
    BSON_APPEND_UTF8(&b, "display_name", u->display_name);
    char key[96];
    idem_key(key, sizeof key, "reg", i);
    if (call(w, OP_REGISTER, opts.command_url, "POST", "/v1/users", NULL, key, &b, 201, 201) == 201)
        reply_string(w, "user_id", u->id, sizeof u->id);
    bson_destroy(&b);
}

static void do_login(worker_t *w, size_t i)
{
    lg_user_t *u = &plan.users[i];
    if (!u->id[0])
        return;
    bson_t b = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&b, "email", u->email);
    BSON_APPEND_UTF8(&b, "password", u->password);
    char tok[1024];
    if (call(w, OP_LOGIN, opts.command_url, "POST", "/v1/sessions", NULL, NULL, &b, 201, 201) ==
            201 &&
        reply_string(w, "token", tok, sizeof tok))
        u->token = xstrdup(tok);
    bson_destroy(&b);
}

static void set_presence(worker_t *w, lg_user_t *u, const char *status)
{
    bson_t b = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&b, "status", status);
    call(w, OP_PRESENCE, opts.command_url, "PUT", "/v1/users/me/presence", u->token, NULL, &b, 200,
         200);
    bson_destroy(&b);
}

static void do_profile(worker_t *w, size_t i)
{
    lg_user_t *u = &plan.users[i];
    if (!u->token)
        return;
    if (u->bio) {
        bson_t b = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&b, "bio", u->bio);
        call(w, OP_PROFILE, opts.command_url, "PATCH", "/v1/users/me", u->token, NULL, &b, 200,
             200);
        bson_destroy(&b);
    }
    if (u->online)
        set_presence(w, u, "online");
}

static void do_request(worker_t *w, size_t k)
{
    lg_request_t *q = &plan.requests[k];
    lg_user_t *from = &plan.users[q->from], *to = &plan.users[q->to];
    if (!from->token || !to->id[0])
        return;
    bson_t b = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&b, "to_user_id", to->id);
    char key[96];
    idem_key(key, sizeof key, "fr", k);
    if (call(w, OP_FRIEND_REQUEST, opts.command_url, "POST", "/v1/friend-requests", from->token,
             key, &b, 201, 201) == 201)
        reply_string(w, "request_id", q->id, sizeof q->id);
    bson_destroy(&b);
}

static void do_answer(worker_t *w, size_t k)
{
    lg_request_t *q = &plan.requests[k];
    lg_user_t *to = &plan.users[q->to];
    if (q->outcome == LG_OUT_PENDING || !q->id[0] || !to->token)
        return;
    char path[160], key[96];
    bool accept = q->outcome == LG_OUT_ACCEPT;
    snprintf(path, sizeof path, "/v1/friend-requests/%s/%s", q->id, accept ? "accept" : "reject");
    idem_key(key, sizeof key, accept ? "acc" : "rej", k);
    call(w, accept ? OP_ACCEPT : OP_REJECT, opts.command_url, "POST", path, to->token, key, NULL,
         200, 200);
}

/* items: requests (deletions), then blocks */
static void do_unfriend_or_block(worker_t *w, size_t k)
{
    if (k < plan.nrequests) {
        lg_request_t *q = &plan.requests[k];
        if (q->outcome != LG_OUT_ACCEPT || q->deleted_by < 0 || !q->id[0])
            return;
        lg_user_t *a = &plan.users[q->deleted_by == 0 ? q->from : q->to];
        lg_user_t *b = &plan.users[q->deleted_by == 0 ? q->to : q->from];
        char path[128];
        snprintf(path, sizeof path, "/v1/friends/%s", b->id);
        call(w, OP_UNFRIEND, opts.command_url, "DELETE", path, a->token, NULL, NULL, 204, 204);
        return;
    }
    lg_block_t *bl = &plan.blocks[k - plan.nrequests];
    lg_user_t *a = &plan.users[bl->blocker], *b = &plan.users[bl->blocked];
    if (!a->token || !b->id[0])
        return;
    bson_t body = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&body, "user_id", b->id);
    char key[96];
    idem_key(key, sizeof key, "blk", k);
    call(w, OP_BLOCK, opts.command_url, "POST", "/v1/blocks", a->token, key, &body, 201, 201);
    bson_destroy(&body);
}

static void do_unblock(worker_t *w, size_t k)
{
    lg_block_t *bl = &plan.blocks[k];
    if (!bl->unblock)
        return;
    lg_user_t *a = &plan.users[bl->blocker], *b = &plan.users[bl->blocked];
    if (!a->token || !b->id[0])
        return;
    char path[128];
    snprintf(path, sizeof path, "/v1/blocks/%s", b->id);
    call(w, OP_UNBLOCK, opts.command_url, "DELETE", path, a->token, NULL, NULL, 204, 204);
}

static void do_room(worker_t *w, size_t i)
{
    lg_room_t *r = &plan.rooms[i];
    lg_user_t *c = &plan.users[r->creator];
    if (!c->token)
        return;
    bson_t b = BSON_INITIALIZER, arr;
    BSON_APPEND_ARRAY_BEGIN(&b, "member_ids", &arr);
    for (uint32_t m = 1; m < r->nmembers; m++) {
        char idx[16];
        snprintf(idx, sizeof idx, "%u", m - 1);
        BSON_APPEND_UTF8(&arr, idx, plan.users[r->members[m]].id);
    }
    bson_append_array_end(&b, &arr);
    if (r->title)
        BSON_APPEND_UTF8(&b, "title", r->title);
    char key[96];
    idem_key(key, sizeof key, "room", i);
    if (call(w, r->group ? OP_CREATE_GROUP : OP_CREATE_DIRECT, opts.command_url, "POST",
             "/v1/chat-rooms", c->token, key, &b, 201, 201) == 201)
        reply_string(w, "room_id", r->id, sizeof r->id);
    bson_destroy(&b);
}

static void do_conversation(worker_t *w, size_t item)
{
    lg_room_t *r = &plan.rooms[plan.room_order[item]];
    if (!r->id[0])
        return;
    int64_t seq = 0;
    char path[160];
    for (size_t s = 0; s < r->script_len; s++) {
        lg_step_t *st = &plan.steps[r->script_off + s];
        lg_user_t *u = &plan.users[r->members[st->member]];
        if (!u->token)
            continue;
        if (st->kind == LG_STEP_SEND) {
            bson_t b = BSON_INITIALIZER;
            char cmid[64];
            snprintf(cmid, sizeof cmid, "lg-%zu", s);
            BSON_APPEND_UTF8(&b, "body", plan.fortunes.items[st->body]);
            BSON_APPEND_UTF8(&b, "client_message_id", cmid);
            snprintf(path, sizeof path, "/v1/chat-rooms/%s/messages", r->id);
            if (call(w, OP_SEND, opts.command_url, "POST", path, u->token, NULL, &b, 201, 201) ==
                201) {
                int64_t got = reply_int(w, "seq");
                if (got > seq)
                    seq = got;
            }
            bson_destroy(&b);
        } else if (seq > 0) {
            bson_t b = BSON_INITIALIZER;
            BSON_APPEND_INT64(&b, "up_to_seq", seq);
            snprintf(path, sizeof path, "/v1/chat-rooms/%s/read", r->id);
            call(w, OP_READ, opts.command_url, "POST", path, u->token, NULL, &b, 200, 200);
            bson_destroy(&b);
        }
    }
}

static bool skip_notification_reads; /* the projector did not catch up in time */

static void do_final(worker_t *w, size_t i)
{
    lg_user_t *u = &plan.users[i];
    if (!u->token)
        return;
    if (u->reads_notifications && !skip_notification_reads) {
        /* a client looks at its unread notifications, then marks them all read */
        if (u->peeks_notifications)
            call(w, OP_QUERY, opts.query_url, "GET", "/v1/notifications?unread=true&limit=20",
                 u->token, NULL, NULL, 200, 200);
        bson_t b = BSON_INITIALIZER;
        BSON_APPEND_BOOL(&b, "all", true);
        char key[96];
        idem_key(key, sizeof key, "nr", i);
        call(w, OP_NOTIF_READ, opts.command_url, "POST", "/v1/notifications/read", u->token, key,
             &b, 200, 200);
        bson_destroy(&b);
    }
    if (u->final_presence)
        set_presence(w, u, u->final_presence == 1 ? "away" : "offline");
    if (u->logs_out)
        call(w, OP_LOGOUT, opts.command_url, "DELETE", "/v1/sessions/current", u->token, NULL, NULL,
             204, 204);
}

/* ---- counselling phases (SPEC §9) ---- */

static int64_t counselling_base_s; /* wall clock of offset 0 (a whole minute, UTC) */

static void iso_at(int64_t off_min, char *out, size_t cap)
{
    time_t t = (time_t)(counselling_base_s + off_min * 60);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* `command-server grant-role <email> operator` (the only way to an operator, SPEC §9), with
 * HL_PG_URL set to the loadgen's database. false when it did not exit 0. */
static bool grant_operator(const char *email)
{
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        setenv("HL_PG_URL", opts.pg_url, 1);
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            close(fd);
        }
        execl(opts.command_server, opts.command_server, "grant-role", email, "operator",
              (char *)NULL);
        _exit(127);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void do_counsellor(worker_t *w, size_t k)
{
    lg_counsellor_t *c = &plan.counsellors[k];
    lg_user_t *u = &plan.users[c->user], *op = &plan.users[plan.operator_user];
    if (!u->token)
        return;
    bson_t b = BSON_INITIALIZER, arr;
    char headline[128], idx[16], key[96], path[160];
    const char *f = plan.fortunes.n ? plan.fortunes.items[c->headline] : "I listen";
    size_t cut = strcspn(f, "\n");
    if (cut > 100)
        cut = lg_utf8_prefix(f, 100);
    snprintf(headline, sizeof headline, "%.*s", (int)cut, f);
    /* one line of plain text without outer blanks (the headline rule) */
    for (char *p = headline; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    for (char *p = headline + strlen(headline); p > headline && p[-1] == ' ';)
        *--p = '\0';
    const char *h = headline + strspn(headline, " ");
    BSON_APPEND_UTF8(&b, "headline", *h ? h : "I listen");
    BSON_APPEND_ARRAY_BEGIN(&b, "specialties", &arr);
    for (int s = 0; s < c->nspec; s++) {
        snprintf(idx, sizeof idx, "%d", s);
        BSON_APPEND_UTF8(&arr, idx, lg_specialties[c->spec[s]]);
    }
    bson_append_array_end(&b, &arr);
    BSON_APPEND_ARRAY_BEGIN(&b, "languages", &arr);
    for (int s = 0; s < c->nlang; s++) {
        snprintf(idx, sizeof idx, "%d", s);
        BSON_APPEND_UTF8(&arr, idx, lg_languages[c->lang[s]]);
    }
    bson_append_array_end(&b, &arr);
    BSON_APPEND_INT64(&b, "price_minor", c->price_minor);
    BSON_APPEND_UTF8(&b, "currency", lg_currencies[c->currency]);
    BSON_APPEND_INT32(&b, "session_minutes", c->minutes);
    idem_key(key, sizeof key, "counsellor", k);
    long st = call(w, OP_COUNSELLOR, opts.command_url, "POST", "/v1/counsellors", u->token, key, &b,
                   201, 201);
    bson_destroy(&b);
    if (st != 201)
        return;
    if (c->verified && op->token) {
        snprintf(path, sizeof path, "/v1/counsellors/%s/verify", u->id);
        call(w, OP_VERIFY, opts.command_url, "POST", path, op->token, NULL, NULL, 200, 200);
    }
    bson_t s = BSON_INITIALIZER, items;
    BSON_APPEND_ARRAY_BEGIN(&s, "slots", &items);
    for (uint32_t i = 0; i < c->nslots; i++) {
        bson_t one;
        char at[32];
        snprintf(idx, sizeof idx, "%u", i);
        iso_at(c->slot_off[i], at, sizeof at);
        BSON_APPEND_DOCUMENT_BEGIN(&items, idx, &one);
        BSON_APPEND_UTF8(&one, "starts_at", at);
        bson_append_document_end(&items, &one);
    }
    bson_append_array_end(&s, &items);
    idem_key(key, sizeof key, "slots", k);
    if (call(w, OP_SLOTS, opts.command_url, "POST", "/v1/counsellors/me/slots", u->token, key, &s,
             201, 201) == 201) {
        bson_t r;
        bson_error_t e;
        bson_iter_t it, jt;
        if (bson_init_from_json(&r, w->buf, (ssize_t)w->len, &e)) {
            if (bson_iter_init_find(&it, &r, "slot_ids") && bson_iter_recurse(&it, &jt))
                for (uint32_t i = 0; i < c->nslots && bson_iter_next(&jt); i++)
                    if (BSON_ITER_HOLDS_UTF8(&jt))
                        snprintf(c->slot_ids[i], sizeof c->slot_ids[i], "%s",
                                 bson_iter_utf8(&jt, NULL));
            bson_destroy(&r);
        }
    }
    bson_destroy(&s);
}

/* Poll GET /v1/jobs/{id} (the owner's query API) until the job ended or timeout_s passed;
 * "succeeded", "failed" or "" (timed out: counted as an error of the job op). */
static const char *await_job(worker_t *w, const char *token, const char *job_id, double timeout_s)
{
    char path[96], status[16] = "";
    snprintf(path, sizeof path, "/v1/jobs/%s", job_id);
    double t0 = now_s();
    useconds_t pause = 20000;
    while (now_s() - t0 < timeout_s) {
        long st = call(w, OP_JOB, opts.query_url, "GET", path, token, NULL, NULL, 200, 404);
        if (st == 200 && reply_string(w, "status", status, sizeof status) &&
            (!strcmp(status, "succeeded") || !strcmp(status, "failed")))
            return !strcmp(status, "succeeded") ? "succeeded" : "failed";
        usleep(pause);
        if (pause < 250000)
            pause *= 2;
    }
    atomic_fetch_add(&op_errors[OP_JOB], 1);
    atomic_fetch_add(&phase_errors, 1);
    if (atomic_fetch_add(&errors_printed, 1) < 20)
        fprintf(stderr, "\nhl-loadgen: job %s did not end within %.0f s\n", job_id, timeout_s);
    return "";
}

/* A job that ended otherwise than planned is an error of op kind. */
static void expect_job(worker_t *w, op_kind_t kind, const char *token, const char *job_id,
                       const char *want)
{
    const char *got = await_job(w, token, job_id, 120);
    if (*got && strcmp(got, want) != 0) {
        atomic_fetch_add(&op_errors[kind], 1);
        atomic_fetch_add(&phase_errors, 1);
        if (atomic_fetch_add(&errors_printed, 1) < 20)
            fprintf(stderr, "\nhl-loadgen: job %s %s, expected %s\n", job_id, got, want);
    }
}

static void do_booking(worker_t *w, size_t i)
{
    lg_booking_t *b = &plan.bookings[i];
    lg_counsellor_t *c = &plan.counsellors[b->counsellor];
    lg_user_t *u = &plan.users[b->client];
    if (!u->token || !c->slot_ids[b->slot][0])
        return;
    bson_t body = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&body, "slot_id", c->slot_ids[b->slot]);
    BSON_APPEND_UTF8(&body, "payment_method", lg_methods[b->pm]);
    char key[96];
    idem_key(key, sizeof key, "book", i);
    long st =
        call(w, OP_BOOK, opts.command_url, "POST", "/v1/bookings", u->token, key, &body, 202, 202);
    bson_destroy(&body);
    if (st != 202 || !reply_string(w, "booking_id", b->id, sizeof b->id) ||
        !reply_string(w, "job_id", b->job, sizeof b->job))
        return;
    /* the client follows its job: a visa card confirms, a declining one fails the booking */
    expect_job(w, OP_BOOK, u->token, b->job, b->pm == 0 ? "succeeded" : "failed");
    b->confirmed = b->pm == 0;
}

static void do_cancel(worker_t *w, size_t i)
{
    lg_booking_t *b = &plan.bookings[i];
    if (!b->confirmed ||
        (b->after != LG_AFTER_CANCEL_CLIENT && b->after != LG_AFTER_CANCEL_COUNSELLOR))
        return;
    bool by_client = b->after == LG_AFTER_CANCEL_CLIENT;
    lg_counsellor_t *c = &plan.counsellors[b->counsellor];
    lg_user_t *u = &plan.users[by_client ? b->client : c->user];
    if (!u->token)
        return;
    char path[128], key[96], refund[8] = "";
    snprintf(path, sizeof path, "/v1/bookings/%s/cancel", b->id);
    idem_key(key, sizeof key, "cancel", i);
    if (call(w, OP_CANCEL, opts.command_url, "POST", path, u->token, key, NULL, 202, 202) != 202)
        return;
    /* SPEC §9: the client >= 24 h before the start, or the counsellor: a full refund */
    const char *want = !by_client || c->slot_off[b->slot] >= 1440 ? "full" : "none";
    char job[40];
    if (!reply_string(w, "refund", refund, sizeof refund) || strcmp(refund, want) != 0 ||
        !reply_string(w, "job_id", job, sizeof job)) {
        atomic_fetch_add(&op_errors[OP_CANCEL], 1);
        atomic_fetch_add(&phase_errors, 1);
        fprintf(stderr, "\nhl-loadgen: cancel %s: refund '%s', expected %s\n", b->id, refund, want);
        return;
    }
    expect_job(w, OP_CANCEL, u->token, job, "succeeded");
}

static double session_wait_until; /* now_s() bound for waiting on sessions to end */

static void do_complete(worker_t *w, size_t i)
{
    lg_booking_t *b = &plan.bookings[i];
    if (!b->confirmed || b->after != LG_AFTER_COMPLETE)
        return;
    lg_counsellor_t *c = &plan.counsellors[b->counsellor];
    lg_user_t *cu = &plan.users[c->user], *client = &plan.users[b->client];
    if (!cu->token || !client->token)
        return;
    /* the session must have ended (SPEC §9: complete after the end; slots cannot be in the
     * past): wait for it within --session-wait, else leave the booking confirmed */
    int64_t ends = counselling_base_s + (c->slot_off[b->slot] + c->minutes) * 60 + 1;
    while ((int64_t)time(NULL) < ends && now_s() < session_wait_until)
        sleep(1);
    if ((int64_t)time(NULL) < ends) {
        atomic_fetch_add(&sessions_not_ended, 1);
        return;
    }
    char path[128], key[96], job[40];
    snprintf(path, sizeof path, "/v1/bookings/%s/complete", b->id);
    idem_key(key, sizeof key, "complete", i);
    if (call(w, OP_COMPLETE, opts.command_url, "POST", path, cu->token, key, NULL, 202, 202) !=
            202 ||
        !reply_string(w, "job_id", job, sizeof job))
        return;
    expect_job(w, OP_COMPLETE, cu->token, job, "succeeded");
    if (!b->rating)
        return;
    bson_t r = BSON_INITIALIZER;
    BSON_APPEND_INT32(&r, "rating", b->rating);
    const char *f = plan.fortunes.n ? plan.fortunes.items[c->headline] : "thank you";
    char comment[512];
    snprintf(comment, sizeof comment, "%.*s", (int)lg_utf8_prefix(f, 500), f);
    BSON_APPEND_UTF8(&r, "comment", comment);
    snprintf(path, sizeof path, "/v1/bookings/%s/review", b->id);
    idem_key(key, sizeof key, "review", i);
    call(w, OP_REVIEW, opts.command_url, "POST", path, client->token, key, &r, 201, 201);
    bson_destroy(&r);
}

/* ---- options ---- */

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

static void usage(FILE *f)
{
    fputs("usage: hl-loadgen [--command-url=URL] [--query-url=URL] [--pg-url=URL] "
          "[--mongo-uri=URI]\n"
          "                  [--scale=F | --users=N --messages=N] [--seed=N] [--clients=N]\n"
          "                  [--summary-json=FILE] [--no-verify] [--verify-only] "
          "[--no-progress]\n"
          "  more: --mongo-db=NAME --projector-url=URL --verify-scope=all|loadgen|run\n"
          "        --run-tag=TAG (a-z0-9: e-mails end in .TAG@loadgen.invalid; default random;\n"
          "        --verify-scope=run verifies only that run's users, rooms and requests)\n"
          "        --verify-timeout=SECONDS (default 3600) --progress (force the bar)\n"
          "        --plan-only (print the plan's digest and sizes, send nothing)\n"
          "        --retry-for=SECONDS (retry 5xx/429/no answer that long, after Retry-After;\n"
          "        default five attempts in 3 s; for fault injection, tests/chaos)\n"
          "        --command-server=PATH (its grant-role makes the counselling operator)\n"
          "        --session-wait=SECONDS (default 0: how long completions wait for the\n"
          "        sessions soon to end; they end 35 min after the counselling phase starts)\n"
          "        --names-dir=DIR (PyPI `names` lists) --fortunes-dir=DIR "
          "(/usr/share/games/fortunes)\n"
          "Defaults come from HL_GATEWAY_PORT (command and query URL), HL_PG_PORT, HL_PG_USER, "
          "HL_PG_DB,\n"
          "HL_MONGO_PORT, HL_MONGO_DB, HL_PROJECTOR_PORT (deploy/local/env.sh), or HL_PG_URL /\n"
          "HL_MONGO_URI. Scale 1 = 1000 users and 20000 messages. Exit 0 iff every command was\n"
          "answered as planned and the verification found zero mismatches; 1 otherwise; 2 on\n"
          "bad usage or setup.\n",
          f);
}

static bool parse_long(const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static void parse_args(int argc, char **argv)
{
    /* Clients go through the gateway (SPEC §7): writes and reads share its one URL. */
    snprintf(opts.command_url, sizeof opts.command_url, "http://127.0.0.1:%s",
             env_or("HL_GATEWAY_PORT", "8000"));
    snprintf(opts.query_url, sizeof opts.query_url, "http://127.0.0.1:%s",
             env_or("HL_GATEWAY_PORT", "8000"));
    snprintf(opts.projector_url, sizeof opts.projector_url, "http://127.0.0.1:%s",
             env_or("HL_PROJECTOR_PORT", "8082"));
    if (getenv("HL_PG_URL") && *getenv("HL_PG_URL"))
        snprintf(opts.pg_url, sizeof opts.pg_url, "%s", getenv("HL_PG_URL"));
    else
        snprintf(opts.pg_url, sizeof opts.pg_url, "postgresql://%s@127.0.0.1:%s/%s",
                 env_or("HL_PG_USER", "hearlers"), env_or("HL_PG_PORT", "25432"),
                 env_or("HL_PG_DB", "hearlers"));
    if (getenv("HL_MONGO_URI") && *getenv("HL_MONGO_URI"))
        snprintf(opts.mongo_uri, sizeof opts.mongo_uri, "%s", getenv("HL_MONGO_URI"));
    else
        snprintf(opts.mongo_uri, sizeof opts.mongo_uri, "mongodb://127.0.0.1:%s/",
                 env_or("HL_MONGO_PORT", "27027"));
    snprintf(opts.mongo_db, sizeof opts.mongo_db, "%s", env_or("HL_MONGO_DB", "hearlers_read"));
    snprintf(opts.fortunes_dir, sizeof opts.fortunes_dir, "/usr/share/games/fortunes");
    opts.scale = 1;
    opts.seed = 1;
    opts.clients = 8;
    opts.verify = true;
    opts.progress = isatty(2);
    opts.verify_timeout_s = 3600;
    snprintf(opts.command_server, sizeof opts.command_server, "%s",
             env_or("HL_COMMAND_SERVER_BIN", LG_COMMAND_SERVER));
    bool have_users = false, have_messages = false, have_scale = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *eq = strchr(a, '=');
        const char *v = eq ? eq + 1 : "";
        size_t kl = eq ? (size_t)(eq - a) : strlen(a);
#define IS(name) (kl == strlen(name) && !strncmp(a, name, kl))
        long n = 0;
        if (IS("--help") || IS("-h")) {
            usage(stdout);
            exit(0);
        } else if (IS("--command-url") && eq) {
            snprintf(opts.command_url, sizeof opts.command_url, "%s", v);
        } else if (IS("--query-url") && eq) {
            snprintf(opts.query_url, sizeof opts.query_url, "%s", v);
        } else if (IS("--pg-url") && eq) {
            snprintf(opts.pg_url, sizeof opts.pg_url, "%s", v);
        } else if (IS("--mongo-uri") && eq) {
            snprintf(opts.mongo_uri, sizeof opts.mongo_uri, "%s", v);
        } else if (IS("--mongo-db") && eq && *v) {
            snprintf(opts.mongo_db, sizeof opts.mongo_db, "%s", v);
        } else if (IS("--projector-url") && eq) {
            snprintf(opts.projector_url, sizeof opts.projector_url, "%s", v);
        } else if (IS("--names-dir") && eq) {
            snprintf(opts.names_dir, sizeof opts.names_dir, "%s", v);
        } else if (IS("--fortunes-dir") && eq) {
            snprintf(opts.fortunes_dir, sizeof opts.fortunes_dir, "%s", v);
        } else if (IS("--summary-json") && eq && *v) {
            snprintf(opts.summary_json, sizeof opts.summary_json, "%s", v);
        } else if (IS("--scale") && eq) {
            char *end = NULL;
            errno = 0;
            opts.scale = strtod(v, &end);
            if (errno || end == v || *end || !(opts.scale > 0) || opts.scale > 1000)
                die("--scale wants a number in (0, 1000], not '%s'", v);
            have_scale = true;
        } else if (IS("--users") && eq) {
            if (!parse_long(v, 2, 10000000, &opts.users))
                die("--users wants an integer 2..10000000, not '%s'", v);
            have_users = true;
        } else if (IS("--messages") && eq) {
            if (!parse_long(v, 0, 100000000, &opts.messages))
                die("--messages wants an integer 0..100000000, not '%s'", v);
            have_messages = true;
        } else if (IS("--seed") && eq) {
            char *end = NULL;
            errno = 0;
            unsigned long long s = strtoull(v, &end, 10);
            if (errno || end == v || *end || *v == '-')
                die("--seed wants a non-negative integer, not '%s'", v);
            opts.seed = s;
        } else if (IS("--clients") && eq) {
            if (!parse_long(v, 1, 256, &n))
                die("--clients wants an integer 1..256, not '%s'", v);
            opts.clients = (int)n;
        } else if (IS("--verify-timeout") && eq) {
            if (!parse_long(v, 1, 86400, &n))
                die("--verify-timeout wants seconds 1..86400, not '%s'", v);
            opts.verify_timeout_s = (double)n;
        } else if (IS("--retry-for") && eq) {
            if (!parse_long(v, 1, 3600, &opts.retry_for_s))
                die("--retry-for wants seconds 1..3600, not '%s'", v);
        } else if (IS("--command-server") && eq && *v) {
            snprintf(opts.command_server, sizeof opts.command_server, "%s", v);
        } else if (IS("--session-wait") && eq) {
            if (!parse_long(v, 0, 86400, &opts.session_wait_s))
                die("--session-wait wants seconds 0..86400, not '%s'", v);
        } else if (IS("--verify-scope") && eq) {
            if (!strcmp(v, "all"))
                opts.scope = LG_SCOPE_ALL;
            else if (!strcmp(v, "loadgen"))
                opts.scope = LG_SCOPE_LOADGEN;
            else if (!strcmp(v, "run"))
                opts.scope = LG_SCOPE_RUN;
            else
                die("--verify-scope wants all, loadgen or run, not '%s'", v);
        } else if (IS("--run-tag") && eq) {
            size_t n_ok = strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789");
            if (!*v || v[n_ok] || n_ok > 32)
                die("--run-tag wants 1..32 characters a-z 0-9, not '%s'", v);
            snprintf(opts.run_tag, sizeof opts.run_tag, "%s", v);
        } else if (IS("--no-verify") && !eq) {
            opts.verify = false;
        } else if (IS("--verify-only") && !eq) {
            opts.verify_only = true;
        } else if (IS("--plan-only") && !eq) {
            opts.plan_only = true;
        } else if (IS("--no-progress") && !eq) {
            opts.progress = false;
        } else if (IS("--progress") && !eq) {
            opts.progress = true;
            opts.progress_forced = true;
        } else {
            usage(stderr);
            die("unknown or malformed argument '%s'", a);
        }
#undef IS
    }
    if (have_scale && (have_users || have_messages))
        die("give either --scale or --users/--messages, not both");
    if (have_users != have_messages)
        die("--users and --messages go together");
    if (!have_users) {
        opts.users = lround(1000 * opts.scale);
        opts.messages = lround(20000 * opts.scale);
        if (opts.users < 2)
            opts.users = 2;
    }
    if (opts.verify_only && !opts.verify)
        die("--verify-only and --no-verify exclude each other");
    if (opts.scope == LG_SCOPE_RUN && !opts.run_tag[0])
        die("--verify-scope=run needs --run-tag=TAG (the tag of the run to verify)");
}

/* ---- summary ---- */

static void write_summary(double elapsed, const lg_verify_result_t *vr, bool verified, long errors)
{
    if (!opts.summary_json[0])
        return;
    bson_t d = BSON_INITIALIZER, ops, errs, ph, v, per;
    BSON_APPEND_INT64(&d, "seed", (int64_t)opts.seed);
    BSON_APPEND_DOUBLE(&d, "scale", opts.users / 1000.0);
    BSON_APPEND_INT64(&d, "users", opts.users);
    BSON_APPEND_INT64(&d, "messages", opts.messages);
    BSON_APPEND_INT32(&d, "clients", opts.clients);
    BSON_APPEND_BOOL(&d, "verify_only", opts.verify_only);
    BSON_APPEND_DOUBLE(&d, "elapsed_s", elapsed);
    BSON_APPEND_INT64(&d, "errors", errors);
    BSON_APPEND_DOCUMENT_BEGIN(&d, "ops", &ops);
    for (int k = 0; k < OP_COUNT; k++)
        BSON_APPEND_INT64(&ops, op_names[k], atomic_load(&op_done[k]));
    bson_append_document_end(&d, &ops);
    BSON_APPEND_DOCUMENT_BEGIN(&d, "op_errors", &errs);
    for (int k = 0; k < OP_COUNT; k++)
        BSON_APPEND_INT64(&errs, op_names[k], atomic_load(&op_errors[k]));
    bson_append_document_end(&d, &errs);
    BSON_APPEND_DOCUMENT_BEGIN(&d, "answers", &errs);
    for (int k = 0; k < ANS_COUNT; k++)
        BSON_APPEND_INT64(&errs, ans_names[k], atomic_load(&answers[k]));
    bson_append_document_end(&d, &errs);
    {
        bson_t cs;
        long confirmed = 0;
        for (size_t k = 0; k < plan.nbookings; k++)
            confirmed += plan.bookings[k].confirmed;
        BSON_APPEND_DOCUMENT_BEGIN(&d, "counselling", &cs);
        BSON_APPEND_INT64(&cs, "counsellors", (int64_t)plan.ncounsellors);
        BSON_APPEND_INT64(&cs, "bookings", (int64_t)plan.nbookings);
        BSON_APPEND_INT64(&cs, "confirmed", confirmed);
        BSON_APPEND_INT64(&cs, "sessions_not_ended", atomic_load(&sessions_not_ended));
        bson_append_document_end(&d, &cs);
    }
    BSON_APPEND_ARRAY_BEGIN(&d, "phases", &ph);
    for (int i = 0; i < nphases; i++) {
        bson_t one;
        char idx[16];
        snprintf(idx, sizeof idx, "%d", i);
        BSON_APPEND_DOCUMENT_BEGIN(&ph, idx, &one);
        BSON_APPEND_UTF8(&one, "name", phases[i].name);
        BSON_APPEND_INT64(&one, "ops", phases[i].ops);
        BSON_APPEND_INT64(&one, "errors", phases[i].errors);
        BSON_APPEND_DOUBLE(&one, "seconds", phases[i].seconds);
        BSON_APPEND_DOUBLE(&one, "ops_per_s",
                           phases[i].seconds > 0 ? phases[i].ops / phases[i].seconds : 0.0);
        bson_append_document_end(&ph, &one);
    }
    bson_append_array_end(&d, &ph);
    if (plan.nusers > 0 && plan.nrooms > 0) {
        /* sign-in of the three members of the most rooms (synthetic accounts of this run), so
         * a demo can call the query API as them (bench/demo.sh) */
        size_t *rooms_of = xcalloc(plan.nusers, sizeof *rooms_of), best[3] = {0, 0, 0};
        for (size_t i = 0; i < plan.nrooms; i++)
            for (uint32_t m = 0; m < plan.rooms[i].nmembers; m++)
                rooms_of[plan.rooms[i].members[m]]++;
        bson_t su;
        BSON_APPEND_ARRAY_BEGIN(&d, "sample_users", &su);
        for (int k = 0; k < 3; k++) {
            size_t top = SIZE_MAX;
            for (size_t i = 0; i < plan.nusers; i++) {
                bool taken = false;
                for (int j = 0; j < k; j++)
                    taken = taken || best[j] == i;
                if (!taken && !plan.users[i].logs_out && plan.users[i].id[0] &&
                    (top == SIZE_MAX || rooms_of[i] > rooms_of[top]))
                    top = i;
            }
            if (top == SIZE_MAX)
                break;
            best[k] = top;
            bson_t one;
            char idx[16];
            snprintf(idx, sizeof idx, "%d", k);
            BSON_APPEND_DOCUMENT_BEGIN(&su, idx, &one);
            BSON_APPEND_UTF8(&one, "user_id", plan.users[top].id);
            BSON_APPEND_UTF8(&one, "display_name", plan.users[top].display_name);
            BSON_APPEND_UTF8(&one, "email", plan.users[top].email);
            BSON_APPEND_UTF8(&one, "password", plan.users[top].password);
            BSON_APPEND_INT64(&one, "rooms", (int64_t)rooms_of[top]);
            bson_append_document_end(&su, &one);
        }
        bson_append_array_end(&d, &su);
        free(rooms_of);
    }
    if (verified) {
        BSON_APPEND_INT64(&d, "mismatches", vr->mismatches);
        BSON_APPEND_DOCUMENT_BEGIN(&d, "verify", &v);
        BSON_APPEND_BOOL(&v, "caught_up", vr->caught_up);
        BSON_APPEND_INT32(&v, "passes", vr->passes);
        BSON_APPEND_DOUBLE(&v, "wait_s", vr->wait_s);
        BSON_APPEND_DOUBLE(&v, "verify_s", vr->verify_s);
        BSON_APPEND_DOCUMENT_BEGIN(&v, "mismatches_per_model", &per);
        for (int i = 0; i < vr->nmodels; i++)
            BSON_APPEND_INT64(&per, vr->model[i], vr->model_mismatches[i]);
        bson_append_document_end(&v, &per);
        BSON_APPEND_DOCUMENT_BEGIN(&v, "documents_per_model", &per);
        for (int i = 0; i < vr->nmodels; i++)
            BSON_APPEND_INT64(&per, vr->model[i], vr->model_documents[i]);
        bson_append_document_end(&v, &per);
        bson_append_document_end(&d, &v);
    } else {
        BSON_APPEND_NULL(&d, "mismatches");
    }
    char *json = bson_as_relaxed_extended_json(&d, NULL);
    FILE *f = fopen(opts.summary_json, "w");
    if (!f || fprintf(f, "%s\n", json) < 0 || fclose(f) != 0)
        fprintf(stderr, "hl-loadgen: cannot write %s: %s\n", opts.summary_json, strerror(errno));
    bson_free(json);
    bson_destroy(&d);
}

static void make_nonce(void)
{
    if (opts.run_tag[0]) {
        snprintf(plan.nonce, sizeof plan.nonce, "%s", opts.run_tag);
        return;
    }
    unsigned char b[8] = {0};
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd < 0 || read(fd, b, sizeof b) != (ssize_t)sizeof b) {
        uint64_t x = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
        memcpy(b, &x, sizeof b);
    }
    if (fd >= 0)
        close(fd);
    for (int i = 0; i < 8; i++)
        snprintf(plan.nonce + 2 * i, 3, "%02x", b[i]);
}

/* The verifier's options from the command line; strings are borrowed from opts. */
static lg_verify_opts_t verify_opts(void)
{
    return (lg_verify_opts_t){.pg_url = opts.pg_url,
                              .mongo_uri = opts.mongo_uri,
                              .mongo_db = opts.mongo_db,
                              .projector_url = opts.projector_url,
                              .scope = opts.scope,
                              .run_tag = opts.run_tag[0] ? opts.run_tag : NULL,
                              .timeout_s = opts.verify_timeout_s,
                              .progress = opts.progress};
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    double t0 = now_s();
    long errors = 0;
    bool workload_ok = true;
    if (!opts.verify_only) {
        make_nonce();
        load_names();
        load_fortunes();
        char perr[256];
        if (!lg_plan_make(&plan, opts.seed, (size_t)opts.users, opts.messages, perr, sizeof perr))
            die("%s", perr);
        long nsend = 0, nread = 0;
        for (size_t s = 0; s < plan.nsteps; s++)
            if (plan.steps[s].kind == LG_STEP_SEND)
                nsend++;
            else
                nread++;
        long nprofile = 0, nfinal = 0, ndel = 0, nans = 0, nunblock = 0;
        for (size_t i = 0; i < plan.nusers; i++) {
            nprofile += (plan.users[i].bio != NULL) + plan.users[i].online;
            nfinal += plan.users[i].reads_notifications + plan.users[i].peeks_notifications +
                      (plan.users[i].final_presence != 0) + plan.users[i].logs_out;
        }
        for (size_t k = 0; k < plan.nrequests; k++) {
            ndel += plan.requests[k].deleted_by >= 0;
            nans += plan.requests[k].outcome != LG_OUT_PENDING;
        }
        for (size_t k = 0; k < plan.nblocks; k++)
            nunblock += plan.blocks[k].unblock;
        long nslots = 0, nverified = 0, ndeclines = 0, ncancel = 0, ncomplete = 0;
        for (size_t k = 0; k < plan.ncounsellors; k++) {
            nslots += plan.counsellors[k].nslots;
            nverified += plan.counsellors[k].verified;
        }
        for (size_t k = 0; k < plan.nbookings; k++) {
            const lg_booking_t *b = &plan.bookings[k];
            ndeclines += b->pm != 0;
            ncancel += b->pm == 0 && (b->after == LG_AFTER_CANCEL_CLIENT ||
                                      b->after == LG_AFTER_CANCEL_COUNSELLOR);
            ncomplete += b->pm == 0 && b->after == LG_AFTER_COMPLETE;
        }
        fprintf(stderr,
                "hl-loadgen: counselling: %zu counsellors (%ld verified), %ld slots, %zu "
                "bookings (%ld declining), %ld cancellations, %ld completions\n",
                plan.ncounsellors, nverified, nslots, plan.nbookings, ndeclines, ncancel,
                ncomplete);
        fprintf(
            stderr,
            "hl-loadgen: seed %" PRIu64 ", %ld users, %zu friend requests (%ld answered, %ld "
            "friendships deleted), %zu blocks (%ld lifted), %zu rooms, %ld messages, %ld read "
            "receipts, %d clients; corpora: %zu+%zu first names, %zu last names, %zu fortunes\n",
            opts.seed, opts.users, plan.nrequests, nans, ndel, plan.nblocks, nunblock, plan.nrooms,
            nsend, nread, opts.clients, plan.first_m.n, plan.first_f.n, plan.last.n,
            plan.fortunes.n);
        if (opts.plan_only) {
            printf("plan %016" PRIx64 " users %zu requests %zu blocks %zu rooms %zu messages %ld "
                   "reads %ld counsellors %zu slots %ld bookings %zu\n",
                   lg_plan_digest(&plan), plan.nusers, plan.nrequests, plan.nblocks, plan.nrooms,
                   nsend, nread, plan.ncounsellors, nslots, plan.nbookings);
            return 0;
        }
        curl_global_init(CURL_GLOBAL_DEFAULT);
        workers = xcalloc((size_t)opts.clients, sizeof *workers);
        for (int i = 0; i < opts.clients; i++) {
            workers[i].index = i;
            workers[i].curl = curl_easy_init();
            if (!workers[i].curl)
                die("curl_easy_init failed");
            curl_easy_setopt(workers[i].curl, CURLOPT_WRITEFUNCTION, on_body);
            curl_easy_setopt(workers[i].curl, CURLOPT_WRITEDATA, &workers[i]);
            curl_easy_setopt(workers[i].curl, CURLOPT_TCP_NODELAY, 1L);
            curl_easy_setopt(workers[i].curl, CURLOPT_TIMEOUT, 60L);
            curl_easy_setopt(workers[i].curl, CURLOPT_NOSIGNAL, 1L);
        }
        run_phase("register", plan.nusers, (long)plan.nusers, do_register);
        run_phase("login", plan.nusers, (long)plan.nusers, do_login);
        run_phase("profiles", plan.nusers, nprofile, do_profile);
        if (plan.ncounsellors > 0) {
            if (!plan.users[plan.operator_user].id[0] ||
                !grant_operator(plan.users[plan.operator_user].email))
                die("`%s grant-role %s operator` failed (--command-server=PATH)",
                    opts.command_server, plan.users[plan.operator_user].email);
            counselling_base_s = ((int64_t)time(NULL) / 60 + 1) * 60;
            run_phase("counsellors", plan.ncounsellors, (long)(plan.ncounsellors * 2) + nverified,
                      do_counsellor);
            run_phase("bookings", plan.nbookings, (long)plan.nbookings, do_booking);
            run_phase("cancellations", plan.nbookings, ncancel, do_cancel);
        }
        run_phase("friend-requests", plan.nrequests, (long)plan.nrequests, do_request);
        run_phase("friend-answers", plan.nrequests, nans, do_answer);
        run_phase("unfriend+block", plan.nrequests + plan.nblocks, ndel + (long)plan.nblocks,
                  do_unfriend_or_block);
        run_phase("unblock", plan.nblocks, nunblock, do_unblock);
        run_phase("rooms", plan.nrooms, (long)plan.nrooms, do_room);
        run_phase("conversations", plan.nrooms, nsend + nread, do_conversation);
        if (plan.ncounsellors > 0) {
            session_wait_until = now_s() + (double)opts.session_wait_s;
            run_phase("completions", plan.nbookings, ncomplete * 2, do_complete);
            if (atomic_load(&sessions_not_ended) > 0)
                fprintf(stderr,
                        "hl-loadgen: %ld completions not done: their sessions had not ended "
                        "(--session-wait=SECONDS waits for them)\n",
                        atomic_load(&sessions_not_ended));
        }
        if (opts.verify) {
            /* marking "all" read covers only notifications already projected (documented limit
             * of the notifications read model): clients read them once they are visible */
            lg_verify_opts_t vo = verify_opts();
            char err[512];
            double w0 = now_s();
            if (!lg_wait_caught_up(&vo, opts.verify_timeout_s, err, sizeof err)) {
                /* marking "all" read now would leave later-projected notifications unread (the
                 * documented limit) and the verification would rightly report them */
                fprintf(stderr, "hl-loadgen: %s; notifications are not marked read\n", err);
                skip_notification_reads = true;
            } else {
                fprintf(stderr, "phase %-14s projector caught up after %.1f s\n", "catch-up",
                        now_s() - w0);
            }
        }
        run_phase("notify+logout", plan.nusers, nfinal, do_final);
        for (int k = 0; k < OP_COUNT; k++)
            errors += atomic_load(&op_errors[k]);
        workload_ok = errors == 0;
        for (int i = 0; i < opts.clients; i++) {
            curl_easy_cleanup(workers[i].curl);
            free(workers[i].buf);
        }
        curl_global_cleanup();
        fprintf(stderr, "hl-loadgen: workload done in %.1f s, %ld errors\n", now_s() - t0, errors);
    }
    lg_verify_result_t vr;
    memset(&vr, 0, sizeof vr);
    bool verify_ok = true;
    if (opts.verify) {
        lg_verify_opts_t vo = verify_opts();
        char err[512] = "";
        if (!lg_verify_run(&vo, &vr, err, sizeof err)) {
            fprintf(stderr, "hl-loadgen: verification failed to run: %s\n", err);
            verify_ok = false;
            vr.mismatches = -1;
        } else {
            verify_ok = vr.mismatches == 0;
            printf("verification: %ld mismatches (%d passes, waited %.1f s, compared in %.1f s)\n",
                   vr.mismatches, vr.passes, vr.wait_s, vr.verify_s);
        }
    }
    double elapsed = now_s() - t0;
    write_summary(elapsed, &vr, opts.verify, errors);
    fflush(stdout);
    return workload_ok && verify_ok ? 0 : 1;
}
