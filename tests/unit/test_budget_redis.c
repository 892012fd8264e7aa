/* Unit tests for store/budget_redis.c against a real redis-server that the group setup starts on a
 * free loopback port (and the group teardown kills): the semantics of every operation, key
 * prefixes and expiry as Redis sees them (through a plain hiredis connection), two stores sharing
 * a server, exact limits under 200 concurrent reserves from one base and from two threads,
 * server killed and restarted, server stopped (timeouts, late replies, a stalled connection
 * dropped), a connect that never completes, AUTH and SELECT, the NOSCRIPT fallback, cancel and
 * detach, and the blocking variant. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <cmocka.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "gateway/log.h"
#include "store/budget.h"

#define OP_WAIT_MS 5000
#define BACKOFF_MIN_MS 100 /* store/budget_redis.c: the first backoff after a failure */
#define STALL_MIN_MS 1000  /* store/budget_redis.c: a silent connection is dropped after this */

static char redis_bin[PATH_MAX];
static pid_t redis_pid;
static uint16_t redis_port;
static redisContext *admin;

/* ---- the server ---- */

static uint16_t
free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static int
find_redis_server(void)
{
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof(dirs), "%s:/usr/bin:/usr/sbin:/usr/local/bin", path ? path : "");
    char *save = NULL;
    for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(redis_bin, sizeof(redis_bin), "%s/redis-server", d);
        if (access(redis_bin, X_OK) == 0)
            return 0;
    }
    return -1;
}

static void
admin_close(void)
{
    if (admin)
        redisFree(admin);
    admin = NULL;
}

/* Returns 0 once the server answers PING. */
static int
ping(void)
{
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
    int ok = 0;
    if (c && !c->err) {
        redisSetTimeout(c, tv);
        redisReply *r = redisCommand(c, "PING");
        ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
        if (r)
            freeReplyObject(r);
    }
    if (c)
        redisFree(c);
    return ok ? 0 : -1;
}

/* Starts redis-server on redis_port and waits (polling connects, 5 s at most) until it answers. */
static int
redis_start(void)
{
    char port[8];
    snprintf(port, sizeof(port), "%u", redis_port);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, STDIN_FILENO);
            dup2(null, STDOUT_FILENO);
        }
        execl(redis_bin, "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
              "--appendonly", "no", "--loglevel", "warning", (char *)NULL);
        _exit(127);
    }
    redis_pid = pid;
    uint64_t deadline = gw_now_us() + 5000000;
    while (gw_now_us() < deadline) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "redis-server (%s) exited at start, status %d\n", redis_bin, status);
            redis_pid = 0;
            return -1;
        }
        if (ping() == 0)
            return 0;
        struct timespec nap = {0, 10 * 1000 * 1000};
        nanosleep(&nap, NULL);
    }
    fprintf(stderr, "redis-server on port %u did not answer PING within 5 s\n", redis_port);
    return -1;
}

static void
redis_signal(int sig)
{
    assert_true(redis_pid > 0);
    assert_int_equal(kill(redis_pid, sig), 0);
}

static void
redis_kill(void)
{
    if (redis_pid > 0) {
        kill(redis_pid, SIGKILL);
        waitpid(redis_pid, NULL, 0);
    }
    redis_pid = 0;
    admin_close();
}

static int
group_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN); /* hiredis writes with write(2); the gateway ignores it too */
    if (find_redis_server() < 0) {
        fprintf(stderr, "redis-server not found in PATH (nor /usr/bin, /usr/sbin, /usr/local/bin): "
                        "install it (Debian package redis-server) to run these tests\n");
        return -1;
    }
    redis_port = free_port();
    return redis_start();
}

static int
group_teardown(void **state)
{
    (void)state;
    redis_kill();
    return 0;
}

/* ---- a plain connection to look at what the store wrote ---- */

static redisReply *
admin_vcmd(const char *fmt, va_list ap)
{
    if (!admin) {
        struct timeval tv = {2, 0};
        admin = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
        if (!admin || admin->err)
            fail_msg("admin connect: %s", admin ? admin->errstr : "out of memory");
        redisSetTimeout(admin, tv);
    }
    redisReply *r = redisvCommand(admin, fmt, ap);
    if (!r)
        fail_msg("admin: %s", admin->errstr);
    return r;
}

static void
admin_ok(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = admin_vcmd(fmt, ap);
    va_end(ap);
    int bad = r->type == REDIS_REPLY_ERROR;
    if (bad)
        print_error("admin: %s: %s\n", fmt, r->str);
    freeReplyObject(r);
    assert_false(bad);
}

