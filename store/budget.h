/*
 * Budget counters: the store behind token and cost budgets and rate limits (filters/flt_budget.c).
 *
 * A counter is a 64-bit integer in some unit (tokens, micro-USD, requests) under a key the caller
 * composes, one per window bucket ("...:day:20261129" style: the caller decides the bucket, so a
 * reservation and its later reconciliation always touch the same keys even when a window rolls
 * over in between). The store knows nothing of windows beyond two things per counter:
 *
 *   - a second, optional key `prev` with a weight (parts per million): the counter's value is
 *     cur + prev * weight / 1e6, rounded up (so that a
 *     rolling limit never admits more than it allows). The caller uses it for rolling windows (the
 *     previous bucket, weighted by the share of it still inside the window); fixed windows leave
 *     prev empty.
 *   - an absolute expiry (Unix epoch milliseconds) given with every write: the key is gone after
 *     it (Redis PEXPIREAT). 0: no expiry.
 *
 * Operations, each over up to GW_BUDGET_MAX_COUNTERS counters at once, atomically (no other
 * operation on the same store sees a partial result, across threads and, for Redis, across
 * gateway instances):
 *
 *   GW_BUDGET_RESERVE  when, for every counter with limit > 0, value + amount <= limit (amounts
 *                      <= 0 always fit), add every amount to every cur key: status OK. Else change
 *                      nothing: status DENIED, `denied` = the index of the first counter that did
 *                      not fit.
 *   GW_BUDGET_ADD      add every amount (which may be negative) to every cur key, no limit check;
 *                      a cur key that would go below 0 becomes 0 (a release of a reservation made
 *                      in a bucket that has since expired must not leave debt behind).
 *   GW_BUDGET_READ     change nothing.
 *   GW_BUDGET_SET      set every cur key to its amount (0 deletes it) and delete its prev key:
 *                      reset and adjust from the admin API.
 *
 * In every case, on OK / DENIED, value[i] = counter i's value after the operation (before it
 * when DENIED), as defined above.
 *
 * Details both backends share: a RESERVE adds negative amounts as given (only ADD clamps); an
 * amount of 0 writes nothing (no key is made, no expiry changed); a write whose expiry has
 * passed leaves no key; when one key appears in several counters of an operation, each limit is
 * checked against the values before it and the amounts are applied in order. A journal belongs
 * to one process (two gateways on one journal would corrupt it: share spend through Redis). The
 * Redis backend keeps values exact within +-2^53 (amounts beyond are refused, limits clamped),
 * needs host names resolvable without delay (getaddrinfo runs on the worker at each connect) and
 * a plain server (not Redis Cluster: one operation's keys would have to share a hash slot). An
 * operation that timed out or was cancelled may still have been applied by the server.
 *
 * Backends: gw_budget_mem_new (in memory, shared by the threads of one process, optionally
 * journaled to a file so spend survives restarts and crashes) and gw_budget_redis_new (a Redis
 * server shared by every gateway instance, atomic through Lua scripts). Both implement
 * gw_budget_run below.
 *
 * Threads and completion: gw_budget_run may be called from any worker thread with that worker's
 * event_base. A backend that can answer at once (memory) fills *res and returns
 * GW_BUDGET_DONE; one that has to wait (Redis) returns GW_BUDGET_PENDING and later calls cb(arg,
 * res) exactly once, from base's loop, unless the caller cancelled the operation first with
 * gw_budget_cancel(*op). A pending operation that gets no answer within the backend's timeout
 * completes with status UNAVAILABLE. When the backend cannot serve (Redis down, no memory), the
 * call fills *res with status UNAVAILABLE and returns GW_BUDGET_DONE. cb is never called from
 * inside gw_budget_run.
 *
 * gw_budget_run_sync is the same operation for threads without an event loop (the admin API on
 * the control thread): it blocks until the answer or the timeout. Never call it on a worker.
 */
#ifndef GW_BUDGET_H
#define GW_BUDGET_H

#include <stddef.h>
#include <stdint.h>

#define GW_BUDGET_MAX_COUNTERS 32
#define GW_BUDGET_KEY_MAX 200

struct event_base;
struct gw_budget_store;
struct gw_budget_op;

enum gw_budget_kind { GW_BUDGET_RESERVE = 0, GW_BUDGET_ADD, GW_BUDGET_READ, GW_BUDGET_SET };

enum gw_budget_status { GW_BUDGET_OK = 0, GW_BUDGET_DENIED, GW_BUDGET_UNAVAILABLE };

