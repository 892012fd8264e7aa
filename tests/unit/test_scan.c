/* Unit tests for filters/scan.c: compile errors name the rule, start of match per rule, block and
 * stream scans report the same spans however the stream is split, scratch is per thread, the
 * widths of expressions are remembered across processes and a damaged record is measured again. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "filters/scan.h"

struct hit {
    unsigned rule;
    unsigned long long from, to;
};

struct hits {
    struct hit v[256];
    size_t n;
    size_t stop_after; /* 0: never stop */
};

static int
record(unsigned rule, unsigned long long from, unsigned long long to, void *arg)
{
    struct hits *h = arg;
    if (h->n < sizeof(h->v) / sizeof(h->v[0]))
        h->v[h->n++] = (struct hit){rule, from, to};
    return h->stop_after && h->n >= h->stop_after;
}

static int
hit_cmp(const void *a, const void *b)
{
    const struct hit *x = a, *y = b;
    if (x->to != y->to)
        return x->to < y->to ? -1 : 1;
    if (x->rule != y->rule)
        return x->rule < y->rule ? -1 : 1;
    return x->from < y->from ? -1 : x->from > y->from;
}

static int
has(const struct hits *h, unsigned rule, unsigned long long from, unsigned long long to)
{
    for (size_t i = 0; i < h->n; i++)
        if (h->v[i].rule == rule && h->v[i].from == from && h->v[i].to == to)
            return 1;
    return 0;
}

static const struct gw_scan_rule rules[] = {
    {"aws-key", "AKIA[A-Z0-9]{16}", 0},
    {"word", "\\bsecret\\b", HS_FLAG_CASELESS},
    {"tail", "end$", 0},
};
#define NRULES (sizeof(rules) / sizeof(rules[0]))

static void
test_compile_error_names_rule(void **state)
{
    (void)state;
    struct gw_scan_rule bad[] = {
        {"ok", "abc", 0},
        {"broken", "foo(bar", 0},
    };
    char err[256];
    size_t which = 99;
    assert_null(gw_scan_compile(bad, 2, 1, 1, err, sizeof(err), &which));
    assert_non_null(strstr(err, "rule 'broken': "));
    assert_non_null(strstr(err, "parenthes")); /* Hyperscan's own words follow */
    assert_int_equal(which, 1);

    struct gw_scan_rule empty[] = {{"empty", "a*", 0}};
    assert_null(gw_scan_compile(empty, 1, 0, 0, err, sizeof(err), NULL));
    assert_non_null(strstr(err, "rule 'empty': "));
}

static void
test_empty_set(void **state)
{
    (void)state;
    char err[64];
    struct gw_scan_db *db = gw_scan_compile(NULL, 0, 1, 1, err, sizeof(err), NULL);
    assert_non_null(db);
    struct hits h = {0};
    assert_int_equal(gw_scan_block(db, "anything", 8, record, &h), 0);
    struct gw_scan_stream *s = gw_scan_stream_open(db);
    assert_non_null(s);
    assert_int_equal(gw_scan_stream_feed(s, "x", 1, record, &h), 0);
    assert_int_equal(gw_scan_stream_close(s, record, &h), 0);
    assert_int_equal(h.n, 0);
    gw_scan_free(db);
}

static void
test_block_spans(void **state)
{
    (void)state;
    char err[256];
    struct gw_scan_db *db = gw_scan_compile(rules, NRULES, 1, 0, err, sizeof(err), NULL);
    assert_non_null(db);
    const char *t = "key AKIAABCDEFGHIJKLMNOP and a SECRET, not secrets; the end";
    struct hits h = {0};
    assert_int_equal(gw_scan_block(db, t, strlen(t), record, &h), 0);
    assert_int_equal(h.n, 3);
    assert_true(has(&h, 0, 4, 24));
    assert_true(has(&h, 1, 31, 37));
    assert_true(has(&h, 2, strlen(t) - 3, strlen(t)));
    /* no stream mode compiled */
    assert_null(gw_scan_stream_open(db));

    /* a callback that stops the scan is not an error */
    struct hits one = {.stop_after = 1};
    assert_int_equal(gw_scan_block(db, t, strlen(t), record, &one), 0);
    assert_int_equal(one.n, 1);
    gw_scan_free(db);

    /* without SOM the start is 0 */
    db = gw_scan_compile(rules, NRULES, 0, 0, err, sizeof(err), NULL);
    assert_non_null(db);
    struct hits h2 = {0};
    assert_int_equal(gw_scan_block(db, t, strlen(t), record, &h2), 0);
    assert_true(has(&h2, 0, 0, 24));
    gw_scan_free(db);
}

