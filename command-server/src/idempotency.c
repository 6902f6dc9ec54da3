/* idempotency.c: Idempotency-Key lookup, store and replay (idempotency.h). */
#include "idempotency.h"

#include "hl/mem.h"
#include "hl/pg.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool cs_idem_key_check(const char *key, hl_error_t *err)
{
    if (key && (!key[0] || strlen(key) > CS_IDEM_KEY_MAX))
        return hl_error_set_reason(err, HL_ERR_INPUT, 400, "invalid-idempotency-key",
                                   "Idempotency-Key must be 1..255 characters");
    return true;
}

/* BLAKE2b-256 of method, path and body, keyed with key (one of the ring's keys). */
static void request_hash(const uint8_t key[HL_TOKEN_KEY_BYTES], const hl_http_request_t *req,
                         const char *body, size_t len, unsigned char out[CS_IDEM_HASH_BYTES])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, key, HL_TOKEN_KEY_BYTES, CS_IDEM_HASH_BYTES);
    crypto_generichash_update(&st, (const unsigned char *)req->method, strlen(req->method) + 1);
    crypto_generichash_update(&st, (const unsigned char *)req->path, strlen(req->path) + 1);
    if (body)
        crypto_generichash_update(&st, (const unsigned char *)body, len);
    crypto_generichash_final(&st, out, CS_IDEM_HASH_BYTES);
}

void cs_idem_hash(const hl_token_key_t *ring, int64_t now_ms, const hl_http_request_t *req,
                  const char *body, size_t len, cs_idem_hash_t *out)
{
    memset(out, 0, sizeof *out);
    request_hash(ring->key, req, body, len, out->current);
    if (ring->has_previous && now_ms < ring->previous_until_ms) {
        request_hash(ring->previous, req, body, len, out->previous);
        out->has_previous = true;
    }
}

void cs_idem_response_free(cs_idem_response_t *s)
{
    free(s->body);
    free(s->headers);
    memset(s, 0, sizeof *s);
}

#define IDEM_SELECT_SQL                                                                            \
    "SELECT request_hash, response_status, response_body, response_headers"                        \
    " FROM idempotency_keys WHERE scope = $1 AND idem_key = $2"

/* A row of IDEM_SELECT_SQL (or none) into out; same_request when its hash is hash's current or
 * previous one. */
static void parse_row(const PGresult *r, const cs_idem_hash_t *hash, cs_idem_response_t *out)
{
    if (PQntuples(r) != 1)
        return;
    out->found = true;
    size_t hlen = 0;
    unsigned char *stored = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 0), &hlen);
    out->same_request =
        stored && hlen == CS_IDEM_HASH_BYTES &&
        (sodium_memcmp(stored, hash->current, CS_IDEM_HASH_BYTES) == 0 ||
         (hash->has_previous && sodium_memcmp(stored, hash->previous, CS_IDEM_HASH_BYTES) == 0));
    PQfreemem(stored);
    out->status = (int)strtol(PQgetvalue(r, 0, 1), NULL, 10);
    const char *b = PQgetvalue(r, 0, 2);
    out->body = b[0] ? hl_xstrdup(b) : NULL;
    out->headers = hl_xstrdup(PQgetvalue(r, 0, 3));
}

bool cs_idem_lookup(hl_pg_pipeline_t *pl, const char *scope, const char *key,
                    const cs_idem_hash_t *hash, cs_idem_response_t *out, hl_error_t *err)
{
    const char *p[2] = {scope, key};
    PGresult *r = NULL;
    memset(out, 0, sizeof *out);
    /* Serialise requests sharing a key: a second one waits for the first to commit and then
     * finds its stored response instead of running the command again. */
    if (!hl_pg_pipeline_queue(
            pl, "SELECT pg_advisory_xact_lock(hashtextextended($1 || ' ' || $2, 7257))", 2, p, NULL,
            NULL, NULL, err))
        return false;
    if (!hl_pg_pipeline_exec(pl, IDEM_SELECT_SQL, 2, p, &r, err))
        return false;
    parse_row(r, hash, out);
    PQclear(r);
    return true;
}

bool cs_idem_lookup_early(PGconn *conn, const char *scope, const char *key,
                          const cs_idem_hash_t *hash, cs_idem_response_t *out, hl_error_t *err)
{
    const char *p[2] = {scope, key};
    memset(out, 0, sizeof *out);
    PGresult *r = NULL;
    if (!hl_pg_query(conn, IDEM_SELECT_SQL, 2, p, &r, err))
        return false;
    parse_row(r, hash, out);
    PQclear(r);
    return true;
}

bool cs_idem_store(hl_pg_pipeline_t *pl, const char *scope, const char *key,
                   const cs_idem_hash_t *hash, int status, const bson_t *reply, const char *headers,
                   bool *inserted, hl_error_t *err)
{
    *inserted = false;
    char *json = reply ? bson_as_relaxed_extended_json(reply, NULL) : NULL;
    char status_text[8];
    snprintf(status_text, sizeof status_text, "%d", status);
    const char *p[6] = {scope,  key, (const char *)hash->current, status_text, json ? json : "",
                        headers};
    int lengths[6] = {0, 0, CS_IDEM_HASH_BYTES, 0, 0, 0};
    int formats[6] = {0, 0, 1, 0, 0, 0};
    PGresult *r = NULL;
    bool ok = hl_pg_pipeline_queue(pl,
                                   "INSERT INTO idempotency_keys (scope, idem_key,"
                                   " request_hash, response_status, response_body,"
                                   " response_headers) VALUES ($1, $2, $3, $4, $5, $6)"
                                   " ON CONFLICT DO NOTHING",
                                   6, p, lengths, formats, &r, err) &&
              hl_pg_pipeline_flush(pl, err);
    bson_free(json);
    *inserted = ok && !strcmp(PQcmdTuples(r), "1");
    PQclear(r);
    return ok;
}

void cs_idem_replay(hl_http_request_t *req, const cs_idem_response_t *s)
{
    char headers[2048];
    snprintf(headers, sizeof headers, "%sIdempotent-Replayed: true\r\n",
             s->headers ? s->headers : "");
    if (!s->body) {
        hl_http_reply_empty(req, s->status, headers);
        return;
    }
    bson_t doc;
    bson_error_t berr;
    if (!bson_init_from_json(&doc, s->body, -1, &berr)) {
        hl_http_reply_problem(req, 500, "internal", "Internal Server Error",
                              "stored response unreadable", NULL);
        return;
    }
    hl_http_reply_json(req, s->status, &doc, headers);
    bson_destroy(&doc);
}
