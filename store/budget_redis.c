/*
 * The Redis backend of store/budget.h: counters live in a Redis server shared by every gateway
 * instance, and every operation is one Lua script, so it is atomic across threads and instances.
 *
 * The script (SCRIPT below) implements the four operations. KEYS are two per counter: the
 * prefixed cur key, then the prefixed prev key (the cur key again when the counter has no prev:
 * the weight argument -1 tells the script to leave it alone, and a key that is listed but never
 * touched keeps "every key a script touches is in KEYS" true). ARGV is the operation's letter,
 * then four per counter: prev weight in ppm (-1: no prev), limit, amount, expire_at_ms. It
 * returns {status (0 OK, 1 DENIED), denied index, value of counter 1, ..., value of counter n}.
 * A write sets PEXPIREAT to the counter's expire_at_ms, or PERSIST when it is 0. Commands are sent
 * as EVALSHA with the SHA1 of the script computed at creation; a NOSCRIPT error (a restarted
 * server, SCRIPT FLUSH) resends the same operation once as EVAL, which also caches the script.
 *
 * Numbers: Lua numbers are doubles. Adds go through INCRBY with the caller's decimal string, so
 * the stored counters are exact 64-bit integers; the limit checks and the values returned are
 * computed with doubles and are exact while counters, amounts and value + amount stay within
 * +-2^53 (9.0e15: tokens and micro-USD fit with room to spare). Amounts outside that range are
 * refused (the operation completes UNAVAILABLE "invalid counter N"), limits above it are clamped
 * to it. The weighted prev, prev * w / 1e6 rounded up (store/budget.h), is
 * floor(prev / 1e6) * w + ceil((prev mod 1e6) * w / 1e6), exact without ever forming prev * w.
 *
 * Details the header leaves open: an amount of 0 writes nothing (no key created, expiry left as
 * it is); RESERVE checks each counter against the values before the operation and, like the
 * header says, adds negative amounts unclamped (only ADD clamps at 0); the values returned are
 * read back after all the writes, so a key named twice shows both amounts. An operation that
 * timed out or was cancelled may still be applied by the server (or not: it is not resent after
 * NOSCRIPT once done).
 *
 * Asynchronous operations (gw_budget_run): one connection per event_base, found in a small list
 * under a mutex and opened lazily by the first operation on that base (redisAsyncConnect, then
 * redisLibeventAttach to the base). AUTH (when a password is set) and SELECT (when db is not 0) are
 * pipelined ahead of that first operation. A connection still connecting takes operations: they
 * queue in hiredis and the operation timeout covers the connect. Each operation is a struct rop,
 * handed to hiredis as the reply callback's privdata, with an evtimer on the base for timeout_ms:
 *
 *   - reply first: the result goes to cb, the timer and the op are freed.
 *   - timer first: cb gets UNAVAILABLE "timeout" and the op is marked done, its timer and command
 *     freed; the op itself stays with hiredis until the reply (ignored) or the connection's end
 *     releases it. gw_budget_cancel does the same without calling cb.
 *
 * A connection is closed (every pending op completes UNAVAILABLE "redis down: ...", from the
 * loop) when the server closes it or an I/O error occurs, when AUTH or SELECT fails, when a timeout
 * fires while it is still connecting ("connect timeout"), and when it owes replies and has sent
 * none for STALL_FACTOR * timeout_ms (at least STALL_MIN_MS): a server that is stopped or a peer
 * that vanished without a reset, which would otherwise hold every op until TCP gives up, and pile
 * ops up without bound. A connection that never delivered a reply, and every connection this
 * file closes on its own (not a detach), counts as a failure: the base's next connection attempt
 * waits BACKOFF_MIN_MS, doubling with each further failure up to BACKOFF_MAX_MS, and back to the
 * minimum after a reply. Within the backoff gw_budget_run answers UNAVAILABLE "redis down:
 * <reason>" at once (DONE); the first op after it connects again. A working connection that the
 * server closes is forgotten without a backoff: the next op reconnects at once. At most OWED_MAX
 * ops (done ones awaiting their late reply included) may be held by one connection.
 *
 * The hiredis side of a connection is a struct link, separate from the base's struct conn so that
 * a link being torn down (hiredis calling back every pending op with a NULL reply, then the
 * disconnect callback) never gets mixed up with its successor. A link is freed when hiredis is
 * done with its context and owes it no reply. cb is only called from the loop: from a hiredis
 * reply callback or from a timer, never from gw_budget_run (which only ever frees a context
 * that holds no op).
 *
 * Synchronous operations (gw_budget_run_sync): one blocking connection per store, under a mutex,
 * opened when needed (redisConnectWithTimeout, redisSetTimeout, AUTH, SELECT) and closed after any
 * error, so the next call reconnects. Each blocking step (connect, each command) is bounded by
 * timeout_ms.
 *
 * hiredis writes with write(2): the process must ignore SIGPIPE (gateway/main.c does). The host
 * is resolved by getaddrinfo on each connection attempt, on the calling worker: give an address
 * or a name the resolver answers from /etc/hosts.
 */
