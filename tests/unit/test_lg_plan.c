/* Unit tests for the load generator's pure parts (bench/loadgen/lg_rng.h, lg_corpus.h,
 * lg_plan.h): PRNG reproducibility, the power-law samplers, the parsers of the two corpora, and
 * the plan: the same seed gives the same plan, and the plan keeps its own rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lg_corpus.h"
#include "lg_plan.h"
#include "lg_rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_splitmix_reference(void **state)
{
    (void)state;
    /* splitmix64's first outputs for seed 0 (Vigna's reference implementation) */
    lg_rng_t r;
    lg_rng_seed(&r, 0);
    assert_true(r.s[0] == 0xE220A8397B1DCDAFULL);
    assert_true(r.s[1] == 0x6E789E6AA1B965F4ULL);
}

static void test_same_seed_same_stream(void **state)
{
    (void)state;
    lg_rng_t a, b, c;
    lg_rng_seed(&a, 42);
    lg_rng_seed(&b, 42);
    lg_rng_seed(&c, 43);
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = lg_rng_next(&a), y = lg_rng_next(&b), z = lg_rng_next(&c);
        assert_true(x == y);
        differ += x != z;
    }
    assert_true(differ > 990);
    /* forks are reproducible and independent of later draws of the parent */
    lg_rng_t p1, p2, f1, f2;
    lg_rng_seed(&p1, 7);
    lg_rng_seed(&p2, 7);
    lg_rng_fork(&p1, 3, &f1);
    lg_rng_fork(&p2, 3, &f2);
    assert_true(lg_rng_next(&f1) == lg_rng_next(&f2));
    lg_rng_fork(&p1, 4, &f2);
    assert_true(lg_rng_next(&f1) != lg_rng_next(&f2));
}

static void test_below_and_unit(void **state)
{
    (void)state;
    lg_rng_t r;
    lg_rng_seed(&r, 1);
    long counts[10] = {0};
    for (int i = 0; i < 100000; i++) {
        uint64_t x = lg_rng_below(&r, 10);
        assert_true(x < 10);
        counts[x]++;
        double u = lg_rng_unit(&r);
        assert_true(u >= 0 && u < 1);
    }
    for (int k = 0; k < 10; k++)
        assert_true(counts[k] > 9500 && counts[k] < 10500);
    assert_true(lg_rng_below(&r, 0) == 0);
    assert_false(lg_rng_chance(&r, 0));
    assert_true(lg_rng_chance(&r, 1));
    double sum = 0;
    for (int i = 0; i < 100000; i++) {
        uint32_t g = lg_rng_geometric(&r, 3.0);
        assert_true(g >= 1);
        sum += g;
    }
    assert_true(fabs(sum / 100000 - 3.0) < 0.1);
    assert_true(lg_rng_geometric(&r, 0.5) == 1);
}

static void test_zipf_is_power_law(void **state)
{
    (void)state;
    lg_weighted_t w;
    assert_true(lg_weighted_init_zipf(&w, 1000, 1.0));
    lg_rng_t r;
    lg_rng_seed(&r, 9);
    long *counts = calloc(1000, sizeof *counts);
    assert_non_null(counts);
    const long draws = 400000;
    for (long i = 0; i < draws; i++) {
        size_t k = lg_weighted_draw(&w, &r);
        assert_true(k < 1000);
        counts[k]++;
    }
    double h = 0;
    for (int k = 1; k <= 1000; k++)
        h += 1.0 / k;
    /* P(rank 1) = 1/H(1000); rank k about 1/k of rank 1 (log-log slope -1) */
    assert_true(fabs((double)counts[0] / draws - 1.0 / h) < 0.005);
    assert_true(fabs((double)counts[0] / (double)counts[1] - 2.0) < 0.15);
    assert_true(fabs((double)counts[0] / (double)counts[9] - 10.0) < 1.0);
    free(counts);
    lg_weighted_free(&w);
}

static void test_weighted_rejects_bad_input(void **state)
{
    (void)state;
    lg_weighted_t w;
    double none[1] = {0};
    double neg[2] = {1, -1};
    double nan_w[2] = {1, NAN};
    assert_false(lg_weighted_init(&w, none, 0));
    assert_false(lg_weighted_init(&w, none, 1));
    assert_false(lg_weighted_init(&w, neg, 2));
    assert_false(lg_weighted_init(&w, nan_w, 2));
    assert_false(lg_weighted_init_zipf(&w, 0, 1.0));
    double ok[3] = {0, 5, 0};
    assert_true(lg_weighted_init(&w, ok, 3));
    lg_rng_t r;
    lg_rng_seed(&r, 2);
    for (int i = 0; i < 100; i++)
        assert_true(lg_weighted_draw(&w, &r) == 1);
    lg_weighted_free(&w);
}

