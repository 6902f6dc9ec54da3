/* image_pool.c: image-worker threads with a large stack (image_pool.h). */
#include "image_pool.h"

#include "hl/log.h"
#include "hl/mem.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct job {
    struct job *next;
    /* input, owned */
    unsigned char *buf;
    size_t len;
    int64_t max_pixels;
    int sizes[CS_IMAGE_POOL_MAX_SIZES];
    size_t n;
    /* output, owned until the requester takes it */
    bool ok;
    cs_image_format_t format;
    cs_image_rendition_t out[CS_IMAGE_POOL_MAX_SIZES];
    hl_error_t err;
    /* state, under the pool's lock */
    bool started, done, abandoned;
    pthread_cond_t cond; /* done became true (CLOCK_MONOTONIC) */
} job_t;

struct cs_image_pool {
    pthread_mutex_t lock;
    pthread_cond_t work; /* a job was queued, or stop */
    job_t *head, *tail;
    int queued, max_queued;
    bool stop;
    int nthreads;
    pthread_t *threads;
};

static void job_free(job_t *j)
{
    if (!j)
        return;
    free(j->buf);
    cs_image_renditions_free(j->out, j->n);
    pthread_cond_destroy(&j->cond);
    free(j);
}

static void *worker(void *arg)
{
    cs_image_pool_t *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->head && !p->stop)
            pthread_cond_wait(&p->work, &p->lock);
        if (!p->head) /* stop, and the queue is drained */
            break;
        job_t *j = p->head;
        p->head = j->next;
        if (!p->head)
            p->tail = NULL;
        p->queued--;
        j->started = true;
        pthread_mutex_unlock(&p->lock);
        j->ok = cs_image_process(j->buf, j->len, j->max_pixels, j->sizes, j->n, &j->format, j->out,
                                 &j->err);
        free(j->buf); /* not needed any more: free the 5 MiB before the requester wakes */
        j->buf = NULL;
        pthread_mutex_lock(&p->lock);
        j->done = true;
        if (j->abandoned)
            job_free(j); /* its requester gave up waiting: nobody else holds it */
        else
            pthread_cond_signal(&j->cond);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

cs_image_pool_t *cs_image_pool_new(int threads, size_t stack_bytes, int max_queued, hl_error_t *err)
{
    if (threads < 1 || threads > 64) {
        hl_error_set(err, HL_ERR_CONFIG, 0, "image pool: %d threads (1..64)", threads);
        return NULL;
    }
    if (!stack_bytes)
        stack_bytes = CS_IMAGE_POOL_STACK_BYTES;
    if (stack_bytes < PTHREAD_STACK_MIN)
        stack_bytes = PTHREAD_STACK_MIN;
    cs_image_pool_t *p = hl_xcalloc(1, sizeof *p);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work, NULL);
    p->max_queued = max_queued > 0 ? max_queued : 4 * threads;
    p->threads = hl_xcalloc((size_t)threads, sizeof *p->threads);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    int rc = pthread_attr_setstacksize(&attr, stack_bytes);
    for (int i = 0; rc == 0 && i < threads; i++) {
        rc = pthread_create(&p->threads[i], &attr, worker, p);
        if (rc == 0)
            p->nthreads++;
    }
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        hl_error_set(err, HL_ERR_SYSTEM, rc,
                     "image pool: starting a thread with a %zu-byte stack: %s", stack_bytes,
                     strerror(rc));
        cs_image_pool_destroy(p);
        return NULL;
    }
    HL_INFO("image pool: %d thread(s) with %zu KiB stacks, up to %d upload(s) queued", p->nthreads,
            stack_bytes / 1024, p->max_queued);
    return p;
}

void cs_image_pool_destroy(cs_image_pool_t *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    /* Threads that never started leave queued jobs only when none started at all. */
    while (p->head) {
        job_t *j = p->head;
        p->head = j->next;
        job_free(j);
    }
    free(p->threads);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

static void deadline_after(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Take j out of the queue (it has not started). Under the lock. */
static void unqueue(cs_image_pool_t *p, job_t *j)
{
    job_t **at = &p->head, *prev = NULL;
    while (*at && *at != j) {
        prev = *at;
        at = &(*at)->next;
    }
    if (!*at)
        return;
    *at = j->next;
    if (p->tail == j)
        p->tail = prev;
    p->queued--;
}

bool cs_image_pool_process(cs_image_pool_t *p, const unsigned char *buf, size_t len,
                           int64_t max_pixels, const int *sizes, size_t n, long timeout_ms,
                           cs_image_format_t *format, cs_image_rendition_t *out, hl_error_t *err)
{
    memset(out, 0, n * sizeof *out);
    *format = CS_IMAGE_UNKNOWN;
    if (n == 0 || n > CS_IMAGE_POOL_MAX_SIZES || timeout_ms <= 0)
        return hl_error_set(err, HL_ERR_SYSTEM, 0, "image pool: %zu renditions, %ld ms", n,
                            timeout_ms);
    job_t *j = hl_xcalloc(1, sizeof *j);
    j->buf = hl_xmalloc(len);
    if (len)
        memcpy(j->buf, buf, len);
    j->len = len;
    j->max_pixels = max_pixels;
    memcpy(j->sizes, sizes, n * sizeof *sizes);
    j->n = n;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->cond, &ca);
    pthread_condattr_destroy(&ca);

    struct timespec deadline;
    deadline_after(&deadline, timeout_ms);
    pthread_mutex_lock(&p->lock);
    if (p->queued >= p->max_queued || p->stop) {
        pthread_mutex_unlock(&p->lock);
        job_free(j);
        return hl_error_set(err, HL_ERR_TIMEOUT, 0,
                            "every image decoder is busy (%d uploads waiting); retry later",
                            p->max_queued);
    }
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    p->queued++;
    pthread_cond_signal(&p->work);
    int rc = 0;
    while (!j->done && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&j->cond, &p->lock, &deadline);
    if (!j->done) {
        bool started = j->started;
        if (!started)
            unqueue(p, j);
        else
            j->abandoned = true; /* the thread frees it when it ends */
        pthread_mutex_unlock(&p->lock);
        if (!started)
            job_free(j);
        HL_WARN("image decode: no result within %ld ms (%s)", timeout_ms,
                started ? "still decoding: abandoned" : "still queued: dropped");
        return hl_error_set(err, HL_ERR_TIMEOUT, 0,
                            "the image was not processed within %ld ms; retry later", timeout_ms);
    }
    pthread_mutex_unlock(&p->lock);
    bool ok = j->ok;
    *format = j->format;
    if (ok) {
        memcpy(out, j->out, n * sizeof *out);
        memset(j->out, 0, sizeof j->out); /* moved to the caller */
    } else {
        *err = j->err;
    }
    job_free(j);
    return ok;
}