static long long
admin_int(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = admin_vcmd(fmt, ap);
    va_end(ap);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

static redisReply *
admin_cmd(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = admin_vcmd(fmt, ap);
    va_end(ap);
    return r;
}

/* The value of a counter key; -1 when it does not exist. */
static long long
admin_get(const char *key)
{
    redisReply *r = admin_cmd("GET %s", key);
    long long v = -1;
    if (r->type == REDIS_REPLY_STRING)
        v = strtoll(r->str, NULL, 10);
    else
        assert_int_equal(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    return v;
}

static int
setup(void **state)
{
    (void)state;
    admin_ok("FLUSHALL");
    admin_ok("SCRIPT FLUSH");
    return 0;
}

/* Leaves the server running, unstopped and without a password for the next test, whatever
 * happened in this one. */
static int
teardown(void **state)
{
    (void)state;
    if (redis_pid > 0 && waitpid(redis_pid, NULL, WNOHANG) == redis_pid)
        redis_pid = 0;
    if (redis_pid > 0) {
        kill(redis_pid, SIGCONT);
    } else {
        admin_close();
        if (redis_start() < 0)
            return -1;
    }
    admin_ok("CONFIG SET requirepass %s", "");
    return 0;
}

/* ---- running operations ---- */

struct done {
    int n;
    struct gw_budget_result res;
};

static void
on_done(void *arg, const struct gw_budget_result *res)
{
    struct done *d = arg;
    d->res = *res;
    d->n++;
}

static void
on_expired(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(int *)arg = 1;
}

/* Runs b's loop until *count reaches want or ms pass. Returns 0 or -1 (timed out). */
static int
loop_wait(struct event_base *b, const int *count, int want, int ms)
{
    int expired = 0;
    struct event *t = evtimer_new(b, on_expired, &expired);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(t, &tv);
    while (*count < want && !expired)
        event_base_loop(b, EVLOOP_ONCE);
    event_free(t);
    return *count < want ? -1 : 0;
}

static void
loop_until(struct event_base *b, const int *count, int want, int ms)
{
    if (loop_wait(b, count, want, ms) < 0)
        fail_msg("%d of %d callbacks after %d ms", *count, want, ms);
}

/* Lets ms pass in b's loop (a specified backoff or stall time; callbacks due meanwhile run). */
static void
loop_for(struct event_base *b, int ms)
{
    int never = 0;
    loop_wait(b, &never, 1, ms);
}

static struct gw_budget_counter
ctr(const char *cur, const char *prev, uint32_t weight, int64_t limit, int64_t amount,
    uint64_t expire_at_ms)
{
    struct gw_budget_counter c;
    memset(&c, 0, sizeof(c));
    snprintf(c.cur, sizeof(c.cur), "%s", cur);
    snprintf(c.prev, sizeof(c.prev), "%s", prev);
    c.prev_weight_ppm = weight;
    c.limit = limit;
    c.amount = amount;
    c.expire_at_ms = expire_at_ms;
    return c;
}

/* Runs one operation to its end, whether it answers at once or from the loop; *pending (when not
 * NULL) tells which. Checks that cb is not called from inside gw_budget_run. */
static struct gw_budget_result
run(struct gw_budget_store *s, struct event_base *b, enum gw_budget_kind kind,
    const struct gw_budget_counter *c, size_t n, int *pending)
{
    struct done d = {0};
    struct gw_budget_result res;
    memset(&res, 0xa5, sizeof(res));
    int rc = gw_budget_run(s, b, kind, c, n, &res, on_done, &d, NULL);
    assert_int_equal(d.n, 0);
    if (pending)
        *pending = rc == GW_BUDGET_PENDING;
    if (rc == GW_BUDGET_DONE)
        return res;
    assert_int_equal(rc, GW_BUDGET_PENDING);
    loop_until(b, &d.n, 1, OP_WAIT_MS);
    return d.res;
}

/* One counter without prev or expiry. */
static struct gw_budget_result
run1(struct gw_budget_store *s, struct event_base *b, enum gw_budget_kind kind, const char *key,
     int64_t limit, int64_t amount)
{
    struct gw_budget_counter c = ctr(key, "", 0, limit, amount, 0);
    return run(s, b, kind, &c, 1, NULL);
}

static void
assert_ok(const struct gw_budget_result *r, int64_t v0)
{
    if (r->status != GW_BUDGET_OK)
        fail_msg("status %d (%s), expected OK", r->status,
                 r->status == GW_BUDGET_UNAVAILABLE ? r->error : "denied");
    assert_int_equal(r->value[0], v0);
}

static void
assert_unavailable(const struct gw_budget_result *r, const char *prefix)
{
    if (r->status != GW_BUDGET_UNAVAILABLE)
        fail_msg("status %d, expected UNAVAILABLE \"%s...\"", r->status, prefix);
    if (strncmp(r->error, prefix, strlen(prefix)) != 0)
        fail_msg("error \"%s\", expected \"%s...\"", r->error, prefix);
}

static struct gw_budget_store *
store_new(const char *password, int db, const char *prefix, uint32_t timeout_ms)
{
    char err[128] = "";
    struct gw_budget_store *s = gw_budget_redis_new("127.0.0.1", redis_port, password, db, prefix,
                                                    timeout_ms, err, sizeof(err));
    if (!s)
        fail_msg("gw_budget_redis_new: %s", err);
    return s;
}

static void
store_free(struct gw_budget_store *s, struct event_base *b)
{
    gw_budget_detach(s, b);
    gw_budget_free(s);
}

/* ---- semantics ---- */

static void
test_reserve(void **state)
{
    (void)state;
    struct gw_budget_store *s = store_new(NULL, 0, "t:", 2000);
    struct event_base *b = event_base_new();
    struct gw_budget_counter c[2] = {ctr("a", "", 0, 10, 3, 0), ctr("b", "", 0, 5, 3, 0)};
    int pending = 0;
    struct gw_budget_result r = run(s, b, GW_BUDGET_RESERVE, c, 2, &pending);
    assert_true(pending);
    assert_ok(&r, 3);
    assert_int_equal(r.value[1], 3);

    /* b would reach 6 > 5: nothing changes, values before. */
    r = run(s, b, GW_BUDGET_RESERVE, c, 2, NULL);
    assert_int_equal(r.status, GW_BUDGET_DENIED);
    assert_int_equal(r.denied, 1);
    assert_int_equal(r.value[0], 3);
    assert_int_equal(r.value[1], 3);
    assert_int_equal(admin_get("t:a"), 3);
    assert_int_equal(admin_get("t:b"), 3);

    /* Both fail: the first is reported. */
    c[0].amount = 8;
    r = run(s, b, GW_BUDGET_RESERVE, c, 2, NULL);
    assert_int_equal(r.status, GW_BUDGET_DENIED);
    assert_int_equal(r.denied, 0);

    /* limit <= 0: no check. */
    struct gw_budget_counter nolimit[2] = {ctr("a", "", 0, 0, 100, 0), ctr("b", "", 0, -1, 100, 0)};
    r = run(s, b, GW_BUDGET_RESERVE, nolimit, 2, NULL);
    assert_ok(&r, 103);
    assert_int_equal(r.value[1], 103);

    /* Amounts <= 0 always fit, even over the limit; a negative amount is added. */
    struct gw_budget_counter fit[2] = {ctr("b", "", 0, 5, 0, 0), ctr("a", "", 0, 5, -3, 0)};
    r = run(s, b, GW_BUDGET_RESERVE, fit, 2, NULL);
    assert_ok(&r, 103);
    assert_int_equal(r.value[1], 100);

    /* Exactly up to the limit. */
    r = run1(s, b, GW_BUDGET_RESERVE, "c", 10, 10);
    assert_ok(&r, 10);
    r = run1(s, b, GW_BUDGET_RESERVE, "c", 10, 1);
    assert_int_equal(r.status, GW_BUDGET_DENIED);
    assert_int_equal(r.value[0], 10);

    /* A limit beyond 2^53 is no obstacle. */
    r = run1(s, b, GW_BUDGET_RESERVE, "c", INT64_MAX, 5);
    assert_ok(&r, 15);
    store_free(s, b);
    event_base_free(b);
}

static void
test_add(void **state)
{
    (void)state;
    struct gw_budget_store *s = store_new(NULL, 0, "t:", 2000);
    struct event_base *b = event_base_new();
    struct gw_budget_result r = run1(s, b, GW_BUDGET_ADD, "a", 0, 5);
    assert_ok(&r, 5);
    /* No limit check. */
    r = run1(s, b, GW_BUDGET_ADD, "a", 1, 7);
    assert_ok(&r, 12);
    /* Below 0 becomes 0. */
    r = run1(s, b, GW_BUDGET_ADD, "a", 0, -20);
    assert_ok(&r, 0);
    assert_int_equal(admin_get("t:a"), 0);
    r = run1(s, b, GW_BUDGET_ADD, "missing", 0, -3);
    assert_ok(&r, 0);
    assert_int_equal(admin_get("t:missing"), 0);
    r = run1(s, b, GW_BUDGET_ADD, "a", 0, 4);
    assert_ok(&r, 4);
    struct gw_budget_counter c[3] = {ctr("a", "", 0, 0, 1, 0), ctr("b", "", 0, 0, 2, 0),
                                     ctr("a", "", 0, 0, -1, 0)};
    r = run(s, b, GW_BUDGET_ADD, c, 3, NULL);
    /* The same key twice: both adds apply, every value is the one after the operation. */
    assert_ok(&r, 4);
    assert_int_equal(r.value[1], 2);
    assert_int_equal(r.value[2], 4);
    store_free(s, b);
    event_base_free(b);
}

static void
test_prev_weight(void **state)
{
    (void)state;
    struct gw_budget_store *s = store_new(NULL, 0, "t:", 2000);
    struct event_base *b = event_base_new();
    admin_ok("SET t:p 7");
    struct gw_budget_counter c = ctr("c", "p", 333333, 0, 0, 0);
    /* 7 * 0.333333, rounded up */
    struct gw_budget_result r = run(s, b, GW_BUDGET_READ, &c, 1, NULL);
    assert_ok(&r, 3);
    admin_ok("SET t:c 10");
    r = run(s, b, GW_BUDGET_READ, &c, 1, NULL);
    assert_ok(&r, 13);
    c.prev_weight_ppm = 1000000;
    r = run(s, b, GW_BUDGET_READ, &c, 1, NULL);
    assert_ok(&r, 17);
    c.prev_weight_ppm = 0;
    r = run(s, b, GW_BUDGET_READ, &c, 1, NULL);
    assert_ok(&r, 10);

    /* Exact near 2^52, where prev * weight is far beyond 2^53. */
    int64_t big = (INT64_C(1) << 52) + 123457;
    admin_ok("SET t:bp %lld", (long long)big);
    struct gw_budget_counter bc = ctr("bc", "bp", 999999, 0, 0, 0);
    r = run(s, b, GW_BUDGET_READ, &bc, 1, NULL);
    assert_ok(&r, (int64_t)(((unsigned __int128)big * 999999u + 999999u) / 1000000u));
    /* Rounded up below 0 too. */
    admin_ok("SET t:np -7");
    struct gw_budget_counter nc = ctr("nc", "np", 500000, 0, 0, 0);
    r = run(s, b, GW_BUDGET_READ, &nc, 1, NULL);
    assert_ok(&r, -3);

    /* RESERVE checks the weighted value: 10 + 3 + 1 <= 14, then 15 > 14. */
    c = ctr("c", "p", 333333, 14, 1, 0);
    r = run(s, b, GW_BUDGET_RESERVE, &c, 1, NULL);
    assert_ok(&r, 14);
    r = run(s, b, GW_BUDGET_RESERVE, &c, 1, NULL);
    assert_int_equal(r.status, GW_BUDGET_DENIED);
    assert_int_equal(r.value[0], 14);
    /* Writes go to cur only. */
    assert_int_equal(admin_get("t:c"), 11);
    assert_int_equal(admin_get("t:p"), 7);
    store_free(s, b);
    event_base_free(b);
}

static void
test_set(void **state)
{
    (void)state;
    struct gw_budget_store *s = store_new(NULL, 0, "t:", 2000);
    struct event_base *b = event_base_new();
    admin_ok("SET t:p 100");
    struct gw_budget_counter c = ctr("c", "p", 500000, 0, 5, 0);
    struct gw_budget_result r = run(s, b, GW_BUDGET_ADD, &c, 1, NULL);
    assert_ok(&r, 55);
    c.amount = 42;
    r = run(s, b, GW_BUDGET_SET, &c, 1, NULL);
    assert_ok(&r, 42);
    assert_int_equal(admin_get("t:c"), 42);
    assert_int_equal(admin_int("EXISTS t:p"), 0);
    /* 0 deletes cur (and prev). */
    admin_ok("SET t:p 100");
    c.amount = 0;
    r = run(s, b, GW_BUDGET_SET, &c, 1, NULL);
    assert_ok(&r, 0);
    assert_int_equal(admin_int("EXISTS t:c t:p"), 0);
    /* Several at once; no prev: nothing else is deleted. */
    admin_ok("SET t:p 100");
    struct gw_budget_counter two[2] = {ctr("x", "", 0, 0, 7, 0), ctr("y", "", 0, 0, 9, 0)};
    r = run(s, b, GW_BUDGET_SET, two, 2, NULL);
    assert_ok(&r, 7);
    assert_int_equal(r.value[1], 9);
    assert_int_equal(admin_get("t:p"), 100);
    store_free(s, b);
    event_base_free(b);
}

static void
test_read(void **state)
{
    (void)state;
    struct gw_budget_store *s = store_new(NULL, 0, "t:", 2000);
    struct event_base *b = event_base_new();
    struct gw_budget_result r = run1(s, b, GW_BUDGET_READ, "r", 1, 50);
    assert_ok(&r, 0);
    assert_int_equal(admin_int("EXISTS t:r"), 0);
    r = run1(s, b, GW_BUDGET_ADD, "r", 0, 4);
    assert_ok(&r, 4);
    /* No change and no limit check, whatever amount and limit say. */
    r = run1(s, b, GW_BUDGET_READ, "r", 1, 50);
    assert_ok(&r, 4);
    assert_int_equal(admin_get("t:r"), 4);
    /* Freed without a detach first: the base still exists, which is all that needs. */
    gw_budget_free(s);
    event_base_free(b);
}

static void
test_expiry(void **state)
{
    (void)state;
    struct gw_budget_store *s = store_new(NULL, 0, "t:", 2000);
    struct event_base *b = event_base_new();
    uint64_t now = gw_budget_clock();
    uint64_t at = now + 60000;
    struct gw_budget_counter c = ctr("e", "", 0, 0, 1, at);
    struct gw_budget_result r = run(s, b, GW_BUDGET_RESERVE, &c, 1, NULL);
    assert_ok(&r, 1);
    assert_int_equal(admin_int("PEXPIRETIME t:e"), (long long)at);
    long long ttl = admin_int("PTTL t:e");
    assert_true(ttl > 0 && ttl <= 60000);

    /* 0: no expiry, even for a key that had one. */
    c.expire_at_ms = 0;
    r = run(s, b, GW_BUDGET_ADD, &c, 1, NULL);
    assert_ok(&r, 2);
    assert_int_equal(admin_int("PTTL t:e"), -1);
    c.expire_at_ms = at + 60000;
    r = run(s, b, GW_BUDGET_ADD, &c, 1, NULL);
    assert_int_equal(admin_int("PEXPIRETIME t:e"), (long long)(at + 60000));

    /* The clamp to 0 keeps the expiry. */
    c.amount = -100;
    c.expire_at_ms = at;
    r = run(s, b, GW_BUDGET_ADD, &c, 1, NULL);
    assert_ok(&r, 0);
    assert_int_equal(admin_int("PEXPIRETIME t:e"), (long long)at);

    struct gw_budget_counter sc = ctr("s", "", 0, 0, 5, at);
    r = run(s, b, GW_BUDGET_SET, &sc, 1, NULL);
    assert_ok(&r, 5);
    assert_int_equal(admin_int("PEXPIRETIME t:s"), (long long)at);
    sc.expire_at_ms = 0;
    r = run(s, b, GW_BUDGET_SET, &sc, 1, NULL);
    assert_int_equal(admin_int("PTTL t:s"), -1);

    /* Already past: gone. */
    struct gw_budget_counter old = ctr("old", "", 0, 0, 1, now - 1000);
    r = run(s, b, GW_BUDGET_RESERVE, &old, 1, NULL);
    assert_int_equal(r.status, GW_BUDGET_OK);
    assert_int_equal(admin_int("EXISTS t:old"), 0);
    store_free(s, b);
    event_base_free(b);
}

static void
test_prefix(void **state)
{
    (void)state;
    struct gw_budget_store *s1 = store_new(NULL, 0, "one:", 2000);
    struct gw_budget_store *s2 = store_new(NULL, 0, "two:", 2000);
    struct gw_budget_store *s3 = store_new(NULL, 0, NULL, 2000);
    struct event_base *b = event_base_new();
    struct gw_budget_result r = run1(s1, b, GW_BUDGET_ADD, "k", 0, 5);
    assert_ok(&r, 5);
    r = run1(s2, b, GW_BUDGET_ADD, "k", 0, 7);
    assert_ok(&r, 7);
    r = run1(s3, b, GW_BUDGET_ADD, "k", 0, 9);
    assert_ok(&r, 9);
    assert_int_equal(admin_get("one:k"), 5);
    assert_int_equal(admin_get("two:k"), 7);
    assert_int_equal(admin_get("k"), 9);
    /* prev too. */
    admin_ok("SET one:pk 10");
    struct gw_budget_counter c = ctr("k", "pk", 1000000, 0, 0, 0);
    r = run(s1, b, GW_BUDGET_READ, &c, 1, NULL);
    assert_ok(&r, 15);
    r = run(s2, b, GW_BUDGET_READ, &c, 1, NULL);
    assert_ok(&r, 7);
    c.amount = 1;
    r = run(s1, b, GW_BUDGET_SET, &c, 1, NULL);
    assert_int_equal(admin_int("EXISTS one:pk"), 0);
    store_free(s1, b);
    store_free(s2, b);
    store_free(s3, b);
    event_base_free(b);
}

/* Two stores are two gateway instances: they share the counters. */
static void
test_two_stores(void **state)
{
    (void)state;
    struct gw_budget_store *s1 = store_new(NULL, 0, "t:", 2000);
    struct gw_budget_store *s2 = store_new(NULL, 0, "t:", 2000);
    struct event_base *b1 = event_base_new();
    struct event_base *b2 = event_base_new();
    struct gw_budget_result r = run1(s1, b1, GW_BUDGET_RESERVE, "k", 10, 6);
    assert_ok(&r, 6);
    r = run1(s2, b2, GW_BUDGET_RESERVE, "k", 10, 6);
    assert_int_equal(r.status, GW_BUDGET_DENIED);
    assert_int_equal(r.value[0], 6);
    r = run1(s2, b2, GW_BUDGET_ADD, "k", 0, -2);
    assert_ok(&r, 4);
    r = run1(s1, b1, GW_BUDGET_READ, "k", 0, 0);
    assert_ok(&r, 4);
    store_free(s1, b1);
    store_free(s2, b2);
    event_base_free(b1);
    event_base_free(b2);
}

/* ---- concurrency ---- */

struct tally {
    int n, ok, denied, other;
};

static void
on_tally(void *arg, const struct gw_budget_result *res)
{
    struct tally *t = arg;
    t->n++;
    if (res->status == GW_BUDGET_OK)
        t->ok++;
    else if (res->status == GW_BUDGET_DENIED)
        t->denied++;
    else
        t->other++;
}

/* Starts n reserves of 1 against limit on key, all in flight at once, and waits for them.
 * Returns 0, or -1 when one did not go pending or they did not all complete (no cmocka asserts:
 * runs on other threads too). */
static int
reserve_burst(struct gw_budget_store *s, struct event_base *b, const char *key, int n, int limit,
              struct tally *t)
{
    struct gw_budget_counter c = ctr(key, "", 0, limit, 1, 0);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        struct gw_budget_result res;
        if (gw_budget_run(s, b, GW_BUDGET_RESERVE, &c, 1, &res, on_tally, t, NULL) !=
            GW_BUDGET_PENDING)
            bad = 1;
    }
    if (t->n != 0)
        bad = 1;
    if (loop_wait(b, &t->n, n, 10000) < 0)
        bad = 1;
    return bad ? -1 : 0;
}

static void
test_burst_one_base(void **state)
{
    (void)state;
    struct gw_budget_store *s = store_new(NULL, 0, "t:", 5000);
    struct event_base *b = event_base_new();
    struct tally t = {0};
    assert_int_equal(reserve_burst(s, b, "burst", 200, 50, &t), 0);
    assert_int_equal(t.ok, 50);
    assert_int_equal(t.denied, 150);
    assert_int_equal(t.other, 0);
    assert_int_equal(admin_get("t:burst"), 50);
    store_free(s, b);
    event_base_free(b);
}

struct worker {
    struct gw_budget_store *s;
    const char *key;
    struct tally t;
    int rc;
};

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    struct event_base *b = event_base_new();
    w->rc = b ? reserve_burst(w->s, b, w->key, 100, 50, &w->t) : -1;
    gw_budget_detach(w->s, b);
    event_base_free(b);
    return NULL;
}

