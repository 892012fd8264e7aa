#include "gateway/metrics.h"
#include "gateway/log.h"

#include <event2/buffer.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Every table maps a label set to a fixed number of uint64 counters. The label set is the key:
 * its values back to back (a named counter's: its name, then each label's name and value), each
 * ending in '\0', so that memcmp order is label order (route first, and "a\0" sorts before
 * "ab\0"). Keys are allocated once, when the label set first appears, and never change or move
 * until gw_metrics_free, so the renderer may read them after it dropped the lock; only the
 * counters must be copied under the lock.
 */
struct entry {
    char *key;
    uint32_t klen; /* with the last '\0' */
    uint32_t hash;
};

struct table {
    struct entry *e; /* cap entries, the first n in use */
    uint64_t *vals;  /* nvals counters per entry, same index */
    uint16_t *slots; /* open addressing, linear probing: entry index + 1, 0 = empty */
    uint32_t n, cap, nvals, mask;
};

/* Counters of a request series. */
enum { SV_COUNT, SV_BYTES_IN, SV_BYTES_OUT, SV_N };

/* Histogram buckets in microseconds; the last bucket (+Inf) has no bound. */
static const uint64_t bucket_us[] = {5000,     10000,    25000,    50000,    100000,
                                     250000,   500000,   1000000,  2500000,  5000000,
                                     10000000, 30000000, 60000000, 120000000};
static const char *const bucket_le[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
                                        "2.5",   "5",    "10",    "30",   "60",  "120",  "+Inf"};
#define NBOUNDS (sizeof(bucket_us) / sizeof(bucket_us[0]))
#define NBUCKETS (NBOUNDS + 1)
#define HIST_N (NBUCKETS + 1) /* the buckets (not cumulative) and the sum in microseconds */

/* Counters of a provider: two histograms. */
enum { PV_UPSTREAM = 0, PV_TTFT = HIST_N, PV_N = 2 * HIST_N };

#define NAMED_NAME_MAX 128
#define NAMED_LABEL_MAX 64
/* name, then each label's name and value, each with its '\0' */
#define NAMED_KEY_MAX                                                                              \
    (NAMED_NAME_MAX + 1 + GW_METRICS_MAX_LABELS * (NAMED_LABEL_MAX + 1 + GW_METRICS_VALUE_MAX + 1))
/* route + provider + model + status, each with its '\0' */
#define KEY_MAX (2 * GW_METRICS_NAME_MAX + GW_METRICS_VALUE_MAX + 8 + 4)

_Static_assert(KEY_MAX >= 2 * GW_METRICS_NAME_MAX + GW_METRICS_VALUE_MAX + 5 + 4,
               "a request key fits");
_Static_assert(KEY_MAX >= NAMED_KEY_MAX, "a named counter key fits");
_Static_assert(2 * GW_METRICS_MAX_SERIES <= UINT16_MAX && 2 * GW_METRICS_MAX_NAMED <= UINT16_MAX,
               "slots hold an entry index in 16 bits");

struct gw_metrics {
    pthread_mutex_t lock;
    struct table series;    /* route, provider, model, status -> SV_* */
    struct table providers; /* provider -> PV_* */
    struct table named;     /* name, then label name and value per label -> count */
    int64_t conns, streams;
    uint64_t dropped; /* updates that fitted nowhere (named table full, or out of memory) */
};

struct key {
    uint32_t len;
    char buf[KEY_MAX];
};

static const char other[] = "other";

static int
table_init(struct table *t, uint32_t cap, uint32_t nvals)
{
    uint32_t nslots = 1;
    while (nslots < 2 * cap) /* at most half full: a probe always ends on an empty slot */
        nslots <<= 1;
    t->e = calloc(cap, sizeof(*t->e));
    t->vals = calloc((size_t)cap * nvals, sizeof(*t->vals));
    t->slots = calloc(nslots, sizeof(*t->slots));
    t->n = 0;
    t->cap = cap;
    t->nvals = nvals;
    t->mask = nslots - 1;
    return t->e && t->vals && t->slots ? 0 : -1;
}

static void
table_free(struct table *t)
{
    for (uint32_t i = 0; i < t->n; i++)
        free(t->e[i].key);
    free(t->e);
    free(t->vals);
    free(t->slots);
}

