/* hl/config.h: one table declares every option once (after redis config.c static_configs[] and
 * its createIntConfig/createStringConfig declarations).
 *
 * Each server defines HL_CONFIG_TYPE as its config struct and declares a static array of typed
 * entries (HL_CONFIG_INT, HL_CONFIG_STRING, HL_CONFIG_SECRET, HL_CONFIG_BOOL, their _V variants
 * with a validate function, and HL_CONFIG_TOKEN_OPTIONS for the signing-key rotation every server
 * shares). The compiler checks each field's C type against the entry's, and an integer's default
 * against its range. Precedence: command-line flag (--name=value or --name value) > environment
 * variable > default. Integers are range-checked, then every value goes through its entry's
 * validate function, then the whole struct through the server's cross-field checks
 * (hl_config_check_fn, e.g. default wait <= max wait). Strings are heap copies owned by the
 * struct and released by hl_config_free. Options flagged secret are redacted when logged and in
 * usage. There are no apply functions: options are read once at start (no runtime CONFIG SET). */
#ifndef HL_CONFIG_H
#define HL_CONFIG_H

#include "hl/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum { HL_OPT_STRING, HL_OPT_INT, HL_OPT_BOOL } hl_config_type_t;

typedef struct hl_config_option hl_config_option_t;

/* Check one loaded value: value points at the field (char ** for strings, long long *, bool *).
 * False with err filled (HL_ERR_CONFIG; the message names the option and the source) refuses the
 * start. */
typedef bool (*hl_config_validate_fn)(const hl_config_option_t *o, const void *value,
                                      const char *from, hl_error_t *err);

/* A cross-field check on the whole loaded struct (cfg: the server's HL_CONFIG_TYPE). False with
 * err filled (HL_ERR_CONFIG) refuses the start. */
typedef bool (*hl_config_check_fn)(const void *cfg, hl_error_t *err);

struct hl_config_option {
    const char *name; /* flag name without dashes, e.g. "http-port" */
    const char *env;  /* environment variable, e.g. "HL_COMMAND_PORT" */
    hl_config_type_t type;
    const char *def;    /* default as text; NULL = empty string / 0 / false */
    long long min, max; /* inclusive bounds for HL_OPT_INT */
    bool secret;        /* redact in logs */
    size_t offset;      /* offsetof(struct, field): char * for STRING, long long for INT,
                         * bool for BOOL */
    const char *help;
    hl_config_validate_fn validate; /* NULL: the type and range checks only */
};

/* Typed entries for a table of options of struct HL_CONFIG_TYPE (define it before the table).
 * field: a member of HL_CONFIG_TYPE (long long for INT, char * for STRING/SECRET, bool for BOOL;
 * another type does not compile); name: the flag without dashes; env: the environment variable
 * (NULL: none); def: an integer literal in [lo, hi] (else it does not compile), a string literal
 * or NULL, true or false; help: one line for --help. */
#define HL_CONFIG_FIELD_(field, ctype)                                                             \
    (offsetof(HL_CONFIG_TYPE, field) +                                                             \
     0 * sizeof(_Generic(((HL_CONFIG_TYPE *)0)->field, ctype : 1)))
#define HL_CONFIG_INT_V(field, name_, env_, def_, lo, hi, validate_, help_)                        \
    {                                                                                              \
        .name = (name_), .env = (env_), .type = HL_OPT_INT, .def = #def_,                          \
        .min = (lo) + 0 * (long long)sizeof(char[((def_) >= (lo) && (def_) <= (hi)) ? 1 : -1]),    \
        .max = (hi), .offset = HL_CONFIG_FIELD_(field, long long), .help = (help_),                \
        .validate = (validate_)                                                                    \
    }
#define HL_CONFIG_INT(field, name_, env_, def_, lo, hi, help_)                                     \
    HL_CONFIG_INT_V(field, name_, env_, def_, lo, hi, NULL, help_)
#define HL_CONFIG_STRING_V(field, name_, env_, def_, validate_, help_)                             \
    {                                                                                              \
        .name = (name_), .env = (env_), .type = HL_OPT_STRING, .def = (def_),                      \
        .offset = HL_CONFIG_FIELD_(field, char *), .help = (help_), .validate = (validate_)        \
    }
#define HL_CONFIG_STRING(field, name_, env_, def_, help_)                                          \
    HL_CONFIG_STRING_V(field, name_, env_, def_, NULL, help_)
#define HL_CONFIG_SECRET(field, name_, env_, def_, help_)                                          \
    {                                                                                              \
        .name = (name_), .env = (env_), .type = HL_OPT_STRING, .def = (def_), .secret = true,      \
        .offset = HL_CONFIG_FIELD_(field, char *), .help = (help_)                                 \
    }
#define HL_CONFIG_BOOL(field, name_, env_, def_, help_)                                            \
    {                                                                                              \
        .name = (name_), .env = (env_), .type = HL_OPT_BOOL, .def = #def_,                         \
        .offset = HL_CONFIG_FIELD_(field, bool), .help = (help_)                                   \
    }

/* The token signing-key options every server shares (hl/token.h: key ring with one previous
 * secret during a rotation), into fields token_secret, token_secret_previous (char *) and
 * token_previous_until_s (long long) of HL_CONFIG_TYPE; check them with
 * hl_config_check_token_rotation. The default secret is the local stacks' one. */
