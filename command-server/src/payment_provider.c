/* payment_provider.c: see payment_provider.h. */
#include "payment_provider.h"
#include "hl/mem.h"
#include "hl/util.h"

#include <bson/bson.h>
#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAY_MAX_ANSWER (256 * 1024)

struct cs_payment_provider {
    CURL *curl;
    char *base_url;
    char *auth_header; /* "Authorization: Bearer <secret>" */
    long timeout_ms;
};

cs_payment_provider_t *cs_payment_provider_new(const char *base_url, const char *secret,
                                               long timeout_ms, hl_error_t *err)
{
    cs_payment_provider_t *p = hl_xcalloc(1, sizeof *p);
    size_t alen = strlen(secret) + 32;
    p->curl = curl_easy_init();
    p->base_url = hl_xstrdup(base_url);
    p->auth_header = hl_xmalloc(alen);
    p->timeout_ms = timeout_ms;
    if (!p->curl) {
        cs_payment_provider_destroy(p);
        hl_error_set(err, HL_ERR_SYSTEM, 0, "cannot create the payment provider client");
        return NULL;
    }
    size_t n = strlen(p->base_url);
    while (n > 0 && p->base_url[n - 1] == '/')
        p->base_url[--n] = '\0';
    snprintf(p->auth_header, alen, "Authorization: Bearer %s", secret);
    return p;
}

void cs_payment_provider_destroy(cs_payment_provider_t *p)
{
    if (!p)
        return;
    if (p->curl)
        curl_easy_cleanup(p->curl);
    free(p->base_url);
    if (p->auth_header) {
        memset(p->auth_header, 0, strlen(p->auth_header));
        free(p->auth_header);
    }
    free(p);
}

typedef struct {
    char *data;
    size_t len;
    bool too_long;
} answer_t;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    answer_t *a = userdata;
    size_t n = size * nmemb;
    if (a->len + n > PAY_MAX_ANSWER) {
        a->too_long = true;
        return 0;
    }
    a->data = hl_xrealloc(a->data, a->len + n + 1);
    memcpy(a->data + a->len, ptr, n);
    a->len += n;
    a->data[a->len] = '\0';
    return n;
}

/* Append "&name=<escaped value>" (no '&' first) to the form. */
static void form_add(CURL *c, bson_string_t *form, const char *name, const char *value)
{
    char *esc = curl_easy_escape(c, value, 0);
    bson_string_append_printf(form, "%s%s=%s", form->len ? "&" : "", name, esc ? esc : "");
    curl_free(esc);
}

static void copy_str(const bson_t *doc, const char *dotted, char *out, size_t cap)
{
    bson_iter_t it, found;
    if (bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, dotted, &found) &&
        BSON_ITER_HOLDS_UTF8(&found))
        snprintf(out, cap, "%s", bson_iter_utf8(&found, NULL));
}

/* POST path with form; fill out from the answer. */
static void post(cs_payment_provider_t *p, const char *path, const char *form,
                 const char *idempotency_key, cs_pay_result_t *out)
{
    memset(out, 0, sizeof *out);
    char url[1024], idem[320];
    snprintf(url, sizeof url, "%s%s", p->base_url, path);
    snprintf(idem, sizeof idem, "Idempotency-Key: %s", idempotency_key);
    struct curl_slist *hdrs = NULL;
    hdrs = curl_slist_append(hdrs, p->auth_header);
    hdrs = curl_slist_append(hdrs, idem);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/x-www-form-urlencoded");
    hdrs = curl_slist_append(hdrs, "Expect:");
    answer_t a = {0};
    CURL *c = p->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(form));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, p->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, p->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(hdrs);
    if (rc != CURLE_OK) {
        out->outcome = CS_PAY_TRANSIENT;
        snprintf(out->message, sizeof out->message, "%s: %s", path,
                 a.too_long ? "answer too long" : curl_easy_strerror(rc));
        free(a.data);
        return;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->http_status);
    bson_t doc;
    bson_error_t berr;
    bool parsed = a.data && bson_init_from_json(&doc, a.data, (ssize_t)a.len, &berr);
    if (parsed) {
        copy_str(&doc, "id", out->id, sizeof out->id);
        copy_str(&doc, "status", out->status, sizeof out->status);
        copy_str(&doc, "error.message", out->message, sizeof out->message);
        copy_str(&doc, "error.code", out->decline_code, sizeof out->decline_code);
        copy_str(&doc, "error.decline_code", out->decline_code, sizeof out->decline_code);
        bson_destroy(&doc);
    }
    free(a.data);
    long s = out->http_status;
    if (s >= 200 && s < 300)
        out->outcome = parsed ? CS_PAY_OK : CS_PAY_TRANSIENT;
    else if (s == 402)
        out->outcome = CS_PAY_DECLINED;
    else if (s >= 500 || s == 429 || s == 409)
        out->outcome = CS_PAY_TRANSIENT;
    else
        out->outcome = CS_PAY_REJECTED;
    if (!out->message[0] && out->outcome != CS_PAY_OK)
        snprintf(out->message, sizeof out->message, "%s: HTTP %ld", path, s);
}

