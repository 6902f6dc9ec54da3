/* hl/s3.h: a small client of the Amazon S3 REST API (PutObject, DeleteObject, HeadObject) over
 * libcurl, signed with libcurl's built-in AWS Signature Version 4 (CURLOPT_AWS_SIGV4, curl >=
 * 7.75; the payload hash is sent as x-amz-content-sha256, as S3 requires). Path-style URLs
 * (<endpoint>/<bucket>/<key>), so it works with AWS S3 and with S3-compatible servers
 * (versitygw locally, deploy/local/objectstore.sh). Thread-safe: each call uses its own curl
 * handle (connection reuse through a share of the connection cache is not needed at avatar
 * upload rates). */
#ifndef HL_S3_H
#define HL_S3_H

#include "hl/error.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *endpoint;   /* "http://127.0.0.1:39000" or "https://s3.eu-west-1.amazonaws.com" */
    const char *bucket;     /* bucket name (must exist) */
    const char *region;     /* SigV4 region, e.g. "us-east-1" */
    const char *access_key; /* access key id */
    const char *secret_key; /* secret access key */
    long timeout_ms;        /* whole-request time-out, ms */
} hl_s3_config_t;

typedef struct hl_s3 hl_s3_t;

/* A client for cfg (strings copied). Errors: HL_ERR_CONFIG when a field is empty or the
 * endpoint is not an http(s) URL. */
hl_s3_t *hl_s3_new(const hl_s3_config_t *cfg, hl_error_t *err);
void hl_s3_destroy(hl_s3_t *s3);

/* PUT data[len] under key (safe characters only: [A-Za-z0-9/._-]) with the given Content-Type
 * and Cache-Control (NULL: none), which the store keeps and returns on GET. Errors: HL_ERR_HTTP
 * with the HTTP status as code (0 when the server could not be reached). */
bool hl_s3_put(hl_s3_t *s3, const char *key, const void *data, size_t len, const char *content_type,
               const char *cache_control, hl_error_t *err);

/* DELETE key; a missing key is success (S3 answers 204 either way). Errors as hl_s3_put. */
bool hl_s3_delete(hl_s3_t *s3, const char *key, hl_error_t *err);

/* HEAD key: *exists true on 200, false on 404. Errors as hl_s3_put for any other answer. */
bool hl_s3_exists(hl_s3_t *s3, const char *key, bool *exists, hl_error_t *err);

#endif
