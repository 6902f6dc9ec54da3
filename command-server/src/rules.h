/* rules.h: the command side's invariants as pure functions (SPEC §1), no I/O.
 *
 * Command handlers load the facts an invariant needs from PostgreSQL (inside the command's
 * transaction, under the row or pair locks that keep the facts true until commit) and ask these
 * functions for a verdict. Every refusal fills hl_error_t with HL_ERR_DOMAIN, the HTTP status
 * (403 the caller may not do it, 404 unknown target, 409 the state conflicts, 412 stale
 * If-Match) and a stable reason slug (the problem+json type suffix). */
#ifndef CS_RULES_H
#define CS_RULES_H

#include "hl/error.h"
#include "hl/util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Per-account log-in throttling (OWASP Authentication Cheat Sheet, account lockout): after
 * max_failures failed log-ins within window_us, log-ins for that e-mail address are refused with
 * 429 for lockout_us, doubling with each further lock-out up to lockout_max_us. Unknown and known
 * addresses are throttled alike (no account enumeration). State lives in the login_throttle
 * table (command-server/sql/007_login_throttle.sql); a successful log-in clears it. */
typedef struct {
    int max_failures;       /* >= 1 */
    int64_t window_us;      /* > 0 */
    int64_t lockout_us;     /* first lock-out, > 0 */
    int64_t lockout_max_us; /* >= lockout_us */
} cs_login_policy_t;

typedef struct {
    int failures;            /* in the current window */
    int64_t window_start_us; /* epoch µs of the window's first failure */
    int64_t locked_until_us; /* epoch µs; 0 = not locked */
    int lockouts;            /* lock-outs since the last successful log-in */
} cs_login_throttle_t;

/* Seconds (rounded up, >= 1) until a locked address may try again at now_us; 0 when not
 * locked. */
int64_t cs_login_locked_for_s(const cs_login_throttle_t *t, int64_t now_us);

/* Record one failed log-in at now_us in *t (a zeroed struct for an address seen first). Returns
 * true when this failure started a lock-out (t->locked_until_us is then set). */
bool cs_login_record_failure(cs_login_throttle_t *t, const cs_login_policy_t *p, int64_t now_us);

/* Most members a chat room may start with, creator included. */
#define CS_ROOM_MAX_MEMBERS 50

/* Parse an If-Match header value into *version. Accepted forms: 7, "7", W/"7" (optional
 * surrounding whitespace); "*" matches any version (*version = -1). Returns false on anything
 * else (the caller answers 400 "invalid-if-match"). */
bool cs_if_match_parse(const char *header, int64_t *version);

/* Optimistic concurrency: when has_if_match and expected is not -1 ("*"), the aggregate's
 * current version must equal expected, else 412 "version-mismatch". */
bool cs_rule_version(int64_t current, bool has_if_match, int64_t expected, hl_error_t *err);

/* Facts about a pair of users (caller, target) for social and direct-room invariants. */
typedef struct {
    bool same_user;       /* caller == target */
    bool target_exists;   /* the target user is registered */
    bool friends;         /* a live friendship exists */
    bool pending_request; /* a pending friend request exists in either direction */
    bool caller_blocked_target;
    bool target_blocked_caller;
} cs_pair_facts_t;

/* Send a friend request: 409 "self-request", 404 "user-not-found", 403 "blocked" (either
 * direction), 409 "already-friends", 409 "request-pending" (either direction). */
bool cs_rule_friend_request(const cs_pair_facts_t *f, hl_error_t *err);

/* Accept or reject a request: only the recipient (403 "not-recipient"), only while pending
 * (409 "request-not-pending"); accepting also needs no block either way (403 "blocked"). */
bool cs_rule_answer_request(bool caller_is_recipient, bool pending, bool accepting,
                            bool blocked_either, hl_error_t *err);

/* Block a user: 409 "self-block", 404 "user-not-found", 409 "already-blocked". */
bool cs_rule_block(const cs_pair_facts_t *f, hl_error_t *err);

/* Create a direct room with the target: 404 "user-not-found", 403 "blocked" (either
 * direction), 403 "not-friends". */
bool cs_rule_direct_room(const cs_pair_facts_t *f, hl_error_t *err);

/* Create a group room: the creator must be friends with every other member and no block may
 * exist between the creator and any member, either way (same slugs as cs_rule_direct_room). */
bool cs_rule_group_member(const cs_pair_facts_t *f, hl_error_t *err);

/* Send a message: only members (403 "not-member"); refused (403 "blocked") when any other
 * member blocked the sender, and in a direct room also when the sender blocked the other. */
bool cs_rule_send_message(bool is_member, bool direct, bool blocked_by_member,
                          bool sender_blocked_member, hl_error_t *err);

/* Mark read: only members (403 "not-member"); up_to_seq <= last_seq (409 "seq-beyond-last").
 * *advances is true when up_to_seq > last_read_seq (read markers only move forward; an older
 * marker is accepted and changes nothing). */
bool cs_rule_mark_read(bool is_member, int64_t last_read_seq, int64_t last_seq, int64_t up_to_seq,
                       bool *advances, hl_error_t *err);

/* The members of a new room from the caller and the requested ids: drops duplicates and the
 * caller, then appends the caller last. ids: n canonical UUID strings (already validated),
 * out: room for n + 1 pointers (borrowed from ids / self). Returns the member count, or 0 with
 * 422 "validation-failed" when no other member remains or more than CS_ROOM_MAX_MEMBERS. */
size_t cs_room_members(const char *self, const char *const *ids, size_t n, const char **out,
                       hl_error_t *err);

#endif
