#include "hl/mem.h"
#include "hl/http.h"

#include "hl/log.h"
#include "hl/trace.h"
#include "hl/metrics.h"
#include "hl/util.h"

#include <civetweb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <strings.h>

struct hl_http_server {
    struct mg_context *ctx;
    const hl_http_route_t *routes;
    size_t nroutes;
    bool head_as_get;
    bool read_only;
    void *app;
};

const char *hl_http_status_text(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted"; /* the saga commands (SPEC §9) */
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

bool hl_http_request_id_valid(const char *id)
{
    if (!id || !*id)
        return false;
    size_t n = 0;
    for (const char *p = id; *p; p++, n++) {
        char c = *p;
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok || n >= HL_HTTP_REQUEST_ID_MAX)
            return false;
    }
    return true;
}

/* Match path against pattern; on success fill req params (copied into path_buf segments). */
static bool route_match(const char *pattern, hl_http_request_t *req)
{
    const char *p = pattern, *s = req->path;
    size_t np = 0;
    while (*p && *s) {
        if (*p == '{') {
            const char *pe = strchr(p, '}');
            const char *se = strchr(s, '/');
            if (!pe)
                return false;
            if (!se)
                se = s + strlen(s);
            if (se == s || np >= HL_HTTP_MAX_PARAMS)
                return false;
            req->params[np] = hl_xstrndup(s, (size_t)(se - s));
            np++;
            p = pe + 1;
            s = se;
        } else {
            if (*p != *s)
                goto fail;
            p++;
            s++;
        }
    }
    if (*p || *s)
        goto fail;
    req->nparams = np;
    return true;
fail:
    for (size_t i = 0; i < np; i++) {
        free(req->params[i]);
        req->params[i] = NULL;
    }
    return false;
}

static void free_params(hl_http_request_t *req)
{
    for (size_t i = 0; i < req->nparams; i++) {
        free(req->params[i]);
        req->params[i] = NULL;
    }
    req->nparams = 0;
}

bool hl_http_headers_have(const char *headers, const char *name)
{
    size_t n = strlen(name);
    for (const char *line = headers; line && *line;) {
        if (!strncasecmp(line, name, n) && line[n] == ':')
            return true;
        const char *eol = strstr(line, "\r\n");
        line = eol ? eol + 2 : NULL;
    }
    return false;
}

/* Write status line, headers and body. civetweb has no header builder, so extra_headers
 * ("Name: value\r\n" lines or NULL) are spliced in before Content-Length. Every 503 carries
 * Retry-After (SPEC: the one retryable answer is 503 + Retry-After): the caller's when
 * extra_headers has one, else HL_HTTP_RETRY_AFTER_S. */
static void send_with_headers(hl_http_request_t *req, int status, const char *content_type,
                              const char *extra_headers, const char *body, size_t len)
{
    req->status = status;
    const char *retry = status == 503 && !hl_http_headers_have(extra_headers, "Retry-After")
                            ? "Retry-After: " HL_HTTP_RETRY_AFTER_S "\r\n"
                            : "";
    mg_printf(req->conn,
              "HTTP/1.1 %d %s\r\nX-Request-Id: %s\r\nCache-Control: no-store\r\n%s%s%s%s%s"
              "Content-Length: %zu\r\n\r\n",
              status, hl_http_status_text(status), req->request_id,
              content_type ? "Content-Type: " : "", content_type ? content_type : "",
              content_type ? "\r\n" : "", extra_headers ? extra_headers : "", retry, len);
    if (len && strcmp(req->method, "HEAD") != 0)
        mg_write(req->conn, body, len);
}

void hl_http_reply_text(hl_http_request_t *req, int status, const char *content_type,
                        const char *body, size_t len)
{
    send_with_headers(req, status, content_type, NULL, body, len);
}

void hl_http_reply_empty(hl_http_request_t *req, int status, const char *extra_headers)
{
    send_with_headers(req, status, NULL, extra_headers, NULL, 0);
}

void hl_http_reply_json(hl_http_request_t *req, int status, const bson_t *doc,
                        const char *extra_headers)
{
    size_t len = 0;
    char *json = bson_as_relaxed_extended_json(doc, &len);
    if (!json) {
        hl_http_reply_problem(req, 500, "internal", "Internal Server Error",
                              "response encoding failed", NULL);
        return;
    }
    send_with_headers(req, status, "application/json", extra_headers, json, len);
    bson_free(json);
}

/* RFC 9457 "instance" is a URI reference: percent-encode the decoded path's bytes that are not
 * printable ASCII (and '%', '"', '\\') so the document stays ASCII and valid JSON. */
