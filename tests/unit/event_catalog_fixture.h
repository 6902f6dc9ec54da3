/* event_catalog_fixture.h: the cmocka group fixture of the unit tests that build domain events:
 * `cat`, the event catalog of the repository's schemas/ (HL_TEST_SCHEMAS_DIR, set by
 * tests/CMakeLists.txt), loaded by catalog_setup and freed by catalog_teardown. Included by one
 * test file each (its definitions are static). */
#ifndef HL_TEST_EVENT_CATALOG_FIXTURE_H
#define HL_TEST_EVENT_CATALOG_FIXTURE_H

#include "hl/error.h"
#include "hl/events.h"

#include <stdio.h>

#ifndef HL_TEST_SCHEMAS_DIR
#error "HL_TEST_SCHEMAS_DIR must name the repository's schemas/ directory"
#endif

static hl_event_catalog_t *cat;

static int catalog_setup(void **state)
{
    (void)state;
    hl_error_t err;
    hl_error_clear(&err);
    cat = hl_event_catalog_load(HL_TEST_SCHEMAS_DIR, &err);
    if (!cat) {
        fprintf(stderr, "catalog: %s\n", err.message);
        return -1;
    }
    return 0;
}

static int catalog_teardown(void **state)
{
    (void)state;
    hl_event_catalog_destroy(cat);
    cat = NULL;
    return 0;
}

#endif