#define HL_CONFIG_TOKEN_OPTIONS(peer_help)                                                         \
    HL_CONFIG_SECRET(token_secret, "token-secret", "HL_TOKEN_SECRET",                              \
                     "hearlers-dev-secret-change-me", peer_help),                                  \
        HL_CONFIG_SECRET(token_secret_previous, "token-secret-previous",                           \
                         "HL_TOKEN_SECRET_PREVIOUS", NULL,                                         \
                         "the secret before the last rotation: its tokens are accepted until "     \
                         "token-previous-until"),                                                  \
        HL_CONFIG_INT(token_previous_until_s, "token-previous-until", "HL_TOKEN_PREVIOUS_UNTIL",   \
                      0, 0, 4102444800LL,                                                          \
                      "end of the rotation overlap, Unix seconds (required with "                  \
                      "token-secret-previous)")

/* The options every server has: log level (validated) and JSON lines logs, into fields
 * log_level (char *) and log_json (bool) of HL_CONFIG_TYPE (hl_server_configure reads them). */
#define HL_CONFIG_LOG_OPTIONS                                                                      \
    HL_CONFIG_STRING_V(log_level, "log-level", "HL_LOG_LEVEL", "info", hl_config_valid_log_level,  \
                       "debug|info|warn|error"),                                                   \
        HL_CONFIG_BOOL(log_json, "log-json", "HL_LOG_JSON", false, "JSON lines logs")

/* The read store of the read side (query server, stream listener, projector): MongoDB
 * connection string (validated) and read-model database, into fields mongo_uri and mongo_db
 * (char *) of HL_CONFIG_TYPE. The defaults are the dev stack's. */
#define HL_CONFIG_MONGO_OPTIONS                                                                    \
    HL_CONFIG_STRING_V(mongo_uri, "mongo-uri", "HL_MONGO_URI", "mongodb://127.0.0.1:27027/",       \
                       hl_config_valid_mongo_uri, "MongoDB connection string"),                    \
        HL_CONFIG_STRING(mongo_db, "mongo-db", "HL_MONGO_DB", "hearlers_read",                     \
                         "read-model database")

/* Cross-field check of HL_CONFIG_TOKEN_OPTIONS: a previous secret needs a positive until and
 * must differ from the current one; an until without a previous secret is refused too (it would
 * silently do nothing). Errors: HL_ERR_CONFIG. */
bool hl_config_check_token_rotation(const char *secret, const char *previous, long long until_s,
                                    hl_error_t *err);

/* Define a cross-field check `static bool fn(const void *cfg, hl_error_t *err)` running
 * hl_config_check_token_rotation on the HL_CONFIG_TOKEN_OPTIONS fields of HL_CONFIG_TYPE. */
#define HL_CONFIG_TOKEN_CHECK(fn)                                                                  \
    static bool fn(const void *cfg, hl_error_t *err)                                               \
    {                                                                                              \
        const HL_CONFIG_TYPE *c_ = cfg;                                                            \
        return hl_config_check_token_rotation(c_->token_secret, c_->token_secret_previous,         \
                                              c_->token_previous_until_s, err);                    \
    }

/* Validate functions for HL_CONFIG_*_V entries. */
/* A log level hl_log_level_parse accepts (debug, info, warn, error). */
bool hl_config_valid_log_level(const hl_config_option_t *o, const void *value, const char *from,
                               hl_error_t *err);
/* An absolute http:// or https:// URL with a host, or empty (the feature is off). */
bool hl_config_valid_http_url(const hl_config_option_t *o, const void *value, const char *from,
                              hl_error_t *err);
/* A mongodb:// or mongodb+srv:// connection string. */
bool hl_config_valid_mongo_uri(const hl_config_option_t *o, const void *value, const char *from,
                               hl_error_t *err);

/* Fill the struct at cfg from defaults, then the environment, then argv (argv[0] skipped), then
 * run every entry's validate function on the value it ended with. Arguments that are not
 * options (no leading "--") are left in place and their count returned through
 * *positional_argc, compacted at the front of argv after argv[0] (may be NULL when none are
 * allowed; then a positional argument is an error). "--help" fails with HL_ERR_CONFIG and
 * reason "help" (hl_config_is_help): print hl_config_usage and exit 0.
 * Errors (HL_ERR_CONFIG, reason "bad-option"): unknown flag, missing value, bad integer, out of
 * bounds, refused by a validate function. */
bool hl_config_load(const hl_config_option_t *opts, size_t n, void *cfg, int argc, char **argv,
                    int *positional_argc, hl_error_t *err);

/* Run the NULL-terminated cross-field checks (may be NULL) on a loaded cfg; the first failure
 * fills err (HL_ERR_CONFIG). */
bool hl_config_check(const hl_config_check_fn *checks, const void *cfg, hl_error_t *err);

/* True when err is hl_config_load's answer to --help. */
bool hl_config_is_help(const hl_error_t *err);

/* Log the effective configuration at INFO, one option a line, secrets as "***". */
void hl_config_log(const hl_config_option_t *opts, size_t n, const void *cfg);

/* Print usage (flags, env vars, defaults, help text) to out. */
void hl_config_usage(FILE *out, const char *program, const hl_config_option_t *opts, size_t n);

/* Free the strings hl_config_load allocated in cfg. Safe on a zeroed struct. */
void hl_config_free(const hl_config_option_t *opts, size_t n, void *cfg);

/* Checked integer parse of a whole string (base 10). Returns false on junk, overflow or empty. */
bool hl_parse_ll(const char *text, long long *out);

#endif
