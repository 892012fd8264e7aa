/* Unit tests for store/budget_mem.c: the semantics of every operation of store/budget.h (all or
 * nothing reserves, limits, clamping, prev weighting, expiry on a fake clock, set, read), the
 * journal (restarts, expiry at restart, torn and malformed lines, escaped keys, compaction, the
 * three fsync modes, failed writes) and exact totals under concurrent reserves. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "store/budget.h"

#define HEADER "portcullis-budget-journal 1\n"
#define T0 1000000

static uint64_t fake_now;
static uint64_t (*real_clock)(void);

static uint64_t
fake_clock(void)
{
    return fake_now;
}

struct fixture {
    char dir[64];
    char path[128]; /* dir/budget.journal, not created */
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/pc-budget-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/budget.journal", f->dir);
    real_clock = gw_budget_clock;
    fake_now = T0;
    gw_budget_clock = fake_clock;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    DIR *d = opendir(f->dir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof(p), "%s/%s", f->dir, e->d_name);
            unlink(p);
        }
    if (d)
        closedir(d);
    rmdir(f->dir);
    gw_budget_clock = real_clock;
    free(f);
    return 0;
}

static struct gw_budget_counter
ctr(const char *cur, const char *prev, uint32_t ppm, int64_t limit, int64_t amount,
    uint64_t expire_at_ms)
{
    struct gw_budget_counter c;
    memset(&c, 0, sizeof(c));
    assert_true(strlen(cur) <= GW_BUDGET_KEY_MAX);
    memcpy(c.cur, cur, strlen(cur));
    if (prev) {
        assert_true(strlen(prev) <= GW_BUDGET_KEY_MAX);
        memcpy(c.prev, prev, strlen(prev));
    }
    c.prev_weight_ppm = ppm;
    c.limit = limit;
    c.amount = amount;
    c.expire_at_ms = expire_at_ms;
    return c;
}

static void
never_called(void *arg, const struct gw_budget_result *res)
{
    (void)arg;
    (void)res;
    fail_msg("the memory backend called back");
}

/* One operation through gw_budget_run, which must answer at once and hand out no op. */
static void
run(struct gw_budget_store *s, enum gw_budget_kind kind, const struct gw_budget_counter *c,
    size_t n, struct gw_budget_result *res)
{
    struct gw_budget_op *op = (struct gw_budget_op *)res; /* anything but NULL */
    memset(res, 0xa5, sizeof(*res));
    assert_int_equal(gw_budget_run(s, NULL, kind, c, n, res, never_called, NULL, &op),
                     GW_BUDGET_DONE);
    assert_null(op);
}

/* The status of one operation over n counters, with their values in v (may be NULL). */
static enum gw_budget_status
op(struct gw_budget_store *s, enum gw_budget_kind kind, const struct gw_budget_counter *c, size_t n,
   int64_t *v)
{
    struct gw_budget_result res;
    run(s, kind, c, n, &res);
    if (res.status != GW_BUDGET_UNAVAILABLE)
        assert_string_equal(res.error, "");
    for (size_t i = 0; v && i < n; i++)
        v[i] = res.value[i];
    return res.status;
}

/* The value of the counter key (no prev), by a READ. */
static int64_t
value(struct gw_budget_store *s, const char *key)
{
    struct gw_budget_counter c = ctr(key, NULL, 0, 1, 1000, 0);
    int64_t v;
    assert_int_equal(op(s, GW_BUDGET_READ, &c, 1, &v), GW_BUDGET_OK);
    return v;
}

/* key = v (no expiry, no prev), by a SET. */
static void
set(struct gw_budget_store *s, const char *key, int64_t v)
{
    struct gw_budget_counter c = ctr(key, NULL, 0, 0, v, 0);
    int64_t after;
    assert_int_equal(op(s, GW_BUDGET_SET, &c, 1, &after), GW_BUDGET_OK);
    assert_int_equal(after, v);
}

static struct gw_budget_store *
open_store(const char *journal, int fsync_mode, uint32_t fsync_ms)
{
    char err[256] = "untouched";
    struct gw_budget_store *s = gw_budget_mem_new(journal, fsync_mode, fsync_ms, err, sizeof(err));
    if (!s)
        fail_msg("gw_budget_mem_new: %s", err);
    assert_string_equal(err, "");
    return s;
}

/* The whole file (NUL-terminated; NULL when it does not exist). */
static char *
slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct stat st;
    assert_int_equal(fstat(fileno(f), &st), 0);
    char *s = malloc((size_t)st.st_size + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)st.st_size, f), (size_t)st.st_size);
    s[st.st_size] = '\0';
    fclose(f);
    return s;
}

