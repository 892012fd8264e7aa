/*
 * The memory backend of store/budget.h: every counter key of the store in one hash table under
 * one mutex, optionally journaled to a file so that spend survives restarts and crashes.
 *
 * Table: open addressing with linear probing and backward-shift deletion, never
 * more than half full, keyed SipHash-1-3 under a random per-store key (keys carry user and team
 * ids). An entry is {value, expire_at_ms}. A key whose value is 0 has no entry (a counter at 0 and
 * a missing one read the same), and an entry whose expire_at_ms <= gw_budget_clock() counts as
 * missing: it is removed when an operation looks it up, by a sweep of a few slots on each write,
 * and all at once before the table grows. Nothing is evicted: spend is never forgotten, so the
 * table holds as many keys as the callers' keys and expiries keep alive.
 *
 * Atomicity: one mutex for the whole store, held for the whole of an operation over its up to
 * GW_BUDGET_MAX_COUNTERS counters (2 keys each). An operation copies the state of each distinct
 * key it names into a working set, computes there (so a key named twice sees its own earlier
 * writes, in counter order), then commits, allocating the new entries first: when memory runs
 * out nothing changes and the status is UNAVAILABLE.
 *
 * Journal: a text file of '\n'-terminated lines. The first line is exactly
 *
 *   portcullis-budget-journal 1
 *
 * and every other line is one operation that changed something, as the state after it of each
 * key whose state (value or expiry) it changed:
 *
 *   S <n> <expire_at_ms> <value> <key> [<expire_at_ms> <value> <key>]...   (n records, n >= 1)
 *
 * Fields are separated by exactly one space. expire_at_ms is a decimal uint64 (Unix epoch ms, 0:
 * never), value a decimal int64 (0: the key was deleted), key the key's bytes with every byte
 * <= 0x20, >= 0x7f and '%' written as %XX (upper-case hex), so that no field holds a space or a
 * newline (the empty key is an empty field). Records are absolute: replaying a line sets each key
 * to its value and expiry (deleting it when the value is 0 or the expiry has passed), whatever it
 * was, so replaying is idempotent and only the order of the lines matters. Each line is written
 * with one write() under the store's mutex, so the lines are in the order of the operations.
 *
 * Opening: the file is created if missing (mode 0600; its directory must exist), every line is
 * replayed, a last line without its '\n' (a crash in the middle of a write) is ignored, and any
 * other line this code would not write is an error "PATH:LINE: what". Then the file is compacted:
 * the header and one "S 1" line per live key go to PATH.tmp, which is fsynced and renamed over
 * PATH, and the directory is fsynced; the store appends to the new file.
 *
 * Compaction while running: when the file has grown past max(1 MiB, 4 x its size after the last
 * compaction), the operation that grew it compacts it, on its own thread and under the store's
 * mutex, so every operation on the store waits for it: it writes about 15 bytes plus the number
 * and the escaped key per live key, then one fsync (measured: 20-30 ms for 100k keys of 30 bytes,
 * a 4.4 MB file, on the development VM, against about 1 us for an operation). Its cost is
 * amortised over the 3/4 of the file that were appends.
 *
 * fsync: 0, never (the kernel writes back: a crash of the process loses nothing, one of the
 * machine the last seconds); 1, fdatasync after each change, which blocks the calling thread until
 * the disk has it (it runs after the mutex is released, on a dup of the descriptor, so that the
 * other threads' operations go on meanwhile); 2, a background thread fdatasyncs every fsync_ms
 * when something was written since. Compaction always fsyncs, and gw_budget_free fdatasyncs.
 *
 * Journal failures never fail an operation: memory is the truth, the journal its best-effort
 * copy. A failed or short write() is counted (journal_errors), the partial line is truncated
 * away, and the journal is marked stale: a compaction, which rewrites it whole from memory, is
 * tried with each change from then on, at most once per RETRY_MS (of gw_budget_clock) while they
 * fail, and until one succeeds the appends go on (a restart then loses only the lines that failed
 * and whatever a crash loses anyway). When the partial line cannot be truncated either, nothing
 * more is appended until then, so that it stays the last line (ignored at the next start). A
 * failed fdatasync also marks the journal stale. Nothing is logged (there is no API yet to read
 * journal_errors; a metrics hook would be the place).
 */
#include "store/budget.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "store/budget_impl.h"

/* min_expire when no entry has an expiry. */
#define NEVER UINT64_MAX
/* Slots the incremental sweep examines on each write. */
#define SWEEP_STEP 4
/* First table size. */
#define CAP_MIN 16
#define PPM 1000000
#define HEADER "portcullis-budget-journal 1\n"
#define HEADER_LEN (sizeof(HEADER) - 1)
/* The journal is compacted when it grows past max(COMPACT_MIN, COMPACT_RATIO x its compacted
 * size). */
