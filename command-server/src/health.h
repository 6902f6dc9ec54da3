/* health.h: the command server's readiness probe (health.c). */
#ifndef CS_HEALTH_H
#define CS_HEALTH_H

#include "hl/http.h"

/* GET /readyz: 200 {status "ready", postgres, kafka} when PostgreSQL answers SELECT 1 (a pooled
 * connection within 1 s) and the outbox relay reaches Kafka, else 503 with status "not-ready". */
void cs_handle_readyz(hl_http_request_t *req);

#endif
