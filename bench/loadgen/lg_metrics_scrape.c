/* lg_metrics_scrape.c: one sample from a Prometheus /metrics page (see lg_metrics_scrape.h). */
#include "lg_metrics_scrape.h"

#include <bson/bson.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool lg_metrics_sample(const char *text, const char *name, double *out)
{
    size_t n = strlen(name);
    if (n == 0)
        return false;
    for (const char *line = text; line && *line;) {
        const char *next = strchr(line, '\n');
        if (!strncmp(line, name, n) && line[n] == ' ') {
            char *end = NULL;
            double v = strtod(line + n + 1, &end);
            if (end == line + n + 1)
                return false;
            *out = v;
            return true;
        }
        line = next ? next + 1 : NULL;
    }
    return false;
}

static size_t on_metrics(char *data, size_t size, size_t nmemb, void *ud)
{
    bson_string_t *s = ud;
    bson_string_append_printf(s, "%.*s", (int)(size * nmemb), data);
    return size * nmemb;
}

long lg_metrics_scrape_long(const char *base_url, const char *name)
{
    if (!base_url || !*base_url)
        return -1;
    CURL *c = curl_easy_init();
    if (!c)
        return -1;
    char url[512];
    snprintf(url, sizeof url, "%s/metrics", base_url);
    bson_string_t *s = bson_string_new("");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_metrics);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    long value = -1;
    double v = 0;
    if (curl_easy_perform(c) == CURLE_OK && lg_metrics_sample(s->str, name, &v))
        value = (long)v;
    bson_string_free(s, true);
    curl_easy_cleanup(c);
    return value;
}
