/* lag.c: projection lag metrics (lag.h). */
#include "lag.h"
#include "routes.h"

#include "hl/metrics.h"
#include "hl/util.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Last observed lag per route (index into pj_lag_init's table), for /readyz; -1 = none yet. */
#define MAX_ROUTES 32
static _Atomic int64_t last_lag_ms[MAX_ROUTES] = {0};
static _Atomic int lag_seen[MAX_ROUTES] = {0};

static const pj_route_t *g_routes; /* pj_lag_init's table */

void pj_lag_init(const pj_route_t *routes)
{
    g_routes = routes;
}

static int route_index(const char *projection)
{
    for (int i = 0; g_routes && g_routes[i].topic && i < MAX_ROUTES; i++)
        if (!strcmp(g_routes[i].projection, projection))
            return i;
    return -1;
}

void pj_observe_lag(const char *projection, int64_t source_ms)
{
    char labels[96];
    snprintf(labels, sizeof labels, "projection=\"%s\"", projection);
    int64_t lag_ms = hl_now_us() / 1000 - source_ms;
    if (lag_ms < 0)
        lag_ms = 0;
    int r = route_index(projection);
    if (r >= 0) {
        atomic_store(&last_lag_ms[r], lag_ms);
        atomic_store(&lag_seen[r], 1);
    }
    hl_metric_set(hl_metric_get(HL_METRIC_GAUGE, "hl_projection_lag_ms", labels,
                                "Source time (event or commit) to applied, of the last input, ms"),
                  lag_ms);
    hl_metric_observe_us(hl_metric_get(HL_METRIC_HISTOGRAM, "hl_projection_lag_seconds", labels,
                                       "Source time (event or commit) to applied"),
                         lag_ms * 1000);
}

int64_t pj_last_lag_ms(const char *projection)
{
    int r = route_index(projection);
    return r >= 0 && atomic_load(&lag_seen[r]) ? atomic_load(&last_lag_ms[r]) : -1;
}