static void test_parse_names(void **state)
{
    (void)state;
    const char text[] = "JAMES          3.318  3.318      1\n"
                        "MARY           2.629  2.629      1\n"
                        "not a line\n"
                        "O'BRIEN        0.010  9.000      3\n"
                        "ZUNIGA         0.000 90.000  88799\n";
    lg_corpus_t c = {0};
    assert_int_equal(lg_corpus_parse_names(&c, text, strlen(text)), 3);
    assert_string_equal(c.items[0], "James");
    assert_string_equal(c.items[1], "Mary");
    assert_string_equal(c.items[2], "Zuniga");
    assert_true(fabs(c.weights[0] - 3.318) < 1e-9);
    assert_true(c.weights[2] > 0); /* zero frequency still drawable */
    lg_corpus_free(&c);
}

static void test_parse_fortunes(void **state)
{
    (void)state;
    const char text[] = "First fortune\nsecond line\n%\n\n  padded \n\n%\n%\n"
                        "bad \x01 control\n%\nbad utf8 \xC3\x28\n%\n"
                        "caf\xC3\xA9 ok\n%\nlast without separator\n";
    lg_corpus_t c = {0};
    assert_int_equal(lg_corpus_parse_fortunes(&c, text, strlen(text), 4000), 4);
    assert_string_equal(c.items[0], "First fortune\nsecond line");
    assert_string_equal(c.items[1], "padded");
    assert_string_equal(c.items[2], "caf\xC3\xA9 ok");
    assert_string_equal(c.items[3], "last without separator");
    assert_null(c.weights);
    lg_corpus_free(&c);
    /* entries over max_bytes are skipped */
    const char big[] = "short\n%\nthis one is too long\n";
    assert_int_equal(lg_corpus_parse_fortunes(&c, big, strlen(big), 10), 1);
    assert_string_equal(c.items[0], "short");
    lg_corpus_free(&c);
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(lg_utf8_valid("abc", 3));
    assert_true(lg_utf8_valid("\xE2\x82\xAC", 3));
    assert_false(lg_utf8_valid("\xE2\x82", 2));         /* truncated */
    assert_false(lg_utf8_valid("\xC0\xAF", 2));         /* overlong */
    assert_false(lg_utf8_valid("\xED\xA0\x80", 3));     /* surrogate */
    assert_false(lg_utf8_valid("\xF4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_int_equal(lg_utf8_prefix("ab\xE2\x82\xAC", 4), 2);
    assert_int_equal(lg_utf8_prefix("ab\xE2\x82\xAC", 5), 5);
    assert_int_equal(lg_utf8_prefix("abc", 10), 3);
}

/* Small corpora in the formats of the real ones. */
static void small_corpora(lg_plan_t *p)
{
    const char male[] = "JAMES 3.318 3.318 1\nJOHN 3.271 6.589 2\nROBERT 3.143 9.732 3\n"
                        "MICHAEL 2.629 12.361 4\n";
    const char female[] = "MARY 2.629 2.629 1\nPATRICIA 1.073 3.702 2\nLINDA 1.035 4.737 3\n";
    const char last[] = "SMITH 1.006 1.006 1\nJOHNSON 0.810 1.816 2\nWILLIAMS 0.699 2.515 3\n"
                        "JONES 0.621 3.136 4\nBROWN 0.621 3.757 5\n";
    const char fortunes[] = "A bird in the hand.\n%\nTwo lines\nof wisdom.\n%\nKeep going.\n%\n"
                            "Zoë says hi.\n";
    memset(p, 0, sizeof *p);
    assert_int_equal(lg_corpus_parse_names(&p->first_m, male, strlen(male)), 4);
    assert_int_equal(lg_corpus_parse_names(&p->first_f, female, strlen(female)), 3);
    assert_int_equal(lg_corpus_parse_names(&p->last, last, strlen(last)), 5);
    assert_int_equal(lg_corpus_parse_fortunes(&p->fortunes, fortunes, strlen(fortunes), 4000), 4);
    snprintf(p->nonce, sizeof p->nonce, "%s", "testnonce");
}

static uint64_t digest_of(uint64_t seed, size_t users, long messages)
{
    lg_plan_t p;
    char err[256] = "";
    small_corpora(&p);
    assert_true(lg_plan_make(&p, seed, users, messages, err, sizeof err));
    uint64_t d = lg_plan_digest(&p);
    lg_plan_free(&p);
    return d;
}

static void test_plan_reproducible(void **state)
{
    (void)state;
    uint64_t a = digest_of(42, 300, 3000);
    assert_true(a == digest_of(42, 300, 3000));
    assert_true(a != digest_of(43, 300, 3000));
    assert_true(a != digest_of(42, 301, 3000));
    assert_true(a != digest_of(42, 300, 3001));
}

/* The plan's own rules: sizes, members, scripts, run order, counselling. */
static void test_plan_shape(void **state)
{
    (void)state;
    lg_plan_t p;
    char err[256] = "";
    small_corpora(&p);
    assert_true(lg_plan_make(&p, 7, 400, 5000, err, sizeof err));
    assert_int_equal(p.nusers, 400);
    for (size_t i = 0; i < p.nusers; i++) {
        assert_non_null(p.users[i].display_name);
        assert_non_null(strstr(p.users[i].email, ".testnonce@loadgen.invalid"));
        assert_null(p.users[i].token);
        assert_false(p.users[i].id[0]);
    }
    for (size_t k = 0; k < p.nrequests; k++) {
        assert_true(p.requests[k].from < p.nusers && p.requests[k].to < p.nusers);
        assert_true(p.requests[k].from != p.requests[k].to);
    }
    assert_true(p.nrooms > 0);
    long sends = 0, messages = 0;
    for (size_t i = 0; i < p.nrooms; i++) {
        const lg_room_t *r = &p.rooms[i];
        assert_int_equal(r->members[0], r->creator);
        if (r->group) {
            assert_true(r->nmembers >= 3 && r->nmembers <= 8);
            assert_non_null(r->title);
        } else {
            assert_int_equal(r->nmembers, 2);
        }
        messages += r->messages;
        long room_sends = 0;
        for (size_t s = 0; s < r->script_len; s++) {
            const lg_step_t *st = &p.steps[r->script_off + s];
            assert_true(st->member < r->nmembers);
            room_sends += st->kind == LG_STEP_SEND;
            if (st->kind == LG_STEP_SEND)
                assert_true(st->body < p.fortunes.n);
        }
        assert_int_equal(room_sends, r->messages);
        sends += room_sends;
    }
    assert_int_equal(messages, 5000);
    assert_int_equal(sends, 5000);
    /* the run order: every room once, most messages first */
    bool *met = calloc(p.nrooms, sizeof *met);
    for (size_t i = 0; i < p.nrooms; i++) {
        assert_true(p.room_order[i] < p.nrooms && !met[p.room_order[i]]);
        met[p.room_order[i]] = true;
        if (i > 0)
            assert_true(p.rooms[p.room_order[i - 1]].messages >= p.rooms[p.room_order[i]].messages);
    }
    free(met);
    /* one counsellor in forty (plus one); clients are neither counsellors nor the operator */
    assert_int_equal(p.ncounsellors, 400 / 40 + 1);
    for (size_t b = 0; b < p.nbookings; b++) {
        const lg_booking_t *bk = &p.bookings[b];
        assert_true(bk->counsellor < p.ncounsellors);
        assert_true(bk->slot < p.counsellors[bk->counsellor].nslots);
        assert_true(p.counsellors[bk->counsellor].verified);
        assert_true(bk->client != p.operator_user);
        for (size_t c = 0; c < p.ncounsellors; c++)
            assert_true(bk->client != p.counsellors[c].user);
        assert_true(bk->pm < LG_NMETHODS);
    }
    lg_plan_free(&p);
    assert_null(p.users);
}

/* Name lists without weights (a fortune file parsed as names): an error, not a crash. */
static void test_plan_needs_weights(void **state)
{
    (void)state;
    lg_plan_t p;
    char err[256] = "";
    small_corpora(&p);
    lg_corpus_free(&p.last);
    const char unweighted[] = "Smith\n%\nJones\n";
    assert_int_equal(lg_corpus_parse_fortunes(&p.last, unweighted, strlen(unweighted), 100), 2);
    assert_false(lg_plan_make(&p, 1, 50, 100, err, sizeof err));
    assert_string_equal(err, "name corpus has no weights");
    lg_plan_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_splitmix_reference),
        cmocka_unit_test(test_same_seed_same_stream),
        cmocka_unit_test(test_below_and_unit),
        cmocka_unit_test(test_zipf_is_power_law),
        cmocka_unit_test(test_weighted_rejects_bad_input),
        cmocka_unit_test(test_parse_names),
        cmocka_unit_test(test_parse_fortunes),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_plan_reproducible),
        cmocka_unit_test(test_plan_shape),
        cmocka_unit_test(test_plan_needs_weights),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
