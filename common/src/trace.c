/* trace.c: spans, W3C traceparent, and the OTLP/HTTP JSON exporter thread (hl/trace.h). */
#include "hl/trace.h"

#include "hl/log.h"
#include "hl/mem.h"
#include "hl/metrics.h"
#include "hl/util.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Spans sent in one request at most, and how long a partial batch waits. */
#define BATCH_MAX      256
#define BATCH_WAIT_MS  500
#define EXPORT_TIMEOUT 3000 /* ms per request */

typedef struct {
    const char *service;
    char url[512];
    uint64_t sample_bound; /* sampled when the id's low 63 bits are below it */
    bool exporting;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake, idle;
    hl_span_t *queue; /* ring of cap spans */
    size_t cap, head, len;
    bool stopping, busy;
    int stop_timeout_ms;
    hl_metric_t *m_queued, *m_exported, *m_drop_full, *m_drop_failed;
    atomic_llong queued, exported, drop_full, drop_failed;
} tracer_t;

static tracer_t g_tr = {.lock = PTHREAD_MUTEX_INITIALIZER,
                        .wake = PTHREAD_COND_INITIALIZER,
                        .idle = PTHREAD_COND_INITIALIZER,
                        .sample_bound = UINT64_MAX};

static _Thread_local hl_span_t *t_current;

int64_t hl_trace_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static bool all_zero(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != '0')
            return false;
    return true;
}

bool hl_trace_parse(const char *tp, hl_trace_ctx_t *out)
{
    if (!tp || strlen(tp) != HL_TRACE_PARENT_LEN || strncmp(tp, "00-", 3) != 0 || tp[35] != '-' ||
        tp[52] != '-' || !is_hex(tp + 3, 32) || !is_hex(tp + 36, 16) || !is_hex(tp + 53, 2) ||
        all_zero(tp + 3, 32) || all_zero(tp + 36, 16))
        return false;
    memcpy(out->trace_id, tp + 3, 32);
    out->trace_id[32] = '\0';
    memcpy(out->span_id, tp + 36, 16);
    out->span_id[16] = '\0';
    unsigned flags = (unsigned)strtoul(tp + 53, NULL, 16);
    out->sampled = flags & 1u;
    return true;
}

void hl_trace_format(const hl_trace_ctx_t *ctx, char out[HL_TRACE_PARENT_LEN + 1])
{
    snprintf(out, HL_TRACE_PARENT_LEN + 1, "00-%s-%s-%s", ctx->trace_id, ctx->span_id,
             ctx->sampled ? "01" : "00");
}

/* TraceIdRatioBased: the last 16 hex digits as an unsigned number, top bit cleared, below
 * ratio * 2^63. */
static bool sample_root(const char *trace_id)
{
    if (g_tr.sample_bound == UINT64_MAX)
        return true;
    uint64_t v = strtoull(trace_id + 16, NULL, 16) & 0x7fffffffffffffffull;
    return v < g_tr.sample_bound;
}

