/* image.h: validation and re-encoding of uploaded profile images (issue 18) on libvips 8.14.
 *
 * Untrusted bytes reach a decoder here, so the order is: the format is decided by the bytes'
 * magic numbers (JPEG FF D8 FF, PNG's 8-byte signature, RIFF....WEBP; never the Content-Type),
 * and only that format's libvips loader is called (vips_jpegload_buffer, vips_pngload_buffer,
 * vips_webpload_buffer) with libvips' untrusted loaders blocked (vips_block_untrusted_set); the
 * loader first reads the header only (libvips opens images lazily), and an image whose header
 * dimensions exceed the pixel limit is refused before any pixel is decoded (decompression bombs);
 * then the image is decoded whole with fail_on=truncated (a truncated or corrupt file fails),
 * auto-rotated by its EXIF orientation, cropped square around the centre, resized to 512 and 128
 * px and written as WebP with every metadata block stripped (EXIF, XMP, ICC, IPTC). */
#ifndef CS_IMAGE_H
#define CS_IMAGE_H

#include "hl/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    CS_IMAGE_UNKNOWN = 0,
    CS_IMAGE_JPEG,
    CS_IMAGE_PNG,
    CS_IMAGE_WEBP,
} cs_image_format_t;

/* Start libvips once per process, before any thread uses it (VIPS_INIT must run single-threaded):
 * untrusted loaders blocked, the operation cache off (uploads are never repeated, so it would only
 * hold memory), and `threads` worker threads per image evaluation (vips_concurrency_set; 1 keeps
 * one upload on one core so concurrent uploads do not oversubscribe the machine). Returns false
 * with HL_ERR_SYSTEM when libvips cannot start. */
bool cs_image_init(const char *argv0, int threads, hl_error_t *err);

/* Shut libvips down at exit (vips_shutdown). */
void cs_image_shutdown(void);

/* The format of buf[len] by its magic bytes alone (no decoder runs); CS_IMAGE_UNKNOWN for
 * anything else (GIF, SVG, HEIC, HTML, ...). */
cs_image_format_t cs_image_sniff(const unsigned char *buf, size_t len);

/* "image/jpeg", "image/png", "image/webp" for a known format, NULL otherwise. */
const char *cs_image_mime(cs_image_format_t f);

/* The format a Content-Type value names (parameters after ';' ignored, case-insensitive), or
 * CS_IMAGE_UNKNOWN. */
cs_image_format_t cs_image_format_of_mime(const char *content_type);

/* One re-encoded rendition: a WebP image of size x size px, malloc'd (caller frees data). */
typedef struct {
    unsigned char *data;
    size_t len;
    int size;
} cs_image_rendition_t;

/* Validate buf[len] and write its renditions (square, centre-cropped WebP, no metadata) of the
 * sizes sizes[0..n) (px, largest first, each 16..2048) into out[0..n). max_pixels: the largest
 * width x height accepted, read from the header before decoding. *format gets the sniffed
 * format. Errors (HL_ERR_INPUT, nothing allocated on failure):
 *   415 "unsupported-image-type": not JPEG, PNG or WebP by its bytes;
 *   422 "image-too-large": header dimensions above max_pixels (or a side above 65535);
 *   422 "invalid-image": the loader refuses the header or the pixels (truncated, corrupt).
 * HL_ERR_SYSTEM when encoding fails. Thread-safe after cs_image_init. */
bool cs_image_process(const unsigned char *buf, size_t len, int64_t max_pixels, const int *sizes,
                      size_t n, cs_image_format_t *format, cs_image_rendition_t *out,
                      hl_error_t *err);

/* Free out[0..n)'s data. */
void cs_image_renditions_free(cs_image_rendition_t *out, size_t n);

#endif
