/* lg_plan.h: the load generator's plan (bench/README.md "hl-loadgen"): users and their names,
 * the friendship graph, blocks, rooms, every message and read receipt, counsellors, their slots
 * and bookings, computed up front from a seed, the scale and the corpora. Pure: no I/O, no
 * clock; the same seed, sizes and corpora give the same plan (lg_plan_digest) on every machine.
 *
 * The plan's records also hold the workload's results (server-made ids, tokens, slot ids,
 * whether a booking was confirmed): the plan leaves them empty, lg_main.c fills them in. */
#ifndef LG_PLAN_H
#define LG_PLAN_H

#include "lg_corpus.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A friend request's planned answer. */
enum { LG_OUT_ACCEPT, LG_OUT_REJECT, LG_OUT_PENDING };

/* A conversation step: a member sends a message or marks the room read. */
enum { LG_STEP_SEND = 1, LG_STEP_READ = 2 };

/* What happens to a confirmed booking. */
enum { LG_AFTER_NONE, LG_AFTER_CANCEL_CLIENT, LG_AFTER_CANCEL_COUNSELLOR, LG_AFTER_COMPLETE };

typedef struct {
    char *display_name; /* owned; at most 64 bytes of UTF-8 */
    char email[160];    /* first.last.<index>.<nonce>@loadgen.invalid, lower case */
    char password[48];
    char id[40];        /* workload: the user id the command API answered */
    char *token;        /* workload: the session token (owned) */
    char *bio;          /* owned; NULL: no profile update */
    bool online;        /* goes online after log-in */
    int final_presence; /* 0 none, 1 away, 2 offline */
    bool reads_notifications, peeks_notifications, logs_out;
} lg_user_t;

typedef struct {
    uint32_t from, to; /* user indexes */
    uint8_t outcome;   /* LG_OUT_* */
    int8_t deleted_by; /* -1: not deleted, 0: from deletes, 1: to deletes */
    char id[40];       /* workload: the request id */
} lg_request_t;

typedef struct {
    uint32_t blocker, blocked; /* user indexes */
    bool unblock;              /* lifted later */
} lg_block_t;

typedef struct {
    uint8_t kind;   /* LG_STEP_SEND or LG_STEP_READ */
    uint8_t member; /* index into the room's members */
    uint32_t body;  /* fortune index (LG_STEP_SEND) */
} lg_step_t;

typedef struct {
    bool group;
    uint32_t creator;  /* user index */
    uint32_t *members; /* user indexes, owned; members[0] = creator */
    uint32_t nmembers;
    char *title;                   /* owned; groups only */
    char id[40];                   /* workload: the room id */
    size_t script_off, script_len; /* the room's steps in lg_plan_t.steps */
    long messages;
} lg_room_t;

#define LG_COUNSELLOR_SLOTS 26 /* two soon + at most 2 weeks x 4 days x 3 hours */

typedef struct {
    uint32_t user;                      /* user index */
    int spec[3], nspec, lang[2], nlang; /* indexes into lg_specialties, lg_languages */
    int64_t price_minor;
    int currency, minutes, headline; /* lg_currencies index; minutes; headline: fortune index */
    bool verified;
    int64_t slot_off[LG_COUNSELLOR_SLOTS]; /* minutes after the counselling phase's start */
    uint32_t nslots;
    char slot_ids[LG_COUNSELLOR_SLOTS][40]; /* workload: the slot ids */
} lg_counsellor_t;

typedef struct {
    uint32_t counsellor;  /* index into lg_plan_t.counsellors */
    uint32_t slot;        /* index into its slots */
    uint32_t client;      /* user index */
    uint8_t pm;           /* lg_methods index: 0 succeeds, 1 and 2 decline */
    uint8_t after;        /* LG_AFTER_* once confirmed */
    uint8_t rating;       /* 1..5 with LG_AFTER_COMPLETE */
    char id[40], job[40]; /* workload: booking and job ids */
    bool confirmed;       /* workload: the booking's job succeeded */
} lg_booking_t;

typedef struct {
    lg_user_t *users;
    size_t nusers;
    lg_request_t *requests;
    size_t nrequests, requests_cap;
    lg_block_t *blocks;
    size_t nblocks;
    lg_room_t *rooms;
    size_t nrooms, rooms_cap;
    lg_step_t *steps;
    size_t nsteps, steps_cap;
    size_t *room_order; /* rooms, most messages first (longest scripts start first) */
    lg_corpus_t first_m, first_f, last, fortunes; /* inputs: loaded by the caller */
    char nonce[33];         /* input: the e-mail nonce ([a-z0-9], not part of the digest) */
    uint32_t operator_user; /* granted operator from the command line, verifies counsellors */
    lg_counsellor_t *counsellors;
    size_t ncounsellors;
    lg_booking_t *bookings;
    size_t nbookings;
} lg_plan_t;

/* The counselling plan's value lists (SPEC §9), indexed by the plan's records. */
#define LG_NSPECIALTIES 10
#define LG_NLANGUAGES   8
#define LG_NCURRENCIES  3
#define LG_NMINUTES     3
#define LG_NMETHODS     3
extern const char *const lg_specialties[LG_NSPECIALTIES];
extern const char *const lg_languages[LG_NLANGUAGES];
extern const char *const lg_currencies[LG_NCURRENCIES];
extern const int lg_minutes[LG_NMINUTES];
extern const char *const lg_methods[LG_NMETHODS]; /* Stripe test payment methods */

/* Compute the plan of `users` users (>= 2) and `messages` messages from seed into p, whose
 * corpora (first_m, first_f, last with weights; fortunes non-empty) and nonce the caller set
 * and whose other fields are zero. Returns false with errbuf set when the corpora have no
 * weights or the plan has no rooms for messages > 0 (too few users for friendships); p then
 * holds a partial plan to free with lg_plan_free. Out of memory ends the process with status 2
 * and a message on stderr, as every allocation of hl-loadgen does. */
bool lg_plan_make(lg_plan_t *p, uint64_t seed, size_t users, long messages, char *errbuf,
                  size_t errcap);

/* FNV-1a 64 over the plan (everything but the e-mail nonce and the workload's results): same
 * seed, sizes and corpora, same digest. */
uint64_t lg_plan_digest(const lg_plan_t *p);

/* Free everything p owns, the corpora included; *p is then zero. */
void lg_plan_free(lg_plan_t *p);

#endif