/*
 * Start of match per rule: one database mixes rules with SOM and rules without, which large
 * bounded repeats need (with SOM they are "too large"); the latter report from = 0 and every end.
 */
static void
test_som_per_rule(void **state)
{
    (void)state;
    const struct gw_scan_rule mixed[] = {
        {"ctx", "api[_-]?key.{1,200}", HS_FLAG_CASELESS},
        {"aws", "AKIA[A-Z0-9]{16}", HS_FLAG_SOM_LEFTMOST},
        {"long", "[A-Za-z0-9]{40,160}", 0},
    };
    char err[256];
    size_t which = 99;
    /* SOM for every rule: the repeats do not compile, and the first is named */
    assert_null(gw_scan_compile(mixed, 3, 1, 1, err, sizeof(err), &which));
    assert_non_null(strstr(err, "rule 'ctx': Pattern is too large"));
    assert_int_equal(which, 0);

    struct gw_scan_db *db = gw_scan_compile(mixed, 3, 0, 1, err, sizeof(err), &which);
    if (!db)
        fail_msg("%s", err);
    char t[160];
    /* "API_KEY=ab" then a newline ('.' stops there), an AWS key, 45 alphanumerics */
    snprintf(t, sizeof(t), "API_KEY=ab\nAKIAABCDEFGHIJKLMNOP %s",
             "abcdefghijABCDEFGHIJ0123456789abcdefghijKLMNO");
    size_t n = strlen(t);
    struct hits whole = {0};
    assert_int_equal(gw_scan_block(db, t, n, record, &whole), 0);
    /* ctx ends at 8, 9, 10 (from 0); aws [11, 31); long: ends 72..77 of the 45 at [32, 77), and
     * the AWS key's 16 alphanumerics plus "AKIA" are only 20 */
    assert_true(has(&whole, 0, 0, 8) && has(&whole, 0, 0, 9) && has(&whole, 0, 0, 10));
    assert_true(has(&whole, 1, 11, 31));
    for (unsigned long long e = 72; e <= 77; e++)
        assert_true(has(&whole, 2, 0, e));
    assert_int_equal(whole.n, 3 + 1 + 6);
    qsort(whole.v, whole.n, sizeof(whole.v[0]), hit_cmp);

    /* the stream reports the same, however it is split */
    for (size_t a = 0; a <= n; a++) {
        struct hits h = {0};
        struct gw_scan_stream *s = gw_scan_stream_open(db);
        assert_non_null(s);
        assert_int_equal(gw_scan_stream_feed(s, t, a, record, &h), 0);
        assert_int_equal(gw_scan_stream_feed(s, t + a, n - a, record, &h), 0);
        assert_int_equal(gw_scan_stream_close(s, record, &h), 0);
        qsort(h.v, h.n, sizeof(h.v[0]), hit_cmp);
        assert_int_equal(h.n, whole.n);
        assert_memory_equal(h.v, whole.v, h.n * sizeof(h.v[0]));
    }
    gw_scan_free(db);
}

/* The hits of a block scan and of a one-piece stream scan of t, sorted. */
static void
block_and_stream(const struct gw_scan_db *db, const char *t, struct hits *b, struct hits *st)
{
    size_t n = strlen(t);
    memset(b, 0, sizeof(*b));
    memset(st, 0, sizeof(*st));
    assert_int_equal(gw_scan_block(db, t, n, record, b), 0);
    struct gw_scan_stream *s = gw_scan_stream_open(db);
    assert_non_null(s);
    assert_int_equal(gw_scan_stream_feed(s, t, n, record, st), 0);
    assert_int_equal(gw_scan_stream_close(s, record, st), 0);
    qsort(b->v, b->n, sizeof(b->v[0]), hit_cmp);
    qsort(st->v, st->n, sizeof(st->v[0]), hit_cmp);
}

