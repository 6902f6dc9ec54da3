/* image_pool.h: the image-worker threads that run every avatar decode (issue 18).
 *
 * libvips and the codecs under it (libjpeg-turbo, libspng/libpng, libwebp) use deep call stacks:
 * under ASan, whose frames are several times larger, decoding even a 1x1 PNG overflowed a
 * civetweb worker's stack. So no request thread decodes: cs_image_pool_process hands the image to
 * one of a few threads created with a large stack (pthread_attr_setstacksize) and waits for its
 * result until a deadline. The pool's size bounds how many images decode at once (it replaced a
 * semaphore of the same size, --media-decoders), and a bounded queue holds the uploads waiting
 * for a thread; beyond it, or past the deadline, the upload answers 503 at once instead of tying
 * up request threads.
 *
 * A job owns a copy of the image and its results, so a request that gave up waiting (deadline)
 * never shares memory with the thread still decoding: the thread frees an abandoned job when it
 * finishes, and skips it if it had not started. */
#ifndef CS_IMAGE_POOL_H
#define CS_IMAGE_POOL_H

#include "image.h"

#include "hl/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The stack of each image-worker thread, bytes: room for libvips and its codecs under ASan. */
#define CS_IMAGE_POOL_STACK_BYTES (8u * 1024u * 1024u)
/* Most renditions one job may ask for. */
#define CS_IMAGE_POOL_MAX_SIZES 4

typedef struct cs_image_pool cs_image_pool_t;

/* Start `threads` image-worker threads (1..64), each with a stack of stack_bytes (at least
 * PTHREAD_STACK_MIN; 0 = CS_IMAGE_POOL_STACK_BYTES), and a queue of at most max_queued jobs
 * waiting for a thread (0 = 4 x threads). cs_image_init must have run. Returns NULL with
 * HL_ERR_SYSTEM when a thread cannot be created (the threads already started are joined). */
cs_image_pool_t *cs_image_pool_new(int threads, size_t stack_bytes, int max_queued,
                                   hl_error_t *err);

/* Let the threads finish the queued jobs, then join them and free the pool. No
 * cs_image_pool_process may run or start meanwhile (stop the HTTP server first). NULL is a
 * no-op. */
void cs_image_pool_destroy(cs_image_pool_t *pool);

/* cs_image_process(buf, len, max_pixels, sizes, n, format, out, err) on an image-worker thread:
 * buf[len] is copied (the caller keeps and frees its buffer), sizes[0..n) with n at most
 * CS_IMAGE_POOL_MAX_SIZES, and the caller waits at most timeout_ms (> 0) for the result. On
 * success out[0..n) holds the renditions (the caller frees them with cs_image_renditions_free),
 * exactly as cs_image_process returns them; its errors (415, 422, HL_ERR_SYSTEM) come back in err
 * unchanged. Besides: HL_ERR_TIMEOUT (answered 503 with Retry-After) when the queue is full or the
 * deadline passed (the job is then abandoned: skipped if not started, its results freed by the
 * thread when it ends). Thread-safe. */
bool cs_image_pool_process(cs_image_pool_t *pool, const unsigned char *buf, size_t len,
                           int64_t max_pixels, const int *sizes, size_t n, long timeout_ms,
                           cs_image_format_t *format, cs_image_rendition_t *out, hl_error_t *err);

#endif
