#include "hl/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void out_of_memory(size_t n)
{
    /* no allocation here: stderr is unbuffered */
    fprintf(stderr, "hearlers: out of memory (%zu bytes); aborting\n", n);
    abort();
}

void *hl_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        out_of_memory(n);
    return p;
}

void *hl_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        out_of_memory(count * size);
    return p;
}

void *hl_xrealloc(void *p, size_t n)
{
    if (n == 0) {
        free(p);
        return NULL;
    }
    void *q = realloc(p, n);
    if (!q)
        out_of_memory(n);
    return q;
}

char *hl_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = hl_xmalloc(n);
    memcpy(d, s, n);
    return d;
}

char *hl_xstrndup(const char *s, size_t n)
{
    const char *end = memchr(s, '\0', n);
    size_t len = end ? (size_t)(end - s) : n;
    char *d = hl_xmalloc(len + 1);
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}
