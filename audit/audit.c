/*
 * The audit thread: queue from the workers, per-sink hash chains, batching, spool and replay,
 * metrics. See audit.h for the model.
 *
 * Per sink, records are in exactly one of these places, oldest first:
 *   the spool file [spool_off, spool_size)   while `spooling` (a send failed, or memory overflowed)
 *   `inflight`                               the batch being sent (from the spool or from memory)
 *   `pending` (memory)                       sealed, not yet sent; only while not spooling
 *   `staged` (memory)                        sealed while spooling; appended to the spool per wake
 * A batch sent from memory that fails goes to the spool before everything pending, so order holds.
 */
#include "audit/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "audit/chain.h"
#include "audit/record.h"
#include "audit/sink.h"
#include "gateway/log.h"
#include "gateway/io.h"

struct qnode {
    struct qnode *next;
    size_t len; /* whole buffer, head included */
    unsigned kind;
    int severity;
};
_Static_assert(sizeof(struct qnode) <= GW_AUDIT_HEAD, "a queue node fits the record's head");

struct sink;

/* The argument of the one send in flight; gen tells an abandoned send's completion apart. */
struct done_arg {
    struct sink *s;
    uint64_t gen;
};

#define SPOOL_READ_MAX (4u << 20)
#define CHAIN_SAVE_MS 100
#define COALESCE_MS 5

struct sink {
    const struct gw_sink_cfg *cfg;
    const struct gw_sink_ops *ops;
    void *st;
    struct gw_audit_chain chain;
    int chain_dirty;
    char *chain_path, *spool_path, *pos_path;
    int spool_fd, pos_fd;
    uint64_t spool_off, spool_size;
    int spooling;
    struct evbuffer *pending, *staged;
    size_t pending_n;
    /* the batch in flight */
    int inflight, inflight_spool;
    struct evbuffer *infl;
    char *infl_mem; /* a batch read from the spool */
    size_t infl_len, infl_n;
    uint64_t gen; /* bumped when an in-flight send is abandoned */
    struct done_arg da;
    /* timers */
    struct event *retry_ev, *flush_ev, *kick_ev, *save_ev;
    uint32_t backoff_ms;
    int down, flush_armed, flush_due;
    int failing; /* between a failed send and the next delivered one (for the log) */
    /* metrics */
    _Atomic uint64_t m_sent, m_failed, m_dropped, m_spilled, m_spool_bytes, m_pending_bytes;
};

static struct {
    _Atomic int running;
    int hold; /* tests: the audit thread leaves the queue alone (gw_audit_test_hold) */
    struct gw_config *cfg;
    const struct gw_audit_cfg *ac;
    unsigned wants[5]; /* kinds some sink takes at each severity */
    pthread_t thr;
    struct event_base *base;
    struct event *wake_ev, *grace_ev, *coalesce_ev;
    int efd;
    pthread_mutex_t mu;
    struct qnode *head, *tail;
    size_t qbytes;
    _Atomic uint64_t qdepth, m_overflow, m_qdropped;
    int ov_fd, ov_active;
    uint64_t ov_off;
    char *ov_path;
    _Atomic int stopping;
    int stop_started;
    struct sink *sinks;
    size_t nsinks;
} A = {.efd = -1, .ov_fd = -1, .mu = PTHREAD_MUTEX_INITIALIZER};

/* ---- small file helpers ---- */

static char *
path_join(const char *dir, const char *name, const char *ext)
{
    size_t n = strlen(dir) + strlen(name) + strlen(ext) + 3;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s%s", dir, name, ext);
    return p;
}

static void
save_pos(struct sink *s)
{
    char b[24];
    int n = snprintf(b, sizeof(b), "%020" PRIu64 "\n", s->spool_off);
    if (pwrite(s->pos_fd, b, (size_t)n, 0) != n)
        gw_warn("audit sink %s: cannot record the spool position: %s", s->cfg->name,
                strerror(errno));
}

static void
update_gauges(struct sink *s)
{
    s->m_spool_bytes = s->spool_size - s->spool_off + evbuffer_get_length(s->staged);
    s->m_pending_bytes = evbuffer_get_length(s->pending);
}

