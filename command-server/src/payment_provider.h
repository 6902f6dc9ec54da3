/* payment_provider.h: the payment provider adapter, shaped on Stripe's PaymentIntents API.
 *
 * Wire format (Stripe API reference, "PaymentIntents" and "Refunds"): HTTPS/HTTP POST with an
 * application/x-www-form-urlencoded body, `Authorization: Bearer <secret key>`, and an
 * `Idempotency-Key` header on every call (the provider answers a repeated key with the first
 * answer, so a call repeated after a crash or a time-out is performed once):
 *
 *   create   POST /v1/payment_intents  amount, currency (lower case), capture_method=manual,
 *            payment_method_types[]=card, metadata[booking_id]
 *   confirm  POST /v1/payment_intents/{id}/confirm  payment_method   -> status requires_capture
 *   capture  POST /v1/payment_intents/{id}/capture                   -> status succeeded
 *   cancel   POST /v1/payment_intents/{id}/cancel
 * cancellation_reason=abandoned|requested_by_customer refund   POST /v1/refunds  payment_intent
 *
 * Answers are JSON objects; errors are {"error": {"type", "code", "decline_code", "message"}}
 * with 402 for a card decline. Locally the provider is deploy/local/payment_sim.py (same API
 * subset); e2e tests also run every call against stripe-mock. Configured by HL_PAYMENT_URL and
 * HL_PAYMENT_SECRET. */
#ifndef CS_PAYMENT_PROVIDER_H
#define CS_PAYMENT_PROVIDER_H

#include "hl/error.h"

#include <stdbool.h>
#include <stdint.h>

/* How a call ended. */
typedef enum {
    CS_PAY_OK,        /* 2xx and, for confirm, the intent is authorized (requires_capture) */
    CS_PAY_DECLINED,  /* 402 card error, or a confirm that did not authorize */
    CS_PAY_TRANSIENT, /* time-out, connection failure, 5xx, 429, 409 (a concurrent same key) */
    CS_PAY_REJECTED,  /* any other 4xx: repeating the same request cannot succeed */
} cs_pay_outcome_t;

typedef struct {
    cs_pay_outcome_t outcome;
    long http_status;      /* 0 when no answer came */
    char id[128];          /* the answer's object id: pi_... or re_... ("" if none) */
    char status[40];       /* the object's status ("requires_capture", "succeeded", ...) */
    char decline_code[64]; /* error.decline_code or error.code on a decline */
    char message[256];     /* error text for logs (never shown to clients) */
} cs_pay_result_t;

typedef struct cs_payment_provider cs_payment_provider_t;

/* A client of the provider at base_url ("http://127.0.0.1:8085", no trailing /v1) with the
 * secret key (copied) and a per-call timeout_ms. Owns one libcurl handle (kept-alive
 * connection): use one per thread. curl_global_init must have run. NULL + HL_ERR_SYSTEM when
 * libcurl cannot make a handle; memory comes from hl/mem.h (aborts when exhausted). */
cs_payment_provider_t *cs_payment_provider_new(const char *base_url, const char *secret,
                                               long timeout_ms, hl_error_t *err);

/* Free the client. NULL is ignored. */
void cs_payment_provider_destroy(cs_payment_provider_t *p);

/* Create a PaymentIntent of amount_minor (> 0) in currency (ISO 4217, any case) with manual
 * capture, tagged with booking_id. out->id is the intent id on CS_PAY_OK. */
void cs_pay_create_intent(cs_payment_provider_t *p, int64_t amount_minor, const char *currency,
                          const char *booking_id, const char *idempotency_key,
                          cs_pay_result_t *out);

/* Confirm intent_id with payment_method (e.g. "pm_card_visa"): CS_PAY_OK when the amount is
 * authorized (status requires_capture). */
void cs_pay_confirm(cs_payment_provider_t *p, const char *intent_id, const char *payment_method,
                    const char *idempotency_key, cs_pay_result_t *out);

/* Capture the authorized amount of intent_id in full. */
void cs_pay_capture(cs_payment_provider_t *p, const char *intent_id, const char *idempotency_key,
                    cs_pay_result_t *out);

/* Cancel intent_id, voiding its authorization. reason: a Stripe cancellation_reason
 * ("abandoned", "requested_by_customer") or NULL. */
void cs_pay_cancel(cs_payment_provider_t *p, const char *intent_id, const char *reason,
                   const char *idempotency_key, cs_pay_result_t *out);

/* Refund the captured intent_id in full. out->id is the refund id. */
void cs_pay_refund(cs_payment_provider_t *p, const char *intent_id, const char *idempotency_key,
                   cs_pay_result_t *out);

#endif