/* FNV-1a */
static uint32_t
key_hash(const struct key *k)
{
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < k->len; i++) {
        h ^= (unsigned char)k->buf[i];
        h *= 16777619u;
    }
    return h;
}

/*
 * Returns the counters of k, adding k when it is new and fewer than limit entries are in use.
 * Returns NULL when k is new and does not fit, or its copy cannot be allocated.
 */
static uint64_t *
table_get(struct table *t, const struct key *k, uint32_t hash, uint32_t limit)
{
    uint32_t i = hash & t->mask;
    for (uint16_t s; (s = t->slots[i]) != 0; i = (i + 1) & t->mask) {
        const struct entry *e = &t->e[s - 1];
        if (e->hash == hash && e->klen == k->len && memcmp(e->key, k->buf, k->len) == 0)
            return &t->vals[(size_t)(s - 1) * t->nvals];
    }
    if (t->n >= limit || t->n >= t->cap)
        return NULL;
    char *copy = malloc(k->len);
    if (!copy)
        return NULL;
    memcpy(copy, k->buf, k->len);
    struct entry *e = &t->e[t->n];
    e->key = copy;
    e->klen = k->len;
    e->hash = hash;
    t->n++;
    t->slots[i] = (uint16_t)t->n;
    return &t->vals[(size_t)(t->n - 1) * t->nvals];
}

static void
key_reset(struct key *k)
{
    k->len = 0;
}

/* Appends one label value as it is; the caller has bounded len. */
static void
key_add(struct key *k, const char *s, size_t len)
{
    GW_BUG_ON(k->len + len + 1 > sizeof(k->buf));
    memcpy(k->buf + k->len, s, len);
    k->len += (uint32_t)len;
    k->buf[k->len++] = '\0';
}

/* Appends a value that comes from clients: cut to GW_METRICS_VALUE_MAX, printable ASCII only. */
static void
key_add_clean(struct key *k, const char *s)
{
    size_t len = s ? strnlen(s, GW_METRICS_VALUE_MAX) : 0;
    char *d = k->buf + k->len;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        d[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    k->len += (uint32_t)len;
    k->buf[k->len++] = '\0';
}

/* Length of a config-made value, cut to GW_METRICS_NAME_MAX bytes on a UTF-8 boundary. */
static size_t
name_len(const char *s)
{
    if (!s)
        return 0;
    size_t len = strnlen(s, GW_METRICS_NAME_MAX + 1);
    if (len > GW_METRICS_NAME_MAX) {
        len = GW_METRICS_NAME_MAX;
        while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
            len--;
    }
    return len;
}

/* The status label: "100".."599" and the like; anything outside 0..999 is "other". */
static size_t
status_text(int status, char buf[8])
{
    if (status < 0 || status > 999) {
        memcpy(buf, other, sizeof(other));
        return sizeof(other) - 1;
    }
    char tmp[4];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + status % 10);
        status /= 10;
    } while (status);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
    return n;
}

struct gw_metrics *
gw_metrics_new(void)
{
    struct gw_metrics *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    if (pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m);
        return NULL;
    }
    if (table_init(&m->series, GW_METRICS_MAX_SERIES, SV_N) < 0 ||
        table_init(&m->providers, GW_METRICS_MAX_PROVIDERS, PV_N) < 0 ||
        table_init(&m->named, GW_METRICS_MAX_NAMED, 1) < 0) {
        gw_metrics_free(m);
        return NULL;
    }
    return m;
}