/* A database with start-of-match rules is probed without it first (block mode only): a text the
 * probe finds nothing in reports nothing, any other reports exactly the full scan's hits (the
 * stream, which is never probed, is the reference), also when the probe's first match is a rule
 * without start of match and when it comes from the on-disk cache. */
static void
test_probe(void **state)
{
    (void)state;
    const struct gw_scan_rule r[] = {
        {"pw", "passw(or)?d\\s*[:=]\\s*[A-Za-z0-9!@#]{6,}",
         HS_FLAG_CASELESS | HS_FLAG_SOM_LEFTMOST},
        {"word", "\\bsecret\\b", HS_FLAG_CASELESS},
        {"aws", "AKIA[A-Z0-9]{16}", HS_FLAG_SOM_LEFTMOST},
    };
    static const char *const texts[] = {
        "nothing to see here, a password policy and a secretary",
        "the secret is password = hunter2!x and AKIAABCDEFGHIJKLMNOP",
        "Secret. Secret! then at the very end PASSWORD: abcdef123",
        "AKIAABCDEFGHIJKLMNOP",
    };
    /* the password rule reports at every end past its 6th value character */
    static const size_t want[] = {0, 1 + 4 + 1, 2 + 4, 1};
    char dir[] = "/tmp/pc-test-scan-XXXXXX";
    assert_non_null(mkdtemp(dir));
    setenv("PORTCULLIS_CACHE_DIR", dir, 1);
    for (int round = 0; round < 3; round++) {
        /* 0: compiled; 1: compiled and saved; 2: loaded from the file round 1 wrote */
        char err[256];
        struct gw_scan_db *db =
            round == 0 ? gw_scan_compile(r, 3, 0, 1, err, sizeof(err), NULL)
                       : gw_scan_compile_cached("test-probe", r, 3, 0, 1, err, sizeof(err), NULL);
        if (!db)
            fail_msg("%s", err);
        for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
            struct hits b, st;
            block_and_stream(db, texts[i], &b, &st);
            assert_int_equal(b.n, want[i]);
            assert_int_equal(st.n, b.n);
            assert_memory_equal(b.v, st.v, b.n * sizeof(b.v[0]));
        }
        struct hits b, st;
        block_and_stream(db, texts[1], &b, &st);
        assert_true(has(&b, 0, 14, 34)); /* the start is the real one */
        assert_true(has(&b, 2, 39, 59));
        gw_scan_free(db);
    }
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    unsetenv("PORTCULLIS_CACHE_DIR");
}

/* Stream mode over every two-way and many three-way splits reports exactly the block spans. */
static void
test_stream_splits(void **state)
{
    (void)state;
    char err[256];
    struct gw_scan_db *db = gw_scan_compile(rules, NRULES, 1, 1, err, sizeof(err), NULL);
    assert_non_null(db);
    const char *t = "AKIAABCDEFGHIJKLMNOP secret xsecret secret_ SECRET AKIA0123456789ABCDEF end";
    size_t n = strlen(t);
    struct hits whole = {0};
    assert_int_equal(gw_scan_block(db, t, n, record, &whole), 0);
    qsort(whole.v, whole.n, sizeof(whole.v[0]), hit_cmp);
    assert_int_equal(whole.n, 5);

    for (size_t a = 0; a <= n; a++) {
        for (size_t b = a; b <= n; b += (a % 7) + 1) {
            struct hits h = {0};
            struct gw_scan_stream *s = gw_scan_stream_open(db);
            assert_non_null(s);
            assert_int_equal(gw_scan_stream_feed(s, t, a, record, &h), 0);
            assert_int_equal(gw_scan_stream_feed(s, t + a, b - a, record, &h), 0);
            assert_int_equal(gw_scan_stream_feed(s, t + b, n - b, record, &h), 0);
            assert_int_equal(gw_scan_stream_close(s, record, &h), 0);
            qsort(h.v, h.n, sizeof(h.v[0]), hit_cmp);
            assert_int_equal(h.n, whole.n);
            assert_memory_equal(h.v, whole.v, h.n * sizeof(h.v[0]));
        }
    }
    gw_scan_free(db);
}