#include "store/budget.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>
#include <openssl/evp.h>

#include "filters/hexdigit.h"
#include "gateway/log.h"
#include "store/budget_impl.h"

#define BACKOFF_MIN_MS 100u
#define BACKOFF_MAX_MS 5000u
#define STALL_FACTOR 4u
#define STALL_MIN_MS 1000u
#define OWED_MAX 16384u
#define PREFIX_MAX 256u
/* Lua numbers are doubles: integers are exact up to this magnitude. */
#define EXACT_MAX (INT64_C(1) << 53)
/* EVALSHA sha numkeys, 2 keys per counter, the op letter, 4 arguments per counter. */
#define ARGC_MAX (4 + 6 * GW_BUDGET_MAX_COUNTERS)
#define WHY_MAX 100

static const char SCRIPT[] =
    "local op = ARGV[1]\n"
    "local n = #KEYS / 2\n"
    "local function num(k)\n"
    "  local v = redis.call('GET', k)\n"
    "  if not v then return 0 end\n"
    "  local x = tonumber(v)\n"
    "  if not x then error('budget: ' .. k .. ' is not a number') end\n"
    "  return x\n"
    "end\n"
    "local function value(i)\n"
    "  local v = num(KEYS[2 * i - 1])\n"
    "  local w = tonumber(ARGV[4 * i - 2])\n"
    "  if w > 0 then\n"
    "    local p = num(KEYS[2 * i])\n"
    "    local q = math.floor(p / 1000000)\n"
    "    v = v + q * w + math.ceil((p - q * 1000000) * w / 1000000)\n"
    "  end\n"
    "  return v\n"
    "end\n"
    "local function expire(k, at)\n"
    "  if at == '0' then redis.call('PERSIST', k) else redis.call('PEXPIREAT', k, at) end\n"
    "end\n"
    "local out = {0, 0}\n"
    "if op == 'R' then\n"
    "  for i = 1, n do\n"
    "    local lim = tonumber(ARGV[4 * i - 1])\n"
    "    local amt = tonumber(ARGV[4 * i])\n"
    "    if lim > 0 and amt > 0 and value(i) + amt > lim then\n"
    "      out[1] = 1\n"
    "      out[2] = i - 1\n"
    "      for j = 1, n do out[j + 2] = value(j) end\n"
    "      return out\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if op == 'R' or op == 'A' then\n"
    "  for i = 1, n do\n"
    "    local k = KEYS[2 * i - 1]\n"
    "    if ARGV[4 * i] ~= '0' then\n"
    "      if redis.call('INCRBY', k, ARGV[4 * i]) < 0 and op == 'A' then\n"
    "        redis.call('SET', k, '0')\n"
    "      end\n"
    "      expire(k, ARGV[4 * i + 1])\n"
    "    end\n"
    "  end\n"
    "elseif op == 'S' then\n"
    "  for i = 1, n do\n"
    "    local k = KEYS[2 * i - 1]\n"
    "    if ARGV[4 * i] == '0' then\n"
    "      redis.call('DEL', k)\n"
    "    else\n"
    "      redis.call('SET', k, ARGV[4 * i])\n"
    "      expire(k, ARGV[4 * i + 1])\n"
    "    end\n"
    "    if tonumber(ARGV[4 * i - 2]) >= 0 then redis.call('DEL', KEYS[2 * i]) end\n"
    "  end\n"
    "end\n"
    "for i = 1, n do out[i + 2] = value(i) end\n"
    "return out\n";