static void
assert_file(const char *path, const char *want)
{
    char *got = slurp(path);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

static off_t
file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

/* ---- operations ---- */

static void
test_reserve_all_or_nothing(void **state)
{
    (void)state;
    struct gw_budget_store *s = open_store(NULL, 0, 0);
    struct gw_budget_counter c[3] = {
        ctr("a", NULL, 0, 10, 4, 0),
        ctr("b", NULL, 0, 5, 4, 0),
        ctr("c", NULL, 0, 0, 100, 0),
    };
    int64_t v[3];
    assert_int_equal(op(s, GW_BUDGET_RESERVE, c, 3, v), GW_BUDGET_OK);
    assert_int_equal(v[0], 4);
    assert_int_equal(v[1], 4);
    assert_int_equal(v[2], 100);

    /* b would reach 8 > 5: nothing changes, and the values are those before. */
    struct gw_budget_result res;
    run(s, GW_BUDGET_RESERVE, c, 3, &res);
    assert_int_equal(res.status, GW_BUDGET_DENIED);
    assert_int_equal(res.denied, 1);
    assert_int_equal(res.value[0], 4);
    assert_int_equal(res.value[1], 4);
    assert_int_equal(res.value[2], 100);
    assert_int_equal(value(s, "a"), 4);
    assert_int_equal(value(s, "b"), 4);
    assert_int_equal(value(s, "c"), 100);

    /* The first counter that does not fit is the one named, even when a later one fails too. */
    c[0].amount = 7; /* 11 > 10 */
    run(s, GW_BUDGET_RESERVE, c, 3, &res);
    assert_int_equal(res.status, GW_BUDGET_DENIED);
    assert_int_equal(res.denied, 0);
    c[0].amount = 6;
    c[1].amount = 1;
    c[2] = ctr("d", NULL, 0, 3, 4, 0); /* 4 > 3 on an empty counter */
    run(s, GW_BUDGET_RESERVE, c, 3, &res);
    assert_int_equal(res.status, GW_BUDGET_DENIED);
    assert_int_equal(res.denied, 2);
    assert_int_equal(res.value[2], 0);
    assert_int_equal(value(s, "a"), 4);
    assert_int_equal(value(s, "b"), 4);

    /* value + amount == limit fits. */
    c[2].amount = 3;
    assert_int_equal(op(s, GW_BUDGET_RESERVE, c, 3, v), GW_BUDGET_OK);
    assert_int_equal(v[0], 10);
    assert_int_equal(v[1], 5);
    assert_int_equal(v[2], 3);
    gw_budget_free(s);
}

static void
test_reserve_limits(void **state)
{
    (void)state;
    struct gw_budget_store *s = open_store(NULL, 0, 0);
    int64_t v[2];
    /* limit <= 0: no check. */
    struct gw_budget_counter c[2] = {
        ctr("a", NULL, 0, 0, 1000, 0),
        ctr("b", NULL, 0, -1, 2000, 0),
    };
    assert_int_equal(op(s, GW_BUDGET_RESERVE, c, 2, v), GW_BUDGET_OK);
    assert_int_equal(v[0], 1000);
    assert_int_equal(v[1], 2000);

    /* amount <= 0 fits even a counter already over its limit, and is added as it is. */
    c[0] = ctr("a", NULL, 0, 5, 0, 0);
    assert_int_equal(op(s, GW_BUDGET_RESERVE, c, 1, v), GW_BUDGET_OK);
    assert_int_equal(v[0], 1000);
    c[0].amount = -400;
    assert_int_equal(op(s, GW_BUDGET_RESERVE, c, 1, v), GW_BUDGET_OK);
    assert_int_equal(v[0], 600);
    c[0].amount = 1;
    assert_int_equal(op(s, GW_BUDGET_RESERVE, c, 1, v), GW_BUDGET_DENIED);
    assert_int_equal(v[0], 600);

    /* value + amount overflowing int64 does not fit, even the largest limit. */
    set(s, "big", INT64_MAX - 1);
    c[0] = ctr("big", NULL, 0, INT64_MAX, 1, 0);
    assert_int_equal(op(s, GW_BUDGET_RESERVE, c, 1, v), GW_BUDGET_OK);
    assert_int_equal(v[0], INT64_MAX);
    c[0].amount = INT64_MAX;
    assert_int_equal(op(s, GW_BUDGET_RESERVE, c, 1, v), GW_BUDGET_DENIED);
    assert_int_equal(v[0], INT64_MAX);
    /* Without a limit the sum saturates. */
    c[0].limit = 0;
    assert_int_equal(op(s, GW_BUDGET_RESERVE, c, 1, v), GW_BUDGET_OK);
    assert_int_equal(v[0], INT64_MAX);
    assert_int_equal(value(s, "big"), INT64_MAX);
    gw_budget_free(s);
}

static void
test_add_clamps_at_zero(void **state)
{
    (void)state;
    struct gw_budget_store *s = open_store(NULL, 0, 0);
    int64_t v[2];
    struct gw_budget_counter c[2] = {
        ctr("a", NULL, 0, 1, 5, 0), /* ADD ignores limits */
        ctr("b", NULL, 0, 0, -5, 0),
    };
    assert_int_equal(op(s, GW_BUDGET_ADD, c, 2, v), GW_BUDGET_OK);
    assert_int_equal(v[0], 5);
    assert_int_equal(v[1], 0); /* a release into an empty (expired) bucket leaves no debt */
    c[0].amount = -3;
    assert_int_equal(op(s, GW_BUDGET_ADD, c, 1, v), GW_BUDGET_OK);
    assert_int_equal(v[0], 2);
    c[0].amount = -10;
    assert_int_equal(op(s, GW_BUDGET_ADD, c, 1, v), GW_BUDGET_OK);
    assert_int_equal(v[0], 0);
    c[0].amount = 4;
    assert_int_equal(op(s, GW_BUDGET_ADD, c, 1, v), GW_BUDGET_OK);
    assert_int_equal(v[0], 4); /* from 0, not from -8 */

    set(s, "big", INT64_MAX - 1);
    c[0] = ctr("big", NULL, 0, 0, 10, 0);
    assert_int_equal(op(s, GW_BUDGET_ADD, c, 1, v), GW_BUDGET_OK);
    assert_int_equal(v[0], INT64_MAX);
    c[0].amount = INT64_MIN;
    assert_int_equal(op(s, GW_BUDGET_ADD, c, 1, v), GW_BUDGET_OK);
    assert_int_equal(v[0], 0);
    gw_budget_free(s);
}

static void
test_prev_weight(void **state)
{
    (void)state;
    struct gw_budget_store *s = open_store(NULL, 0, 0);
    set(s, "cur", 10);
    set(s, "prev", 7);
    struct gw_budget_counter c = ctr("cur", "prev", 500000, 0, 0, 0);
    int64_t v;
    assert_int_equal(op(s, GW_BUDGET_READ, &c, 1, &v), GW_BUDGET_OK);
    assert_int_equal(v, 14); /* 10 + 3.5, rounded up */
    c.prev_weight_ppm = 1000000;
    assert_int_equal(op(s, GW_BUDGET_READ, &c, 1, &v), GW_BUDGET_OK);
    assert_int_equal(v, 17);
    c.prev_weight_ppm = 0;
    assert_int_equal(op(s, GW_BUDGET_READ, &c, 1, &v), GW_BUDGET_OK);
    assert_int_equal(v, 10);
    c.prev_weight_ppm = 142857; /* 7 * 0.142857 = 0.999999 */
    assert_int_equal(op(s, GW_BUDGET_READ, &c, 1, &v), GW_BUDGET_OK);
    assert_int_equal(v, 11);
    c.prev_weight_ppm = 142858; /* 1.000006 */
    assert_int_equal(op(s, GW_BUDGET_READ, &c, 1, &v), GW_BUDGET_OK);
    assert_int_equal(v, 12);
    c.prev_weight_ppm = 1; /* 0.000007: any share of a use still counts whole */
    assert_int_equal(op(s, GW_BUDGET_READ, &c, 1, &v), GW_BUDGET_OK);
    assert_int_equal(v, 11);
    /* A missing prev key counts 0. */
    struct gw_budget_counter none = ctr("cur", "nothing", 1000000, 0, 0, 0);
    assert_int_equal(op(s, GW_BUDGET_READ, &none, 1, &v), GW_BUDGET_OK);
    assert_int_equal(v, 10);

    /* Reserve checks the weighted value and adds to cur only. */
    c = ctr("cur", "prev", 500000, 16, 2, 0);
    assert_int_equal(op(s, GW_BUDGET_RESERVE, &c, 1, &v), GW_BUDGET_OK);
    assert_int_equal(v, 16);
    c.amount = 1;
    assert_int_equal(op(s, GW_BUDGET_RESERVE, &c, 1, &v), GW_BUDGET_DENIED);
    assert_int_equal(v, 16);
    assert_int_equal(value(s, "cur"), 12);
    assert_int_equal(value(s, "prev"), 7);
    c.amount = 5;
    assert_int_equal(op(s, GW_BUDGET_ADD, &c, 1, &v), GW_BUDGET_OK);
    assert_int_equal(v, 21);
    assert_int_equal(value(s, "prev"), 7);

    /* Rounding is up, also below 0 (-3.5 -> -3). */
    set(s, "prev", -7);
    c = ctr("cur", "prev", 500000, 0, 0, 0);
    assert_int_equal(op(s, GW_BUDGET_READ, &c, 1, &v), GW_BUDGET_OK);
    assert_int_equal(v, 17 - 3);

    /* Huge values: no overflow on the way, the sum saturates. */
    set(s, "cur", INT64_MAX);
    set(s, "prev", INT64_MAX);
    c.prev_weight_ppm = 999999;
    assert_int_equal(op(s, GW_BUDGET_READ, &c, 1, &v), GW_BUDGET_OK);
    assert_int_equal(v, INT64_MAX);
    set(s, "cur", 0);
    assert_int_equal(op(s, GW_BUDGET_READ, &c, 1, &v), GW_BUDGET_OK);
    assert_int_equal(v, (int64_t)(((__int128)INT64_MAX * 999999 + 999999) / 1000000));
    set(s, "prev", INT64_MIN);
    assert_int_equal(op(s, GW_BUDGET_READ, &c, 1, &v), GW_BUDGET_OK);
    assert_int_equal(v, (int64_t)((__int128)INT64_MIN * 999999 / 1000000));
    gw_budget_free(s);
}

static void
test_expiry(void **state)
{
    (void)state;
    struct gw_budget_store *s = open_store(NULL, 0, 0);
    int64_t v;
    struct gw_budget_counter c = ctr("a", NULL, 0, 10, 10, T0 + 100);
    assert_int_equal(op(s, GW_BUDGET_RESERVE, &c, 1, &v), GW_BUDGET_OK);
    assert_int_equal(op(s, GW_BUDGET_RESERVE, &c, 1, &v), GW_BUDGET_DENIED);
    fake_now = T0 + 99;
    assert_int_equal(value(s, "a"), 10);
    fake_now = T0 + 100; /* expired from its expire_at_ms on */
    assert_int_equal(value(s, "a"), 0);
    c.expire_at_ms = T0 + 200;
    assert_int_equal(op(s, GW_BUDGET_RESERVE, &c, 1, &v), GW_BUDGET_OK); /* a new bucket */
    assert_int_equal(v, 10);

    /* Every write sets the expiry, ADD included: later, then earlier. */
    c = ctr("a", NULL, 0, 0, -4, T0 + 500);
    assert_int_equal(op(s, GW_BUDGET_ADD, &c, 1, &v), GW_BUDGET_OK);
    assert_int_equal(v, 6);
    fake_now = T0 + 300;
    assert_int_equal(value(s, "a"), 6);
    c = ctr("a", NULL, 0, 0, 1, T0 + 400);
    assert_int_equal(op(s, GW_BUDGET_ADD, &c, 1, &v), GW_BUDGET_OK);
    assert_int_equal(v, 7);
    fake_now = T0 + 400;
    assert_int_equal(value(s, "a"), 0);

    /* A write with an expiry already passed leaves nothing, and says so. */
    c = ctr("a", NULL, 0, 0, 5, T0 + 400);
    assert_int_equal(op(s, GW_BUDGET_ADD, &c, 1, &v), GW_BUDGET_OK);
    assert_int_equal(v, 0);
    assert_int_equal(value(s, "a"), 0);

    /* 0: never; an expired prev counts 0. */
    c = ctr("forever", NULL, 0, 0, 3, 0);
    assert_int_equal(op(s, GW_BUDGET_ADD, &c, 1, &v), GW_BUDGET_OK);
    c = ctr("old", NULL, 0, 0, 100, T0 + 1000);
    assert_int_equal(op(s, GW_BUDGET_ADD, &c, 1, &v), GW_BUDGET_OK);
    c = ctr("forever", "old", 1000000, 0, 0, 0);
    assert_int_equal(op(s, GW_BUDGET_READ, &c, 1, &v), GW_BUDGET_OK);
    assert_int_equal(v, 103);
    fake_now = UINT64_MAX - 1;
    assert_int_equal(op(s, GW_BUDGET_READ, &c, 1, &v), GW_BUDGET_OK);
    assert_int_equal(v, 3);

    /* Rounds of keys that expire while the next round is written (the sweep, the purge before
     * the table grows and the growth itself run in between): expired keys read 0, live ones
     * their value. */
    fake_now = T0;
    char key[32];
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 100; i++) {
            snprintf(key, sizeof(key), "r%d.%d", round, i);
            c = ctr(key, NULL, 0, 0, i + 1, fake_now + 10);
            assert_int_equal(op(s, GW_BUDGET_ADD, &c, 1, &v), GW_BUDGET_OK);
        }
        fake_now += 10;
    }
    fake_now -= 5; /* the last round is still live */
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "r19.%d", i);
        assert_int_equal(value(s, key), i + 1);
        snprintf(key, sizeof(key), "r18.%d", i);
        assert_int_equal(value(s, key), 0);
    }
    fake_now += 5;
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "r19.%d", i);
        assert_int_equal(value(s, key), 0);
    }
    assert_int_equal(value(s, "forever"), 3);
    gw_budget_free(s);
}

