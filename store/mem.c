/*
 * The in-memory backend of store/store.h: up to GW_STORE_SHARDS shards, each a linear-probing
 * hash table under its own mutex. Deletion shifts the following entries back (no tombstones), so
 * a probe always ends at the first empty slot, and a table is never more than half full.
 */
#include "store/store.h"

#include "gateway/log.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* Expiry of a key without a TTL: later than any real time, so "expires soonest" needs no case. */
#define NEVER UINT64_MAX
/* Slots the incremental sweep examines on each write to a shard. */
#define SWEEP_STEP 4
/* First table size of a shard; it doubles as keys arrive, up to twice the shard's share. */
#define CAP_MIN 16

/* A NULL argument is a bug in the caller: abort in debug builds, fail the call in release ones. */
#define CHECK_ARGS(bad)                                                                            \
    do {                                                                                           \
        GW_BUG_ON(bad);                                                                            \
        if (bad)                                                                                   \
            return -1;                                                                             \
    } while (0)

uint64_t (*gw_store_clock)(void);

struct entry {
    int64_t value;
    uint64_t expires; /* absolute ms, NEVER for no expiry; expired when now >= expires */
    uint64_t seq;     /* insertion order in the shard: the older of two equal victims goes */
    uint8_t klen;
    char key[]; /* klen bytes and a NUL */
};

struct slot {
    uint64_t hash;   /* of e->key; kept here so that a probe rarely touches another entry */
    struct entry *e; /* NULL: empty */
};

struct shard {
    alignas(64) pthread_mutex_t lock; /* own cache line: the shards' locks do not false-share */
    struct slot *slots;
    size_t cap;     /* slots, a power of two; 0 until the first key */
    size_t cap_max; /* smallest power of two >= 2 * quota */
    size_t n;       /* entries, expired ones not yet removed included */
    size_t quota;   /* most entries: this shard's share of max_keys */
    size_t sweep;   /* next slot the incremental sweep examines */
    /* No entry expires before this time, so a full purge before then would find nothing. Lowered
     * when an entry gets an earlier expiry, recomputed exactly by each purge. */
    uint64_t min_expires;
    uint64_t seq;
};

struct gw_store {
    struct shard shards[GW_STORE_SHARDS];
    size_t nshards;
    uint64_t k0, k1; /* SipHash key */
};

