/* hl/util.h: small shared helpers: clocks, UUIDs (RFC 9562), hex. */
#ifndef HL_UTIL_H
#define HL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HL_UUID_STR_LEN 36 /* without the terminating NUL */

/* Wall clock in microseconds since the Unix epoch (the unit of Avro timestamp-micros). */
int64_t hl_now_us(void);

/* Monotonic clock in milliseconds (for timeouts and latency). */
int64_t hl_mono_ms(void);

/* Wait until fd is readable (or has hung up / failed: the next read reports it) or timeout_ms
 * (>= 0) passes, with poll(2), so any descriptor works (select(2) is limited to fds below
 * FD_SETSIZE). Returns 1 readable, 0 timed out or interrupted by a signal, -1 fd is negative
 * or poll failed (errno set). */
int hl_wait_readable(int fd, long timeout_ms);

/* Monotonic clock in microseconds. */
int64_t hl_mono_us(void);

/* Generate a UUIDv7 (RFC 9562: 48-bit Unix ms timestamp, random rest, from libsodium) as
 * lowercase text into out[37]. */
void hl_uuid_v7(char out[HL_UUID_STR_LEN + 1]);

/* True when text is exactly a canonical 8-4-4-4-12 hex UUID (either case). */
bool hl_uuid_valid(const char *text);

/* Format microseconds since the epoch as RFC 3339 UTC with microseconds
 * ("2026-11-21T10:00:00.123456Z") into out (at least 32 bytes). */
void hl_format_rfc3339_us(int64_t us, char *out, size_t cap);

/* Format the UTC calendar day of us as "YYYY-MM-DD" into out (at least 11 bytes). */
void hl_format_day(int64_t us, char *out, size_t cap);

/* Parse "YYYY-MM-DD" strictly; on success *days_since_epoch is the day number. */
bool hl_parse_day(const char *text, int64_t *days_since_epoch);

/* Parse an RFC 3339 / ISO-8601 UTC timestamp ("2026-11-21T10:00:00Z", with an optional fraction
 * of up to 9 digits and "Z" or "+00:00"/"-hh:mm" offset) into microseconds since the epoch. */
bool hl_parse_rfc3339_us(const char *text, int64_t *us);

/* W3C Trace Context (https://www.w3.org/TR/trace-context/): write a traceparent
 * "00-<32 hex trace-id>-<16 hex parent-id>-01" into out[56] that continues incoming (a valid
 * traceparent header, or NULL/invalid to start a new trace) with a new random span id. */
#define HL_TRACEPARENT_LEN 55
void hl_traceparent_next(const char *incoming, char out[HL_TRACEPARENT_LEN + 1]);

/* Lowercase hex of n random bytes into out[2n+1]. */
void hl_random_hex(char *out, size_t nbytes);

/* ASCII case folding of the UTF-8 string in into out[cap] ('A'-'Z' → 'a'-'z', every other byte
 * copied unchanged, so multi-byte characters stay intact; truncated to cap - 1 bytes). The
 * display_name_lower of the read models and the normalised GET /v1/users?q= prefix. */
void hl_fold_ascii(const char *in, char *out, size_t cap);

/* hl_fold_ascii in place: s (NUL-terminated, may be NULL) with 'A'-'Z' turned to 'a'-'z'. The one
 * lower-casing of the tree: canonical UUIDs (RFC 9562 text, compared in lower case), ISO 4217
 * codes for the payment provider, BCP 47 language tags in the counsellors read model. */
void hl_ascii_lower(char *s);

/* FNV-1a (Fowler/Noll/Vo, draft-eastlake-fnv) of the NUL-terminated string s, 32 and 64 bit:
 * offset basis 2166136261 / 14695981039346656037, prime 16777619 / 1099511628211. For hash
 * tables and short tags only (not a cryptographic hash). hl_fnv1a64_mix continues h over n bytes
 * of p (start with HL_FNV64_BASIS), for digests of several fields. */
#define HL_FNV64_BASIS 14695981039346656037ULL
uint32_t hl_fnv1a32(const char *s);
uint64_t hl_fnv1a64(const char *s);
uint64_t hl_fnv1a64_mix(uint64_t h, const void *p, size_t n);

/* Separator of the user_names read-model key "<display_name_lower>\x1f<user_id>"
 * (docs/read-models.md). 0x1f (ASCII unit separator) sorts below every printable byte, so the
 * byte order of the keys is the order of (display_name_lower, user_id): "ann" < "ann smith" <
 * "ann2" as names and as keys (with ':' the key "ann2:..." would sort before "ann:..."). */
#define HL_USER_NAME_SEP '\x1f'

/* The user_names key of user user_id (a UUID, copied as given) named display_name (folded with
 * hl_fold_ascii) into out[cap]: "<display_name_lower>\x1f<user_id>". False (out empty) when a
 * string is NULL or the key does not fit; a display name of 64 characters needs at most
 * 4 * 64 + 1 + 36 + 1 = 294 bytes (HL_USER_NAME_KEY_MAX). */
#define HL_USER_NAME_KEY_MAX 320
bool hl_user_name_key(const char *display_name, const char *user_id, char *out, size_t cap);

/* The direct-room key of two user ids (the chat_rooms.direct_key column and read-model field,
 * docs/read-models.md): "<lower uuid>:<higher uuid>", both lower-cased first and compared as
 * strings, into out[cap] (HL_DIRECT_KEY_MAX = 2 * 36 + 2 bytes suffice). False (out empty)
 * unless both are valid UUIDs (hl_uuid_valid) and the key fits. */
#define HL_DIRECT_KEY_MAX (2 * HL_UUID_STR_LEN + 2)
bool hl_direct_key(const char *a, const char *b, char *out, size_t cap);

#endif