static void
test_set(void **state)
{
    (void)state;
    struct gw_budget_store *s = open_store(NULL, 0, 0);
    int64_t v[2];
    set(s, "cur", 5);
    set(s, "prev", 7);
    set(s, "other", 9);
    struct gw_budget_counter c[2] = {
        ctr("cur", "prev", 1000000, 1, 20, 0), /* limits do not matter */
        ctr("x", NULL, 0, 0, -3, T0 + 10),
    };
    assert_int_equal(op(s, GW_BUDGET_SET, c, 2, v), GW_BUDGET_OK);
    assert_int_equal(v[0], 20); /* prev is gone */
    assert_int_equal(v[1], -3);
    assert_int_equal(value(s, "cur"), 20);
    assert_int_equal(value(s, "prev"), 0);
    assert_int_equal(value(s, "x"), -3);
    assert_int_equal(value(s, "other"), 9);
    fake_now = T0 + 10;
    assert_int_equal(value(s, "x"), 0);

    /* 0 deletes. */
    c[0] = ctr("cur", NULL, 0, 0, 0, 0);
    assert_int_equal(op(s, GW_BUDGET_SET, c, 1, v), GW_BUDGET_OK);
    assert_int_equal(v[0], 0);
    assert_int_equal(value(s, "cur"), 0);
    gw_budget_free(s);
}

