/* watermark_wait.h: read-your-writes waits shared by every request of the query server.
 *
 * A read carrying X-Consistency-Token waits until the `watermarks` read model (maintained by the
 * projector, hl/consistency.h) reaches every watermark of the token. Instead of each waiting
 * worker polling the store, the waits register here and one poller thread reads the distinct
 * open watermark ids of all of them in one `_id $in` find per round (every 5 ms while anything
 * waits, at once when a wait arrives), then wakes the waits it satisfied. 200 reads parked on
 * one unreachable token cost one small find per round, not 200, and hold no store client.
 *
 * The number of concurrent waits is bounded (max_waits): each still occupies an HTTP worker
 * thread, and the query server keeps http_threads - max_waits workers for every other read. A
 * wait beyond the bound is refused at once (the caller answers 503 with Retry-After). */
#ifndef QS_WATERMARK_WAIT_H
#define QS_WATERMARK_WAIT_H

#include "hl/consistency.h"
#include "hl/error.h"

#include <stddef.h>
#include <stdint.h>

struct qs_app;
typedef struct qs_wm_waiter qs_wm_waiter_t;

/* Outcome of qs_wm_wait. */
typedef enum {
    QS_WM_REACHED = 0, /* every watermark reached */
    QS_WM_TIMEOUT,     /* wait_ms passed first (at least one store read was made) */
    QS_WM_BUSY,        /* max_waits waits already in progress: nothing was waited for */
    QS_WM_ERROR,       /* the store failed: err filled (HL_ERR_MONGO) */
} qs_wm_result_t;

/* Start the poller thread. app (borrowed, outlives the waiter) provides the client pool and the
 * alias resolution of `watermarks`; max_waits >= 1. Returns NULL and fills err (HL_ERR_SYSTEM)
 * when the thread cannot start. */
qs_wm_waiter_t *qs_wm_waiter_new(struct qs_app *app, int max_waits, hl_error_t *err);

/* Stop the poller (waits in progress end as QS_WM_TIMEOUT) and free. NULL is ignored. Call after
 * the HTTP server stopped. */
void qs_wm_waiter_destroy(qs_wm_waiter_t *waiter);

/* Block the calling thread until every watermark w[0..n) (n <= HL_CONSISTENCY_MAX_WATERMARKS) is
 * reached or wait_ms (>= 0; 0 = one check) passes. Thread-safe. */
qs_wm_result_t qs_wm_wait(qs_wm_waiter_t *waiter, const hl_watermark_t *w, size_t n,
                          int64_t wait_ms, hl_error_t *err);

/* Waits in progress now (for the metrics gauge and tests). */
int qs_wm_waiting(qs_wm_waiter_t *waiter);

#endif
