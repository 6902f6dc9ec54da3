/* consistency_gate.h: the read-your-writes gate of every read (SPEC §3): a request's
 * X-Consistency-Token checked and waited for (the wait itself: watermark_wait.h). */
#ifndef QS_CONSISTENCY_GATE_H
#define QS_CONSISTENCY_GATE_H

#include "app.h"

#include "hl/error.h"
#include "hl/http.h"

/* Read-your-writes (SPEC §3): when the request carries X-Consistency-Token, wait until the read
 * models reflect the write behind it, at most X-Consistency-Wait-Ms (default/max from config).
 * Errors: 400 "invalid-consistency-token" for a token that does not verify or parse; HL_ERR_TIMEOUT
 * (answered as 503 with Retry-After) when the wait runs out or cfg.max_waits reads already wait;
 * HL_ERR_MONGO when the store fails. The wait holds no store client. No header: returns true at
 * once. */
bool qs_await_consistency(qs_app_t *app, hl_http_request_t *req, hl_error_t *err);

#endif
