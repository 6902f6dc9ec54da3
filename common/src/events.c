#include "hl/events.h"

#include "hl/mem.h"

#include <bson/bson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *bounded_realloc(void *user_data, void *ptr, size_t osize, size_t nsize)
{
    (void)user_data;
    (void)osize;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    return nsize > HL_AVRO_MAX_ALLOC ? NULL : hl_xrealloc(ptr, nsize);
}

void hl_avro_bound_allocations(void)
{
    avro_set_allocator(bounded_realloc, NULL);
}

struct hl_event_catalog {
    size_t ntopics;
    hl_topic_schema_t *topics;
};

static char *read_file(const char *path, size_t *len, hl_error_t *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        hl_error_set(err, HL_ERR_CONFIG, 0, "cannot open %s", path);
        return NULL;
    }
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *nb = hl_xrealloc(buf, cap);
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static void topic_free(hl_topic_schema_t *t)
{
    for (size_t i = 0; i < t->nevents; i++)
        free((char *)t->event_types[i]);
    free(t->event_types);
    free((char *)t->topic);
    free((char *)t->subject);
    free((char *)t->schema_json);
    if (t->iface)
        avro_value_iface_decref(t->iface);
    if (t->schema)
        avro_schema_decref(t->schema);
}

void hl_event_catalog_destroy(hl_event_catalog_t *cat)
{
    if (!cat)
        return;
    for (size_t i = 0; i < cat->ntopics; i++)
        topic_free(&cat->topics[i]);
    free(cat->topics);
    free(cat);
}

/* Build one topic: read each .avsc, join them into a JSON array, parse with avro-c. */
static bool topic_load(hl_topic_schema_t *t, const char *dir, const char *topic, bson_iter_t *types,
                       hl_error_t *err)
{
    t->topic = hl_xstrdup(topic);
    size_t sl = strlen(topic) + sizeof "-value";
    char *subject = hl_xmalloc(sl);
    snprintf(subject, sl, "%s-value", topic);
    t->subject = subject;
    size_t cap = 64, ntypes = 0;
    t->event_types = hl_xcalloc(cap, sizeof *t->event_types);
    bson_string_t *json = bson_string_new("[");
    bool ok = true;
    while (ok && bson_iter_next(types)) {
        if (!BSON_ITER_HOLDS_UTF8(types) || ntypes == cap) {
            ok =
                hl_error_set(err, HL_ERR_CONFIG, 0, "topics.json: %s must list event names", topic);
            break;
        }
        const char *name = bson_iter_utf8(types, NULL);
        char path[1024];
        snprintf(path, sizeof path, "%s/%s.avsc", dir, name);
        size_t len = 0;
        char *text = read_file(path, &len, err);
        if (!text) {
            ok = false;
            break;
        }
        /* Reformat through libbson to get compact canonical-ish JSON without newlines. */
        bson_t doc;
        bson_error_t berr;
        if (!bson_init_from_json(&doc, text, (ssize_t)len, &berr)) {
            free(text);
            ok = hl_error_set(err, HL_ERR_CONFIG, 0, "%s: invalid JSON: %s", path, berr.message);
            break;
        }
        free(text);
        char *compact = bson_as_relaxed_extended_json(&doc, NULL);
        bson_destroy(&doc);
        bson_string_append(json, ntypes ? "," : "");
        bson_string_append(json, compact);
        bson_free(compact);
        t->event_types[ntypes++] = hl_xstrdup(name);
    }
    bson_string_append(json, "]");
    t->nevents = ntypes;
    if (ok && ntypes == 0)
        ok = hl_error_set(err, HL_ERR_CONFIG, 0, "topics.json: %s lists no events", topic);
    if (ok && avro_schema_from_json_length(json->str, json->len, &t->schema) != 0)
        ok = hl_error_set(err, HL_ERR_CONFIG, 0, "schema for %s does not parse: %s", topic,
                          avro_strerror());
    if (ok && !(t->iface = avro_generic_class_from_schema(t->schema)))
        ok = hl_error_set(err, HL_ERR_AVRO, 0, "avro class for %s: %s", topic, avro_strerror());
    t->schema_json = bson_string_free(json, false);
    return ok;
}

