/* libFuzzer target: a Debezium change event (JsonConverter, schemas.enable=false) → the plan of
 * every captured table (projector/src/cdc.c, cdc_models.c). Byte 0 selects the table (the topic the
 * record came from), the rest is the Kafka message value. */
#include "fuzz_util.h"

#include "cdc_models.h"
#include "event_models.h"

static const char *const tables[] = {"users",    "sessions", "chat_rooms", "room_members",
                                     "messages", "jobs",     "friendships"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *table = tables[data[0] % (sizeof tables / sizeof tables[0])];
    pj_cdc_change_t c;
    hl_error_t err = {0};
    if (!pj_cdc_parse((const char *)data + 1, size - 1, &c, &err))
        return 0;
    pj_plan_t plan;
    pj_plan_init(&plan);
    pj_cdc_plan(table, &c, &plan, &err);
    pj_plan_destroy(&plan);
    pj_cdc_change_destroy(&c);
    return 0;
}
