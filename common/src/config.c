#include "hl/config.h"

#include "hl/log.h"
#include "hl/mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool hl_parse_ll(const char *text, long long *out)
{
    if (!text || !*text)
        return false;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || !end || *end != '\0')
        return false;
    *out = v;
    return true;
}

static bool parse_bool(const char *text, bool *out)
{
    if (!strcasecmp(text, "1") || !strcasecmp(text, "true") || !strcasecmp(text, "yes") ||
        !strcasecmp(text, "on")) {
        *out = true;
        return true;
    }
    if (!strcasecmp(text, "0") || !strcasecmp(text, "false") || !strcasecmp(text, "no") ||
        !strcasecmp(text, "off") || !*text) {
        *out = false;
        return true;
    }
    return false;
}

static bool set_option(const hl_config_option_t *o, void *cfg, const char *value, const char *from,
                       hl_error_t *err)
{
    char *base = (char *)cfg + o->offset;
    switch (o->type) {
    case HL_OPT_STRING: {
        char **slot = (char **)base;
        char *copy = hl_xstrdup(value ? value : "");
        free(*slot);
        *slot = copy;
        return true;
    }
    case HL_OPT_INT: {
        long long v = 0;
        if (value && *value && !hl_parse_ll(value, &v))
            return hl_error_set_reason(err, HL_ERR_CONFIG, 0, "bad-option",
                                       "%s: --%s expects an integer, got \"%s\"", from, o->name,
                                       value);
        if (v < o->min || v > o->max)
            return hl_error_set_reason(err, HL_ERR_CONFIG, 0, "bad-option",
                                       "%s: --%s must be in [%lld, %lld], got %lld", from, o->name,
                                       o->min, o->max, v);
        *(long long *)base = v;
        return true;
    }
    case HL_OPT_BOOL: {
        bool b = false;
        if (value && !parse_bool(value, &b))
            return hl_error_set_reason(err, HL_ERR_CONFIG, 0, "bad-option",
                                       "%s: --%s expects true/false, got \"%s\"", from, o->name,
                                       value);
        *(bool *)base = b;
        return true;
    }
    }
    return hl_error_set_reason(err, HL_ERR_CONFIG, 0, "bad-option", "bad option type");
}

static const hl_config_option_t *find_option(const hl_config_option_t *opts, size_t n,
                                             const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
            return &opts[i];
    return NULL;
}

bool hl_config_load(const hl_config_option_t *opts, size_t n, void *cfg, int argc, char **argv,
                    int *positional_argc, hl_error_t *err)
{
    for (size_t i = 0; i < n; i++)
        if (!set_option(&opts[i], cfg, opts[i].def, "default", err))
            return false;
    for (size_t i = 0; i < n; i++) {
        const char *v = opts[i].env ? getenv(opts[i].env) : NULL;
        if (v && !set_option(&opts[i], cfg, v, opts[i].env, err))
            return false;
    }
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            if (!positional_argc)
                return hl_error_set_reason(err, HL_ERR_CONFIG, 0, "bad-option",
                                           "unexpected argument \"%s\"", a);
            argv[1 + npos++] = argv[i];
            continue;
        }
        if (!strcmp(a, "--help"))
            return hl_error_set_reason(err, HL_ERR_CONFIG, 0, "help", "help");
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const hl_config_option_t *o = find_option(opts, n, name, len);
        if (!o)
            return hl_error_set_reason(err, HL_ERR_CONFIG, 0, "bad-option",
                                       "unknown flag --%.*s (see --help)", (int)len, name);
        const char *value = NULL;
        if (eq)
            value = eq + 1;
        else if (o->type == HL_OPT_BOOL)
            value = "true";
        else if (i + 1 < argc)
            value = argv[++i];
        else
            return hl_error_set_reason(err, HL_ERR_CONFIG, 0, "bad-option", "--%s needs a value",
                                       o->name);
        if (!set_option(o, cfg, value, "flag", err))
            return false;
    }
    for (size_t i = 0; i < n; i++)
        if (opts[i].validate &&
            !opts[i].validate(&opts[i], (const char *)cfg + opts[i].offset, "configuration", err))
            return false;
    if (positional_argc)
        *positional_argc = npos;
    return true;
}

bool hl_config_check(const hl_config_check_fn *checks, const void *cfg, hl_error_t *err)
{
    for (; checks && *checks; checks++)
        if (!(*checks)(cfg, err))
            return false;
    return true;
}

bool hl_config_is_help(const hl_error_t *err)
{
    return err->domain == HL_ERR_CONFIG && !strcmp(err->reason, "help");
}

