/*
 * Hyperscan wrapper: compiled databases shared read-only, one scratch per thread grown for every
 * database it meets, one hs_stream_t per logical stream. See scan.h for the contracts.
 */
#include "filters/scan.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <string.h>

#include <openssl/evp.h>

#include "filters/fnv.h"
#include "filters/hexdigit.h"
#include "filters/par.h"
#include "gateway/io.h"

struct gw_scan_db {
    hs_database_t *block;  /* NULL when the set is empty */
    hs_database_t *stream; /* NULL when the set is empty or stream mode was not asked for */
    /* The same rules without start of match, block mode; only when some rule tracks its start
     * (see gw_scan_block). NULL otherwise, or when it could not be built (no probe then). */
    hs_database_t *probe;
    int has_stream;
    uint64_t serial; /* unique per compiled db: the scratch cache key (addresses get reused) */
};

struct gw_scan_stream {
    const struct gw_scan_db *db;
    hs_stream_t *hs; /* NULL for an empty rule set */
};

static atomic_uint_fast64_t next_serial = 1;

static int
compile_mode(const struct gw_scan_rule *rules, size_t n, const unsigned *flags, const unsigned *ids,
             unsigned mode, hs_database_t **out, char *err, size_t errlen, size_t *bad)
{
    const char **pats = malloc(n * sizeof(*pats));
    *out = NULL; /* on the allocation failure too: callers free it unconditionally */
    if (!pats) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        pats[i] = rules[i].pattern;
    hs_compile_error_t *cerr = NULL;
    hs_error_t rc = hs_compile_multi(pats, flags, ids, (unsigned)n, mode, NULL, out, &cerr);
    free(pats);
    if (rc == HS_SUCCESS)
        return 0;
    if (cerr && cerr->expression >= 0 && (size_t)cerr->expression < n) {
        snprintf(err, errlen, "rule '%s': %s", rules[cerr->expression].id, cerr->message);
        *bad = (size_t)cerr->expression;
    } else {
        snprintf(err, errlen, "%s", cerr ? cerr->message : "hyperscan compile failed");
    }
    hs_free_compile_error(cerr);
    *out = NULL;
    return -1;
}

/* One mode's compile, run by gw_par_run beside the others of the same rules. */
struct mode_job {
    const struct gw_scan_rule *rules;
    size_t n;
    const unsigned *flags, *ids;
    unsigned mode;
    hs_database_t **out;
    char err[600];
    size_t bad;
    int rc;
};

static void
mode_run(void *arg, size_t i)
{
    struct mode_job *j = ((struct mode_job **)arg)[i];
    j->rc = compile_mode(j->rules, j->n, j->flags, j->ids, j->mode, j->out, j->err, sizeof(j->err),
                         &j->bad);
}

