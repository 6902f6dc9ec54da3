/* libFuzzer target: a Confluent-framed Avro domain event → its plan (common/src/events.c,
 * projector/src/event_models.c), for every event schema. The frame's schema id picks the writer
 * schema: the value schema of topic (id - 1) mod topics of schemas/topics.json
 * (HL_FUZZ_SCHEMAS_DIR), as the projector's registry cache would; then hl_event_decode and
 * pj_event_plan (read state of notifications is settled by the executor from the store, not planned
 * here). */
#include "fuzz_util.h"

#include "hl/events.h"
#include "cdc_models.h"
#include "event_models.h"

static hl_event_catalog_t *cat;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!cat) {
        hl_error_t e = {0};
        /* as the projector does at start (main.c); the catalog load installs it too */
        hl_avro_bound_allocations();
        if (!(cat = hl_event_catalog_load(HL_FUZZ_SCHEMAS_DIR, &e)))
            abort();
    }
    int schema_id = 0;
    const uint8_t *body = NULL;
    size_t len = 0;
    hl_error_t err = {0};
    if (!hl_confluent_unframe(data, size, &schema_id, &body, &len, &err))
        return 0;
    size_t ntopics = hl_event_catalog_topic_count(cat);
    hl_topic_schema_t *t =
        hl_event_catalog_topic_at(cat, (size_t)((unsigned)schema_id - 1u) % ntopics);
    avro_value_t value, record;
    const char *type = NULL;
    if (!hl_event_decode(t->iface, body, len, &value, &record, &type, &err))
        return 0;
    pj_plan_t plan;
    pj_plan_init(&plan);
    pj_event_plan(type, &record, &plan, &err);
    pj_plan_destroy(&plan);
    avro_value_decref(&value);
    return 0;
}
