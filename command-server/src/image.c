/* image.c: uploaded image validation and re-encoding on libvips (image.h). */
#include "image.h"

#include "hl/log.h"
#include "hl/mem.h"

#include <string.h>
#include <strings.h>
#include <vips/vips.h>

/* Longest side accepted whatever the pixel limit (WebP's own limit is 16383 per side; a thin
 * 1 x 1,000,000 strip would pass a pixel limit yet make no sense as an avatar). */
#define CS_IMAGE_MAX_SIDE 65535
/* Beyond this ratio of its sides an image is cut to its centre square before it is scaled. */
#define CS_IMAGE_MAX_RATIO 4

bool cs_image_init(const char *argv0, int threads, hl_error_t *err)
{
    if (VIPS_INIT(argv0 ? argv0 : "command-server") != 0) {
        hl_error_set(err, HL_ERR_SYSTEM, 0, "libvips failed to start: %s", vips_error_buffer());
        vips_error_clear();
        return false;
    }
    /* Loaders libvips marks untrusted (ImageMagick, libheif's, matlab, FITS, ...) are never
     * reachable, whatever a bug elsewhere lets through. */
    vips_block_untrusted_set(TRUE);
    vips_cache_set_max(0);
    vips_cache_set_max_mem(0);
    vips_concurrency_set(threads > 0 ? threads : 1);
    return true;
}

void cs_image_shutdown(void)
{
    vips_shutdown();
}