static void uri_reference(const char *path, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)path; *p && o + 4 < cap; p++) {
        if (*p > 0x20 && *p < 0x7f && *p != '%' && *p != '"' && *p != '\\') {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
}

void hl_http_reply_problem(hl_http_request_t *req, int status, const char *reason,
                           const char *title, const char *detail, const char *extra_headers)
{
    char instance[3 * sizeof req->path_buf + 1];
    uri_reference(req->path, instance, sizeof instance);
    char type[96];
    snprintf(type, sizeof type, "urn:hearlers:problem:%s", reason);
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "type", type);
    BSON_APPEND_UTF8(&doc, "title", title ? title : hl_http_status_text(status));
    BSON_APPEND_INT32(&doc, "status", status);
    if (detail)
        BSON_APPEND_UTF8(&doc, "detail", detail);
    BSON_APPEND_UTF8(&doc, "instance", instance);
    BSON_APPEND_UTF8(&doc, "request_id", req->request_id);
    size_t len = 0;
    char *json = bson_as_relaxed_extended_json(&doc, &len);
    send_with_headers(req, status, "application/problem+json", extra_headers, json, len);
    bson_free(json);
    bson_destroy(&doc);
}

void hl_http_reply_error(hl_http_request_t *req, const hl_error_t *err)
{
    if ((err->domain == HL_ERR_INPUT || err->domain == HL_ERR_DOMAIN) && err->code >= 400 &&
        err->code < 600) {
        hl_http_reply_problem(req, err->code, err->reason[0] ? err->reason : "invalid-request",
                              hl_http_status_text(err->code), err->message, NULL);
        return;
    }
    if (err->domain == HL_ERR_TIMEOUT) {
        HL_WARN("request %s %s timed out: %s", req->method, req->path, err->message);
        hl_http_reply_problem(req, 503, "unavailable", "Service Unavailable", err->message,
                              "Retry-After: 1\r\n");
        return;
    }
    HL_ERROR("request %s %s failed: %s error %d: %s", req->method, req->path,
             hl_error_domain_name(err->domain), err->code, err->message);
    bool store = err->domain == HL_ERR_PG || err->domain == HL_ERR_MONGO;
    hl_http_reply_problem(req, store ? 503 : 500, "internal", NULL,
                          "the request could not be completed; retry later",
                          store ? "Retry-After: 1\r\n" : NULL);
}

const char *hl_http_header(hl_http_request_t *req, const char *name)
{
    return mg_get_header(req->conn, name);
}

int hl_http_query_param(hl_http_request_t *req, const char *name, char *out, size_t cap)
{
    if (!req->query)
        return 0;
    int n = mg_get_var(req->query, strlen(req->query), name, out, cap);
    if (n == -1)
        return 0;
    if (n < 0)
        return -1;
    return 1;
}

bool hl_http_read_body(hl_http_request_t *req, size_t max_bytes, bool require_json, char **out,
                       size_t *len, hl_error_t *err)
{
    *out = NULL;
    *len = 0;
    if (require_json) {
        const char *ct = hl_http_header(req, "Content-Type");
        size_t n = strlen("application/json");
        if (!ct || strncasecmp(ct, "application/json", n) != 0 ||
            (ct[n] && ct[n] != ';' && ct[n] != ' '))
            return hl_error_set_reason(err, HL_ERR_INPUT, 415, "unsupported-media-type",
                                       "Content-Type must be application/json");
    }
    const struct mg_request_info *ri = mg_get_request_info(req->conn);
    if (ri->content_length > (long long)max_bytes)
        return hl_error_set_reason(err, HL_ERR_INPUT, 413, "body-too-large",
                                   "the request body exceeds %zu bytes", max_bytes);
    char *buf = hl_xmalloc(max_bytes + 2);
    size_t used = 0;
    for (;;) {
        int n = mg_read(req->conn, buf + used, max_bytes + 1 - used);
        if (n < 0) {
            free(buf);
            return hl_error_set_reason(err, HL_ERR_INPUT, 400, "bad-request",
                                       "the request body could not be read");
        }
        if (n == 0)
            break;
        used += (size_t)n;
        if (used > max_bytes) {
            free(buf);
            return hl_error_set_reason(err, HL_ERR_INPUT, 413, "body-too-large",
                                       "the request body exceeds %zu bytes", max_bytes);
        }
    }
    if (ri->content_length >= 0 && (long long)used != ri->content_length) {
        free(buf);
        return hl_error_set_reason(err, HL_ERR_INPUT, 400, "bad-request",
                                   "the request body is shorter than Content-Length");
    }
    buf[used] = '\0';
    *out = buf;
    *len = used;
    return true;
}

