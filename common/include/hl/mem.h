/* hl/mem.h: the one policy for allocation failure (issue 17): abort.
 *
 * Like redis's zmalloc and h2o's h2o_mem_alloc (and libbson, which every request already goes
 * through), an allocation that fails ends the process with a message naming the size: a server
 * that cannot allocate cannot answer correctly, and a half-handled NULL is worse than a restart
 * (the stack restarts servers; the projector resumes from its committed offsets, the command
 * side from PostgreSQL). So callers never check for NULL. The one deliberate exception is
 * avro-c's allocator, which refuses oversized blocks as a decode error (hl/events.h). */
#ifndef HL_MEM_H
#define HL_MEM_H

#include <stddef.h>

/* malloc/calloc/realloc/strdup that never return NULL: on failure they print
 * "out of memory (<n> bytes)" to stderr and abort(). hl_xmalloc(0) returns a unique pointer;
 * hl_xrealloc(p, 0) frees p and returns NULL (as free). Free the results with free(). */
void *hl_xmalloc(size_t n);
void *hl_xcalloc(size_t count, size_t size);
void *hl_xrealloc(void *p, size_t n);
char *hl_xstrdup(const char *s);
/* The first at most n bytes of s (stops at a NUL), NUL-terminated, as strndup. */
char *hl_xstrndup(const char *s, size_t n);

#endif
