#include "stream_revoked.h"

#include "hl/mem.h"
#include "hl/util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 4096
#define SID_MAX 36

typedef struct entry {
    struct entry *next;
    int64_t expires_ms;
    char sid[SID_MAX + 1];
} entry_t;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static entry_t *g_buckets[BUCKETS];
static size_t g_count;
static atomic_bool g_loaded;

/* The lower-cased id into out[SID_MAX + 1]; false when too long or empty. */
static bool normalize(const char *sid, char *out)
{
    size_t n = sid ? strlen(sid) : 0;
    if (n == 0 || n > SID_MAX)
        return false;
    hl_fold_ascii(sid, out, SID_MAX + 1);
    return true;
}

static entry_t **slot_of(const char *sid)
{
    return &g_buckets[hl_fnv1a32(sid) % BUCKETS];
}

void st_revoked_add(const char *session_id, int64_t expires_ms)
{
    char sid[SID_MAX + 1];
    if (!normalize(session_id, sid))
        return;
    pthread_mutex_lock(&g_lock);
    entry_t **slot = slot_of(sid), *e = *slot;
    while (e && strcmp(e->sid, sid))
        e = e->next;
    if (e) {
        if (expires_ms > e->expires_ms)
            e->expires_ms = expires_ms;
    } else {
        e = hl_xcalloc(1, sizeof *e);
        memcpy(e->sid, sid, sizeof sid);
        e->expires_ms = expires_ms;
        e->next = *slot;
        *slot = e;
        g_count++;
    }
    pthread_mutex_unlock(&g_lock);
}

bool st_revoked_has(const char *session_id, int64_t now_ms)
{
    char sid[SID_MAX + 1];
    if (!normalize(session_id, sid))
        return false;
    pthread_mutex_lock(&g_lock);
    entry_t *e = *slot_of(sid);
    while (e && strcmp(e->sid, sid))
        e = e->next;
    bool revoked = e && e->expires_ms > now_ms;
    pthread_mutex_unlock(&g_lock);
    return revoked;
}

size_t st_revoked_sweep(int64_t now_ms)
{
    pthread_mutex_lock(&g_lock);
    for (size_t b = 0; b < BUCKETS; b++) {
        entry_t **p = &g_buckets[b];
        while (*p) {
            entry_t *e = *p;
            if (e->expires_ms <= now_ms) {
                *p = e->next;
                free(e);
                g_count--;
            } else {
                p = &e->next;
            }
        }
    }
    size_t left = g_count;
    pthread_mutex_unlock(&g_lock);
    return left;
}

void st_revoked_set_loaded(void)
{
    atomic_store(&g_loaded, true);
}

bool st_revoked_loaded(void)
{
    return atomic_load(&g_loaded);
}

void st_revoked_clear(void)
{
    pthread_mutex_lock(&g_lock);
    for (size_t b = 0; b < BUCKETS; b++) {
        entry_t *e = g_buckets[b];
        while (e) {
            entry_t *next = e->next;
            free(e);
            e = next;
        }
        g_buckets[b] = NULL;
    }
    g_count = 0;
    atomic_store(&g_loaded, false);
    pthread_mutex_unlock(&g_lock);
}
