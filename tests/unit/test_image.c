/* Unit tests for command-server/src/image.h and image_pool.h (issue 18) on the real libvips:
 * the format is decided by magic bytes alone (SVG, GIF, HTML, HEIC and polyglots refused), and
 * a rendition decoded back carries no metadata (EXIF with its GPS block, XMP, ICC) even when the
 * source had all three; the image-worker pool gives the same answers as a direct call. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "image.h"
#include "image_pool.h"

#include <stdlib.h>
#include <string.h>
#include <vips/vips.h>

#define LIT(s) (const unsigned char *)(s), sizeof(s) - 1

/* ---- sniffing ---- */

static void test_sniff_by_magic_bytes(void **state)
{
    (void)state;
    static const unsigned char jpeg[] = {0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 'J', 'F', 'I', 'F'};
    static const unsigned char png[] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13};
    assert_int_equal(cs_image_sniff(jpeg, sizeof jpeg), CS_IMAGE_JPEG);
    assert_int_equal(cs_image_sniff(jpeg, 3), CS_IMAGE_JPEG);
    assert_int_equal(cs_image_sniff(png, sizeof png), CS_IMAGE_PNG);
    assert_int_equal(cs_image_sniff(png, 8), CS_IMAGE_PNG);
    assert_int_equal(cs_image_sniff(LIT("RIFF\x24\0\0\0WEBPVP8 \x18\0\0\0")), CS_IMAGE_WEBP);
    assert_int_equal(cs_image_sniff(LIT("RIFF\x24\0\0\0WEBPVP8L\x18\0\0\0")), CS_IMAGE_WEBP);
    assert_int_equal(cs_image_sniff(LIT("RIFF\x24\0\0\0WEBPVP8X\x0a\0\0\0")), CS_IMAGE_WEBP);
    /* cut inside the magic */
    assert_int_equal(cs_image_sniff(jpeg, 2), CS_IMAGE_UNKNOWN);
    assert_int_equal(cs_image_sniff(png, 7), CS_IMAGE_UNKNOWN);
    assert_int_equal(cs_image_sniff(LIT("RIFF\x24\0\0\0WEBPVP8")), CS_IMAGE_UNKNOWN);
    assert_int_equal(cs_image_sniff(NULL, 0), CS_IMAGE_UNKNOWN);
    /* one byte off */
    static const unsigned char png_bad[] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0b};
    assert_int_equal(cs_image_sniff(png_bad, sizeof png_bad), CS_IMAGE_UNKNOWN);
    static const unsigned char jpeg_bad[] = {0xff, 0xd8, 0xfe, 0xe0};
    assert_int_equal(cs_image_sniff(jpeg_bad, sizeof jpeg_bad), CS_IMAGE_UNKNOWN);
    /* RIFF that is not WebP, WebP without a VP8 chunk */
    assert_int_equal(cs_image_sniff(LIT("RIFF\x24\0\0\0WAVEfmt \x10\0\0\0")), CS_IMAGE_UNKNOWN);
    assert_int_equal(cs_image_sniff(LIT("RIFF\x24\0\0\0WEBPALPH\x10\0\0\0")), CS_IMAGE_UNKNOWN);
}

