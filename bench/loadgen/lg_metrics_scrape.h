/* lg_metrics_scrape.h: one sample from a server's Prometheus /metrics, for the load generator's
 * catch-up wait (the projector's hl_projector_offsets_behind). Text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/): one sample per line,
 * "name value [timestamp]", or "name{labels} value" for labelled series; "#" lines are comments. */
#ifndef LG_METRICS_SCRAPE_H
#define LG_METRICS_SCRAPE_H

#include <stdbool.h>

/* The value of the first unlabelled sample of metric name (a line "name value…") in the
 * NUL-terminated exposition text into *out. false when no such line exists (labelled series,
 * comments and other metrics whose name merely starts with name do not count) or its value is
 * not a number. */
bool lg_metrics_sample(const char *text, const char *name, double *out);

/* GET <base_url>/metrics (libcurl, 10 s timeout; curl_global_init is the caller's) and the value
 * of name's unlabelled sample, truncated to a long. -1 when base_url is NULL or empty, the
 * server does not answer, or the sample is absent. */
long lg_metrics_scrape_long(const char *base_url, const char *name);

#endif
