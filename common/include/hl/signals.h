/* hl/signals.h: SIGTERM/SIGINT handling for graceful shutdown.
 *
 * The handler only sets a volatile sig_atomic_t (as redis sigShutdownHandler does); main loops
 * poll hl_shutdown_requested() and then drain, flush, commit and exit 0. SIGPIPE is ignored. */
#ifndef HL_SIGNALS_H
#define HL_SIGNALS_H

#include <stdbool.h>

/* Install the handlers. Call once from main before starting threads. */
void hl_signals_install(void);

/* True once SIGTERM or SIGINT arrived (or hl_shutdown_request was called). */
bool hl_shutdown_requested(void);

/* Ask for shutdown from code (tests, fatal errors). */
void hl_shutdown_request(void);

/* Sleep up to ms milliseconds, returning early (true) when shutdown was requested. */
bool hl_sleep_or_shutdown(long ms);

#endif