static void test_sniff_refuses_other_formats_and_polyglots(void **state)
{
    (void)state;
    const struct {
        const char *what;
        const char *bytes;
        size_t len;
    } refused[] = {
#define CASE(w, s) {w, s, sizeof(s) - 1}
        CASE("GIF87a", "GIF87a\x40\0\x40\0\x80\0\0"),
        CASE("GIF89a", "GIF89a\x40\0\x40\0\x80\0\0"),
        CASE("SVG", "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>"),
        CASE("SVG with an XML declaration", "<?xml version=\"1.0\"?><svg/>"),
        CASE("SVG after a UTF-8 BOM", "\xef\xbb\xbf<svg/>"),
        CASE("SVG after white space", "  \n<svg/>"),
        CASE("HTML", "<!doctype html><html><script>alert(document.cookie)</script>"),
        CASE("HEIC", "\0\0\0\x18"
                     "ftypheic\0\0\0\0mif1heic"),
        CASE("AVIF", "\0\0\0\x1c"
                     "ftypavif\0\0\0\0avifmif1"),
        CASE("BMP", "BM\x36\0\0\0\0\0\0\0\x36\0\0\0"),
        CASE("TIFF", "II*\0\x08\0\0\0"),
        CASE("PDF", "%PDF-1.7\n"),
        /* polyglots: a GIF header that is also JavaScript, HTML with a JPEG after it, a PNG
         * signature behind a byte of padding */
        CASE("GIF/JavaScript", "GIF89a/*\x01\0\x01\0\0\0\0*/=alert(1);"),
        CASE("HTML then JPEG", "<html><script>x()</script>\xff\xd8\xff\xe0"),
        CASE("padded PNG", " \x89PNG\r\n\x1a\n"),
#undef CASE
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        const unsigned char *b = (const unsigned char *)refused[i].bytes;
        if (cs_image_sniff(b, refused[i].len) != CS_IMAGE_UNKNOWN)
            fail_msg("sniffed %s as an image", refused[i].what);
        /* and the whole validation path refuses it the same way, before any decoder */
        static const int sizes[2] = {64, 16};
        cs_image_rendition_t out[2];
        cs_image_format_t f = CS_IMAGE_JPEG;
        hl_error_t err = {0};
        assert_false(cs_image_process(b, refused[i].len, 1000000, sizes, 2, &f, out, &err));
        assert_int_equal(f, CS_IMAGE_UNKNOWN);
        assert_int_equal(err.domain, HL_ERR_INPUT);
        assert_int_equal(err.code, 415);
        assert_string_equal(err.reason, "unsupported-image-type");
        assert_null(out[0].data);
        assert_null(out[1].data);
    }
}

static void test_format_of_mime(void **state)
{
    (void)state;
    assert_int_equal(cs_image_format_of_mime("image/jpeg"), CS_IMAGE_JPEG);
    assert_int_equal(cs_image_format_of_mime(" Image/PNG; charset=binary"), CS_IMAGE_PNG);
    assert_int_equal(cs_image_format_of_mime("image/webp"), CS_IMAGE_WEBP);
    assert_int_equal(cs_image_format_of_mime("image/gif"), CS_IMAGE_UNKNOWN);
    assert_int_equal(cs_image_format_of_mime("image/svg+xml"), CS_IMAGE_UNKNOWN);
    assert_int_equal(cs_image_format_of_mime("image/jpegx"), CS_IMAGE_UNKNOWN);
    assert_int_equal(cs_image_format_of_mime("image/jpe"), CS_IMAGE_UNKNOWN);
    assert_int_equal(cs_image_format_of_mime(""), CS_IMAGE_UNKNOWN);
    assert_int_equal(cs_image_format_of_mime(NULL), CS_IMAGE_UNKNOWN);
    assert_string_equal(cs_image_mime(CS_IMAGE_WEBP), "image/webp");
    assert_null(cs_image_mime(CS_IMAGE_UNKNOWN));
}

/* ---- metadata ---- */

static void put16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
    put16(p, v & 0xffff);
    put16(p + 2, v >> 16);
}

/* One 12-byte TIFF IFD entry at p: tag, type (2 ASCII, 4 LONG), count, value or offset. */
static void ifd_entry(unsigned char *p, unsigned tag, unsigned type, uint32_t count, uint32_t v)
{
    put16(p, tag);
    put16(p + 2, type);
    put32(p + 4, count);
    put32(p + 8, v);
}

