/* Unit tests for store/mem.c: counters, fixed expiry windows on a fake clock, the watchlist take,
 * eviction at max_keys, and exact totals under concurrent updates. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <cmocka.h>

#include "store/store.h"

static uint64_t fake_now;

static uint64_t
fake_clock(void)
{
    return fake_now;
}

static int
setup(void **state)
{
    (void)state;
    fake_now = 1000;
    gw_store_clock = fake_clock;
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    gw_store_clock = NULL;
    return 0;
}

/* The value of key (asserting the return code matches), and its ttl_left in *ttl if not NULL. */
static int64_t
get(struct gw_store *s, const char *key, uint64_t *ttl)
{
    int64_t v = -12345;
    uint64_t t = 12345;
    int rc = gw_store_get(s, key, &v, &t);
    assert_true(rc == 0 || rc == 1);
    if (rc == 0) {
        assert_int_equal(v, 0);
        assert_int_equal(t, 0);
    }
    if (ttl)
        *ttl = t;
    return v;
}

static int64_t
incr(struct gw_store *s, const char *key, int64_t delta, uint64_t ttl_ms)
{
    int64_t v = -12345;
    assert_int_equal(gw_store_incr(s, key, delta, ttl_ms, &v), 0);
    return v;
}

static void
test_incr(void **state)
{
    (void)state;
    struct gw_store *s = gw_store_mem_new(0);
    assert_non_null(s);
    int64_t v;
    uint64_t ttl;
    assert_int_equal(gw_store_get(s, "a", &v, NULL), 0);
    assert_int_equal(incr(s, "a", 1, 0), 1);
    assert_int_equal(incr(s, "a", 5, 0), 6);
    assert_int_equal(incr(s, "a", -10, 0), -4);
    assert_int_equal(incr(s, "b", 0, 0), 0);
    assert_int_equal(incr(s, "", 2, 0), 2);
    assert_int_equal(gw_store_get(s, "a", &v, &ttl), 1);
    assert_int_equal(v, -4);
    assert_int_equal(ttl, 0);
    assert_int_equal(gw_store_get(s, "b", &v, NULL), 1);
    assert_int_equal(v, 0);
    assert_int_equal(get(s, "", NULL), 2);
    assert_int_equal(gw_store_count(s), 3);

    /* Overflow fails like Redis INCRBY and leaves the value alone. */
    assert_int_equal(gw_store_set(s, "big", INT64_MAX - 1, 0), 0);
    assert_int_equal(incr(s, "big", 1, 0), INT64_MAX);
    assert_int_equal(gw_store_incr(s, "big", 1, 0, &v), -1);
    assert_int_equal(v, 0);
    assert_int_equal(get(s, "big", NULL), INT64_MAX);
    assert_int_equal(gw_store_set(s, "small", INT64_MIN, 0), 0);
    assert_int_equal(gw_store_incr(s, "small", -1, 0, &v), -1);
    assert_int_equal(get(s, "small", NULL), INT64_MIN);
    gw_store_free(s);
    gw_store_free(NULL);
}

static void
test_incr_window(void **state)
{
    (void)state;
    struct gw_store *s = gw_store_mem_new(0);
    assert_non_null(s);
    uint64_t ttl;
    assert_int_equal(incr(s, "w", 1, 100), 1); /* window [1000, 1100) */
    fake_now = 1050;
    assert_int_equal(incr(s, "w", 1, 100), 2); /* not extended by a later incr */
    assert_int_equal(incr(s, "w", 1, 5000), 3);
    assert_int_equal(get(s, "w", &ttl), 3);
    assert_int_equal(ttl, 50);
    fake_now = 1099;
    assert_int_equal(get(s, "w", &ttl), 3);
    assert_int_equal(ttl, 1);
    assert_int_equal(gw_store_count(s), 1);
    fake_now = 1100;
    assert_int_equal(get(s, "w", &ttl), 0);
    assert_int_equal(gw_store_count(s), 0);
    assert_int_equal(incr(s, "w", 1, 100), 1); /* a new window from now */
    assert_int_equal(get(s, "w", &ttl), 1);
    assert_int_equal(ttl, 100);

    /* Expired but not yet removed: incr restarts from 0 rather than adding. */
    assert_int_equal(incr(s, "x", 7, 10), 7);
    fake_now += 10;
    assert_int_equal(incr(s, "x", 1, 0), 1);
    assert_int_equal(get(s, "x", &ttl), 1);
    assert_int_equal(ttl, 0);

    /* A key without expiry gets one from an incr with a TTL (PEXPIRE NX), then keeps it. */
    assert_int_equal(incr(s, "x", 1, 300), 2);
    fake_now += 100;
    assert_int_equal(incr(s, "x", 1, 300), 3);
    assert_int_equal(incr(s, "x", 1, 0), 4);
    get(s, "x", &ttl);
    assert_int_equal(ttl, 200);

    /* A TTL past the end of the clock saturates to no expiry. */
    assert_int_equal(incr(s, "forever", 1, UINT64_MAX), 1);
    get(s, "forever", &ttl);
    assert_int_equal(ttl, 0);
    gw_store_free(s);
}

