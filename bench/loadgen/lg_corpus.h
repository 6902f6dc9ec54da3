/* lg_corpus.h: the two corpora the load generator draws text from, and the UTF-8 helpers their
 * parsers use (no I/O but reading corpus files).
 *
 *   - The US Census 1990 name lists the PyPI package `names` ships (dist.male.first,
 *     dist.female.first, dist.all.last: "NAME  freq%  cum%  rank" per line).
 *   - Fortune files as Debian's `fortunes`/`fortunes-min` ship them under
 *     /usr/share/games/fortunes (entries separated by a line holding only "%"; the strfile .dat
 *     indexes are not needed). */
#ifndef LG_CORPUS_H
#define LG_CORPUS_H

#include <stdbool.h>
#include <stddef.h>

/* A list of strings with optional weights; items are NUL-terminated and owned. */
typedef struct {
    char **items;
    double *weights; /* NULL when unweighted */
    size_t n, cap;
} lg_corpus_t;

/* Free every item and the arrays of c (c itself is the caller's; NULL is ignored); *c is then
 * empty. */
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