hl_event_catalog_t *hl_event_catalog_load(const char *schemas_dir, hl_error_t *err)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/topics.json", schemas_dir);
    size_t len = 0;
    char *text = read_file(path, &len, err);
    if (!text)
        return NULL;
    bson_t doc;
    bson_error_t berr;
    hl_event_catalog_t *cat = NULL;
    if (!bson_init_from_json(&doc, text, (ssize_t)len, &berr)) {
        hl_error_set(err, HL_ERR_CONFIG, 0, "%s: invalid JSON: %s", path, berr.message);
        free(text);
        return NULL;
    }
    free(text);
    bson_iter_t it, topics;
    if (!bson_iter_init_find(&it, &doc, "topics") || !BSON_ITER_HOLDS_DOCUMENT(&it) ||
        !bson_iter_recurse(&it, &topics)) {
        hl_error_set(err, HL_ERR_CONFIG, 0, "%s: missing object \"topics\"", path);
        goto fail;
    }
    hl_avro_bound_allocations();
    cat = hl_xcalloc(1, sizeof *cat);
    cat->topics = hl_xcalloc(32, sizeof *cat->topics);
    while (bson_iter_next(&topics)) {
        bson_iter_t types;
        if (cat->ntopics == 32 || !BSON_ITER_HOLDS_ARRAY(&topics) ||
            !bson_iter_recurse(&topics, &types)) {
            hl_error_set(err, HL_ERR_CONFIG, 0, "%s: each topic maps to an array", path);
            goto fail;
        }
        hl_topic_schema_t *t = &cat->topics[cat->ntopics++];
        if (!topic_load(t, schemas_dir, bson_iter_key(&topics), &types, err))
            goto fail;
    }
    bson_destroy(&doc);
    return cat;
fail:
    bson_destroy(&doc);
    hl_event_catalog_destroy(cat);
    return NULL;
}

size_t hl_event_catalog_topic_count(const hl_event_catalog_t *cat)
{
    return cat->ntopics;
}

hl_topic_schema_t *hl_event_catalog_topic_at(hl_event_catalog_t *cat, size_t i)
{
    return i < cat->ntopics ? &cat->topics[i] : NULL;
}

hl_topic_schema_t *hl_event_catalog_find(hl_event_catalog_t *cat, const char *event_type,
                                         int *branch)
{
    for (size_t i = 0; i < cat->ntopics; i++)
        for (size_t j = 0; j < cat->topics[i].nevents; j++)
            if (!strcmp(cat->topics[i].event_types[j], event_type)) {
                if (branch)
                    *branch = (int)j;
                return &cat->topics[i];
            }
    return NULL;
}

hl_topic_schema_t *hl_event_catalog_topic(hl_event_catalog_t *cat, const char *topic)
{
    for (size_t i = 0; i < cat->ntopics; i++)
        if (!strcmp(cat->topics[i].topic, topic))
            return &cat->topics[i];
    return NULL;
}

bool hl_event_init(hl_event_t *ev, hl_event_catalog_t *cat, const char *event_type, hl_error_t *err)
{
    memset(ev, 0, sizeof *ev);
    int branch = 0;
    hl_topic_schema_t *t = hl_event_catalog_find(cat, event_type, &branch);
    if (!t)
        return hl_error_set(err, HL_ERR_AVRO, 0, "unknown event type %s", event_type);
    if (avro_generic_value_new(t->iface, &ev->value) != 0)
        return hl_error_set(err, HL_ERR_AVRO, 0, "avro value: %s", avro_strerror());
    if (avro_value_set_branch(&ev->value, branch, &ev->record) != 0) {
        avro_value_decref(&ev->value);
        return hl_error_set(err, HL_ERR_AVRO, 0, "avro branch: %s", avro_strerror());
    }
    ev->topic = t;
    ev->event_type = t->event_types[branch];
    return true;
}