static void
test_set_get(void **state)
{
    (void)state;
    struct gw_store *s = gw_store_mem_new(0);
    assert_non_null(s);
    uint64_t ttl;
    assert_int_equal(gw_store_set(s, "k", 7, 200), 0);
    assert_int_equal(get(s, "k", &ttl), 7);
    assert_int_equal(ttl, 200);
    fake_now += 50;
    assert_int_equal(get(s, "k", &ttl), 7);
    assert_int_equal(ttl, 150);
    assert_int_equal(gw_store_set(s, "k", 9, 200), 0); /* a fresh expiry */
    assert_int_equal(get(s, "k", &ttl), 9);
    assert_int_equal(ttl, 200);
    assert_int_equal(gw_store_set(s, "k", -3, 0), 0); /* and none */
    assert_int_equal(get(s, "k", &ttl), -3);
    assert_int_equal(ttl, 0);
    fake_now += 1000000;
    assert_int_equal(get(s, "k", NULL), -3);
    assert_int_equal(gw_store_set(s, "k", 1, 10), 0);
    fake_now += 10;
    int64_t v = 99;
    uint64_t t = 99;
    assert_int_equal(gw_store_get(s, "k", &v, &t), 0);
    assert_int_equal(v, 0);
    assert_int_equal(t, 0);
    assert_int_equal(gw_store_get(s, "nothing", &v, &t), 0);
    assert_int_equal(gw_store_count(s), 0);
    gw_store_free(s);
}