bool hl_config_check_token_rotation(const char *secret, const char *previous, long long until_s,
                                    hl_error_t *err)
{
    bool has_previous = previous && *previous;
    if (!secret || !*secret)
        return hl_error_set_reason(err, HL_ERR_CONFIG, 0, "bad-option",
                                   "--token-secret must not be empty");
    if (has_previous && until_s <= 0)
        return hl_error_set_reason(err, HL_ERR_CONFIG, 0, "bad-option",
                                   "--token-secret-previous (HL_TOKEN_SECRET_PREVIOUS) needs "
                                   "--token-previous-until (HL_TOKEN_PREVIOUS_UNTIL: the Unix "
                                   "seconds until which tokens signed with it are accepted)");
    if (!has_previous && until_s > 0)
        return hl_error_set_reason(err, HL_ERR_CONFIG, 0, "bad-option",
                                   "--token-previous-until (HL_TOKEN_PREVIOUS_UNTIL) is set but "
                                   "--token-secret-previous (HL_TOKEN_SECRET_PREVIOUS) is not: "
                                   "there is no previous secret to accept");
    if (has_previous && !strcmp(previous, secret))
        return hl_error_set_reason(err, HL_ERR_CONFIG, 0, "bad-option",
                                   "--token-secret-previous equals --token-secret");
    return true;
}

bool hl_config_valid_log_level(const hl_config_option_t *o, const void *value, const char *from,
                               hl_error_t *err)
{
    const char *text = *(char *const *)value;
    hl_log_level_t level;
    if (text && hl_log_level_parse(text, &level))
        return true;
    return hl_error_set_reason(err, HL_ERR_CONFIG, 0, "bad-option",
                               "%s: --%s must be debug, info, warn or error, got \"%s\"", from,
                               o->name, text ? text : "");
}

bool hl_config_valid_http_url(const hl_config_option_t *o, const void *value, const char *from,
                              hl_error_t *err)
{
    const char *text = *(char *const *)value;
    if (!text || !*text)
        return true;
    const char *host = !strncmp(text, "http://", 7)    ? text + 7
                       : !strncmp(text, "https://", 8) ? text + 8
                                                       : NULL;
    if (host && *host && *host != '/' && *host != ':')
        return true;
    return hl_error_set_reason(err, HL_ERR_CONFIG, 0, "bad-option",
                               "%s: --%s must be an http:// or https:// URL, got \"%s\"", from,
                               o->name, text);
}

bool hl_config_valid_mongo_uri(const hl_config_option_t *o, const void *value, const char *from,
                               hl_error_t *err)
{
    const char *text = *(char *const *)value;
    const char *host = !text                                  ? NULL
                       : !strncmp(text, "mongodb://", 10)     ? text + 10
                       : !strncmp(text, "mongodb+srv://", 14) ? text + 14
                                                              : NULL;
    if (host && *host && *host != '/')
        return true;
    return hl_error_set_reason(err, HL_ERR_CONFIG, 0, "bad-option",
                               "%s: --%s must be a mongodb:// connection string, got \"%s\"", from,
                               o->name, text ? text : "");
}

static void format_value(const hl_config_option_t *o, const void *cfg, char *buf, size_t cap)
{
    const char *base = (const char *)cfg + o->offset;
    if (o->secret) {
        snprintf(buf, cap, "***");
        return;
    }
    switch (o->type) {
    case HL_OPT_STRING: {
        const char *v = *(char *const *)base ? *(char *const *)base : "";
        /* Redact a password inside a URL's userinfo ("scheme://user:secret@host"). */
        const char *scheme = strstr(v, "://");
        const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
        const char *colon = scheme ? strchr(scheme + 3, ':') : NULL;
        if (at && colon && colon < at)
            snprintf(buf, cap, "%.*s:***%s", (int)(colon - v), v, at);
        else
            snprintf(buf, cap, "%s", v);
        break;
    }
    case HL_OPT_INT:
        snprintf(buf, cap, "%lld", *(const long long *)base);
        break;
    case HL_OPT_BOOL:
        snprintf(buf, cap, "%s", *(const bool *)base ? "true" : "false");
        break;
    }
}

void hl_config_log(const hl_config_option_t *opts, size_t n, const void *cfg)
{
    for (size_t i = 0; i < n; i++) {
        char buf[512];
        format_value(&opts[i], cfg, buf, sizeof buf);
        HL_INFO("config %s=%s", opts[i].name, buf);
    }
}

void hl_config_usage(FILE *out, const char *program, const hl_config_option_t *opts, size_t n)
{
    fprintf(out, "usage: %s [--flag=value ...]\n\n", program);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "  --%-24s %-26s %s (default: %s)\n", opts[i].name,
                opts[i].env ? opts[i].env : "", opts[i].help ? opts[i].help : "",
                opts[i].secret ? "***" : (opts[i].def ? opts[i].def : ""));
}

void hl_config_free(const hl_config_option_t *opts, size_t n, void *cfg)
{
    for (size_t i = 0; i < n; i++) {
        if (opts[i].type != HL_OPT_STRING)
            continue;
        char **slot = (char **)((char *)cfg + opts[i].offset);
        free(*slot);
        *slot = NULL;
    }
}
