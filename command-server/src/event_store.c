#include "event_store.h"

#include "hl/pg.h"

#include <stdio.h>
#include <stdlib.h>

bool cs_event_store_append(PGconn *conn, hl_event_t *ev, const cs_event_meta_t *meta,
                           cs_appended_t *out, hl_error_t *err)
{
    if (ev->topic->schema_id <= 0)
        return hl_error_set(err, HL_ERR_AVRO, 0, "no schema id registered for %s",
                            ev->topic->topic);
    hl_uuid_v7(out->event_id);
    if (!hl_avro_set_string(&ev->record, "event_id", out->event_id, err) ||
        !hl_avro_set_string(&ev->record, "aggregate_id", meta->aggregate_id, err) ||
        !hl_avro_set_long(&ev->record, "aggregate_version", meta->aggregate_version, err) ||
        !hl_avro_set_long(&ev->record, "occurred_at", meta->occurred_at_us, err) ||
        !hl_avro_set_string_opt(&ev->record, "causation_id", meta->causation_id, err) ||
        !hl_avro_set_string_opt(&ev->record, "correlation_id", meta->correlation_id, err))
        return false;
    uint8_t *payload = NULL;
    size_t len = 0;
    if (!hl_event_serialize(ev, &payload, &len, err))
        return false;

    char version[24], occurred[24], schema_id[16];
    snprintf(version, sizeof version, "%lld", (long long)meta->aggregate_version);
    snprintf(occurred, sizeof occurred, "%lld", (long long)meta->occurred_at_us);
    snprintf(schema_id, sizeof schema_id, "%d", ev->topic->schema_id);
    const char *values[12] = {out->event_id,
                              meta->aggregate_type,
                              meta->aggregate_id,
                              version,
                              ev->event_type,
                              ev->topic->topic,
                              schema_id,
                              (const char *)payload,
                              occurred,
                              meta->causation_id,
                              meta->correlation_id,
                              meta->traceparent};
    int lengths[12] = {0};
    int formats[12] = {0};
    lengths[7] = (int)len;
    formats[7] = 1; /* payload is bytea in binary */
    PGresult *res = PQexecParams(
        conn,
        "WITH e AS (INSERT INTO events (event_id, aggregate_type, aggregate_id, aggregate_version,"
        " event_type, topic, schema_id, payload, occurred_at, causation_id, correlation_id,"
        " traceparent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
        " 'epoch'::timestamptz + $9::bigint * interval '1 microsecond', $10, $11, $12) RETURNING "
        "position),"
        " o AS (INSERT INTO outbox (position) SELECT position FROM e)"
        " SELECT position, pg_notify('hl_outbox', '') FROM e",
        12, NULL, values, lengths, formats, 0);
    free(payload);
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
    if (ok)
        out->position = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    else
        hl_pg_error(res, conn, err);
    PQclear(res);
    return ok;
}
