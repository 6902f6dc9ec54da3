/* stream_ids.c: event ids of the streams (stream_ids.h). */
#include "stream_ids.h"

#include "hl/util.h"

#include <stdio.h>
#include <string.h>

void st_channel_tag(const char *channel, char out[9])
{
    snprintf(out, 9, "%08x", hl_fnv1a32(channel));
}

void st_id_format(const char *channel, const st_pos_t *pos, char out[ST_ID_MAX])
{
    char tag[9];
    st_channel_tag(channel, tag);
    if (pos->extra[0])
        snprintf(out, ST_ID_MAX, "%s.%lld.%lld.%s", tag, (long long)pos->a, (long long)pos->b,
                 pos->extra);
    else
        snprintf(out, ST_ID_MAX, "%s.%lld.%lld", tag, (long long)pos->a, (long long)pos->b);
}

/* Decimal digits at *p (1..18 of them) into *out; advances *p. */
static bool number(const char **p, int64_t *out)
{
    int64_t v = 0;
    int n = 0;
    while (**p >= '0' && **p <= '9') {
        if (++n > 18)
            return false;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    *out = v;
    return n > 0;
}

static bool bad(hl_error_t *err, const char *detail)
{
    return hl_error_set_reason(err, HL_ERR_INPUT, 400, "invalid-last-event-id", "%s", detail);
}

bool st_id_parse(const char *channel, const char *text, st_pos_t *pos, hl_error_t *err)
{
    char tag[9];
    memset(pos, 0, sizeof *pos);
    if (!text || strlen(text) >= ST_ID_MAX || strlen(text) < 12 || text[8] != '.')
        return bad(err, "Last-Event-ID is not an id of this API's streams");
    for (int i = 0; i < 8; i++)
        if (!((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f')))
            return bad(err, "Last-Event-ID is not an id of this API's streams");
    st_channel_tag(channel, tag);
    if (memcmp(text, tag, 8) != 0)
        return bad(err, "Last-Event-ID belongs to another stream");
    const char *p = text + 9;
    if (!number(&p, &pos->a) || *p++ != '.' || !number(&p, &pos->b))
        return bad(err, "Last-Event-ID is malformed");
    if (*p == '.') {
        p++;
        if (!hl_uuid_valid(p))
            return bad(err, "Last-Event-ID is malformed");
        snprintf(pos->extra, sizeof pos->extra, "%s", p);
        hl_ascii_lower(pos->extra);
    } else if (*p) {
        return bad(err, "Last-Event-ID is malformed");
    }
    return true;
}

bool st_pos_after(const st_pos_t *p, const st_pos_t *q)
{
    if (p->a != q->a)
        return p->a > q->a;
    if (p->b != q->b)
        return p->b > q->b;
    return strcmp(p->extra, q->extra) > 0;
}