void hl_event_destroy(hl_event_t *ev)
{
    if (ev && ev->topic) {
        avro_value_decref(&ev->value);
        ev->topic = NULL;
    }
}

static bool field(avro_value_t *rec, const char *name, avro_value_t *out, hl_error_t *err)
{
    if (avro_value_get_by_name(rec, name, out, NULL) != 0)
        return hl_error_set(err, HL_ERR_AVRO, 0, "no field \"%s\" in the schema", name);
    return true;
}

static bool set_string(avro_value_t *v, const char *name, const char *s, hl_error_t *err)
{
    if (avro_value_get_type(v) != AVRO_STRING || avro_value_set_string(v, s) != 0)
        return hl_error_set(err, HL_ERR_AVRO, 0, "field \"%s\" is not a string", name);
    return true;
}

bool hl_avro_set_string(avro_value_t *rec, const char *name, const char *s, hl_error_t *err)
{
    avro_value_t f;
    return field(rec, name, &f, err) && set_string(&f, name, s, err);
}

/* Select branch of a ["null", T] union: 0 for null, 1 for the value. */
static bool set_opt_branch(avro_value_t *rec, const char *name, bool present, avro_value_t *branch,
                           hl_error_t *err)
{
    avro_value_t f;
    if (!field(rec, name, &f, err))
        return false;
    if (avro_value_get_type(&f) != AVRO_UNION ||
        avro_value_set_branch(&f, present ? 1 : 0, branch) != 0)
        return hl_error_set(err, HL_ERR_AVRO, 0, "field \"%s\" is not [null, T]", name);
    if (!present)
        avro_value_set_null(branch);
    return true;
}

bool hl_avro_set_string_opt(avro_value_t *rec, const char *name, const char *s, hl_error_t *err)
{
    avro_value_t b;
    if (!set_opt_branch(rec, name, s != NULL, &b, err))
        return false;
    return !s || set_string(&b, name, s, err);
}

bool hl_avro_set_long(avro_value_t *rec, const char *name, int64_t v, hl_error_t *err)
{
    avro_value_t f;
    if (!field(rec, name, &f, err))
        return false;
    if (avro_value_get_type(&f) == AVRO_INT32 && v >= INT32_MIN && v <= INT32_MAX &&
        avro_value_set_int(&f, (int32_t)v) == 0)
        return true;
    if (avro_value_get_type(&f) != AVRO_INT64 || avro_value_set_long(&f, v) != 0)
        return hl_error_set(err, HL_ERR_AVRO, 0, "field \"%s\" is not a long", name);
    return true;
}

/* The array field name of rec, emptied, into *f. Errors: HL_ERR_AVRO (no such field, not an
 * array). */
static bool empty_array(avro_value_t *rec, const char *name, avro_value_t *f, hl_error_t *err)
{
    if (!field(rec, name, f, err))
        return false;
    if (avro_value_get_type(f) != AVRO_ARRAY)
        return hl_error_set(err, HL_ERR_AVRO, 0, "field \"%s\" is not an array", name);
    avro_value_reset(f);
    return true;
}

bool hl_avro_set_long_array(avro_value_t *rec, const char *name, const int64_t *items, size_t n,
                            hl_error_t *err)
{
    avro_value_t f;
    if (!empty_array(rec, name, &f, err))
        return false;
    for (size_t i = 0; i < n; i++) {
        avro_value_t item;
        if (avro_value_append(&f, &item, NULL) != 0 || avro_value_set_long(&item, items[i]) != 0)
            return hl_error_set(err, HL_ERR_AVRO, 0, "field \"%s\": append failed", name);
    }
    return true;
}

