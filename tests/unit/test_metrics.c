/* Unit tests for hl/metrics.h: Prometheus text exposition. The registry is process-global, so
 * every test uses its own metric names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hl/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Number of occurrences of needle in hay. */
static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0, nl = strlen(needle);
    for (const char *p = strstr(hay, needle); p; p = strstr(p + nl, needle))
        n++;
    return n;
}

/* The exposition contains the whole line exactly once. */
static void assert_line(const char *text, const char *line)
{
    char buf[512];
    snprintf(buf, sizeof buf, "\n%s\n", line);
    /* Prefix a newline to the text so that the first line matches too. */
    size_t tl = strlen(text);
    char *t = malloc(tl + 2);
    assert_non_null(t);
    t[0] = '\n';
    memcpy(t + 1, text, tl + 1);
    size_t n = count_of(t, buf);
    free(t);
    if (n != 1)
        fail_msg("line \"%s\" occurs %zu times in:\n%s", line, n, text);
}

static char *render(void)
{
    size_t len = 0;
    char *text = hl_metrics_render(&len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    assert_true(len == 0 || text[len - 1] == '\n');
    return text;
}

static void test_counter(void **state)
{
    (void)state;
    hl_metric_t *a = hl_metric_get(HL_METRIC_COUNTER, "t_requests_total",
                                   "route=\"/v1/users\",status=\"201\"", "Requests served.");
    hl_metric_t *b = hl_metric_get(HL_METRIC_COUNTER, "t_requests_total",
                                   "route=\"/v1/users\",status=\"422\"", "ignored help");
    hl_metric_t *a2 = hl_metric_get(HL_METRIC_COUNTER, "t_requests_total",
                                    "route=\"/v1/users\",status=\"201\"", NULL);
    assert_ptr_equal(a, a2); /* same name + labels = same series */
    assert_ptr_not_equal(a, b);
    hl_metric_add(a, 2);
    hl_metric_add(a2, 3);
    hl_metric_add(b, 1);
    hl_metric_t *plain = hl_metric_get(HL_METRIC_COUNTER, "t_plain_total", NULL, "No labels.");
    hl_metric_add(plain, 7);
    hl_metric_t *empty = hl_metric_get(HL_METRIC_COUNTER, "t_plain_total", "", NULL);
    assert_ptr_equal(plain, empty); /* NULL and "" labels are the same series */

    char *text = render();
    assert_line(text, "# HELP t_requests_total Requests served.");
    assert_line(text, "# TYPE t_requests_total counter");
    assert_int_equal(count_of(text, "# HELP t_requests_total "), 1);
    assert_int_equal(count_of(text, "# TYPE t_requests_total "), 1);
    assert_line(text, "t_requests_total{route=\"/v1/users\",status=\"201\"} 5");
    assert_line(text, "t_requests_total{route=\"/v1/users\",status=\"422\"} 1");
    assert_line(text, "# TYPE t_plain_total counter");
    assert_line(text, "t_plain_total 7");
    /* HELP and TYPE precede the samples of their family. */
    assert_true(strstr(text, "# TYPE t_requests_total") < strstr(text, "t_requests_total{"));
    free(text);
}

static void test_gauge(void **state)
{
    (void)state;
    hl_metric_t *g = hl_metric_get(HL_METRIC_GAUGE, "t_inflight", "pool=\"pg\"", "In flight.");
    hl_metric_set(g, 10);
    hl_metric_add(g, -3);
    hl_metric_t *g2 = hl_metric_get(HL_METRIC_GAUGE, "t_inflight", "pool=\"mongo\"", "x");
    hl_metric_add(g2, -4);
    char *text = render();
    assert_line(text, "# HELP t_inflight In flight.");
    assert_line(text, "# TYPE t_inflight gauge");
    assert_int_equal(count_of(text, "# TYPE t_inflight "), 1);
    assert_line(text, "t_inflight{pool=\"pg\"} 7");
    assert_line(text, "t_inflight{pool=\"mongo\"} -4");
    free(text);

    hl_metric_set(g, 0);
    text = render();
    assert_line(text, "t_inflight{pool=\"pg\"} 0");
    free(text);
}

static void test_histogram(void **state)
{
    (void)state;
    hl_metric_t *h =
        hl_metric_get(HL_METRIC_HISTOGRAM, "t_latency_seconds", "route=\"/x\"", "Latency.");
    hl_metric_observe_us(h, 300);      /* <= 0.5 ms */
    hl_metric_observe_us(h, 1000);     /* exactly 1 ms: le is inclusive */
    hl_metric_observe_us(h, 70000);    /* 70 ms */
    hl_metric_observe_us(h, 20000000); /* 20 s: only +Inf */
    char *text = render();
    assert_line(text, "# HELP t_latency_seconds Latency.");
    assert_line(text, "# TYPE t_latency_seconds histogram");
    assert_line(text, "t_latency_seconds_bucket{route=\"/x\",le=\"0.0005\"} 1");
    assert_line(text, "t_latency_seconds_bucket{route=\"/x\",le=\"0.001\"} 2");
    assert_line(text, "t_latency_seconds_bucket{route=\"/x\",le=\"0.05\"} 2");
    assert_line(text, "t_latency_seconds_bucket{route=\"/x\",le=\"0.1\"} 3");
    assert_line(text, "t_latency_seconds_bucket{route=\"/x\",le=\"1\"} 3");
    assert_line(text, "t_latency_seconds_bucket{route=\"/x\",le=\"10\"} 3");
    assert_line(text, "t_latency_seconds_bucket{route=\"/x\",le=\"+Inf\"} 4");
    assert_line(text, "t_latency_seconds_sum{route=\"/x\"} 20.071300");
    assert_line(text, "t_latency_seconds_count{route=\"/x\"} 4");
    /* 14 finite buckets plus +Inf. */
    assert_int_equal(count_of(text, "t_latency_seconds_bucket{route=\"/x\","), 15);
    free(text);

    /* Without labels: {le=...} and bare _sum/_count. */
    hl_metric_t *n = hl_metric_get(HL_METRIC_HISTOGRAM, "t_job_seconds", NULL, "Jobs.");
    hl_metric_observe_us(n, 2500);
    text = render();
    assert_line(text, "t_job_seconds_bucket{le=\"0.001\"} 0");
    assert_line(text, "t_job_seconds_bucket{le=\"0.0025\"} 1");
    assert_line(text, "t_job_seconds_bucket{le=\"+Inf\"} 1");
    assert_line(text, "t_job_seconds_sum 0.002500");
    assert_line(text, "t_job_seconds_count 1");
    free(text);
}

static size_t collector(char *buf, size_t cap, void *ctx)
{
    int n = snprintf(buf, cap, "# TYPE t_collected gauge\nt_collected %d\n", *(int *)ctx);
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap;
}

static void test_collector(void **state)
{
    (void)state;
    static int value = 41;
    hl_metrics_add_collector(collector, &value);
    char *text = render();
    assert_line(text, "# TYPE t_collected gauge");
    assert_line(text, "t_collected 41");
    free(text);
    value = 42;
    text = render();
    assert_line(text, "t_collected 42");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter),
        cmocka_unit_test(test_gauge),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_collector),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
