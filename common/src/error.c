#include "hl/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 4, 0))) static void
error_vset(hl_error_t *err, hl_error_domain_t domain, int code, const char *fmt, va_list ap)
{
    err->domain = domain;
    err->code = code;
    err->sqlstate[0] = '\0';
    vsnprintf(err->message, sizeof err->message, fmt, ap);
}

bool hl_error_set(hl_error_t *err, hl_error_domain_t domain, int code, const char *fmt, ...)
{
    if (!err)
        return false;
    va_list ap;
    va_start(ap, fmt);
    error_vset(err, domain, code, fmt, ap);
    va_end(ap);
    err->reason[0] = '\0';
    return false;
}

bool hl_error_set_reason(hl_error_t *err, hl_error_domain_t domain, int code, const char *reason,
                         const char *fmt, ...)
{
    if (!err)
        return false;
    va_list ap;
    va_start(ap, fmt);
    error_vset(err, domain, code, fmt, ap);
    va_end(ap);
    snprintf(err->reason, sizeof err->reason, "%s", reason ? reason : "");
    return false;
}

bool hl_error_is_sqlstate(const hl_error_t *err, const char *state)
{
    return err && err->domain == HL_ERR_PG && !strcmp(err->sqlstate, state);
}

void hl_error_clear(hl_error_t *err)
{
    if (err)
        memset(err, 0, sizeof *err);
}

const char *hl_error_domain_name(hl_error_domain_t domain)
{
    switch (domain) {
    case HL_ERR_NONE:
        return "none";
    case HL_ERR_SYSTEM:
        return "system";
    case HL_ERR_CONFIG:
        return "config";
    case HL_ERR_INPUT:
        return "input";
    case HL_ERR_DOMAIN:
        return "domain";
    case HL_ERR_PG:
        return "pg";
    case HL_ERR_KAFKA:
        return "kafka";
    case HL_ERR_AVRO:
        return "avro";
    case HL_ERR_MONGO:
        return "mongo";
    case HL_ERR_HTTP:
        return "http";
    case HL_ERR_TIMEOUT:
        return "timeout";
    }
    return "unknown";
}