#define COMPACT_MIN ((uint64_t)1 << 20)
#define COMPACT_RATIO 4
/* After a failed compaction, the next try waits this long (gw_budget_clock ms). */
#define RETRY_MS 1000
#define REFS_MAX (2 * GW_BUDGET_MAX_COUNTERS)
/* Longest record: ' ', 20 digits, ' ', '-' and 19 digits, ' ', a key all in %XX. */
#define RECORD_MAX (1 + 20 + 1 + 20 + 1 + 3 * GW_BUDGET_KEY_MAX)
/* Longest line: "S <n>", REFS_MAX records, '\n'. Compaction's buffer is as large. */
#define JLINE_MAX (2 + 20 + REFS_MAX * RECORD_MAX + 1)

struct entry {
    int64_t value;      /* never 0: a key at 0 has no entry */
    uint64_t expire_at; /* Unix epoch ms; 0: never */
    uint8_t klen;
    char key[]; /* klen bytes and a NUL */
};

struct slot {
    uint64_t hash;   /* of e->key */
    struct entry *e; /* NULL: empty */
};

struct budget_mem {
    struct gw_budget_store base; /* first: gw_budget_* cast to it */
    pthread_mutex_t lock;        /* everything below but the flusher's fields */
    struct slot *slots;
    size_t cap;   /* slots, a power of two; 0 until the first key */
    size_t n;     /* entries, expired ones not yet removed included */
    size_t sweep; /* next slot the incremental sweep examines */
    /* No entry expires before this: a purge before then would find nothing. Lowered when an
     * entry gets an earlier expiry, recomputed by each purge. */
    uint64_t min_expire;
    uint64_t k0, k1; /* SipHash key */

    /* Journal: path NULL and fd -1 when there is none. */
    char *path, *tmp_path, *dir_path;
    int fd;
    int fsync_mode;
    uint64_t size;      /* bytes of complete lines in the file */
    uint64_t base_size; /* size after the last compaction */
    bool stale;         /* the file misses a change: compact as soon as allowed */
    bool torn;          /* the file may end in a partial line: append nothing until compacted */
    uint64_t retry_at;  /* no compaction before this gw_budget_clock time (after a failure) */
    char *buf;          /* JLINE_MAX bytes: the line being written, or compaction's output */
    atomic_uint_fast64_t journal_errors; /* failed writes, compactions and syncs */

    /* fsync 2: the flusher thread. */
    uint32_t fsync_ms;
    pthread_t flusher;
    bool flusher_started;
    pthread_mutex_t flush_lock; /* stop */
    pthread_cond_t flush_cond;
    bool stop;
    atomic_bool dirty; /* written since the last fdatasync */
};

/* The state of one key during an operation. */
struct ref {
    const char *key; /* the caller's, valid during the operation */
    size_t klen;
    uint64_t hash;
    struct entry *e; /* its live entry before the operation, or NULL */
    int64_t val0;    /* before the operation (0: no entry) */
    uint64_t exp0;   /* before the operation (0 when no entry) */
    int64_t val;     /* current; 0 means no entry */
    uint64_t exp;    /* current; 0 when val is 0 */
    bool written;    /* the operation wrote it (its state may still be unchanged) */
};