/* Whether id is a provider object id safe to put in a path (letters, digits, '_'). */
static bool id_ok(const char *id, cs_pay_result_t *out)
{
    bool ok = id && *id && strlen(id) < 100;
    for (const char *c = id; ok && *c; c++)
        ok = isalnum((unsigned char)*c) || *c == '_';
    if (!ok) {
        memset(out, 0, sizeof *out);
        out->outcome = CS_PAY_REJECTED;
        snprintf(out->message, sizeof out->message, "invalid provider object id");
    }
    return ok;
}

void cs_pay_create_intent(cs_payment_provider_t *p, int64_t amount_minor, const char *currency,
                          const char *booking_id, const char *idempotency_key, cs_pay_result_t *out)
{
    char amount[24], cur[8];
    snprintf(amount, sizeof amount, "%lld", (long long)amount_minor);
    hl_fold_ascii(currency, cur, sizeof cur);
    bson_string_t *form = bson_string_new("");
    form_add(p->curl, form, "amount", amount);
    form_add(p->curl, form, "currency", cur);
    form_add(p->curl, form, "capture_method", "manual");
    form_add(p->curl, form, "payment_method_types[]", "card");
    form_add(p->curl, form, "metadata[booking_id]", booking_id);
    post(p, "/v1/payment_intents", form->str, idempotency_key, out);
    bson_string_free(form, true);
}

void cs_pay_confirm(cs_payment_provider_t *p, const char *intent_id, const char *payment_method,
                    const char *idempotency_key, cs_pay_result_t *out)
{
    if (!id_ok(intent_id, out))
        return;
    char path[160];
    snprintf(path, sizeof path, "/v1/payment_intents/%s/confirm", intent_id);
    bson_string_t *form = bson_string_new("");
    form_add(p->curl, form, "payment_method", payment_method);
    post(p, path, form->str, idempotency_key, out);
    bson_string_free(form, true);
    if (out->outcome == CS_PAY_OK && strcmp(out->status, "requires_capture") != 0) {
        out->outcome = CS_PAY_DECLINED;
        snprintf(out->decline_code, sizeof out->decline_code, "status_%s", out->status);
    }
}

void cs_pay_capture(cs_payment_provider_t *p, const char *intent_id, const char *idempotency_key,
                    cs_pay_result_t *out)
{
    if (!id_ok(intent_id, out))
        return;
    char path[160];
    snprintf(path, sizeof path, "/v1/payment_intents/%s/capture", intent_id);
    post(p, path, "", idempotency_key, out);
}

void cs_pay_cancel(cs_payment_provider_t *p, const char *intent_id, const char *reason,
                   const char *idempotency_key, cs_pay_result_t *out)
{
    if (!id_ok(intent_id, out))
        return;
    char path[160];
    snprintf(path, sizeof path, "/v1/payment_intents/%s/cancel", intent_id);
    bson_string_t *form = bson_string_new("");
    if (reason)
        form_add(p->curl, form, "cancellation_reason", reason);
    post(p, path, form->str, idempotency_key, out);
    bson_string_free(form, true);
}

void cs_pay_refund(cs_payment_provider_t *p, const char *intent_id, const char *idempotency_key,
                   cs_pay_result_t *out)
{
    if (!id_ok(intent_id, out))
        return;
    bson_string_t *form = bson_string_new("");
    form_add(p->curl, form, "payment_intent", intent_id);
    post(p, "/v1/refunds", form->str, idempotency_key, out);
    bson_string_free(form, true);
}