bool hl_avro_set_bool(avro_value_t *rec, const char *name, bool v, hl_error_t *err)
{
    avro_value_t f;
    if (!field(rec, name, &f, err))
        return false;
    if (avro_value_get_type(&f) != AVRO_BOOLEAN || avro_value_set_boolean(&f, v) != 0)
        return hl_error_set(err, HL_ERR_AVRO, 0, "field \"%s\" is not a boolean", name);
    return true;
}

bool hl_avro_set_string_array(avro_value_t *rec, const char *name, const char *const *items,
                              size_t n, hl_error_t *err)
{
    avro_value_t f;
    if (!empty_array(rec, name, &f, err))
        return false;
    for (size_t i = 0; i < n; i++) {
        avro_value_t item;
        if (avro_value_append(&f, &item, NULL) != 0 || !set_string(&item, name, items[i], err))
            return hl_error_set(err, HL_ERR_AVRO, 0, "field \"%s\": append failed", name);
    }
    return true;
}

bool hl_avro_get_string(avro_value_t *rec, const char *name, const char **s, hl_error_t *err)
{
    avro_value_t f;
    size_t size = 0;
    if (!field(rec, name, &f, err))
        return false;
    if (avro_value_get_type(&f) != AVRO_STRING || avro_value_get_string(&f, s, &size) != 0)
        return hl_error_set(err, HL_ERR_AVRO, 0, "field \"%s\" is not a string", name);
    return true;
}

bool hl_avro_get_string_opt(avro_value_t *rec, const char *name, const char **s, hl_error_t *err)
{
    avro_value_t f, b;
    size_t size = 0;
    int disc = -1;
    if (!field(rec, name, &f, err))
        return false;
    if (avro_value_get_type(&f) == AVRO_STRING) /* a writer that made the field required */
        return avro_value_get_string(&f, s, &size) == 0 ||
               hl_error_set(err, HL_ERR_AVRO, 0, "field \"%s\"", name);
    if (avro_value_get_type(&f) != AVRO_UNION || avro_value_get_discriminant(&f, &disc) != 0 ||
        avro_value_get_current_branch(&f, &b) != 0)
        return hl_error_set(err, HL_ERR_AVRO, 0, "field \"%s\" is not [null, string]", name);
    if (avro_value_get_type(&b) == AVRO_NULL) {
        *s = NULL;
        return true;
    }
    if (avro_value_get_type(&b) != AVRO_STRING || avro_value_get_string(&b, s, &size) != 0)
        return hl_error_set(err, HL_ERR_AVRO, 0, "field \"%s\" is not [null, string]", name);
    return true;
}

bool hl_avro_get_long(avro_value_t *rec, const char *name, int64_t *v, hl_error_t *err)
{
    avro_value_t f;
    if (!field(rec, name, &f, err))
        return false;
    if (avro_value_get_type(&f) == AVRO_INT32) {
        int32_t i = 0;
        avro_value_get_int(&f, &i);
        *v = i;
        return true;
    }
    if (avro_value_get_type(&f) != AVRO_INT64 || avro_value_get_long(&f, v) != 0)
        return hl_error_set(err, HL_ERR_AVRO, 0, "field \"%s\" is not a long", name);
    return true;
}

bool hl_avro_get_bool(avro_value_t *rec, const char *name, bool *v, hl_error_t *err)
{
    avro_value_t f;
    int b = 0;
    if (!field(rec, name, &f, err))
        return false;
    if (avro_value_get_type(&f) != AVRO_BOOLEAN || avro_value_get_boolean(&f, &b) != 0)
        return hl_error_set(err, HL_ERR_AVRO, 0, "field \"%s\" is not a boolean", name);
    *v = b != 0;
    return true;
}

bool hl_event_serialize(hl_event_t *ev, uint8_t **out, size_t *len, hl_error_t *err)
{
    size_t size = 0;
    *out = NULL;
    if (avro_value_sizeof(&ev->value, &size) != 0)
        return hl_error_set(err, HL_ERR_AVRO, 0, "avro sizeof: %s", avro_strerror());
    uint8_t *buf = hl_xmalloc(size ? size : 1);
    avro_writer_t w = avro_writer_memory((const char *)buf, (int64_t)size);
    int rc = avro_value_write(w, &ev->value);
    avro_writer_free(w);
    if (rc != 0) {
        free(buf);
        return hl_error_set(err, HL_ERR_AVRO, 0, "avro write %s: %s", ev->event_type,
                            avro_strerror());
    }
    *out = buf;
    *len = size;
    return true;
}

