/* stream_work.h: the stream listener's worker pool: the MongoDB reads of subscriptions (checks,
 * gaps, snapshots) and the shared events they render (stream_work.c). */
#ifndef QS_STREAM_WORK_H
#define QS_STREAM_WORK_H

#include "stream_app.h"

#include "hl/error.h"

#include <stddef.h>

/* New event with data[0..len) copied; refs 1. NULL on OOM. */
st_event_t *st_event_new(const char *channel, const char *kind, const char *data, size_t len);
void st_event_unref(st_event_t *ev);

void st_job_free(st_job_t *job);

/* Render the notifications documents d (stubs skipped) as events of channel appended to
 * job->events (*cap its capacity), with the actors' names read once (stream_work.c). */
bool st_render_notifications(qs_ctx_t *ctx, const char *channel, qs_docs_t *d, st_job_t *job,
                             size_t *cap, hl_error_t *err);

/* Worker pool (stream_work.c): start cfg.workers threads; queue a job (takes it over; its
 * result comes back as ST_MSG_JOB); stop and join. */
bool st_workers_start(st_app_t *app, hl_error_t *err);
void st_job_submit(st_app_t *app, st_job_t *job);
void st_workers_stop(st_app_t *app);

#endif