struct gw_scan_db *
gw_scan_compile(const struct gw_scan_rule *rules, size_t n, int som, int stream, char *err,
                size_t errlen, size_t *bad)
{
    size_t bad_dummy;
    if (!bad)
        bad = &bad_dummy;
    *bad = n;
    if (errlen)
        err[0] = '\0';
    if (n > UINT_MAX / 2) {
        snprintf(err, errlen, "too many rules");
        return NULL;
    }
    struct gw_scan_db *db = calloc(1, sizeof(*db));
    if (!db) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    db->has_stream = stream != 0;
    db->serial = atomic_fetch_add(&next_serial, 1);
    if (n == 0)
        return db;

    unsigned *flags = malloc(n * sizeof(*flags)), *pflags = malloc(n * sizeof(*pflags)),
             *ids = malloc(n * sizeof(*ids));
    if (!flags || !pflags || !ids) {
        free(flags);
        free(pflags);
        free(ids);
        free(db);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    int any_som = 0;
    for (size_t i = 0; i < n; i++) {
        flags[i] = rules[i].flags | (som ? HS_FLAG_SOM_LEFTMOST : 0);
        any_som |= (flags[i] & HS_FLAG_SOM_LEFTMOST) != 0;
        pflags[i] = flags[i] & ~(unsigned)HS_FLAG_SOM_LEFTMOST;
        ids[i] = (unsigned)i;
    }
    /* The block database, the stream one and the probe (the same rules without start of match,
     * block mode; a failure only costs its speed-up, and what compiles with the start compiles
     * without it) are compiled side by side. MEDIUM: match starts exact within 4 GiB of the match
     * end, far beyond any response. */
    struct mode_job jobs[3] = {
        {rules, n, flags, ids, HS_MODE_BLOCK, &db->block, "", n, 0},
        {rules, n, flags, ids, HS_MODE_STREAM | (any_som ? HS_MODE_SOM_HORIZON_MEDIUM : 0),
         &db->stream, "", n, 0},
        {rules, n, pflags, ids, HS_MODE_BLOCK, &db->probe, "", n, 0},
    };
    struct mode_job *run[3];
    size_t k = 0;
    run[k++] = &jobs[0];
    if (stream)
        run[k++] = &jobs[1];
    if (any_som)
        run[k++] = &jobs[2];
    gw_par_run(k, mode_run, run);
    free(flags);
    free(pflags);
    free(ids);
    /* the block database's error first, as when they were compiled one after the other */
    for (size_t j = 0; j < 2; j++)
        if (jobs[j].rc < 0) {
            snprintf(err, errlen, "%s", jobs[j].err);
            *bad = jobs[j].bad;
            gw_scan_free(db);
            return NULL;
        }
    if (jobs[2].rc < 0)
        db->probe = NULL;
    return db;
}

/* ---- on-disk cache ---- */

/*
 * The cache directory into dir: $PORTCULLIS_CACHE_DIR, else $XDG_CACHE_HOME/portcullis, else
 * $HOME/.cache/portcullis (created). 0, or -1 for no cache (PORTCULLIS_CACHE_DIR=off, no home).
 */
static int
cache_dir(char *dir, size_t cap)
{
    const char *env = getenv("PORTCULLIS_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"),
               *home = getenv("HOME");
    int m;
    if (env && strcmp(env, "off") == 0)
        return -1;
    if (env && *env)
        m = snprintf(dir, cap, "%s", env);
    else if (xdg && *xdg)
        m = snprintf(dir, cap, "%s/portcullis", xdg);
    else if (home && *home)
        m = snprintf(dir, cap, "%s/.cache/portcullis", home);
    else
        return -1;
    if (m <= 0 || (size_t)m >= cap)
        return -1;
    for (char *q = dir + 1;; q++) { /* mkdir -p */
        if (*q == '/' || *q == '\0') {
            char c = *q;
            *q = '\0';
            if (mkdir(dir, 0700) != 0 && errno != EEXIST)
                return -1;
            *q = c;
            if (!c)
                break;
        }
    }
    return 0;
}

/* The file <tag>-<SHA-256 of the Hyperscan version, the modes and the rules>.hsdb in the cache
 * directory. */
static int
cache_path(const char *tag, const struct gw_scan_rule *rules, size_t n, int som, int stream,
           char *out, size_t cap)
{
    char dir[3000];
    if (cache_dir(dir, sizeof(dir)) < 0)
        return -1;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char h[EVP_MAX_MD_SIZE];
    unsigned hl = 0;
    char head[32];
    int k = snprintf(head, sizeof(head), "scan3:%d:%d:", som != 0, stream != 0);
    int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
             EVP_DigestUpdate(md, head, (size_t)k) &&
             EVP_DigestUpdate(md, hs_version(), strlen(hs_version()) + 1);
    for (size_t i = 0; ok && i < n; i++) {
        char fl[16];
        k = snprintf(fl, sizeof(fl), "%u:", rules[i].flags);
        ok = EVP_DigestUpdate(md, fl, (size_t)k) &&
             EVP_DigestUpdate(md, rules[i].pattern, strlen(rules[i].pattern) + 1);
    }
    ok = ok && EVP_DigestFinal_ex(md, h, &hl);
    EVP_MD_CTX_free(md);
    if (!ok)
        return -1;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    gw_hex_encode(h, hl, hex);
    int m = snprintf(out, cap, "%s/%s-%s.hsdb", dir, tag, hex);
    return m > 0 && (size_t)m < cap ? 0 : -1;
}

/* n bytes of v, little-endian, into p; and back. */
static void
le_put(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t
le_get(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* File: "PCDB" + for the block, the stream and the probe database: 8-byte little-endian length +
 * the serialised database (length 0: none). */
static int
put_db(FILE *f, const hs_database_t *hdb)
{
    char *bytes = NULL;
    size_t len = 0;
    if (hdb && hs_serialize_database(hdb, &bytes, &len) != HS_SUCCESS)
        return -1;
    unsigned char l8[8];
    le_put(l8, len, 8);
    int ok = fwrite(l8, 1, 8, f) == 8 && (len == 0 || fwrite(bytes, 1, len, f) == len);
    free(bytes);
    return ok ? 0 : -1;
}

static void
cache_save(const struct gw_scan_db *db, const char *path)
{
    char tmp[4200];
    int n = snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
    FILE *f = n > 0 && (size_t)n < sizeof(tmp) ? fopen(tmp, "wb") : NULL;
    if (!f)
        return;
    int ok = fwrite("PCDB", 1, 4, f) == 4 && put_db(f, db->block) == 0 &&
             put_db(f, db->stream) == 0 && put_db(f, db->probe) == 0;
    if (fclose(f) != 0)
        ok = 0;
    if (!ok || rename(tmp, path) != 0) /* best effort: the next start compiles again */
        unlink(tmp);
}

/* One database of the file at *p (len bytes left), in mode ("BLOCK" / "STREAM"): 0 (*out NULL
 * for length 0), or -1 when it is damaged or not built for this Hyperscan, CPU and mode. */
static int
get_db(const char **p, size_t *left, const char *mode, hs_database_t **out)
{
    *out = NULL;
    if (*left < 8)
        return -1;
    uint64_t len = le_get((const unsigned char *)*p, 8);
    *p += 8;
    *left -= 8;
    if (len > *left)
        return -1;
    if (len == 0)
        return 0;
    char *info = NULL;
    int ok = hs_serialized_database_info(*p, (size_t)len, &info) == HS_SUCCESS &&
             strstr(info, mode) && hs_deserialize_database(*p, (size_t)len, out) == HS_SUCCESS;
    free(info);
    *p += len;
    *left -= (size_t)len;
    return ok ? 0 : -1;
}

static struct gw_scan_db *
cache_load(const char *path, int want_block, int want_stream)
{
    char *buf = NULL;
    size_t len = 0;
    if (gw_read_file(path, 1u << 30, &buf, &len) < 0)
        return NULL;
    struct gw_scan_db *db = calloc(1, sizeof(*db));
    const char *p = buf + 4;
    size_t left = len >= 4 ? len - 4 : 0;
    if (!db || len < 4 || memcmp(buf, "PCDB", 4) != 0 ||
        get_db(&p, &left, "BLOCK", &db->block) < 0 ||
        get_db(&p, &left, "STREAM", &db->stream) < 0 ||
        get_db(&p, &left, "BLOCK", &db->probe) < 0 || left != 0 || !db->block != !want_block ||
        !db->stream != !want_stream) {
        if (db) {
            hs_free_database(db->block);
            hs_free_database(db->stream);
            hs_free_database(db->probe);
        }
        free(db);
        free(buf);
        return NULL;
    }
    free(buf);
    db->has_stream = want_stream;
    db->serial = atomic_fetch_add(&next_serial, 1);
    return db;
}

/* ---- compile-time profile (see scan.h) ---- */

struct prof_ent {
    char *tag, *id;
    double secs;
    unsigned nexpr;
    int failed;
};

static pthread_mutex_t prof_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_int prof_on;
static struct prof_ent *prof;
static size_t prof_n, prof_cap;

void
gw_scan_profile_enable(void)
{
    atomic_store(&prof_on, 1);
}

static double
thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
prof_add(const char *tag, const char *id, double secs, unsigned nexpr, int failed)
{
    pthread_mutex_lock(&prof_mu);
    if (prof_n == prof_cap) {
        size_t cap = prof_cap ? 2 * prof_cap : 256;
        struct prof_ent *np = realloc(prof, cap * sizeof(*np));
        if (!np) {
            pthread_mutex_unlock(&prof_mu);
            return;
        }
        prof = np, prof_cap = cap;
    }
    struct prof_ent *e = &prof[prof_n];
    e->tag = strdup(tag);
    e->id = strdup(id ? id : "?");
    if (e->tag && e->id) {
        e->secs = secs, e->nexpr = nexpr, e->failed = failed;
        prof_n++;
    } else {
        free(e->tag), free(e->id);
    }
    pthread_mutex_unlock(&prof_mu);
}

/* Each group of rules sharing an id, compiled alone as gw_scan_compile would (block mode, and
 * stream mode when asked for; compile_mode on this thread, so its CPU time is the cost). */
static void
profile_rules(const char *tag, const struct gw_scan_rule *rules, size_t n, int som, int stream)
{
    unsigned char *done = calloc(n ? n : 1, 1);
    struct gw_scan_rule *group = malloc((n ? n : 1) * sizeof(*group));
    unsigned *flags = malloc((n ? n : 1) * sizeof(*flags)),
             *ids = malloc((n ? n : 1) * sizeof(*ids));
    if (!done || !group || !flags || !ids)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (done[i])
            continue;
        const char *id = rules[i].id ? rules[i].id : "";
        size_t k = 0;
        unsigned any_som = 0;
        for (size_t j = i; j < n; j++) {
            if (done[j] || strcmp(rules[j].id ? rules[j].id : "", id) != 0)
                continue;
            done[j] = 1;
            group[k] = rules[j];
            flags[k] = rules[j].flags | (som ? HS_FLAG_SOM_LEFTMOST : 0);
            any_som |= (flags[k] & HS_FLAG_SOM_LEFTMOST) != 0;
            ids[k] = (unsigned)k;
            k++;
        }
        double t0 = thread_cpu();
        int failed = 0;
        for (int m = 0; m < (stream ? 2 : 1); m++) {
            unsigned mode = m == 0 ? HS_MODE_BLOCK
                                   : HS_MODE_STREAM | (any_som ? HS_MODE_SOM_HORIZON_MEDIUM : 0);
            hs_database_t *db;
            char err[8];
            size_t bad;
            failed |= compile_mode(group, k, flags, ids, mode, &db, err, sizeof(err), &bad) < 0;
            hs_free_database(db);
        }
        prof_add(tag, id, thread_cpu() - t0, (unsigned)k, failed);
    }
out:
    free(done), free(group), free(flags), free(ids);
}

static int
prof_cmp(const void *a, const void *b)
{
    double x = ((const struct prof_ent *)a)->secs, y = ((const struct prof_ent *)b)->secs;
    return x < y ? 1 : x > y ? -1 : 0;
}

void
gw_scan_profile_report(FILE *f, size_t top)
{
    pthread_mutex_lock(&prof_mu);
    qsort(prof, prof_n, sizeof(*prof), prof_cmp);
    double total = 0;
    for (size_t i = 0; i < prof_n; i++)
        total += prof[i].secs;
    size_t show = top && top < prof_n ? top : prof_n;
    fprintf(f,
            "compile time of each rule compiled alone, per database (CPU seconds; compiled "
            "together, a set does not cost the sum): %zu rules, %.1f s in all%s\n",
            prof_n, total, show < prof_n ? "; the slowest:" : ":");
    for (size_t i = 0; i < show; i++) {
        fprintf(f, "  %7.3f s  %-26s %s", prof[i].secs, prof[i].tag, prof[i].id);
        if (prof[i].nexpr > 1)
            fprintf(f, " (%u expressions)", prof[i].nexpr);
        fprintf(f, "%s\n", prof[i].failed ? " (does not compile alone)" : "");
    }
    for (size_t i = 0; i < prof_n; i++)
        free(prof[i].tag), free(prof[i].id);
    free(prof);
    prof = NULL, prof_n = prof_cap = 0;
    pthread_mutex_unlock(&prof_mu);
}

struct gw_scan_db *
gw_scan_compile_cached(const char *tag, const struct gw_scan_rule *rules, size_t n, int som,
                       int stream, char *err, size_t errlen, size_t *bad)
{
    if (atomic_load(&prof_on))
        profile_rules(tag, rules, n, som, stream);
    char path[4096];
    int cached = n > 0 && cache_path(tag, rules, n, som, stream, path, sizeof(path)) == 0;
    struct gw_scan_db *db;
    if (cached && (db = cache_load(path, 1, stream != 0)) != NULL) {
        if (bad)
            *bad = n;
        if (errlen)
            err[0] = '\0';
        return db;
    }
    db = gw_scan_compile(rules, n, som, stream, err, errlen, bad);
    if (db && cached)
        cache_save(db, path);
    return db;
}

void
gw_scan_free(struct gw_scan_db *db)
{
    if (!db)
        return;
    hs_free_database(db->block);
    hs_free_database(db->stream);
    hs_free_database(db->probe);
    free(db);
}

/* ---- expression widths, remembered ---- */

/*
 * hs_expression_info builds Hyperscan's graph of the expression: ~1 ms for a large rule, so that
 * measuring every rule and piece of the shipped packs was two thirds of loading them even with
 * their databases cached. The answers are kept in memory (for reloads) and in
 * <cache dir>/widths-<SHA-256 of the Hyperscan version, 16 hex>.tbl: 32-byte records, appended
 * with one write each (O_APPEND: processes loading at once do not tear each other's records),
 * each with its own check so that a damaged one is ignored and measured again. Only valid
 * expressions are kept; an error is always Hyperscan's own message, fresh.
 */
#define XW_REC 32
#define XW_FILE_MAX (XW_REC << 17) /* 131,072 answers; a larger file starts over */

struct xw {
    unsigned char key[16]; /* SHA-256 of the flags and the expression, first 16 bytes */
    uint32_t minw, maxw;
    int used;
};

static pthread_mutex_t xw_mu = PTHREAD_MUTEX_INITIALIZER;
static struct xw *xw_tab;
static size_t xw_cap, xw_n;
static int xw_opened, xw_fd = -1;

static uint64_t
xw_check(const unsigned char *rec)
{
    return gw_fnv1a(GW_FNV_OFFSET ^ 0x7877u, (const char *)rec, 24);
}

static struct xw *
xw_slot(const unsigned char *key)
{
    size_t i;
    memcpy(&i, key, sizeof(i));
    for (i &= xw_cap - 1; xw_tab[i].used && memcmp(xw_tab[i].key, key, 16) != 0;
         i = (i + 1) & (xw_cap - 1))
        ;
    return &xw_tab[i];
}

/* Remembers an answer in memory (the table at most half full). -1: out of memory. */
static int
xw_put(const unsigned char *key, uint32_t minw, uint32_t maxw)
{
    if (2 * (xw_n + 1) > xw_cap) {
        size_t cap = xw_cap ? 2 * xw_cap : 1024;
        struct xw *old = xw_tab, *t = calloc(cap, sizeof(*t));
        if (!t)
            return -1;
        size_t oc = xw_cap;
        xw_tab = t, xw_cap = cap;
        for (size_t i = 0; i < oc; i++)
            if (old[i].used)
                *xw_slot(old[i].key) = old[i];
        free(old);
    }
    struct xw *s = xw_slot(key);
    if (!s->used) {
        *s = (struct xw){.minw = minw, .maxw = maxw, .used = 1};
        memcpy(s->key, key, 16);
        xw_n++;
    }
    return 0;
}

/* Once per process: the file's answers into memory, and the file open for appending. */
static void
xw_open(void)
{
    xw_opened = 1;
    char dir[3000], path[3100];
    if (cache_dir(dir, sizeof(dir)) < 0)
        return;
    unsigned char h[EVP_MAX_MD_SIZE];
    unsigned hl = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    if (!EVP_Digest(hs_version(), strlen(hs_version()), h, &hl, EVP_sha256(), NULL))
        return;
    gw_hex_encode(h, 8, hex);
    int m = snprintf(path, sizeof(path), "%s/widths-%s.tbl", dir, hex);
    if (m <= 0 || (size_t)m >= sizeof(path))
        return;
    char *buf = NULL;
    size_t len = 0;
    /* a torn record (a full disk) would shift every later one: start over then too */
    int fresh = gw_read_file(path, XW_FILE_MAX, &buf, &len) < 0 || len % XW_REC != 0;
    for (size_t o = 0; !fresh && o + XW_REC <= len; o += XW_REC) {
        const unsigned char *r = (const unsigned char *)buf + o;
        if (le_get(r + 24, 8) == xw_check(r) &&
            xw_put(r, (uint32_t)le_get(r + 16, 4), (uint32_t)le_get(r + 20, 4)) < 0)
            break;
    }
    free(buf);
    /* too large, torn or unreadable: start over (a process racing this loses some answers) */
    xw_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | (fresh ? O_TRUNC : 0), 0600);
}

int
gw_scan_expr_widths(const char *expr, unsigned flags, unsigned *minw, unsigned *maxw, char *err,
                    size_t errlen)
{
    unsigned char rec[XW_REC], h[EVP_MAX_MD_SIZE];
    unsigned hl = 0;
    char head[16];
    int k = snprintf(head, sizeof(head), "xw1:%u:", flags);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int keyed = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
                EVP_DigestUpdate(md, head, (size_t)k) && EVP_DigestUpdate(md, expr, strlen(expr)) &&
                EVP_DigestFinal_ex(md, h, &hl);
    EVP_MD_CTX_free(md);
    if (keyed) {
        memcpy(rec, h, 16);
        pthread_mutex_lock(&xw_mu);
        if (!xw_opened)
            xw_open();
        const struct xw *s = xw_cap ? xw_slot(rec) : NULL;
        int hit = s && s->used;
        if (hit)
            *minw = s->minw, *maxw = s->maxw;
        pthread_mutex_unlock(&xw_mu);
        if (hit)
            return 0;
    }
    hs_expr_info_t *info = NULL;
    hs_compile_error_t *cerr = NULL;
    if (hs_expression_info(expr, flags, &info, &cerr) != HS_SUCCESS) {
        if (errlen)
            snprintf(err, errlen, "%s", cerr ? cerr->message : "invalid expression");
        hs_free_compile_error(cerr);
        return -1;
    }
    *minw = info->min_width;
    *maxw = info->max_width;
    free(info);
    if (keyed) {
        le_put(rec + 16, *minw, 4);
        le_put(rec + 20, *maxw, 4);
        le_put(rec + 24, xw_check(rec), 8);
        pthread_mutex_lock(&xw_mu);
        if (xw_put(rec, *minw, *maxw) == 0 && xw_fd >= 0 &&
            write(xw_fd, rec, XW_REC) != XW_REC) { /* best effort: measured again next time */
            close(xw_fd);
            xw_fd = -1;
        }
        pthread_mutex_unlock(&xw_mu);
    }
    return 0;
}

/* ---- per-thread scratch ---- */

#define SEEN_MAX 16

/* The thread's scratch and the databases it was last grown for (a small ring: a worker meets the
 * few databases of its current snapshot over and over). */
struct tscratch {
    hs_scratch_t *scratch;
    uint64_t seen[SEEN_MAX];
    unsigned next;
};

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_key_ok;

static void
tscratch_free(void *p)
{
    struct tscratch *t = p;
    hs_free_scratch(t->scratch);
    free(t);
}

static void
scratch_key_init(void)
{
    scratch_key_ok = pthread_key_create(&scratch_key, tscratch_free) == 0;
}

hs_scratch_t *
gw_scan_scratch(const struct gw_scan_db *db)
{
    pthread_once(&scratch_once, scratch_key_init);
    if (!scratch_key_ok)
        return NULL;
    struct tscratch *t = pthread_getspecific(scratch_key);
    if (!t) {
        t = calloc(1, sizeof(*t));
        if (!t)
            return NULL;
        if (pthread_setspecific(scratch_key, t) != 0) {
            free(t);
            return NULL;
        }
    }
    for (unsigned i = 0; i < SEEN_MAX; i++)
        if (t->seen[i] == db->serial)
            return t->scratch;
    /* hs_alloc_scratch on an existing scratch only reallocates when db needs more. */
    if (db->block && hs_alloc_scratch(db->block, &t->scratch) != HS_SUCCESS)
        return NULL;
    if (db->stream && hs_alloc_scratch(db->stream, &t->scratch) != HS_SUCCESS)
        return NULL;
    if (db->probe && hs_alloc_scratch(db->probe, &t->scratch) != HS_SUCCESS)
        return NULL;
    t->seen[t->next] = db->serial;
    t->next = (t->next + 1) % SEEN_MAX;
    return t->scratch;
}

/* ---- scanning ---- */

/*
 * Hyperscan's AVX-512 code paths (libhs 5.4, chosen at run time on CPUs that have them) load
 * whole vectors and may read up to a vector past the end of the data; when the data ends at the
 * end of a mapped page that faults (seen under the fuzzer). Every scan therefore runs over a
 * per-thread copy with PAD readable bytes after it. The copy costs a memcpy of data that is
 * about to be scanned anyway.
 */
#define PAD 64

static __thread char *pad_buf;
static __thread size_t pad_cap;
static pthread_key_t pad_key;
static pthread_once_t pad_once = PTHREAD_ONCE_INIT;
static int pad_key_ok;

static void
pad_key_init(void)
{
    pad_key_ok = pthread_key_create(&pad_key, free) == 0;
}

static const char *
padded(const char *data, size_t len)
{
    if (len + PAD > pad_cap) {
        size_t cap = len + PAD > 4096 ? len + PAD : 4096;
        char *b = realloc(pad_buf, cap);
        if (!b)
            return NULL;
        pthread_once(&pad_once, pad_key_init);
        if (pad_key_ok)
            pthread_setspecific(pad_key, b); /* freed when the thread exits */
        pad_buf = b;
        pad_cap = cap;
    }
    memcpy(pad_buf, data, len);
    memset(pad_buf + len, 0, PAD);
    return pad_buf;
}

struct cbarg {
    gw_scan_cb cb;
    void *arg;
};

static int
on_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags,
         void *ctx)
{
    (void)flags;
    struct cbarg *a = ctx;
    /* Beyond the SOM horizon (4 GiB back): the start is unknown; the stream start is safe. */
    if (from == HS_OFFSET_PAST_HORIZON)
        from = 0;
    return a->cb(id, from, to, a->arg);
}