static void
burst_two_threads(struct gw_budget_store *s1, struct gw_budget_store *s2, const char *key)
{
    struct worker w[2] = {{.s = s1, .key = key}, {.s = s2, .key = key}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(w[i].rc, 0);
        assert_int_equal(w[i].t.other, 0);
        assert_int_equal(w[i].t.n, 100);
    }
    assert_int_equal(w[0].t.ok + w[1].t.ok, 50);
    assert_int_equal(w[0].t.denied + w[1].t.denied, 150);
    assert_int_equal(admin_get(key[0] == 'a' ? "t:a2" : "t:b2"), 50);
}

static void
test_burst_two_threads(void **state)
{
    (void)state;
    /* One store used by two workers (two bases, two connections)... */
    struct gw_budget_store *s = store_new(NULL, 0, "t:", 5000);
    burst_two_threads(s, s, "a2");
    gw_budget_free(s);
    /* ...and two stores (two gateway instances). */
    struct gw_budget_store *s1 = store_new(NULL, 0, "t:", 5000);
    struct gw_budget_store *s2 = store_new(NULL, 0, "t:", 5000);
    burst_two_threads(s1, s2, "b2");
    gw_budget_free(s1);
    gw_budget_free(s2);
}

/* ---- failures ---- */

/* A callback that runs another operation on the same base. */
struct rerun {
    struct gw_budget_store *s;
    struct event_base *b;
    struct done first, again;
    int rc;
};

