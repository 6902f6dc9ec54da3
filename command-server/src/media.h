/* media.h: profile images (issue 18). PUT /v1/users/me/avatar takes a JPEG, PNG or WebP body
 * (≤ --media-max-bytes), validates and re-encodes it (image.h) into two square WebP renditions,
 * writes them to the S3-compatible object store under content-addressed keys
 * (avatars/<sha256 of the rendition's bytes>.webp) and then, in the command transaction, points
 * the User aggregate at them and emits UserAvatarChanged. DELETE /v1/users/me/avatar removes it.
 *
 * No profile ever points at a missing object: the store write happens before the transaction
 * that references the keys. A crash between the two leaves orphans, which are never referenced;
 * their keys were recorded in media_pending (committed before the store write) and the periodic
 * sweep (cs_media_sweep) deletes every media_pending key older than --media-orphan-grace-s that
 * no users row references, from the store and then from the table. Keys an avatar change or
 * removal lets go of are queued the same way. */
#ifndef CS_MEDIA_H
#define CS_MEDIA_H

#include "image_pool.h"

#include "hl/error.h"
#include "hl/http.h"
#include "hl/s3.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    hl_s3_t *s3;
    cs_image_pool_t *decoders; /* --media-decoders image-worker threads (image_pool.h) */
    int64_t last_sweep_ms;
} cs_media_t;

/* Start libvips (cs_image_init), the pool of `decoders` image-worker threads (8 MiB stacks) and
 * the object-store client. Errors: HL_ERR_CONFIG (store settings), HL_ERR_SYSTEM (libvips, a
 * thread). */
bool cs_media_start(cs_media_t *m, const char *argv0, int decoders, const hl_s3_config_t *s3,
                    hl_error_t *err);

/* Join the image-worker threads, shut libvips down and free the store client; after the HTTP
 * server stopped. Safe on a cs_media_t that never started. */
void cs_media_stop(cs_media_t *m);

/* One sweep pass when at least interval_s passed since the last: deletes up to 200 orphaned keys
 * older than grace_s (see above). Logs and returns on errors (the next pass retries). Called
 * from the main thread's loop. Returns the number of objects deleted. */
int cs_media_sweep(void *app, long long interval_s, long long grace_s);

void cs_handle_put_avatar(hl_http_request_t *req);
void cs_handle_delete_avatar(hl_http_request_t *req);

#endif
