#include "hl/server.h"

#include "hl/log.h"
#include "hl/metrics.h"
#include "hl/signals.h"
#include "hl/trace.h"

#include <stdio.h>
#include <stdlib.h>

int hl_server_configure(const char *name, const hl_config_option_t *opts, size_t n,
                        const hl_config_check_fn *checks, void *cfg, size_t log_level_offset,
                        size_t log_json_offset, int argc, char **argv)
{
    hl_error_t err = {0};
    hl_signals_install();
    if (!hl_config_load(opts, n, cfg, argc, argv, NULL, &err) ||
        !hl_config_check(checks, cfg, &err)) {
        if (hl_config_is_help(&err)) {
            hl_config_usage(stdout, name, opts, n);
            return 0;
        }
        fprintf(stderr, "%s: %s\n", name, err.message);
        return 2;
    }
    const char *level_text = *(char *const *)((const char *)cfg + log_level_offset);
    bool json = *(const bool *)((const char *)cfg + log_json_offset);
    hl_log_level_t level = HL_LOG_INFO;
    if (!hl_log_level_parse(level_text, &level)) {
        fprintf(stderr, "%s: bad --log-level %s\n", name, level_text ? level_text : "");
        return 2;
    }
    hl_log_init(name, level, json);
    hl_config_log(opts, n, cfg);
    if (!hl_trace_init(name, &err)) {
        fprintf(stderr, "%s: %s\n", name, err.message);
        return 2;
    }
    return -1;
}

void hl_server_handle_healthz(hl_http_request_t *req)
{
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "status", "ok");
    hl_http_reply_json(req, 200, &doc, NULL);
    bson_destroy(&doc);
}

void hl_server_handle_metrics(hl_http_request_t *req)
{
    size_t len = 0;
    char *text = hl_metrics_render(&len);
    hl_http_reply_text(req, 200, "text/plain; version=0.0.4", text, len);
    free(text);
}
