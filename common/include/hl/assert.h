/* hl/assert.h: the one policy for internal bounds (issue 17): check always, abort on failure.
 *
 * HL_ASSERT is for programmer errors only: a condition the code itself guarantees (a fixed
 * array's index below its size, a buffer the caller sized for the worst case, a count already
 * bounded by a parser). It is never for input: bytes from a client, a topic, a store or a
 * configuration are validated and refused with a clear error (RFC 9457 problem+json, a
 * dead letter, a start-up error) and change nothing. A failed assertion means the code is
 * wrong, and carrying on would hide that (a silently clamped count, a truncated header, a
 * write past an array): it prints "hearlers: assertion failed: <expr> at <file>:<line> in
 * <function>" to stderr and aborts (a core dump where enabled), so the failure is seen and
 * fixed instead of corrupting a reply or a read model. A server that aborts is restarted and
 * resumes from PostgreSQL or its committed offsets, as after an allocation failure (hl/mem.h).
 *
 * Unlike assert(3), HL_ASSERT is not compiled out by NDEBUG: release builds check too (the
 * checks guard cheap integer bounds, not hot loops). */
#ifndef HL_ASSERT_H
#define HL_ASSERT_H

/* Print the failed expression with its place (file, line, function: static strings) to stderr
 * and abort(). Allocates nothing and takes no lock. Does not return. */
_Noreturn void hl_assert_fail(const char *expr, const char *file, int line, const char *func);

/* Abort through hl_assert_fail unless cond holds. cond is evaluated exactly once. */
#define HL_ASSERT(cond) ((cond) ? (void)0 : hl_assert_fail(#cond, __FILE__, __LINE__, __func__))

#endif
