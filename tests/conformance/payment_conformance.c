/* payment-conformance: runs every call of the payment provider adapter
 * (command-server/src/payment_provider.h) once against a provider and prints one line per call:
 * "<call> <HTTP status> <outcome> <object id> <status>". Used by
 * tests/e2e/test_payment_conformance.py against stripe-mock (Stripe's OpenAPI-driven mock, which
 * refuses requests the real API would refuse: unknown parameters, wrong types, wrong paths) and
 * against the local simulator. Usage: payment-conformance <base URL> <secret key> [payment method].
 * Exit 0 when every call was answered 2xx, 1 otherwise. */
#include "payment_provider.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *outcome_name(cs_pay_outcome_t o)
{
    switch (o) {
    case CS_PAY_OK:
        return "ok";
    case CS_PAY_DECLINED:
        return "declined";
    case CS_PAY_TRANSIENT:
        return "transient";
    case CS_PAY_REJECTED:
        return "rejected";
    }
    return "?";
}

static int report(const char *call, const cs_pay_result_t *r)
{
    printf("%s %ld %s %s %s\n", call, r->http_status, outcome_name(r->outcome),
           r->id[0] ? r->id : "-", r->status[0] ? r->status : "-");
    if (r->http_status < 200 || r->http_status >= 300)
        fprintf(stderr, "%s: %s\n", call, r->message);
    return r->http_status >= 200 && r->http_status < 300 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s <base URL> <secret key> [payment method]\n", argv[0]);
        return 2;
    }
    const char *pm = argc > 3 ? argv[3] : "pm_card_visa";
    curl_global_init(CURL_GLOBAL_DEFAULT);
    hl_error_t err = {0};
    cs_payment_provider_t *p = cs_payment_provider_new(argv[1], argv[2], 10000, &err);
    if (!p) {
        fprintf(stderr, "%s\n", err.message);
        return 2;
    }
    char prefix[64], key[96], a[128] = "", b[128] = "";
    snprintf(prefix, sizeof prefix, "conformance-%ld-%ld", (long)time(NULL), (long)getpid());
    cs_pay_result_t r;
    int failures = 0;
    /* intent A: authorize, capture, refund */
    snprintf(key, sizeof key, "%s:a:create", prefix);
    cs_pay_create_intent(p, 5000, "EUR", "01a1fc89-d221-7049-8337-b56dab19c892", key, &r);
    failures += report("create", &r);
    snprintf(a, sizeof a, "%s", r.id);
    snprintf(key, sizeof key, "%s:a:confirm", prefix);
    cs_pay_confirm(p, a, pm, key, &r);
    failures += report("confirm", &r);
    snprintf(key, sizeof key, "%s:a:capture", prefix);
    cs_pay_capture(p, a, key, &r);
    failures += report("capture", &r);
    snprintf(key, sizeof key, "%s:a:refund", prefix);
    cs_pay_refund(p, a, key, &r);
    failures += report("refund", &r);
    /* intent B: authorize, cancel (void) */
    snprintf(key, sizeof key, "%s:b:create", prefix);
    cs_pay_create_intent(p, 1234, "JPY", "01a1fc89-d221-7049-8337-b56dab19c893", key, &r);
    failures += report("create", &r);
    snprintf(b, sizeof b, "%s", r.id);
    snprintf(key, sizeof key, "%s:b:confirm", prefix);
    cs_pay_confirm(p, b, pm, key, &r);
    failures += report("confirm", &r);
    snprintf(key, sizeof key, "%s:b:cancel", prefix);
    cs_pay_cancel(p, b, "abandoned", key, &r);
    failures += report("cancel", &r);
    cs_payment_provider_destroy(p);
    curl_global_cleanup();
    return failures ? 1 : 0;
}
