/* consistency.c: waiting for a consistency token's write to reach the read models.
 *
 * The token (hl/consistency.h) lists watermarks "<input>:<key>" >= version; the projector
 * advances them in the `watermarks` collection after each acknowledged read-model write. */
#include "app.h"

#include "hl/consistency.h"
#include "hl/log.h"
#include "hl/metrics.h"
#include "hl/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Mark in done[] the watermarks the read models have reached (watermarks only grow: one that
 * is reached stays reached, so later polls skip it) and return how many are done; -1 on a store
 * error. One _id lookup per open watermark: _id equality is what FerretDB 1.24 pushes down to
 * storage (an $in over the ids scans the whole, ever-growing collection: 24 vs 1.5 ms for three
 * ids at 1.3k watermarks). */
static int reached(qs_app_t *app, mongoc_client_t *client, const hl_watermark_t *w, size_t n,
                   bool *done, hl_error_t *err)
{
    mongoc_collection_t *coll = qs_collection(app, client, "watermarks");
    bson_t opts = BSON_INITIALIZER;
    BSON_APPEND_INT64(&opts, "limit", 1);
    int count = 0;
    for (size_t i = 0; i < n; i++) {
        if (done[i]) {
            count++;
            continue;
        }
        bson_t filter = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&filter, "_id", w[i].id);
        mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
        const bson_t *doc;
        if (mongoc_cursor_next(cur, &doc)) {
            bson_iter_t it;
            if (bson_iter_init_find(&it, doc, "v") &&
                (BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it) ||
                 BSON_ITER_HOLDS_DOUBLE(&it)) &&
                bson_iter_as_int64(&it) >= w[i].version)
                done[i] = true;
        }
        bson_error_t berr;
        bool failed = mongoc_cursor_error(cur, &berr);
        if (failed)
            hl_error_set(err, HL_ERR_MONGO, (int)berr.code, "watermarks: %s", berr.message);
        mongoc_cursor_destroy(cur);
        bson_destroy(&filter);
        if (failed) {
            count = -1;
            break;
        }
        if (!done[i])
            break; /* one open watermark is enough to wait: check the rest next time */
        count++;
    }
    bson_destroy(&opts);
    mongoc_collection_destroy(coll);
    return count;
}

/* Count one consistency wait by outcome (reached, timeout, error). */
static void count_wait(const char *result)
{
    char labels[48];
    snprintf(labels, sizeof labels, "result=\"%s\"", result);
    hl_metric_add(hl_metric_get(HL_METRIC_COUNTER, "hl_query_consistency_waits_total", labels,
                                "reads carrying X-Consistency-Token, by outcome"),
                  1);
}

bool qs_await_consistency(qs_app_t *app, hl_http_request_t *req, mongoc_client_t *client,
                          hl_error_t *err)
{
    const char *text = hl_http_header(req, "X-Consistency-Token");
    if (!text)
        return true;
    hl_watermark_t w[HL_CONSISTENCY_MAX_WATERMARKS];
    size_t n = 0;
    if (!hl_consistency_token_parse(&app->consistency_key, text, w, &n, err))
        return false;
    long long wait_ms = app->cfg.consistency_default_wait_ms;
    const char *hdr = hl_http_header(req, "X-Consistency-Wait-Ms");
    if (hdr) {
        char *end = NULL;
        wait_ms = strtoll(hdr, &end, 10);
        if (!*hdr || *end || wait_ms < 0 || wait_ms > app->cfg.consistency_max_wait_ms)
            return hl_error_set_reason(err, HL_ERR_INPUT, 400, "invalid-consistency-wait",
                                       "X-Consistency-Wait-Ms must be 0..%lld",
                                       app->cfg.consistency_max_wait_ms);
    }
    bool done[HL_CONSISTENCY_MAX_WATERMARKS] = {false};
    int64_t t0 = hl_mono_ms(), deadline = t0 + wait_ms, t0_us = hl_mono_us();
    long step = 2;
    for (;;) {
        int got = reached(app, client, w, n, done, err);
        if (got < 0) {
            count_wait("error");
            return false;
        }
        if ((size_t)got == n) {
            count_wait("reached");
            hl_metric_observe_us(
                hl_metric_get(HL_METRIC_HISTOGRAM, "hl_query_projection_lag_seconds", NULL,
                              "how long reads carrying X-Consistency-Token waited for the read "
                              "models to apply their write: the projection lag clients see"),
                hl_mono_us() - t0_us);
            return true;
        }
        if (hl_mono_ms() >= deadline) {
            count_wait("timeout");
            return hl_error_set(err, HL_ERR_TIMEOUT, 0,
                                "the read models have not yet applied the write behind the "
                                "consistency token (waited %lld ms)",
                                wait_ms);
        }
        struct timespec ts = {0, step * 1000000L};
        nanosleep(&ts, NULL);
        step = step * 2 < 25 ? step * 2 : 25; /* one store query per step */
    }
}