/* Appends b (emptied) to the spool file; on failure (disk full) its records are dropped. */
static void
spool_append(struct sink *s, struct evbuffer *b, size_t nrec)
{
    size_t len = evbuffer_get_length(b);
    if (len == 0)
        return;
    const struct gw_audit_cfg *ac = A.ac;
    if (ac->spool_max_bytes && s->spool_size - s->spool_off + len > ac->spool_max_bytes) {
        gw_error("audit sink %s: spool is full (%zu bytes): %zu record(s) dropped", s->cfg->name,
                 ac->spool_max_bytes, nrec);
        s->m_dropped += nrec;
        evbuffer_drain(b, len);
        return;
    }
    const char *p = (const char *)evbuffer_pullup(b, -1);
    if (!p || gw_write_all(s->spool_fd, p, len) < 0) {
        gw_error("audit sink %s: cannot write the spool %s: %s: %zu record(s) dropped",
                 s->cfg->name, s->spool_path, strerror(errno), nrec);
        s->m_dropped += nrec;
        /* a partial write leaves a partial line: cut it */
        if (ftruncate(s->spool_fd, (off_t)s->spool_size) < 0)
            gw_warn("audit sink %s: cannot trim the spool", s->cfg->name);
        evbuffer_drain(b, len);
        return;
    }
    s->spool_size += len;
    s->spooling = 1;
    evbuffer_drain(b, len);
}

static size_t
count_lines(const char *p, size_t n)
{
    size_t k = 0;
    for (const char *q = p; (q = memchr(q, '\n', (size_t)(p + n - q))) != NULL; q++)
        k++;
    return k;
}

/* ---- sending ---- */

static void kick(struct sink *s);

static void
kick_later(struct sink *s)
{
    event_active(s->kick_ev, EV_TIMEOUT, 0);
}

static void
free_inflight(struct sink *s)
{
    evbuffer_drain(s->infl, evbuffer_get_length(s->infl));
    free(s->infl_mem);
    s->infl_mem = NULL;
    s->inflight = 0;
    s->infl_len = s->infl_n = 0;
}

/* Moves the memory batch in flight and everything pending to the spool (a send failed, or the
 * gateway stops). */
static void
spool_memory(struct sink *s)
{
    size_t n = s->pending_n;
    if (s->inflight && !s->inflight_spool) {
        spool_append(s, s->infl, s->infl_n);
        free_inflight(s);
    }
    spool_append(s, s->pending, n);
    s->pending_n = 0;
    update_gauges(s);
}

static void
on_done(void *arg, int ok, const char *why)
{
    struct done_arg *d = arg;
    struct sink *s = d->s;
    if (d->gen != s->gen || !s->inflight)
        return;
    if (ok) {
        s->m_sent += s->infl_n;
        s->backoff_ms = 0;
        if (s->failing)
            gw_info("audit sink %s: delivering again", s->cfg->name);
        s->failing = 0;
        if (s->inflight_spool) {
            s->spool_off += s->infl_len;
            if (s->spool_off >= s->spool_size && evbuffer_get_length(s->staged) == 0) {
                if (ftruncate(s->spool_fd, 0) == 0) {
                    s->spool_off = s->spool_size = 0;
                    s->spooling = 0;
                    gw_info("audit sink %s: spool delivered", s->cfg->name);
                }
            }
            save_pos(s);
        }
        free_inflight(s);
    } else {
        s->m_failed++;
        uint32_t lo = A.ac->retry_min_ms ? A.ac->retry_min_ms : 250;
        uint32_t hi = A.ac->retry_max_ms > lo ? A.ac->retry_max_ms : lo;
        s->backoff_ms = s->backoff_ms ? (s->backoff_ms * 2 > hi ? hi : s->backoff_ms * 2) : lo;
        if (!s->failing) /* once per outage; the metrics count every attempt */
            gw_warn("audit sink %s: delivery failed (%s); spooling and retrying", s->cfg->name,
                    why ? why : "error");
        s->failing = 1;
        if (s->inflight_spool)
            free_inflight(s);
        else
            spool_memory(s); /* the failed batch first, then what is pending */
        s->down = 1;
        struct timeval tv = {s->backoff_ms / 1000, (s->backoff_ms % 1000) * 1000};
        evtimer_add(s->retry_ev, &tv);
    }
    update_gauges(s);
    kick_later(s);
}

static void
start_send(struct sink *s, const char *p, size_t len, size_t n)
{
    s->da.s = s;
    s->da.gen = s->gen;
    s->inflight = 1;
    s->infl_len = len;
    s->infl_n = n;
    s->ops->send(s->st, p, len, n, on_done, &s->da);
}