static int dispatch(struct mg_connection *conn, void *cbdata)
{
    hl_http_server_t *srv = cbdata;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    int64_t t0 = hl_mono_us();
    hl_http_request_t req;
    memset(&req, 0, sizeof req);
    req.conn = conn;
    req.method = ri->request_method;
    req.query = ri->query_string;
    req.app = srv->app;
    snprintf(req.path_buf, sizeof req.path_buf, "%s", ri->local_uri ? ri->local_uri : "/");
    req.path = req.path_buf;
    const char *rid = mg_get_header(conn, "X-Request-Id");
    if (hl_http_request_id_valid(rid))
        snprintf(req.request_id, sizeof req.request_id, "%s", rid);
    else
        hl_uuid_v7(req.request_id);
    hl_log_set_request_id(req.request_id);

    const char *method = req.method;
    bool is_head = !strcmp(method, "HEAD");
    const hl_http_route_t *match = NULL;
    bool path_known = false;
    char allow[128] = "";
    /* Every path of a read-only server is GET/HEAD only, known or not. */
    bool reject_write = srv->read_only && strcmp(method, "GET") != 0 && !is_head;
    if (reject_write) {
        path_known = true;
        snprintf(allow, sizeof allow, "GET, HEAD");
    }
    for (size_t i = 0; !reject_write && i < srv->nroutes; i++) {
        const hl_http_route_t *r = &srv->routes[i];
        if (!route_match(r->pattern, &req))
            continue;
        path_known = true;
        bool ok = !strcmp(r->method, method) ||
                  (is_head && srv->head_as_get && !strcmp(r->method, "GET"));
        if (ok && !match) {
            match = r;
            break;
        }
        size_t al = strlen(allow);
        snprintf(allow + al, sizeof allow - al, "%s%s", al ? ", " : "", r->method);
        if (srv->head_as_get && !strcmp(r->method, "GET"))
            snprintf(allow + strlen(allow), sizeof allow - strlen(allow), ", HEAD");
        free_params(&req);
    }
    /* The request's server span (not for probes), parent: the caller's traceparent. */
    hl_span_t span;
    bool traced = match && strcmp(match->pattern, "/healthz") != 0 &&
                  strcmp(match->pattern, "/readyz") != 0 && strcmp(match->pattern, "/metrics") != 0;
    if (traced) {
        hl_trace_ctx_t parent;
        bool remote = hl_trace_parse(mg_get_header(conn, "traceparent"), &parent);
        char name[48];
        snprintf(name, sizeof name, "%s %s", method, match->pattern);
        hl_span_start(&span, name, HL_SPAN_SERVER, remote ? &parent : NULL, 0);
        hl_span_attr_str(&span, "http.request.method", method);
        hl_span_attr_str(&span, "http.route", match->pattern);
        hl_span_attr_str(&span, "http.request_id", req.request_id);
        hl_span_make_current(&span);
    }
    if (match) {
        req.route = match->pattern;
        match->handler(&req);
        free_params(&req);
    } else if (path_known) {
        req.route = "unmatched";
        char hdr[160];
        snprintf(hdr, sizeof hdr, "Allow: %s\r\n", allow);
        hl_http_reply_problem(&req, 405, "method-not-allowed", NULL,
                              "this resource does not support that method", hdr);
    } else {
        req.route = "unmatched";
        hl_http_reply_problem(&req, 404, "not-found", NULL, "no such resource", NULL);
    }
    if (!req.status) {
        HL_ERROR("handler for %s %s sent no reply", method, req.path);
        hl_http_reply_problem(&req, 500, "internal", NULL, NULL, NULL);
    }
    int64_t us = hl_mono_us() - t0;
    char labels[256];
    snprintf(labels, sizeof labels, "method=\"%s\",route=\"%s\",status=\"%d\"", method, req.route,
             req.status);
    hl_metric_add(hl_metric_get(HL_METRIC_COUNTER, "hl_http_requests_total", labels,
                                "HTTP requests answered, by route and status"),
                  1);
    snprintf(labels, sizeof labels, "route=\"%s\"", req.route);
    hl_metric_observe_us(hl_metric_get(HL_METRIC_HISTOGRAM, "hl_http_request_duration_seconds",
                                       labels, "HTTP request latency"),
                         us);
    /* Probes (health, readiness, metrics) come every few seconds: access lines at debug only. */
    bool probe = !strcmp(req.route, "/healthz") || !strcmp(req.route, "/readyz") ||
                 !strcmp(req.route, "/metrics");
    hl_log_level_t level = probe ? HL_LOG_DEBUG : HL_LOG_INFO;
    if (hl_log_enabled(level)) {
        char path[3 * sizeof req.path_buf + 1];
        uri_reference(req.path, path, sizeof path);
        hl_log(level, "%s %s %d %.1f ms", method, path, req.status, (double)us / 1000.0);
    }
    /* after the access line, which carries the trace id too */
    if (traced) {
        hl_span_attr_int(&span, "http.response.status_code", req.status);
        if (req.status >= 500)
            hl_span_error(&span, hl_http_status_text(req.status));
        hl_span_end(&span, 0);
    }
    hl_log_set_request_id(NULL);
    return req.status;
}