static uint64_t
now_ms(void)
{
    if (gw_store_clock)
        return gw_store_clock();
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t
expiry(uint64_t now, uint64_t ttl_ms)
{
    if (!ttl_ms || ttl_ms >= NEVER - now)
        return NEVER;
    return now + ttl_ms;
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

/* SipHash-1-3 (one compression round, three finalisation rounds, as Redis and CPython use for
 * their tables): keys may be chosen by clients, and a keyed hash keeps their probes short. */
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

/* Hashes key into *hash and returns its length, or -1 when it is longer than GW_STORE_KEY_MAX. */
static int
hash_key(const struct gw_store *s, const char *key, uint64_t *hash)
{
    size_t len = strnlen(key, GW_STORE_KEY_MAX + 1);
    if (len > GW_STORE_KEY_MAX)
        return -1;
    *hash = siphash13(s->k0, s->k1, (const unsigned char *)key, len);
    return (int)len;
}

/* The shard takes the high half of the hash, the slot in it the low bits. */
static struct shard *
shard_of(struct gw_store *s, uint64_t hash)
{
    return &s->shards[(hash >> 32) % s->nshards];
}

/* The slot holding key, or SIZE_MAX. */
static size_t
find(const struct shard *sh, uint64_t hash, const char *key, size_t klen)
{
    if (!sh->cap)
        return SIZE_MAX;
    size_t mask = sh->cap - 1;
    for (size_t i = hash & mask; sh->slots[i].e; i = (i + 1) & mask) {
        const struct entry *e = sh->slots[i].e;
        if (sh->slots[i].hash == hash && e->klen == klen && !memcmp(e->key, key, klen))
            return i;
    }
    return SIZE_MAX;
}

/* Frees the entry at slot i and shifts back the entries after it that probed past i, so that
 * every entry stays reachable from its home slot without a gap. */
static void
remove_at(struct shard *sh, size_t i)
{
    size_t mask = sh->cap - 1;
    free(sh->slots[i].e);
    sh->n--;
    for (size_t j = (i + 1) & mask; sh->slots[j].e; j = (j + 1) & mask) {
        size_t home = sh->slots[j].hash & mask;
        /* The entry at j may fill the hole at i when its home is not in (i, j]. */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            sh->slots[i] = sh->slots[j];
            i = j;
        }
    }
    sh->slots[i].e = NULL;
    sh->slots[i].hash = 0;
}

/* Removes every expired entry of sh, unless min_expires says there is none. */
static void
purge(struct shard *sh, uint64_t now)
{
    if (now < sh->min_expires)
        return;
    uint64_t min = NEVER;
    /* remove_at can shift a later entry into slot i: look at i again before moving on. */
    for (size_t i = 0; i < sh->cap;) {
        const struct entry *e = sh->slots[i].e;
        if (e && e->expires <= now) {
            remove_at(sh, i);
            continue;
        }
        if (e && e->expires < min)
            min = e->expires;
        i++;
    }
    sh->min_expires = min;
}

/* Examines SWEEP_STEP slots from the sweep position and removes the expired entries there, so
 * that keys nobody touches again leave even when their shard never fills. */
static void
sweep(struct shard *sh, uint64_t now)
{
    if (!sh->cap || now < sh->min_expires)
        return;
    size_t mask = sh->cap - 1;
    for (int k = 0; k < SWEEP_STEP; k++) {
        const struct entry *e = sh->slots[sh->sweep].e;
        if (e && e->expires <= now)
            remove_at(sh, sh->sweep);
        else
            sh->sweep = (sh->sweep + 1) & mask;
    }
}

/* Evicts one live entry: the soonest to expire, then the oldest, among GW_STORE_EVICT_SAMPLE
 * entries from slot start on. Called only when the shard is full, so it finds one. */
static void
evict(struct shard *sh, size_t start)
{
    size_t mask = sh->cap - 1, victim = SIZE_MAX;
    size_t seen = 0;
    for (size_t k = 0, i = start & mask; k < sh->cap && seen < GW_STORE_EVICT_SAMPLE;
         k++, i = (i + 1) & mask) {
        const struct entry *e = sh->slots[i].e;
        if (!e)
            continue;
        seen++;
        const struct entry *v = victim == SIZE_MAX ? NULL : sh->slots[victim].e;
        if (!v || e->expires < v->expires || (e->expires == v->expires && e->seq < v->seq))
            victim = i;
    }
    GW_BUG_ON(victim == SIZE_MAX);
    if (victim != SIZE_MAX)
        remove_at(sh, victim);
}

/* Doubles the table of sh until it has room for one more entry at half load. */
static int
grow(struct shard *sh)
{
    size_t cap = sh->cap ? sh->cap : CAP_MIN;
    if (cap > sh->cap_max)
        cap = sh->cap_max;
    while ((sh->n + 1) * 2 > cap && cap < sh->cap_max)
        cap *= 2;
    if (cap == sh->cap)
        return 0;
    struct slot *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return -1;
    size_t mask = cap - 1;
    for (size_t i = 0; i < sh->cap; i++) {
        if (!sh->slots[i].e)
            continue;
        size_t j = sh->slots[i].hash & mask;
        while (slots[j].e)
            j = (j + 1) & mask;
        slots[j] = sh->slots[i];
    }
    free(sh->slots);
    sh->slots = slots;
    sh->cap = cap;
    sh->sweep &= mask;
    return 0;
}

/* Adds a new key to sh (which does not hold it) with value and expires, making room first.
 * Returns the entry, or NULL when out of memory (sh unchanged but for expired entries). */
static struct entry *
insert(struct shard *sh, uint64_t hash, const char *key, size_t klen, int64_t value,
       uint64_t expires, uint64_t now)
{
    struct entry *e = malloc(sizeof(*e) + klen + 1);
    if (!e)
        return NULL;
    if (sh->n >= sh->quota)
        purge(sh, now);
    if (sh->n >= sh->quota)
        evict(sh, hash);
    if (grow(sh) < 0) {
        free(e);
        return NULL;
    }
    GW_BUG_ON(sh->n >= sh->quota || (sh->n + 1) * 2 > sh->cap);
    e->value = value;
    e->expires = expires;
    e->seq = sh->seq++;
    e->klen = (uint8_t)klen;
    memcpy(e->key, key, klen);
    e->key[klen] = '\0';
    size_t mask = sh->cap - 1, i = hash & mask;
    while (sh->slots[i].e)
        i = (i + 1) & mask;
    sh->slots[i].hash = hash;
    sh->slots[i].e = e;
    sh->n++;
    if (expires < sh->min_expires)
        sh->min_expires = expires;
    return e;
}

/* The live entry for key in sh, or NULL; an expired one is removed on the way. */
static struct entry *
lookup(struct shard *sh, uint64_t hash, const char *key, size_t klen, uint64_t now)
{
    size_t i = find(sh, hash, key, klen);
    if (i == SIZE_MAX)
        return NULL;
    if (sh->slots[i].e->expires <= now) {
        remove_at(sh, i);
        return NULL;
    }
    return sh->slots[i].e;
}

static size_t
pow2_at_least(size_t n)
{
    size_t p = 1;
    while (p < n)
        p *= 2;
    return p;
}

struct gw_store *
gw_store_mem_new(size_t max_keys)
{
    if (!max_keys)
        max_keys = GW_STORE_DEFAULT_KEYS;
    if (max_keys > SIZE_MAX / 4 / sizeof(struct slot))
        return NULL;
    struct gw_store *s = aligned_alloc(alignof(struct gw_store), sizeof(*s));
    if (!s)
        return NULL;
    memset(s, 0, sizeof(*s));
    s->nshards = max_keys / GW_STORE_SHARD_MIN;
    if (s->nshards < 1)
        s->nshards = 1;
    if (s->nshards > GW_STORE_SHARDS)
        s->nshards = GW_STORE_SHARDS;
    uint64_t k[2];
    if (getrandom(k, sizeof(k), GRND_NONBLOCK) != sizeof(k)) {
        /* Only before the kernel's pool is ready: a weak key still spreads ordinary keys. */
        k[0] = now_ms() * 0x9E3779B97F4A7C15ull;
        k[1] = (uint64_t)(uintptr_t)s ^ 0xD1B54A32D192ED03ull;
    }
    s->k0 = k[0];
    s->k1 = k[1];
    for (size_t i = 0; i < s->nshards; i++) {
        struct shard *sh = &s->shards[i];
        sh->quota = max_keys / s->nshards + (i < max_keys % s->nshards);
        sh->cap_max = pow2_at_least(2 * sh->quota);
        sh->min_expires = NEVER;
        if (pthread_mutex_init(&sh->lock, NULL) != 0) {
            s->nshards = i;
            gw_store_free(s);
            return NULL;
        }
    }
    return s;
}

void
gw_store_free(struct gw_store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nshards; i++) {
        struct shard *sh = &s->shards[i];
        for (size_t j = 0; j < sh->cap; j++)
            free(sh->slots[j].e);
        free(sh->slots);
        pthread_mutex_destroy(&sh->lock);
    }
    free(s);
}

