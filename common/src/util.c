#include "hl/util.h"

#include <errno.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t hl_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t hl_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t hl_mono_ms(void)
{
    return hl_mono_us() / 1000;
}

void hl_uuid_v7(char out[HL_UUID_STR_LEN + 1])
{
    uint8_t b[16];
    uint64_t ms = (uint64_t)(hl_now_us() / 1000);
    randombytes_buf(b + 6, 10);
    for (int i = 0; i < 6; i++)
        b[i] = (uint8_t)(ms >> (40 - 8 * i));
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x70); /* version 7 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* variant 10 */
    snprintf(out, HL_UUID_STR_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

bool hl_uuid_valid(const char *text)
{
    if (!text || strlen(text) != HL_UUID_STR_LEN)
        return false;
    for (int i = 0; i < HL_UUID_STR_LEN; i++) {
        char c = text[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return false;
        }
    }
    return true;
}

void hl_format_rfc3339_us(int64_t us, char *out, size_t cap)
{
    time_t secs = (time_t)(us / 1000000);
    long frac = (long)(us % 1000000);
    if (frac < 0) {
        frac += 1000000;
        secs -= 1;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    /* %04d, not strftime's %Y: RFC 3339 years have four digits (year 999 is "0999") */
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

void hl_format_day(int64_t us, char *out, size_t cap)
{
    time_t secs = (time_t)(us / 1000000);
    if (us < 0 && us % 1000000)
        secs -= 1;
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, cap, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* Days from civil date (Howard Hinnant's algorithm), proleptic Gregorian. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

bool hl_parse_day(const char *text, int64_t *days_since_epoch)
{
    if (!text || strlen(text) != 10 || text[4] != '-' || text[7] != '-')
        return false;
    int v[3] = {0, 0, 0};
    const int pos[3][2] = {{0, 4}, {5, 2}, {8, 2}};
    for (int f = 0; f < 3; f++)
        for (int i = 0; i < pos[f][1]; i++) {
            char c = text[pos[f][0] + i];
            if (c < '0' || c > '9')
                return false;
            v[f] = v[f] * 10 + (c - '0');
        }
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > mdays[v[1] - 1])
        return false;
    bool leap = (v[0] % 4 == 0 && v[0] % 100 != 0) || v[0] % 400 == 0;
    if (v[1] == 2 && v[2] == 29 && !leap)
        return false;
    *days_since_epoch = days_from_civil(v[0], (unsigned)v[1], (unsigned)v[2]);
    return true;
}

void hl_random_hex(char *out, size_t nbytes)
{
    uint8_t b[64];
    if (nbytes > sizeof b)
        nbytes = sizeof b;
    randombytes_buf(b, nbytes);
    sodium_bin2hex(out, nbytes * 2 + 1, b, nbytes);
}

void hl_fold_ascii(const char *in, char *out, size_t cap)
{
    size_t i = 0;
    if (!cap)
        return;
    for (; in && in[i] && i + 1 < cap; i++) {
        char ch = in[i];
        out[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    out[i] = '\0';
}

void hl_ascii_lower(char *s)
{
    for (; s && *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

uint32_t hl_fnv1a32(const char *s)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

uint64_t hl_fnv1a64_mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

uint64_t hl_fnv1a64(const char *s)
{
    return hl_fnv1a64_mix(HL_FNV64_BASIS, s, strlen(s));
}

bool hl_user_name_key(const char *display_name, const char *user_id, char *out, size_t cap)
{
    if (!cap)
        return false;
    out[0] = '\0';
    if (!display_name || !user_id)
        return false;
    size_t n = strlen(display_name), m = strlen(user_id);
    if (n + 1 + m + 1 > cap)
        return false;
    hl_fold_ascii(display_name, out, n + 1);
    out[n] = HL_USER_NAME_SEP;
    memcpy(out + n + 1, user_id, m + 1);
    return true;
}

static bool all_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

void hl_traceparent_next(const char *incoming, char out[HL_TRACEPARENT_LEN + 1])
{
    char trace[33], span[17];
    if (incoming && strlen(incoming) == HL_TRACEPARENT_LEN && !strncmp(incoming, "00-", 3) &&
        incoming[35] == '-' && incoming[52] == '-' && all_hex(incoming + 3, 32) &&
        strncmp(incoming + 3, "00000000000000000000000000000000", 32) != 0 &&
        all_hex(incoming + 36, 16) && strncmp(incoming + 36, "0000000000000000", 16) != 0 &&
        all_hex(incoming + 53, 2)) {
        memcpy(trace, incoming + 3, 32);
        trace[32] = '\0';
    } else {
        hl_random_hex(trace, 16);
    }
    hl_random_hex(span, 8);
    snprintf(out, HL_TRACEPARENT_LEN + 1, "00-%s-%s-01", trace, span);
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

bool hl_parse_rfc3339_us(const char *text, int64_t *us)
{
    if (!text || strlen(text) < 20)
        return false;
    char day[11];
    memcpy(day, text, 10);
    day[10] = '\0';
    int64_t days = 0;
    int hh = 0, mm = 0, ss = 0;
    if (!hl_parse_day(day, &days) || (text[10] != 'T' && text[10] != 't' && text[10] != ' ') ||
        !digits(text + 11, 2, &hh) || text[13] != ':' || !digits(text + 14, 2, &mm) ||
        text[16] != ':' || !digits(text + 17, 2, &ss) || hh > 23 || mm > 59 || ss > 60)
        return false;
    const char *p = text + 19;
    int64_t frac_us = 0;
    if (*p == '.') {
        p++;
        int n = 0;
        int64_t scale = 100000;
        while (*p >= '0' && *p <= '9') {
            if (n < 6) {
                frac_us += (*p - '0') * scale;
                scale /= 10;
            }
            n++;
            p++;
        }
        if (n == 0 || n > 9)
            return false;
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh = 0, om = 0;
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om))
            return false;
        offset_s = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return false;
    }
    if (*p)
        return false;
    *us = ((days * 86400 + hh * 3600 + mm * 60 + ss) - offset_s) * 1000000 + frac_us;
    return true;
}

int hl_wait_readable(int fd, long timeout_ms)
{
    if (fd < 0) {
        errno = EBADF;
        return -1;
    }
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int timeout = timeout_ms < 0 ? 0 : timeout_ms > 86400000L ? 86400000 : (int)timeout_ms;
    int n = poll(&p, 1, timeout);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    if (n == 0)
        return 0;
    return (p.revents & POLLNVAL) ? (errno = EBADF, -1) : 1;
}

bool hl_direct_key(const char *a, const char *b, char *out, size_t cap)
{
    char la[HL_UUID_STR_LEN + 1], lb[HL_UUID_STR_LEN + 1];
    if (cap)
        out[0] = '\0';
    if (!a || !b || !hl_uuid_valid(a) || !hl_uuid_valid(b) || cap < HL_DIRECT_KEY_MAX)
        return false;
    hl_fold_ascii(a, la, sizeof la);
    hl_fold_ascii(b, lb, sizeof lb);
    const char *lo = strcmp(la, lb) <= 0 ? la : lb;
    const char *hi = lo == la ? lb : la;
    snprintf(out, cap, "%s:%s", lo, hi);
    return true;
}