cs_image_format_t cs_image_sniff(const unsigned char *b, size_t len)
{
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
    if (len >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff)
        return CS_IMAGE_JPEG;
    if (len >= 8 && !memcmp(b, png, 8))
        return CS_IMAGE_PNG;
    if (len >= 16 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBPVP8", 7))
        return CS_IMAGE_WEBP;
    return CS_IMAGE_UNKNOWN;
}

const char *cs_image_mime(cs_image_format_t f)
{
    switch (f) {
    case CS_IMAGE_JPEG:
        return "image/jpeg";
    case CS_IMAGE_PNG:
        return "image/png";
    case CS_IMAGE_WEBP:
        return "image/webp";
    default:
        return NULL;
    }
}

cs_image_format_t cs_image_format_of_mime(const char *ct)
{
    if (!ct)
        return CS_IMAGE_UNKNOWN;
    while (*ct == ' ')
        ct++;
    size_t n = strcspn(ct, "; ");
    for (cs_image_format_t f = CS_IMAGE_JPEG; f <= CS_IMAGE_WEBP; f++) {
        const char *m = cs_image_mime(f);
        if (n == strlen(m) && !strncasecmp(ct, m, n))
            return f;
    }
    return CS_IMAGE_UNKNOWN;
}

/* The loader class libvips' own sniffing picks for buf must be the one for the format we
 * sniffed (vips_thumbnail_buffer chooses its loader itself). */
static bool loader_matches(const unsigned char *buf, size_t len, cs_image_format_t f)
{
    const char *name = vips_foreign_find_load_buffer(buf, len);
    if (!name)
        return false;
    switch (f) {
    case CS_IMAGE_JPEG:
        return !strcmp(name, "VipsForeignLoadJpegBuffer");
    case CS_IMAGE_PNG:
        return !strcmp(name, "VipsForeignLoadPngBuffer") ||
               !strcmp(name, "VipsForeignLoadSpngBuffer");
    case CS_IMAGE_WEBP:
        return !strcmp(name, "VipsForeignLoadWebpBuffer");
    default:
        return false;
    }
}

static bool invalid(hl_error_t *err, const char *what)
{
    HL_DEBUG("image refused (%s): %s", what, vips_error_buffer());
    vips_error_clear();
    return hl_error_set_reason(err, HL_ERR_INPUT, 422, "invalid-image",
                               "the image could not be decoded (%s)", what);
}

/* Open buf with the format's loader: header only (libvips decodes pixels on demand). */
static VipsImage *open_header(const unsigned char *buf, size_t len, cs_image_format_t f)
{
    VipsImage *img = NULL;
    void *b = (void *)buf; /* the loaders take a non-const pointer; they only read it */
    int rc = -1;
    if (f == CS_IMAGE_JPEG)
        rc = vips_jpegload_buffer(b, len, &img, "access", VIPS_ACCESS_SEQUENTIAL, "fail_on",
                                  VIPS_FAIL_ON_TRUNCATED, NULL);
    else if (f == CS_IMAGE_PNG)
        rc = vips_pngload_buffer(b, len, &img, "access", VIPS_ACCESS_SEQUENTIAL, "fail_on",
                                 VIPS_FAIL_ON_TRUNCATED, NULL);
    else if (f == CS_IMAGE_WEBP)
        rc = vips_webpload_buffer(b, len, &img, "access", VIPS_ACCESS_SEQUENTIAL, "fail_on",
                                  VIPS_FAIL_ON_TRUNCATED, NULL);
    return rc == 0 ? img : NULL;
}

/* The centre square of a w x h strip (one side more than CS_IMAGE_MAX_RATIO times the other),
 * auto-rotated and resized to size x size, into *out. The square is cut from the decoded source
 * before any scaling (the centre square of an image is the same pixels whatever its EXIF
 * orientation, so rotating after the cut is the same as before it). */
static bool strip_square(const unsigned char *buf, size_t len, cs_image_format_t f, int64_t w,
                         int64_t h, int size, VipsImage **out)
{
    VipsImage *src = open_header(buf, len, f), *sq = NULL, *rot = NULL;
    int side = (int)(w < h ? w : h);
    bool ok = src &&
              vips_extract_area(src, &sq, (int)(w - side) / 2, (int)(h - side) / 2, side, side,
                                NULL) == 0 &&
              vips_autorot(sq, &rot, NULL) == 0 &&
              vips_thumbnail_image(rot, out, size, "height", size, "size", VIPS_SIZE_BOTH, "crop",
                                   VIPS_INTERESTING_CENTRE, NULL) == 0;
    if (src)
        g_object_unref(src);
    if (sq)
        g_object_unref(sq);
    if (rot)
        g_object_unref(rot);
    return ok;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

/* Drop the metadata chunks (EXIF, "XMP ", ICCP) of a WebP file in place and clear their flags in
 * the VP8X header (WebP container, RFC 9649 §2.7): libvips 8.14 writes an EXIF chunk it builds
 * from the resolution and orientation even with strip=TRUE. Returns the new length, or 0 when
 * buf is not a well-formed RIFF/WEBP file. */
static size_t webp_strip(unsigned char *buf, size_t len)
{
    if (len < 12 || memcmp(buf, "RIFF", 4) || memcmp(buf + 8, "WEBP", 4) ||
        le32(buf + 4) + 8 != len)
        return 0;
    size_t in = 12, out = 12;
    while (in + 8 <= len) {
        uint32_t n = le32(buf + in + 4);
        size_t total = 8 + (size_t)n + (n & 1);
        if (total > len - in)
            return 0;
        bool meta = !memcmp(buf + in, "EXIF", 4) || !memcmp(buf + in, "XMP ", 4) ||
                    !memcmp(buf + in, "ICCP", 4);
        if (!meta) {
            if (!memcmp(buf + in, "VP8X", 4) && n >= 1)
                buf[in + 8] &= (unsigned char)~(0x20 | 0x08 | 0x04); /* ICC, EXIF, XMP */
            memmove(buf + out, buf + in, total);
            out += total;
        }
        in += total;
    }
    if (in != len)
        return 0;
    put_le32(buf + 4, (uint32_t)(out - 8));
    return out;
}

static bool encode(VipsImage *in, cs_image_rendition_t *out, int size, hl_error_t *err)
{
    void *buf = NULL;
    size_t len = 0;
    /* Every metadata item goes (EXIF with its GPS block, XMP, IPTC, ICC, comments): libvips
     * 8.14 still writes an EXIF block despite strip=TRUE, so the items are
     * removed from a copy's header first (vips_image_remove leaves the core fields alone). */
    VipsImage *img = NULL;
    if (vips_copy(in, &img, NULL) != 0) {
        hl_error_set(err, HL_ERR_SYSTEM, 0, "copy failed: %s", vips_error_buffer());
        vips_error_clear();
        return false;
    }
    gchar **fields = vips_image_get_fields(img);
    for (int i = 0; fields[i]; i++)
        vips_image_remove(img, fields[i]);
    g_strfreev(fields);
    int rc = vips_webpsave_buffer(img, &buf, &len, "Q", 82, "strip", TRUE, NULL);
    g_object_unref(img);
    if (rc != 0) {
        hl_error_set(err, HL_ERR_SYSTEM, 0, "WebP encoding failed: %s", vips_error_buffer());
        vips_error_clear();
        return false;
    }
    out->data = hl_xmalloc(len);
    memcpy(out->data, buf, len);
    g_free(buf);
    out->len = webp_strip(out->data, len);
    if (!out->len) {
        free(out->data);
        out->data = NULL;
        return hl_error_set(err, HL_ERR_SYSTEM, 0, "libvips wrote a malformed WebP file");
    }
    out->size = size;
    return true;
}

bool cs_image_process(const unsigned char *buf, size_t len, int64_t max_pixels, const int *sizes,
                      size_t n, cs_image_format_t *format, cs_image_rendition_t *out,
                      hl_error_t *err)
{
    memset(out, 0, n * sizeof *out);
    cs_image_format_t f = cs_image_sniff(buf, len);
    *format = f;
    if (f == CS_IMAGE_UNKNOWN)
        return hl_error_set_reason(err, HL_ERR_INPUT, 415, "unsupported-image-type",
                                   "the body is not a JPEG, PNG or WebP image");
    if (n == 0 || sizes[0] < 16 || sizes[0] > 2048)
        return hl_error_set(err, HL_ERR_SYSTEM, 0, "bad rendition sizes");
    if (!loader_matches(buf, len, f))
        return invalid(err, "no loader for the format");
    VipsImage *hdr = open_header(buf, len, f);
    if (!hdr)
        return invalid(err, "header");
    int64_t w = vips_image_get_width(hdr), h = vips_image_get_height(hdr);
    g_object_unref(hdr);
    if (w < 1 || h < 1 || w > CS_IMAGE_MAX_SIDE || h > CS_IMAGE_MAX_SIDE || w * h > max_pixels)
        return hl_error_set_reason(err, HL_ERR_INPUT, 422, "image-too-large",
                                   "the image is %lld x %lld px; at most %lld pixels are accepted",
                                   (long long)w, (long long)h, (long long)max_pixels);
    /* Decode (shrink-on-load where the format allows it), auto-rotate, crop square, resize. */
    VipsImage *big = NULL, *mem = NULL;
    if (w > CS_IMAGE_MAX_RATIO * h || h > CS_IMAGE_MAX_RATIO * w) {
        /* A strip: cut its centre square first. vips_thumbnail scales before it crops, so a
         * 1 x 4000 PNG would become a 512 x 2,048,000 image computed line by line (sequential
         * access) down to its centre: 20 s of a decoder for 100 bytes of upload. */
        if (!strip_square(buf, len, f, w, h, sizes[0], &big))
            return invalid(err, "pixels");
    } else if (vips_thumbnail_buffer((void *)buf, len, &big, sizes[0], "height", sizes[0], "crop",
                                     VIPS_INTERESTING_CENTRE, "size", VIPS_SIZE_BOTH,
                                     "option_string", "fail_on=truncated", NULL) != 0) {
        return invalid(err, "pixels");
    }
    /* Render once into memory: every error of the source surfaces here, and the smaller
     * renditions are made from these pixels instead of decoding the source again. */
    mem = vips_image_copy_memory(big);
    g_object_unref(big);
    if (!mem)
        return invalid(err, "pixels");
    bool ok = true;
    for (size_t i = 0; ok && i < n; i++) {
        VipsImage *r = NULL;
        if (i == 0) {
            r = mem;
            g_object_ref(r);
        } else if (vips_thumbnail_image(mem, &r, sizes[i], "height", sizes[i], "crop",
                                        VIPS_INTERESTING_CENTRE, NULL) != 0) {
            ok = hl_error_set(err, HL_ERR_SYSTEM, 0, "resize failed: %s", vips_error_buffer());
            vips_error_clear();
            break;
        }
        ok = encode(r, &out[i], sizes[i], err);
        g_object_unref(r);
    }
    g_object_unref(mem);
    if (!ok)
        cs_image_renditions_free(out, n);
    return ok;
}

void cs_image_renditions_free(cs_image_rendition_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(out[i].data);
        out[i].data = NULL;
        out[i].len = 0;
    }
}