void
gw_metrics_free(struct gw_metrics *m)
{
    if (!m)
        return;
    table_free(&m->series);
    table_free(&m->providers);
    table_free(&m->named);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static void
observe(uint64_t *h, int64_t us)
{
    size_t b = 0;
    while (b < NBOUNDS && (uint64_t)us > bucket_us[b])
        b++;
    h[b]++;
    h[NBUCKETS] += (uint64_t)us;
}

/*
 * Finds the series for a request, folding when the table is full (see metrics.h). Called with
 * the lock held; k already holds the exact key. Returns NULL only when out of memory.
 */
static uint64_t *
series_get(struct table *t, struct key *k, uint32_t hash, const char *route, size_t rlen,
           const char *prov, size_t plen, const char *status, size_t slen)
{
    uint64_t *v = table_get(t, k, hash, GW_METRICS_MAX_SERIES - GW_METRICS_FOLD_RESERVE);
    if (v)
        return v;
    /* The model is what clients choose freely: it goes first. */
    key_reset(k);
    key_add(k, route, rlen);
    key_add(k, prov, plen);
    key_add(k, other, sizeof(other) - 1);
    key_add(k, status, slen);
    v = table_get(t, k, key_hash(k), GW_METRICS_MAX_SERIES - GW_METRICS_FOLD_RESERVE / 2);
    if (v)
        return v;
    key_reset(k);
    key_add(k, other, sizeof(other) - 1);
    key_add(k, prov, plen);
    key_add(k, other, sizeof(other) - 1);
    key_add(k, status, slen);
    v = table_get(t, k, key_hash(k), GW_METRICS_MAX_SERIES - 1);
    if (v)
        return v;
    /* The last place is the catch-all's. */
    key_reset(k);
    for (int i = 0; i < 4; i++)
        key_add(k, other, sizeof(other) - 1);
    return table_get(t, k, key_hash(k), GW_METRICS_MAX_SERIES);
}

void
gw_metrics_request(struct gw_metrics *m, const char *route, const char *provider, const char *model,
                   int status, uint64_t bytes_in, uint64_t bytes_out, int64_t upstream_us,
                   int64_t ttft_us)
{
    if (!m)
        return;
    /* Keys and hashes are made before taking the lock. */
    char st[8];
    size_t slen = status_text(status, st);
    size_t rlen = name_len(route), plen = name_len(provider);
    if (!route)
        route = "";
    if (!provider)
        provider = "";
    struct key k;
    key_reset(&k);
    key_add(&k, route, rlen);
    key_add(&k, provider, plen);
    key_add_clean(&k, model);
    key_add(&k, st, slen);
    uint32_t hash = key_hash(&k);

    int timed = upstream_us >= 0 || ttft_us >= 0;
    struct key pk;
    uint32_t phash = 0;
    if (timed) {
        key_reset(&pk);
        key_add(&pk, provider, plen);
        phash = key_hash(&pk);
    }

    pthread_mutex_lock(&m->lock);
    uint64_t *v = series_get(&m->series, &k, hash, route, rlen, provider, plen, st, slen);
    if (v) {
        v[SV_COUNT]++;
        v[SV_BYTES_IN] += bytes_in;
        v[SV_BYTES_OUT] += bytes_out;
    } else {
        m->dropped++;
    }
    if (timed) {
        uint64_t *p = table_get(&m->providers, &pk, phash, GW_METRICS_MAX_PROVIDERS - 1);
        if (!p) {
            key_reset(&pk);
            key_add(&pk, other, sizeof(other) - 1);
            p = table_get(&m->providers, &pk, key_hash(&pk), GW_METRICS_MAX_PROVIDERS);
        }
        if (p) {
            if (upstream_us >= 0)
                observe(p + PV_UPSTREAM, upstream_us);
            if (ttft_us >= 0)
                observe(p + PV_TTFT, ttft_us);
        } else {
            m->dropped++;
        }
    }
    pthread_mutex_unlock(&m->lock);
}

void
gw_metrics_conn(struct gw_metrics *m, int delta)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    m->conns += delta;
    pthread_mutex_unlock(&m->lock);
}

void
gw_metrics_stream(struct gw_metrics *m, int delta)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    m->streams += delta;
    pthread_mutex_unlock(&m->lock);
}

/* The families rendered by this module; a named counter may not take one of these names. */
#define F_REQUESTS "portcullis_requests_total"
#define F_RECEIVED "portcullis_received_bytes_total"
#define F_SENT "portcullis_sent_bytes_total"
#define F_UPSTREAM "portcullis_upstream_latency_seconds"
#define F_TTFT "portcullis_time_to_first_token_seconds"
#define F_CONNS "portcullis_active_connections"
#define F_STREAMS "portcullis_active_streams"
#define F_GENERATION "portcullis_config_generation"
#define F_RELOADS "portcullis_config_reloads_total"
#define F_LAST_RELOAD "portcullis_config_last_reload_success_timestamp_seconds"
#define F_WORKERS "portcullis_workers"
#define F_DRAINING "portcullis_draining"
#define F_BUILD "portcullis_build_info"
#define F_DROPPED "portcullis_metrics_dropped_total"