/* Reads the next batch from the spool and sends it. */
static void
send_from_spool(struct sink *s)
{
    const struct gw_sink_cfg *c = s->cfg;
    uint64_t avail = s->spool_size - s->spool_off;
    size_t want = c->batch_bytes < avail ? c->batch_bytes : (size_t)avail;
    for (;;) {
        char *buf = malloc(want ? want : 1);
        if (!buf)
            return;
        ssize_t r = pread(s->spool_fd, buf, want, (off_t)s->spool_off);
        if (r <= 0) {
            free(buf);
            gw_error("audit sink %s: cannot read the spool: %s", c->name,
                     r < 0 ? strerror(errno) : "unexpected end");
            return;
        }
        /* whole lines only, at most batch_events */
        size_t end = 0, n = 0;
        for (const char *q = buf; n < c->batch_events;) {
            const char *nl = memchr(q, '\n', (size_t)(buf + r - q));
            if (!nl)
                break;
            n++;
            end = (size_t)(nl + 1 - buf);
            q = nl + 1;
        }
        if (n == 0) {
            free(buf);
            if ((uint64_t)want >= avail || want >= SPOOL_READ_MAX * 16) {
                gw_error("audit sink %s: the spool ends in a partial record", c->name);
                return;
            }
            want = want * 2 < avail ? want * 2 : (size_t)avail; /* one long record */
            continue;
        }
        s->infl_mem = buf;
        s->inflight_spool = 1;
        start_send(s, buf, end, n);
        return;
    }
}

/* Takes up to a batch of whole lines from pending and sends it. */
static void
send_from_memory(struct sink *s)
{
    const struct gw_sink_cfg *c = s->cfg;
    size_t total = evbuffer_get_length(s->pending);
    struct evbuffer_ptr pos;
    size_t n = 0, end = 0;
    evbuffer_ptr_set(s->pending, &pos, 0, EVBUFFER_PTR_SET);
    while (n < c->batch_events) {
        struct evbuffer_ptr f = evbuffer_search(s->pending, "\n", 1, &pos);
        if (f.pos < 0)
            break;
        size_t e = (size_t)f.pos + 1;
        if (n > 0 && e > c->batch_bytes)
            break;
        n++;
        end = e;
        if (e >= total || evbuffer_ptr_set(s->pending, &pos, e, EVBUFFER_PTR_SET) < 0)
            break;
    }
    if (n == 0)
        return;
    evbuffer_remove_buffer(s->pending, s->infl, end);
    s->pending_n -= n;
    const char *p = (const char *)evbuffer_pullup(s->infl, -1);
    if (!p) {
        /* out of memory: to the spool, the batch first and then the rest, and retry from there */
        spool_append(s, s->infl, n);
        spool_memory(s);
        return;
    }
    s->inflight_spool = 0;
    start_send(s, p, end, n);
}

static void
kick(struct sink *s)
{
    if (s->inflight || s->down || !s->st)
        return;
    if (s->spooling) {
        if (s->spool_off >= s->spool_size && evbuffer_get_length(s->staged))
            spool_append(s, s->staged, 0);
        if (s->spool_off < s->spool_size)
            send_from_spool(s);
        update_gauges(s);
        return;
    }
    if (s->pending_n == 0)
        return;
    const struct gw_sink_cfg *c = s->cfg;
    int full = s->pending_n >= c->batch_events || evbuffer_get_length(s->pending) >= c->batch_bytes;
    if (!full && c->flush_ms && !s->flush_due && !A.stopping) {
        if (!s->flush_armed) {
            struct timeval tv = {c->flush_ms / 1000, (c->flush_ms % 1000) * 1000};
            evtimer_add(s->flush_ev, &tv);
            s->flush_armed = 1;
        }
        return;
    }
    s->flush_due = 0;
    send_from_memory(s);
    update_gauges(s);
}

static void
on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    kick(arg);
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sink *s = arg;
    s->down = 0;
    kick(s);
}

static void
save_chain(struct sink *s)
{
    if (!s->chain_dirty)
        return;
    if (gw_chain_save(&s->chain, s->chain_path) < 0)
        gw_warn("audit sink %s: cannot save the chain state %s", s->cfg->name, s->chain_path);
    s->chain_dirty = 0;
}

static void
on_save(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    save_chain(arg);
}

static void
on_flush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sink *s = arg;
    s->flush_armed = 0;
    s->flush_due = 1;
    kick(s);
}

/* ---- intake ---- */

static void
take(const char *body, size_t len, unsigned kind, int severity)
{
    for (size_t i = 0; i < A.nsinks; i++) {
        struct sink *s = &A.sinks[i];
        if (!(s->cfg->kinds & kind) || severity < s->cfg->min_severity)
            continue;
        struct evbuffer *to = s->spooling ? s->staged : s->pending;
        if (gw_chain_seal(&s->chain, body, len, to) < 0) {
            s->m_dropped++;
            continue;
        }
        s->chain_dirty = 1;
        if (!s->spooling)
            s->pending_n++;
    }
}

