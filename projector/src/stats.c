#include "stats.h"

#include "hl/util.h"

#include <stdio.h>

void pj_source_key(const char *topic, int32_t partition, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = topic; *p && n + 1 < cap; p++)
        out[n++] = (*p == '.' || *p == '$') ? '_' : *p;
    out[n] = '\0';
    snprintf(out + n, cap - n, "-%d", (int)partition);
}

void pj_daily_stats_update(const char *counter, int64_t occurred_us, const char *source,
                           int64_t position, bson_t *filter, bson_t *update)
{
    char day[16], path[160];
    hl_format_day(occurred_us, day, sizeof day);
    snprintf(path, sizeof path, "applied.%s", source);
    bson_init(filter);
    bson_init(update);
    bson_t or, a, b, cond, inc, set;
    BSON_APPEND_UTF8(filter, "_id", day);
    BSON_APPEND_ARRAY_BEGIN(filter, "$or", & or);
    BSON_APPEND_DOCUMENT_BEGIN(& or, "0", &a);
    BSON_APPEND_DOCUMENT_BEGIN(&a, path, &cond);
    BSON_APPEND_BOOL(&cond, "$exists", false);
    bson_append_document_end(&a, &cond);
    bson_append_document_end(& or, &a);
    BSON_APPEND_DOCUMENT_BEGIN(& or, "1", &b);
    BSON_APPEND_DOCUMENT_BEGIN(&b, path, &cond);
    BSON_APPEND_INT64(&cond, "$lt", position);
    bson_append_document_end(&b, &cond);
    bson_append_document_end(& or, &b);
    bson_append_array_end(filter, & or);

    BSON_APPEND_DOCUMENT_BEGIN(update, "$inc", &inc);
    BSON_APPEND_INT64(&inc, counter, 1);
    bson_append_document_end(update, &inc);
    BSON_APPEND_DOCUMENT_BEGIN(update, "$set", &set);
    BSON_APPEND_INT64(&set, path, position);
    BSON_APPEND_DATE_TIME(&set, "day", (occurred_us / 86400000000LL) * 86400000LL);
    bson_append_document_end(update, &set);
}