static const char *const builtin[] = {
    F_REQUESTS,   F_RECEIVED, F_SENT,        F_UPSTREAM, F_TTFT,     F_CONNS, F_STREAMS,
    F_GENERATION, F_RELOADS,  F_LAST_RELOAD, F_WORKERS,  F_DRAINING, F_BUILD, F_DROPPED};

static int
is_name_char(unsigned char c, int first, int colon)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':'))
        return 1;
    return !first && c >= '0' && c <= '9';
}

/* 1 when s is a metric name (colon = 1) or label name (colon = 0) of at most max bytes. */
static int
valid_name(const char *s, int colon, size_t max)
{
    size_t len = s ? strnlen(s, max + 1) : 0;
    if (len == 0 || len > max)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!is_name_char((unsigned char)s[i], i == 0, colon))
            return 0;
    return 1;
}

/* 1 when name is one of the built-in families or one of their histogram series. */
static int
is_builtin(const char *name)
{
    for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++) {
        size_t len = strlen(builtin[i]);
        if (strncmp(name, builtin[i], len) != 0)
            continue;
        const char *rest = name + len;
        if (*rest == '\0' || strcmp(rest, "_bucket") == 0 || strcmp(rest, "_sum") == 0 ||
            strcmp(rest, "_count") == 0)
            return 1;
    }
    return 0;
}