static void
test_take(void **state)
{
    (void)state;
    struct gw_store *s = gw_store_mem_new(0);
    assert_non_null(s);
    int64_t v;
    uint64_t ttl;
    assert_int_equal(gw_store_set(s, "watch", 3, 1000), 0);
    for (int64_t want = 2; want >= 0; want--) {
        fake_now += 100;
        assert_int_equal(gw_store_take(s, "watch", &v), 1);
        assert_int_equal(v, want);
    }
    assert_int_equal(gw_store_take(s, "watch", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(get(s, "watch", &ttl), 0);
    assert_int_equal(ttl, 700); /* the expiry set at 1000 is kept */
    assert_int_equal(gw_store_count(s), 1);

    assert_int_equal(gw_store_set(s, "watch", 2, 100), 0);
    assert_int_equal(gw_store_take(s, "watch", &v), 1);
    assert_int_equal(v, 1);
    fake_now += 100;
    v = 99;
    assert_int_equal(gw_store_take(s, "watch", &v), 0); /* expired */
    assert_int_equal(v, 0);
    assert_int_equal(gw_store_take(s, "missing", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(gw_store_get(s, "missing", &v, NULL), 0);

    assert_int_equal(gw_store_set(s, "neg", -2, 0), 0);
    assert_int_equal(gw_store_take(s, "neg", &v), 0);
    assert_int_equal(v, -2);
    assert_int_equal(get(s, "neg", NULL), -2);
    gw_store_free(s);
}

static void
test_del(void **state)
{
    (void)state;
    struct gw_store *s = gw_store_mem_new(0);
    assert_non_null(s);
    assert_int_equal(incr(s, "a", 5, 0), 5);
    assert_int_equal(incr(s, "b", 6, 100), 6);
    assert_int_equal(gw_store_count(s), 2);
    assert_int_equal(gw_store_del(s, "a"), 0);
    assert_int_equal(gw_store_del(s, "a"), 0);
    assert_int_equal(gw_store_del(s, "never"), 0);
    int64_t v;
    assert_int_equal(gw_store_get(s, "a", &v, NULL), 0);
    assert_int_equal(get(s, "b", NULL), 6);
    assert_int_equal(gw_store_count(s), 1);
    assert_int_equal(incr(s, "a", 1, 0), 1); /* starts again from 0 */
    fake_now += 100;
    assert_int_equal(gw_store_del(s, "b"), 0); /* expired: still 0 */
    assert_int_equal(gw_store_count(s), 1);
    gw_store_free(s);
}

static void
test_key_length(void **state)
{
    (void)state;
    struct gw_store *s = gw_store_mem_new(0);
    assert_non_null(s);
    char key[GW_STORE_KEY_MAX + 2];
    memset(key, 'k', GW_STORE_KEY_MAX + 1);
    key[GW_STORE_KEY_MAX + 1] = '\0';
    int64_t v = 99;
    uint64_t t = 99;
    assert_int_equal(gw_store_incr(s, key, 1, 0, &v), -1);
    assert_int_equal(v, 0);
    assert_int_equal(gw_store_set(s, key, 1, 0), -1);
    v = 99;
    assert_int_equal(gw_store_get(s, key, &v, &t), -1);
    assert_int_equal(v, 0);
    assert_int_equal(t, 0);
    v = 99;
    assert_int_equal(gw_store_take(s, key, &v), -1);
    assert_int_equal(v, 0);
    assert_int_equal(gw_store_del(s, key), -1);
    assert_int_equal(gw_store_count(s), 0);

    key[GW_STORE_KEY_MAX] = '\0'; /* the longest allowed, and one that differs in its last byte */
    assert_int_equal(incr(s, key, 1, 0), 1);
    key[GW_STORE_KEY_MAX - 1] = 'j';
    assert_int_equal(incr(s, key, 2, 0), 2);
    assert_int_equal(get(s, key, NULL), 2);
    assert_int_equal(gw_store_count(s), 2);

    /* Binary-ish bytes are just bytes. */
    assert_int_equal(incr(s, "sess:\xff\x01", 3, 0), 3);
    assert_int_equal(get(s, "sess:\xff\x01", NULL), 3);
    gw_store_free(s);
}

/* A small store has one shard, so which key goes is exact. */
static void
test_evict_small(void **state)
{
    (void)state;
    struct gw_store *s = gw_store_mem_new(8);
    assert_non_null(s);
    char key[32];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(incr(s, key, i, 0), i);
        assert_true(gw_store_count(s) <= 8);
        assert_int_equal(get(s, key, NULL), i);
    }
    assert_int_equal(gw_store_count(s), 8);
    /* All without expiry: the oldest go first, so the last 8 remain. */
    for (int i = 92; i < 100; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(get(s, key, NULL), i);
    }
    gw_store_free(s);
}

static void
test_evict_prefers_expired(void **state)
{
    (void)state;
    struct gw_store *s = gw_store_mem_new(8);
    assert_non_null(s);
    char key[32];
    int64_t v;
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof(key), "live%d", i);
        assert_int_equal(gw_store_set(s, key, i, 0), 0);
        snprintf(key, sizeof(key), "short%d", i);
        assert_int_equal(gw_store_set(s, key, i, 100), 0);
    }
    assert_int_equal(gw_store_count(s), 8);
    fake_now += 100;
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof(key), "new%d", i);
        assert_int_equal(gw_store_set(s, key, i, 0), 0);
    }
    assert_int_equal(gw_store_count(s), 8);
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof(key), "live%d", i);
        assert_int_equal(gw_store_get(s, key, &v, NULL), 1);
        snprintf(key, sizeof(key), "new%d", i);
        assert_int_equal(gw_store_get(s, key, &v, NULL), 1);
    }

    /* Full of live keys: the one expiring soonest goes, then the later one, then the oldest of
     * those without expiry. */
    assert_int_equal(gw_store_set(s, "new0", 0, 5000), 0);
    assert_int_equal(gw_store_set(s, "live3", 3, 4000), 0);
    assert_int_equal(gw_store_set(s, "x1", 1, 0), 0);
    assert_int_equal(gw_store_get(s, "live3", &v, NULL), 0);
    assert_int_equal(gw_store_get(s, "new0", &v, NULL), 1);
    assert_int_equal(gw_store_set(s, "x2", 1, 0), 0);
    assert_int_equal(gw_store_get(s, "new0", &v, NULL), 0);
    assert_int_equal(gw_store_get(s, "live0", &v, NULL), 1);
    assert_int_equal(gw_store_set(s, "x3", 1, 0), 0);
    assert_int_equal(gw_store_get(s, "live0", &v, NULL), 0);
    assert_int_equal(gw_store_get(s, "live1", &v, NULL), 1);
    assert_int_equal(gw_store_count(s), 8);
    gw_store_free(s);
}

/* A sharded store: never more than max_keys, every shard filled to its share, the newest key
 * always kept, and expired keys make room before live ones go. */