static void
on_rerun(void *arg, const struct gw_budget_result *res)
{
    struct rerun *x = arg;
    on_done(&x->first, res);
    struct gw_budget_counter c = ctr("k", "", 0, 0, 1, 0);
    x->rc =
        gw_budget_run(x->s, x->b, GW_BUDGET_ADD, &c, 1, &x->again.res, on_done, &x->again, NULL);
}

static void
test_kill_restart(void **state)
{
    (void)state;
    struct gw_budget_store *s = store_new(NULL, 0, "t:", 2000);
    struct event_base *b = event_base_new();
    struct gw_budget_result r = run1(s, b, GW_BUDGET_ADD, "k", 0, 1);
    assert_ok(&r, 1);

    /* Pending when the server dies: they complete UNAVAILABLE, from the loop. */
    struct done d[5] = {{0}};
    struct gw_budget_counter c = ctr("k", "", 0, 0, 1, 0);
    struct rerun x = {.s = s, .b = b};
    assert_int_equal(gw_budget_run(s, b, GW_BUDGET_ADD, &c, 1, &r, on_rerun, &x, NULL),
                     GW_BUDGET_PENDING);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(gw_budget_run(s, b, GW_BUDGET_ADD, &c, 1, &r, on_done, &d[i], NULL),
                         GW_BUDGET_PENDING);
    }
    redis_kill();
    loop_until(b, &x.first.n, 1, 2000);
    assert_unavailable(&x.first.res, "redis down: ");
    for (int i = 0; i < 5; i++) {
        loop_until(b, &d[i].n, 1, 2000);
        assert_unavailable(&d[i].res, "redis down: ");
    }
    /* The op run from the first callback, while the connection was being torn down, failed at
     * once, without a callback. */
    assert_int_equal(x.rc, GW_BUDGET_DONE);
    assert_unavailable(&x.again.res, "redis down: ");
    assert_int_equal(x.again.n, 0);

    /* New ones fail promptly (connection refused, from the loop or at once)... */
    uint64_t t0 = gw_now_us();
    r = run1(s, b, GW_BUDGET_ADD, "k", 0, 1);
    assert_unavailable(&r, "redis down: ");
    assert_true(gw_now_us() - t0 < 500000);
    /* ...and at once within the backoff. */
    int pending = 1;
    r = run(s, b, GW_BUDGET_ADD, &c, 1, &pending);
    assert_false(pending);
    assert_unavailable(&r, "redis down: ");
    run(s, b, GW_BUDGET_ADD, &c, 1, &pending);
    assert_false(pending);

    /* Back on the same port: the first op after the backoff reconnects (to an empty server,
     * which needs the script sent again: EVALSHA answers NOSCRIPT). */
    assert_int_equal(redis_start(), 0);
    loop_for(b, BACKOFF_MIN_MS + 50);
    r = run(s, b, GW_BUDGET_ADD, &c, 1, &pending);
    assert_true(pending);
    assert_ok(&r, 1);
    store_free(s, b);
    event_base_free(b);
}

