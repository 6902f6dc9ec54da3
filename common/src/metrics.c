#include "hl/metrics.h"

#include "hl/mem.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_BUCKETS 14
static const int64_t bucket_us[N_BUCKETS] = {500,     1000,    2500,    5000,    10000,
                                             25000,   50000,   100000,  250000,  500000,
                                             1000000, 2500000, 5000000, 10000000};

struct hl_metric {
    hl_metric_kind_t kind;
    char *name;
    char *labels;
    char *help;
    _Atomic int64_t value; /* counter/gauge value; histogram: count */
    _Atomic int64_t sum_us;
    _Atomic int64_t buckets[N_BUCKETS];
    struct hl_metric *next;
};

typedef struct collector {
    hl_metrics_collector_fn fn;
    void *ctx;
    struct collector *next;
} collector_t;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static hl_metric_t *registry_head = NULL, *registry_tail = NULL;
static collector_t *collectors = NULL;

static char *xstrdup(const char *s)
{
    char *c = hl_xstrdup(s ? s : "");
    return c;
}

hl_metric_t *hl_metric_get(hl_metric_kind_t kind, const char *name, const char *labels,
                           const char *help)
{
    if (!labels)
        labels = "";
    pthread_mutex_lock(&registry_lock);
    for (hl_metric_t *m = registry_head; m; m = m->next) {
        if (!strcmp(m->name, name) && !strcmp(m->labels, labels)) {
            pthread_mutex_unlock(&registry_lock);
            return m;
        }
    }
    hl_metric_t *m = hl_xcalloc(1, sizeof *m);
    m->kind = kind;
    m->name = xstrdup(name);
    m->labels = xstrdup(labels);
    m->help = xstrdup(help);
    if (registry_tail)
        registry_tail->next = m;
    else
        registry_head = m;
    registry_tail = m;
    pthread_mutex_unlock(&registry_lock);
    return m;
}

void hl_metric_add(hl_metric_t *m, int64_t v)
{
    atomic_fetch_add(&m->value, v);
}

void hl_metric_set(hl_metric_t *m, int64_t v)
{
    atomic_store(&m->value, v);
}

void hl_metric_observe_us(hl_metric_t *m, int64_t us)
{
    atomic_fetch_add(&m->value, 1);
    atomic_fetch_add(&m->sum_us, us);
    for (int i = 0; i < N_BUCKETS; i++)
        if (us <= bucket_us[i])
            atomic_fetch_add(&m->buckets[i], 1);
}

void hl_metrics_add_collector(hl_metrics_collector_fn fn, void *ctx)
{
    collector_t *c = hl_xcalloc(1, sizeof *c);
    c->fn = fn;
    c->ctx = ctx;
    pthread_mutex_lock(&registry_lock);
    c->next = collectors;
    collectors = c;
    pthread_mutex_unlock(&registry_lock);
}

typedef struct {
    char *buf;
    size_t len, cap;
} strbuf_t;

static void sb_printf(strbuf_t *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_reserve(strbuf_t *sb, size_t more)
{
    if (sb->len + more + 1 <= sb->cap)
        return;
    size_t cap = sb->cap ? sb->cap : 4096;
    while (cap < sb->len + more + 1)
        cap *= 2;
    char *nb = hl_xrealloc(sb->buf, cap);
    sb->buf = nb;
    sb->cap = cap;
}

static void sb_printf(strbuf_t *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    sb_reserve(sb, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(sb->buf + sb->len, sb->cap - sb->len, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
}

static const char *kind_text(hl_metric_kind_t k)
{
    return k == HL_METRIC_COUNTER ? "counter" : k == HL_METRIC_GAUGE ? "gauge" : "histogram";
}

static void render_series(strbuf_t *sb, hl_metric_t *m)
{
    const char *sep = m->labels[0] ? "," : "";
    if (m->kind != HL_METRIC_HISTOGRAM) {
        if (m->labels[0])
            sb_printf(sb, "%s{%s} %lld\n", m->name, m->labels, (long long)atomic_load(&m->value));
        else
            sb_printf(sb, "%s %lld\n", m->name, (long long)atomic_load(&m->value));
        return;
    }
    for (int i = 0; i < N_BUCKETS; i++)
        sb_printf(sb, "%s_bucket{%s%sle=\"%g\"} %lld\n", m->name, m->labels, sep,
                  (double)bucket_us[i] / 1e6, (long long)atomic_load(&m->buckets[i]));
    sb_printf(sb, "%s_bucket{%s%sle=\"+Inf\"} %lld\n", m->name, m->labels, sep,
              (long long)atomic_load(&m->value));
    const char *open = m->labels[0] ? "{" : "", *close = m->labels[0] ? "}" : "";
    sb_printf(sb, "%s_sum%s%s%s %.6f\n", m->name, open, m->labels, close,
              (double)atomic_load(&m->sum_us) / 1e6);
    sb_printf(sb, "%s_count%s%s%s %lld\n", m->name, open, m->labels, close,
              (long long)atomic_load(&m->value));
}

char *hl_metrics_render(size_t *len)
{
    strbuf_t sb = {0};
    sb_reserve(&sb, 4096);
    pthread_mutex_lock(&registry_lock);
    for (hl_metric_t *m = registry_head; m; m = m->next) {
        bool first = true;
        for (hl_metric_t *p = registry_head; p != m; p = p->next)
            if (!strcmp(p->name, m->name)) {
                first = false;
                break;
            }
        if (!first)
            continue;
        sb_printf(&sb, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name,
                  kind_text(m->kind));
        for (hl_metric_t *p = m; p; p = p->next)
            if (!strcmp(p->name, m->name))
                render_series(&sb, p);
    }
    collector_t *cs = collectors;
    pthread_mutex_unlock(&registry_lock);
    for (collector_t *c = cs; c; c = c->next) {
        sb_reserve(&sb, 16384);
        sb.len += c->fn(sb.buf + sb.len, sb.cap - sb.len - 1, c->ctx);
        sb.buf[sb.len] = '\0';
    }
    if (len)
        *len = sb.len;
    return sb.buf;
}
