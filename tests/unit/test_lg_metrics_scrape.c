/* Unit tests for the load generator's /metrics sample lookup (bench/loadgen/lg_metrics_scrape.h):
 * unlabelled samples only, whole metric names, the first line, comments, bad values; and the
 * scrape's -1 when there is nothing to ask. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lg_metrics_scrape.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

static const char page[] = "# HELP hl_projector_offsets_behind_total not this one\n"
                           "# TYPE hl_projector_offsets_behind gauge\n"
                           "hl_projector_offsets_behind_total 99\n"
                           "hl_projector_offsets_behind{topic=\"a\"} 7\n"
                           "hl_projector_offsets_behind 12\n"
                           "hl_projector_offsets_behind 13\n"
                           "hl_ratio 0.25 1700000000000\n"
                           "hl_bad abc\n";

static void test_unlabelled_sample(void **state)
{
    (void)state;
    double v = -1;
    assert_true(lg_metrics_sample(page, "hl_projector_offsets_behind", &v));
    assert_true(v == 12); /* the first unlabelled sample, not the _total or labelled series */
    assert_true(lg_metrics_sample(page, "hl_ratio", &v));
    assert_true(v == 0.25); /* a timestamp after the value is ignored */
    assert_true(lg_metrics_sample(page, "hl_projector_offsets_behind_total", &v));
    assert_true(v == 99);
}

static void test_absent_or_bad(void **state)
{
    (void)state;
    double v = 5;
    assert_false(lg_metrics_sample(page, "hl_projector", &v)); /* a prefix is not a name */
    assert_false(lg_metrics_sample(page, "hl_missing", &v));
    assert_false(lg_metrics_sample(page, "hl_bad", &v));
    assert_false(lg_metrics_sample(page, "", &v));
    assert_false(lg_metrics_sample("", "hl_x", &v));
    assert_false(lg_metrics_sample("# hl_x 1\n", "hl_x", &v)); /* a comment */
    assert_true(v == 5);                                       /* untouched */
    /* the first line and a last line without a newline count */
    assert_true(lg_metrics_sample("hl_x 3", "hl_x", &v));
    assert_true(v == 3);
    assert_true(lg_metrics_sample("hl_y 1\nhl_x 4", "hl_x", &v));
    assert_true(v == 4);
}

/* No URL, or a port nobody listens on (one we bound and closed): -1, promptly. */
static void test_scrape_unknown(void **state)
{
    (void)state;
    assert_int_equal(lg_metrics_scrape_long(NULL, "hl_x"), -1);
    assert_int_equal(lg_metrics_scrape_long("", "hl_x"), -1);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
    assert_int_equal(lg_metrics_scrape_long(url, "hl_x"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unlabelled_sample),
        cmocka_unit_test(test_absent_or_bad),
        cmocka_unit_test(test_scrape_unknown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