static void
test_stall(void **state)
{
    (void)state;
    struct gw_budget_store *s = store_new(NULL, 0, "t:", 200);
    struct event_base *b = event_base_new();
    struct gw_budget_result r = run1(s, b, GW_BUDGET_READ, "k", 0, 0);
    assert_ok(&r, 0);

    /* Stopped: the op times out after about timeout_ms... */
    redis_signal(SIGSTOP);
    uint64_t t0 = gw_now_us();
    r = run1(s, b, GW_BUDGET_RESERVE, "k", 10, 1);
    uint64_t took = (gw_now_us() - t0) / 1000;
    assert_unavailable(&r, "timeout");
    assert_true(took >= 190 && took < 1000);
    /* ...and its late reply, which comes before this one's, is ignored. The reserve itself was
     * applied: a timeout does not mean "not done". */
    redis_signal(SIGCONT);
    r = run1(s, b, GW_BUDGET_READ, "k", 0, 0);
    assert_ok(&r, 1);

    /* The blocking variant times out too, and reconnects afterwards. */
    struct gw_budget_counter c = ctr("k", "", 0, 0, 0, 0);
    gw_budget_run_sync(s, GW_BUDGET_READ, &c, 1, &r);
    assert_ok(&r, 1);
    redis_signal(SIGSTOP);
    t0 = gw_now_us();
    gw_budget_run_sync(s, GW_BUDGET_READ, &c, 1, &r);
    took = (gw_now_us() - t0) / 1000;
    assert_unavailable(&r, "timeout");
    assert_true(took >= 190 && took < 1000);
    redis_signal(SIGCONT);
    gw_budget_run_sync(s, GW_BUDGET_READ, &c, 1, &r);
    assert_ok(&r, 1);

    /* A connection silent for STALL_MIN_MS while it owes replies is dropped, and the base backs
     * off. */
    redis_signal(SIGSTOP);
    r = run1(s, b, GW_BUDGET_ADD, "k", 0, 1);
    assert_unavailable(&r, "timeout");
    loop_for(b, STALL_MIN_MS - 300);
    r = run1(s, b, GW_BUDGET_READ, "k", 0, 0);
    assert_unavailable(&r, "timeout");
    int pending = 1;
    r = run(s, b, GW_BUDGET_READ, &c, 1, &pending);
    assert_false(pending);
    assert_unavailable(&r, "redis down: no reply for ");
    redis_signal(SIGCONT);
    loop_for(b, BACKOFF_MIN_MS + 50);
    r = run(s, b, GW_BUDGET_READ, &c, 1, &pending);
    assert_true(pending);
    assert_int_equal(r.status, GW_BUDGET_OK);
    store_free(s, b);
    event_base_free(b);
}

