/* hl/http.h: the HTTP layer shared by command-server and query-server, on civetweb.
 *
 * A server is a table of routes (method + path pattern with {param} segments) dispatched from one
 * civetweb request handler running on civetweb's worker threads; handlers must therefore only
 * touch thread-safe state. Unknown paths get 404, known paths with another method 405 with an
 * Allow header, both as RFC 9457 application/problem+json. Every response is counted in
 * hl_http_requests_total{route,status} and timed in hl_http_request_duration_seconds.
 *
 * Request ids: a valid X-Request-Id from the caller (normally the gateway) is kept, otherwise
 * a UUIDv7 is minted; it is echoed in X-Request-Id, put in problem documents, tagged on every
 * log line the worker writes during the request (hl_log_set_request_id) and on one access line
 * per request at info level ("<method> <path> <status> <ms> ms"; health, readiness and metrics
 * probes at debug level only). */
#ifndef HL_HTTP_H
#define HL_HTTP_H

#include "hl/error.h"

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>

struct mg_connection;

#define HL_HTTP_MAX_PARAMS     4
#define HL_HTTP_REQUEST_ID_MAX 64
/* The Retry-After (delay-seconds, RFC 9110 §10.2.3) of a 503 whose sender names none: every
 * 503 our servers send carries one, so clients know it is the retryable answer. */
#define HL_HTTP_RETRY_AFTER_S "1"

/* Whether id is a request id a client or the gateway may set: 1..64 bytes of [A-Za-z0-9._-]
 * (the gateway, deploy/gateway/nginx.conf.template, keeps exactly those and mints the others).
 * Such an id is safe in log lines, JSON and headers without escaping. */
bool hl_http_request_id_valid(const char *id);

typedef struct hl_http_request {
    struct mg_connection *conn;
    const char *method;               /* "GET", "POST", ... (owned by civetweb) */
    const char *path;                 /* URL-decoded path without the query string */
    const char *query;                /* raw query string or NULL */
    const char *route;                /* the matched route pattern, for metrics and logs */
    char *params[HL_HTTP_MAX_PARAMS]; /* {param} values, in pattern order, NUL-terminated */
    size_t nparams;
    void *app;  /* the server's context pointer given to hl_http_server_start */
    int status; /* set by the reply functions */
    char request_id[HL_HTTP_REQUEST_ID_MAX + 1]; /* X-Request-Id (hl_http_request_id_valid) */
    char path_buf[1024];
} hl_http_request_t;

/* A handler sends exactly one reply through the hl_http_reply_* functions. */
typedef void (*hl_http_handler_fn)(hl_http_request_t *req);

typedef struct {
    const char *method;  /* "GET", "POST", "PUT", "PATCH", "DELETE" */
    const char *pattern; /* "/v1/users/{id}": {name} matches one non-empty segment */
    hl_http_handler_fn handler;
} hl_http_route_t;

typedef struct hl_http_server hl_http_server_t;

/* Server behaviour flags. */
enum {
    HL_HTTP_HEAD_AS_GET = 1, /* answer HEAD with the GET handler, body suppressed */
    HL_HTTP_READ_ONLY = 2,   /* any method but GET/HEAD gets 405 on every path */
};

/* Start civetweb listening on listen ("127.0.0.1:8080" or "8080") with nthreads worker threads.
 * routes (borrowed, must outlive the server) are tried in order. flags: HL_HTTP_* bits. app is
 * passed to handlers. Returns NULL and fills err (HL_ERR_HTTP) when the port cannot be bound. */
hl_http_server_t *hl_http_server_start(const char *listen, int nthreads,
                                       const hl_http_route_t *routes, size_t nroutes, int flags,
                                       void *app, hl_error_t *err);

/* Stop accepting, wait for in-flight requests, free. NULL is ignored. */
void hl_http_server_stop(hl_http_server_t *srv);

/* Read the request body into a malloc'd buffer (NUL-terminated, caller frees *out) of at most
 * max_bytes. Errors: 413 "body-too-large" when Content-Length or the bytes read exceed
 * max_bytes; 415 "unsupported-media-type" when require_json and Content-Type is not
 * application/json (parameters like charset allowed); 400 on a truncated body. */
bool hl_http_read_body(hl_http_request_t *req, size_t max_bytes, bool require_json, char **out,
                       size_t *len, hl_error_t *err);

/* Header value or NULL. */
const char *hl_http_header(hl_http_request_t *req, const char *name);

/* Copy query parameter name (URL-decoded) into out[cap]. Returns false when absent; an
 * over-long value is an error (-1). Returns 1 found, 0 absent, -1 too long. */
int hl_http_query_param(hl_http_request_t *req, const char *name, char *out, size_t cap);

/* Reply with status and doc rendered as relaxed Extended JSON (plain numbers for int64).
 * extra_headers: NULL or "Name: value\r\n" lines. */
void hl_http_reply_json(hl_http_request_t *req, int status, const bson_t *doc,
                        const char *extra_headers);

/* Reply with an RFC 9457 problem document: {type, title, status, detail, instance}. type is
 * "urn:hearlers:problem:<reason>"; detail may be NULL. */
void hl_http_reply_problem(hl_http_request_t *req, int status, const char *reason,
                           const char *title, const char *detail, const char *extra_headers);

/* Reply with a problem built from err (domain INPUT/DOMAIN use err->code as status and
 * err->reason as type; TIMEOUT answers 503 "unavailable" with Retry-After: 1; PG/MONGO (the store
 * is away) 503 "internal" with Retry-After: 1, so clients know to retry; anything else 500
 * "internal". err->message of the last three is logged, never sent). */
void hl_http_reply_error(hl_http_request_t *req, const hl_error_t *err);

/* Whether headers ("Name: value\r\n" lines, or NULL) hold a line named name (ASCII
 * case-insensitive, followed by ':'). Pure; no transport. */
bool hl_http_headers_have(const char *headers, const char *name);

/* Reply with a body of the given content type (e.g. Prometheus text). */
void hl_http_reply_text(hl_http_request_t *req, int status, const char *content_type,
                        const char *body, size_t len);

/* Reply with no body (204, or 304...). */
void hl_http_reply_empty(hl_http_request_t *req, int status, const char *extra_headers);

/* Standard reason phrase for a status code. */
const char *hl_http_status_text(int status);

#endif
