#include "hl/schema_registry.h"

#include "hl/log.h"
#include "hl/mem.h"
#include "hl/signals.h"
#include "hl/util.h"

#include <bson/bson.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hl_schema_registry {
    char *base_url;
    long timeout_ms;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

hl_schema_registry_t *hl_schema_registry_new(const char *base_url, long timeout_ms, hl_error_t *err)
{
    (void)err; /* nothing can fail: allocation failure aborts (hl/mem.h) */
    pthread_once(&curl_once, curl_init_once);
    hl_schema_registry_t *r = hl_xcalloc(1, sizeof *r);
    r->base_url = hl_xstrdup(base_url);
    size_t n = strlen(r->base_url);
    while (n && r->base_url[n - 1] == '/')
        r->base_url[--n] = '\0';
    r->timeout_ms = timeout_ms;
    return r;
}

void hl_schema_registry_destroy(hl_schema_registry_t *reg)
{
    if (!reg)
        return;
    free(reg->base_url);
    free(reg);
}

typedef struct {
    char *data;
    size_t len;
} body_t;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    body_t *b = ud;
    size_t n = size * nmemb;
    if (b->len + n > (1u << 22))
        return 0; /* refuse responses over 4 MiB */
    char *nd = hl_xrealloc(b->data, b->len + n + 1);
    memcpy(nd + b->len, ptr, n);
    b->len += n;
    nd[b->len] = '\0';
    b->data = nd;
    return n;
}

/* Perform method on base_url + path with optional JSON body; parse the JSON response into
 * *resp (initialised on success). Non-2xx → HL_ERR_HTTP with code = status and the registry's
 * "message" field. */
static bool call(hl_schema_registry_t *reg, const char *method, const char *path, const bson_t *req,
                 bson_t *resp, hl_error_t *err)
{
    char url[1024];
    snprintf(url, sizeof url, "%s%s", reg->base_url, path);
    CURL *c = curl_easy_init();
    if (!c)
        return hl_error_set(err, HL_ERR_HTTP, 0, "curl_easy_init failed");
    char *payload = req ? bson_as_relaxed_extended_json(req, NULL) : NULL;
    struct curl_slist *hdrs = NULL;
    hdrs = curl_slist_append(hdrs, "Content-Type: application/vnd.schemaregistry.v1+json");
    hdrs =
        curl_slist_append(hdrs, "Accept: application/vnd.schemaregistry.v1+json, application/json");
    body_t body = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, reg->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    if (payload)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    bson_free(payload);
    bool ok = false;
    if (rc != CURLE_OK) {
        hl_error_set(err, HL_ERR_HTTP, 0, "schema registry %s %s: %s", method, url,
                     curl_easy_strerror(rc));
        goto done;
    }
    bson_error_t berr;
    bson_t parsed;
    bool parsed_ok = body.len && bson_init_from_json(&parsed, body.data, (ssize_t)body.len, &berr);
    if (status < 200 || status >= 300) {
        const char *msg = NULL;
        bson_iter_t it;
        if (parsed_ok && bson_iter_init_find(&it, &parsed, "message") && BSON_ITER_HOLDS_UTF8(&it))
            msg = bson_iter_utf8(&it, NULL);
        hl_error_set(err, HL_ERR_HTTP, (int)status, "schema registry %s %s: HTTP %ld: %.300s",
                     method, path, status, msg ? msg : (body.data ? body.data : ""));
        if (parsed_ok)
            bson_destroy(&parsed);
        goto done;
    }
    if (!parsed_ok) {
        hl_error_set(err, HL_ERR_HTTP, (int)status, "schema registry %s %s: unparsable reply",
                     method, path);
        goto done;
    }
    bson_steal(resp, &parsed);
    ok = true;
done:
    free(body.data);
    return ok;
}

/* Percent-encode a subject for a URL path (subjects are topic names plus "-value"). */
static void encode_subject(const char *subject, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = subject; *p && n + 4 < cap; p++) {
        unsigned char ch = (unsigned char)*p;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.')
            out[n++] = (char)ch;
        else
            n += (size_t)snprintf(out + n, cap - n, "%%%02X", ch);
    }
    out[n] = '\0';
}

