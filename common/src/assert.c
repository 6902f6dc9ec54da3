#include "hl/assert.h"

#include <stdio.h>
#include <stdlib.h>

_Noreturn void hl_assert_fail(const char *expr, const char *file, int line, const char *func)
{
    /* no allocation and no log lock here (the failure may be inside either): stderr is
     * unbuffered, and every server's stderr goes to its log file */
    fprintf(stderr, "hearlers: assertion failed: %s at %s:%d in %s; aborting\n", expr, file, line,
            func);
    abort();
}
