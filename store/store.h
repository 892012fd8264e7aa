/*
 * A small key/value store of 64-bit integer counters with expiry, for state that outlives one
 * request: the injection filter's per-session and per-key escalation (strike counts, the
 * "watchlist" of requests to scan more strictly) and, later, token budgets.
 *
 * Ownership: the caller owns the key strings it passes; the store copies what it keeps, so a key
 * may be freed or reused as soon as a call returns. Values are plain int64_t written through
 * out-parameters. The store owns all its memory until gw_store_free.
 *
 * Thread-safety: every function but gw_store_free may be called concurrently from any number of
 * threads on the same store; each call is atomic (an incr from one thread never loses an incr from
 * another). gw_store_free must not race with any other call on the same store.
 *
 * Keys are byte strings of at most GW_STORE_KEY_MAX bytes (NUL-terminated, without the NUL);
 * a longer key is an error (-1). A key names one integer; a missing key reads as 0.
 *
 * Expiry: a key with a TTL expires at (time it was created, or last written by gw_store_set) +
 * ttl_ms on the monotonic clock. gw_store_incr and gw_store_take keep the expiry of a live key,
 * so a counter created by gw_store_incr(key, 1, 60000) counts for one fixed 60 s window and then
 * starts again from 0; it is not a sliding window. A key is expired from the millisecond its
 * expiry is reached (so a live key with a TTL has ttl_left >= 1). An expired key behaves exactly
 * like a missing one; it is removed lazily when touched, by a small sweep on each write to its
 * shard, and in bulk when its shard is full. ttl_ms 0 means no expiry.
 *
 * Backends: gw_store_mem_new is the in-process backend. A Redis backend (shared between gateway
 * instances) will implement the same operations with the same meaning, which is why they are kept
 * to what Redis does in one round trip:
 *
 *   gw_store_incr   INCRBY key delta + PEXPIRE key ttl NX (in a MULTI, or one Lua call)
 *   gw_store_get    GET key + PTTL key
 *   gw_store_set    SET key value PX ttl (plain SET when ttl_ms is 0)
 *   gw_store_take   a Lua script: DECR when the value is > 0, returning the value after
 *   gw_store_del    DEL key
 *   gw_store_count  DBSIZE on a dedicated database, for metrics only
 *
 * PEXPIRE NX sets an expiry only on a key that has none, hence the rule in gw_store_incr that an
 * incr with a TTL gives one to a live key that has none. A networked backend cannot block a
 * worker's event loop, so it will need an asynchronous variant of these calls (a completion
 * callback per operation); the synchronous calls here are for the in-memory backend, whose
 * operations take a few hundred nanoseconds under a mutex.
 *
 * In-memory backend: the keys are spread by a keyed hash (SipHash-1-3 under a random per-store
 * key, so that clients choosing session ids cannot make the table degrade) over up to
 * GW_STORE_SHARDS shards, each an open-addressing table with its own mutex and its own share of
 * max_keys (a store of fewer than GW_STORE_SHARDS * GW_STORE_SHARD_MIN keys uses fewer shards, so
 * that a shard's share is not so small that an uneven spread of keys wastes most of max_keys).
 * The store never holds more than max_keys entries, expired ones included. When a new key
 * arrives at a full shard, the shard first drops all its expired entries; if it is still full it
 * evicts, among GW_STORE_EVICT_SAMPLE entries near the new key's slot, the one that expires
 * soonest (no expiry counts as latest), the oldest inserted among equals. Eviction forgets state:
 * a client that floods the store with new session ids can push its own counters out, so size
 * max_keys above the expected number of live keys. gw_store_get and gw_store_take never allocate;
 * a new key costs one allocation.
 */
#ifndef GW_STORE_H
#define GW_STORE_H

#include <stddef.h>
#include <stdint.h>

#define GW_STORE_KEY_MAX 255
#define GW_STORE_DEFAULT_KEYS 100000
#define GW_STORE_SHARDS 16
#define GW_STORE_SHARD_MIN 64
#define GW_STORE_EVICT_SAMPLE 8

struct gw_store;

/* Returns an empty in-memory store of at most max_keys keys (0: GW_STORE_DEFAULT_KEYS), or NULL
 * when out of memory. Free it with gw_store_free. */
struct gw_store *gw_store_mem_new(size_t max_keys);

/* Frees s and every key in it (NULL is ignored). No other call on s may be running. */
void gw_store_free(struct gw_store *s);

/*
 * Adds delta to the integer at key and writes the result to *out. A key that is missing or has
 * expired starts at 0 and gets the expiry now + ttl_ms (none when ttl_ms is 0). A live key keeps
 * its expiry (a fixed window); only when it has none and ttl_ms is > 0 does it get now + ttl_ms
 * (Redis PEXPIRE NX). Returns 0, or -1 (the key unchanged, *out = 0) when the key is longer than
 * GW_STORE_KEY_MAX, when out of memory, or when the sum would overflow int64_t.
 */
int gw_store_incr(struct gw_store *s, const char *key, int64_t delta, uint64_t ttl_ms,
                  int64_t *out);

/*
 * Reads key: *out = its value (0 when missing or expired) and, when ttl_left_ms is not NULL,
 * *ttl_left_ms = milliseconds until it expires (0 when missing or without expiry). Returns 1 when
 * the key is live, 0 when missing or expired, -1 when the key is too long (*out = 0).
 */
int gw_store_get(struct gw_store *s, const char *key, int64_t *out, uint64_t *ttl_left_ms);

/* Sets key to value with a fresh expiry now + ttl_ms (none when ttl_ms is 0), whatever it held
 * before. Returns 0, or -1 when the key is too long or out of memory (the key unchanged). */
int gw_store_set(struct gw_store *s, const char *key, int64_t value, uint64_t ttl_ms);

/*
 * Decrements key by one when it is live and its value is > 0, keeping its expiry; *out = the
 * value afterwards (the value unchanged when it was <= 0, 0 when missing or expired). Returns 1
 * when it decremented, 0 when not, -1 when the key is too long (*out = 0). This is the watchlist:
 * gw_store_set(key, K, ttl) marks the next K requests of a session, each of which takes one.
 */
int gw_store_take(struct gw_store *s, const char *key, int64_t *out);

/* Removes key. Returns 0 whether or not it existed, -1 when the key is too long. */
int gw_store_del(struct gw_store *s, const char *key);

/* The number of live (unexpired) keys, for metrics and tests. Removes expired entries on the way:
 * it scans the table of each shard that holds some, and only those. */
size_t gw_store_count(struct gw_store *s);

/* Test hook: when not NULL, the store reads the time (milliseconds, monotonic) from this function
 * instead of CLOCK_MONOTONIC. Set it before any thread uses a store. */
extern uint64_t (*gw_store_clock)(void);

#endif