static void
test_read_changes_nothing(void **state)
{
    struct fixture *f = *state;
    struct gw_budget_store *s = open_store(f->path, 0, 0);
    set(s, "a", 3);
    off_t size = file_size(f->path);
    struct gw_budget_counter c[2] = {
        ctr("a", NULL, 0, 1, 100, T0 + 1), /* over its limit: READ does not care */
        ctr("missing", "a", 1000000, 1, 100, T0 + 1),
    };
    int64_t v[2];
    assert_int_equal(op(s, GW_BUDGET_READ, c, 2, v), GW_BUDGET_OK);
    assert_int_equal(v[0], 3);
    assert_int_equal(v[1], 3);
    assert_int_equal(op(s, GW_BUDGET_READ, c, 2, v), GW_BUDGET_OK);
    assert_int_equal(v[0], 3);
    fake_now = T0 + 5; /* the expiry READ was given was not applied */
    assert_int_equal(value(s, "a"), 3);
    assert_int_equal(value(s, "missing"), 0);
    assert_int_equal(file_size(f->path), size);
    gw_budget_free(s);
}

/* Counters naming the same key: each limit is checked against the value before the operation,
 * and every amount is added. */
static void
test_same_key_twice(void **state)
{
    (void)state;
    struct gw_budget_store *s = open_store(NULL, 0, 0);
    struct gw_budget_counter c[2] = {
        ctr("k", NULL, 0, 4, 2, 0),
        ctr("k", NULL, 0, 4, 3, 0),
    };
    int64_t v[2];
    assert_int_equal(op(s, GW_BUDGET_RESERVE, c, 2, v), GW_BUDGET_OK);
    assert_int_equal(v[0], 5);
    assert_int_equal(v[1], 5);
    c[1].amount = -9;
    assert_int_equal(op(s, GW_BUDGET_ADD, c, 2, v), GW_BUDGET_OK);
    assert_int_equal(v[0], 0); /* 7, then clamped at 0 */
    /* cur of one counter, prev of another: SET sets it, then deletes it as the prev. */
    c[0] = ctr("k", NULL, 0, 0, 8, 0);
    c[1] = ctr("j", "k", 1000000, 0, 1, 0);
    assert_int_equal(op(s, GW_BUDGET_SET, c, 2, v), GW_BUDGET_OK);
    assert_int_equal(v[0], 0);
    assert_int_equal(v[1], 1);
    gw_budget_free(s);
}

