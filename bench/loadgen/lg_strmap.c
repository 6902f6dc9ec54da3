/* lg_strmap.c: string-keyed hash map (see lg_strmap.h). */
#include "lg_strmap.h"

#include "hl/util.h"

#include <stdlib.h>
#include <string.h>

static void strmap_grow(lg_strmap_t *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    lg_strmap_slot_t *old = m->slots;
    size_t oldcap = m->cap;
    m->slots = calloc(cap, sizeof *m->slots);
    if (!m->slots)
        abort();
    m->cap = cap;
    m->n = 0;
    for (size_t i = 0; i < oldcap; i++) {
        if (!old[i].key)
            continue;
        size_t j = hl_fnv1a64(old[i].key) & (cap - 1);
        while (m->slots[j].key)
            j = (j + 1) & (cap - 1);
        m->slots[j] = old[i];
        m->n++;
    }
    free(old);
}

lg_strmap_slot_t *lg_strmap_find(const lg_strmap_t *m, const char *key)
{
    if (m->cap == 0)
        return NULL;
    size_t i = hl_fnv1a64(key) & (m->cap - 1);
    while (m->slots[i].key) {
        if (!strcmp(m->slots[i].key, key))
            return &m->slots[i];
        i = (i + 1) & (m->cap - 1);
    }
    return NULL;
}

lg_strmap_slot_t *lg_strmap_put(lg_strmap_t *m, const char *key, void *val)
{
    if ((m->n + 1) * 2 > m->cap)
        strmap_grow(m);
    size_t i = hl_fnv1a64(key) & (m->cap - 1);
    while (m->slots[i].key) {
        if (!strcmp(m->slots[i].key, key))
            return &m->slots[i];
        i = (i + 1) & (m->cap - 1);
    }
    m->slots[i].key = strdup(key);
    m->slots[i].val = val;
    m->slots[i].seen = false;
    if (!m->slots[i].key)
        abort();
    m->n++;
    return &m->slots[i];
}

void lg_strmap_free(lg_strmap_t *m, void (*free_val)(void *))
{
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].key)
            continue;
        free(m->slots[i].key);
        if (free_val && m->slots[i].val)
            free_val(m->slots[i].val);
    }
    free(m->slots);
    memset(m, 0, sizeof *m);
}
