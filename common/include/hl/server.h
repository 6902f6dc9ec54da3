/* hl/server.h: the start-up steps every hearlers server shares, and the handlers that are the
 * same on each (liveness, Prometheus metrics). */
#ifndef HL_SERVER_H
#define HL_SERVER_H

#include "hl/config.h"
#include "hl/http.h"

#include <stddef.h>

/* Install the signal handlers, load the configuration table into cfg (flags > environment >
 * defaults, hl_config_load), run the cross-field checks (NULL-terminated, may be NULL;
 * hl_config_check), answer --help, and set up logging from the struct's log level (char *, at
 * log_level_offset) and JSON switch (bool, at log_json_offset); then log the effective
 * configuration. name: the program name used in messages and logs (static string).
 * Returns -1 when the server should go on, otherwise the exit code to return from main:
 * 0 after --help, 2 for bad flags, environment values or log level (message on stderr). */
int hl_server_configure(const char *name, const hl_config_option_t *opts, size_t n,
                        const hl_config_check_fn *checks, void *cfg, size_t log_level_offset,
                        size_t log_json_offset, int argc, char **argv);

/* GET /healthz: 200 {"status": "ok"} while the process serves HTTP. */
void hl_server_handle_healthz(hl_http_request_t *req);

/* GET /metrics: every registered series and collector in the Prometheus text format 0.0.4. */
void hl_server_handle_metrics(hl_http_request_t *req);

#endif