static void
test_invalid(void **state)
{
    (void)state;
    char err[128];
    assert_null(gw_budget_mem_new("/tmp/x", 3, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "fsync"));
    assert_null(gw_budget_mem_new("/tmp/x", 2, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "fsync"));
    assert_null(gw_budget_mem_new("", 0, 0, err, sizeof(err)));
    assert_string_not_equal(err, "");

    struct gw_budget_store *s = open_store(NULL, 0, 0);
    struct gw_budget_result res;
    struct gw_budget_counter c[GW_BUDGET_MAX_COUNTERS + 1];
    for (size_t i = 0; i <= GW_BUDGET_MAX_COUNTERS; i++)
        c[i] = ctr("k", NULL, 0, 0, 1, 0);
    run(s, GW_BUDGET_ADD, c, 0, &res);
    assert_int_equal(res.status, GW_BUDGET_UNAVAILABLE);
    assert_string_not_equal(res.error, "");
    run(s, GW_BUDGET_ADD, c, GW_BUDGET_MAX_COUNTERS + 1, &res);
    assert_int_equal(res.status, GW_BUDGET_UNAVAILABLE);
    run(s, GW_BUDGET_ADD, c, GW_BUDGET_MAX_COUNTERS, &res);
    assert_int_equal(res.status, GW_BUDGET_OK);
    assert_int_equal(res.value[GW_BUDGET_MAX_COUNTERS - 1], GW_BUDGET_MAX_COUNTERS);

    /* A key without its NUL within GW_BUDGET_KEY_MAX + 1 bytes, cur or prev. */
    memset(c[1].cur, 'x', sizeof(c[1].cur));
    run(s, GW_BUDGET_ADD, c, 2, &res);
    assert_int_equal(res.status, GW_BUDGET_UNAVAILABLE);
    assert_string_not_equal(res.error, "");
    c[1] = ctr("k", NULL, 0, 0, 1, 0);
    memset(c[1].prev, 'x', sizeof(c[1].prev));
    run(s, GW_BUDGET_ADD, c, 2, &res);
    assert_int_equal(res.status, GW_BUDGET_UNAVAILABLE);
    c[1] = ctr("k", "p", 1000001, 0, 1, 0);
    run(s, GW_BUDGET_READ, c, 2, &res);
    assert_int_equal(res.status, GW_BUDGET_UNAVAILABLE);
    run(s, (enum gw_budget_kind)7, c, 1, &res);
    assert_int_equal(res.status, GW_BUDGET_UNAVAILABLE);
    assert_int_equal(value(s, "k"), GW_BUDGET_MAX_COUNTERS); /* none of those changed it */

    /* The longest key, and bytes that are just bytes. */
    char key[GW_BUDGET_KEY_MAX + 1];
    memset(key, 'l', GW_BUDGET_KEY_MAX);
    key[GW_BUDGET_KEY_MAX] = '\0';
    set(s, key, 5);
    assert_int_equal(value(s, key), 5);
    key[GW_BUDGET_KEY_MAX - 1] = 'm';
    assert_int_equal(value(s, key), 0);
    set(s, "\x01\xff", 6);
    assert_int_equal(value(s, "\x01\xff"), 6);

    /* run_sync does the same; cancel, detach and free NULL are no-ops. */
    c[0] = ctr("k", NULL, 0, 0, 1, 0);
    assert_int_equal(gw_budget_run_sync(s, GW_BUDGET_ADD, c, 1, &res), 0);
    assert_int_equal(res.status, GW_BUDGET_OK);
    assert_int_equal(res.value[0], GW_BUDGET_MAX_COUNTERS + 1);
    gw_budget_cancel(NULL);
    gw_budget_detach(s, NULL);
    gw_budget_free(NULL);
    gw_budget_free(s);
}

/* ---- journal ---- */

static void
test_journal_survives_restart(void **state)
{
    struct fixture *f = *state;
    struct gw_budget_store *s = open_store(f->path, 0, 0);
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_file(f->path, HEADER);

    int64_t v[2];
    struct gw_budget_counter c[2] = {
        ctr("a", NULL, 0, 10, 1, 0),
        ctr("b", NULL, 0, 10, 2, T0 + 5000),
    };
    assert_int_equal(op(s, GW_BUDGET_RESERVE, c, 2, v), GW_BUDGET_OK);
    c[0] = ctr("c", NULL, 0, 0, 5, 0);
    assert_int_equal(op(s, GW_BUDGET_ADD, c, 1, v), GW_BUDGET_OK);
    /* Nothing changes, so nothing is written: a denial, a read, a 0 onto a missing key. */
    c[0] = ctr("a", NULL, 0, 1, 5, 0);
    assert_int_equal(op(s, GW_BUDGET_RESERVE, c, 1, v), GW_BUDGET_DENIED);
    assert_int_equal(op(s, GW_BUDGET_READ, c, 1, v), GW_BUDGET_OK);
    c[0] = ctr("z", NULL, 0, 0, 0, 0);
    assert_int_equal(op(s, GW_BUDGET_ADD, c, 1, v), GW_BUDGET_OK);
    c[0] = ctr("z", NULL, 0, 0, -5, 0);
    assert_int_equal(op(s, GW_BUDGET_ADD, c, 1, v), GW_BUDGET_OK);
    /* SET: the cur key's new state and the deleted prev key, on one line. */
    c[0] = ctr("d", "c", 0, 0, 7, T0 + 9000);
    assert_int_equal(op(s, GW_BUDGET_SET, c, 1, v), GW_BUDGET_OK);
    c[0] = ctr("a", NULL, 0, 0, -1, 0);
    assert_int_equal(op(s, GW_BUDGET_ADD, c, 1, v), GW_BUDGET_OK);
    c[0] = ctr("e", NULL, 0, 0, -1, 0);
    assert_int_equal(op(s, GW_BUDGET_SET, c, 1, v), GW_BUDGET_OK);
    assert_file(f->path, HEADER "S 2 0 1 a 1005000 2 b\n"
                                "S 1 0 5 c\n"
                                "S 2 1009000 7 d 0 0 c\n"
                                "S 1 0 0 a\n"
                                "S 1 0 -1 e\n");
    gw_budget_free(s);

    s = open_store(f->path, 0, 0);
    assert_int_equal(value(s, "a"), 0);
    assert_int_equal(value(s, "b"), 2);
    assert_int_equal(value(s, "c"), 0);
    assert_int_equal(value(s, "d"), 7);
    assert_int_equal(value(s, "e"), -1);
    /* Compacted at open: one line per live key. */
    char *text = slurp(f->path);
    assert_non_null(text);
    assert_int_equal(strncmp(text, HEADER, strlen(HEADER)), 0);
    size_t lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 1 + 3);
    assert_non_null(strstr(text, "S 1 1005000 2 b\n"));
    assert_non_null(strstr(text, "S 1 1009000 7 d\n"));
    assert_non_null(strstr(text, "S 1 0 -1 e\n"));
    free(text);
    /* Expiries came back too. */
    fake_now = T0 + 5000;
    assert_int_equal(value(s, "b"), 0);
    assert_int_equal(value(s, "d"), 7);
    gw_budget_free(s);
}