/* Reads back records the workers wrote to the overflow file ("KIND SEVERITY JSON\n"). */
static void
take_overflow(void)
{
    for (;;) {
        struct stat st;
        if (fstat(A.ov_fd, &st) < 0)
            return;
        if ((uint64_t)st.st_size <= A.ov_off) {
            pthread_mutex_lock(&A.mu);
            if (fstat(A.ov_fd, &st) == 0 && (uint64_t)st.st_size <= A.ov_off) {
                if (ftruncate(A.ov_fd, 0) == 0)
                    A.ov_off = 0;
                A.ov_active = 0;
            }
            pthread_mutex_unlock(&A.mu);
            if (!A.ov_active)
                return;
            continue;
        }
        size_t want = (size_t)((uint64_t)st.st_size - A.ov_off);
        if (want > SPOOL_READ_MAX)
            want = SPOOL_READ_MAX;
        char *buf = malloc(want);
        if (!buf)
            return;
        ssize_t r = pread(A.ov_fd, buf, want, (off_t)A.ov_off);
        if (r <= 0) {
            free(buf);
            return;
        }
        size_t used = 0;
        for (;;) {
            char *nl = memchr(buf + used, '\n', (size_t)r - used);
            if (!nl)
                break;
            *nl = '\0';
            unsigned kind = 0;
            int sev = 0, off = 0;
            if (sscanf(buf + used, "%u %d %n", &kind, &sev, &off) == 2 && off > 0) {
                const char *body = buf + used + off;
                take(body, (size_t)(nl - body), kind, sev);
            }
            used = (size_t)(nl + 1 - buf);
        }
        free(buf);
        if (used == 0)
            return; /* a partial line: the worker is still writing it */
        A.ov_off += used;
    }
}

static void
after_intake(void)
{
    for (size_t i = 0; i < A.nsinks; i++) {
        struct sink *s = &A.sinks[i];
        if (s->spooling && evbuffer_get_length(s->staged)) {
            size_t n = count_lines((const char *)evbuffer_pullup(s->staged, -1),
                                   evbuffer_get_length(s->staged));
            spool_append(s, s->staged, n);
        }
        /* memory past the bound goes to disk, unless a memory batch is in flight (it must
         * stay first: it goes there itself if it fails) */
        if (!s->spooling && !(s->inflight && !s->inflight_spool) &&
            evbuffer_get_length(s->pending) > A.ac->queue_bytes) {
            s->m_spilled += s->pending_n;
            spool_memory(s);
        }
        /* The chain state is saved (synced) at most every CHAIN_SAVE_MS, and at stop: after a
         * crash the chain may restart a few records back, which audit-verify then reports. */
        if (s->chain_dirty && !evtimer_pending(s->save_ev, NULL)) {
            struct timeval tv = {0, CHAIN_SAVE_MS * 1000};
            evtimer_add(s->save_ev, &tv);
        }
        update_gauges(s);
        kick(s);
    }
}

static void finish(void);
static void on_stop_tick(evutil_socket_t fd, short what, void *arg);

static void
drain_queue(void)
{
    pthread_mutex_lock(&A.mu);
    if (A.hold && !A.stopping) {
        pthread_mutex_unlock(&A.mu);
        return;
    }
    struct qnode *q = A.head;
    A.head = A.tail = NULL;
    A.qbytes = 0;
    A.qdepth = 0;
    int ov = A.ov_active;
    pthread_mutex_unlock(&A.mu);
    while (q) {
        struct qnode *next = q->next;
        take((const char *)q + GW_AUDIT_HEAD, q->len - GW_AUDIT_HEAD, q->kind, q->severity);
        free(q);
        q = next;
    }
    if (ov) {
        take_overflow();
        /* Not all read back (a record still being written, no memory): no worker will wake us
         * for it (they only do when spilling starts), so come back shortly. */
        pthread_mutex_lock(&A.mu);
        ov = A.ov_active;
        pthread_mutex_unlock(&A.mu);
        if (ov && A.coalesce_ev && !evtimer_pending(A.coalesce_ev, NULL)) {
            struct timeval tv = {0, COALESCE_MS * 1000};
            evtimer_add(A.coalesce_ev, &tv);
        }
    }
    after_intake();
}

static void
on_coalesced(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    drain_queue();
}

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    (void)arg;
    uint64_t v;
    if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        gw_warn("audit: wake read: %s", strerror(errno));
    /* Wake-ups are coalesced: the first record after a drain wakes the thread, which then
     * collects for COALESCE_MS (unless the queue is already a quarter full) and drains once.
     * Under load that is one wake-up and one drain per few hundred records instead of a
     * context switch per record; a record waits at most COALESCE_MS. */
    pthread_mutex_lock(&A.mu);
    int big = A.qbytes >= A.ac->queue_bytes / 4 || A.ov_active;
    pthread_mutex_unlock(&A.mu);
    if (!big && !A.stopping) {
        if (!evtimer_pending(A.coalesce_ev, NULL)) {
            struct timeval tv = {0, COALESCE_MS * 1000};
            evtimer_add(A.coalesce_ev, &tv);
        }
        return;
    }
    drain_queue();
    if (A.stopping && !A.stop_started) {
        A.stop_started = 1;
        A.grace_ev = evtimer_new(A.base, on_stop_tick, NULL);
        struct timeval tv = {0, 0};
        if (!A.grace_ev || evtimer_add(A.grace_ev, &tv) < 0)
            finish();
    }
}

