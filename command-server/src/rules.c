#include "rules.h"

#include <ctype.h>
#include <string.h>

#include "hl/config.h"

bool cs_if_match_parse(const char *header, int64_t *version)
{
    if (!header)
        return false;
    while (*header == ' ' || *header == '\t')
        header++;
    size_t n = strlen(header);
    while (n && (header[n - 1] == ' ' || header[n - 1] == '\t'))
        n--;
    if (n == 1 && header[0] == '*') {
        *version = -1;
        return true;
    }
    if (n >= 2 && header[0] == 'W' && header[1] == '/') {
        header += 2;
        n -= 2;
    }
    if (n >= 2 && header[0] == '"' && header[n - 1] == '"') {
        header++;
        n -= 2;
    }
    if (n == 0 || n > 18)
        return false;
    char digits[20];
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)header[i]))
            return false;
        digits[i] = header[i];
    }
    digits[n] = '\0';
    long long v = 0;
    if (!hl_parse_ll(digits, &v) || v < 0)
        return false;
    *version = v;
    return true;
}

bool cs_rule_version(int64_t current, bool has_if_match, int64_t expected, hl_error_t *err)
{
    if (has_if_match && expected != -1 && expected != current)
        return hl_error_set_reason(err, HL_ERR_DOMAIN, 412, "version-mismatch",
                                   "If-Match names version %lld but the current version is %lld",
                                   (long long)expected, (long long)current);
    return true;
}

static bool blocked_either(const cs_pair_facts_t *f, hl_error_t *err)
{
    if (f->caller_blocked_target || f->target_blocked_caller) {
        hl_error_set_reason(err, HL_ERR_DOMAIN, 403, "blocked",
                            "a block exists between you and this user");
        return true;
    }
    return false;
}

bool cs_rule_friend_request(const cs_pair_facts_t *f, hl_error_t *err)
{
    if (f->same_user)
        return hl_error_set_reason(err, HL_ERR_DOMAIN, 409, "self-request",
                                   "you cannot send a friend request to yourself");
    if (!f->target_exists)
        return hl_error_set_reason(err, HL_ERR_DOMAIN, 404, "user-not-found", "no such user");
    if (blocked_either(f, err))
        return false;
    if (f->friends)
        return hl_error_set_reason(err, HL_ERR_DOMAIN, 409, "already-friends",
                                   "you are already friends");
    if (f->pending_request)
        return hl_error_set_reason(err, HL_ERR_DOMAIN, 409, "request-pending",
                                   "a friend request between you is already pending");
    return true;
}

bool cs_rule_answer_request(bool caller_is_recipient, bool pending, bool accepting, bool blocked,
                            hl_error_t *err)
{
    if (!caller_is_recipient)
        return hl_error_set_reason(err, HL_ERR_DOMAIN, 403, "not-recipient",
                                   "only the recipient may answer a friend request");
    if (!pending)
        return hl_error_set_reason(err, HL_ERR_DOMAIN, 409, "request-not-pending",
                                   "the friend request was already answered");
    if (accepting && blocked)
        return hl_error_set_reason(err, HL_ERR_DOMAIN, 403, "blocked",
                                   "a block exists between you and this user");
    return true;
}

bool cs_rule_block(const cs_pair_facts_t *f, hl_error_t *err)
{
    if (f->same_user)
        return hl_error_set_reason(err, HL_ERR_DOMAIN, 409, "self-block",
                                   "you cannot block yourself");
    if (!f->target_exists)
        return hl_error_set_reason(err, HL_ERR_DOMAIN, 404, "user-not-found", "no such user");
    if (f->caller_blocked_target)
        return hl_error_set_reason(err, HL_ERR_DOMAIN, 409, "already-blocked",
                                   "you already block this user");
    return true;
}

bool cs_rule_direct_room(const cs_pair_facts_t *f, hl_error_t *err)
{
    if (!f->target_exists)
        return hl_error_set_reason(err, HL_ERR_DOMAIN, 404, "user-not-found",
                                   "a member does not exist");
    if (blocked_either(f, err))
        return false;
    if (!f->friends)
        return hl_error_set_reason(err, HL_ERR_DOMAIN, 403, "not-friends",
                                   "you can only chat with your friends");
    return true;
}

bool cs_rule_group_member(const cs_pair_facts_t *f, hl_error_t *err)
{
    return cs_rule_direct_room(f, err);
}

bool cs_rule_send_message(bool is_member, bool direct, bool blocked_by_member,
                          bool sender_blocked_member, hl_error_t *err)
{
    if (!is_member)
        return hl_error_set_reason(err, HL_ERR_DOMAIN, 403, "not-member",
                                   "only members may send to this room");
    if (blocked_by_member || (direct && sender_blocked_member))
        return hl_error_set_reason(err, HL_ERR_DOMAIN, 403, "blocked",
                                   "a block between you and a member forbids this message");
    return true;
}

bool cs_rule_mark_read(bool is_member, int64_t last_read_seq, int64_t last_seq, int64_t up_to_seq,
                       bool *advances, hl_error_t *err)
{
    *advances = false;
    if (!is_member)
        return hl_error_set_reason(err, HL_ERR_DOMAIN, 403, "not-member",
                                   "only members may read this room");
    if (up_to_seq > last_seq)
        return hl_error_set_reason(err, HL_ERR_DOMAIN, 409, "seq-beyond-last",
                                   "up_to_seq %lld is beyond the last message %lld",
                                   (long long)up_to_seq, (long long)last_seq);
    *advances = up_to_seq > last_read_seq;
    return true;
}

size_t cs_room_members(const char *self, const char *const *ids, size_t n, const char **out,
                       hl_error_t *err)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strcasecmp(ids[i], self))
            continue;
        bool dup = false;
        for (size_t j = 0; j < m && !dup; j++)
            dup = !strcasecmp(out[j], ids[i]);
        if (!dup)
            out[m++] = ids[i];
    }
    if (m == 0) {
        hl_error_set_reason(err, HL_ERR_INPUT, 422, "validation-failed",
                            "field \"member_ids\" must name at least one other user");
        return 0;
    }
    if (m + 1 > CS_ROOM_MAX_MEMBERS) {
        hl_error_set_reason(err, HL_ERR_INPUT, 422, "validation-failed",
                            "a room has at most %d members", CS_ROOM_MAX_MEMBERS);
        return 0;
    }
    out[m++] = self;
    return m;
}

int64_t cs_login_locked_for_s(const cs_login_throttle_t *t, int64_t now_us)
{
    if (t->locked_until_us <= now_us)
        return 0;
    return (t->locked_until_us - now_us + 999999) / 1000000;
}

bool cs_login_record_failure(cs_login_throttle_t *t, const cs_login_policy_t *p, int64_t now_us)
{
    if (t->failures <= 0 || now_us - t->window_start_us >= p->window_us) {
        t->failures = 0;
        t->window_start_us = now_us;
    }
    t->failures++;
    if (t->failures < p->max_failures)
        return false;
    int64_t d = p->lockout_us;
    for (int i = 0; i < t->lockouts && d < p->lockout_max_us; i++)
        d *= 2;
    if (d > p->lockout_max_us)
        d = p->lockout_max_us;
    t->locked_until_us = now_us + d;
    t->lockouts++;
    t->failures = 0;
    t->window_start_us = now_us;
    return true;
}