static void
test_journal_drops_expired(void **state)
{
    struct fixture *f = *state;
    struct gw_budget_store *s = open_store(f->path, 0, 0);
    struct gw_budget_counter c[2] = {
        ctr("short", NULL, 0, 0, 3, T0 + 1000),
        ctr("long", NULL, 0, 0, 4, T0 + 1001),
    };
    int64_t v[2];
    assert_int_equal(op(s, GW_BUDGET_ADD, c, 2, v), GW_BUDGET_OK);
    gw_budget_free(s);
    fake_now = T0 + 1000;
    s = open_store(f->path, 0, 0);
    assert_int_equal(value(s, "short"), 0);
    assert_int_equal(value(s, "long"), 4);
    assert_file(f->path, HEADER "S 1 1001001 4 long\n");
    gw_budget_free(s);
}

static void
test_journal_torn_last_line(void **state)
{
    struct fixture *f = *state;
    write_file(f->path, HEADER "S 1 0 5 a\nS 1 0 9 b");
    struct gw_budget_store *s = open_store(f->path, 0, 0);
    assert_int_equal(value(s, "a"), 5);
    assert_int_equal(value(s, "b"), 0);
    assert_file(f->path, HEADER "S 1 0 5 a\n");
    set(s, "c", 1);
    gw_budget_free(s);
    s = open_store(f->path, 0, 0);
    assert_int_equal(value(s, "a"), 5);
    assert_int_equal(value(s, "c"), 1);
    gw_budget_free(s);

    /* Torn anywhere, even into a line that would not parse, or in the header. */
    write_file(f->path, HEADER "S 1 0 5 a\nS 2 0 1 b 0 %4");
    s = open_store(f->path, 0, 0);
    assert_int_equal(value(s, "a"), 5);
    assert_int_equal(value(s, "b"), 0);
    gw_budget_free(s);
    write_file(f->path, "portcullis-bud");
    s = open_store(f->path, 0, 0);
    assert_file(f->path, HEADER);
    gw_budget_free(s);
}

static void
test_journal_malformed_line(void **state)
{
    struct fixture *f = *state;
    static const char *const bad[] = {
        "X 1 0 5 b",                    /* not an S line */
        "",                             /* empty */
        "S 0",                          /* no records */
        "S 1",                          /* fewer records than announced */
        "S 2 0 5 b",                    /* likewise */
        "S 1 0 5 b 0 6 c",              /* more */
        "S 1 0 5 b ",                   /* trailing bytes */
        "S 1 0  5 b",                   /* two spaces */
        "S 1 -1 5 b",                   /* negative expiry */
        "S 1 0 5x b",                   /* junk in a number */
        "S 1 0 9223372036854775808 b",  /* above INT64_MAX */
        "S 1 18446744073709551616 1 b", /* above UINT64_MAX */
        "S 1 0 5 b%2",                  /* short escape */
        "S 1 0 5 b%G0",                 /* not hex */
        "S 1 0 5 b%00",                 /* NUL */
        "S 1 0 5 b\tc",                 /* unescaped control byte */
        "S 1 0 5 b\xff",                /* unescaped non-ASCII byte */
        "S 1 0 5",                      /* no key field */
    };
    char text[512], err[512];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), HEADER "S 1 0 5 a\n%s\nS 1 0 6 c\n", bad[i]);
        write_file(f->path, text);
        err[0] = '\0';
        assert_null(gw_budget_mem_new(f->path, 0, 0, err, sizeof(err)));
        char want[256];
        snprintf(want, sizeof(want), "%s:3: ", f->path);
        if (strncmp(err, want, strlen(want)) != 0 || strlen(err) <= strlen(want))
            fail_msg("line \"%s\": got \"%s\", want \"%s...\"", bad[i], err, want);
        assert_file(f->path, text); /* left as it was, for whoever looks into it */
    }

    /* The longest key is fine, one byte more is not. */
    char key[GW_BUDGET_KEY_MAX + 2];
    memset(key, 'k', sizeof(key) - 1);
    key[GW_BUDGET_KEY_MAX + 1] = '\0';
    snprintf(text, sizeof(text), HEADER "S 1 0 5 %s\n", key);
    write_file(f->path, text);
    assert_null(gw_budget_mem_new(f->path, 0, 0, err, sizeof(err)));
    snprintf(text, sizeof(text), "%s:2: ", f->path);
    assert_int_equal(strncmp(err, text, strlen(text)), 0);
    key[GW_BUDGET_KEY_MAX] = '\0';
    snprintf(text, sizeof(text), HEADER "S 1 0 5 %s\n", key);
    write_file(f->path, text);
    struct gw_budget_store *s = open_store(f->path, 0, 0);
    assert_int_equal(value(s, key), 5);
    gw_budget_free(s);

    /* Not a journal at all. */
    write_file(f->path, "{\"a\": 1}\n");
    assert_null(gw_budget_mem_new(f->path, 0, 0, err, sizeof(err)));
    snprintf(text, sizeof(text), "%s:1: ", f->path);
    assert_int_equal(strncmp(err, text, strlen(text)), 0);
}

