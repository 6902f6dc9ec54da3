/* fuzz_util.h: helpers shared by the libFuzzer targets of tests/fuzz (issue 17). Header-only:
 * each target is one .c file built with -fsanitize=fuzzer,address,undefined (HL_FUZZ=ON). */
#ifndef HL_FUZZ_UTIL_H
#define HL_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* An invariant of the decoder under test: abort (libFuzzer reports a crash with the input) when it
 * does not hold. Unlike assert(), also in release builds. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

/* data[0..size) as a malloc'd NUL-terminated string (embedded NULs kept: strlen sees the first
 * part, as a C API given the bytes would). Aborts on OOM (the fuzzer then reports it). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
