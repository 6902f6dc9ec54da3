/* schema_cache.h: the writer schemas of the projector's inputs, fetched from the schema registry
 * by id (Confluent framing: magic byte 0, 4-byte big-endian id) and cached for the process. */
#ifndef PJ_SCHEMA_CACHE_H
#define PJ_SCHEMA_CACHE_H

#include "hl/error.h"
#include "hl/schema_registry.h"

#include <avro.h>

/* Writer schemas fetched from the registry by id (Confluent framing), cached for the process. */
typedef struct pj_schema_cache pj_schema_cache_t;
pj_schema_cache_t *pj_schema_cache_new(hl_schema_registry_t *reg);
void pj_schema_cache_destroy(pj_schema_cache_t *cache);
/* The generic value class for schema id. NULL with HL_ERR_HTTP code 404 when the registry does
 * not know the id (poison), other codes when it is unreachable (retry). Borrowed pointer. */
avro_value_iface_t *pj_schema_cache_get(pj_schema_cache_t *cache, int id, hl_error_t *err);

#endif
