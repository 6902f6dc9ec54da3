/* Unit tests for hl/util.h (UUIDv7, days, RFC 3339, traceparent), hl_parse_ll and HL_ASSERT. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hl/assert.h"
#include "hl/config.h"
#include "hl/http.h"
#include "hl/util.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <signal.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <unistd.h>

static bool is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool all_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_lower_hex(s[i]))
            return false;
    return true;
}

static int hexval(char c)
{
    return c <= '9' ? c - '0' : c - 'a' + 10;
}

/* The 48-bit millisecond timestamp of a UUIDv7 (its first 12 hex digits). */
static uint64_t uuid_ms(const char *u)
{
    uint64_t ms = 0;
    for (int i = 0; i < 13; i++)
        if (u[i] != '-')
            ms = ms << 4 | (uint64_t)hexval(u[i]);
    return ms;
}

static void test_uuid_v7_format(void **state)
{
    (void)state;
    for (int n = 0; n < 100; n++) {
        char u[HL_UUID_STR_LEN + 1];
        memset(u, 'Z', sizeof u);
        int64_t before = hl_now_us() / 1000;
        hl_uuid_v7(u);
        int64_t after = hl_now_us() / 1000;
        assert_int_equal(strlen(u), HL_UUID_STR_LEN);
        assert_true(hl_uuid_valid(u));
        for (int i = 0; i < HL_UUID_STR_LEN; i++) {
            if (i == 8 || i == 13 || i == 18 || i == 23)
                assert_int_equal(u[i], '-');
            else
                assert_true(is_lower_hex(u[i]));
        }
        assert_int_equal(u[14], '7');           /* version nibble */
        assert_non_null(strchr("89ab", u[19])); /* variant 10xx */
        uint64_t ms = uuid_ms(u);
        assert_in_range(ms, (uint64_t)before, (uint64_t)after);
    }
}

static void test_uuid_v7_order_and_uniqueness(void **state)
{
    (void)state;
    enum { N = 2000 };
    static char ids[N][HL_UUID_STR_LEN + 1];
    for (int i = 0; i < N; i++)
        hl_uuid_v7(ids[i]);
    for (int i = 1; i < N; i++) {
        /* The time prefix never goes backwards (same ms or later). */
        assert_true(memcmp(ids[i - 1], ids[i], 13) <= 0);
        assert_true(uuid_ms(ids[i - 1]) <= uuid_ms(ids[i]));
        assert_string_not_equal(ids[i - 1], ids[i]);
    }
    /* 74 random bits: no collision among N ids. */
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            if (!strcmp(ids[i], ids[j]))
                fail_msg("duplicate uuid %s", ids[i]);
}

static void test_uuid_valid(void **state)
{
    (void)state;
    assert_true(hl_uuid_valid("01890a5d-ac96-774b-bcce-b302099a8057"));
    assert_true(hl_uuid_valid("01890A5D-AC96-774B-BCCE-B302099A8057"));
    assert_true(hl_uuid_valid("00000000-0000-0000-0000-000000000000"));
    assert_false(hl_uuid_valid(NULL));
    assert_false(hl_uuid_valid(""));
    assert_false(hl_uuid_valid("01890a5d-ac96-774b-bcce-b302099a805"));   /* short */
    assert_false(hl_uuid_valid("01890a5d-ac96-774b-bcce-b302099a80577")); /* long */
    assert_false(hl_uuid_valid("01890a5dac96-774b-bcce-b302099a8057-"));  /* dash misplaced */
    assert_false(hl_uuid_valid("01890a5d-ac96-774b-bcce-b302099a805g"));  /* non-hex */
    assert_false(hl_uuid_valid("{1890a5d-ac96-774b-bcce-b302099a8057}"));
    assert_false(hl_uuid_valid("01890a5d0ac960774b0bcce0b302099a8057"));
    assert_false(hl_uuid_valid(" 1890a5d-ac96-774b-bcce-b302099a8057"));
}

static void test_parse_day_valid(void **state)
{
    (void)state;
    int64_t d = 12345;
    assert_true(hl_parse_day("1970-01-01", &d));
    assert_int_equal(d, 0);
    assert_true(hl_parse_day("1970-01-02", &d));
    assert_int_equal(d, 1);
    assert_true(hl_parse_day("1969-12-31", &d));
    assert_int_equal(d, -1);
    assert_true(hl_parse_day("2023-11-14", &d));
    assert_int_equal(d, 19675);
    assert_true(hl_parse_day("2024-02-29", &d)); /* leap year */
    assert_int_equal(d, 19782);
    assert_true(hl_parse_day("2000-02-29", &d)); /* divisible by 400: leap */
    assert_int_equal(d, 11016);
    assert_true(hl_parse_day("1900-03-01", &d));
    assert_int_equal(d, -25508);
    assert_true(hl_parse_day("9999-12-31", &d));
    assert_int_equal(d, 2932896);
    assert_true(hl_parse_day("0001-01-01", &d));
    assert_int_equal(d, -719162);
}