/* Hashes key and locks its shard: the shard (unlock it when done), or NULL when the key is too
 * long. */
static struct shard *
lock_key(struct gw_store *s, const char *key, uint64_t *hash, int *klen)
{
    *klen = hash_key(s, key, hash);
    if (*klen < 0)
        return NULL;
    struct shard *sh = shard_of(s, *hash);
    pthread_mutex_lock(&sh->lock);
    return sh;
}

int
gw_store_incr(struct gw_store *s, const char *key, int64_t delta, uint64_t ttl_ms, int64_t *out)
{
    CHECK_ARGS(!s || !key || !out);
    *out = 0;
    uint64_t hash;
    int klen;
    struct shard *sh = lock_key(s, key, &hash, &klen);
    if (!sh)
        return -1;
    int rc = 0;
    int64_t sum;
    uint64_t now = now_ms();
    sweep(sh, now);
    struct entry *e = lookup(sh, hash, key, (size_t)klen, now);
    if (!e) {
        e = insert(sh, hash, key, (size_t)klen, delta, expiry(now, ttl_ms), now);
        if (e)
            *out = delta;
        else
            rc = -1;
    } else if (__builtin_add_overflow(e->value, delta, &sum)) {
        rc = -1; /* the key keeps its value, as with Redis INCRBY */
    } else {
        e->value = sum;
        if (e->expires == NEVER && ttl_ms) {
            e->expires = expiry(now, ttl_ms);
            if (e->expires < sh->min_expires)
                sh->min_expires = e->expires;
        }
        *out = e->value;
    }
    pthread_mutex_unlock(&sh->lock);
    return rc;
}