static void copy_trunc(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

void hl_span_start(hl_span_t *s, const char *name, hl_span_kind_t kind,
                   const hl_trace_ctx_t *parent, int64_t start_ns)
{
    s->nattrs = 0;
    s->status = 0;
    s->status_message[0] = '\0';
    s->current = false;
    s->prev = NULL;
    s->end_ns = 0;
    s->kind = kind;
    copy_trunc(s->name, sizeof s->name, name);
    if (parent) {
        memcpy(s->ctx.trace_id, parent->trace_id, sizeof s->ctx.trace_id);
        memcpy(s->parent_span_id, parent->span_id, sizeof s->parent_span_id);
        s->ctx.sampled = parent->sampled;
    } else {
        do
            hl_random_hex(s->ctx.trace_id, 16);
        while (all_zero(s->ctx.trace_id, 32));
        s->parent_span_id[0] = '\0';
        s->ctx.sampled = sample_root(s->ctx.trace_id);
    }
    do
        hl_random_hex(s->ctx.span_id, 8);
    while (all_zero(s->ctx.span_id, 16));
    s->recording = s->ctx.sampled && g_tr.exporting;
    s->start_ns = start_ns ? start_ns : hl_trace_now_ns();
}

void hl_span_start_child(hl_span_t *s, const char *name, hl_span_kind_t kind)
{
    hl_span_start(s, name, kind, t_current ? &t_current->ctx : NULL, 0);
}

static void *next_attr(hl_span_t *s, const char *key)
{
    if (!s->recording || s->nattrs >= HL_SPAN_ATTRS_MAX)
        return NULL;
    copy_trunc(s->attrs[s->nattrs].key, sizeof s->attrs[s->nattrs].key, key);
    return &s->attrs[s->nattrs++];
}

void hl_span_attr_str(hl_span_t *s, const char *key, const char *value)
{
    if (!next_attr(s, key))
        return;
    s->attrs[s->nattrs - 1].is_int = false;
    copy_trunc(s->attrs[s->nattrs - 1].s, sizeof s->attrs[0].s, value);
}

void hl_span_attr_int(hl_span_t *s, const char *key, int64_t value)
{
    if (!next_attr(s, key))
        return;
    s->attrs[s->nattrs - 1].is_int = true;
    s->attrs[s->nattrs - 1].i = value;
}

void hl_span_error(hl_span_t *s, const char *message)
{
    s->status = 2;
    copy_trunc(s->status_message, sizeof s->status_message, message);
}

void hl_span_make_current(hl_span_t *s)
{
    s->prev = t_current;
    s->current = true;
    t_current = s;
    hl_log_set_trace_id(s->ctx.trace_id);
}

const hl_trace_ctx_t *hl_trace_current(void)
{
    return t_current ? &t_current->ctx : NULL;
}

void hl_span_end(hl_span_t *s, int64_t end_ns)
{
    s->end_ns = end_ns ? end_ns : hl_trace_now_ns();
    if (s->end_ns < s->start_ns)
        s->end_ns = s->start_ns;
    if (s->current && t_current == s) {
        t_current = s->prev;
        hl_log_set_trace_id(t_current ? t_current->ctx.trace_id : NULL);
        s->current = false;
    }
    if (!s->recording)
        return;
    s->recording = false;
    bool queued = false, stopping;
    pthread_mutex_lock(&g_tr.lock);
    stopping = !g_tr.exporting || g_tr.stopping;
    if (!stopping && g_tr.len < g_tr.cap) {
        g_tr.queue[(g_tr.head + g_tr.len) % g_tr.cap] = *s;
        g_tr.len++;
        queued = true;
        if (g_tr.len >= BATCH_MAX)
            pthread_cond_signal(&g_tr.wake);
    }
    pthread_mutex_unlock(&g_tr.lock);
    if (queued) {
        atomic_fetch_add(&g_tr.queued, 1);
        hl_metric_add(g_tr.m_queued, 1);
    } else if (!stopping) {
        atomic_fetch_add(&g_tr.drop_full, 1);
        hl_metric_add(g_tr.m_drop_full, 1);
    }
}

void hl_trace_stats(hl_trace_stats_t *out)
{
    out->queued = atomic_load(&g_tr.queued);
    out->exported = atomic_load(&g_tr.exported);
    out->dropped_queue_full = atomic_load(&g_tr.drop_full);
    out->dropped_export_failed = atomic_load(&g_tr.drop_failed);
}

/* ---- OTLP/JSON encoding ---- */

typedef struct {
    char *p;
    size_t len, cap;
} buf_t;

static void buf_put(buf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (b->len + n + 1 > cap)
            cap *= 2;
        b->p = hl_xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_str(buf_t *b, const char *s)
{
    buf_put(b, s, strlen(s));
}

/* s as a JSON string with quotes (RFC 8259 escapes; bytes >= 0x80 pass through). */
static void buf_json(buf_t *b, const char *s)
{
    buf_put(b, "\"", 1);
    for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
        char esc[8];
        if (*q == '"' || *q == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*q;
            buf_put(b, esc, 2);
        } else if (*q < 0x20) {
            int n = snprintf(esc, sizeof esc, "\\u%04x", *q);
            buf_put(b, esc, (size_t)n);
        } else {
            buf_put(b, (const char *)q, 1);
        }
    }
    buf_put(b, "\"", 1);
}

static void encode_span(buf_t *b, const hl_span_t *s)
{
    char num[64];
    buf_str(b, "{\"traceId\":\"");
    buf_str(b, s->ctx.trace_id);
    buf_str(b, "\",\"spanId\":\"");
    buf_str(b, s->ctx.span_id);
    buf_str(b, "\"");
    if (s->parent_span_id[0]) {
        buf_str(b, ",\"parentSpanId\":\"");
        buf_str(b, s->parent_span_id);
        buf_str(b, "\"");
    }
    buf_str(b, ",\"name\":");
    buf_json(b, s->name);
    snprintf(num, sizeof num, ",\"kind\":%d", (int)s->kind);
    buf_str(b, num);
    snprintf(num, sizeof num, ",\"startTimeUnixNano\":\"%lld\"", (long long)s->start_ns);
    buf_str(b, num);
    snprintf(num, sizeof num, ",\"endTimeUnixNano\":\"%lld\"", (long long)s->end_ns);
    buf_str(b, num);
    buf_str(b, ",\"attributes\":[");
    for (size_t i = 0; i < s->nattrs; i++) {
        if (i)
            buf_str(b, ",");
        buf_str(b, "{\"key\":");
        buf_json(b, s->attrs[i].key);
        if (s->attrs[i].is_int) {
            snprintf(num, sizeof num, ",\"value\":{\"intValue\":\"%lld\"}}",
                     (long long)s->attrs[i].i);
            buf_str(b, num);
        } else {
            buf_str(b, ",\"value\":{\"stringValue\":");
            buf_json(b, s->attrs[i].s);
            buf_str(b, "}}");
        }
    }
    buf_str(b, "]");
    if (s->status) {
        snprintf(num, sizeof num, ",\"status\":{\"code\":%d,\"message\":", s->status);
        buf_str(b, num);
        buf_json(b, s->status_message);
        buf_str(b, "}");
    }
    buf_str(b, "}");
}

static void encode_batch(buf_t *b, const hl_span_t *spans, size_t n)
{
    b->len = 0;
    buf_str(b, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
               "\"value\":{\"stringValue\":");
    buf_json(b, g_tr.service);
    buf_str(b, "}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"hearlers\"},\"spans\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_str(b, ",");
        encode_span(b, &spans[i]);
    }
    buf_str(b, "]}]}]}");
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * nmemb;
}

static bool post(CURL *curl, const buf_t *b, char *why, size_t why_cap)
{
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, b->p);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)b->len);
    CURLcode rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
        snprintf(why, why_cap, "%s", curl_easy_strerror(rc));
        return false;
    }
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        snprintf(why, why_cap, "HTTP %ld", status);
        return false;
    }
    return true;
}