/* A match whose end needs the next byte (\b, $) is reported later: by the next feed or close. */
static void
test_stream_late_report(void **state)
{
    (void)state;
    char err[256];
    struct gw_scan_db *db = gw_scan_compile(rules, NRULES, 1, 1, err, sizeof(err), NULL);
    assert_non_null(db);
    struct hits h = {0};
    struct gw_scan_stream *s = gw_scan_stream_open(db);
    assert_int_equal(gw_scan_stream_feed(s, "a secret", 8, record, &h), 0);
    assert_int_equal(h.n, 0);
    assert_int_equal(gw_scan_stream_feed(s, " the end", 8, record, &h), 0);
    assert_int_equal(h.n, 1);
    assert_true(has(&h, 1, 2, 8));
    assert_int_equal(gw_scan_stream_close(s, record, &h), 0);
    assert_int_equal(h.n, 2);
    assert_true(has(&h, 2, 13, 16));

    /* closing without a callback drops the end matches and needs no scratch */
    s = gw_scan_stream_open(db);
    assert_int_equal(gw_scan_stream_feed(s, "the end", 7, record, &h), 0);
    assert_int_equal(gw_scan_stream_close(s, NULL, NULL), 0);
    assert_int_equal(h.n, 2);
    assert_int_equal(gw_scan_stream_close(NULL, NULL, NULL), 0);
    gw_scan_free(db);
}

/* The thread's scratch grows for a bigger database and is reused for the ones it serves. */
static void
test_scratch_grows(void **state)
{
    (void)state;
    char err[256];
    struct gw_scan_rule small[] = {{"a", "abc", 0}};
    struct gw_scan_rule big[40];
    char pats[40][48];
    for (int i = 0; i < 40; i++) {
        snprintf(pats[i], sizeof(pats[i]), "x%d[a-z]{2,30}y.*z{%d}", i, i % 5 + 1);
        big[i] = (struct gw_scan_rule){"big", pats[i], HS_FLAG_DOTALL};
    }
    struct gw_scan_db *d1 = gw_scan_compile(small, 1, 1, 1, err, sizeof(err), NULL);
    struct gw_scan_db *d2 = gw_scan_compile(big, 40, 1, 1, err, sizeof(err), NULL);
    assert_non_null(d1);
    assert_non_null(d2);
    hs_scratch_t *s1 = gw_scan_scratch(d1);
    assert_non_null(s1);
    hs_scratch_t *s2 = gw_scan_scratch(d2);
    assert_non_null(s2);
    size_t sz = 0;
    assert_int_equal(hs_scratch_size(s2, &sz), HS_SUCCESS);
    /* both databases are served by the one scratch now */
    assert_ptr_equal(gw_scan_scratch(d1), s2);
    struct hits h = {0};
    assert_int_equal(gw_scan_block(d1, "xabcx", 5, record, &h), 0);
    assert_int_equal(gw_scan_block(d2, "x7abyqzzz", 9, record, &h), 0);
    assert_int_equal(h.n, 2);
    gw_scan_free(d1);
    gw_scan_free(d2);
}

struct thr {
    const struct gw_scan_db *db;
    hs_scratch_t *scratch;
    size_t hits;
};

static void *
thread_main(void *p)
{
    struct thr *t = p;
    t->scratch = gw_scan_scratch(t->db);
    struct hits h = {0};
    for (int i = 0; i < 100; i++)
        gw_scan_block(t->db, "AKIAABCDEFGHIJKLMNOP", 20, record, &h);
    t->hits = h.n;
    return NULL;
}

static void
test_scratch_per_thread(void **state)
{
    (void)state;
    char err[256];
    struct gw_scan_db *db = gw_scan_compile(rules, NRULES, 1, 1, err, sizeof(err), NULL);
    assert_non_null(db);
    struct thr a = {db, NULL, 0}, b = {db, NULL, 0};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, thread_main, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, thread_main, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.hits, 100);
    assert_int_equal(b.hits, 100);
    assert_non_null(a.scratch);
    assert_non_null(b.scratch);
    gw_scan_free(db); /* the threads' scratches were freed at their exit (ASan checks leaks) */
}