static void test_parse_day_invalid(void **state)
{
    (void)state;
    int64_t d = 777;
    static const char *const bad[] = {
        "2023-02-29", /* not a leap year */
        "1900-02-29", /* divisible by 100, not 400 */
        "2023-04-31",  "2023-13-01",  "2023-00-10", "2023-01-00", "2023-01-32",
        "2023-1-01",   "2023-01-1",   "23-01-01",   "2023/01/01", "2023-01-01T00:00:00Z",
        "2023-01-01 ", " 2023-01-01", "abcd-ef-gh", "2023-0a-01", "+023-01-01",
        "-023-01-01",  "2023--1-01",  "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (hl_parse_day(bad[i], &d))
            fail_msg("\"%s\" parsed as a day", bad[i]);
    assert_false(hl_parse_day(NULL, &d));
    assert_int_equal(d, 777); /* untouched on failure */
}

static void test_format_day(void **state)
{
    (void)state;
    char out[16];
    hl_format_day(0, out, sizeof out);
    assert_string_equal(out, "1970-01-01");
    hl_format_day(1700000000123456LL, out, sizeof out);
    assert_string_equal(out, "2023-11-14");
    hl_format_day(86400LL * 1000000 - 1, out, sizeof out);
    assert_string_equal(out, "1970-01-01");
    hl_format_day(86400LL * 1000000, out, sizeof out);
    assert_string_equal(out, "1970-01-02");
    hl_format_day(-1, out, sizeof out); /* one microsecond before the epoch */
    assert_string_equal(out, "1969-12-31");
    hl_format_day(-86400LL * 1000000, out, sizeof out);
    assert_string_equal(out, "1969-12-31");
    /* Round trip with hl_parse_day. */
    int64_t d = 0;
    assert_true(hl_parse_day("2024-02-29", &d));
    hl_format_day(d * 86400 * 1000000, out, sizeof out);
    assert_string_equal(out, "2024-02-29");
    /* Years below 1000 keep four digits (strftime's %Y gave "999-12-03"; found by schemathesis
     * on GET /v1/stats/daily?to=1000-01-01). */
    assert_true(hl_parse_day("0999-12-03", &d));
    hl_format_day(d * 86400 * 1000000, out, sizeof out);
    assert_string_equal(out, "0999-12-03");
    assert_true(hl_parse_day("0001-01-01", &d));
    hl_format_day(d * 86400 * 1000000, out, sizeof out);
    assert_string_equal(out, "0001-01-01");
}

static void test_format_rfc3339_us(void **state)
{
    (void)state;
    char out[40];
    hl_format_rfc3339_us(0, out, sizeof out);
    assert_string_equal(out, "1970-01-01T00:00:00.000000Z");
    hl_format_rfc3339_us(1700000000123456LL, out, sizeof out);
    assert_string_equal(out, "2023-11-14T22:13:20.123456Z");
    hl_format_rfc3339_us(1, out, sizeof out);
    assert_string_equal(out, "1970-01-01T00:00:00.000001Z");
    hl_format_rfc3339_us(951782400000000LL, out, sizeof out); /* 2000-02-29 */
    assert_string_equal(out, "2000-02-29T00:00:00.000000Z");
    hl_format_rfc3339_us(-1500000, out, sizeof out);
    assert_string_equal(out, "1969-12-31T23:59:58.500000Z");
    hl_format_rfc3339_us(253402300799999999LL, out, sizeof out);
    assert_string_equal(out, "9999-12-31T23:59:59.999999Z");
    hl_format_rfc3339_us(-30610310400000000LL, out, sizeof out); /* 0999-12-31 */
    assert_string_equal(out, "0999-12-31T00:00:00.000000Z");
    /* A small buffer truncates but stays terminated. */
    char small[11];
    hl_format_rfc3339_us(0, small, sizeof small);
    assert_string_equal(small, "1970-01-01");
}

/* "00-<32 lower hex>-<16 lower hex>-01" */
static void assert_traceparent_format(const char *tp)
{
    assert_int_equal(strlen(tp), HL_TRACEPARENT_LEN);
    assert_memory_equal(tp, "00-", 3);
    assert_true(all_lower_hex(tp + 3, 32));
    assert_int_equal(tp[35], '-');
    assert_true(all_lower_hex(tp + 36, 16));
    assert_string_equal(tp + 52, "-01");
}

static void test_traceparent_continue(void **state)
{
    (void)state;
    const char *in = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    char out[HL_TRACEPARENT_LEN + 1], out2[HL_TRACEPARENT_LEN + 1];
    hl_traceparent_next(in, out);
    assert_traceparent_format(out);
    assert_memory_equal(out + 3, in + 3, 32);       /* same trace id */
    assert_memory_not_equal(out + 36, in + 36, 16); /* new span id */
    hl_traceparent_next(in, out2);
    assert_memory_equal(out2 + 3, in + 3, 32);
    assert_memory_not_equal(out2 + 36, out + 36, 16); /* spans differ per call */
    /* Unsampled incoming flags still continue the trace. */
    hl_traceparent_next("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", out);
    assert_memory_equal(out + 3, in + 3, 32);
}

static void test_traceparent_new(void **state)
{
    (void)state;
    const char *trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    static const char *const bad[] = {
        "",
        "garbage",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",   /* short */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-011", /* long */
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  /* version */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  /* uppercase */
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",  /* non-hex */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  /* all-zero trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",  /* separator */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  /* all-zero parent id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01",  /* non-hex parent id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",  /* uppercase parent id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",  /* non-hex flags */
    };
    char out[HL_TRACEPARENT_LEN + 1];
    hl_traceparent_next(NULL, out);
    assert_traceparent_format(out);
    assert_memory_not_equal(out + 3, "00000000000000000000000000000000", 32);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hl_traceparent_next(bad[i], out);
        assert_traceparent_format(out);
        if (strlen(bad[i]) >= 35 && !memcmp(out + 3, bad[i] + 3, 32))
            fail_msg("invalid traceparent \"%s\" was continued", bad[i]);
        assert_memory_not_equal(out + 3, trace, 32);
    }
    /* Two new traces differ. */
    char a[HL_TRACEPARENT_LEN + 1], b[HL_TRACEPARENT_LEN + 1];
    hl_traceparent_next(NULL, a);
    hl_traceparent_next(NULL, b);
    assert_memory_not_equal(a + 3, b + 3, 32);
}