/* A server whose accept queue is full: the SYN goes unanswered, the connect never completes. */
static void
test_connect_timeout(void **state)
{
    (void)state;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
    assert_int_equal(listen(lfd, 0), 0);
    int fill[2];
    for (int i = 0; i < 2; i++) {
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        assert_true(fill[i] >= 0);
        connect(fill[i], (struct sockaddr *)&a, sizeof(a));
    }
    char err[128];
    struct gw_budget_store *s =
        gw_budget_redis_new("127.0.0.1", ntohs(a.sin_port), NULL, 0, "t:", 200, err, sizeof(err));
    assert_non_null(s);
    struct event_base *b = event_base_new();
    int pending = 0;
    struct gw_budget_counter c = ctr("k", "", 0, 0, 1, 0);
    struct gw_budget_result r = run(s, b, GW_BUDGET_ADD, &c, 1, &pending);
    assert_true(pending);
    assert_unavailable(&r, "timeout");
    r = run(s, b, GW_BUDGET_ADD, &c, 1, &pending);
    assert_false(pending);
    assert_unavailable(&r, "redis down: connect timeout");
    store_free(s, b);
    event_base_free(b);
    close(fill[0]);
    close(fill[1]);
    close(lfd);
}

static void
test_down_at_start(void **state)
{
    (void)state;
    char err[128];
    struct gw_budget_store *s =
        gw_budget_redis_new("127.0.0.1", free_port(), NULL, 0, "t:", 2000, err, sizeof(err));
    assert_non_null(s);
    struct event_base *b = event_base_new();
    struct gw_budget_counter c = ctr("k", "", 0, 0, 1, 0);
    struct gw_budget_result r = run(s, b, GW_BUDGET_ADD, &c, 1, NULL);
    assert_unavailable(&r, "redis down: ");
    int pending = 1;
    r = run(s, b, GW_BUDGET_ADD, &c, 1, &pending);
    assert_false(pending);
    assert_unavailable(&r, "redis down: ");
    gw_budget_run_sync(s, GW_BUDGET_ADD, &c, 1, &r);
    assert_unavailable(&r, "redis down: ");
    store_free(s, b);
    event_base_free(b);
}

