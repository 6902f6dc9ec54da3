/* lg_plan.c: the load generator's plan from a seed (see lg_plan.h). */
#include "lg_plan.h"

#include "lg_rng.h"

#include "hl/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void plan_oom(void) __attribute__((noreturn));
static void plan_oom(void)
{
    fputs("hl-loadgen: out of memory\n", stderr);
    exit(2);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        plan_oom();
    return p;
}

static void *xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size);
    if (!q)
        plan_oom();
    return q;
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        plan_oom();
    return p;
}

/* ---- plan generation ---- */

static uint64_t pair_key(uint32_t a, uint32_t b)
{
    return a < b ? ((uint64_t)a << 32) | b : ((uint64_t)b << 32) | a;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool has_pair(const uint64_t *sorted, size_t n, uint64_t key)
{
    return bsearch(&key, sorted, n, sizeof key, cmp_u64) != NULL;
}

static void push_step(lg_plan_t *p, uint8_t kind, uint8_t member, uint32_t body)
{
    if (p->nsteps == p->steps_cap) {
        p->steps_cap = p->steps_cap ? p->steps_cap * 2 : 4096;
        p->steps = xrealloc(p->steps, p->steps_cap * sizeof *p->steps);
    }
    p->steps[p->nsteps++] = (lg_step_t){kind, member, body};
}

static lg_room_t *push_room(lg_plan_t *p)
{
    if (p->nrooms == p->rooms_cap) {
        p->rooms_cap = p->rooms_cap ? p->rooms_cap * 2 : 256;
        p->rooms = xrealloc(p->rooms, p->rooms_cap * sizeof *p->rooms);
    }
    lg_room_t *r = &p->rooms[p->nrooms++];
    memset(r, 0, sizeof *r);
    return r;
}

/* A room's place in the run order: most messages first, then by index (a total order, so the
 * sorted order is the same on every machine). */
typedef struct {
    long messages;
    size_t index;
} room_rank_t;

static int cmp_room_rank(const void *a, const void *b)
{
    const room_rank_t *x = a, *y = b;
    if (x->messages != y->messages)
        return x->messages > y->messages ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* ---- counselling plan (SPEC §9) ----
 * A counsellor in forty (at least one) with a weekly pattern of slots (2..4 weekdays x 1..3
 * start hours, two weeks, starting two days ahead, so cancellations >= 24 h before are
 * possible) and two slots soon (5 min and 3 h after the phase starts: a cancellation < 24 h
 * before, and a session that can end during the run). Clients (users other than the
 * counsellors and the operator) book about half of the weekly slots and every slot soon; one
 * weekly booking in six declines (pm_card_chargeDeclined / ...InsufficientFunds). Confirmed
 * bookings are cancelled by the client (>= 24 h: full refund; < 24 h: charged) or the counsellor
 * (always refunded), or completed once the session ended and reviewed. Times are offsets in
 * minutes from the phase's start (its next whole minute), so the plan does not depend on the
 * clock. */

const char *const lg_specialties[LG_NSPECIALTIES] = {
    "anxiety", "depression", "relationships", "stress", "grief",
    "trauma",  "addiction",  "family",        "career", "self-esteem"};
const char *const lg_languages[LG_NLANGUAGES] = {"en",    "de", "fr", "es",
                                                 "pt-BR", "it", "nl", "zh-Hant"};
const char *const lg_currencies[LG_NCURRENCIES] = {"EUR", "USD", "GBP"};
const int lg_minutes[LG_NMINUTES] = {30, 50, 80};
const char *const lg_methods[LG_NMETHODS] = {"pm_card_visa", "pm_card_chargeDeclined",
                                             "pm_card_chargeDeclinedInsufficientFunds"};

static void make_counselling_plan(lg_plan_t *p, lg_rng_t *rc)
{
    size_t n = p->nusers;
    if (n < 4)
        return;
    p->operator_user = 0;
    p->ncounsellors = n / 40 + 1;
    p->counsellors = xcalloc(p->ncounsellors, sizeof *p->counsellors);
    bool *taken = xcalloc(n, sizeof *taken);
    taken[0] = true;
    for (size_t k = 0; k < p->ncounsellors; k++) {
        lg_counsellor_t *c = &p->counsellors[k];
        uint32_t u;
        do
            u = 1 + (uint32_t)lg_rng_below(rc, n - 1);
        while (taken[u]);
        taken[u] = true;
        c->user = u;
        c->nspec = 1 + (int)lg_rng_below(rc, 3);
        for (int s = 0; s < c->nspec; s++) {
            int pick;
            bool dup;
            do {
                pick = (int)lg_rng_below(rc, LG_NSPECIALTIES);
                dup = false;
                for (int t = 0; t < s; t++)
                    dup = dup || c->spec[t] == pick;
            } while (dup);
            c->spec[s] = pick;
        }
        c->nlang = 1 + (int)lg_rng_below(rc, 2);
        c->lang[0] = lg_rng_chance(rc, 0.6) ? 0 : (int)lg_rng_below(rc, LG_NLANGUAGES);
        if (c->nlang == 2) {
            do
                c->lang[1] = (int)lg_rng_below(rc, LG_NLANGUAGES);
            while (c->lang[1] == c->lang[0]);
        }
        c->price_minor = 3000 + 500 * (int64_t)lg_rng_below(rc, 19);
        c->currency = (int)lg_rng_below(rc, LG_NCURRENCIES);
        /* the first counsellor has 30-minute sessions: its first slot soon ends during a run */
        c->minutes = k == 0 ? 30 : lg_minutes[lg_rng_below(rc, LG_NMINUTES)];
        c->headline = (int)lg_rng_below(rc, p->fortunes.n ? p->fortunes.n : 1);
        c->verified = k == 0 || lg_rng_chance(rc, 0.9);
        /* slots: two soon, then the weekly pattern (start hours 2 h apart: 80-minute sessions
         * never overlap) */
        c->slot_off[c->nslots++] = 5;
        c->slot_off[c->nslots++] = 180;
        int days[4], ndays = 2 + (int)lg_rng_below(rc, 3), nhours = 1 + (int)lg_rng_below(rc, 3);
        int first_hour = (int)lg_rng_below(rc, 6);
        for (int d = 0; d < ndays; d++) {
            bool dup;
            do {
                days[d] = (int)lg_rng_below(rc, 7);
                dup = false;
                for (int e = 0; e < d; e++)
                    dup = dup || days[e] == days[d];
            } while (dup);
        }
        for (int week = 0; week < 2; week++)
            for (int d = 0; d < ndays; d++)
                for (int h = 0; h < nhours; h++)
                    c->slot_off[c->nslots++] =
                        (int64_t)(2 + week * 7 + days[d]) * 1440 + (first_hour + 2 * h) * 60;
    }
    /* bookings */
    size_t cap = 0;
    for (size_t k = 0; k < p->ncounsellors; k++)
        cap += p->counsellors[k].verified ? p->counsellors[k].nslots : 0;
    p->bookings = xcalloc(cap, sizeof *p->bookings);
    size_t weekly = 0;
    for (size_t k = 0; k < p->ncounsellors; k++) {
        lg_counsellor_t *c = &p->counsellors[k];
        if (!c->verified)
            continue;
        for (uint32_t s = 0; s < c->nslots; s++) {
            bool soon = c->slot_off[s] < 1440;
            if (!soon && !lg_rng_chance(rc, 0.5))
                continue;
            lg_booking_t *b = &p->bookings[p->nbookings++];
            b->counsellor = (uint32_t)k;
            b->slot = s;
            do
                b->client = (uint32_t)lg_rng_below(rc, n);
            while (taken[b->client]);
            /* weekly bookings in turn: kept, cancelled by the client (>= 24 h: refunded),
             * declined, cancelled by the counsellor, kept, kept */
            unsigned turn = soon ? 0 : (unsigned)(weekly++ % 6);
            b->pm = turn == 2 ? (uint8_t)(1 + lg_rng_below(rc, 2)) : 0;
            if (c->slot_off[s] == 5)
                b->after = c->minutes == 30 ? LG_AFTER_COMPLETE : LG_AFTER_CANCEL_COUNSELLOR;
            else if (soon)
                b->after = LG_AFTER_CANCEL_CLIENT; /* < 24 h before: charged */
            else
                b->after = turn == 1   ? LG_AFTER_CANCEL_CLIENT
                           : turn == 3 ? LG_AFTER_CANCEL_COUNSELLOR
                                       : LG_AFTER_NONE;
            if (b->after == LG_AFTER_COMPLETE)
                b->rating = (uint8_t)(1 + lg_rng_below(rc, 5));
        }
    }
    /* the slots soon are booked first (they must still be in the future) */
    for (size_t i = 0, j = 0; i < p->nbookings; i++)
        if (p->counsellors[p->bookings[i].counsellor].slot_off[p->bookings[i].slot] < 1440) {
            lg_booking_t t = p->bookings[i];
            p->bookings[i] = p->bookings[j];
            p->bookings[j++] = t;
        }
    free(taken);
}

bool lg_plan_make(lg_plan_t *p, uint64_t seed, size_t users, long messages, char *errbuf,
                  size_t errcap)
{
    /* one stream per part (stream 5 is unused: it once drew fortunes), so a part drawing more
     * numbers does not shift the others */
    lg_rng_t root, rn, rg, rr, rm;
    lg_rng_seed(&root, seed);
    lg_rng_fork(&root, 1, &rn);
    lg_rng_fork(&root, 2, &rg);
    lg_rng_fork(&root, 3, &rr);
    lg_rng_fork(&root, 4, &rm);
    size_t n = users;
    p->nusers = n;
    p->users = xcalloc(n, sizeof *p->users);

    /* users: Census names weighted by frequency; profile, presence and end-of-run choices */
    lg_weighted_t wm = {0}, wf = {0}, wl = {0};
    if (!lg_weighted_init(&wm, p->first_m.weights, p->first_m.n) ||
        !lg_weighted_init(&wf, p->first_f.weights, p->first_f.n) ||
        !lg_weighted_init(&wl, p->last.weights, p->last.n)) {
        lg_weighted_free(&wm);
        lg_weighted_free(&wf);
        lg_weighted_free(&wl);
        snprintf(errbuf, errcap, "name corpus has no weights");
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        lg_user_t *u = &p->users[i];
        const char *first = lg_rng_chance(&rn, 0.5) ? p->first_m.items[lg_weighted_draw(&wm, &rn)]
                                                    : p->first_f.items[lg_weighted_draw(&wf, &rn)];
        const char *last = p->last.items[lg_weighted_draw(&wl, &rn)];
        char name[128];
        snprintf(name, sizeof name, "%s %s", first, last);
        name[lg_utf8_prefix(name, 64)] = '\0';
        u->display_name = xstrdup(name);
        snprintf(u->email, sizeof u->email, "%s.%s.%zu.%s@loadgen.invalid", first, last, i,
                 p->nonce);
        hl_ascii_lower(u->email);
        snprintf(u->password, sizeof u->password, "lg-%016" PRIx64 "-%zu", lg_rng_next(&rn), i);
        if (lg_rng_chance(&rn, 0.3)) {
            const char *f = p->fortunes.items[lg_rng_below(&rn, p->fortunes.n)];
            size_t cut = strcspn(f, "\n");
            char bio[256];
            if (cut > 200)
                cut = lg_utf8_prefix(f, 200);
            memcpy(bio, f, cut);
            bio[cut] = '\0';
            u->bio = xstrdup(bio);
        }
        u->online = lg_rng_chance(&rn, 0.5);
        u->final_presence = u->online ? (int)lg_rng_below(&rn, 3) : 0;
        u->reads_notifications = lg_rng_chance(&rn, 0.3);
        /* one reader in ten first lists its unread notifications (a query-API read that scans
         * the collection on FerretDB 1.24, so kept few) */
        u->peeks_notifications = u->reads_notifications && lg_rng_chance(&rn, 0.1);
        u->logs_out = lg_rng_chance(&rn, 0.1);
    }
    lg_weighted_free(&wm);
    lg_weighted_free(&wf);
    lg_weighted_free(&wl);

    /* friendship graph: preferential attachment (each newcomer sends or receives a geometric
     * number of requests, mean 3, to earlier users chosen with probability ∝ degree + 1) */
    size_t ecap = 64, en = 0;
    uint32_t *ends = xcalloc(ecap, sizeof *ends);
    p->requests_cap = n * 4 + 16;
    p->requests = xcalloc(p->requests_cap, sizeof *p->requests);
    for (uint32_t i = 1; i < n; i++) {
        uint32_t m = lg_rng_geometric(&rg, 3.0);
        if (m > i)
            m = i;
        uint32_t chosen[64];
        uint32_t nc = 0;
        for (uint32_t k = 0; k < m && nc < 64; k++) {
            uint32_t j = 0;
            for (int tries = 0; tries < 8; tries++) {
                j = (en > 0 && lg_rng_chance(&rg, 0.85)) ? ends[lg_rng_below(&rg, en)]
                                                         : (uint32_t)lg_rng_below(&rg, i);
                bool dup = j == i;
                for (uint32_t c = 0; c < nc; c++)
                    dup = dup || chosen[c] == j;
                if (!dup)
                    break;
                j = UINT32_MAX;
            }
            if (j == UINT32_MAX)
                continue;
            chosen[nc++] = j;
            if (p->nrequests == p->requests_cap) {
                p->requests_cap *= 2;
                p->requests = xrealloc(p->requests, p->requests_cap * sizeof *p->requests);
            }
            lg_request_t *q = &p->requests[p->nrequests++];
            memset(q, 0, sizeof *q);
            bool from_new = lg_rng_chance(&rg, 0.5);
            q->from = from_new ? i : j;
            q->to = from_new ? j : i;
            double x = lg_rng_unit(&rg);
            q->outcome = x < 0.78 ? LG_OUT_ACCEPT : x < 0.88 ? LG_OUT_REJECT : LG_OUT_PENDING;
            q->deleted_by = -1;
            if (q->outcome == LG_OUT_ACCEPT && lg_rng_chance(&rg, 0.06))
                q->deleted_by = (int8_t)lg_rng_below(&rg, 2);
            if (en + 2 > ecap) {
                ecap *= 2;
                ends = xrealloc(ends, ecap * sizeof *ends);
            }
            ends[en++] = i;
            ends[en++] = j;
        }
    }
    free(ends);
    uint64_t *pairs = xcalloc(p->nrequests, sizeof *pairs);
    for (size_t k = 0; k < p->nrequests; k++)
        pairs[k] = pair_key(p->requests[k].from, p->requests[k].to);
    qsort(pairs, p->nrequests, sizeof *pairs, cmp_u64);

    /* blocks between users with no request either way; the first and about a third of the
     * others are lifted later */
    p->nblocks = n >= 2 ? n / 50 + 1 : 0;
    p->blocks = xcalloc(p->nblocks, sizeof *p->blocks);
    uint64_t *blocked_live = xcalloc(p->nblocks, sizeof *blocked_live);
    size_t nlive_blocks = 0, nb = 0;
    for (size_t k = 0; k < p->nblocks; k++) {
        for (int tries = 0; tries < 100; tries++) {
            uint32_t a = (uint32_t)lg_rng_below(&rg, n), b = (uint32_t)lg_rng_below(&rg, n);
            uint64_t key = pair_key(a, b);
            bool dup = false;
            for (size_t c = 0; c < nb; c++)
                dup = dup || pair_key(p->blocks[c].blocker, p->blocks[c].blocked) == key;
            if (a == b || dup || has_pair(pairs, p->nrequests, key))
                continue;
            p->blocks[nb] = (lg_block_t){a, b, nb == 0 || lg_rng_chance(&rg, 0.35)};
            if (!p->blocks[nb].unblock)
                blocked_live[nlive_blocks++] = key;
            nb++;
            break;
        }
    }
    p->nblocks = nb;
    qsort(blocked_live, nlive_blocks, sizeof *blocked_live, cmp_u64);
    free(pairs);

    /* live friends (accepted, not deleted) as adjacency lists */
    uint32_t *deg = xcalloc(n, sizeof *deg);
    for (size_t k = 0; k < p->nrequests; k++) {
        lg_request_t *q = &p->requests[k];
        if (q->outcome == LG_OUT_ACCEPT && q->deleted_by < 0) {
            deg[q->from]++;
            deg[q->to]++;
        }
    }
    size_t *adj_off = xcalloc(n + 1, sizeof *adj_off);
    for (size_t i = 0; i < n; i++)
        adj_off[i + 1] = adj_off[i] + deg[i];
    uint32_t *adj = xcalloc(adj_off[n], sizeof *adj), *fill = xcalloc(n, sizeof *fill);
    for (size_t k = 0; k < p->nrequests; k++) {
        lg_request_t *q = &p->requests[k];
        if (q->outcome == LG_OUT_ACCEPT && q->deleted_by < 0) {
            adj[adj_off[q->from] + fill[q->from]++] = q->to;
            adj[adj_off[q->to] + fill[q->to]++] = q->from;
        }
    }

    /* rooms: a direct room for 70 % of live friendships, groups of 3..8 friends of a creator */
    for (size_t k = 0; k < p->nrequests; k++) {
        lg_request_t *q = &p->requests[k];
        if (q->outcome != LG_OUT_ACCEPT || q->deleted_by >= 0 || !lg_rng_chance(&rr, 0.7))
            continue;
        lg_room_t *r = push_room(p);
        r->nmembers = 2;
        r->members = xcalloc(2, sizeof *r->members);
        bool from_creates = lg_rng_chance(&rr, 0.5);
        r->members[0] = from_creates ? q->from : q->to;
        r->members[1] = from_creates ? q->to : q->from;
        r->creator = r->members[0];
    }
    size_t ngroups = n / 25 + 1;
    for (size_t g = 0, tries = 0; g < ngroups && tries < ngroups * 20; tries++) {
        uint32_t c = (uint32_t)lg_rng_below(&rr, n);
        if (deg[c] < 2)
            continue;
        uint32_t want = 2 + lg_rng_geometric(&rr, 2.0);
        if (want > 7)
            want = 7;
        if (want > deg[c])
            want = deg[c];
        uint32_t members[8];
        uint32_t nm = 0;
        members[nm++] = c;
        for (int t = 0; t < 40 && nm < want + 1; t++) {
            uint32_t f = adj[adj_off[c] + lg_rng_below(&rr, deg[c])];
            bool bad = false;
            for (uint32_t x = 0; x < nm; x++)
                bad = bad || members[x] == f ||
                      has_pair(blocked_live, nlive_blocks, pair_key(members[x], f));
            if (!bad)
                members[nm++] = f;
        }
        if (nm < 3)
            continue;
        lg_room_t *r = push_room(p);
        r->group = true;
        r->creator = c;
        r->nmembers = nm;
        r->members = xcalloc(nm, sizeof *r->members);
        memcpy(r->members, members, nm * sizeof *members);
        char title[96];
        snprintf(title, sizeof title, "The %s circle", p->last.items[lg_rng_below(&rr, p->last.n)]);
        r->title = xstrdup(title);
        g++;
    }
    free(deg);
    free(adj_off);
    free(adj);
    free(fill);
    free(blocked_live);

    /* messages: rooms' activity is Zipf (s = 0.8) over a random order of the rooms */
    if (p->nrooms == 0 && messages > 0) {
        snprintf(errbuf, errcap,
                 "the plan has no rooms (too few users for friendships): raise --users");
        return false;
    }
    if (p->nrooms > 0) {
        size_t *perm = xcalloc(p->nrooms, sizeof *perm);
        for (size_t i = 0; i < p->nrooms; i++)
            perm[i] = i;
        for (size_t i = p->nrooms - 1; i > 0; i--) {
            size_t j = (size_t)lg_rng_below(&rm, i + 1), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        lg_weighted_t zipf;
        if (!lg_weighted_init_zipf(&zipf, p->nrooms, 0.8))
            plan_oom(); /* n > 0 and s = 0.8: only allocation fails */
        for (long k = 0; k < messages; k++)
            p->rooms[perm[lg_weighted_draw(&zipf, &rm)]].messages++;
        lg_weighted_free(&zipf);
        free(perm);
    }
    /* scripts: sessions of back-and-forth bursts; readers mark read after bursts and sessions */
    for (size_t i = 0; i < p->nrooms; i++) {
        lg_room_t *r = &p->rooms[i];
        lg_rng_t rs;
        lg_rng_fork(&rm, 1000 + i, &rs);
        r->script_off = p->nsteps;
        long left = r->messages;
        uint32_t speaker = (uint32_t)lg_rng_below(&rs, r->nmembers);
        while (left > 0) {
            uint32_t bursts = lg_rng_geometric(&rs, 4.0);
            for (uint32_t b = 0; b < bursts && left > 0; b++) {
                if (b > 0 || left < r->messages) {
                    if (r->nmembers == 2) {
                        speaker ^= 1;
                    } else {
                        uint32_t next = (uint32_t)lg_rng_below(&rs, r->nmembers - 1);
                        speaker = next >= speaker ? next + 1 : next;
                    }
                }
                uint32_t len = lg_rng_geometric(&rs, 2.2);
                for (uint32_t k = 0; k < len && left > 0; k++, left--)
                    push_step(p, LG_STEP_SEND, (uint8_t)speaker,
                              (uint32_t)lg_rng_below(&rs, p->fortunes.n));
                for (uint32_t m = 0; m < r->nmembers; m++)
                    if (m != speaker && lg_rng_chance(&rs, r->nmembers == 2 ? 0.6 : 0.25))
                        push_step(p, LG_STEP_READ, (uint8_t)m, 0);
            }
            for (uint32_t m = 0; m < r->nmembers; m++)
                if (lg_rng_chance(&rs, 0.4))
                    push_step(p, LG_STEP_READ, (uint8_t)m, 0);
        }
        r->script_len = p->nsteps - r->script_off;
    }
    room_rank_t *rank = xcalloc(p->nrooms, sizeof *rank);
    for (size_t i = 0; i < p->nrooms; i++)
        rank[i] = (room_rank_t){p->rooms[i].messages, i};
    qsort(rank, p->nrooms, sizeof *rank, cmp_room_rank);
    p->room_order = xcalloc(p->nrooms, sizeof *p->room_order);
    for (size_t i = 0; i < p->nrooms; i++)
        p->room_order[i] = rank[i].index;
    free(rank);
    lg_rng_t rc;
    lg_rng_fork(&root, 6, &rc);
    make_counselling_plan(p, &rc);
    return true;
}

uint64_t lg_plan_digest(const lg_plan_t *p)
{
    uint64_t h = HL_FNV64_BASIS;
#define MIX(ptr, len) (h = hl_fnv1a64_mix(h, (ptr), (size_t)(len)))
    for (size_t i = 0; i < p->nusers; i++) {
        const lg_user_t *u = &p->users[i];
        MIX(u->display_name, strlen(u->display_name) + 1);
        MIX(u->password, strlen(u->password) + 1);
        if (u->bio)
            MIX(u->bio, strlen(u->bio) + 1);
        unsigned char flags[5] = {u->online, (unsigned char)u->final_presence,
                                  u->reads_notifications, u->peeks_notifications, u->logs_out};
        MIX(flags, sizeof flags);
    }
    for (size_t k = 0; k < p->nrequests; k++) {
        const lg_request_t *q = &p->requests[k];
        uint32_t f[4] = {q->from, q->to, q->outcome, (uint32_t)(q->deleted_by + 1)};
        MIX(f, sizeof f);
    }
    for (size_t k = 0; k < p->nblocks; k++) {
        uint32_t f[3] = {p->blocks[k].blocker, p->blocks[k].blocked, p->blocks[k].unblock};
        MIX(f, sizeof f);
    }
    for (size_t k = 0; k < p->ncounsellors; k++) {
        const lg_counsellor_t *c = &p->counsellors[k];
        int64_t f[12] = {c->user,        c->nspec,    c->spec[0], c->spec[1],
                         c->spec[2],     c->nlang,    c->lang[0], c->nlang > 1 ? c->lang[1] : -1,
                         c->price_minor, c->currency, c->minutes, c->verified};
        MIX(f, sizeof f);
        MIX(c->slot_off, c->nslots * sizeof *c->slot_off);
    }
    for (size_t k = 0; k < p->nbookings; k++) {
        const lg_booking_t *b = &p->bookings[k];
        uint32_t f[6] = {b->counsellor, b->slot, b->client, b->pm, b->after, b->rating};
        MIX(f, sizeof f);
    }
    for (size_t i = 0; i < p->nrooms; i++) {
        const lg_room_t *r = &p->rooms[i];
        MIX(r->members, r->nmembers * sizeof *r->members);
        if (r->title)
            MIX(r->title, strlen(r->title) + 1);
        for (size_t s = 0; s < r->script_len; s++) {
            const lg_step_t *st = &p->steps[r->script_off + s];
            uint32_t f[3] = {st->kind, st->member, st->body};
            MIX(f, sizeof f);
        }
    }
#undef MIX
    return h;
}

void lg_plan_free(lg_plan_t *p)
{
    for (size_t i = 0; i < p->nusers; i++) {
        free(p->users[i].display_name);
        free(p->users[i].token);
        free(p->users[i].bio);
    }
    for (size_t i = 0; i < p->nrooms; i++) {
        free(p->rooms[i].members);
        free(p->rooms[i].title);
    }
    free(p->users);
    free(p->requests);
    free(p->blocks);
    free(p->rooms);
    free(p->steps);
    free(p->room_order);
    free(p->counsellors);
    free(p->bookings);
    lg_corpus_free(&p->first_m);
    lg_corpus_free(&p->first_f);
    lg_corpus_free(&p->last);
    lg_corpus_free(&p->fortunes);
    memset(p, 0, sizeof *p);
}
