/* lg_rng.c: the load generator's PRNG and samplers (see lg_rng.h). */
#include "lg_rng.h"

#include <math.h>
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
    if (n == 0 || !weights)
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
