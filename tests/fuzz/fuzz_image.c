/* libFuzzer target: the profile image validation path (command-server/src/image.c, issue 18):
 * the magic-byte sniff, the header dimension check and the full libvips decode, auto-rotate,
 * crop, resize and WebP encode of whatever passes, exactly as PUT /v1/users/me/avatar runs it
 * (real libvips; its own code is not instrumented, ours is). The pixel limit is 1 megapixel and
 * the renditions 64 and 16 px so each input stays cheap. Seeds: tests/fuzz/corpus/image (tiny
 * JPEG, PNG and WebP files, a truncated PNG, a bomb header, a GIF and an SVG). */
#include "image.h"

#include <stdint.h>
#include <stdlib.h>

static int ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready) {
        hl_error_t e = {0};
        if (!cs_image_init("fuzz_image", 1, &e))
            abort();
        ready = 1;
    }
    static const int sizes[2] = {64, 16};
    cs_image_rendition_t out[2];
    cs_image_format_t f;
    hl_error_t err = {0};
    if (cs_image_process(data, size, 1000000, sizes, 2, &f, out, &err)) {
        /* Success means two non-empty WebP files of a known source format. */
        if (f == CS_IMAGE_UNKNOWN || !out[0].len || !out[1].len ||
            cs_image_sniff(out[0].data, out[0].len) != CS_IMAGE_WEBP)
            abort();
        cs_image_renditions_free(out, 2);
    } else if (err.domain != HL_ERR_INPUT && err.domain != HL_ERR_SYSTEM) {
        abort();
    }
    return 0;
}