static void
test_journal_cannot_open(void **state)
{
    struct fixture *f = *state;
    char path[256], err[512];
    snprintf(path, sizeof(path), "%s/missing/budget.journal", f->dir);
    assert_null(gw_budget_mem_new(path, 0, 0, err, sizeof(err)));
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "No such file or directory"));
    struct stat st;
    snprintf(path, sizeof(path), "%s/missing", f->dir);
    assert_int_not_equal(stat(path, &st), 0); /* not created */
    assert_null(gw_budget_mem_new(f->dir, 0, 0, err, sizeof(err)));
    assert_non_null(strstr(err, f->dir));
}

static void
test_journal_escaped_keys(void **state)
{
    struct fixture *f = *state;
    char longest[GW_BUDGET_KEY_MAX + 1];
    memset(longest, '\n', GW_BUDGET_KEY_MAX);
    longest[GW_BUDGET_KEY_MAX] = '\0';
    const char *keys[] = {
        "with space", "100%", "new\nline", "tab\tcr\r", "\x7f\x01\xff\x80", "%41", "A", "",
        "S 1 0 5 a",  " ",    "%",         longest,
    };
    size_t nkeys = sizeof(keys) / sizeof(keys[0]);
    struct gw_budget_store *s = open_store(f->path, 0, 0);
    for (size_t i = 0; i < nkeys; i++)
        set(s, keys[i], (int64_t)i + 1);
    gw_budget_free(s);
    /* One line per operation: no key byte broke a line. */
    char *text = slurp(f->path);
    size_t lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 1 + nkeys);
    assert_non_null(strstr(text, "S 1 0 1 with%20space\n"));
    assert_non_null(strstr(text, "S 1 0 2 100%25\n"));
    assert_non_null(strstr(text, "S 1 0 5 %7F%01%FF%80\n"));
    assert_non_null(strstr(text, "S 1 0 8 \n")); /* the empty key */
    free(text);

    s = open_store(f->path, 0, 0);
    for (size_t i = 0; i < nkeys; i++)
        assert_int_equal(value(s, keys[i]), (int64_t)i + 1);
    gw_budget_free(s);
    s = open_store(f->path, 0, 0); /* and again, from the compacted file */
    for (size_t i = 0; i < nkeys; i++)
        assert_int_equal(value(s, keys[i]), (int64_t)i + 1);
    gw_budget_free(s);
}

static void
test_journal_compaction(void **state)
{
    struct fixture *f = *state;
    enum { KEYS = GW_BUDGET_MAX_COUNTERS, OPS = 400 };
    const off_t mib = 1 << 20;
    struct gw_budget_counter c[KEYS];
    for (int i = 0; i < KEYS; i++) {
        char key[GW_BUDGET_KEY_MAX + 1];
        memset(key, 'k', GW_BUDGET_KEY_MAX);
        snprintf(key + GW_BUDGET_KEY_MAX - 4, 5, "%04d", i);
        c[i] = ctr(key, NULL, 0, 0, i + 1, 0);
    }
    struct gw_budget_store *s = open_store(f->path, 0, 0);
    int64_t v[KEYS];
    off_t size = file_size(f->path), appended = 0;
    int compactions = 0;
    for (int k = 0; k < OPS; k++) {
        assert_int_equal(op(s, GW_BUDGET_ADD, c, KEYS, v), GW_BUDGET_OK);
        off_t now = file_size(f->path);
        if (now < size) {
            /* Only once the file has passed 1 MiB (lines are below 8 KiB). */
            assert_true(size <= mib && size > mib - 8192);
            compactions++;
        } else {
            appended += now - size;
        }
        size = now;
        /* A reserve that does not fit writes nothing. */
        struct gw_budget_counter no = c[0];
        no.limit = 1;
        assert_int_equal(op(s, GW_BUDGET_RESERVE, &no, 1, v), GW_BUDGET_DENIED);
        assert_int_equal(file_size(f->path), size);
    }
    assert_true(appended > 2 * mib);
    assert_int_equal(compactions, 2);
    assert_true(size < mib);
    for (int i = 0; i < KEYS; i++)
        assert_int_equal(value(s, c[i].cur), (int64_t)OPS * (i + 1));
    gw_budget_free(s);
    s = open_store(f->path, 0, 0);
    for (int i = 0; i < KEYS; i++)
        assert_int_equal(value(s, c[i].cur), (int64_t)OPS * (i + 1));
    gw_budget_free(s);
}

