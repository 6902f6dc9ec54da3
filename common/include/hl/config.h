/* hl/config.h: one table declares every option once (after redis config.c static_configs[]).
 *
 * Each server declares a static array of hl_config_option_t describing fields of its own config
 * struct. Precedence: command-line flag (--name=value or --name value) > environment variable >
 * default. Integers are range-checked; strings are heap copies owned by the struct and released
 * by hl_config_free. Options flagged secret are redacted when logged. */
#ifndef HL_CONFIG_H
#define HL_CONFIG_H

#include "hl/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum { HL_OPT_STRING, HL_OPT_INT, HL_OPT_BOOL } hl_config_type_t;

typedef struct {
    const char *name; /* flag name without dashes, e.g. "http-port" */
    const char *env;  /* environment variable, e.g. "HL_COMMAND_PORT" */
    hl_config_type_t type;
    const char *def;    /* default as text; NULL = empty string / 0 / false */
    long long min, max; /* inclusive bounds for HL_OPT_INT */
    bool secret;        /* redact in logs */
    size_t offset;      /* offsetof(struct, field): char * for STRING, long long for INT,
                         * bool for BOOL */
    const char *help;
} hl_config_option_t;

/* Fill the struct at cfg from defaults, then the environment, then argv (argv[0] skipped).
 * Arguments that are not options (no leading "--") are left in place and their count returned
 * through *positional_argc, compacted at the front of argv after argv[0] (may be NULL when none
 * are allowed; then a positional argument is an error). "--help" sets err code 1 with domain
 * HL_ERR_CONFIG and message "help": print hl_config_usage and exit 0.
 * Errors: unknown flag, missing value, bad integer, out of bounds (HL_ERR_CONFIG). */
bool hl_config_load(const hl_config_option_t *opts, size_t n, void *cfg, int argc, char **argv,
                    int *positional_argc, hl_error_t *err);

/* Log the effective configuration at INFO, one option a line, secrets as "***". */
void hl_config_log(const hl_config_option_t *opts, size_t n, const void *cfg);

/* Print usage (flags, env vars, defaults, help text) to out. */
void hl_config_usage(FILE *out, const char *program, const hl_config_option_t *opts, size_t n);

/* Free the strings hl_config_load allocated in cfg. Safe on a zeroed struct. */
void hl_config_free(const hl_config_option_t *opts, size_t n, void *cfg);

/* Checked integer parse of a whole string (base 10). Returns false on junk, overflow or empty. */
bool hl_parse_ll(const char *text, long long *out);

#endif