static void *exporter_main(void *arg)
{
    (void)arg;
    CURL *curl = curl_easy_init();
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    if (curl) {
        curl_easy_setopt(curl, CURLOPT_URL, g_tr.url);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)EXPORT_TIMEOUT);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    }
    hl_span_t *batch = hl_xmalloc(BATCH_MAX * sizeof *batch);
    buf_t body = {0};
    int64_t failing_since = 0;
    for (;;) {
        pthread_mutex_lock(&g_tr.lock);
        if (!g_tr.stopping && g_tr.len < BATCH_MAX) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += BATCH_WAIT_MS * 1000000L;
            until.tv_sec += until.tv_nsec / 1000000000L;
            until.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&g_tr.wake, &g_tr.lock, &until);
        }
        size_t n = g_tr.len < BATCH_MAX ? g_tr.len : BATCH_MAX;
        for (size_t i = 0; i < n; i++)
            batch[i] = g_tr.queue[(g_tr.head + i) % g_tr.cap];
        g_tr.head = (g_tr.head + n) % g_tr.cap;
        g_tr.len -= n;
        bool stop = g_tr.stopping && (g_tr.len == 0 || !n);
        g_tr.busy = n > 0;
        pthread_mutex_unlock(&g_tr.lock);
        if (n) {
            char why[256] = "no curl handle";
            encode_batch(&body, batch, n);
            if (curl && post(curl, &body, why, sizeof why)) {
                atomic_fetch_add(&g_tr.exported, (long long)n);
                hl_metric_add(g_tr.m_exported, (int64_t)n);
                if (failing_since)
                    HL_INFO("trace export to %s works again", g_tr.url);
                failing_since = 0;
            } else {
                atomic_fetch_add(&g_tr.drop_failed, (long long)n);
                hl_metric_add(g_tr.m_drop_failed, (int64_t)n);
                /* One line when the collector goes away, not one per batch. */
                if (!failing_since) {
                    failing_since = hl_mono_us();
                    HL_WARN("trace export to %s failed (%s): dropping spans until it answers",
                            g_tr.url, why);
                }
            }
        }
        pthread_mutex_lock(&g_tr.lock);
        g_tr.busy = false;
        pthread_cond_broadcast(&g_tr.idle);
        pthread_mutex_unlock(&g_tr.lock);
        if (stop)
            break;
    }
    free(body.p);
    free(batch);
    curl_slist_free_all(hdrs);
    if (curl)
        curl_easy_cleanup(curl);
    return NULL;
}