/* An EXIF block (libvips' "exif-data": "Exif\0\0" + a little-endian TIFF) with IFD0 {Make =
 * "HearlersCam", GPSInfo} and the GPS IFD {GPSLatitudeRef = "N"}. Offsets from the TIFF
 * header: IFD0 at 8 (2 entries, next 0, ends at 38), the GPS IFD at 38 (1 entry, ends at 56),
 * Make's text at 56. Returns the length (74). b holds at least 80 bytes. */
static size_t exif_block(unsigned char *b)
{
    memset(b, 0, 80);
    memcpy(b, "Exif\0\0", 6);
    unsigned char *t = b + 6;
    memcpy(t, "II*\0", 4);
    put32(t + 4, 8);
    put16(t + 8, 2);
    ifd_entry(t + 10, 0x010f, 2, 12, 56); /* Make */
    ifd_entry(t + 22, 0x8825, 4, 1, 38);  /* GPSInfo: the GPS IFD's offset */
    put32(t + 34, 0);                     /* no IFD1 */
    put16(t + 38, 1);
    ifd_entry(t + 40, 0x0001, 2, 2, 0); /* GPSLatitudeRef, inline */
    memcpy(t + 48, "N", 2);
    put32(t + 52, 0);
    memcpy(t + 56, "HearlersCam", 12);
    return 6 + 68;
}

static const char xmp_packet[] =
    "<?xpacket begin='' id='W5M0MpCehiHzreSzNTczkc9d'?><x:xmpmeta xmlns:x='adobe:ns:meta/'>"
    "<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'><rdf:Description "
    "xmlns:dc='http://purl.org/dc/elements/1.1/' dc:creator='HearlersXMP'/></rdf:RDF>"
    "</x:xmpmeta><?xpacket end='w'?>";

/* A 96 x 64 test image carrying EXIF (with GPS), XMP and an sRGB ICC profile. */
static VipsImage *image_with_metadata(void)
{
    VipsImage *img = NULL, *u = NULL;
    assert_int_equal(vips_xyz(&img, 96, 64, NULL), 0); /* a gradient, 2 bands of uint */
    assert_int_equal(vips_bandjoin_const1(img, &u, 7, NULL), 0);
    g_object_unref(img);
    assert_int_equal(vips_cast_uchar(u, &img, NULL), 0);
    g_object_unref(u);
    unsigned char exif[80];
    size_t elen = exif_block(exif);
    vips_image_set_blob_copy(img, VIPS_META_EXIF_NAME, exif, elen);
    vips_image_set_blob_copy(img, VIPS_META_XMP_NAME, xmp_packet, sizeof xmp_packet - 1);
    VipsBlob *icc = NULL;
    assert_int_equal(vips_profile_load("srgb", &icc, NULL), 0);
    size_t ilen = 0;
    const void *idata = vips_blob_get(icc, &ilen);
    vips_image_set_blob_copy(img, VIPS_META_ICC_NAME, idata, ilen);
    vips_area_unref(VIPS_AREA(icc));
    return img;
}

static bool has_field(VipsImage *img, const char *name)
{
    return vips_image_get_typeof(img, name) != 0;
}

/* Whether a RIFF/WEBP file has a chunk of this fourcc (and is well formed up to it). */
static bool webp_has_chunk(const unsigned char *b, size_t len, const char *fourcc)
{
    for (size_t at = 12; at + 8 <= len;) {
        if (!memcmp(b + at, fourcc, 4))
            return true;
        uint32_t n = (uint32_t)b[at + 4] | (uint32_t)b[at + 5] << 8 | (uint32_t)b[at + 6] << 16 |
                     (uint32_t)b[at + 7] << 24;
        at += 8 + (size_t)n + (n & 1);
    }
    return false;
}