/* The arguments of one command; argv[0] and argv[1] (EVALSHA sha / EVAL script) are set when it
 * is sent. The strings live in data. */
struct cmd {
    int argc;
    const char *argv[ARGC_MAX];
    size_t len[ARGC_MAX];
    char data[];
};

struct redis_store {
    struct gw_budget_store base; /* first: the dispatch in store/budget.c */
    char *host;
    uint16_t port;
    char *password; /* NULL: no AUTH */
    int db;
    char *prefix;
    size_t prefix_len;
    uint32_t timeout_ms;
    uint64_t stall_ms;
    char sha[41]; /* hex SHA1 of SCRIPT */

    /* Guards the conns list; the fields of each conn belong to its base's thread. */
    pthread_mutex_t lock;
    struct conn *conns;

    pthread_mutex_t sync_lock; /* guards sync */
    redisContext *sync;
};

/* One per event_base that ran an operation: its connection and its backoff. */
struct conn {
    struct conn *next;
    struct redis_store *s;
    struct event_base *base;
    struct link *link;   /* the current connection, NULL when there is none */
    uint64_t retry_at;   /* monotonic ms: no new connection before */
    uint32_t backoff_ms; /* the next failure's backoff, 0 for BACKOFF_MIN_MS */
    char down[WHY_MAX];  /* why the last connection failed */
};

/* One hiredis connection. Freed when hiredis is done with the context (ac NULL) and owes no
 * reply (owed 0), whichever comes last. */
struct link {
    struct redis_store *s;
    struct conn *conn;     /* NULL once its base was detached */
    redisAsyncContext *ac; /* NULL once hiredis has freed it, or frees it without more callbacks */
    size_t owed;           /* replies hiredis will deliver: ops, done or not, and AUTH / SELECT */
    uint64_t progress_ms;  /* the last reply, or when owed went from 0 to 1 */
    int ready;             /* a reply arrived: the server works */
    int dying;             /* being torn down: takes no more commands */
    int quiet;             /* detached: pending ops complete without their callbacks */
    char why[WHY_MAX];     /* why it is being torn down */
};

/* A pending operation; the reply callback's privdata. */
struct rop {
    struct gw_budget_op base; /* first: gw_budget_cancel finds the backend */
    struct link *link;        /* holds a reference (link->owed) while hiredis holds the op */
    struct event *timer;      /* NULL once done */
    struct cmd *cmd;          /* kept for the EVAL fallback; NULL once done */
    gw_budget_cb cb;
    void *arg;
    size_t n;
    int done; /* cb ran (timeout) or was cancelled: the reply is ignored */
};

static const struct gw_budget_ops redis_ops;

static uint64_t
now_ms(void)
{
    return gw_now_us() / 1000u;
}

