/* lg_strmap.h: a small string-keyed hash map for the load generator's verifier (open
 * addressing with linear probing, FNV-1a 64 of the key, capacity a power of two kept at least
 * twice the number of entries). Not thread-safe; keys are copied, values are the caller's
 * pointers. Each slot carries a `seen` flag for the caller (the verifier marks the expected
 * documents it met).
 *
 * Walking every entry: for i in [0, cap), slots[i] is an entry when slots[i].key != NULL. */
#ifndef LG_STRMAP_H
#define LG_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *key; /* owned copy; NULL: free slot */
    void *val; /* the caller's */
    bool seen; /* the caller's flag; false when the entry is made */
} lg_strmap_slot_t;

typedef struct {
    lg_strmap_slot_t *slots; /* cap slots, NULL while empty */
    size_t cap, n;           /* capacity (0 or a power of two >= 1024), entries */
} lg_strmap_t;

/* An empty map is all zero: `lg_strmap_t m = {0};`. */

/* The entry of key (a NUL-terminated string), or NULL when absent (or the map is empty). The
 * slot stays valid until the next lg_strmap_put or lg_strmap_free. */
lg_strmap_slot_t *lg_strmap_find(const lg_strmap_t *m, const char *key);

/* Insert key (copied) → val and return its slot. When key is already present, its slot is
 * returned unchanged and val is not stored (the caller still owns it). Out of memory aborts the
 * process (a load generator's verifier has no partial answer to give). */
lg_strmap_slot_t *lg_strmap_put(lg_strmap_t *m, const char *key, void *val);

/* Free every key, every non-NULL value with free_val (when free_val is not NULL) and the slots;
 * *m is then empty again. */
void lg_strmap_free(lg_strmap_t *m, void (*free_val)(void *));

#endif