static void check_clean(const cs_image_rendition_t *r, int size)
{
    assert_non_null(r->data);
    assert_int_equal(r->size, size);
    assert_int_equal(cs_image_sniff(r->data, r->len), CS_IMAGE_WEBP);
    assert_false(webp_has_chunk(r->data, r->len, "EXIF"));
    assert_false(webp_has_chunk(r->data, r->len, "XMP "));
    assert_false(webp_has_chunk(r->data, r->len, "ICCP"));
    assert_true(webp_has_chunk(r->data, r->len, "VP8 ") || webp_has_chunk(r->data, r->len, "VP8L"));
    if (r->len > 21 && !memcmp(r->data + 12, "VP8X", 4))
        assert_int_equal(r->data[20] & (0x20 | 0x08 | 0x04), 0); /* ICC, EXIF, XMP flags */
    /* decoded back: no metadata item at all, only pixels of the right size */
    VipsImage *back = NULL;
    assert_int_equal(vips_webpload_buffer((void *)r->data, r->len, &back, NULL), 0);
    assert_int_equal(vips_image_get_width(back), size);
    assert_int_equal(vips_image_get_height(back), size);
    assert_false(has_field(back, VIPS_META_EXIF_NAME));
    assert_false(has_field(back, VIPS_META_XMP_NAME));
    assert_false(has_field(back, VIPS_META_ICC_NAME));
    gchar **fields = vips_image_get_fields(back);
    for (int i = 0; fields[i]; i++)
        if (!strncmp(fields[i], "exif-", 5) || strstr(fields[i], "xmp") ||
            strstr(fields[i], "icc") || strstr(fields[i], "iptc"))
            fail_msg("rendition has metadata field %s", fields[i]);
    g_strfreev(fields);
    g_object_unref(back);
    /* and no text of the source's metadata survived anywhere in the file */
    static const char *const marks[] = {"HearlersCam", "HearlersXMP", "Exif", "xmpmeta"};
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
        if (memmem(r->data, r->len, marks[i], strlen(marks[i])))
            fail_msg("rendition contains \"%s\"", marks[i]);
}

static void strip_case(const char *saver)
{
    VipsImage *img = image_with_metadata();
    void *buf = NULL;
    size_t len = 0;
    if (!strcmp(saver, "jpeg"))
        assert_int_equal(vips_jpegsave_buffer(img, &buf, &len, "Q", 90, NULL), 0);
    else
        assert_int_equal(vips_webpsave_buffer(img, &buf, &len, "Q", 90, NULL), 0);
    g_object_unref(img);
    /* the source really carries all three blocks (else the test proves nothing) */
    VipsImage *src = NULL;
    assert_int_equal(!strcmp(saver, "jpeg") ? vips_jpegload_buffer(buf, len, &src, NULL)
                                            : vips_webpload_buffer(buf, len, &src, NULL),
                     0);
    assert_true(has_field(src, VIPS_META_EXIF_NAME));
    assert_true(has_field(src, VIPS_META_XMP_NAME));
    assert_true(has_field(src, VIPS_META_ICC_NAME));
    const char *make = NULL;
    assert_int_equal(vips_image_get_string(src, "exif-ifd0-Make", &make), 0);
    assert_non_null(strstr(make, "HearlersCam"));
    assert_true(has_field(src, "exif-ifd3-GPSLatitudeRef"));
    g_object_unref(src);
    assert_non_null(memmem(buf, len, "HearlersCam", 11));

    static const int sizes[2] = {64, 16};
    cs_image_rendition_t out[2];
    cs_image_format_t f;
    hl_error_t err = {0};
    if (!cs_image_process(buf, len, 1000000, sizes, 2, &f, out, &err))
        fail_msg("%s refused: %s", saver, err.message);
    assert_int_equal(f, !strcmp(saver, "jpeg") ? CS_IMAGE_JPEG : CS_IMAGE_WEBP);
    check_clean(&out[0], 64);
    check_clean(&out[1], 16);
    cs_image_renditions_free(out, 2);
    g_free(buf);
}

static void test_strip_jpeg_metadata(void **state)
{
    (void)state;
    strip_case("jpeg");
}

static void test_strip_webp_metadata(void **state)
{
    (void)state;
    strip_case("webp");
}