int
gw_store_get(struct gw_store *s, const char *key, int64_t *out, uint64_t *ttl_left_ms)
{
    CHECK_ARGS(!s || !key || !out);
    *out = 0;
    if (ttl_left_ms)
        *ttl_left_ms = 0;
    uint64_t hash;
    int klen;
    struct shard *sh = lock_key(s, key, &hash, &klen);
    if (!sh)
        return -1;
    uint64_t now = now_ms();
    const struct entry *e = lookup(sh, hash, key, (size_t)klen, now);
    if (e) {
        *out = e->value;
        if (ttl_left_ms && e->expires != NEVER)
            *ttl_left_ms = e->expires - now;
    }
    pthread_mutex_unlock(&sh->lock);
    return e != NULL;
}

int
gw_store_set(struct gw_store *s, const char *key, int64_t value, uint64_t ttl_ms)
{
    CHECK_ARGS(!s || !key);
    uint64_t hash;
    int klen;
    struct shard *sh = lock_key(s, key, &hash, &klen);
    if (!sh)
        return -1;
    int rc = 0;
    uint64_t now = now_ms();
    uint64_t expires = expiry(now, ttl_ms);
    sweep(sh, now);
    struct entry *e = lookup(sh, hash, key, (size_t)klen, now);
    if (!e) {
        if (!insert(sh, hash, key, (size_t)klen, value, expires, now))
            rc = -1;
    } else {
        e->value = value;
        e->expires = expires;
        if (expires < sh->min_expires)
            sh->min_expires = expires;
    }
    pthread_mutex_unlock(&sh->lock);
    return rc;
}

int
gw_store_take(struct gw_store *s, const char *key, int64_t *out)
{
    CHECK_ARGS(!s || !key || !out);
    *out = 0;
    uint64_t hash;
    int klen;
    struct shard *sh = lock_key(s, key, &hash, &klen);
    if (!sh)
        return -1;
    int rc = 0;
    struct entry *e = lookup(sh, hash, key, (size_t)klen, now_ms());
    if (e) {
        if (e->value > 0) {
            e->value--;
            rc = 1;
        }
        *out = e->value;
    }
    pthread_mutex_unlock(&sh->lock);
    return rc;
}

int
gw_store_del(struct gw_store *s, const char *key)
{
    CHECK_ARGS(!s || !key);
    uint64_t hash;
    int klen;
    struct shard *sh = lock_key(s, key, &hash, &klen);
    if (!sh)
        return -1;
    size_t i = find(sh, hash, key, (size_t)klen);
    if (i != SIZE_MAX)
        remove_at(sh, i);
    pthread_mutex_unlock(&sh->lock);
    return 0;
}

size_t
gw_store_count(struct gw_store *s)
{
    GW_BUG_ON(!s);
    if (!s)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < s->nshards; i++) {
        struct shard *sh = &s->shards[i];
        pthread_mutex_lock(&sh->lock);
        purge(sh, now_ms());
        n += sh->n;
        pthread_mutex_unlock(&sh->lock);
    }
    return n;
}
