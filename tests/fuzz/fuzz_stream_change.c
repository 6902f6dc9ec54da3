/* libFuzzer target: a change-feed record as the stream listener consumes it from stream.changes
 * (query-server/src/stream_feed.c): Confluent framing (hl_confluent_unframe), Avro binary with
 * the StreamChange writer schema of schemas/ (HL_FUZZ_SCHEMAS_DIR; any schema id maps to it, as
 * the listener's registry lookup would return it), hl_event_decode, st_change_decode, then what
 * the renderer does with the untrusted parts before any read: the document parsed as JSON
 * (bson_new_from_json) and the channel routed (st_channel_route). */
#include "fuzz_util.h"

#include "hl/events.h"
#include "stream_proto.h"

#include <bson/bson.h>

static hl_event_catalog_t *cat;
static hl_topic_schema_t *topic;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!cat) {
        hl_error_t e = {0};
        hl_avro_bound_allocations();
        if (!(cat = hl_event_catalog_load(HL_FUZZ_SCHEMAS_DIR, &e)) ||
            !(topic = hl_event_catalog_topic(cat, "stream.changes")))
            abort();
    }
    int schema_id = 0;
    const uint8_t *body = NULL;
    size_t len = 0;
    hl_error_t err = {0};
    if (!hl_confluent_unframe(data, size, &schema_id, &body, &len, &err))
        return 0;
    avro_value_t value, record;
    const char *type = NULL;
    if (!hl_event_decode(topic->iface, body, len, &value, &record, &type, &err))
        return 0;
    st_change_t ch;
    if (st_change_decode(&record, &ch, &err)) {
        FUZZ_CHECK(ch.channel && ch.kind && ch.doc_id && ch.document);
        char id[37];
        (void)st_channel_route(ch.channel, id);
        FUZZ_CHECK(strlen(id) == 0 || strlen(id) == 36);
        bson_error_t berr;
        bson_t *doc = bson_new_from_json((const uint8_t *)ch.document, -1, &berr);
        if (doc)
            bson_destroy(doc);
    }
    avro_value_decref(&value);
    return 0;
}
