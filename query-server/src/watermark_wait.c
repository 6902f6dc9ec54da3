/* watermark_wait.c: one poller thread serves every read-your-writes wait (watermark_wait.h). */
#include "watermark_wait.h"

#include "read_store.h"

#include "hl/assert.h"
#include "hl/log.h"
#include "hl/mem.h"
#include "hl/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLL_INTERVAL_MS 5
/* After its deadline a wait that has not seen one store read yet waits this long for one. */
#define FIRST_READ_GRACE_MS 1000
/* Distinct ids read per round: every open watermark of max_waits waits at most. */
#define ROUND_IDS_MAX (512 * HL_CONSISTENCY_MAX_WATERMARKS)

typedef struct wait_entry {
    const hl_watermark_t *w;
    size_t n;
    bool done[HL_CONSISTENCY_MAX_WATERMARKS];
    unsigned rounds; /* store reads completed since the wait registered */
    bool finished;   /* all done, or failed */
    bool failed;
    hl_error_t err;
    pthread_cond_t cond;
    struct wait_entry *prev, *next;
} wait_entry_t;

struct qs_wm_waiter {
    qs_app_t *app;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* a wait arrived, or stop */
    wait_entry_t *head;
    int nwaits, max_waits;
    bool stop;
    pthread_t thread;
    /* Poller-only scratch: this round's distinct ids and the versions read. */
    const char **ids;
    int64_t *versions;
};

static void timespec_in_ms(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void unlink_entry(qs_wm_waiter_t *q, wait_entry_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        q->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    e->prev = e->next = NULL;
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Collect the distinct open watermark ids of every registered wait into q->ids (sorted, copies
 * owned by the caller: freed with free_ids). Called with the lock held. */
static size_t collect_ids(qs_wm_waiter_t *q)
{
    size_t n = 0;
    for (wait_entry_t *e = q->head; e; e = e->next)
        for (size_t i = 0; i < e->n && n < ROUND_IDS_MAX; i++)
            if (!e->done[i])
                q->ids[n++] = e->w[i].id;
    qsort(q->ids, n, sizeof q->ids[0], cmp_id);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || strcmp(q->ids[u - 1], q->ids[i]) != 0)
            q->ids[u++] = q->ids[i];
    /* The entries (and so the strings) may go away once the lock is released: copy them. */
    for (size_t i = 0; i < u; i++)
        q->ids[i] = hl_xstrdup(q->ids[i]);
    return u;
}

static void free_ids(qs_wm_waiter_t *q, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free((char *)q->ids[i]);
}

/* Read the current version of ids[0..n) into versions[] (-1: no watermark yet). */
static bool read_versions(qs_wm_waiter_t *q, size_t n, hl_error_t *err)
{
    for (size_t i = 0; i < n; i++)
        q->versions[i] = -1;
    qs_ctx_t ctx = {.app = q->app, .client = qs_client_acquire(q->app)};
    bson_t projection = BSON_INITIALIZER;
    BSON_APPEND_INT32(&projection, "v", 1);
    qs_docs_t docs = {0};
    bool ok = qs_find_ids(&ctx, "watermarks", q->ids, n, &projection, &docs, err);
    for (size_t d = 0; ok && d < docs.n; d++) {
        const char *id = qs_doc_string(docs.docs[d], "_id", NULL);
        bson_iter_t it;
        if (!id || !bson_iter_init_find(&it, docs.docs[d], "v") ||
            !(BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it) ||
              BSON_ITER_HOLDS_DOUBLE(&it)))
            continue;
        const char **hit = bsearch(&id, q->ids, n, sizeof q->ids[0], cmp_id);
        if (hit)
            q->versions[hit - q->ids] = bson_iter_as_int64(&it);
    }
    qs_docs_free(&docs);
    bson_destroy(&projection);
    qs_client_release(q->app, ctx.client);
    return ok;
}

/* Apply one round's versions (or its error) to every registered wait. Lock held. */
static void settle(qs_wm_waiter_t *q, size_t n, bool ok, const hl_error_t *err)
{
    for (wait_entry_t *e = q->head, *next; e; e = next) {
        next = e->next;
        e->rounds++;
        size_t ndone = 0;
        for (size_t i = 0; ok && i < e->n; i++) {
            if (!e->done[i]) {
                const char *id = e->w[i].id;
                const char **hit = bsearch(&id, q->ids, n, sizeof q->ids[0], cmp_id);
                if (hit && q->versions[hit - q->ids] >= e->w[i].version)
                    e->done[i] = true;
            }
            ndone += e->done[i];
        }
        if (!ok) {
            e->failed = true;
            e->err = *err;
        }
        if (!ok || ndone == e->n) {
            e->finished = true;
            unlink_entry(q, e);
        }
        pthread_cond_signal(&e->cond);
    }
}