void
gw_metrics_count_labels(struct gw_metrics *m, const char *name, const char *const *labels,
                        size_t npairs, uint64_t n)
{
    if (!m)
        return;
    int ok = valid_name(name, 1, NAMED_NAME_MAX) && !is_builtin(name) &&
             npairs <= GW_METRICS_MAX_LABELS && (labels || npairs == 0);
    /* The key holds the labels sorted by name, so that one label set is one series whatever the
     * order it is given in (Prometheus would see two lines of the same series otherwise). */
    size_t order[GW_METRICS_MAX_LABELS];
    for (size_t i = 0; ok && i < npairs; i++) {
        ok = valid_name(labels[2 * i], 0, NAMED_LABEL_MAX);
        size_t j = i;
        while (ok && j > 0) {
            int c = strcmp(labels[2 * order[j - 1]], labels[2 * i]);
            ok = c != 0;
            if (c <= 0)
                break;
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    GW_BUG_ON(!ok);
    if (!ok)
        return;
    struct key k;
    key_reset(&k);
    key_add(&k, name, strlen(name));
    for (size_t i = 0; i < npairs; i++) {
        const char *label = labels[2 * order[i]];
        key_add(&k, label, strlen(label));
        key_add_clean(&k, labels[2 * order[i] + 1]);
    }
    uint32_t hash = key_hash(&k);

    pthread_mutex_lock(&m->lock);
    uint64_t *v = table_get(&m->named, &k, hash, GW_METRICS_MAX_NAMED - GW_METRICS_FOLD_RESERVE);
    if (!v && npairs > 0) {
        key_reset(&k);
        key_add(&k, name, strlen(name));
        for (size_t i = 0; i < npairs; i++) {
            const char *label = labels[2 * order[i]];
            key_add(&k, label, strlen(label));
            key_add(&k, other, sizeof(other) - 1);
        }
        v = table_get(&m->named, &k, key_hash(&k), GW_METRICS_MAX_NAMED);
    }
    if (v)
        v[0] += n;
    else
        m->dropped++;
    pthread_mutex_unlock(&m->lock);
}

void
gw_metrics_count(struct gw_metrics *m, const char *name, const char *label, const char *value,
                 uint64_t n)
{
    const char *pair[2] = {label, value};
    gw_metrics_count_labels(m, name, pair, label && *label ? 1 : 0, n);
}

/* ---- rendering ---- */

/* What the renderer copied of one table entry; vals are at index vi * nvals of the vec. */
struct snap {
    const char *key;
    uint32_t klen;
    uint32_t vi;
};

struct vec {
    struct snap *s;
    uint64_t *vals;
    size_t n, cap;
    uint32_t nvals;
};

static int
vec_reserve(struct vec *v, size_t need)
{
    if (need <= v->cap)
        return 0;
    size_t cap = v->cap ? v->cap : 64;
    while (cap < need)
        cap *= 2;
    struct snap *s = realloc(v->s, cap * sizeof(*s));
    if (!s)
        return -1;
    v->s = s;
    uint64_t *vals = realloc(v->vals, cap * v->nvals * sizeof(*vals));
    if (!vals)
        return -1;
    v->vals = vals;
    v->cap = cap;
    return 0;
}

/* Copies t's entries; the caller holds t's lock and made room. */
static void
vec_copy(struct vec *v, const struct table *t)
{
    for (uint32_t i = 0; i < t->n; i++) {
        struct snap *s = &v->s[v->n];
        s->key = t->e[i].key;
        s->klen = t->e[i].klen;
        s->vi = (uint32_t)v->n;
        memcpy(&v->vals[v->n * v->nvals], &t->vals[(size_t)i * t->nvals],
               t->nvals * sizeof(uint64_t));
        v->n++;
    }
}

static int
snap_cmp(const void *pa, const void *pb)
{
    const struct snap *a = pa, *b = pb;
    int c = memcmp(a->key, b->key, a->klen < b->klen ? a->klen : b->klen);
    if (c)
        return c;
    return (a->klen > b->klen) - (a->klen < b->klen);
}

/* Sorts v by key and sums entries with equal keys into one. */
static void
vec_merge(struct vec *v)
{
    if (v->n == 0)
        return;
    qsort(v->s, v->n, sizeof(*v->s), snap_cmp);
    size_t w = 0;
    for (size_t r = 1; r < v->n; r++) {
        if (snap_cmp(&v->s[w], &v->s[r]) == 0) {
            uint64_t *dst = &v->vals[(size_t)v->s[w].vi * v->nvals];
            const uint64_t *src = &v->vals[(size_t)v->s[r].vi * v->nvals];
            for (uint32_t j = 0; j < v->nvals; j++)
                dst[j] += src[j];
        } else {
            v->s[++w] = v->s[r];
        }
    }
    v->n = w + 1;
}

static const uint64_t *
snap_vals(const struct vec *v, size_t i)
{
    return &v->vals[(size_t)v->s[i].vi * v->nvals];
}

/* The label values of a key, in order. */
static size_t
key_split(const char *key, uint32_t klen, const char **parts, size_t max)
{
    size_t n = 0;
    for (uint32_t off = 0; off < klen && n < max; off += (uint32_t)strlen(key + off) + 1)
        parts[n++] = key + off;
    return n;
}

static void
put(struct evbuffer *out, const char *s)
{
    evbuffer_add(out, s, strlen(s));
}

/* Label value escaping of the text format: backslash, double quote and line feed. */
static void
put_escaped(struct evbuffer *out, const char *s)
{
    const char *run = s;
    for (; *s; s++) {
        const char *esc;
        switch (*s) {
        case '\\':
            esc = "\\\\";
            break;
        case '"':
            esc = "\\\"";
            break;
        case '\n':
            esc = "\\n";
            break;
        default:
            continue;
        }
        evbuffer_add(out, run, (size_t)(s - run));
        evbuffer_add(out, esc, 2);
        run = s + 1;
    }
    evbuffer_add(out, run, (size_t)(s - run));
}

static void
family(struct evbuffer *out, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample line, written piece by piece: line_start, line_label..., line_u64 / line_text. */
struct line {
    struct evbuffer *out;
    int labels;
};

static void
line_start(struct line *l, struct evbuffer *out, const char *name, const char *suffix)
{
    l->out = out;
    l->labels = 0;
    put(out, name);
    if (suffix)
        put(out, suffix);
}

static void
line_label(struct line *l, const char *name, const char *value)
{
    put(l->out, l->labels++ ? "," : "{");
    put(l->out, name);
    put(l->out, "=\"");
    put_escaped(l->out, value);
    put(l->out, "\"");
}

static void
line_text(struct line *l, const char *value)
{
    put(l->out, l->labels ? "} " : " ");
    put(l->out, value);
    put(l->out, "\n");
}

static void
line_u64(struct line *l, uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%" PRIu64, v);
    line_text(l, buf);
}

static void
line_i64(struct line *l, int64_t v)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%" PRId64, v);
    line_text(l, buf);
}

static void
render_requests(struct evbuffer *out, const struct vec *v)
{
    struct line l;
    family(out, F_REQUESTS, "counter",
           "Requests finished, by route, provider, model and HTTP status sent to the client.");
    for (size_t i = 0; i < v->n; i++) {
        const char *p[4];
        if (key_split(v->s[i].key, v->s[i].klen, p, 4) != 4)
            continue;
        line_start(&l, out, F_REQUESTS, NULL);
        line_label(&l, "route", p[0]);
        line_label(&l, "provider", p[1]);
        line_label(&l, "model", p[2]);
        line_label(&l, "status", p[3]);
        line_u64(&l, snap_vals(v, i)[SV_COUNT]);
    }
}

/* Sums one series counter by route; the route is the first part of the sorted keys. */
static void
render_by_route(struct evbuffer *out, const struct vec *v, const char *name, const char *help,
                int which)
{
    struct line l;
    family(out, name, "counter", help);
    for (size_t i = 0; i < v->n;) {
        const char *route = v->s[i].key;
        uint64_t sum = 0;
        for (; i < v->n && strcmp(v->s[i].key, route) == 0; i++)
            sum += snap_vals(v, i)[which];
        line_start(&l, out, name, NULL);
        line_label(&l, "route", route);
        line_u64(&l, sum);
    }
}

static void
render_histogram(struct evbuffer *out, const struct vec *v, const char *name, const char *help,
                 int base)
{
    struct line l;
    family(out, name, "histogram", help);
    for (size_t i = 0; i < v->n; i++) {
        const char *provider = v->s[i].key;
        const uint64_t *h = snap_vals(v, i) + base;
        uint64_t cum = 0;
        for (size_t b = 0; b < NBUCKETS; b++) {
            cum += h[b];
            line_start(&l, out, name, "_bucket");
            line_label(&l, "provider", provider);
            line_label(&l, "le", bucket_le[b]);
            line_u64(&l, cum);
        }
        /* Microseconds summed as integers, printed exactly. */
        char sum[48];
        snprintf(sum, sizeof(sum), "%" PRIu64 ".%06" PRIu64, h[NBUCKETS] / 1000000,
                 h[NBUCKETS] % 1000000);
        line_start(&l, out, name, "_sum");
        line_label(&l, "provider", provider);
        line_text(&l, sum);
        line_start(&l, out, name, "_count");
        line_label(&l, "provider", provider);
        line_u64(&l, cum);
    }
}

/*
 * The keys are sorted and the name is their first part, ending in '\0': all series of a name
 * come one after the other, whatever their label names, and get one TYPE line.
 */
static void
render_named(struct evbuffer *out, const struct vec *v)
{
    struct line l;
    const char *family_name = NULL;
    for (size_t i = 0; i < v->n; i++) {
        const char *p[1 + 2 * GW_METRICS_MAX_LABELS];
        size_t np = key_split(v->s[i].key, v->s[i].klen, p, sizeof(p) / sizeof(p[0]));
        if (np % 2 == 0)
            continue;
        if (!family_name || strcmp(family_name, p[0]) != 0) {
            family_name = p[0];
            evbuffer_add_printf(out, "# TYPE %s counter\n", family_name);
        }
        line_start(&l, out, p[0], NULL);
        for (size_t j = 1; j + 1 < np; j += 2)
            line_label(&l, p[j], p[j + 1]);
        line_u64(&l, snap_vals(v, i)[0]);
    }
}

static void
render_globals(struct evbuffer *out, const struct gw_metrics_globals *g, uint64_t dropped)
{
    static const struct gw_metrics_globals zero;
    struct line l;
    char buf[64];
    if (!g)
        g = &zero;

    family(out, F_GENERATION, "gauge",
           "Generation of the config in use: 1 for the first loaded, +1 per successful reload.");
    line_start(&l, out, F_GENERATION, NULL);
    line_u64(&l, g->config_generation);

    family(out, F_RELOADS, "counter", "Config reloads, by result.");
    line_start(&l, out, F_RELOADS, NULL);
    line_label(&l, "result", "success");
    line_u64(&l, g->reloads_ok);
    line_start(&l, out, F_RELOADS, NULL);
    line_label(&l, "result", "failure");
    line_u64(&l, g->reloads_failed);

    family(out, F_LAST_RELOAD, "gauge",
           "Unix time of the last successful config reload, 0 when there was none.");
    snprintf(buf, sizeof(buf), "%.3f", g->last_reload_ok_time);
    line_start(&l, out, F_LAST_RELOAD, NULL);
    line_text(&l, buf);

    family(out, F_WORKERS, "gauge", "Worker threads, configured and running.");
    line_start(&l, out, F_WORKERS, NULL);
    line_label(&l, "state", "configured");
    line_i64(&l, g->workers);
    line_start(&l, out, F_WORKERS, NULL);
    line_label(&l, "state", "running");
    line_i64(&l, g->workers_running);

    family(out, F_DRAINING, "gauge", "1 once shutdown started, else 0.");
    line_start(&l, out, F_DRAINING, NULL);
    line_i64(&l, g->draining ? 1 : 0);

    family(out, F_BUILD, "gauge", "Build information; the value is always 1.");
    line_start(&l, out, F_BUILD, NULL);
    line_label(&l, "version", g->version ? g->version : "");
    line_u64(&l, 1);

    family(out, F_DROPPED, "counter",
           "Metric updates that could not be recorded (label set table full, or out of memory).");
    line_start(&l, out, F_DROPPED, NULL);
    line_u64(&l, dropped);
}

void
gw_metrics_render(struct gw_metrics *const *ms, size_t n, const struct gw_metrics_globals *g,
                  struct evbuffer *out)
{
    struct vec series = {.nvals = SV_N}, providers = {.nvals = PV_N}, named = {.nvals = 1};
    int64_t conns = 0, streams = 0;
    uint64_t dropped = 0;

    for (size_t i = 0; i < n; i++) {
        struct gw_metrics *m = ms[i];
        /* Room is made with the lock dropped; entries only ever get added, so loop. */
        for (;;) {
            pthread_mutex_lock(&m->lock);
            size_t ns = series.n + m->series.n, np = providers.n + m->providers.n,
                   nn = named.n + m->named.n;
            if (ns <= series.cap && np <= providers.cap && nn <= named.cap) {
                vec_copy(&series, &m->series);
                vec_copy(&providers, &m->providers);
                vec_copy(&named, &m->named);
                conns += m->conns;
                streams += m->streams;
                dropped += m->dropped;
                pthread_mutex_unlock(&m->lock);
                break;
            }
            pthread_mutex_unlock(&m->lock);
            if (vec_reserve(&series, ns + 16) < 0 || vec_reserve(&providers, np + 4) < 0 ||
                vec_reserve(&named, nn + 16) < 0) {
                gw_error("metrics: out of memory rendering %zu workers", n);
                goto done;
            }
        }
    }
    vec_merge(&series);
    vec_merge(&providers);
    vec_merge(&named);

    struct line l;
    render_requests(out, &series);
    render_by_route(out, &series, F_RECEIVED, "Bytes received from clients, by route.",
                    SV_BYTES_IN);
    render_by_route(out, &series, F_SENT, "Bytes sent to clients, by route.", SV_BYTES_OUT);
    render_histogram(out, &providers, F_UPSTREAM,
                     "Time from the request sent upstream to the response complete, by provider.",
                     PV_UPSTREAM);
    render_histogram(out, &providers, F_TTFT,
                     "Time from the request sent upstream to the first response body byte, by "
                     "provider.",
                     PV_TTFT);
    family(out, F_CONNS, "gauge", "Client connections open.");
    line_start(&l, out, F_CONNS, NULL);
    line_i64(&l, conns);
    family(out, F_STREAMS, "gauge", "Event streams being sent to clients.");
    line_start(&l, out, F_STREAMS, NULL);
    line_i64(&l, streams);
    render_globals(out, g, dropped);
    render_named(out, &named);

done:
    free(series.s);
    free(series.vals);
    free(providers.s);
    free(providers.vals);
    free(named.s);
    free(named.vals);
}
