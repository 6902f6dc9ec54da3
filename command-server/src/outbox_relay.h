/* outbox_relay.h: publishes `events` rows listed in the `outbox` table to Kafka.
 *
 * Delivery is at-least-once and in aggregate-version order per key: rows are read in global
 * position order (positions of one aggregate increase with its version because the command
 * holds the aggregate's row lock while it inserts), produced with the idempotent producer keyed
 * by aggregate id, and their outbox rows are deleted only after Kafka acknowledged them. A crash
 * anywhere therefore re-sends, never loses. Only one relay publishes at a time across command
 * server instances (PostgreSQL advisory lock). The relay wakes on NOTIFY hl_outbox and also
 * polls every poll_interval_ms.
 *
 * The publishing relay also expires Idempotency-Key records (SPEC §2): every
 * CS_IDEMPOTENCY_SWEEP_MS it deletes idempotency_keys rows older than idempotency_ttl_s, at most
 * CS_IDEMPOTENCY_SWEEP_ROWS per statement. A request repeated after that runs again. */
#ifndef CS_OUTBOX_RELAY_H
#define CS_OUTBOX_RELAY_H

#include "hl/error.h"

#include <stdbool.h>

typedef struct {
    const char *pg_conninfo; /* borrowed during start only */
    const char *kafka_brokers;
    const char *kafka_overrides; /* "k=v,..." librdkafka properties or "" */
    int batch_size;              /* rows per round trip, 1..10000 */
    long poll_interval_ms;       /* fallback wake-up when no NOTIFY arrives */
    long long
        idempotency_ttl_s; /* Idempotency-Key records older than this are deleted; 0 = never */
} cs_relay_config_t;

#define CS_IDEMPOTENCY_SWEEP_MS   10000
#define CS_IDEMPOTENCY_SWEEP_ROWS 10000

typedef struct cs_relay cs_relay_t;

/* Start the relay thread. The producer is created here (errors: HL_ERR_KAFKA); PostgreSQL and
 * Kafka outages later are retried with backoff and never stop the thread. */
cs_relay_t *cs_relay_start(const cs_relay_config_t *cfg, hl_error_t *err);

/* Stop: finish the batch in flight, flush the producer (up to 10 s), delete acknowledged rows,
 * join the thread, free. NULL is ignored. */
void cs_relay_stop(cs_relay_t *relay);

/* True when the relay's producer currently reaches a broker (for /readyz). */
bool cs_relay_kafka_up(cs_relay_t *relay);

#endif
