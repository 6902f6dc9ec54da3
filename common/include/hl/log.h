/* hl/log.h: one logging entry point with levels and printf format checking.
 *
 * Lines go to stderr, either as text ("2026-11-21T10:00:00.123Z INFO  command-server: msg") or,
 * in production mode, as JSON lines ({"ts":"…","level":"info","component":"…","msg":"…"}).
 * Thread-safe: each line is written with a single locked write. librdkafka, civetweb and
 * mongo-c-driver logs are routed here by the hl_log_*_cb adapters below. */
#ifndef HL_LOG_H
#define HL_LOG_H

#include <stdbool.h>

typedef enum { HL_LOG_DEBUG = 0, HL_LOG_INFO, HL_LOG_WARN, HL_LOG_ERROR } hl_log_level_t;

/* Configure logging once at start. component: static string naming the process (not copied).
 * level: lines below it are dropped. json: JSON lines instead of text. */
void hl_log_init(const char *component, hl_log_level_t level, bool json);

/* Parse "debug|info|warn|error" (case-insensitive) into *out. Returns false on other text. */
bool hl_log_level_parse(const char *text, hl_log_level_t *out);

/* Write one line at level. Prefer the HL_LOG_* macros. */
void hl_log(hl_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define HL_DEBUG(...) hl_log(HL_LOG_DEBUG, __VA_ARGS__)
#define HL_INFO(...)  hl_log(HL_LOG_INFO, __VA_ARGS__)
#define HL_WARN(...)  hl_log(HL_LOG_WARN, __VA_ARGS__)
#define HL_ERROR(...) hl_log(HL_LOG_ERROR, __VA_ARGS__)

/* Tag every line this thread writes from now on with request_id (text: " request_id=<id>" after
 * the message; JSON: a "request_id" member), until hl_log_set_request_id(NULL). The id is copied
 * (at most 64 bytes); callers pass only ids they validated (hl_http: <= 64 of [A-Za-z0-9._-]),
 * so it needs no escaping. The HTTP layer sets it around each request it dispatches. */
void hl_log_set_request_id(const char *request_id);

/* Tag every line this thread writes with trace_id (32 hex, W3C Trace Context; text:
 * " trace_id=<id>", JSON: a "trace_id" member) until hl_log_set_trace_id(NULL), so a log line
 * leads to its trace. hl/trace.h sets it for the thread's current span. Copied (32 bytes). */
void hl_log_set_trace_id(const char *trace_id);

/* The request id this thread's lines carry, or "" when none. */
const char *hl_log_request_id(void);

/* True when a line at level would be written. */
bool hl_log_enabled(hl_log_level_t level);

/* Route mongo-c-driver's log (mongoc_log_set_handler) through hl_log. */
void hl_log_route_mongoc(void);

#endif
