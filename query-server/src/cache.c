/* cache.c: see cache.h. */
#include "cache.h"

#include "hl/mem.h"
#include "hl/util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char key[QS_CACHE_KEY_MAX];
    int64_t value;
    int64_t expires_at_ms;
} slot_t;

struct qs_cache {
    pthread_mutex_t lock;
    size_t mask;
    slot_t *slots;
};

/* A zeroed slot array for at least nslots slots (a power of two, 16 to 2^30) of slot_size bytes
 * each; *mask is the slot count - 1. Returns NULL when out of memory (caller frees). */
static void *slots_new(size_t nslots, size_t slot_size, size_t *mask)
{
    size_t n = 16;
    while (n < nslots && n < ((size_t)1 << 30))
        n <<= 1;
    *mask = n - 1;
    return hl_xcalloc(n, slot_size);
}

qs_cache_t *qs_cache_new(size_t nslots)
{
    qs_cache_t *c = hl_xcalloc(1, sizeof *c);
    c->slots = slots_new(nslots, sizeof *c->slots, &c->mask);
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

void qs_cache_destroy(qs_cache_t *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->lock);
    free(c->slots);
    free(c);
}

bool qs_cache_get(qs_cache_t *c, const char *key, int64_t now_ms, int64_t *value)
{
    if (!c || strlen(key) >= QS_CACHE_KEY_MAX)
        return false;
    bool hit = false;
    pthread_mutex_lock(&c->lock);
    slot_t *s = &c->slots[hl_fnv1a64(key) & c->mask];
    if (s->key[0] && !strcmp(s->key, key) && now_ms < s->expires_at_ms) {
        *value = s->value;
        hit = true;
    }
    pthread_mutex_unlock(&c->lock);
    return hit;
}

void qs_cache_put(qs_cache_t *c, const char *key, int64_t value, int64_t expires_at_ms)
{
    size_t n = strlen(key);
    if (!c || n >= QS_CACHE_KEY_MAX || n == 0)
        return;
    pthread_mutex_lock(&c->lock);
    slot_t *s = &c->slots[hl_fnv1a64(key) & c->mask];
    memcpy(s->key, key, n + 1);
    s->value = value;
    s->expires_at_ms = expires_at_ms;
    pthread_mutex_unlock(&c->lock);
}

typedef struct {
    char key[QS_CACHE_KEY_MAX];
    bson_t *doc;
} doc_slot_t;

struct qs_doc_cache {
    pthread_mutex_t lock;
    size_t mask;
    doc_slot_t *slots;
};

qs_doc_cache_t *qs_doc_cache_new(size_t nslots)
{
    qs_doc_cache_t *c = hl_xcalloc(1, sizeof *c);
    c->slots = slots_new(nslots, sizeof *c->slots, &c->mask);
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

void qs_doc_cache_destroy(qs_doc_cache_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i <= c->mask; i++)
        if (c->slots[i].doc)
            bson_destroy(c->slots[i].doc);
    pthread_mutex_destroy(&c->lock);
    free(c->slots);
    free(c);
}

bool qs_doc_cache_get(qs_doc_cache_t *c, const char *key, bson_t *out)
{
    if (!c || strlen(key) >= QS_CACHE_KEY_MAX)
        return false;
    bool hit = false;
    pthread_mutex_lock(&c->lock);
    doc_slot_t *s = &c->slots[hl_fnv1a64(key) & c->mask];
    if (s->doc && !strcmp(s->key, key)) {
        bson_copy_to(s->doc, out);
        hit = true;
    }
    pthread_mutex_unlock(&c->lock);
    return hit;
}

void qs_doc_cache_put(qs_doc_cache_t *c, const char *key, const bson_t *doc)
{
    size_t n = strlen(key);
    if (!c || n == 0 || n >= QS_CACHE_KEY_MAX || doc->len > QS_DOC_CACHE_DOC_MAX)
        return;
    bson_t *copy = bson_copy(doc);
    bson_t *old = NULL;
    pthread_mutex_lock(&c->lock);
    doc_slot_t *s = &c->slots[hl_fnv1a64(key) & c->mask];
    old = s->doc;
    memcpy(s->key, key, n + 1);
    s->doc = copy;
    pthread_mutex_unlock(&c->lock);
    if (old)
        bson_destroy(old);
}
