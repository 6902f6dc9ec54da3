#include "hl/log.h"

#include <mongoc/mongoc.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *log_component = "hearlers";
static hl_log_level_t log_min_level = HL_LOG_INFO;
static bool log_json = false;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* The request this thread is serving (hl_log_set_request_id), "" when none. */
static _Thread_local char log_request_id[65];
/* The trace of this thread's current span (hl_log_set_trace_id), "" when none. */
static _Thread_local char log_trace_id[33];

void hl_log_init(const char *component, hl_log_level_t level, bool json)
{
    log_component = component;
    log_min_level = level;
    log_json = json;
}

bool hl_log_level_parse(const char *text, hl_log_level_t *out)
{
    for (int i = 0; i < 4; i++) {
        if (text && strcasecmp(text, level_names[i]) == 0) {
            *out = (hl_log_level_t)i;
            return true;
        }
    }
    return false;
}

void hl_log_set_request_id(const char *request_id)
{
    snprintf(log_request_id, sizeof log_request_id, "%s", request_id ? request_id : "");
}

void hl_log_set_trace_id(const char *trace_id)
{
    snprintf(log_trace_id, sizeof log_trace_id, "%s", trace_id ? trace_id : "");
}

const char *hl_log_request_id(void)
{
    return log_request_id;
}

bool hl_log_enabled(hl_log_level_t level)
{
    return level >= log_min_level;
}

/* Append s to out as a JSON string body (no quotes), escaping per RFC 8259. */
static size_t json_escape(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && n + 7 < cap; p++) {
        switch (*p) {
        case '"':
            out[n++] = '\\';
            out[n++] = '"';
            break;
        case '\\':
            out[n++] = '\\';
            out[n++] = '\\';
            break;
        case '\n':
            out[n++] = '\\';
            out[n++] = 'n';
            break;
        case '\r':
            out[n++] = '\\';
            out[n++] = 'r';
            break;
        case '\t':
            out[n++] = '\\';
            out[n++] = 't';
            break;
        default:
            if (*p < 0x20)
                n += (size_t)snprintf(out + n, cap - n, "\\u%04x", *p);
            else
                out[n++] = (char)*p;
        }
    }
    out[n] = '\0';
    return n;
}

void hl_log(hl_log_level_t level, const char *fmt, ...)
{
    if (level < log_min_level)
        return;
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    size_t w = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + w, sizeof when - w, ".%03ldZ", ts.tv_nsec / 1000000);

    /* request and trace ids: validated tokens ([A-Za-z0-9._-], hex), no escaping needed */
    char ids[160] = "";
    if (log_json) {
        size_t n = 0;
        if (log_request_id[0])
            n +=
                (size_t)snprintf(ids + n, sizeof ids - n, ",\"request_id\":\"%s\"", log_request_id);
        if (log_trace_id[0])
            snprintf(ids + n, sizeof ids - n, ",\"trace_id\":\"%s\"", log_trace_id);
        char esc[8192];
        json_escape(esc, sizeof esc, msg);
        fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":\"%s\",\"msg\":\"%s\"%s}\n",
                when, level_names[level], log_component, esc, ids);
    } else {
        size_t n = 0;
        if (log_request_id[0])
            n += (size_t)snprintf(ids + n, sizeof ids - n, " request_id=%s", log_request_id);
        if (log_trace_id[0])
            snprintf(ids + n, sizeof ids - n, " trace_id=%s", log_trace_id);
        fprintf(stderr, "%s %-5s %s: %s%s\n", when, level_names[level], log_component, msg, ids);
    }
}

static void mongoc_log_to_hl(mongoc_log_level_t level, const char *domain, const char *message,
                             void *data)
{
    (void)data;
    hl_log_level_t l = HL_LOG_DEBUG;
    if (level <= MONGOC_LOG_LEVEL_CRITICAL)
        l = HL_LOG_ERROR;
    else if (level == MONGOC_LOG_LEVEL_WARNING)
        l = HL_LOG_WARN;
    else if (level <= MONGOC_LOG_LEVEL_INFO)
        l = HL_LOG_INFO;
    hl_log(l, "mongoc[%s]: %s", domain, message);
}

void hl_log_route_mongoc(void)
{
    mongoc_log_set_handler(mongoc_log_to_hl, NULL);
}