static void
test_evict_sharded(void **state)
{
    (void)state;
    enum { MAX = 4096 };
    struct gw_store *s = gw_store_mem_new(MAX);
    assert_non_null(s);
    char key[32];
    for (int i = 0; i < 10 * MAX; i++) {
        snprintf(key, sizeof(key), "old%d", i);
        assert_int_equal(gw_store_set(s, key, i, 100), 0);
        assert_int_equal(get(s, key, NULL), i);
        if (i % 997 == 0)
            assert_true(gw_store_count(s) <= MAX);
    }
    assert_int_equal(gw_store_count(s), MAX);
    /* Live keys push out keys with an expiry, not each other. */
    for (int i = 0; i < 16; i++) {
        snprintf(key, sizeof(key), "live%d", i);
        assert_int_equal(gw_store_set(s, key, i, 0), 0);
    }
    assert_int_equal(gw_store_count(s), MAX);
    /* Every shard full of expired keys (not counted yet, so still in the tables): new keys take
     * their places, and no live key goes (a shard would have to get 256 of the 1024 new keys). */
    fake_now += 100;
    for (int i = 0; i < MAX / 4; i++) {
        snprintf(key, sizeof(key), "new%d", i);
        assert_int_equal(gw_store_set(s, key, i, 0), 0);
    }
    for (int i = 0; i < 16; i++) {
        snprintf(key, sizeof(key), "live%d", i);
        assert_int_equal(get(s, key, NULL), i);
    }
    for (int i = 0; i < MAX / 4; i++) {
        snprintf(key, sizeof(key), "new%d", i);
        assert_int_equal(get(s, key, NULL), i);
    }
    assert_int_equal(gw_store_count(s), 16 + MAX / 4);
    gw_store_free(s);
}

enum { THREADS = 4, ROUNDS = 10000, SPREAD = 100 };

struct worker {
    pthread_t tid;
    struct gw_store *s;
    int id;
    int errors;
    int taken;
};

static void *
hammer(void *arg)
{
    struct worker *w = arg;
    char key[32];
    int64_t v;
    for (int i = 0; i < ROUNDS; i++) {
        if (gw_store_incr(w->s, "shared", 1, 0, &v) != 0 || v < 1)
            w->errors++;
        snprintf(key, sizeof(key), "t%d", w->id);
        if (gw_store_incr(w->s, key, 2, 0, &v) != 0 || v != 2 * (i + 1))
            w->errors++;
        snprintf(key, sizeof(key), "spread%d", i % SPREAD);
        if (gw_store_incr(w->s, key, 1, 60000, &v) != 0)
            w->errors++;
        int rc = gw_store_take(w->s, "watch", &v);
        if (rc < 0)
            w->errors++;
        w->taken += rc;
        if (gw_store_get(w->s, "shared", &v, NULL) != 1)
            w->errors++;
    }
    return NULL;
}

static void
test_threads(void **state)
{
    (void)state;
    struct gw_store *s = gw_store_mem_new(0);
    assert_non_null(s);
    const int64_t budget = THREADS * ROUNDS / 2;
    assert_int_equal(gw_store_set(s, "watch", budget, 0), 0);
    struct worker w[THREADS];
    memset(w, 0, sizeof(w));
    for (int i = 0; i < THREADS; i++) {
        w[i].s = s;
        w[i].id = i;
        assert_int_equal(pthread_create(&w[i].tid, NULL, hammer, &w[i]), 0);
    }
    int taken = 0;
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(w[i].tid, NULL), 0);
        assert_int_equal(w[i].errors, 0);
        taken += w[i].taken;
    }
    char key[32];
    assert_int_equal(get(s, "shared", NULL), THREADS * ROUNDS);
    for (int i = 0; i < THREADS; i++) {
        snprintf(key, sizeof(key), "t%d", i);
        assert_int_equal(get(s, key, NULL), 2 * ROUNDS);
    }
    for (int i = 0; i < SPREAD; i++) {
        snprintf(key, sizeof(key), "spread%d", i);
        assert_int_equal(get(s, key, NULL), THREADS * ROUNDS / SPREAD);
    }
    assert_int_equal(taken, budget);
    assert_int_equal(get(s, "watch", NULL), 0);
    assert_int_equal(gw_store_count(s), 2 + THREADS + SPREAD);
    gw_store_free(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_incr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incr_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_take, setup, teardown),
        cmocka_unit_test_setup_teardown(test_del, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evict_small, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evict_prefers_expired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evict_sharded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