static int civet_log(const struct mg_connection *conn, const char *message)
{
    (void)conn;
    HL_WARN("civetweb: %s", message);
    return 1;
}

/* civetweb's own refusals (a request line or header it cannot parse, e.g. a control character
 * in a header value; a header block over its limit) would go out as text/plain: answer them as
 * RFC 9457 problem documents like every other error, and close the connection (the request may
 * not have been read whole). The message is civetweb's, kept only to printable ASCII. */
static int civet_http_error(struct mg_connection *conn, int status, const char *msg)
{
    const char *reason = status == 404   ? "not-found"
                         : status == 405 ? "method-not-allowed"
                         : status == 413 ? "body-too-large"
                         : status == 431 ? "headers-too-large"
                         : status == 503 ? "unavailable"
                         : status >= 500 ? "internal"
                                         : "bad-request";
    char detail[160];
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)(msg ? msg : "");
         *p && o + 1 < sizeof detail; p++)
        if (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\')
            detail[o++] = (char)*p;
    detail[o] = '\0';
    char body[400];
    int n = snprintf(body, sizeof body,
                     "{\"type\": \"urn:hearlers:problem:%s\", \"title\": \"%s\", \"status\": %d, "
                     "\"detail\": \"%s\"}",
                     reason, hl_http_status_text(status), status, detail);
    HL_WARN("civetweb refused a request: %d %s", status, detail);
    mg_printf(conn,
              "HTTP/1.1 %d %s\r\nContent-Type: application/problem+json\r\n"
              "Cache-Control: no-store\r\n%sContent-Length: %d\r\nConnection: close\r\n\r\n%s",
              status, hl_http_status_text(status),
              status == 503 ? "Retry-After: " HL_HTTP_RETRY_AFTER_S "\r\n" : "", n, body);
    return 0;
}

hl_http_server_t *hl_http_server_start(const char *listen, int nthreads,
                                       const hl_http_route_t *routes, size_t nroutes, int flags,
                                       void *app, hl_error_t *err)
{
    hl_http_server_t *srv = hl_xcalloc(1, sizeof *srv);
    if (!srv) {
        hl_error_set(err, HL_ERR_SYSTEM, 0, "out of memory");
        return NULL;
    }
    srv->routes = routes;
    srv->nroutes = nroutes;
    srv->head_as_get = (flags & HL_HTTP_HEAD_AS_GET) != 0;
    srv->read_only = (flags & HL_HTTP_READ_ONLY) != 0;
    srv->app = app;
    char threads[16];
    snprintf(threads, sizeof threads, "%d", nthreads);
    const char *options[] = {"listening_ports", listen, "num_threads", threads,
                             "request_timeout_ms", "30000", "enable_keep_alive", "yes",
                             /* Longer than the gateway's upstream keepalive_timeout
                              * (10 s): the gateway closes an idle pooled connection
                              * first, so it never reuses one civetweb just closed. */
                             "keep_alive_timeout_ms", "15000",
                             /* Headers and body go out in separate writes: without
                              * TCP_NODELAY, Nagle + the client's delayed ACK add ~40 ms to
                              * every keep-alive response. */
                             "tcp_nodelay", "1",
                             /* A burst of connections from the gateway waits in the kernel
                              * and civetweb's queue for a free worker instead of timing out
                              * in connect (civetweb's defaults: backlog 200, queue 20). */
                             "listen_backlog", "4096", "connection_queue", "1024", NULL};
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof cb);
    cb.log_message = civet_log;
    cb.http_error = civet_http_error;
    mg_init_library(0);
    srv->ctx = mg_start(&cb, srv, options);
    if (!srv->ctx) {
        hl_error_set(err, HL_ERR_HTTP, 0, "cannot listen on %s (port in use or bad address)",
                     listen);
        free(srv);
        return NULL;
    }
    mg_set_request_handler(srv->ctx, "/", dispatch, srv);
    return srv;
}

void hl_http_server_stop(hl_http_server_t *srv)
{
    if (!srv)
        return;
    mg_stop(srv->ctx);
    free(srv);
}