static bool env_double(const char *name, double def, double lo, double hi, double *out,
                       hl_error_t *err)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        *out = def;
        return true;
    }
    char *end = NULL;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || !end || *end || isnan(d) || d < lo || d > hi)
        return hl_error_set(err, HL_ERR_CONFIG, 0, "%s must be a number in [%g, %g], not '%s'",
                            name, lo, hi, v);
    *out = d;
    return true;
}

static void shutdown_at_exit(void)
{
    hl_trace_shutdown(2000);
}

bool hl_trace_init(const char *service, hl_error_t *err)
{
    static bool initialised;
    if (initialised)
        return true;
    g_tr.service = service;
    double ratio = 1.0, qcap = 4096;
    if (!env_double("HL_TRACE_SAMPLE", 1.0, 0.0, 1.0, &ratio, err) ||
        !env_double("HL_TRACE_QUEUE", 4096, 16, 1048576, &qcap, err))
        return false;
    g_tr.sample_bound = ratio >= 1.0 ? UINT64_MAX : (uint64_t)(ratio * 9223372036854775808.0);
    const char *endpoint = getenv("HL_OTLP_ENDPOINT");
    g_tr.m_queued = hl_metric_get(HL_METRIC_COUNTER, "hl_trace_spans_queued_total", NULL,
                                  "Finished spans queued for OTLP export");
    g_tr.m_exported = hl_metric_get(HL_METRIC_COUNTER, "hl_trace_spans_exported_total", NULL,
                                    "Spans the OTLP receiver accepted");
    g_tr.m_drop_full =
        hl_metric_get(HL_METRIC_COUNTER, "hl_trace_spans_dropped_total", "reason=\"queue_full\"",
                      "Spans dropped instead of blocking: export queue full, or the OTLP "
                      "receiver failed or did not answer");
    g_tr.m_drop_failed = hl_metric_get(HL_METRIC_COUNTER, "hl_trace_spans_dropped_total",
                                       "reason=\"export_failed\"", NULL);
    if (!endpoint || !*endpoint) {
        HL_INFO("tracing: ids propagated, no export (HL_OTLP_ENDPOINT unset)");
        initialised = true;
        return true;
    }
    size_t el = strlen(endpoint);
    while (el && endpoint[el - 1] == '/')
        el--;
    if (snprintf(g_tr.url, sizeof g_tr.url, "%.*s/v1/traces", (int)el, endpoint) >=
        (int)sizeof g_tr.url)
        return hl_error_set(err, HL_ERR_CONFIG, 0, "HL_OTLP_ENDPOINT is too long");
    g_tr.cap = (size_t)qcap;
    g_tr.queue = hl_xcalloc(g_tr.cap, sizeof *g_tr.queue);
    g_tr.exporting = true;
    if (pthread_create(&g_tr.thread, NULL, exporter_main, NULL) != 0) {
        g_tr.exporting = false;
        free(g_tr.queue);
        g_tr.queue = NULL;
        return hl_error_set(err, HL_ERR_SYSTEM, 0, "cannot start the trace exporter thread");
    }
    initialised = true;
    atexit(shutdown_at_exit);
    HL_INFO("tracing: OTLP/HTTP JSON to %s, sample ratio %g, queue %zu spans", g_tr.url, ratio,
            g_tr.cap);
    return true;
}

void hl_trace_shutdown(int timeout_ms)
{
    if (!g_tr.exporting)
        return;
    int64_t deadline = hl_mono_us() + (int64_t)timeout_ms * 1000;
    pthread_mutex_lock(&g_tr.lock);
    /* Let the thread send what is queued while the deadline allows, then stop it. */
    while ((g_tr.len || g_tr.busy) && hl_mono_us() < deadline) {
        pthread_cond_signal(&g_tr.wake);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 50 * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&g_tr.idle, &g_tr.lock, &until);
    }
    g_tr.stopping = true;
    g_tr.len = 0;
    pthread_cond_signal(&g_tr.wake);
    pthread_mutex_unlock(&g_tr.lock);
    pthread_join(g_tr.thread, NULL);
    pthread_mutex_lock(&g_tr.lock);
    g_tr.exporting = false;
    free(g_tr.queue);
    g_tr.queue = NULL;
    g_tr.cap = 0;
    pthread_mutex_unlock(&g_tr.lock);
}