static void
test_journal_fsync_modes(void **state)
{
    struct fixture *f = *state;
    for (int mode = 0; mode <= 2; mode++) {
        char path[256];
        snprintf(path, sizeof(path), "%s/fsync%d.journal", f->dir, mode);
        struct gw_budget_store *s = open_store(path, mode, 1);
        struct gw_budget_counter c[2] = {
            ctr("a", NULL, 0, 150, 1, 0),
            ctr("b", NULL, 0, 0, 2, 0),
        };
        int ok = 0;
        for (int i = 0; i < 200; i++)
            ok += op(s, GW_BUDGET_RESERVE, c, 2, NULL) == GW_BUDGET_OK;
        assert_int_equal(ok, 150);
        gw_budget_free(s);
        s = open_store(path, mode, 1);
        assert_int_equal(value(s, "a"), 150);
        assert_int_equal(value(s, "b"), 300);
        gw_budget_free(s);
    }
}

/* Writes that fail (the file size limit, as a full disk would) leave memory right; the journal
 * stays a clean prefix, and the first compaction that succeeds catches it up. */
static void
test_journal_write_failure(void **state)
{
    struct fixture *f = *state;
    struct gw_budget_store *s = open_store(f->path, 0, 0);
    set(s, "a", 1);
    const char *before = HEADER "S 1 0 1 a\n";
    assert_file(f->path, before);

    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = (rlim_t)strlen(before) + 5; /* half of the next line fits */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    set(s, "b", 2);
    set(s, "c", 3);
    struct gw_budget_counter c = ctr("a", NULL, 0, 0, 5, 0);
    int64_t v;
    assert_int_equal(op(s, GW_BUDGET_ADD, &c, 1, &v), GW_BUDGET_OK);
    assert_int_equal(v, 6);
    assert_int_equal(value(s, "b"), 2);
    assert_int_equal(value(s, "c"), 3);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_handler);
    assert_file(f->path, before); /* the partial line was truncated away */
    char tmp[256];
    snprintf(tmp, sizeof(tmp), "%s.tmp", f->path);
    assert_null(slurp(tmp)); /* the failed compaction left nothing behind */

    /* The next change after the retry delay compacts, with everything in memory. */
    fake_now += 1000;
    set(s, "d", 4);
    char *text = slurp(f->path);
    assert_non_null(strstr(text, "S 1 0 6 a\n"));
    assert_non_null(strstr(text, "S 1 0 2 b\n"));
    free(text);
    gw_budget_free(s);
    s = open_store(f->path, 0, 0);
    assert_int_equal(value(s, "a"), 6);
    assert_int_equal(value(s, "b"), 2);
    assert_int_equal(value(s, "c"), 3);
    assert_int_equal(value(s, "d"), 4);
    gw_budget_free(s);
}

/* ---- threads ---- */

enum { THREADS = 8, TRIES = 1000, LIMIT = 5000 };

struct worker {
    pthread_t tid;
    struct gw_budget_store *s;
    pthread_barrier_t *start;
    int id;
    int ok, denied, other;
};

/* Reserves 1 against the shared counter (limit LIMIT) and 1 on the worker's own counter (no
 * limit), TRIES times. */
static void *
reserver(void *arg)
{
    struct worker *w = arg;
    char own[32];
    snprintf(own, sizeof(own), "own%d", w->id);
    struct gw_budget_counter c[2] = {
        ctr("shared", NULL, 0, LIMIT, 1, 0),
        ctr(own, NULL, 0, 0, 1, 0),
    };
    pthread_barrier_wait(w->start);
    for (int i = 0; i < TRIES; i++) {
        struct gw_budget_result res;
        int rc = gw_budget_run(w->s, NULL, GW_BUDGET_RESERVE, c, 2, &res, never_called, NULL, NULL);
        if (rc != GW_BUDGET_DONE)
            w->other++;
        else if (res.status == GW_BUDGET_OK)
            w->ok++;
        else if (res.status == GW_BUDGET_DENIED && res.denied == 0 && res.value[0] == LIMIT)
            w->denied++;
        else
            w->other++;
    }
    return NULL;
}

static void
reserve_race(struct gw_budget_store *s)
{
    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, THREADS), 0);
    struct worker w[THREADS];
    memset(w, 0, sizeof(w));
    for (int i = 0; i < THREADS; i++) {
        w[i].s = s;
        w[i].start = &start;
        w[i].id = i;
        assert_int_equal(pthread_create(&w[i].tid, NULL, reserver, &w[i]), 0);
    }
    int ok = 0, denied = 0;
    char own[32];
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(w[i].tid, NULL), 0);
        assert_int_equal(w[i].other, 0);
        ok += w[i].ok;
        denied += w[i].denied;
        /* The two counters of a reserve move together. */
        snprintf(own, sizeof(own), "own%d", i);
        assert_int_equal(value(s, own), w[i].ok);
    }
    pthread_barrier_destroy(&start);
    assert_int_equal(ok, LIMIT);
    assert_int_equal(denied, THREADS * TRIES - LIMIT);
    assert_int_equal(value(s, "shared"), LIMIT);
}

static void
test_threads(void **state)
{
    (void)state;
    struct gw_budget_store *s = open_store(NULL, 0, 0);
    reserve_race(s);
    gw_budget_free(s);
}

static void
test_threads_journaled(void **state)
{
    struct fixture *f = *state;
    struct gw_budget_store *s = open_store(f->path, 2, 1);
    reserve_race(s);
    gw_budget_free(s);
    s = open_store(f->path, 0, 0);
    assert_int_equal(value(s, "shared"), LIMIT);
    gw_budget_free(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reserve_all_or_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reserve_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_clamps_at_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prev_weight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_key_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_survives_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_drops_expired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_torn_last_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_malformed_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_cannot_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_escaped_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_compaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_fsync_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_write_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_journaled, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