static void test_random_hex(void **state)
{
    (void)state;
    char a[33], b[33];
    memset(a, 'Z', sizeof a);
    hl_random_hex(a, 16);
    hl_random_hex(b, 16);
    assert_int_equal(strlen(a), 32);
    assert_true(all_lower_hex(a, 32));
    assert_string_not_equal(a, b);
}

static void test_parse_ll(void **state)
{
    (void)state;
    long long v = 99;
    assert_true(hl_parse_ll("0", &v));
    assert_int_equal(v, 0);
    assert_true(hl_parse_ll("8080", &v));
    assert_int_equal(v, 8080);
    assert_true(hl_parse_ll("-42", &v));
    assert_true(v == -42);
    assert_true(hl_parse_ll("9223372036854775807", &v));
    assert_true(v == LLONG_MAX);
    assert_true(hl_parse_ll("-9223372036854775808", &v));
    assert_true(v == LLONG_MIN);

    v = 99;
    assert_false(hl_parse_ll(NULL, &v));
    assert_false(hl_parse_ll("", &v));
    assert_false(hl_parse_ll("12a", &v));
    assert_false(hl_parse_ll("a12", &v));
    assert_false(hl_parse_ll("12 ", &v));
    assert_false(hl_parse_ll("1.5", &v));
    assert_false(hl_parse_ll("9223372036854775808", &v));  /* overflow */
    assert_false(hl_parse_ll("-9223372036854775809", &v)); /* underflow */
    assert_int_equal(v, 99);                               /* untouched on failure */
}

/* hl_wait_readable on a descriptor above FD_SETSIZE (the outbox relay's PostgreSQL socket in a
 * process with many connections; select(2) cannot take it, issue 17): readable, timeout, and
 * a bad descriptor. */