/* A JPEG with an HTML page appended (a JPEG/HTML polyglot): accepted as the JPEG it starts
 * with, and the re-encoded renditions hold none of the appended bytes. */
static void test_jpeg_polyglot_is_re_encoded(void **state)
{
    (void)state;
    VipsImage *img = image_with_metadata();
    void *buf = NULL;
    size_t len = 0;
    assert_int_equal(vips_jpegsave_buffer(img, &buf, &len, "strip", TRUE, NULL), 0);
    g_object_unref(img);
    static const char html[] = "<html><script>alert(document.cookie)</script></html>";
    unsigned char *poly = malloc(len + sizeof html);
    memcpy(poly, buf, len);
    memcpy(poly + len, html, sizeof html);
    static const int sizes[1] = {32};
    cs_image_rendition_t out[1];
    cs_image_format_t f;
    hl_error_t err = {0};
    if (!cs_image_process(poly, len + sizeof html, 1000000, sizes, 1, &f, out, &err))
        fail_msg("polyglot refused: %s", err.message);
    assert_null(memmem(out[0].data, out[0].len, "<script", 7));
    assert_null(memmem(out[0].data, out[0].len, "<html", 5));
    cs_image_renditions_free(out, 1);
    free(poly);
    g_free(buf);
}

/* Degenerate shapes (1 x 1, strips up to WebP's 16383 px side) give square renditions; a strip
 * is cut to its centre square before scaling (image.c), so none of them is scaled to millions of
 * pixels first. */
static void test_degenerate_shapes_become_squares(void **state)
{
    (void)state;
    static const struct {
        int w, h;
        const char *saver;
    } shapes[] = {{1, 1, "png"},     {1, 1, "jpeg"},     {1, 4000, "png"}, {4000, 1, "png"},
                  {1, 3000, "jpeg"}, {16383, 1, "webp"}, {2, 9000, "png"}, {5, 1, "png"}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        VipsImage *img = NULL;
        assert_int_equal(vips_black(&img, shapes[i].w, shapes[i].h, "bands", 3, NULL), 0);
        void *buf = NULL;
        size_t len = 0;
        int rc = !strcmp(shapes[i].saver, "png")    ? vips_pngsave_buffer(img, &buf, &len, NULL)
                 : !strcmp(shapes[i].saver, "jpeg") ? vips_jpegsave_buffer(img, &buf, &len, NULL)
                                                    : vips_webpsave_buffer(img, &buf, &len, NULL);
        assert_int_equal(rc, 0);
        g_object_unref(img);
        static const int sizes[2] = {512, 128};
        cs_image_rendition_t out[2];
        cs_image_format_t f;
        hl_error_t err = {0};
        if (!cs_image_process(buf, len, 40000000, sizes, 2, &f, out, &err))
            fail_msg("%d x %d %s refused: %s", shapes[i].w, shapes[i].h, shapes[i].saver,
                     err.message);
        check_clean(&out[0], 512);
        check_clean(&out[1], 128);
        cs_image_renditions_free(out, 2);
        g_free(buf);
    }
}

/* ---- the image-worker pool ---- */

