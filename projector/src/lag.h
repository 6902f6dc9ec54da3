/* lag.h: projection lag: source time (event or commit) to applied, as Prometheus series
 * and as the last value per projection for /readyz. */
#ifndef PJ_LAG_H
#define PJ_LAG_H

#include "routes.h"

#include <stdint.h>

/* Register the projections whose last lag pj_last_lag_ms reports (routes: the table of
 * routes.h, terminated by {NULL, NULL}, borrowed for the process; at most 32). Call once at
 * start, before any pj_observe_lag. */
void pj_lag_init(const pj_route_t *routes);

/* Record the lag of a projection: now - source_ms (event or commit time, ms since epoch). */
void pj_observe_lag(const char *projection, int64_t source_ms);

/* The lag pj_observe_lag last recorded for projection, ms; -1 when none yet (or projection
 * not among pj_lag_init's). Thread-safe. */
int64_t pj_last_lag_ms(const char *projection);

#endif