static void *poller_main(void *arg)
{
    qs_wm_waiter_t *q = arg;
    pthread_mutex_lock(&q->lock);
    while (!q->stop) {
        if (!q->head) {
            pthread_cond_wait(&q->wake, &q->lock);
            continue;
        }
        size_t n = collect_ids(q);
        pthread_mutex_unlock(&q->lock);
        hl_error_t err = {0};
        bool ok = read_versions(q, n, &err);
        if (!ok)
            HL_WARN("consistency waits: reading watermarks failed: %s", err.message);
        pthread_mutex_lock(&q->lock);
        settle(q, n, ok, &err);
        free_ids(q, n);
        if (q->head && !q->stop) {
            struct timespec ts;
            timespec_in_ms(&ts, POLL_INTERVAL_MS);
            pthread_cond_timedwait(&q->wake, &q->lock, &ts);
        }
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

static bool cond_init_monotonic(pthread_cond_t *c)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        return false;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    bool ok = pthread_cond_init(c, &attr) == 0;
    pthread_condattr_destroy(&attr);
    return ok;
}

qs_wm_waiter_t *qs_wm_waiter_new(struct qs_app *app, int max_waits, hl_error_t *err)
{
    if (max_waits < 1) {
        hl_error_set(err, HL_ERR_CONFIG, 0, "max_waits must be >= 1");
        return NULL;
    }
    qs_wm_waiter_t *q = hl_xcalloc(1, sizeof *q);
    q->app = app;
    q->max_waits = max_waits;
    q->ids = hl_xcalloc(ROUND_IDS_MAX, sizeof *q->ids);
    q->versions = hl_xcalloc(ROUND_IDS_MAX, sizeof *q->versions);
    pthread_mutex_init(&q->lock, NULL);
    if (!cond_init_monotonic(&q->wake))
        goto fail;
    if (pthread_create(&q->thread, NULL, poller_main, q) != 0) {
        pthread_cond_destroy(&q->wake);
        goto fail;
    }
    return q;
fail:
    free(q->ids);
    free(q->versions);
    free(q);
    hl_error_set(err, HL_ERR_SYSTEM, 0, "cannot start the consistency-wait poller");
    return NULL;
}

void qs_wm_waiter_destroy(qs_wm_waiter_t *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->lock);
    q->stop = true;
    pthread_cond_broadcast(&q->wake);
    for (wait_entry_t *e = q->head; e; e = e->next)
        pthread_cond_signal(&e->cond);
    pthread_mutex_unlock(&q->lock);
    pthread_join(q->thread, NULL);
    pthread_cond_destroy(&q->wake);
    pthread_mutex_destroy(&q->lock);
    free(q->ids);
    free(q->versions);
    free(q);
}

int qs_wm_waiting(qs_wm_waiter_t *q)
{
    pthread_mutex_lock(&q->lock);
    int n = q->nwaits;
    pthread_mutex_unlock(&q->lock);
    return n;
}

qs_wm_result_t qs_wm_wait(qs_wm_waiter_t *q, const hl_watermark_t *w, size_t n, int64_t wait_ms,
                          hl_error_t *err)
{
    if (n == 0)
        return QS_WM_REACHED;
    /* hl_consistency_token_parse refuses a token with more (a 400): a larger n here is a
     * caller's bug, and clamping it would wait for only part of the token */
    HL_ASSERT(n <= HL_CONSISTENCY_MAX_WATERMARKS);
    wait_entry_t e = {.w = w, .n = n};
    if (!cond_init_monotonic(&e.cond)) {
        hl_error_set(err, HL_ERR_SYSTEM, 0, "out of resources for a consistency wait");
        return QS_WM_ERROR;
    }
    qs_wm_result_t result = QS_WM_TIMEOUT;
    pthread_mutex_lock(&q->lock);
    if (q->nwaits >= q->max_waits || q->stop) {
        pthread_mutex_unlock(&q->lock);
        pthread_cond_destroy(&e.cond);
        return QS_WM_BUSY;
    }
    q->nwaits++;
    e.next = q->head;
    if (q->head)
        q->head->prev = &e;
    q->head = &e;
    pthread_cond_signal(&q->wake);
    struct timespec deadline, grace;
    timespec_in_ms(&deadline, wait_ms);
    timespec_in_ms(&grace, wait_ms + FIRST_READ_GRACE_MS);
    while (!e.finished && !q->stop) {
        /* Past the deadline, wait on only for the first store read (wait_ms 0 = one check). */
        if (pthread_cond_timedwait(&e.cond, &q->lock, e.rounds ? &deadline : &grace) == ETIMEDOUT)
            break;
    }
    if (!e.finished)
        unlink_entry(q, &e);
    q->nwaits--;
    pthread_mutex_unlock(&q->lock);
    if (e.failed) {
        *err = e.err;
        result = QS_WM_ERROR;
    } else if (e.finished) {
        result = QS_WM_REACHED;
    }
    pthread_cond_destroy(&e.cond);
    return result;
}
