/* hl/trace.h: distributed tracing (spans) exported as OTLP/HTTP JSON over libcurl.
 *
 * Context follows W3C Trace Context (https://www.w3.org/TR/trace-context/): a traceparent
 * "00-<32 hex trace id>-<16 hex span id>-<2 hex flags>", flag 01 = sampled. Spans are encoded
 * as OTLP/JSON (opentelemetry-proto trace/v1 ExportTraceServiceRequest with the OTLP/JSON
 * mapping: ids as lowercase hex, 64-bit integers as decimal strings, enums as numbers) and POSTed
 * to <HL_OTLP_ENDPOINT>/v1/traces (the OTLP/HTTP path, as OTEL_EXPORTER_OTLP_ENDPOINT).
 *
 * Off the request path: hl_span_end copies the finished span into a bounded queue under a
 * mutex (no allocation, no I/O); one exporter thread sends batches. When the queue is full or
 * the collector does not answer, spans are dropped and counted (hl_trace_spans_dropped_total
 * {reason="queue_full"|"export_failed"}); nothing ever waits for the collector.
 *
 * Sampling: a root span (no parent) is sampled when its trace id falls in the HL_TRACE_SAMPLE
 * ratio (0..1, the OpenTelemetry TraceIdRatioBased rule on the id's last 8 bytes, so every
 * server makes the same choice for a trace); a child follows its parent's sampled flag
 * (ParentBased). Unsampled spans still get ids, so the traceparent propagates.
 *
 * Environment (read by hl_trace_init):
 *   HL_OTLP_ENDPOINT  base URL of an OTLP/HTTP receiver, e.g. http://127.0.0.1:4318; empty or
 *                     unset: nothing is exported (ids are still made and propagated)
 *   HL_TRACE_SAMPLE   ratio of root traces recorded, 0..1 [1.0]
 *   HL_TRACE_QUEUE    spans held for export at most, 16..1048576 [4096]
 *
 * Thread-safety: every function may be called from any thread; a span belongs to the thread
 * that started it until it ends. */
#ifndef HL_TRACE_H
#define HL_TRACE_H

#include "hl/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length of a traceparent without its NUL (as HL_TRACEPARENT_LEN of hl/util.h). */
#define HL_TRACE_PARENT_LEN 55

typedef struct {
    char trace_id[33]; /* 32 lowercase hex */
    char span_id[17];  /* 16 lowercase hex */
    bool sampled;
} hl_trace_ctx_t;

/* OTLP Span.SpanKind values. */
typedef enum {
    HL_SPAN_INTERNAL = 1,
    HL_SPAN_SERVER = 2,
    HL_SPAN_CLIENT = 3,
    HL_SPAN_PRODUCER = 4,
    HL_SPAN_CONSUMER = 5,
} hl_span_kind_t;

#define HL_SPAN_ATTRS_MAX 8

typedef struct hl_span {
    hl_trace_ctx_t ctx;
    char parent_span_id[17]; /* "" for a root span */
    char name[48];
    hl_span_kind_t kind;
    int64_t start_ns, end_ns; /* Unix time, nanoseconds */
    int status;               /* OTLP Status.StatusCode: 0 unset, 2 error */
    char status_message[96];
    size_t nattrs;
    struct {
        char key[32];
        bool is_int;
        int64_t i;
        char s[96];
    } attrs[HL_SPAN_ATTRS_MAX];
    bool recording; /* sampled and an exporter runs: hl_span_end queues it */
    bool current;   /* hl_span_make_current was called: hl_span_end restores prev */
    struct hl_span *prev;
} hl_span_t;

/* Start the exporter of this process (service: the OTLP resource's service.name, e.g.
 * "command-server"; static string, not copied). Reads the environment above. Without an endpoint
 * it starts no thread and returns true. Errors: bad HL_TRACE_SAMPLE/HL_TRACE_QUEUE (HL_ERR_CONFIG),
 * thread creation (HL_ERR_SYSTEM). Call once, before any span. */
bool hl_trace_init(const char *service, hl_error_t *err);

/* Send what is queued (waiting at most timeout_ms for the collector) and stop the thread. Spans
 * ended afterwards are dropped uncounted. Safe without hl_trace_init. */
void hl_trace_shutdown(int timeout_ms);

/* Parse a traceparent header value (version 00; all-zero ids are invalid). Returns false and
 * leaves out untouched on NULL or anything else. */
bool hl_trace_parse(const char *traceparent, hl_trace_ctx_t *out);

/* Write ctx as a traceparent into out (HL_TRACE_PARENT_LEN + 1 bytes). */
void hl_trace_format(const hl_trace_ctx_t *ctx, char out[HL_TRACE_PARENT_LEN + 1]);

/* Start span s named name (copied, truncated to 47 bytes) of kind. parent: the remote or local
 * parent context, or NULL to start a new trace (sampling decided here). start_ns: the start time
 * (Unix ns), or 0 for now. s needs no initialisation and is owned by the caller. */
void hl_span_start(hl_span_t *s, const char *name, hl_span_kind_t kind,
                   const hl_trace_ctx_t *parent, int64_t start_ns);

/* Start s as a child of this thread's current span (hl_span_make_current), or as a new trace
 * when there is none. */
void hl_span_start_child(hl_span_t *s, const char *name, hl_span_kind_t kind);

/* Attributes (key and value copied, truncated; at most HL_SPAN_ATTRS_MAX, more are ignored). */
void hl_span_attr_str(hl_span_t *s, const char *key, const char *value);
void hl_span_attr_int(hl_span_t *s, const char *key, int64_t value);

/* Mark s failed with message (copied, truncated). */
void hl_span_error(hl_span_t *s, const char *message);

/* Make s this thread's current span until it ends: hl_span_start_child parents on it and every
 * log line of the thread carries its trace id (hl_log_set_trace_id). */
void hl_span_make_current(hl_span_t *s);

/* End s at end_ns (Unix ns; 0 = now) and queue it for export when recording. When s is current,
 * the previous current span becomes current again. */
void hl_span_end(hl_span_t *s, int64_t end_ns);

/* This thread's current span context, or NULL when none. */
const hl_trace_ctx_t *hl_trace_current(void);

/* Unix time in nanoseconds (CLOCK_REALTIME), the clock spans use. */
int64_t hl_trace_now_ns(void);

/* Counters of this process (also on /metrics): spans queued, exported, dropped. */
typedef struct {
    int64_t queued, exported, dropped_queue_full, dropped_export_failed;
} hl_trace_stats_t;
void hl_trace_stats(hl_trace_stats_t *out);

#endif
