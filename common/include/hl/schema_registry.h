/* hl/schema_registry.h: client for a Confluent-compatible schema registry REST API
 * (Confluent Schema Registry API v7; served locally by Apicurio's ccompat endpoint), on libcurl.
 *
 * Thread-safe: each call uses its own curl easy handle. Timeouts are per call. */
#ifndef HL_SCHEMA_REGISTRY_H
#define HL_SCHEMA_REGISTRY_H

#include "hl/error.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct hl_schema_registry hl_schema_registry_t;

/* base_url: e.g. "http://127.0.0.1:28081/apis/ccompat/v7" (copied). timeout_ms per request. */
hl_schema_registry_t *hl_schema_registry_new(const char *base_url, long timeout_ms,
                                             hl_error_t *err);
void hl_schema_registry_destroy(hl_schema_registry_t *reg);

/* PUT /config/{subject} {"compatibility": level} (level: "BACKWARD", ...). */
bool hl_schema_registry_set_compatibility(hl_schema_registry_t *reg, const char *subject,
                                          const char *level, hl_error_t *err);

/* POST /compatibility/subjects/{subject}/versions/latest. *compatible is true when the subject
 * does not exist yet. */
bool hl_schema_registry_check(hl_schema_registry_t *reg, const char *subject,
                              const char *schema_json, bool *compatible, hl_error_t *err);

/* POST /subjects/{subject}/versions {"schema": schema_json}; *id gets the global schema id. The
 * same schema registered again returns the same id. A 409 (incompatible) is an HL_ERR_HTTP
 * error with code 409 and the registry's message. */
bool hl_schema_registry_register(hl_schema_registry_t *reg, const char *subject,
                                 const char *schema_json, int *id, hl_error_t *err);

/* Publish a writer schema: set_compatibility(subject, level) then register, retrying every
 * 1,000 ms while the failure is transient (a transport error or an HTTP 5xx, e.g. a registry
 * still starting or answering slower than its timeout) until the hl_mono_ms() clock reaches
 * deadline_ms or shutdown is requested (hl/signals.h); each retry is logged at WARN. A 4xx (an
 * incompatible schema: 409; a malformed one: 422) fails at once. *id as for register. */
bool hl_schema_registry_publish(hl_schema_registry_t *reg, const char *subject,
                                const char *schema_json, const char *level, int64_t deadline_ms,
                                int *id, hl_error_t *err);

/* GET /schemas/ids/{id}: the schema text, malloc'd (caller frees). 404 → HL_ERR_HTTP code 404. */
char *hl_schema_registry_get(hl_schema_registry_t *reg, int id, hl_error_t *err);

#endif