bool hl_confluent_frame(int schema_id, const uint8_t *body, size_t len, uint8_t **out,
                        size_t *out_len, hl_error_t *err)
{
    (void)err; /* nothing can fail: allocation failure aborts (hl/mem.h) */
    uint8_t *buf = hl_xmalloc(len + 5);
    uint32_t id = (uint32_t)schema_id;
    buf[0] = 0;
    buf[1] = (uint8_t)(id >> 24);
    buf[2] = (uint8_t)(id >> 16);
    buf[3] = (uint8_t)(id >> 8);
    buf[4] = (uint8_t)id;
    if (len)
        memcpy(buf + 5, body, len);
    *out = buf;
    *out_len = len + 5;
    return true;
}

bool hl_confluent_unframe(const uint8_t *buf, size_t len, int *schema_id, const uint8_t **body,
                          size_t *body_len, hl_error_t *err)
{
    if (!buf || len < 5 || buf[0] != 0)
        return hl_error_set_reason(err, HL_ERR_AVRO, 0, "bad-framing",
                                   "not a Confluent frame (%zu bytes, magic %d)", len,
                                   buf && len ? buf[0] : -1);
    *schema_id = (int)(((uint32_t)buf[1] << 24) | ((uint32_t)buf[2] << 16) |
                       ((uint32_t)buf[3] << 8) | buf[4]);
    *body = buf + 5;
    *body_len = len - 5;
    return true;
}

/* One zig-zag varint long (Avro spec "Binary Encoding") at *p, at most 10 bytes before end. */
static bool shape_long(const uint8_t **p, const uint8_t *end, int64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (*p >= end)
            return false;
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
            return true;
        }
    }
    return false;
}

/* Whether [*p, end) starts with a well-formed encoding of schema s: every length and count
 * within the bytes that are there, every union branch and enum symbol in range. Advances *p.
 * avro-c 1.11.1 trusts the lengths it reads: it allocates a string's claimed size first (a few
 * corrupt bytes claimed 7 GB; tests/fuzz/fuzz_event_plan), leaks that buffer when the bytes are
 * missing (AVRO-4246, fixed upstream after 1.11.1) and crashes freeing an array whose growth
 * failed; so hl_event_decode lets it read only input this walk accepted. */