static void
test_auth_select(void **state)
{
    (void)state;
    admin_ok("CONFIG SET requirepass %s", "sesame");
    struct gw_budget_store *s = store_new("sesame", 3, "t:", 2000);
    struct event_base *b = event_base_new();
    struct gw_budget_result r = run1(s, b, GW_BUDGET_ADD, "k", 0, 4);
    assert_ok(&r, 4);
    assert_int_equal(admin_int("EXISTS t:k"), 0);
    admin_ok("SELECT 3");
    assert_int_equal(admin_get("t:k"), 4);
    admin_ok("SELECT 0");
    struct gw_budget_counter c = ctr("k", "", 0, 0, 1, 0);
    gw_budget_run_sync(s, GW_BUDGET_ADD, &c, 1, &r);
    assert_ok(&r, 5);

    /* A wrong password: the first op learns it, the next ones are in the backoff. */
    struct gw_budget_store *bad = store_new("wrong", 0, "t:", 2000);
    int pending = 0;
    r = run(bad, b, GW_BUDGET_ADD, &c, 1, &pending);
    assert_true(pending);
    assert_unavailable(&r, "redis down: WRONGPASS");
    r = run(bad, b, GW_BUDGET_ADD, &c, 1, &pending);
    assert_false(pending);
    assert_unavailable(&r, "redis down: WRONGPASS");
    gw_budget_run_sync(bad, GW_BUDGET_ADD, &c, 1, &r);
    assert_unavailable(&r, "redis down: WRONGPASS");
    /* None at all. */
    struct gw_budget_store *none = store_new(NULL, 0, "t:", 2000);
    r = run(none, b, GW_BUDGET_ADD, &c, 1, NULL);
    assert_unavailable(&r, "redis: NOAUTH");
    /* Detached while AUTH and SELECT are still unanswered. */
    gw_budget_detach(s, b);
    struct done d = {0};
    assert_int_equal(gw_budget_run(s, b, GW_BUDGET_ADD, &c, 1, &r, on_done, &d, NULL),
                     GW_BUDGET_PENDING);
    gw_budget_detach(s, b);
    loop_for(b, 50);
    assert_int_equal(d.n, 0);
    admin_ok("CONFIG SET requirepass %s", "");
    store_free(s, b);
    store_free(bad, b);
    store_free(none, b);
    event_base_free(b);
}

/* ---- the rest of the interface ---- */

static void
test_noscript(void **state)
{
    (void)state;
    struct gw_budget_store *s = store_new(NULL, 0, "t:", 2000);
    struct event_base *b = event_base_new();
    struct gw_budget_result r = run1(s, b, GW_BUDGET_ADD, "k", 0, 1);
    assert_ok(&r, 1);
    admin_ok("SCRIPT FLUSH");
    /* All pipelined, each answered NOSCRIPT, each resent once. */
    struct tally t = {0};
    struct gw_budget_counter c = ctr("k", "", 0, 0, 1, 0);
    for (int i = 0; i < 20; i++)
        assert_int_equal(gw_budget_run(s, b, GW_BUDGET_ADD, &c, 1, &r, on_tally, &t, NULL),
                         GW_BUDGET_PENDING);
    loop_until(b, &t.n, 20, OP_WAIT_MS);
    assert_int_equal(t.ok, 20);
    assert_int_equal(admin_get("t:k"), 21);
    r = run1(s, b, GW_BUDGET_ADD, "k", 0, 1);
    assert_ok(&r, 22);
    admin_ok("SCRIPT FLUSH");
    gw_budget_run_sync(s, GW_BUDGET_ADD, &c, 1, &r);
    assert_ok(&r, 23);
    store_free(s, b);
    event_base_free(b);
}

static void
test_sync(void **state)
{
    (void)state;
    struct gw_budget_store *s = store_new(NULL, 0, "t:", 2000);
    struct event_base *b = event_base_new();
    struct gw_budget_result r = run1(s, b, GW_BUDGET_RESERVE, "k", 10, 5);
    assert_ok(&r, 5);
    struct gw_budget_counter c = ctr("k", "", 0, 10, 6, 0);
    gw_budget_run_sync(s, GW_BUDGET_READ, &c, 1, &r);
    assert_ok(&r, 5);
    gw_budget_run_sync(s, GW_BUDGET_RESERVE, &c, 1, &r);
    assert_int_equal(r.status, GW_BUDGET_DENIED);
    assert_int_equal(r.value[0], 5);
    gw_budget_run_sync(s, GW_BUDGET_SET, &c, 1, &r);
    assert_ok(&r, 6);
    r = run1(s, b, GW_BUDGET_READ, "k", 0, 0);
    assert_ok(&r, 6);
    /* The blocking connection is re-made after the server closed it. */
    admin_ok("CLIENT KILL TYPE normal SKIPME yes");
    gw_budget_run_sync(s, GW_BUDGET_READ, &c, 1, &r);
    assert_unavailable(&r, "redis down: ");
    gw_budget_run_sync(s, GW_BUDGET_READ, &c, 1, &r);
    assert_ok(&r, 6);
    store_free(s, b);
    event_base_free(b);
}