/* ---- submission (any thread) ---- */

int
gw_audit_wants(unsigned kind, int severity)
{
    if (!A.running)
        return 0;
    if (severity < 0)
        severity = 0;
    if (severity > 4)
        severity = 4;
    return (A.wants[severity] & kind) != 0;
}

static void
wake(void)
{
    uint64_t one = 1;
    if (write(A.efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        gw_warn("audit: wake write: %s", strerror(errno));
}

void
gw_audit_submit(struct gw_jw *w, unsigned kind, int severity)
{
    if (!A.running || w->oom || !w->buf) {
        if (A.running && w->oom)
            A.m_qdropped++;
        gw_jw_free(w);
        return;
    }
    struct qnode *q = (struct qnode *)(void *)w->buf;
    q->next = NULL;
    q->len = w->len;
    q->kind = kind;
    q->severity = severity;
    w->buf = NULL;
    gw_jw_free(w);
    int was_empty = 0, ov_new = 0;
    pthread_mutex_lock(&A.mu);
    if (A.ov_active || A.qbytes + q->len > A.ac->queue_bytes) {
        /* the audit thread is behind: spill to disk, in order, without waiting for it */
        char pre[32];
        int pl = snprintf(pre, sizeof(pre), "%u %d ", kind, severity);
        const char *body = (const char *)q + GW_AUDIT_HEAD;
        size_t blen = q->len - GW_AUDIT_HEAD;
        struct iovec iov[3] = {{pre, (size_t)pl}, {(void *)body, blen}, {"\n", 1}};
        ssize_t want = (ssize_t)(pl + blen + 1);
        if (A.ov_fd < 0 || writev(A.ov_fd, iov, 3) != want) {
            A.m_qdropped++;
        } else {
            A.m_overflow++;
            ov_new = !A.ov_active;
            A.ov_active = 1;
        }
        pthread_mutex_unlock(&A.mu);
        free(q);
        if (ov_new)
            wake();
        return;
    }
    if (A.tail)
        A.tail->next = q;
    else
        A.head = q;
    was_empty = A.tail == NULL;
    A.tail = q;
    A.qbytes += q->len;
    A.qdepth++;
    pthread_mutex_unlock(&A.mu);
    if (was_empty)
        wake();
}

/* ---- start / stop ---- */

/* A file sink without a chain state (new spool directory, lost state): continue the chain of the
 * file's last record, so the file still verifies as one chain. 0 when recovered. */
static int
chain_from_file(struct gw_audit_chain *c, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    char buf[65536];
    int rc = -1;
    if (fstat(fd, &st) == 0 && st.st_size > 1) {
        size_t n = st.st_size < (off_t)sizeof(buf) ? (size_t)st.st_size : sizeof(buf);
        ssize_t r = pread(fd, buf, n, st.st_size - (off_t)n);
        /* the last line: ,"seq":N,"prev_hash":"<64>","hash":"<64>"}\n */
        static const char tail[] = "\",\"hash\":\"";
        if (r == (ssize_t)n && buf[n - 1] == '\n' && n > 80 && buf[n - 2] == '}' &&
            buf[n - 3] == '"' &&
            memcmp(buf + n - 3 - 64 - (sizeof(tail) - 1), tail, sizeof(tail) - 1) == 0) {
            const char *hash = buf + n - 3 - 64;
            char *line = memrchr(buf, '\n', n - 1);
            line = line ? line + 1 : buf;
            char *sq = NULL;
            for (char *q = line; (q = memmem(q, (size_t)(buf + n - q), ",\"seq\":", 7)); q++)
                sq = q;
            if (sq && (line > buf || (size_t)st.st_size == n)) {
                c->seq = strtoull(sq + 7, NULL, 10);
                memcpy(c->prev, hash, 64);
                c->prev[64] = '\0';
                rc = c->seq > 0 ? 0 : -1;
            }
        }
    }
    close(fd);
    return rc;
}

static int
open_sink_files(struct sink *s, const char *dir, char *err, size_t errlen)
{
    const char *name = s->cfg->name;
    s->chain_path = path_join(dir, name, ".chain");
    s->spool_path = path_join(dir, name, ".spool");
    s->pos_path = path_join(dir, name, ".pos");
    if (!s->chain_path || !s->spool_path || !s->pos_path) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    gw_chain_init(&s->chain, (const unsigned char *)A.ac->hmac_key, A.ac->hmac_key_len);
    char why[256];
    int lr = gw_chain_load(&s->chain, s->chain_path, why, sizeof(why));
    if (lr != 0) {
        gw_chain_init(&s->chain, (const unsigned char *)A.ac->hmac_key, A.ac->hmac_key_len);
        if (s->cfg->type == GW_SINK_FILE && chain_from_file(&s->chain, s->cfg->path) == 0)
            gw_info("audit sink %s: hash chain continues from %s (seq %" PRIu64 ")", name,
                    s->cfg->path, s->chain.seq);
        else if (lr < 0)
            /* a lost state must not stop the gateway: a new chain starts, and audit-verify
             * shows where (the records themselves are intact) */
            gw_warn("audit sink %s: %s; starting a new hash chain", name, why);
    }
    s->spool_fd = open(s->spool_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    s->pos_fd = open(s->pos_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->spool_fd < 0 || s->pos_fd < 0) {
        snprintf(err, errlen, "audit sink %s: cannot open %s: %s", name,
                 s->spool_fd < 0 ? s->spool_path : s->pos_path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(s->spool_fd, &st) < 0) {
        snprintf(err, errlen, "audit sink %s: %s: %s", name, s->spool_path, strerror(errno));
        return -1;
    }
    uint64_t size = (uint64_t)st.st_size;
    /* a crash mid-append can leave a partial last record: cut back to the last newline */
    while (size > 0) {
        char c;
        if (pread(s->spool_fd, &c, 1, (off_t)size - 1) != 1 || c == '\n')
            break;
        size--;
    }
    if (size != (uint64_t)st.st_size && ftruncate(s->spool_fd, (off_t)size) < 0)
        gw_warn("audit sink %s: cannot trim the spool", name);
    char pb[32] = {0};
    ssize_t r = pread(s->pos_fd, pb, sizeof(pb) - 1, 0);
    uint64_t off = r > 0 ? strtoull(pb, NULL, 10) : 0;
    if (off > size)
        off = 0; /* the spool was replaced: send it all again (at-least-once) */
    s->spool_size = size;
    s->spool_off = off;
    s->spooling = off < size;
    if (s->spooling)
        gw_info("audit sink %s: %" PRIu64 " spooled byte(s) to deliver", name, size - off);
    else if (size > 0 && ftruncate(s->spool_fd, 0) == 0)
        s->spool_size = s->spool_off = 0;
    return 0;
}

static int
init_sink(struct sink *s, const struct gw_sink_cfg *c, char *err, size_t errlen)
{
    s->cfg = c;
    s->spool_fd = s->pos_fd = -1;
    s->ops = gw_sink_ops_for(c->type);
    s->pending = evbuffer_new();
    s->staged = evbuffer_new();
    s->infl = evbuffer_new();
    s->retry_ev = evtimer_new(A.base, on_retry, s);
    s->flush_ev = evtimer_new(A.base, on_flush, s);
    s->kick_ev = event_new(A.base, -1, 0, on_kick, s);
    s->save_ev = evtimer_new(A.base, on_save, s);
    if (!s->ops || !s->pending || !s->staged || !s->infl || !s->retry_ev || !s->flush_ev ||
        !s->kick_ev || !s->save_ev) {
        snprintf(err, errlen, "audit sink %s: out of memory", c->name);
        return -1;
    }
    if (open_sink_files(s, A.ac->spool_dir, err, errlen) < 0)
        return -1;
    char why[256] = "";
    s->st = s->ops->open(c, A.base, why, sizeof(why));
    if (!s->st) {
        snprintf(err, errlen, "audit sink %s: %s", c->name, why);
        return -1;
    }
    return 0;
}

static void
free_sink(struct sink *s)
{
    if (s->st)
        s->ops->close(s->st);
    s->st = NULL;
    if (s->retry_ev)
        event_free(s->retry_ev);
    if (s->flush_ev)
        event_free(s->flush_ev);
    if (s->kick_ev)
        event_free(s->kick_ev);
    if (s->save_ev)
        event_free(s->save_ev);
    if (s->pending)
        evbuffer_free(s->pending);
    if (s->staged)
        evbuffer_free(s->staged);
    if (s->infl)
        evbuffer_free(s->infl);
    free(s->infl_mem);
    if (s->spool_fd >= 0)
        close(s->spool_fd);
    if (s->pos_fd >= 0)
        close(s->pos_fd);
    free(s->chain_path);
    free(s->spool_path);
    free(s->pos_path);
}

static void
teardown(void)
{
    for (size_t i = 0; i < A.nsinks; i++)
        free_sink(&A.sinks[i]);
    free(A.sinks);
    A.sinks = NULL;
    A.nsinks = 0;
    if (A.wake_ev)
        event_free(A.wake_ev);
    if (A.grace_ev)
        event_free(A.grace_ev);
    if (A.coalesce_ev)
        event_free(A.coalesce_ev);
    A.wake_ev = A.grace_ev = A.coalesce_ev = NULL;
    if (A.base)
        event_base_free(A.base);
    A.base = NULL;
    if (A.efd >= 0)
        close(A.efd);
    A.efd = -1;
    if (A.ov_fd >= 0)
        close(A.ov_fd);
    A.ov_fd = -1;
    free(A.ov_path);
    A.ov_path = NULL;
    gw_config_unref(A.cfg);
    A.cfg = NULL;
}

static void *
audit_main(void *arg)
{
    (void)arg;
    event_base_dispatch(A.base);
    return NULL;
}

static int
mkdir_p(const char *dir)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s", dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0700) < 0 && errno != EEXIST)
            return -1;
        *s = '/';
    }
    return mkdir(p, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

int
gw_audit_start(struct gw_config *cfg, char *err, size_t errlen)
{
    const struct gw_audit_cfg *ac = &cfg->audit;
    if (ac->nsinks == 0)
        return 0;
    A.cfg = gw_config_ref(cfg);
    A.ac = ac;
    memset(A.wants, 0, sizeof(A.wants));
    A.stopping = 0;
    A.stop_started = 0;
    if (mkdir_p(ac->spool_dir) < 0) {
        snprintf(err, errlen, "audit: cannot create the spool directory %s: %s", ac->spool_dir,
                 strerror(errno));
        teardown();
        return -1;
    }
    A.ov_path = path_join(ac->spool_dir, "overflow", ".queue");
    A.ov_fd = A.ov_path ? open(A.ov_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600) : -1;
    A.base = event_base_new();
    A.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    A.sinks = calloc(ac->nsinks, sizeof(*A.sinks));
    if (A.ov_fd < 0 || !A.base || A.efd < 0 || !A.sinks) {
        snprintf(err, errlen, "audit: cannot set up (%s): %s",
                 A.ov_fd < 0 ? (A.ov_path ? A.ov_path : "overflow file") : "loop", strerror(errno));
        teardown();
        return -1;
    }
    A.wake_ev = event_new(A.base, A.efd, EV_READ | EV_PERSIST, on_wake, NULL);
    A.coalesce_ev = evtimer_new(A.base, on_coalesced, NULL);
    if (!A.wake_ev || !A.coalesce_ev || event_add(A.wake_ev, NULL) < 0) {
        snprintf(err, errlen, "audit: out of memory");
        teardown();
        return -1;
    }
    for (size_t i = 0; i < ac->nsinks; i++) {
        A.nsinks = i + 1;
        if (init_sink(&A.sinks[i], &ac->sinks[i], err, errlen) < 0) {
            teardown();
            return -1;
        }
        for (int sev = 0; sev <= 4; sev++)
            if (sev >= ac->sinks[i].min_severity)
                A.wants[sev] |= ac->sinks[i].kinds;
    }
    /* records a previous run left in the overflow file come first */
    struct stat st;
    A.ov_off = 0;
    A.ov_active = fstat(A.ov_fd, &st) == 0 && st.st_size > 0;
    if (A.ov_active)
        take_overflow();
    after_intake();
    A.running = 1;
    if (pthread_create(&A.thr, NULL, audit_main, NULL) != 0) {
        A.running = 0;
        snprintf(err, errlen, "audit: cannot start the thread");
        teardown();
        return -1;
    }
    return 0;
}

static int
all_idle(void)
{
    for (size_t i = 0; i < A.nsinks; i++) {
        const struct sink *s = &A.sinks[i];
        if (s->inflight || s->pending_n || (s->spooling && !s->down))
            return 0;
    }
    return 1;
}

static void
finish(void)
{
    for (size_t i = 0; i < A.nsinks; i++) {
        struct sink *s = &A.sinks[i];
        s->gen++;          /* a send in flight is abandoned... */
        spool_memory(s);   /* ...and spooled, with everything pending */
        if (s->inflight) { /* a spool batch: it stays in the spool */
            free_inflight(s);
        }
        if (evbuffer_get_length(s->staged))
            spool_append(s, s->staged, 0);
        s->chain_dirty = 1;
        save_chain(s);
        save_pos(s);
    }
    event_base_loopbreak(A.base);
}

static uint64_t grace_deadline_us;

static void
on_stop_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    drain_queue();
    if (all_idle() || gw_now_us() >= grace_deadline_us) {
        finish();
        return;
    }
    struct timeval tv = {0, 10000};
    evtimer_add(A.grace_ev, &tv);
}

void
gw_audit_stop(uint32_t grace_ms)
{
    if (!A.running)
        return;
    pthread_mutex_lock(&A.mu);
    A.running = 0; /* later submissions are dropped: the workers have stopped by now */
    pthread_mutex_unlock(&A.mu);
    grace_deadline_us = gw_now_us() + (uint64_t)grace_ms * 1000u;
    A.stopping = 1; /* the audit thread sees it on the wake below and winds down */
    wake();
    pthread_join(A.thr, NULL);
    teardown();
}

/* ---- metrics ---- */

void
gw_audit_render_metrics(struct evbuffer *out)
{
    if (!A.sinks)
        return;
    evbuffer_add_printf(out,
                        "# HELP portcullis_audit_queue_depth Audit records waiting for the "
                        "audit thread.\n# TYPE portcullis_audit_queue_depth gauge\n"
                        "portcullis_audit_queue_depth %" PRIu64 "\n",
                        (uint64_t)A.qdepth);
    evbuffer_add_printf(out,
                        "# HELP portcullis_audit_overflow_total Records the workers spilled to "
                        "the overflow file because the queue was full.\n"
                        "# TYPE portcullis_audit_overflow_total counter\n"
                        "portcullis_audit_overflow_total %" PRIu64 "\n",
                        (uint64_t)A.m_overflow);
    static const struct {
        const char *name, *type, *help;
        size_t off;
    } fam[] = {
        {"portcullis_audit_sent_total", "counter", "Records delivered to the sink.",
         offsetof(struct sink, m_sent)},
        {"portcullis_audit_send_failures_total", "counter", "Failed delivery attempts (batches).",
         offsetof(struct sink, m_failed)},
        {"portcullis_audit_dropped_total", "counter",
         "Records lost (spool full or not writable); zero unless the disk is full.",
         offsetof(struct sink, m_dropped)},
        {"portcullis_audit_spilled_total", "counter",
         "Records moved from memory to the spool because the sink fell behind.",
         offsetof(struct sink, m_spilled)},
        {"portcullis_audit_spool_bytes", "gauge", "Bytes in the sink's spool, not yet delivered.",
         offsetof(struct sink, m_spool_bytes)},
        {"portcullis_audit_pending_bytes", "gauge", "Bytes of records waiting in memory.",
         offsetof(struct sink, m_pending_bytes)},
    };
    for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
        evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", fam[f].name, fam[f].help,
                            fam[f].name, fam[f].type);
        for (size_t i = 0; i < A.nsinks; i++) {
            const struct sink *s = &A.sinks[i];
            const _Atomic uint64_t *v =
                (const _Atomic uint64_t *)(const void *)((const char *)s + fam[f].off);
            uint64_t x = atomic_load(v);
            if (f == 2 && i == 0)
                x += A.m_qdropped; /* records lost before reaching a sink count here */
            evbuffer_add_printf(out, "%s{sink=\"%s\"} %" PRIu64 "\n", fam[f].name, s->cfg->name, x);
        }
    }
}

static int
same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int
gw_audit_same(const struct gw_audit_cfg *a, const struct gw_audit_cfg *b)
{
    if (a->nsinks != b->nsinks || !same_str(a->spool_dir, b->spool_dir) ||
        a->hmac_key_len != b->hmac_key_len || a->queue_bytes != b->queue_bytes)
        return 0;
    for (size_t i = 0; i < a->nsinks; i++) {
        const struct gw_sink_cfg *x = &a->sinks[i], *y = &b->sinks[i];
        if (!same_str(x->name, y->name) || x->type != y->type ||
            x->min_severity != y->min_severity || x->kinds != y->kinds ||
            !same_str(x->path, y->path) || !same_str(x->host, y->host) || x->port != y->port ||
            !same_str(x->url, y->url) || x->transport != y->transport ||
            !same_str(x->token, y->token) || x->batch_events != y->batch_events ||
            x->batch_bytes != y->batch_bytes || x->flush_ms != y->flush_ms)
            return 0;
    }
    return 1;
}

void
gw_audit_test_hold(int on)
{
    pthread_mutex_lock(&A.mu);
    A.hold = on;
    pthread_mutex_unlock(&A.mu);
    if (!on && A.running)
        wake();
}

uint64_t
gw_audit_overflowed(void)
{
    return A.m_overflow;
}
