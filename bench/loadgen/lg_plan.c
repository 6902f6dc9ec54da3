/* lg_plan.c: PRNG, samplers and corpus parsers of the load generator (see lg_plan.h). */
#include "lg_plan.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- PRNG ---- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void lg_rng_seed(lg_rng_t *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t lg_rng_next(lg_rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t lg_rng_below(lg_rng_t *r, uint64_t n)
{
    if (n == 0)
        return 0;
    /* Lemire: multiply-high with rejection of the biased low range */
    uint64_t x = lg_rng_next(r);
    __uint128_t m = (__uint128_t)x * n;
    uint64_t lo = (uint64_t)m;
    if (lo < n) {
        uint64_t t = (0 - n) % n;
        while (lo < t) {
            x = lg_rng_next(r);
            m = (__uint128_t)x * n;
            lo = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

double lg_rng_unit(lg_rng_t *r)
{
    return (double)(lg_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

bool lg_rng_chance(lg_rng_t *r, double p)
{
    if (p <= 0)
        return false;
    if (p >= 1)
        return true;
    return lg_rng_unit(r) < p;
}

uint32_t lg_rng_geometric(lg_rng_t *r, double mean)
{
    if (mean <= 1.0)
        return 1;
    double p = 1.0 / mean; /* success probability; count of trials until success */
    double u = lg_rng_unit(r);
    double k = ceil(log1p(-u) / log1p(-p));
    if (!(k >= 1))
        k = 1;
    if (k > 1e6)
        k = 1e6;
    return (uint32_t)k;
}

void lg_rng_fork(const lg_rng_t *r, uint64_t stream, lg_rng_t *out)
{
    uint64_t x = r->s[0] ^ rotl(r->s[1], 13) ^ rotl(r->s[2], 29) ^ rotl(r->s[3], 47) ^
                 (stream * 0xD1B54A32D192ED03ULL);
    lg_rng_seed(out, splitmix64(&x));
}

/* ---- samplers ---- */

bool lg_weighted_init(lg_weighted_t *w, const double *weights, size_t n)
{
    w->cum = NULL;
    w->n = 0;
    if (n == 0)
        return false;
    double *cum = malloc(n * sizeof *cum);
    if (!cum)
        return false;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(weights[i] >= 0) || !isfinite(weights[i])) {
            free(cum);
            return false;
        }
        sum += weights[i];
        cum[i] = sum;
    }
    if (!(sum > 0) || !isfinite(sum)) {
        free(cum);
        return false;
    }
    w->cum = cum;
    w->n = n;
    return true;
}

bool lg_weighted_init_zipf(lg_weighted_t *w, size_t n, double s)
{
    w->cum = NULL;
    w->n = 0;
    if (n == 0 || !(s >= 0))
        return false;
    double *weights = malloc(n * sizeof *weights);
    if (!weights)
        return false;
    for (size_t k = 0; k < n; k++)
        weights[k] = pow((double)(k + 1), -s);
    bool ok = lg_weighted_init(w, weights, n);
    free(weights);
    return ok;
}

size_t lg_weighted_draw(const lg_weighted_t *w, lg_rng_t *r)
{
    if (w->n == 0)
        return 0;
    double x = lg_rng_unit(r) * w->cum[w->n - 1];
    size_t lo = 0, hi = w->n - 1; /* first index with cum > x */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->cum[mid] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

void lg_weighted_free(lg_weighted_t *w)
{
    if (!w)
        return;
    free(w->cum);
    w->cum = NULL;
    w->n = 0;
}

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