static void test_wait_readable_high_fd(void **state)
{
    (void)state;
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    int want = FD_SETSIZE + 100;
    if (rl.rlim_cur < (rlim_t)want + 1) {
        if (rl.rlim_max < (rlim_t)want + 1)
            skip(); /* the hard limit forbids a descriptor this high */
        rl.rlim_cur = (rlim_t)want + 1;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    int p[2];
    assert_int_equal(pipe(p), 0);
    int hi = dup2(p[0], want);
    assert_int_equal(hi, want);
    int64_t t0 = hl_mono_ms();
    assert_int_equal(hl_wait_readable(hi, 50), 0); /* nothing to read: times out */
    assert_true(hl_mono_ms() - t0 >= 45);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(hl_wait_readable(hi, 1000), 1);
    close(p[1]);
    char c;
    assert_int_equal(read(hi, &c, 1), 1);
    assert_int_equal(hl_wait_readable(hi, 1000), 1); /* hung up: readable, read() sees EOF */
    close(hi);
    close(p[0]);
    assert_int_equal(hl_wait_readable(hi, 10), -1); /* closed descriptor */
    assert_int_equal(hl_wait_readable(-1, 10), -1);
}

/* FNV-1a test vectors of draft-eastlake-fnv (and the reference fnv_test.c): "" is the offset
 * basis, "a" and "foobar" known values. */
static void test_fnv1a(void **state)
{
    (void)state;
    assert_int_equal(hl_fnv1a32(""), 2166136261u);
    assert_int_equal(hl_fnv1a32("a"), 0xe40c292cu);
    assert_int_equal(hl_fnv1a32("foobar"), 0xbf9cf968u);
    assert_true(hl_fnv1a64("") == 0xcbf29ce484222325ULL);
    assert_true(hl_fnv1a64("a") == 0xaf63dc4c8601ec8cULL);
    assert_true(hl_fnv1a64("foobar") == 0x85944171f73967e8ULL);
    /* mixing field by field equals hashing the concatenation */
    uint64_t h = hl_fnv1a64_mix(HL_FNV64_BASIS, "foo", 3);
    assert_true(hl_fnv1a64_mix(h, "bar", 3) == hl_fnv1a64("foobar"));
}

static void test_ascii_lower(void **state)
{
    (void)state;
    char s[] = "AbC-0F9e-\xc3\x89Z";
    hl_ascii_lower(s);
    assert_string_equal(s, "abc-0f9e-\xc3\x89z"); /* multi-byte UTF-8 untouched */
    hl_ascii_lower(NULL);
    char out[4];
    hl_fold_ascii("ABCDEF", out, sizeof out);
    assert_string_equal(out, "abc"); /* truncated to cap - 1 */
}

/* HL_ASSERT: a holding condition is evaluated once and passes; a failing one prints the
 * expression, file:line and function to stderr and aborts (SIGABRT), also with NDEBUG. */
static void test_assert(void **state)
{
    (void)state;
    int evaluated = 0;
    HL_ASSERT(++evaluated == 1);
    assert_int_equal(evaluated, 1);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        int size = 3;
        HL_ASSERT(size < 2); /* line of the expected message */
        _exit(0);
    }
    int expected_line = __LINE__ - 3;
    close(fds[1]);
    char out[512];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof out - 1 && (r = read(fds[0], out + n, sizeof out - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    char where[64];
    snprintf(where, sizeof where, "test_util.c:%d in test_assert", expected_line);
    assert_non_null(strstr(out, "hearlers: assertion failed: size < 2 at "));
    assert_non_null(strstr(out, where));
}

/* hl_http_headers_have: what decides whether a 503 gets the default Retry-After. */
static void test_headers_have(void **state)
{
    (void)state;
    assert_false(hl_http_headers_have(NULL, "Retry-After"));
    assert_false(hl_http_headers_have("", "Retry-After"));
    assert_true(hl_http_headers_have("Retry-After: 5\r\n", "Retry-After"));
    assert_true(hl_http_headers_have("X-A: 1\r\nretry-after: 5\r\n", "Retry-After"));
    assert_false(hl_http_headers_have("X-Retry-After: 5\r\n", "Retry-After"));
    assert_false(hl_http_headers_have("Retry-After-Ms: 5\r\n", "Retry-After"));
    assert_false(hl_http_headers_have("X-A: Retry-After: 5\r\n", "Retry-After"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uuid_v7_format),
        cmocka_unit_test(test_uuid_v7_order_and_uniqueness),
        cmocka_unit_test(test_uuid_valid),
        cmocka_unit_test(test_parse_day_valid),
        cmocka_unit_test(test_parse_day_invalid),
        cmocka_unit_test(test_format_day),
        cmocka_unit_test(test_format_rfc3339_us),
        cmocka_unit_test(test_traceparent_continue),
        cmocka_unit_test(test_traceparent_new),
        cmocka_unit_test(test_random_hex),
        cmocka_unit_test(test_parse_ll),
        cmocka_unit_test(test_wait_readable_high_fd),
        cmocka_unit_test(test_fnv1a),
        cmocka_unit_test(test_ascii_lower),
        cmocka_unit_test(test_assert),
        cmocka_unit_test(test_headers_have),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