bool hl_schema_registry_set_compatibility(hl_schema_registry_t *reg, const char *subject,
                                          const char *level, hl_error_t *err)
{
    char path[512], enc[256];
    encode_subject(subject, enc, sizeof enc);
    snprintf(path, sizeof path, "/config/%s", enc);
    bson_t req = BSON_INITIALIZER, resp;
    BSON_APPEND_UTF8(&req, "compatibility", level);
    bool ok = call(reg, "PUT", path, &req, &resp, err);
    bson_destroy(&req);
    if (ok)
        bson_destroy(&resp);
    return ok;
}

bool hl_schema_registry_check(hl_schema_registry_t *reg, const char *subject,
                              const char *schema_json, bool *compatible, hl_error_t *err)
{
    char path[512], enc[256];
    encode_subject(subject, enc, sizeof enc);
    snprintf(path, sizeof path, "/compatibility/subjects/%s/versions/latest", enc);
    bson_t req = BSON_INITIALIZER, resp;
    BSON_APPEND_UTF8(&req, "schema", schema_json);
    hl_error_t local;
    bool ok = call(reg, "POST", path, &req, &resp, &local);
    bson_destroy(&req);
    if (!ok) {
        if (local.code == 404) { /* no such subject or version yet: anything is compatible */
            *compatible = true;
            return true;
        }
        if (err)
            *err = local;
        return false;
    }
    bson_iter_t it;
    ok = bson_iter_init_find(&it, &resp, "is_compatible") && BSON_ITER_HOLDS_BOOL(&it);
    if (ok)
        *compatible = bson_iter_bool(&it);
    else
        hl_error_set(err, HL_ERR_HTTP, 0, "compatibility reply lacks is_compatible");
    bson_destroy(&resp);
    return ok;
}

bool hl_schema_registry_register(hl_schema_registry_t *reg, const char *subject,
                                 const char *schema_json, int *id, hl_error_t *err)
{
    char path[512], enc[256];
    encode_subject(subject, enc, sizeof enc);
    snprintf(path, sizeof path, "/subjects/%s/versions", enc);
    bson_t req = BSON_INITIALIZER, resp;
    BSON_APPEND_UTF8(&req, "schema", schema_json);
    BSON_APPEND_UTF8(&req, "schemaType", "AVRO");
    bool ok = call(reg, "POST", path, &req, &resp, err);
    bson_destroy(&req);
    if (!ok)
        return false;
    bson_iter_t it;
    ok = bson_iter_init_find(&it, &resp, "id") &&
         (BSON_ITER_HOLDS_INT32(&it) || BSON_ITER_HOLDS_INT64(&it));
    if (ok)
        *id = (int)bson_iter_as_int64(&it);
    else
        hl_error_set(err, HL_ERR_HTTP, 0, "register reply for %s lacks an id", subject);
    bson_destroy(&resp);
    return ok;
}

bool hl_schema_registry_publish(hl_schema_registry_t *reg, const char *subject,
                                const char *schema_json, const char *level, int64_t deadline_ms,
                                int *id, hl_error_t *err)
{
    for (;;) {
        if (hl_schema_registry_set_compatibility(reg, subject, level, err) &&
            hl_schema_registry_register(reg, subject, schema_json, id, err))
            return true;
        if ((err->domain == HL_ERR_HTTP && err->code >= 400 && err->code < 500) ||
            hl_mono_ms() >= deadline_ms || hl_shutdown_requested())
            return false;
        HL_WARN("schema registry not ready (%s); retrying", err->message);
        if (hl_sleep_or_shutdown(1000))
            return false;
    }
}

char *hl_schema_registry_get(hl_schema_registry_t *reg, int id, hl_error_t *err)
{
    char path[64];
    snprintf(path, sizeof path, "/schemas/ids/%d", id);
    bson_t resp;
    if (!call(reg, "GET", path, NULL, &resp, err))
        return NULL;
    bson_iter_t it;
    char *out = NULL;
    if (bson_iter_init_find(&it, &resp, "schema") && BSON_ITER_HOLDS_UTF8(&it))
        out = hl_xstrdup(bson_iter_utf8(&it, NULL));
    else
        hl_error_set(err, HL_ERR_HTTP, 0, "schema %d reply lacks a schema", id);
    bson_destroy(&resp);
    return out;
}