static bool shape_ok(avro_schema_t s, const uint8_t **p, const uint8_t *end, int depth)
{
    int64_t n = 0;
    if (depth > 32)
        return false;
    switch (avro_typeof(s)) {
    case AVRO_NULL:
        return true;
    case AVRO_BOOLEAN:
        return *p < end && *(*p)++ <= 1;
    case AVRO_INT32:
    case AVRO_INT64:
        return shape_long(p, end, &n);
    case AVRO_FLOAT:
    case AVRO_DOUBLE: {
        size_t w = avro_typeof(s) == AVRO_FLOAT ? 4 : 8;
        if ((size_t)(end - *p) < w)
            return false;
        *p += w;
        return true;
    }
    case AVRO_STRING:
    case AVRO_BYTES:
        if (!shape_long(p, end, &n) || n < 0 || (uint64_t)n > (uint64_t)(end - *p))
            return false;
        *p += n;
        return true;
    case AVRO_FIXED:
        n = avro_schema_fixed_size(s);
        if (n < 0 || (uint64_t)n > (uint64_t)(end - *p))
            return false;
        *p += n;
        return true;
    case AVRO_ENUM:
        return shape_long(p, end, &n) && n >= 0 && n < avro_schema_enum_number_of_symbols(s);
    case AVRO_UNION:
        if (!shape_long(p, end, &n) || n < 0 || (uint64_t)n >= avro_schema_union_size(s))
            return false;
        return shape_ok(avro_schema_union_branch(s, (int)n), p, end, depth + 1);
    case AVRO_RECORD:
        for (size_t i = 0; i < avro_schema_record_size(s); i++)
            if (!shape_ok(avro_schema_record_field_get_by_index(s, (int)i), p, end, depth + 1))
                return false;
        return true;
    case AVRO_ARRAY:
    case AVRO_MAP:
        for (;;) { /* blocks: count (negative: then the block's byte size), items; 0 ends */
            int64_t size = 0;
            if (!shape_long(p, end, &n))
                return false;
            if (n == 0)
                return true;
            if (n < 0) {
                if (n == INT64_MIN || !shape_long(p, end, &size) || size < 0)
                    return false;
                n = -n;
            }
            /* every item takes at least one byte here (no zero-width item types in arrays of
             * ours; a null or empty-record item would take none): a count above the bytes left
             * is corrupt */
            if ((uint64_t)n > (uint64_t)(end - *p))
                return false;
            for (int64_t i = 0; i < n; i++) {
                int64_t klen = 0; /* a map key: a string */
                if (avro_typeof(s) == AVRO_MAP &&
                    (!shape_long(p, end, &klen) || klen < 0 ||
                     (uint64_t)klen > (uint64_t)(end - *p) || (*p += klen, false)))
                    return false;
                avro_schema_t item = avro_typeof(s) == AVRO_MAP ? avro_schema_map_values(s)
                                                                : avro_schema_array_items(s);
                if (!shape_ok(item, p, end, depth + 1))
                    return false;
            }
        }
    case AVRO_LINK:
        return shape_ok(avro_schema_link_target(s), p, end, depth + 1);
    }
    return false;
}

bool hl_event_decode(avro_value_iface_t *writer_iface, const uint8_t *body, size_t len,
                     avro_value_t *out, avro_value_t *record, const char **event_type,
                     hl_error_t *err)
{
    if (avro_generic_value_new(writer_iface, out) != 0)
        return hl_error_set(err, HL_ERR_AVRO, 0, "avro value: %s", avro_strerror());
    const uint8_t *at = body;
    if (!body || !shape_ok(avro_value_get_schema(out), &at, body + len, 0)) {
        avro_value_decref(out);
        return hl_error_set_reason(err, HL_ERR_AVRO, 0, "undecodable",
                                   "Avro body does not decode with the writer schema: a length, "
                                   "count or branch beyond the %zu bytes",
                                   len);
    }
    avro_reader_t r = avro_reader_memory((const char *)body, (int64_t)len);
    int rc = avro_value_read(r, out);
    /* avro-c's memory reader cannot say how much it consumed (avro_reader_is_eof only works for
     * files), so probe for one more byte: a memory read past the end fails, a successful one
     * means trailing bytes. (Comparing avro_value_sizeof with len would reject valid encodings
     * that are not canonical: arrays written in several blocks or with negative block counts.) */
    char extra;
    bool trailing = rc == 0 && avro_read(r, &extra, 1) == 0;
    avro_reader_free(r);
    if (rc != 0 || trailing) {
        avro_value_decref(out);
        return hl_error_set_reason(err, HL_ERR_AVRO, 0, "undecodable",
                                   "Avro body does not decode with the writer schema: %s",
                                   rc ? avro_strerror() : "trailing bytes");
    }
    if (avro_value_get_type(out) != AVRO_UNION || avro_value_get_current_branch(out, record) != 0 ||
        avro_value_get_type(record) != AVRO_RECORD) {
        avro_value_decref(out);
        return hl_error_set_reason(err, HL_ERR_AVRO, 0, "undecodable",
                                   "writer schema is not a union of records");
    }
    avro_schema_t rs = avro_value_get_schema(record);
    *event_type = avro_schema_name(rs);
    return true;
}