static int
scan_rc(hs_error_t rc)
{
    return rc == HS_SUCCESS || rc == HS_SCAN_TERMINATED ? 0 : -1;
}

/* The probe's callback: one match is enough to know. */
static int
on_probe(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags,
         void *ctx)
{
    (void)id;
    (void)from;
    (void)to;
    (void)flags;
    *(int *)ctx = 1;
    return 1; /* stop */
}

/*
 * Start of match is what makes a pattern expensive (a keyword-led secret rule: ~9 us per 2 KB
 * with it, ~0.2 us without), and most texts match nothing. So a database with such rules is first
 * scanned without it (the probe: the same rules, the same match ends, stopped at the first), and
 * only a text the probe finds anything in is scanned again, in full, with the real database: the
 * callbacks are exactly those of that one scan, and a text with no match costs the probe only.
 */
int
gw_scan_block(const struct gw_scan_db *db, const char *text, size_t len, gw_scan_cb cb, void *arg)
{
    if (!db->block)
        return 0;
    if (len > UINT_MAX)
        return -1;
    hs_scratch_t *scratch = gw_scan_scratch(db);
    if (!scratch)
        return -1;
    struct cbarg a = {cb, arg};
    const char *data = padded(text, len);
    if (!data)
        return -1;
    if (db->probe) {
        int hit = 0;
        if (scan_rc(hs_scan(db->probe, data, (unsigned)len, 0, scratch, on_probe, &hit)) < 0)
            return -1;
        if (!hit)
            return 0;
    }
    return scan_rc(hs_scan(db->block, data, (unsigned)len, 0, scratch, on_match, &a));
}

