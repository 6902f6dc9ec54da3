/* hl/error.h: the error struct every fallible hearlers function fills.
 *
 * Modelled on mongo-c-driver's bson_error_t: callers own an hl_error_t on the stack, pass its
 * address, and read it only when the call returned false. Library error text is copied in at
 * once (avro-c's error buffer is global). */
#ifndef HL_ERROR_H
#define HL_ERROR_H

#include <stdbool.h>

/* Where an error came from, and what `code`, `reason` and `sqlstate` mean in each domain (the
 * one table of them, as mongo-c-driver's doc/errors.rst is for bson_error_t):
 *
 *   domain          code                                    reason                 sqlstate
 *   HL_ERR_SYSTEM   errno when the failure set one, else 0  ""                     ""
 *   HL_ERR_CONFIG   0                                       "help" for --help,     ""
 *                                                           "bad-option" else
 *   HL_ERR_INPUT    HTTP status to answer (4xx)             problem type slug      ""
 *   HL_ERR_DOMAIN   HTTP status to answer (409, 422, ...)   problem type slug      ""
 *   HL_ERR_PG       0                                       "" (or a slug the      SQLSTATE of a
 *                                                           caller adds)           server error
 *   HL_ERR_KAFKA    rd_kafka_resp_err_t                     ""                     ""
 *   HL_ERR_AVRO     0 (avro-c has no codes)                 "bad-schema" etc.      ""
 *   HL_ERR_MONGO    bson_error_t.code (11000 duplicate key) ""                     ""
 *   HL_ERR_HTTP     upstream HTTP status, 0 = no answer     upstream's slug or ""  ""
 *   HL_ERR_TIMEOUT  0                                       what ran out, or ""    ""
 *
 * The HTTP layer (hl_http_reply_error) answers INPUT and DOMAIN with their code and reason as
 * an RFC 9457 problem; store errors (PG, MONGO) as 503 with Retry-After; others as 500. */
typedef enum {
    HL_ERR_NONE = 0,
    HL_ERR_SYSTEM,  /* errno-style failures, out of memory */
    HL_ERR_CONFIG,  /* bad flag, environment variable or file */
    HL_ERR_INPUT,   /* a client's request was invalid; code is the HTTP status to answer */
    HL_ERR_DOMAIN,  /* a command was refused by an invariant; code is the HTTP status */
    HL_ERR_PG,      /* libpq; message carries the server's text, sqlstate its SQLSTATE */
    HL_ERR_KAFKA,   /* librdkafka; code is an rd_kafka_resp_err_t */
    HL_ERR_AVRO,    /* avro-c encode/decode or schema parse */
    HL_ERR_MONGO,   /* mongo-c-driver; code is the bson_error_t code */
    HL_ERR_HTTP,    /* outbound HTTP (schema registry, payment provider, object store) */
    HL_ERR_TIMEOUT, /* a bounded wait ran out */
} hl_error_domain_t;

#define HL_ERROR_MESSAGE_MAX 512

typedef struct {
    hl_error_domain_t domain;
    int code;
    /* Stable, machine-readable reason slug for client-facing errors (e.g. "email-taken");
     * NULL-free: empty when unset. Used as the suffix of a problem+json `type`. */
    char reason[48];
    /* HL_ERR_PG from the server: its five-character SQLSTATE (PostgreSQL Appendix A, e.g.
     * "23505" unique_violation, "40001" serialization_failure); "" otherwise (a client-side
     * libpq failure such as a lost connection has none). */
    char sqlstate[6];
    char message[HL_ERROR_MESSAGE_MAX];
} hl_error_t;

/* Fill err (may be NULL: then nothing happens) with domain, code and a printf-style message.
 * The reason slug and the SQLSTATE are cleared. Always returns false so callers can `return
 * hl_error_set(...)`. */
bool hl_error_set(hl_error_t *err, hl_error_domain_t domain, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Like hl_error_set, and also records a stable reason slug (copied, truncated to 47 bytes). */
bool hl_error_set_reason(hl_error_t *err, hl_error_domain_t domain, int code, const char *reason,
                         const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* True when err is a PostgreSQL error with SQLSTATE state (5 characters). */
bool hl_error_is_sqlstate(const hl_error_t *err, const char *state);

/* Reset err to "no error". */
void hl_error_clear(hl_error_t *err);

/* Name of a domain, for logs ("pg", "kafka", ...). Never NULL. */
const char *hl_error_domain_name(hl_error_domain_t domain);

#endif
