/* schema_cache.c: the writer-schema cache (schema_cache.h). */
#include "schema_cache.h"

#include "hl/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_MAX 256
struct pj_schema_cache {
    hl_schema_registry_t *reg;
    int ids[CACHE_MAX];
    avro_schema_t schemas[CACHE_MAX];
    avro_value_iface_t *ifaces[CACHE_MAX];
    int n;
};

pj_schema_cache_t *pj_schema_cache_new(hl_schema_registry_t *reg)
{
    pj_schema_cache_t *c = hl_xcalloc(1, sizeof *c);
    if (c)
        c->reg = reg;
    return c;
}

void pj_schema_cache_destroy(pj_schema_cache_t *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n; i++) {
        avro_value_iface_decref(c->ifaces[i]);
        avro_schema_decref(c->schemas[i]);
    }
    free(c);
}

avro_value_iface_t *pj_schema_cache_get(pj_schema_cache_t *c, int id, hl_error_t *err)
{
    for (int i = 0; i < c->n; i++)
        if (c->ids[i] == id)
            return c->ifaces[i];
    if (c->n == CACHE_MAX) {
        hl_error_set(err, HL_ERR_AVRO, 0, "writer schema cache full");
        return NULL;
    }
    char *text = hl_schema_registry_get(c->reg, id, err);
    if (!text)
        return NULL;
    avro_schema_t schema = NULL;
    if (avro_schema_from_json_length(text, strlen(text), &schema) != 0) {
        hl_error_set_reason(err, HL_ERR_AVRO, 0, "bad-schema", "schema %d does not parse: %s", id,
                            avro_strerror());
        free(text);
        return NULL;
    }
    free(text);
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    if (!iface) {
        avro_schema_decref(schema);
        hl_error_set_reason(err, HL_ERR_AVRO, 0, "bad-schema", "schema %d: %s", id,
                            avro_strerror());
        return NULL;
    }
    c->ids[c->n] = id;
    c->schemas[c->n] = schema;
    c->ifaces[c->n] = iface;
    c->n++;
    return iface;
}
