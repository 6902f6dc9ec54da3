/* consistency_gate.c: waiting for a consistency token's write to reach the read models.
 *
 * The token (hl/consistency.h) lists watermarks "<input>:<key>" >= version; the projector
 * advances them in the `watermarks` collection after each acknowledged read-model write. The
 * wait itself is shared by all requests (watermark_wait.h). */
#include "consistency_gate.h"
#include "watermark_wait.h"

#include "hl/consistency.h"
#include "hl/log.h"
#include "hl/metrics.h"
#include "hl/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Count one consistency wait by outcome (reached, timeout, error). */
static void count_wait(const char *result)
{
    char labels[48];
    snprintf(labels, sizeof labels, "result=\"%s\"", result);
    hl_metric_add(hl_metric_get(HL_METRIC_COUNTER, "hl_query_consistency_waits_total", labels,
                                "reads carrying X-Consistency-Token, by outcome"),
                  1);
}

bool qs_await_consistency(qs_app_t *app, hl_http_request_t *req, hl_error_t *err)
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
    int64_t t0_us = hl_mono_us();
    switch (qs_wm_wait(app->waiter, w, n, wait_ms, err)) {
    case QS_WM_REACHED:
        count_wait("reached");
        hl_metric_observe_us(
            hl_metric_get(HL_METRIC_HISTOGRAM, "hl_query_projection_lag_seconds", NULL,
                          "how long reads carrying X-Consistency-Token waited for the read "
                          "models to apply their write: the projection lag clients see"),
            hl_mono_us() - t0_us);
        return true;
    case QS_WM_TIMEOUT:
        count_wait("timeout");
        return hl_error_set(err, HL_ERR_TIMEOUT, 0,
                            "the read models have not yet applied the write behind the "
                            "consistency token (waited %lld ms)",
                            wait_ms);
    case QS_WM_BUSY:
        count_wait("busy");
        return hl_error_set(err, HL_ERR_TIMEOUT, 0,
                            "too many reads are waiting for their consistency token; retry");
    case QS_WM_ERROR:
    default:
        count_wait("error");
        return false;
    }
}