struct gw_budget_counter {
    char cur[GW_BUDGET_KEY_MAX + 1];  /* NUL-terminated; the store may prefix it */
    char prev[GW_BUDGET_KEY_MAX + 1]; /* "" when none */
    uint32_t prev_weight_ppm;         /* 0 .. 1000000 */
    int64_t limit;                    /* RESERVE: <= 0 means no limit for this counter */
    int64_t amount;
    uint64_t expire_at_ms; /* absolute, Unix epoch ms; 0: never */
};

struct gw_budget_result {
    enum gw_budget_status status;
    size_t denied; /* DENIED: index of the first counter that did not fit */
    int64_t value[GW_BUDGET_MAX_COUNTERS];
    char error[128]; /* UNAVAILABLE: why, for logs ("connection refused", "timeout") */
};

typedef void (*gw_budget_cb)(void *arg, const struct gw_budget_result *res);

enum { GW_BUDGET_DONE = 0, GW_BUDGET_PENDING = 1 };

/* Memory backend. journal: a file that records every change and is replayed at start (NULL: none,
 * spend is lost with the process). fsync: 0 never (the kernel writes it back), 1 after every
 * change (blocks the calling thread for the disk), 2 every fsync_ms from a background thread.
 * Returns NULL with a message in err (e.g. the journal cannot be opened, or a line of it is not
 * one this code writes: "journal:LINE: ..."). A torn last line (a crash mid-write) is ignored. */
struct gw_budget_store *gw_budget_mem_new(const char *journal, int fsync, uint32_t fsync_ms,
                                          char *err, size_t errlen);

/* Redis backend: host, port, optional password and database, a key prefix prepended to every
 * key, and the timeout of one operation (connect included). Never fails for a server that is
 * down: connections are made lazily, per event_base, and retried; NULL only when out of memory or
 * for invalid arguments (message in err). */
struct gw_budget_store *gw_budget_redis_new(const char *host, uint16_t port, const char *password,
                                            int db, const char *prefix, uint32_t timeout_ms,
                                            char *err, size_t errlen);

/* Runs one operation (see above). n is 1 .. GW_BUDGET_MAX_COUNTERS; the counters are copied
 * before the call returns. op (may be NULL) receives a handle of a pending operation. cb may be
 * NULL when nobody waits for the answer (a settlement). */
int gw_budget_run(struct gw_budget_store *s, struct event_base *base, enum gw_budget_kind kind,
                  const struct gw_budget_counter *c, size_t n, struct gw_budget_result *res,
                  gw_budget_cb cb, void *arg, struct gw_budget_op **op);

/* Blocking variant for a thread without an event loop. Fills *res; returns 0. */
int gw_budget_run_sync(struct gw_budget_store *s, enum gw_budget_kind kind,
                       const struct gw_budget_counter *c, size_t n, struct gw_budget_result *res);

/* Cancels a pending operation: its callback will not run. Must be called from the thread of the
 * event_base it was started on, before the callback ran. */
void gw_budget_cancel(struct gw_budget_op *op);

/* Called from a worker thread before its event_base is freed: drops that base's connection
 * (Redis) and cancels what is pending on it. A no-op for the memory backend. */
void gw_budget_detach(struct gw_budget_store *s, struct event_base *base);

/* Frees the store (flushing and closing the journal). Nothing may be pending and no thread may
 * use it any more. NULL is ignored. */
void gw_budget_free(struct gw_budget_store *s);

/*
 * Process-wide registry, so that a configuration reload keeps the store (spend in memory, Redis
 * connections): gw_budget_acquire returns the store registered under spec (any string that tells
 * configurations apart, e.g. "memory:/var/lib/portcullis/budgets.journal") with one more
 * reference, or makes it with open(arg, err, errlen) and registers it. NULL when open fails
 * (message in err). gw_budget_release drops a reference; the last frees the store. Any thread.
 */
struct gw_budget_store *gw_budget_acquire(const char *spec,
                                          struct gw_budget_store *(*open)(void *arg, char *err,
                                                                          size_t errlen),
                                          void *arg, char *err, size_t errlen);
void gw_budget_release(struct gw_budget_store *s);

/* One more reference to a store that gw_budget_acquire returned (an operation in flight keeps
 * its store alive across a reload). Release it with gw_budget_release. */
void gw_budget_hold(struct gw_budget_store *s);

/* A memory store without journal for the whole process, made at the first call (any thread) and
 * kept until exit: state shared between exchanges when the configuration has no store of its
 * own. NULL only when out of memory. */
struct gw_budget_store *gw_budget_local(void);

/* gw_budget_detach for every registered store: a worker calls it before freeing its base. */
void gw_budget_detach_all(struct event_base *base);

/* Wall clock in Unix epoch milliseconds; tests may replace it (set before any thread uses it). */
extern uint64_t (*gw_budget_clock)(void);

#endif
