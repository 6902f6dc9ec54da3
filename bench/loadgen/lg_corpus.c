/* lg_corpus.c: the load generator's corpus parsers and UTF-8 helpers (see lg_corpus.h). */
#include "lg_corpus.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- corpora ---- */

void lg_corpus_free(lg_corpus_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        free(c->items[i]);
    free(c->items);
    free(c->weights);
    memset(c, 0, sizeof *c);
}

static bool corpus_add(lg_corpus_t *c, const char *s, size_t len, double weight, bool weighted)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        char **items = realloc(c->items, cap * sizeof *items);
        if (!items)
            return false;
        c->items = items;
        if (weighted || c->weights) {
            double *ws = realloc(c->weights, cap * sizeof *ws);
            if (!ws)
                return false;
            c->weights = ws;
        }
        c->cap = cap;
    } else if (weighted && !c->weights) {
        c->weights = malloc(c->cap * sizeof *c->weights);
        if (!c->weights)
            return false;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return false;
    memcpy(copy, s, len);
    copy[len] = '\0';
    if (c->weights)
        c->weights[c->n] = weighted ? weight : 1.0;
    c->items[c->n++] = copy;
    return true;
}

long lg_corpus_parse_names(lg_corpus_t *c, const char *text, size_t len)
{
    long added = 0;
    size_t i = 0;
    while (i < len) {
        size_t start = i;
        while (i < len && text[i] != '\n')
            i++;
        size_t end = i;
        if (i < len)
            i++;
        /* NAME freq cum rank */
        size_t p = start;
        while (p < end && (text[p] == ' ' || text[p] == '\t'))
            p++;
        size_t ns = p;
        while (p < end && isalpha((unsigned char)text[p]))
            p++;
        size_t ne = p;
        if (ne == ns || ne - ns > 40 || (p < end && text[p] != ' ' && text[p] != '\t'))
            continue;
        char num[32];
        while (p < end && (text[p] == ' ' || text[p] == '\t'))
            p++;
        size_t q = p;
        while (q < end && text[q] != ' ' && text[q] != '\t' && text[q] != '\r')
            q++;
        if (q == p || q - p >= sizeof num)
            continue;
        memcpy(num, text + p, q - p);
        num[q - p] = '\0';
        char *stop = NULL;
        errno = 0;
        double freq = strtod(num, &stop);
        if (errno || *stop || !(freq >= 0) || !isfinite(freq))
            continue;
        char name[48];
        size_t nl = ne - ns;
        for (size_t k = 0; k < nl; k++) {
            unsigned char ch = (unsigned char)text[ns + k];
            name[k] = (char)(k == 0 ? toupper(ch) : tolower(ch));
        }
        if (!corpus_add(c, name, nl, freq > 0 ? freq : 0.0005, true))
            return -1;
        added++;
    }
    return added;
}

bool lg_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char b = p[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint32_t cp;
        if (b >= 0xC2 && b <= 0xDF) {
            need = 1;
            cp = b & 0x1F;
        } else if (b >= 0xE0 && b <= 0xEF) {
            need = 2;
            cp = b & 0x0F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            need = 3;
            cp = b & 0x07;
        } else {
            return false;
        }
        if (i + need >= len)
            return false;
        for (size_t k = 1; k <= need; k++) {
            if (i + k >= len || (p[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += need + 1;
    }
    return true;
}

size_t lg_utf8_prefix(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return n;
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

static bool entry_ok(const char *s, size_t len, size_t max_bytes)
{
    if (len == 0 || len > max_bytes)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch < 0x20 && ch != '\n' && ch != '\t') || ch == 0x7F)
            return false;
    }
    return lg_utf8_valid(s, len);
}

long lg_corpus_parse_fortunes(lg_corpus_t *c, const char *text, size_t len, size_t max_bytes)
{
    long added = 0;
    size_t i = 0, entry = 0;
    while (i <= len) {
        /* find the end of the current line */
        size_t ls = i;
        while (i < len && text[i] != '\n')
            i++;
        size_t le = i;
        bool at_end = i >= len;
        bool sep = (le - ls == 1 && text[ls] == '%') ||
                   (le - ls == 2 && text[ls] == '%' && text[ls + 1] == '\r');
        if (sep || at_end) {
            size_t es = entry, ee = sep ? ls : le;
            /* trim whitespace (spaces, tabs, newlines, CR) on both ends */
            while (es < ee && isspace((unsigned char)text[es]))
                es++;
            while (ee > es && isspace((unsigned char)text[ee - 1]))
                ee--;
            if (entry_ok(text + es, ee - es, max_bytes)) {
                if (!corpus_add(c, text + es, ee - es, 1.0, false))
                    return -1;
                added++;
            }
            entry = le + 1;
        }
        if (at_end)
            break;
        i++;
    }
    return added;
}

bool lg_read_file(const char *path, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        fclose(f);
        errno = ENOMEM;
        return false;
    }
    for (;;) {
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                errno = ENOMEM;
                return false;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    bool err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        errno = EIO;
        return false;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return true;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

long lg_corpus_load_fortunes_dir(lg_corpus_t *c, const char *dir, size_t max_bytes, char *errbuf,
                                 size_t errcap)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(errbuf, errcap,
                 "cannot open fortune directory %s: %s (install Debian's "
                 "fortunes: deploy/local/deps.sh)",
                 dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    long total = -1;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || ends_with(e->d_name, ".dat") || ends_with(e->d_name, ".u8"))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn)
                goto done;
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name)))
            goto done;
        n++;
    }
    qsort(names, n, sizeof *names, cmp_str);
    total = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        char *text = NULL;
        size_t len = 0;
        if (!lg_read_file(path, &text, &len))
            continue; /* a directory or an unreadable file: not a fortune file */
        long got = lg_corpus_parse_fortunes(c, text, len, max_bytes);
        free(text);
        if (got < 0) {
            snprintf(errbuf, errcap, "out of memory reading %s", path);
            total = -1;
            goto done;
        }
        total += got;
    }
    if (total == 0)
        snprintf(errbuf, errcap, "no fortunes found in %s (install Debian's fortunes)", dir);
done:
    closedir(d);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return total;
}