static void
test_cancel_detach(void **state)
{
    (void)state;
    struct gw_budget_store *s = store_new(NULL, 0, "t:", 2000);
    struct event_base *b = event_base_new();
    struct done d1 = {0}, d2 = {0}, d3 = {0};
    struct gw_budget_result r;
    struct gw_budget_op *op = NULL;
    struct gw_budget_counter c = ctr("k", "", 0, 0, 1, 0);
    /* Cancelled before its connection is even up. */
    assert_int_equal(gw_budget_run(s, b, GW_BUDGET_ADD, &c, 1, &r, on_done, &d1, &op),
                     GW_BUDGET_PENDING);
    assert_non_null(op);
    gw_budget_cancel(op);
    c.amount = 0;
    assert_int_equal(gw_budget_run(s, b, GW_BUDGET_READ, &c, 1, &r, on_done, &d2, NULL),
                     GW_BUDGET_PENDING);
    loop_until(b, &d2.n, 1, OP_WAIT_MS);
    /* Cancel only silences the op: it may have been applied or not (here it was sent, but as
     * EVALSHA to a server without the script, and a cancelled op is not resent). */
    assert_int_equal(d2.res.status, GW_BUDGET_OK);
    assert_true(d2.res.value[0] == 0 || d2.res.value[0] == 1);
    loop_for(b, 50);
    assert_int_equal(d1.n, 0);

    /* Detach with one op pending and one cancelled: no callback, nothing leaks. */
    c.amount = 1;
    assert_int_equal(gw_budget_run(s, b, GW_BUDGET_ADD, &c, 1, &r, on_done, &d1, &op),
                     GW_BUDGET_PENDING);
    gw_budget_cancel(op);
    assert_int_equal(gw_budget_run(s, b, GW_BUDGET_ADD, &c, 1, &r, on_done, &d3, NULL),
                     GW_BUDGET_PENDING);
    gw_budget_detach(s, b);
    loop_for(b, 50);
    assert_int_equal(d1.n, 0);
    assert_int_equal(d3.n, 0);
    /* The base can be used again: a new connection. */
    r = run1(s, b, GW_BUDGET_READ, "k", 0, 0);
    assert_int_equal(r.status, GW_BUDGET_OK);
    store_free(s, b);

    /* Detach while the connection is still being made. */
    s = store_new(NULL, 0, "t:", 2000);
    assert_int_equal(gw_budget_run(s, b, GW_BUDGET_ADD, &c, 1, &r, on_done, &d3, NULL),
                     GW_BUDGET_PENDING);
    gw_budget_detach(s, b);
    loop_for(b, 50);
    assert_int_equal(d3.n, 0);
    gw_budget_free(s);
    event_base_free(b);
}

static void
test_invalid(void **state)
{
    (void)state;
    char err[128] = "";
    assert_null(gw_budget_redis_new(NULL, 6379, NULL, 0, "", 100, err, sizeof(err)));
    assert_true(err[0]);
    err[0] = '\0';
    assert_null(gw_budget_redis_new("127.0.0.1", 0, NULL, 0, "", 100, err, sizeof(err)));
    assert_true(err[0]);
    assert_null(gw_budget_redis_new("127.0.0.1", 6379, NULL, 0, "", 0, err, sizeof(err)));
    assert_null(gw_budget_redis_new("127.0.0.1", 6379, NULL, -1, "", 100, err, sizeof(err)));

    struct gw_budget_store *s = store_new(NULL, 0, "t:", 2000);
    struct event_base *b = event_base_new();
    struct gw_budget_counter c = ctr("k", "p", 1000001, 0, 1, 0);
    int pending = 1;
    struct gw_budget_result r = run(s, b, GW_BUDGET_ADD, &c, 1, &pending);
    assert_false(pending);
    assert_unavailable(&r, "invalid counter 0");
    gw_budget_run_sync(s, GW_BUDGET_ADD, &c, 1, &r);
    assert_unavailable(&r, "invalid counter 0");
    c = ctr("k", "", 0, 0, (INT64_C(1) << 53) + 1, 0);
    r = run(s, b, GW_BUDGET_ADD, &c, 1, &pending);
    assert_false(pending);
    assert_int_equal(r.status, GW_BUDGET_UNAVAILABLE);
    c = ctr("k", "", 0, 0, 1, 0);
    memset(c.cur, 'x', sizeof(c.cur)); /* not terminated */
    r = run(s, b, GW_BUDGET_ADD, &c, 1, &pending);
    assert_false(pending);
    assert_int_equal(r.status, GW_BUDGET_UNAVAILABLE);
    r = run(s, b, GW_BUDGET_ADD, &c, 0, &pending);
    assert_false(pending);
    assert_int_equal(r.status, GW_BUDGET_UNAVAILABLE);
    c = ctr("k", "", 0, 0, 1, 0);
    r = run(s, b, (enum gw_budget_kind)9, &c, 1, &pending);
    assert_false(pending);
    assert_int_equal(r.status, GW_BUDGET_UNAVAILABLE);
    /* Nothing reached the server. */
    assert_int_equal(admin_int("DBSIZE"), 0);
    /* A full-length key with a prefix. */
    struct gw_budget_counter l = ctr("", "", 0, 0, 3, 0);
    memset(l.cur, 'y', GW_BUDGET_KEY_MAX);
    r = run(s, b, GW_BUDGET_ADD, &l, 1, NULL);
    assert_ok(&r, 3);
    char key[GW_BUDGET_KEY_MAX + 3] = "t:";
    memcpy(key + 2, l.cur, GW_BUDGET_KEY_MAX + 1);
    assert_int_equal(admin_get(key), 3);
    /* Many counters. */
    struct gw_budget_counter many[GW_BUDGET_MAX_COUNTERS];
    for (int i = 0; i < GW_BUDGET_MAX_COUNTERS; i++) {
        char k[16], p[16];
        snprintf(k, sizeof(k), "m%d", i);
        snprintf(p, sizeof(p), "mp%d", i);
        many[i] = ctr(k, p, 500000, 100, i, 0);
    }
    r = run(s, b, GW_BUDGET_RESERVE, many, GW_BUDGET_MAX_COUNTERS, NULL);
    assert_ok(&r, 0);
    assert_int_equal(r.value[GW_BUDGET_MAX_COUNTERS - 1], GW_BUDGET_MAX_COUNTERS - 1);
    store_free(s, b);
    event_base_free(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reserve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prev_weight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_stores, setup, teardown),
        cmocka_unit_test_setup_teardown(test_burst_one_base, setup, teardown),
        cmocka_unit_test_setup_teardown(test_burst_two_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_noscript, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_detach, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_select, setup, teardown),
        cmocka_unit_test_setup_teardown(test_down_at_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stall, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_restart, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