static void fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = ROTL(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = ROTL(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = ROTL(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = ROTL(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = ROTL(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = ROTL(v2, 32);                                                                         \
    } while (0)

/* SipHash-1-3 under a random per-store key (clients choose session ids and names). */
static uint64_t
siphash13(uint64_t k0, uint64_t k1, const unsigned char *in, size_t len)
{
    uint64_t v0 = 0x736f6d6570736575ull ^ k0;
    uint64_t v1 = 0x646f72616e646f6dull ^ k1;
    uint64_t v2 = 0x6c7967656e657261ull ^ k0;
    uint64_t v3 = 0x7465646279746573ull ^ k1;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t m = 0;
        for (int j = 0; j < 8; j++)
            m |= (uint64_t)in[i + j] << (8 * j);
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (int j = 0; i + j < len; j++)
        b |= (uint64_t)in[i + j] << (8 * j);
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t
hash_key(const struct budget_mem *s, const char *key, size_t klen)
{
    return siphash13(s->k0, s->k1, (const unsigned char *)key, klen);
}

static bool
expired(const struct entry *e, uint64_t now)
{
    return e->expire_at && e->expire_at <= now;
}

static void
set_entry(struct budget_mem *s, struct entry *e, int64_t value, uint64_t expire_at)
{
    e->value = value;
    e->expire_at = expire_at;
    if (expire_at && expire_at < s->min_expire)
        s->min_expire = expire_at;
}

/* The slot holding key, or SIZE_MAX. */
static size_t
find(const struct budget_mem *s, uint64_t hash, const char *key, size_t klen)
{
    if (!s->cap)
        return SIZE_MAX;
    size_t mask = s->cap - 1;
    for (size_t i = hash & mask; s->slots[i].e; i = (i + 1) & mask) {
        const struct entry *e = s->slots[i].e;
        if (s->slots[i].hash == hash && e->klen == klen && !memcmp(e->key, key, klen))
            return i;
    }
    return SIZE_MAX;
}

/* Frees the entry at slot i and shifts back the entries after it that probed past i, so that
 * every entry stays reachable from its home slot without a gap. */
static void
remove_at(struct budget_mem *s, size_t i)
{
    size_t mask = s->cap - 1;
    free(s->slots[i].e);
    s->n--;
    for (size_t j = (i + 1) & mask; s->slots[j].e; j = (j + 1) & mask) {
        size_t home = s->slots[j].hash & mask;
        /* The entry at j may fill the hole at i when its home is not in (i, j]. */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            s->slots[i] = s->slots[j];
            i = j;
        }
    }
    s->slots[i].e = NULL;
    s->slots[i].hash = 0;
}

/* Removes e, which is in the table under hash. */
static void
remove_entry(struct budget_mem *s, uint64_t hash, const struct entry *e)
{
    size_t mask = s->cap - 1, i = hash & mask;
    while (s->slots[i].e != e)
        i = (i + 1) & mask;
    remove_at(s, i);
}

/* Removes every expired entry, unless min_expire says there is none. */
static void
purge(struct budget_mem *s, uint64_t now)
{
    if (now < s->min_expire)
        return;
    uint64_t min = NEVER;
    /* remove_at can shift a later entry into slot i: look at i again before moving on. */
    for (size_t i = 0; i < s->cap;) {
        const struct entry *e = s->slots[i].e;
        if (e && expired(e, now)) {
            remove_at(s, i);
            continue;
        }
        if (e && e->expire_at && e->expire_at < min)
            min = e->expire_at;
        i++;
    }
    s->min_expire = min;
}

/* Examines SWEEP_STEP slots from the sweep position and removes the expired entries there, so
 * that keys nobody touches again leave even when the table never grows. */
static void
sweep(struct budget_mem *s, uint64_t now)
{
    if (!s->cap || now < s->min_expire)
        return;
    size_t mask = s->cap - 1;
    for (int k = 0; k < SWEEP_STEP; k++) {
        const struct entry *e = s->slots[s->sweep].e;
        if (e && expired(e, now))
            remove_at(s, s->sweep);
        else
            s->sweep = (s->sweep + 1) & mask;
    }
}

/* Makes room for extra more entries at half load: drops the expired ones, then doubles the
 * table as needed. Live entries stay where they are in memory (only slots move). */
static int
make_room(struct budget_mem *s, size_t extra, uint64_t now)
{
    if ((s->n + extra) * 2 <= s->cap)
        return 0;
    purge(s, now);
    size_t cap = s->cap ? s->cap : CAP_MIN;
    while ((s->n + extra) * 2 > cap)
        cap *= 2;
    if (cap == s->cap)
        return 0;
    struct slot *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return -1;
    size_t mask = cap - 1;
    for (size_t i = 0; i < s->cap; i++) {
        if (!s->slots[i].e)
            continue;
        size_t j = s->slots[i].hash & mask;
        while (slots[j].e)
            j = (j + 1) & mask;
        slots[j] = s->slots[i];
    }
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
    s->sweep &= mask;
    return 0;
}

/* Puts e (not in the table) in its slot; make_room made room. */
static void
place(struct budget_mem *s, uint64_t hash, struct entry *e)
{
    size_t mask = s->cap - 1, i = hash & mask;
    while (s->slots[i].e)
        i = (i + 1) & mask;
    s->slots[i].hash = hash;
    s->slots[i].e = e;
    s->n++;
}

static struct entry *
new_entry(const char *key, size_t klen)
{
    struct entry *e = malloc(sizeof(*e) + klen + 1);
    if (!e)
        return NULL;
    e->value = 0;
    e->expire_at = 0;
    e->klen = (uint8_t)klen;
    memcpy(e->key, key, klen);
    e->key[klen] = '\0';
    return e;
}

/* The live entry for key, or NULL; an expired one is removed on the way. */
static struct entry *
lookup(struct budget_mem *s, uint64_t hash, const char *key, size_t klen, uint64_t now)
{
    size_t i = find(s, hash, key, klen);
    if (i == SIZE_MAX)
        return NULL;
    if (expired(s->slots[i].e, now)) {
        remove_at(s, i);
        return NULL;
    }
    return s->slots[i].e;
}

/* Sets key to value and expire_at, as a journal record says: deleted when value is 0 or
 * expire_at has passed. Returns -1 when out of memory. */
static int
put(struct budget_mem *s, const char *key, size_t klen, int64_t value, uint64_t expire_at,
    uint64_t now)
{
    uint64_t hash = hash_key(s, key, klen);
    struct entry *e = lookup(s, hash, key, klen, now);
    if (value == 0 || (expire_at && expire_at <= now)) {
        if (e)
            remove_entry(s, hash, e);
        return 0;
    }
    if (!e) {
        e = new_entry(key, klen);
        if (!e || make_room(s, 1, now) < 0) {
            free(e);
            return -1;
        }
        place(s, hash, e);
    }
    set_entry(s, e, value, expire_at);
    return 0;
}

/* ---- operations ---- */

static int64_t
saturate(__int128 v)
{
    if (v > INT64_MAX)
        return INT64_MAX;
    if (v < INT64_MIN)
        return INT64_MIN;
    return (int64_t)v;
}

/* cur + prev * ppm / 1e6 rounded up (toward plus infinity, so that a rolling limit never admits
 * more than it allows), saturated. */
static int64_t
counter_value(const struct ref *cur, const struct ref *prev, uint32_t ppm)
{
    __int128 v = cur->val;
    if (prev) {
        __int128 p = (__int128)prev->val * ppm;
        __int128 q = p / PPM;
        if (p % PPM > 0)
            q++;
        v += q;
    }
    return saturate(v);
}

/* The value of the counter whose keys are refs[cur] and refs[prev] (SIZE_MAX: none). */
static int64_t
value_of(const struct ref *refs, size_t cur, size_t prev, uint32_t ppm)
{
    return counter_value(&refs[cur], prev == SIZE_MAX ? NULL : &refs[prev], ppm);
}

/* The working-set index of key, which is looked up in the table on its first use. */
static size_t
ref_of(struct budget_mem *s, struct ref *refs, size_t *nrefs, const char *key, size_t klen,
       uint64_t now)
{
    uint64_t hash = hash_key(s, key, klen);
    for (size_t i = 0; i < *nrefs; i++)
        if (refs[i].hash == hash && refs[i].klen == klen && !memcmp(refs[i].key, key, klen))
            return i;
    struct ref *r = &refs[*nrefs];
    r->key = key;
    r->klen = klen;
    r->hash = hash;
    r->e = lookup(s, hash, key, klen, now);
    r->val0 = r->val = r->e ? r->e->value : 0;
    r->exp0 = r->exp = r->e ? r->e->expire_at : 0;
    r->written = false;
    return (*nrefs)++;
}

/* A write of the working set: a value of 0 or an expiry already passed leave no key. */
static void
ref_write(struct ref *r, int64_t val, uint64_t expire_at, uint64_t now)
{
    if (val == 0 || (expire_at && expire_at <= now)) {
        val = 0;
        expire_at = 0;
    }
    r->val = val;
    r->exp = expire_at;
    r->written = true;
}

static bool
ref_changed(const struct ref *r)
{
    return r->written && (r->val != r->val0 || r->exp != r->exp0);
}

/* Applies the working set to the table. The new entries are allocated first, so that -1 (out of
 * memory) leaves the table unchanged but for expired entries. */
static int
commit(struct budget_mem *s, const struct ref *refs, size_t nrefs, uint64_t now)
{
    struct entry *fresh[REFS_MAX];
    size_t nfresh = 0;
    for (size_t i = 0; i < nrefs; i++) {
        if (!ref_changed(&refs[i]) || refs[i].e || !refs[i].val)
            continue;
        fresh[nfresh] = new_entry(refs[i].key, refs[i].klen);
        if (!fresh[nfresh])
            goto oom;
        nfresh++;
    }
    /* The entries refs hold are live at now, so the purge in make_room leaves them. */
    if (nfresh && make_room(s, nfresh, now) < 0)
        goto oom;
    for (size_t i = 0, k = 0; i < nrefs; i++) {
        const struct ref *r = &refs[i];
        if (!ref_changed(r))
            continue;
        if (!r->val) {
            if (r->e)
                remove_entry(s, r->hash, r->e);
            continue;
        }
        struct entry *e = r->e;
        if (!e) {
            e = fresh[k++];
            place(s, r->hash, e);
        }
        set_entry(s, e, r->val, r->exp);
    }
    return 0;
oom:
    while (nfresh)
        free(fresh[--nfresh]);
    return -1;
}

/* ---- journal ---- */

static bool
plain(unsigned char b)
{
    return b > 0x20 && b < 0x7f && b != '%';
}

static size_t
put_u64(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

static size_t
put_i64(char *p, int64_t v)
{
    if (v >= 0)
        return put_u64(p, (uint64_t)v);
    *p = '-';
    return 1 + put_u64(p + 1, (uint64_t)0 - (uint64_t)v);
}

/* Writes " <expire_at> <value> <escaped key>" at p (at most RECORD_MAX bytes); returns its
 * length. */
static size_t
put_record(char *p, uint64_t expire_at, int64_t value, const char *key, size_t klen)
{
    static const char hex[] = "0123456789ABCDEF";
    char *q = p;
    *q++ = ' ';
    q += put_u64(q, expire_at);
    *q++ = ' ';
    q += put_i64(q, value);
    *q++ = ' ';
    for (size_t i = 0; i < klen; i++) {
        unsigned char b = (unsigned char)key[i];
        if (plain(b)) {
            *q++ = (char)b;
        } else {
            *q++ = '%';
            *q++ = hex[b >> 4];
            *q++ = hex[b & 15];
        }
    }
    return (size_t)(q - p);
}

static int
write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w == 0)
            errno = EIO;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Rewrites the journal from memory (see the top of the file) and continues appending to the new
 * file. Returns 0; -1 when the journal is as before (message in err); -2 when the new file is in
 * place but its directory could not be synced (the rename might not survive a power loss). */
static int
compact(struct budget_mem *s, uint64_t now, char *err, size_t errlen)
{
    int fd = open(s->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        fail(err, errlen, "%s: %s", s->tmp_path, strerror(errno));
        return -1;
    }
    uint64_t total = 0;
    size_t len = HEADER_LEN;
    memcpy(s->buf, HEADER, HEADER_LEN);
    for (size_t i = 0; i < s->cap; i++) {
        const struct entry *e = s->slots[i].e;
        if (!e || expired(e, now))
            continue;
        if (JLINE_MAX - len < 3 + RECORD_MAX + 1) {
            if (write_all(fd, s->buf, len) < 0)
                goto fail_write;
            total += len;
            len = 0;
        }
        memcpy(s->buf + len, "S 1", 3);
        len += 3;
        len += put_record(s->buf + len, e->expire_at, e->value, e->key, e->klen);
        s->buf[len++] = '\n';
    }
    if (write_all(fd, s->buf, len) < 0)
        goto fail_write;
    total += len;
    if (fsync(fd) != 0) {
        fail(err, errlen, "%s: fsync: %s", s->tmp_path, strerror(errno));
        goto out_fail;
    }
    if (rename(s->tmp_path, s->path) != 0) {
        fail(err, errlen, "rename %s to %s: %s", s->tmp_path, s->path, strerror(errno));
        goto out_fail;
    }
    if (s->fd >= 0)
        close(s->fd);
    s->fd = fd;
    s->size = s->base_size = total;
    int dfd = open(s->dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    /* EINVAL: a file system that cannot sync a directory; nothing more to do there. */
    if (dfd < 0 || (fsync(dfd) != 0 && errno != EINVAL)) {
        fail(err, errlen, "%s: fsync: %s", s->dir_path, strerror(errno));
        if (dfd >= 0)
            close(dfd);
        return -2;
    }
    close(dfd);
    return 0;
fail_write:
    fail(err, errlen, "%s: write: %s", s->tmp_path, strerror(errno));
out_fail:
    close(fd);
    unlink(s->tmp_path);
    return -1;
}

/* Compacts when the journal is stale or has grown enough, unless a failed try was too recent. */
static void
maybe_compact(struct budget_mem *s, uint64_t now)
{
    uint64_t limit = COMPACT_RATIO * s->base_size;
    if (limit < COMPACT_MIN)
        limit = COMPACT_MIN;
    if (!s->stale && !s->torn && s->size <= limit)
        return;
    /* A wall clock that went back by more than RETRY_MS must not stop the retries for long. */
    if (now < s->retry_at && s->retry_at - now <= RETRY_MS)
        return;
    int rc = compact(s, now, NULL, 0);
    if (rc == -1) {
        atomic_fetch_add(&s->journal_errors, 1);
        s->retry_at = now + RETRY_MS;
        return;
    }
    if (rc == -2)
        atomic_fetch_add(&s->journal_errors, 1);
    s->stale = false;
    s->torn = false;
}

/* Appends one line with the changed keys of the working set (at least one). */
static void
journal_write(struct budget_mem *s, const struct ref *refs, size_t nrefs, uint64_t now)
{
    size_t changed = 0;
    for (size_t i = 0; i < nrefs; i++)
        changed += ref_changed(&refs[i]);
    char *p = s->buf;
    *p++ = 'S';
    *p++ = ' ';
    p += put_u64(p, changed);
    for (size_t i = 0; i < nrefs; i++)
        if (ref_changed(&refs[i]))
            p += put_record(p, refs[i].exp, refs[i].val, refs[i].key, refs[i].klen);
    *p++ = '\n';
    size_t len = (size_t)(p - s->buf);
    if (!s->torn) {
        ssize_t w = write(s->fd, s->buf, len);
        if (w == (ssize_t)len) {
            s->size += len;
        } else {
            atomic_fetch_add(&s->journal_errors, 1);
            s->stale = true;
            if (w > 0 && ftruncate(s->fd, (off_t)s->size) != 0)
                s->torn = true;
        }
    }
    maybe_compact(s, now);
}

/* With the lock held, for an fdatasync outside it: a duplicate of the journal's descriptor, or
 * -1 when there is none (then the fdatasync was done here). */
static int
sync_fd_locked(struct budget_mem *s)
{
    int fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0 && fdatasync(s->fd) != 0) {
        atomic_fetch_add(&s->journal_errors, 1);
        s->stale = true;
    }
    return fd;
}

/* fdatasyncs and closes fd from sync_fd_locked (no-op for -1); called without the lock. */
static void
sync_fd(struct budget_mem *s, int fd)
{
    if (fd < 0)
        return;
    if (fdatasync(fd) != 0) {
        /* The kernel may have dropped the dirty pages: the next compaction rewrites them. */
        atomic_fetch_add(&s->journal_errors, 1);
        pthread_mutex_lock(&s->lock);
        s->stale = true;
        pthread_mutex_unlock(&s->lock);
    }
    close(fd);
}

static void *
flusher_main(void *arg)
{
    struct budget_mem *s = arg;
    pthread_mutex_lock(&s->flush_lock);
    while (!s->stop) {
        struct timespec at;
        clock_gettime(CLOCK_MONOTONIC, &at);
        at.tv_sec += s->fsync_ms / 1000;
        at.tv_nsec += (long)(s->fsync_ms % 1000) * 1000000;
        if (at.tv_nsec >= 1000000000) {
            at.tv_sec++;
            at.tv_nsec -= 1000000000;
        }
        int rc;
        do {
            rc = pthread_cond_timedwait(&s->flush_cond, &s->flush_lock, &at);
        } while (!s->stop && rc == 0);
        if (s->stop)
            break;
        pthread_mutex_unlock(&s->flush_lock);
        if (atomic_exchange(&s->dirty, false)) {
            pthread_mutex_lock(&s->lock);
            int fd = sync_fd_locked(s);
            pthread_mutex_unlock(&s->lock);
            sync_fd(s, fd);
        }
        pthread_mutex_lock(&s->flush_lock);
    }
    pthread_mutex_unlock(&s->flush_lock);
    return NULL;
}

static bool
parse_u64(const char **pp, const char *end, uint64_t *out)
{
    const char *p = *pp;
    uint64_t v = 0;
    if (p == end || *p < '0' || *p > '9')
        return false;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (p < end && *p != ' ')
        return false; /* a field ends at a space or the end of the line */
    *pp = p;
    *out = v;
    return true;
}

static bool
parse_i64(const char **pp, const char *end, int64_t *out)
{
    const char *p = *pp;
    bool neg = p < end && *p == '-';
    uint64_t m;
    p += neg;
    if (!parse_u64(&p, end, &m) || m > (uint64_t)INT64_MAX + neg)
        return false;
    if (!neg)
        *out = (int64_t)m;
    else
        *out = m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)m;
    *pp = p;
    return true;
}

static bool
space(const char **pp, const char *end)
{
    if (*pp == end || **pp != ' ')
        return false;
    (*pp)++;
    return true;
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decodes an escaped key up to the next space or the end into key (GW_BUDGET_KEY_MAX + 1 bytes).
 * Returns NULL, or what is wrong. */
static const char *
parse_key(const char **pp, const char *end, char *key, size_t *klen)
{
    const char *p = *pp;
    size_t n = 0;
    while (p < end && *p != ' ') {
        unsigned char b = (unsigned char)*p;
        if (b == '%') {
            int hi = end - p > 2 ? hexval(p[1]) : -1, lo = hi >= 0 ? hexval(p[2]) : -1;
            if (lo < 0)
                return "bad %XX escape in key";
            b = (unsigned char)(hi << 4 | lo);
            if (!b)
                return "NUL byte in key";
            p += 3;
        } else if (plain(b)) {
            p++;
        } else {
            return "unescaped control, space or non-ASCII byte in key";
        }
        if (n == GW_BUDGET_KEY_MAX)
            return "key longer than GW_BUDGET_KEY_MAX bytes";
        key[n++] = (char)b;
    }
    key[n] = '\0';
    *klen = n;
    *pp = p;
    return NULL;
}

/* Replays one line (without its '\n'). Returns NULL, or what is wrong with it. */
static const char *
replay_line(struct budget_mem *s, const char *p, size_t len, uint64_t now)
{
    const char *end = p + len;
    uint64_t n;
    if (len < 2 || p[0] != 'S' || p[1] != ' ')
        return "expected a line \"S <n> <records>\"";
    p += 2;
    if (!parse_u64(&p, end, &n) || n == 0)
        return "bad record count";
    for (uint64_t i = 0; i < n; i++) {
        uint64_t expire_at;
        int64_t value;
        char key[GW_BUDGET_KEY_MAX + 1];
        size_t klen;
        if (p == end)
            return "fewer records than its count";
        if (!space(&p, end) || !parse_u64(&p, end, &expire_at))
            return "bad expire_at_ms";
        if (!space(&p, end) || !parse_i64(&p, end, &value))
            return "bad value";
        if (!space(&p, end))
            return "missing key";
        const char *why = parse_key(&p, end, key, &klen);
        if (why)
            return why;
        if (put(s, key, klen, value, expire_at, now) < 0)
            return "out of memory";
    }
    if (p != end)
        return "more records than its count, or trailing bytes";
    return NULL;
}

/* Opens (creating) the journal and replays it into the empty table. */
static int
replay(struct budget_mem *s, uint64_t now, char *err, size_t errlen)
{
    int fd = open(s->path, O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        fail(err, errlen, "%s: cannot open budget journal: %s%s", s->path, strerror(e),
             e == ENOENT ? " (its directory must exist)" : "");
        return -1;
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        fail(err, errlen, "%s: %s", s->path, strerror(errno));
        close(fd);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t len;
    int rc = 0;
    errno = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (line[len - 1] != '\n')
            break; /* torn by a crash in the middle of its write: the change never happened */
        len--;
        if (lineno == 1) {
            if ((size_t)len != HEADER_LEN - 1 || memcmp(line, HEADER, HEADER_LEN - 1) != 0) {
                fail(err, errlen, "%s:1: not a budget journal (the first line is not \"%.*s\")",
                     s->path, (int)(HEADER_LEN - 1), HEADER);
                rc = -1;
                break;
            }
            continue;
        }
        const char *why = replay_line(s, line, (size_t)len, now);
        if (why) {
            fail(err, errlen, "%s:%zu: %s", s->path, lineno, why);
            rc = -1;
            break;
        }
    }
    if (!rc && ferror(f)) {
        fail(err, errlen, "%s: read: %s", s->path, strerror(errno));
        rc = -1;
    }
    free(line);
    fclose(f);
    return rc;
}

/* ---- the backend ---- */

static void
execute(struct budget_mem *s, enum gw_budget_kind kind, const struct gw_budget_counter *c, size_t n,
        struct gw_budget_result *res)
{
    memset(res, 0, sizeof(*res));
    if (n == 0 || n > GW_BUDGET_MAX_COUNTERS) {
        gw_budget_unavailable(res, "invalid number of counters");
        return;
    }
    if (kind != GW_BUDGET_RESERVE && kind != GW_BUDGET_ADD && kind != GW_BUDGET_READ &&
        kind != GW_BUDGET_SET) {
        gw_budget_unavailable(res, "invalid operation");
        return;
    }
    size_t curlen[GW_BUDGET_MAX_COUNTERS], prevlen[GW_BUDGET_MAX_COUNTERS];
    for (size_t i = 0; i < n; i++) {
        curlen[i] = strnlen(c[i].cur, sizeof(c[i].cur));
        prevlen[i] = strnlen(c[i].prev, sizeof(c[i].prev));
        if (curlen[i] > GW_BUDGET_KEY_MAX || prevlen[i] > GW_BUDGET_KEY_MAX) {
            gw_budget_unavailable(res, "key longer than GW_BUDGET_KEY_MAX");
            return;
        }
        if (c[i].prev_weight_ppm > PPM) {
            gw_budget_unavailable(res, "prev_weight_ppm above 1000000");
            return;
        }
    }

    struct ref refs[REFS_MAX];
    size_t nrefs = 0, cur[GW_BUDGET_MAX_COUNTERS], prev[GW_BUDGET_MAX_COUNTERS];
    int sync_with = -1;
    pthread_mutex_lock(&s->lock);
    uint64_t now = gw_budget_clock();
    if (kind != GW_BUDGET_READ)
        sweep(s, now);
    for (size_t i = 0; i < n; i++) {
        cur[i] = ref_of(s, refs, &nrefs, c[i].cur, curlen[i], now);
        prev[i] = prevlen[i] ? ref_of(s, refs, &nrefs, c[i].prev, prevlen[i], now) : SIZE_MAX;
    }

    switch (kind) {
    case GW_BUDGET_RESERVE:
        for (size_t i = 0; i < n; i++) {
            if (c[i].limit <= 0 || c[i].amount <= 0)
                continue;
            if ((__int128)value_of(refs, cur[i], prev[i], c[i].prev_weight_ppm) + c[i].amount >
                c[i].limit) {
                res->status = GW_BUDGET_DENIED;
                res->denied = i;
                break;
            }
        }
        if (res->status == GW_BUDGET_DENIED)
            break;
        for (size_t i = 0; i < n; i++) {
            struct ref *r = &refs[cur[i]];
            ref_write(r, saturate((__int128)r->val + c[i].amount), c[i].expire_at_ms, now);
        }
        break;
    case GW_BUDGET_ADD:
        for (size_t i = 0; i < n; i++) {
            struct ref *r = &refs[cur[i]];
            int64_t v = saturate((__int128)r->val + c[i].amount);
            ref_write(r, v < 0 ? 0 : v, c[i].expire_at_ms, now);
        }
        break;
    case GW_BUDGET_SET:
        for (size_t i = 0; i < n; i++) {
            ref_write(&refs[cur[i]], c[i].amount, c[i].expire_at_ms, now);
            if (prev[i] != SIZE_MAX)
                ref_write(&refs[prev[i]], 0, 0, now);
        }
        break;
    case GW_BUDGET_READ:
        break;
    }
    for (size_t i = 0; i < n; i++)
        res->value[i] = value_of(refs, cur[i], prev[i], c[i].prev_weight_ppm);

    bool changed = false;
    for (size_t i = 0; i < nrefs && res->status == GW_BUDGET_OK; i++)
        changed |= ref_changed(&refs[i]);
    if (changed && commit(s, refs, nrefs, now) < 0) {
        gw_budget_unavailable(res, "out of memory");
        changed = false;
    }
    if (changed && s->fd >= 0) {
        journal_write(s, refs, nrefs, now);
        if (s->fsync_mode == 1)
            sync_with = sync_fd_locked(s);
        else if (s->fsync_mode == 2)
            atomic_store(&s->dirty, true);
    }
    pthread_mutex_unlock(&s->lock);
    sync_fd(s, sync_with);
}

static int
mem_run(struct gw_budget_store *gs, struct event_base *base, enum gw_budget_kind kind,
        const struct gw_budget_counter *c, size_t n, struct gw_budget_result *res, gw_budget_cb cb,
        void *arg, struct gw_budget_op **op)
{
    (void)base;
    (void)cb;
    (void)arg;
    if (op)
        *op = NULL;
    execute((struct budget_mem *)gs, kind, c, n, res);
    return GW_BUDGET_DONE;
}

static int
mem_run_sync(struct gw_budget_store *gs, enum gw_budget_kind kind,
             const struct gw_budget_counter *c, size_t n, struct gw_budget_result *res)
{
    execute((struct budget_mem *)gs, kind, c, n, res);
    return 0;
}

/* Never called: this backend hands out no pending operation. */
static void
mem_cancel(struct gw_budget_op *op)
{
    (void)op;
}

static void
mem_detach(struct gw_budget_store *gs, struct event_base *base)
{
    (void)gs;
    (void)base;
}

static void
mem_free(struct gw_budget_store *gs)
{
    struct budget_mem *s = (struct budget_mem *)gs;
    if (s->flusher_started) {
        pthread_mutex_lock(&s->flush_lock);
        s->stop = true;
        pthread_cond_signal(&s->flush_cond);
        pthread_mutex_unlock(&s->flush_lock);
        pthread_join(s->flusher, NULL);
    }
    if (s->fd >= 0) {
        /* Last chance to get what a failed write missed onto the disk. */
        if (s->stale || s->torn)
            compact(s, gw_budget_clock(), NULL, 0);
        fdatasync(s->fd);
        close(s->fd);
    }
    for (size_t i = 0; i < s->cap; i++)
        free(s->slots[i].e);
    free(s->slots);
    free(s->buf);
    free(s->path);
    free(s->tmp_path);
    free(s->dir_path);
    pthread_cond_destroy(&s->flush_cond);
    pthread_mutex_destroy(&s->flush_lock);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static const struct gw_budget_ops mem_ops = {
    .run = mem_run,
    .run_sync = mem_run_sync,
    .cancel = mem_cancel,
    .detach = mem_detach,
    .free = mem_free,
};

/* The directory part of path ("." when none), malloc'ed. */
static char *
dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* Sets up the journal of s: replay, compaction, flusher. */
static int
journal_open(struct budget_mem *s, const char *journal, char *err, size_t errlen)
{
    size_t len = strlen(journal);
    s->path = strdup(journal);
    s->tmp_path = malloc(len + sizeof(".tmp"));
    s->dir_path = dir_of(journal);
    s->buf = malloc(JLINE_MAX);
    if (!s->path || !s->tmp_path || !s->dir_path || !s->buf) {
        fail(err, errlen, "out of memory");
        return -1;
    }
    memcpy(s->tmp_path, journal, len);
    memcpy(s->tmp_path + len, ".tmp", sizeof(".tmp"));
    uint64_t now = gw_budget_clock();
    if (replay(s, now, err, errlen) < 0)
        return -1;
    int rc = compact(s, now, err, errlen);
    if (rc == -1)
        return -1;
    if (rc == -2)
        atomic_fetch_add(&s->journal_errors, 1);
    if (s->fsync_mode == 2) {
        if (pthread_create(&s->flusher, NULL, flusher_main, s) != 0) {
            fail(err, errlen, "cannot start the budget journal's fsync thread");
            return -1;
        }
        s->flusher_started = true;
    }
    return 0;
}

struct gw_budget_store *
gw_budget_mem_new(const char *journal, int fsync_mode, uint32_t fsync_ms, char *err, size_t errlen)
{
    fail(err, errlen, "%s", "");
    if (journal && !*journal) {
        fail(err, errlen, "empty budget journal path");
        return NULL;
    }
    if (journal && (fsync_mode < 0 || fsync_mode > 2)) {
        fail(err, errlen, "budget journal fsync must be 0, 1 or 2, not %d", fsync_mode);
        return NULL;
    }
    if (journal && fsync_mode == 2 && fsync_ms == 0) {
        fail(err, errlen, "budget journal fsync 2 needs an interval (fsync_ms) above 0");
        return NULL;
    }
    struct budget_mem *s = calloc(1, sizeof(*s));
    if (!s) {
        fail(err, errlen, "out of memory");
        return NULL;
    }
    s->base.ops = &mem_ops;
    s->fd = -1;
    s->min_expire = NEVER;
    s->fsync_mode = journal ? fsync_mode : 0;
    s->fsync_ms = fsync_ms;
    atomic_init(&s->journal_errors, 0);
    atomic_init(&s->dirty, false);
    pthread_condattr_t ca;
    bool cond_ok = false, flush_lock_ok = false;
    if (pthread_condattr_init(&ca) == 0) {
        cond_ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
                  pthread_cond_init(&s->flush_cond, &ca) == 0;
        pthread_condattr_destroy(&ca);
    }
    flush_lock_ok = pthread_mutex_init(&s->flush_lock, NULL) == 0;
    if (!cond_ok || !flush_lock_ok || pthread_mutex_init(&s->lock, NULL) != 0) {
        if (cond_ok)
            pthread_cond_destroy(&s->flush_cond);
        if (flush_lock_ok)
            pthread_mutex_destroy(&s->flush_lock);
        free(s);
        fail(err, errlen, "cannot initialise the budget store's locks");
        return NULL;
    }
    uint64_t k[2];
    if (getrandom(k, sizeof(k), GRND_NONBLOCK) != sizeof(k)) {
        /* Only before the kernel's pool is ready: a weak key still spreads ordinary keys. */
        k[0] = gw_budget_clock() * 0x9E3779B97F4A7C15ull;
        k[1] = (uint64_t)(uintptr_t)s ^ 0xD1B54A32D192ED03ull;
    }
    s->k0 = k[0];
    s->k1 = k[1];
    if (journal && journal_open(s, journal, err, errlen) < 0) {
        mem_free(&s->base);
        return NULL;
    }
    return &s->base;
}
