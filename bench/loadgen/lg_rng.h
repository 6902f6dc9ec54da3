/* lg_rng.h: the load generator's seeded randomness (pure, no I/O).
 *
 *   - PRNG: xoshiro256** (Blackman & Vigna, 2018) seeded through splitmix64, so one 64-bit
 *     --seed gives one stream on every machine (no libc rand, no time).
 *   - Samplers: Zipf over ranks 1..n (P(k) ∝ k^-s) by inverse CDF over a precomputed table, and
 *     a generic weighted sampler (cumulative weights + binary search). */
#ifndef LG_RNG_H
#define LG_RNG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- PRNG ---- */

typedef struct {
    uint64_t s[4];
} lg_rng_t;

/* Seed the generator: the four state words are successive splitmix64 outputs of seed. */
void lg_rng_seed(lg_rng_t *r, uint64_t seed);

/* The next 64 random bits (xoshiro256**). */
uint64_t lg_rng_next(lg_rng_t *r);

/* Uniform integer in [0, n) (n > 0; Lemire's multiply-shift, rejection for exact uniformity);
 * 0 when n == 0. */
uint64_t lg_rng_below(lg_rng_t *r, uint64_t n);

/* Uniform double in [0, 1) with 53 random bits. */
double lg_rng_unit(lg_rng_t *r);

/* True with probability p (p <= 0: never, p >= 1: always). */
bool lg_rng_chance(lg_rng_t *r, double p);

/* A geometric count >= 1 with the given mean (mean <= 1 gives 1). */
uint32_t lg_rng_geometric(lg_rng_t *r, double mean);

/* An independent generator derived from r and a stream number (for per-phase streams that do
 * not shift when another phase draws more numbers). */
void lg_rng_fork(const lg_rng_t *r, uint64_t stream, lg_rng_t *out);

/* ---- samplers ---- */

/* Weighted sampler over n items: cumulative weights (doubles, owned). */
typedef struct {
    double *cum;
    size_t n;
} lg_weighted_t;

/* Build from n weights (each >= 0, sum > 0). false on bad input (n == 0, weights NULL, a
 * negative or non-finite weight, zero sum) or out of memory; *w is then empty. Free with
 * lg_weighted_free. */
bool lg_weighted_init(lg_weighted_t *w, const double *weights, size_t n);

/* Zipf over ranks: item k (0-based) has weight (k + 1)^-s. s >= 0. */
bool lg_weighted_init_zipf(lg_weighted_t *w, size_t n, double s);

/* An index in [0, n) drawn with probability weight/sum. */
size_t lg_weighted_draw(const lg_weighted_t *w, lg_rng_t *r);

/* Free w's table (w itself is the caller's; NULL is ignored); *w is then empty. */
void lg_weighted_free(lg_weighted_t *w);

#endif
