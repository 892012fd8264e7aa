/*
 * The audit hash chain. Every sealed record is one JSON line that ends with its place in the
 * chain:
 *   {...fields...,"seq":N,"prev_hash":"<64 lowercase hex>","hash":"<64 lowercase hex>"}\n
 * hash is the hex SHA-256 (HMAC-SHA256 when a key is configured) of the line from its first '{'
 * up to and including the '"' that closes the prev_hash value: the line without its final
 * ,"hash":"<64 hex>"} and newline. seq starts at 1 and grows by exactly 1; prev_hash is the hash
 * of the record before, 64 '0' for seq 1. Editing, deleting, inserting or reordering records
 * therefore shows (audit/verify.c checks a chain); with a key, nobody without it can forge one.
 *
 * The struct is named gw_audit_chain because config/cfg.h already has a struct gw_chain (a
 * route's filter chain).
 *
 * Thread safety: a chain belongs to one thread (the audit thread). The hash functions may be
 * called from any thread; each thread keeps one set of OpenSSL contexts for them, so sealing
 * allocates nothing beyond what the evbuffer needs.
 */
#ifndef GW_AUDIT_CHAIN_H
#define GW_AUDIT_CHAIN_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

#define GW_CHAIN_HEX 64 /* hex digits of a hash */

struct gw_audit_chain {
    uint64_t seq;                /* of the last sealed record, 0: none */
    char prev[GW_CHAIN_HEX + 1]; /* its hash (64 '0' initially), NUL-terminated */
    const unsigned char *key;    /* HMAC key (borrowed: must outlive the chain) or NULL */
    size_t keylen;
};

/* A new chain: seq 0, prev all zeros. key (keylen bytes) selects HMAC-SHA256; NULL or an empty
 * key selects plain SHA-256. The key is borrowed, not copied. */
void gw_chain_init(struct gw_audit_chain *c, const unsigned char *key, size_t keylen);

/*
 * Seals one record. body is the record's JSON object text WITHOUT its closing '}' (`{"a":1`),
 * len bytes, at least one member and no newline. Appends the sealed line (body, then
 * ,"seq":N,"prev_hash":"...","hash":"..."}\n) to out as one contiguous piece and advances c.
 * Returns 0, or -1 when out of memory (then neither c nor out has changed).
 */
int gw_chain_seal(struct gw_audit_chain *c, const char *body, size_t len, struct evbuffer *out);

/*
 * The hash of a sealed line's hashed part (data, len bytes: the line up to the '"' closing its
 * prev_hash value) under key (NULL or empty: SHA-256) as 64 lowercase hex digits and a NUL in
 * hex. If OpenSSL fails (out of memory), hex is "" (which matches no record).
 */
void gw_chain_hash(const unsigned char *key, size_t keylen, const char *data, size_t len,
                   char hex[GW_CHAIN_HEX + 1]);

/* 1 when s starts with GW_CHAIN_HEX lowercase hex digits (a hash as records carry it). */
int gw_chain_is_hex(const char *s);

/*
 * State persistence, so that a restarted gateway continues its chain: a small text file
 * "SEQ HASH\n" (SEQ decimal, HASH 64 lowercase hex; "0 000...0" for an empty chain).
 * gw_chain_load returns 0 and sets c->seq and c->prev (the key is kept); 1 when the file does not
 * exist (c untouched); -1 when it cannot be read or is not such a file, with a message in err
 * (c untouched). gw_chain_save writes path.tmp, syncs it and renames it over path, so a crash
 * leaves the old or the new state, never a torn one; 0, or -1 with errno set.
 */
int gw_chain_load(struct gw_audit_chain *c, const char *path, char *err, size_t errlen);
int gw_chain_save(const struct gw_audit_chain *c, const char *path);

#endif
