/* lg_plan.h: the pure parts of the load generator (no I/O but reading corpus files): a seeded
 * PRNG, power-law samplers and the parsers of the two corpora the workload draws text from.
 *
 *   - PRNG: xoshiro256** (Blackman & Vigna, 2018) seeded through splitmix64, so one 64-bit
 *     --seed gives one stream on every machine (no libc rand, no time).
 *   - Samplers: Zipf over ranks 1..n (P(k) ∝ k^-s) by inverse CDF over a precomputed table, and
 *     a generic weighted sampler (cumulative weights + binary search).
 *   - Corpora: the US Census 1990 name lists the PyPI package `names` ships (dist.male.first,
 *     dist.female.first, dist.all.last: "NAME  freq%  cum%  rank" per line) and fortune files as
 *     Debian's `fortunes`/`fortunes-min` ship them under /usr/share/games/fortunes (entries
 *     separated by a line holding only "%"; the strfile .dat indexes are not needed). */
#ifndef LG_PLAN_H
#define LG_PLAN_H

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

/* Build from n weights (each >= 0, sum > 0). false on bad input (n == 0, a negative or
 * non-finite weight, zero sum) or out of memory; *w is then empty. Free with lg_weighted_free. */
bool lg_weighted_init(lg_weighted_t *w, const double *weights, size_t n);

/* Zipf over ranks: item k (0-based) has weight (k + 1)^-s. s >= 0. */
bool lg_weighted_init_zipf(lg_weighted_t *w, size_t n, double s);

/* An index in [0, n) drawn with probability weight/sum. */
size_t lg_weighted_draw(const lg_weighted_t *w, lg_rng_t *r);

void lg_weighted_free(lg_weighted_t *w);

/* ---- corpora ---- */

/* A list of strings with optional weights; items are NUL-terminated and owned. */
typedef struct {
    char **items;
    double *weights; /* NULL when unweighted */
    size_t n, cap;
} lg_corpus_t;

void lg_corpus_free(lg_corpus_t *c);

/* Parse one Census name list (text as in the PyPI `names` package: per line an upper-case
 * name, its frequency in percent, the cumulative percentage and the rank, separated by
 * blanks). Names are appended title-cased ("JAMES" → "James", "MCDONALD" → "Mcdonald") with
 * their frequency as weight (a zero frequency counts as 0.0005). Lines that do not parse are
 * skipped; returns the number of names appended, or -1 when out of memory. */
long lg_corpus_parse_names(lg_corpus_t *c, const char *text, size_t len);

/* Parse one fortune file (entries separated by lines consisting only of "%"). Each entry is
 * trimmed of surrounding blank lines and spaces; entries that are empty, longer than max_bytes,
 * or not valid UTF-8 (or holding NUL or control bytes other than tab and newline) are skipped.
 * Returns the number of entries appended, or -1 when out of memory. */
long lg_corpus_parse_fortunes(lg_corpus_t *c, const char *text, size_t len, size_t max_bytes);

/* Read a whole file into a malloc'd NUL-terminated buffer (*len bytes). false on error, with
 * errno set. */
bool lg_read_file(const char *path, char **out, size_t *len);

/* Load every fortune file of dir (regular files, not ending in .dat/.u8, not hidden), in name
 * order so the corpus is the same on every machine. Returns the number of entries, -1 on error
 * (errbuf says which). */
long lg_corpus_load_fortunes_dir(lg_corpus_t *c, const char *dir, size_t max_bytes, char *errbuf,
                                 size_t errcap);

/* True when s[0..len) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool lg_utf8_valid(const char *s, size_t len);

/* The longest prefix of s of at most max bytes that does not cut a UTF-8 character. */
size_t lg_utf8_prefix(const char *s, size_t max);

#endif
