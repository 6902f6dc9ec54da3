/* saga.h: the booking saga's process manager (SPEC §9), running inside the command server.
 *
 * Worker threads (each with its own PostgreSQL connection and payment provider client) claim
 * due sagas from the `sagas` table with a lease (UPDATE ... FOR UPDATE SKIP LOCKED), perform the
 * current state's action (saga_sm.h) outside any transaction, and commit the transition with
 * its rows, domain events and the job's new state in one transaction that first re-checks the
 * lease. A worker that dies (kill -9) leaves its lease to expire; the saga is then due again and
 * resumes from its stored state, repeating the provider call with the same idempotency key
 * "<saga id>:<action>". Commands wake a worker (cs_saga_wake) after committing a new saga, and
 * a worker that claims one wakes another; one worker also polls every poll_ms (for retries that
 * come due, expired leases and sagas another process created), the others only every
 * 25 x poll_ms. */
#ifndef CS_SAGA_H
#define CS_SAGA_H

#include "hl/error.h"
#include "hl/events.h"

#include <stdint.h>

typedef struct {
    const char *pg_conninfo;    /* borrowed for the call */
    const char *payment_url;    /* provider base URL */
    const char *payment_secret; /* provider secret key */
    long payment_timeout_ms;    /* per provider call */
    int workers;                /* threads, >= 1 */
    long poll_ms;               /* the polling worker's interval without cs_saga_wake, ms */
    /* Test hook (HL_SAGA_CRASH_AT): the process kills itself with SIGKILL at this named point,
     * e.g. "after-confirm-call" (a provider call answered, its transition not committed) or
     * "after-confirm_booking-commit". NULL or "" = never. */
    const char *crash_at;
    hl_event_catalog_t *catalog; /* borrowed; schema ids known */
} cs_saga_config_t;

typedef struct cs_saga_runner cs_saga_runner_t;

/* Start the workers. Returns NULL with err on failure (threads or clients not created);
 * memory comes from hl/mem.h (aborts when exhausted). */
cs_saga_runner_t *cs_saga_start(const cs_saga_config_t *cfg, hl_error_t *err);

/* Wake an idle worker to look for due sagas now (thread-safe; NULL is ignored). */
void cs_saga_wake(cs_saga_runner_t *r);

/* Kill the process with SIGKILL when point equals the configured crash_at (test hook). */
void cs_saga_crash_point(cs_saga_runner_t *r, const char *point);

/* Stop the workers after their current step (a claimed saga whose step was not committed is
 * resumed by the next start) and free everything. NULL is ignored. */
void cs_saga_stop(cs_saga_runner_t *r);

#endif