struct gw_scan_stream *
gw_scan_stream_open(const struct gw_scan_db *db)
{
    if (!db->has_stream)
        return NULL;
    struct gw_scan_stream *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->db = db;
    if (db->stream && hs_open_stream(db->stream, 0, &s->hs) != HS_SUCCESS) {
        free(s);
        return NULL;
    }
    return s;
}

int
gw_scan_stream_feed(struct gw_scan_stream *s, const char *data, size_t len, gw_scan_cb cb,
                    void *arg)
{
    if (!s->hs || len == 0)
        return 0;
    hs_scratch_t *scratch = gw_scan_scratch(s->db);
    if (!scratch)
        return -1;
    struct cbarg a = {cb, arg};
    while (len) {
        unsigned piece = len > (1u << 30) ? (1u << 30) : (unsigned)len;
        const char *copy = padded(data, piece);
        if (!copy)
            return -1;
        hs_error_t rc = hs_scan_stream(s->hs, copy, piece, 0, scratch, on_match, &a);
        if (rc == HS_SCAN_TERMINATED)
            return 0;
        if (rc != HS_SUCCESS)
            return -1;
        data += piece;
        len -= piece;
    }
    return 0;
}

int
gw_scan_stream_close(struct gw_scan_stream *s, gw_scan_cb cb, void *arg)
{
    if (!s)
        return 0;
    int ret = 0;
    if (s->hs) {
        /* Without a callback Hyperscan needs no scratch: matches at the end are dropped. */
        hs_scratch_t *scratch = cb ? gw_scan_scratch(s->db) : NULL;
        struct cbarg a = {cb, arg};
        if (cb && !scratch) {
            hs_close_stream(s->hs, NULL, NULL, NULL);
            ret = -1;
        } else {
            ret = scan_rc(hs_close_stream(s->hs, scratch, cb ? on_match : NULL, &a));
        }
    }
    free(s);
    return ret;
}