/* Scanning from inside a callback fails cleanly (the scratch is in use). */
static const struct gw_scan_db *nested_db;
static int nested_rc;

static int
nested(unsigned rule, unsigned long long from, unsigned long long to, void *arg)
{
    (void)rule;
    (void)from;
    (void)to;
    (void)arg;
    struct hits h = {0};
    nested_rc = gw_scan_block(nested_db, "AKIAABCDEFGHIJKLMNOP", 20, record, &h);
    return 1;
}

static void
test_nested_scan_fails(void **state)
{
    (void)state;
    char err[256];
    struct gw_scan_db *db = gw_scan_compile(rules, NRULES, 1, 0, err, sizeof(err), NULL);
    nested_db = db;
    nested_rc = 0;
    assert_int_equal(gw_scan_block(db, "AKIAABCDEFGHIJKLMNOP", 20, nested, NULL), 0);
    assert_int_equal(nested_rc, -1);
    gw_scan_free(db);
}

/* In a child process (a fresh memory table): every expression's widths right, and the invalid
 * one an error with Hyperscan's message. Exit status 0 when so. */
static int
measure_in_child(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        static const struct {
            const char *expr;
            unsigned minw, maxw;
        } want[] = {{"abc", 3, 3}, {"a.{2,5}", 3, 6}, {"x+y", 2, UINT_MAX}};
        int bad = 0;
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
            unsigned mn = 0, mx = 0;
            bad |= gw_scan_expr_widths(want[i].expr, HS_FLAG_DOTALL, &mn, &mx, NULL, 0) != 0 ||
                   mn != want[i].minw || mx != want[i].maxw;
        }
        char err[256] = "";
        unsigned mn, mx;
        bad |= gw_scan_expr_widths("a(", 0, &mn, &mx, err, sizeof(err)) != -1 || !err[0];
        _exit(bad);
    }
    int st = 0;
    return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static long
file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

static void
test_widths_remembered(void **state)
{
    (void)state;
    char dir[] = "/tmp/pc-widths-XXXXXX", path[512] = "";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(setenv("PORTCULLIS_CACHE_DIR", dir, 1), 0);
    assert_int_equal(measure_in_child(), 0);
    char pat[600];
    snprintf(pat, sizeof(pat), "%s/widths-*.tbl", dir);
    glob_t g;
    assert_int_equal(glob(pat, 0, NULL, &g), 0);
    assert_int_equal(g.gl_pathc, 1);
    snprintf(path, sizeof(path), "%s", g.gl_pathv[0]);
    globfree(&g);
    assert_int_equal(file_size(path), 3 * 32); /* the valid three only */

    /* the next process reads the answers and measures nothing again */
    assert_int_equal(measure_in_child(), 0);
    assert_int_equal(file_size(path), 3 * 32);

    /* a damaged record (abc's shortest match) is ignored, measured again and appended */
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    unsigned char b = 0;
    assert_int_equal(pread(fd, &b, 1, 16), 1);
    b ^= 0x10;
    assert_int_equal(pwrite(fd, &b, 1, 16), 1);
    close(fd);
    assert_int_equal(measure_in_child(), 0);
    assert_int_equal(file_size(path), 4 * 32);

    /* a torn record at the end: the file starts over */
    fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "torn", 4), 4);
    close(fd);
    assert_int_equal(measure_in_child(), 0);
    assert_int_equal(file_size(path), 3 * 32);

    unlink(path);
    rmdir(dir);
    unsetenv("PORTCULLIS_CACHE_DIR");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compile_error_names_rule),
        cmocka_unit_test(test_empty_set),
        cmocka_unit_test(test_block_spans),
        cmocka_unit_test(test_som_per_rule),
        cmocka_unit_test(test_probe),
        cmocka_unit_test(test_stream_splits),
        cmocka_unit_test(test_stream_late_report),
        cmocka_unit_test(test_scratch_grows),
        cmocka_unit_test(test_scratch_per_thread),
        cmocka_unit_test(test_nested_scan_fails),
        cmocka_unit_test(test_widths_remembered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