static void test_pool_answers_like_a_direct_call(void **state)
{
    (void)state;
    hl_error_t err = {0};
    cs_image_pool_t *pool = cs_image_pool_new(2, 0, 0, &err);
    assert_non_null(pool);
    VipsImage *img = image_with_metadata();
    void *buf = NULL;
    size_t len = 0;
    assert_int_equal(vips_pngsave_buffer(img, &buf, &len, NULL), 0);
    g_object_unref(img);
    static const int sizes[2] = {64, 16};
    cs_image_rendition_t a[2], b[2];
    cs_image_format_t f;
    assert_true(cs_image_pool_process(pool, buf, len, 1000000, sizes, 2, 20000, &f, a, &err));
    assert_int_equal(f, CS_IMAGE_PNG);
    assert_true(cs_image_process(buf, len, 1000000, sizes, 2, &f, b, &err));
    for (int i = 0; i < 2; i++) {
        assert_int_equal(a[i].len, b[i].len); /* libvips' encoding is deterministic */
        assert_memory_equal(a[i].data, b[i].data, a[i].len);
        check_clean(&a[i], sizes[i]);
    }
    cs_image_renditions_free(a, 2);
    cs_image_renditions_free(b, 2);
    /* a refusal comes back unchanged, as do the pixel limit and an empty body */
    hl_error_clear(&err);
    assert_false(cs_image_pool_process(pool, LIT("GIF89a\x01\0\x01\0"), 1000000, sizes, 2, 20000,
                                       &f, a, &err));
    assert_int_equal(err.code, 415);
    assert_string_equal(err.reason, "unsupported-image-type");
    hl_error_clear(&err);
    assert_false(cs_image_pool_process(pool, buf, len, 96 * 64 - 1, sizes, 2, 20000, &f, a, &err));
    assert_int_equal(err.code, 422);
    assert_string_equal(err.reason, "image-too-large");
    hl_error_clear(&err);
    assert_false(cs_image_pool_process(pool, NULL, 0, 1000000, sizes, 2, 20000, &f, a, &err));
    assert_int_equal(err.code, 415);
    g_free(buf);
    cs_image_pool_destroy(pool);
}

/* A result not ready by the deadline: HL_ERR_TIMEOUT at once, the job abandoned to its thread
 * (which frees it: LeakSanitizer and ASan check that in the sanitized build), and the pool still
 * answers the next upload. A 2400 x 2400 noise PNG takes far longer than 1 ms to decode and
 * encode twice. */
static void test_pool_deadline_abandons_the_job(void **state)
{
    (void)state;
    hl_error_t err = {0};
    cs_image_pool_t *pool = cs_image_pool_new(1, 0, 0, &err);
    assert_non_null(pool);
    VipsImage *noise = NULL, *img = NULL;
    assert_int_equal(vips_gaussnoise(&noise, 2400, 2400, NULL), 0);
    assert_int_equal(vips_cast_uchar(noise, &img, NULL), 0);
    g_object_unref(noise);
    void *buf = NULL;
    size_t len = 0;
    assert_int_equal(vips_pngsave_buffer(img, &buf, &len, "compression", 1, NULL), 0);
    g_object_unref(img);
    static const int sizes[2] = {512, 128};
    cs_image_rendition_t out[2];
    cs_image_format_t f;
    for (int i = 0; i < 3; i++) { /* the first is decoding, the others queued: all abandoned */
        hl_error_clear(&err);
        assert_false(cs_image_pool_process(pool, buf, len, 40000000, sizes, 2, 1, &f, out, &err));
        assert_int_equal(err.domain, HL_ERR_TIMEOUT);
        assert_null(out[0].data);
    }
    hl_error_clear(&err);
    assert_true(cs_image_pool_process(pool, buf, len, 40000000, sizes, 2, 120000, &f, out, &err));
    check_clean(&out[0], 512);
    cs_image_renditions_free(out, 2);
    g_free(buf);
    cs_image_pool_destroy(pool);
}

int main(void)
{
    hl_error_t err = {0};
    if (!cs_image_init("test_image", 1, &err)) {
        fprintf(stderr, "libvips: %s\n", err.message);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sniff_by_magic_bytes),
        cmocka_unit_test(test_sniff_refuses_other_formats_and_polyglots),
        cmocka_unit_test(test_format_of_mime),
        cmocka_unit_test(test_strip_jpeg_metadata),
        cmocka_unit_test(test_strip_webp_metadata),
        cmocka_unit_test(test_jpeg_polyglot_is_re_encoded),
        cmocka_unit_test(test_degenerate_shapes_become_squares),
        cmocka_unit_test(test_pool_answers_like_a_direct_call),
        cmocka_unit_test(test_pool_deadline_abandons_the_job),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cs_image_shutdown();
    return rc;
}