static void unavailable(struct gw_budget_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
unavailable(struct gw_budget_result *res, const char *fmt, ...)
{
    gw_budget_unavailable(res, "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->error, sizeof(res->error), fmt, ap);
    va_end(ap);
}

/* Checks the counters and builds the command's arguments (all but argv[0], argv[1]). Returns
 * NULL with a message in why for invalid counters or when out of memory. */
static struct cmd *
cmd_build(const struct redis_store *s, enum gw_budget_kind kind, const struct gw_budget_counter *c,
          size_t n, char *why, size_t whylen)
{
    static const char letters[] = {[GW_BUDGET_RESERVE] = 'R',
                                   [GW_BUDGET_ADD] = 'A',
                                   [GW_BUDGET_READ] = 'G',
                                   [GW_BUDGET_SET] = 'S'};
    if ((unsigned)kind >= sizeof(letters)) {
        snprintf(why, whylen, "invalid operation");
        return NULL;
    }
    size_t need = 16;
    for (size_t i = 0; i < n; i++) {
        size_t cl = strnlen(c[i].cur, sizeof(c[i].cur));
        size_t pl = strnlen(c[i].prev, sizeof(c[i].prev));
        if (cl > GW_BUDGET_KEY_MAX || pl > GW_BUDGET_KEY_MAX || c[i].prev_weight_ppm > 1000000u ||
            c[i].amount > EXACT_MAX || c[i].amount < -EXACT_MAX) {
            snprintf(why, whylen, "invalid counter %zu", i);
            return NULL;
        }
        need += 2 * (s->prefix_len + 1) + cl + pl + 4 * 24;
    }
    struct cmd *m = malloc(sizeof(*m) + need);
    if (!m) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    char *p = m->data;
    m->argc = 3;
    m->argv[2] = p;
    m->len[2] = (size_t)sprintf(p, "%zu", 2 * n);
    p += m->len[2] + 1;
    for (size_t i = 0; i < n; i++) {
        const char *keys[2] = {c[i].cur, c[i].prev};
        for (int k = 0; k < 2; k++) {
            if (k == 1 && !c[i].prev[0]) {
                m->argv[m->argc] = m->argv[m->argc - 1];
                m->len[m->argc] = m->len[m->argc - 1];
                m->argc++;
                continue;
            }
            size_t kl = strlen(keys[k]);
            memcpy(p, s->prefix, s->prefix_len);
            memcpy(p + s->prefix_len, keys[k], kl + 1);
            m->argv[m->argc] = p;
            m->len[m->argc++] = s->prefix_len + kl;
            p += s->prefix_len + kl + 1;
        }
    }
    m->argv[m->argc] = p;
    m->len[m->argc++] = 1;
    *p++ = letters[kind];
    *p++ = '\0';
    for (size_t i = 0; i < n; i++) {
        long long limit = c[i].limit > EXACT_MAX ? EXACT_MAX : c[i].limit;
        long long nums[3] = {c[i].prev[0] ? (long long)c[i].prev_weight_ppm : -1, limit,
                             (long long)c[i].amount};
        for (int k = 0; k < 3; k++) {
            m->argv[m->argc] = p;
            m->len[m->argc++] = (size_t)sprintf(p, "%lld", nums[k]);
            p += m->len[m->argc - 1] + 1;
        }
        m->argv[m->argc] = p;
        m->len[m->argc++] = (size_t)sprintf(p, "%" PRIu64, c[i].expire_at_ms);
        p += m->len[m->argc - 1] + 1;
    }
    return m;
}

static void
cmd_set_eval(const struct redis_store *s, struct cmd *m, int sha)
{
    m->argv[0] = sha ? "EVALSHA" : "EVAL";
    m->len[0] = strlen(m->argv[0]);
    m->argv[1] = sha ? s->sha : SCRIPT;
    m->len[1] = sha ? strlen(s->sha) : sizeof(SCRIPT) - 1;
}

static int
is_noscript(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ERROR && r->str && strncmp(r->str, "NOSCRIPT", 8) == 0;
}

/* Fills res from the script's reply for n counters. */
static void
fill_result(const redisReply *r, size_t n, struct gw_budget_result *res)
{
    if (r->type == REDIS_REPLY_ERROR) {
        unavailable(res, "redis: %s", r->str ? r->str : "error");
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != n + 2)
        goto bad;
    for (size_t i = 0; i < n + 2; i++) {
        if (r->element[i]->type != REDIS_REPLY_INTEGER)
            goto bad;
    }
    memset(res, 0, sizeof(*res));
    if (r->element[0]->integer == 0) {
        res->status = GW_BUDGET_OK;
    } else if (r->element[0]->integer == 1 && r->element[1]->integer >= 0 &&
               (unsigned long long)r->element[1]->integer < n) {
        res->status = GW_BUDGET_DENIED;
        res->denied = (size_t)r->element[1]->integer;
    } else {
        goto bad;
    }
    for (size_t i = 0; i < n; i++)
        res->value[i] = r->element[i + 2]->integer;
    return;
bad:
    unavailable(res, "redis: unexpected reply to the budget script");
}

/* ---- asynchronous operations ---- */

/* Copies src into dst, cut to size - 1 bytes (hiredis's messages are up to 127). */
static void
copy_str(char *dst, size_t size, const char *src)
{
    size_t n = strnlen(src, size - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void
conn_fail(struct conn *cn, const char *why)
{
    uint32_t b = cn->backoff_ms ? cn->backoff_ms : BACKOFF_MIN_MS;
    cn->retry_at = now_ms() + b;
    cn->backoff_ms = b >= BACKOFF_MAX_MS / 2 ? BACKOFF_MAX_MS : 2 * b;
    copy_str(cn->down, sizeof(cn->down), why);
}

static const char *
ac_reason(const redisAsyncContext *ac)
{
    return ac->c.err && ac->c.errstr[0] ? ac->c.errstr : "connection closed";
}

/* Frees l when nothing refers to it any more. */
static void
link_release(struct link *l)
{
    if (!l->ac && l->owed == 0)
        free(l);
}

/* Notes the first sign of l's teardown; fail: count it as a failure of the base's connection. */
static void
link_dying(struct link *l, const char *why, int fail)
{
    if (l->dying)
        return;
    l->dying = 1;
    copy_str(l->why, sizeof(l->why), why);
    if (fail && l->conn)
        conn_fail(l->conn, why);
}

/* hiredis is done with l->ac, or frees it without calling the connect or disconnect callback. */
static void
link_gone(struct link *l)
{
    l->ac = NULL;
    l->dying = 1;
    if (l->conn && l->conn->link == l)
        l->conn->link = NULL;
    link_release(l);
}

/* Closes l from outside hiredis's callbacks (or defers it to the end of the current one):
 * every op it holds completes. l may be freed on return. */
static void
link_drop(struct link *l, const char *why)
{
    redisAsyncContext *ac = l->ac;
    int connected = (ac->c.flags & REDIS_CONNECTED) != 0;
    link_dying(l, why, 1);
    redisAsyncFree(ac);
    /* A context that never connected gets no disconnect callback. */
    if (!connected)
        link_gone(l);
}

static void
op_done(struct rop *op)
{
    op->done = 1;
    if (op->timer) {
        event_free(op->timer);
        op->timer = NULL;
    }
    free(op->cmd);
    op->cmd = NULL;
}

static void
on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct rop *op = privdata;
    struct link *l = op->link;
    redisReply *r = reply;
    if (!r) {
        link_dying(l, ac_reason(ac), !l->ready);
    } else {
        l->progress_ms = now_ms();
        if (!l->ready) {
            l->ready = 1;
            if (l->conn)
                l->conn->backoff_ms = 0;
        }
        if (!op->done && is_noscript(r) && op->cmd->argv[1] != SCRIPT) {
            cmd_set_eval(l->s, op->cmd, 0);
            if (redisAsyncCommandArgv(ac, on_reply, op, op->cmd->argc, op->cmd->argv,
                                      op->cmd->len) == REDIS_OK)
                return;
        }
    }
    l->owed--;
    int quiet = l->quiet;
    struct gw_budget_result res;
    gw_budget_cb cb = NULL;
    void *arg = op->arg;
    if (!op->done) {
        if (r)
            fill_result(r, op->n, &res);
        else
            unavailable(&res, "redis down: %s", l->why);
        cb = op->cb;
        op_done(op);
    }
    free(op);
    /* Nothing below touches l: cb may run another operation on this base, or detach it. */
    link_release(l);
    if (cb && !quiet)
        cb(arg, &res);
}

static void
on_hello(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct link *l = privdata;
    redisReply *r = reply;
    l->owed--;
    if (!r) {
        link_dying(l, ac_reason(ac), !l->ready);
    } else {
        l->progress_ms = now_ms();
        if (r->type == REDIS_REPLY_ERROR && !l->dying) {
            char why[WHY_MAX];
            snprintf(why, sizeof(why), "%s", r->str ? r->str : "AUTH or SELECT failed");
            /* Connected and inside a callback: hiredis frees the context once this returns and
             * calls on_disconnect. */
            link_drop(l, why);
        }
    }
    link_release(l);
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
    struct link *l = ac->data;
    if (status == REDIS_OK)
        return;
    /* hiredis calls back the pending ops with NULL replies next, then frees the context without
     * calling on_disconnect. */
    link_dying(l, ac_reason(ac), 1);
    link_gone(l);
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    struct link *l = ac->data;
    link_dying(l, ac_reason(ac), !l->ready);
    link_gone(l);
}

/* Opens cn's connection unless within its backoff. Returns 0, or -1 with the reason in cn->down.
 * Never calls back an op: the new link holds none yet. */
static int
link_open(struct conn *cn)
{
    struct redis_store *s = cn->s;
    uint64_t now = now_ms();
    if (now < cn->retry_at)
        return -1;
    redisAsyncContext *ac = redisAsyncConnect(s->host, s->port);
    if (!ac) {
        conn_fail(cn, "out of memory");
        return -1;
    }
    if (ac->err) {
        conn_fail(cn, ac->c.errstr);
        redisAsyncFree(ac);
        return -1;
    }
    struct link *l = calloc(1, sizeof(*l));
    if (!l || redisLibeventAttach(ac, cn->base) != REDIS_OK) {
        free(l);
        conn_fail(cn, "out of memory");
        redisAsyncFree(ac);
        return -1;
    }
    l->s = s;
    l->conn = cn;
    l->ac = ac;
    l->progress_ms = now;
    ac->data = l;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    if (s->password) {
        const char *argv[2] = {"AUTH", s->password};
        size_t len[2] = {4, strlen(s->password)};
        if (redisAsyncCommandArgv(ac, on_hello, l, 2, argv, len) == REDIS_OK)
            l->owed++;
    }
    if (s->db) {
        char db[16];
        const char *argv[2] = {"SELECT", db};
        size_t len[2] = {6, (size_t)snprintf(db, sizeof(db), "%d", s->db)};
        if (redisAsyncCommandArgv(ac, on_hello, l, 2, argv, len) == REDIS_OK)
            l->owed++;
    }
    cn->link = l;
    return 0;
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct rop *op = arg;
    struct link *l = op->link;
    gw_budget_cb cb = op->cb;
    void *cbarg = op->arg;
    /* Frees the timer from within its own callback, which libevent allows. */
    op_done(op);
    if (!l->dying && l->conn) {
        uint64_t silent = now_ms() - l->progress_ms;
        if (!(l->ac->c.flags & REDIS_CONNECTED)) {
            link_drop(l, "connect timeout");
        } else if (silent >= l->s->stall_ms) {
            char why[WHY_MAX];
            snprintf(why, sizeof(why), "no reply for %" PRIu64 " ms", silent);
            link_drop(l, why);
        }
    }
    /* op and l may be gone. */
    struct gw_budget_result res;
    gw_budget_unavailable(&res, "timeout");
    cb(cbarg, &res);
}

static struct conn *
conn_get(struct redis_store *s, struct event_base *base)
{
    pthread_mutex_lock(&s->lock);
    struct conn *cn;
    for (cn = s->conns; cn; cn = cn->next) {
        if (cn->base == base)
            break;
    }
    if (!cn) {
        cn = calloc(1, sizeof(*cn));
        if (cn) {
            cn->s = s;
            cn->base = base;
            cn->next = s->conns;
            s->conns = cn;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return cn;
}

static int
redis_run(struct gw_budget_store *gs, struct event_base *base, enum gw_budget_kind kind,
          const struct gw_budget_counter *c, size_t n, struct gw_budget_result *res,
          gw_budget_cb cb, void *arg, struct gw_budget_op **opp)
{
    struct redis_store *s = (struct redis_store *)gs;
    char why[WHY_MAX];
    GW_BUG_ON(!base || !cb);
    if (!base || !cb) {
        unavailable(res, "invalid arguments");
        return GW_BUDGET_DONE;
    }
    struct cmd *m = cmd_build(s, kind, c, n, why, sizeof(why));
    if (!m) {
        unavailable(res, "%s", why);
        return GW_BUDGET_DONE;
    }
    struct conn *cn = conn_get(s, base);
    struct rop *op = NULL;
    if (!cn) {
        unavailable(res, "out of memory");
        goto fail;
    }
    if (!cn->link && link_open(cn) < 0) {
        unavailable(res, "redis down: %s", cn->down);
        goto fail;
    }
    struct link *l = cn->link;
    if (l->dying) {
        /* Only seen from a callback run by the link's teardown. */
        unavailable(res, "redis down: %s", l->why);
        goto fail;
    }
    if (l->owed >= OWED_MAX) {
        unavailable(res, "redis: too many operations in flight");
        goto fail;
    }
    op = calloc(1, sizeof(*op));
    if (!op || !(op->timer = evtimer_new(base, on_timeout, op))) {
        unavailable(res, "out of memory");
        goto fail;
    }
    op->base.ops = &redis_ops;
    op->link = l;
    op->cmd = m;
    op->cb = cb;
    op->arg = arg;
    op->n = n;
    cmd_set_eval(s, m, 1);
    if (redisAsyncCommandArgv(l->ac, on_reply, op, m->argc, m->argv, m->len) != REDIS_OK) {
        unavailable(res, "redis down: cannot send");
        goto fail;
    }
    if (l->owed++ == 0)
        l->progress_ms = now_ms();
    struct timeval tv = {s->timeout_ms / 1000, (s->timeout_ms % 1000) * 1000};
    evtimer_add(op->timer, &tv);
    if (opp)
        *opp = &op->base;
    return GW_BUDGET_PENDING;
fail:
    if (op && op->timer)
        event_free(op->timer);
    free(op);
    free(m);
    return GW_BUDGET_DONE;
}

static void
redis_cancel(struct gw_budget_op *o)
{
    struct rop *op = (struct rop *)o;
    /* Cancelling after cb ran is a bug in the caller (the op may be freed already). */
    GW_BUG_ON(op->done);
    if (!op->done)
        op_done(op);
}

/* Drops cn's connection without calling back any op, and frees cn. cn is off the list. */
static void
conn_close(struct conn *cn)
{
    struct link *l = cn->link;
    if (l) {
        cn->link = NULL;
        l->conn = NULL;
        l->quiet = 1;
        if (l->ac && !l->dying) {
            redisAsyncContext *ac = l->ac;
            int connected = (ac->c.flags & REDIS_CONNECTED) != 0;
            link_dying(l, "detached", 0);
            redisAsyncFree(ac);
            if (!connected)
                link_gone(l);
        }
        /* Else hiredis is tearing it down already (detach from a callback): l->quiet holds the
         * rest of its ops' callbacks back. */
    }
    free(cn);
}

static void
redis_detach(struct gw_budget_store *gs, struct event_base *base)
{
    struct redis_store *s = (struct redis_store *)gs;
    pthread_mutex_lock(&s->lock);
    struct conn **pp = &s->conns;
    while (*pp && (*pp)->base != base)
        pp = &(*pp)->next;
    struct conn *cn = *pp;
    if (cn)
        *pp = cn->next;
    pthread_mutex_unlock(&s->lock);
    if (cn)
        conn_close(cn);
}

/* ---- synchronous operations ---- */

static void
sync_close(struct redis_store *s)
{
    redisFree(s->sync);
    s->sync = NULL;
}

/* Describes s->sync's error in why (a read past the timeout fails with EAGAIN) and closes it. */
static void
sync_fail(struct redis_store *s, char *why, size_t whylen)
{
    const redisContext *c = s->sync;
    if (c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK))
        snprintf(why, whylen, "timeout");
    else
        snprintf(why, whylen, "redis down: %.100s", c->errstr[0] ? c->errstr : "connection closed");
    sync_close(s);
}

/* Sends one command on s->sync. Returns the reply (maybe an error reply), or NULL with why filled
 * and the connection closed. */
static redisReply *
sync_command(struct redis_store *s, int argc, const char **argv, const size_t *len, char *why,
             size_t whylen)
{
    redisReply *r = redisCommandArgv(s->sync, argc, argv, len);
    if (!r)
        sync_fail(s, why, whylen);
    return r;
}

static int
sync_connect(struct redis_store *s, char *why, size_t whylen)
{
    struct timeval tv = {s->timeout_ms / 1000, (s->timeout_ms % 1000) * 1000};
    s->sync = redisConnectWithTimeout(s->host, s->port, tv);
    if (!s->sync) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    if (s->sync->err) {
        sync_fail(s, why, whylen);
        return -1;
    }
    if (redisSetTimeout(s->sync, tv) != REDIS_OK) {
        snprintf(why, whylen, "redis down: cannot set the timeout");
        sync_close(s);
        return -1;
    }
    char db[16];
    const char *hello[2][2] = {{"AUTH", s->password}, {"SELECT", db}};
    size_t len[2][2] = {{4, s->password ? strlen(s->password) : 0},
                        {6, (size_t)snprintf(db, sizeof(db), "%d", s->db)}};
    for (int i = 0; i < 2; i++) {
        if ((i == 0 && !s->password) || (i == 1 && !s->db))
            continue;
        redisReply *r = sync_command(s, 2, hello[i], len[i], why, whylen);
        if (!r)
            return -1;
        int bad = r->type == REDIS_REPLY_ERROR;
        if (bad)
            snprintf(why, whylen, "redis down: %s", r->str ? r->str : "AUTH or SELECT failed");
        freeReplyObject(r);
        if (bad) {
            sync_close(s);
            return -1;
        }
    }
    return 0;
}

static int
redis_run_sync(struct gw_budget_store *gs, enum gw_budget_kind kind,
               const struct gw_budget_counter *c, size_t n, struct gw_budget_result *res)
{
    struct redis_store *s = (struct redis_store *)gs;
    char why[sizeof(res->error)];
    struct cmd *m = cmd_build(s, kind, c, n, why, sizeof(why));
    if (!m) {
        unavailable(res, "%s", why);
        return 0;
    }
    pthread_mutex_lock(&s->sync_lock);
    redisReply *r = NULL;
    if (s->sync || sync_connect(s, why, sizeof(why)) == 0) {
        cmd_set_eval(s, m, 1);
        r = sync_command(s, m->argc, m->argv, m->len, why, sizeof(why));
        if (is_noscript(r)) {
            freeReplyObject(r);
            cmd_set_eval(s, m, 0);
            r = sync_command(s, m->argc, m->argv, m->len, why, sizeof(why));
        }
    }
    pthread_mutex_unlock(&s->sync_lock);
    if (r)
        fill_result(r, n, res);
    else
        unavailable(res, "%s", why);
    freeReplyObject(r);
    free(m);
    return 0;
}

/* ---- the store ---- */

/* Also closes the connections of bases never detached: those bases must still exist. */
static void
redis_free(struct gw_budget_store *gs)
{
    struct redis_store *s = (struct redis_store *)gs;
    while (s->conns) {
        struct conn *cn = s->conns;
        s->conns = cn->next;
        conn_close(cn);
    }
    if (s->sync)
        sync_close(s);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->sync_lock);
    free(s->host);
    free(s->password);
    free(s->prefix);
    free(s);
}

static const struct gw_budget_ops redis_ops = {
    .run = redis_run,
    .run_sync = redis_run_sync,
    .cancel = redis_cancel,
    .detach = redis_detach,
    .free = redis_free,
};

static int
script_sha(char out[41])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(SCRIPT, sizeof(SCRIPT) - 1, md, &mdlen, EVP_sha1(), NULL) || mdlen != 20)
        return -1;
    gw_hex_encode(md, mdlen, out);
    return 0;
}

struct gw_budget_store *
gw_budget_redis_new(const char *host, uint16_t port, const char *password, int db,
                    const char *prefix, uint32_t timeout_ms, char *err, size_t errlen)
{
    if (!prefix)
        prefix = "";
    const char *bad = NULL;
    if (!host || !host[0])
        bad = "redis: no host";
    else if (port == 0)
        bad = "redis: port 0";
    else if (db < 0)
        bad = "redis: negative db";
    else if (strlen(prefix) > PREFIX_MAX)
        bad = "redis: key prefix too long";
    else if (timeout_ms == 0 || timeout_ms > 3600u * 1000u)
        bad = "redis: timeout out of range (1 ms .. 1 h)";
    if (bad) {
        snprintf(err, errlen, "%s", bad);
        return NULL;
    }
    struct redis_store *s = calloc(1, sizeof(*s));
    if (!s)
        goto oom;
    s->base.ops = &redis_ops;
    s->port = port;
    s->db = db;
    s->timeout_ms = timeout_ms;
    s->stall_ms = (uint64_t)timeout_ms * STALL_FACTOR;
    if (s->stall_ms < STALL_MIN_MS)
        s->stall_ms = STALL_MIN_MS;
    s->prefix_len = strlen(prefix);
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->sync_lock, NULL);
    s->host = strdup(host);
    s->prefix = strdup(prefix);
    if (password && password[0])
        s->password = strdup(password);
    if (!s->host || !s->prefix || (password && password[0] && !s->password))
        goto oom;
    if (script_sha(s->sha) < 0) {
        snprintf(err, errlen, "redis: SHA1 unavailable");
        redis_free(&s->base);
        return NULL;
    }
    return &s->base;
oom:
    snprintf(err, errlen, "out of memory");
    if (s)
        redis_free(&s->base);
    return NULL;
}
