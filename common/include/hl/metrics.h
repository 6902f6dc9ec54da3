/* hl/metrics.h: a small Prometheus metrics registry (text exposition format 0.0.4).
 *
 * Series are identified by name + label text (e.g. name "hl_http_requests_total", labels
 * "route=\"/v1/users\",status=\"201\""). Lookup-or-create takes a mutex; updates are atomic.
 * Gauges whose value is computed at scrape time are registered as collectors. Series live until
 * process exit. */
#ifndef HL_METRICS_H
#define HL_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct hl_metric hl_metric_t;

typedef enum { HL_METRIC_COUNTER, HL_METRIC_GAUGE, HL_METRIC_HISTOGRAM } hl_metric_kind_t;

/* Find or create the series (name, labels). labels may be NULL or "" for none; both strings are
 * copied. help is used the first time name is seen. Never returns NULL (aborts on OOM). */
hl_metric_t *hl_metric_get(hl_metric_kind_t kind, const char *name, const char *labels,
                           const char *help);

/* Counter: add v (>= 0). Gauge: add v (may be negative). */
void hl_metric_add(hl_metric_t *m, int64_t v);

/* Gauge: set to v. */
void hl_metric_set(hl_metric_t *m, int64_t v);

/* Histogram: record one observation in microseconds; exposed in seconds with fixed buckets from
 * 0.5 ms to 10 s. */
void hl_metric_observe_us(hl_metric_t *m, int64_t us);

/* A collector appends exposition text for values computed at scrape time. It writes at most
 * cap bytes into buf and returns the byte count. */
typedef size_t (*hl_metrics_collector_fn)(char *buf, size_t cap, void *ctx);

/* Register a collector (ctx is borrowed and must outlive the process's scrapes). */
void hl_metrics_add_collector(hl_metrics_collector_fn fn, void *ctx);

/* Render every series and collector. Returns a malloc'd NUL-terminated string the caller frees,
 * *len (may be NULL) gets its length. */
char *hl_metrics_render(size_t *len);

#endif
