/*
 * Configuration snapshot: YAML/JSON file → gw_cnode tree (config/parse.c) → validated, immutable
 * struct gw_config.
 *
 * Every key is described once, in a directive table (name, setter, offset of the field it fills,
 * bounds, default), in the spirit of nginx's ngx_command_t and Redis's standardConfig. apply()
 * walks a mapping against a table: unknown keys, wrong types and out-of-range values are reported
 * at the offending node, missing required keys at the mapping, and absent keys get their default
 * by running the same setter over the default text — so the defaults below are written exactly as
 * in config/portcullis.yaml and go through the same checks.
 *
 * Cross references (route → provider, provider → fallback) are resolved after the whole file is
 * read, so the order of top-level keys does not matter.
 */
#include "config/cfg.h"
#include "config/parse.h"

#include "config/name.h"
#include "config/tls.h"
#include "filters/filter.h"
#include "filters/flt_budget.h"
#include "filters/hexdigit.h"
#include "filters/registry.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/sha.h>

#define CFG_MAX_FILE_BYTES (16u << 20)
#define CFG_MAX_KEY_BYTES 16384

#define KIB 1024ull
#define MIB (1024ull * KIB)
#define GIB (1024ull * MIB)
#define SEC 1000ull
#define MIN (60ull * SEC)
#define HOUR (60ull * MIN)

/* Load-time state; the tree stays alive until the load ends, so nodes can be kept for errors. */
struct pmeta {
    const struct gw_cnode *name, *fallback, *key_env, *key_file;
};

struct rmeta {
    const struct gw_cnode *prefix, *provider;
};

struct kmeta {
    const struct gw_cnode *team, *sha256, *id;
};

struct ld {
    const char *name;    /* file name for messages */
    const char *basedir; /* directory relative paths are resolved against, NULL = cwd */
    char *err;
    size_t errlen;
    struct gw_config *cfg;
    struct pmeta *pm;                     /* one per cfg->providers entry */
    struct rmeta *rm;                     /* one per cfg->routes entry */
    struct kmeta *km;                     /* one per cfg->keys entry */
    const struct gw_cnode *auth_required; /* where auth.required was given, or NULL */
    int auth_mode;                        /* 0 auto, 1 true, 2 false */
};

struct directive;
typedef int (*set_fn)(struct ld *ld, const struct directive *d, const struct gw_cnode *v,
                      void *base);

#define D_REQUIRED 0x1u
#define D_SECTION 0x2u /* absent: apply the sub-table to an empty mapping (its defaults) */
#define D_DEF_SEQ 0x4u /* the default is one item of a sequence */

struct directive {
    const char *name;
    set_fn set;
    size_t off; /* of the field in the struct the table describes */
    unsigned long long min, max;
    const void *arg; /* NULL-terminated choices, or the sub-table of a section */
    const char *def; /* default, as it would be written in the file; NULL: none */
    unsigned flags;
};

static int apply(struct ld *ld, const struct directive *tab, const char *what,
                 const struct gw_cnode *map, void *base);

/* ---------------------------------------------------------------------------------------------
 * errors
 */

static int fail(struct ld *ld, const struct gw_cnode *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct ld *ld, const struct gw_cnode *at, const char *fmt, ...)
{
    char msg[768];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (ld->errlen == 0)
        return -1;
    if (at != NULL && at->line > 0)
        snprintf(ld->err, ld->errlen, "%s:%d:%d: %s", ld->name, at->line, at->col, msg);
    else
        snprintf(ld->err, ld->errlen, "%s: %s", ld->name, msg);
    return -1;
}

static int
oom(struct ld *ld)
{
    return fail(ld, NULL, "out of memory");
}

/* ---------------------------------------------------------------------------------------------
 * numbers
 */

/* Decimal digits only. 0, -1 on anything else (empty, sign, junk), -2 on overflow. */
static int
parse_ull(const char *s, const char **end, unsigned long long *out)
{
    unsigned long long v = 0;
    const char *p = s;

    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (ULLONG_MAX - (unsigned)(*p - '0')) / 10)
            return -2;
        v = v * 10 + (unsigned)(*p - '0');
    }
    if (end != NULL)
        *end = p;
    else if (*p != '\0')
        return -1;
    *out = v;
    return 0;
}

static int
mul_ok(unsigned long long v, unsigned long long m, unsigned long long max, unsigned long long *out)
{
    if (v > max / m)
        return -2;
    *out = v * m;
    return 0;
}

/* -1: not a duration, -2: too large for a uint32_t */
static int
parse_duration(const char *s, uint32_t *out)
{
    unsigned long long v, m;
    const char *u;
    int rc;

    rc = parse_ull(s, &u, &v);
    if (rc < 0)
        return rc;
    if (strcmp(u, "") == 0 || strcmp(u, "ms") == 0)
        m = 1;
    else if (strcmp(u, "s") == 0)
        m = SEC;
    else if (strcmp(u, "m") == 0)
        m = MIN;
    else if (strcmp(u, "h") == 0)
        m = HOUR;
    else
        return -1;
    if (mul_ok(v, m, UINT32_MAX, &v) < 0)
        return -2;
    *out = (uint32_t)v;
    return 0;
}

int
gw_parse_duration_ms(const char *s, uint32_t *out)
{
    return parse_duration(s, out) < 0 ? -1 : 0;
}

/* -1: not a size, -2: too large for a size_t */
static int
parse_size(const char *s, size_t *out)
{
    unsigned long long v, m;
    const char *u;
    int rc;

    rc = parse_ull(s, &u, &v);
    if (rc < 0)
        return rc;
    if (u[0] == '\0')
        m = 1;
    else if (u[1] != '\0')
        return -1;
    else if (u[0] == 'k' || u[0] == 'K')
        m = KIB;
    else if (u[0] == 'm' || u[0] == 'M')
        m = MIB;
    else if (u[0] == 'g' || u[0] == 'G')
        m = GIB;
    else
        return -1;
    if (mul_ok(v, m, SIZE_MAX, &v) < 0)
        return -2;
    *out = (size_t)v;
    return 0;
}

int
gw_parse_size(const char *s, size_t *out)
{
    return parse_size(s, out) < 0 ? -1 : 0;
}

static const char *
fmt_size(unsigned long long v, char *buf, size_t len)
{
    if (v != 0 && v % GIB == 0)
        snprintf(buf, len, "%llug", v / GIB);
    else if (v != 0 && v % MIB == 0)
        snprintf(buf, len, "%llum", v / MIB);
    else if (v != 0 && v % KIB == 0)
        snprintf(buf, len, "%lluk", v / KIB);
    else
        snprintf(buf, len, "%llu", v);
    return buf;
}

static const char *
fmt_duration(unsigned long long ms, char *buf, size_t len)
{
    if (ms != 0 && ms % HOUR == 0)
        snprintf(buf, len, "%lluh", ms / HOUR);
    else if (ms != 0 && ms % MIN == 0)
        snprintf(buf, len, "%llum", ms / MIN);
    else if (ms != 0 && ms % SEC == 0)
        snprintf(buf, len, "%llus", ms / SEC);
    else
        snprintf(buf, len, "%llums", ms);
    return buf;
}

/* ---------------------------------------------------------------------------------------------
 * setters: each checks one value node and stores it at base + d->off
 */

#define FIELD(base, d, type) ((type *)(void *)((char *)(base) + (d)->off))

/* The text of a scalar without embedded NULs, else NULL. */
static const char *
text_of(const struct gw_cnode *v)
{
    if (v->type != GW_CNODE_SCALAR || strlen(v->scalar) != v->len)
        return NULL;
    return v->scalar;
}

/* A plain (unquoted) scalar: numbers and booleans must not be quoted. */
static const char *
plain_of(const struct gw_cnode *v)
{
    return v->quoted ? NULL : text_of(v);
}

static int
set_count(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    const char *s = plain_of(v);
    unsigned long long n;
    int rc;

    if (s == NULL)
        return fail(ld, v, "'%s' must be an integer", d->name);
    rc = parse_ull(s[0] == '-' ? s + 1 : s, NULL, &n);
    if (rc == -1)
        return fail(ld, v, "'%s' must be an integer", d->name);
    if (rc == -2 || s[0] == '-' || n < d->min || n > d->max)
        return fail(ld, v, "'%s' must be between %llu and %llu", d->name, d->min, d->max);
    *FIELD(base, d, size_t) = (size_t)n;
    return 0;
}

static int
set_workers(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    const char *s = text_of(v);
    unsigned long long n;
    long cpus;
    int rc;

    if (s != NULL && strcmp(s, "auto") == 0) {
        cpus = sysconf(_SC_NPROCESSORS_ONLN);
        if (cpus < 1)
            cpus = 1;
        if ((unsigned long long)cpus > d->max)
            cpus = (long)d->max;
        *FIELD(base, d, int) = (int)cpus;
        return 0;
    }
    s = plain_of(v);
    rc = s == NULL ? -1 : parse_ull(s[0] == '-' ? s + 1 : s, NULL, &n);
    if (rc == -1)
        return fail(ld, v, "'%s' must be an integer or \"auto\"", d->name);
    if (rc == -2 || s[0] == '-' || n < d->min || n > d->max)
        return fail(ld, v, "'%s' must be \"auto\" or between %llu and %llu", d->name, d->min,
                    d->max);
    *FIELD(base, d, int) = (int)n;
    return 0;
}

/* Sizes and durations may be quoted: JSON has to write "8m". */
static int
set_size(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    const char *s = text_of(v);
    char lo[32], hi[32];
    size_t n = 0;
    int rc;

    rc = s == NULL ? -1 : parse_size(s[0] == '-' ? s + 1 : s, &n);
    if (rc == -1)
        return fail(ld, v, "'%s' must be a size (e.g. 512, 32k, 8m, 1g)", d->name);
    if (rc == -2 || s[0] == '-' || n < d->min || n > d->max)
        return fail(ld, v, "'%s' must be between %s and %s", d->name,
                    fmt_size(d->min, lo, sizeof(lo)), fmt_size(d->max, hi, sizeof(hi)));
    *FIELD(base, d, size_t) = n;
    return 0;
}

static int
set_duration(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    const char *s = text_of(v);
    char lo[32], hi[32];
    uint32_t n = 0;
    int rc;

    rc = s == NULL ? -1 : parse_duration(s[0] == '-' ? s + 1 : s, &n);
    if (rc == -1)
        return fail(ld, v, "'%s' must be a duration (e.g. 250ms, 10s, 5m, 1h)", d->name);
    if (rc == -2 || s[0] == '-' || n < d->min || n > d->max)
        return fail(ld, v, "'%s' must be between %s and %s", d->name,
                    fmt_duration(d->min, lo, sizeof(lo)), fmt_duration(d->max, hi, sizeof(hi)));
    *FIELD(base, d, uint32_t) = n;
    return 0;
}

static int
set_bool(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    const char *s = plain_of(v);

    if (s != NULL && (strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0)) {
        *FIELD(base, d, int) = 1;
        return 0;
    }
    if (s != NULL && (strcasecmp(s, "false") == 0 || strcasecmp(s, "no") == 0)) {
        *FIELD(base, d, int) = 0;
        return 0;
    }
    return fail(ld, v, "'%s' must be true or false", d->name);
}

/* A non-empty string without control characters. */
static const char *
string_of(struct ld *ld, const struct directive *d, const struct gw_cnode *v)
{
    const char *s = text_of(v);
    const unsigned char *p;

    if (s == NULL || s[0] == '\0' || gw_cnode_is_null(v)) {
        fail(ld, v, "'%s' must be a non-empty string", d->name);
        return NULL;
    }
    for (p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            fail(ld, v, "'%s' must not contain control characters", d->name);
            return NULL;
        }
    }
    return s;
}

static int
store_str(struct ld *ld, char **field, const char *s)
{
    char *copy = strdup(s);

    if (copy == NULL)
        return oom(ld);
    free(*field);
    *field = copy;
    return 0;
}

static int
set_str(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    const char *s = string_of(ld, d, v);

    return s == NULL ? -1 : store_str(ld, FIELD(base, d, char *), s);
}

static int
choice_index(struct ld *ld, const struct directive *d, const struct gw_cnode *v)
{
    const char *const *c = d->arg;
    const char *s = text_of(v);
    char list[256];
    size_t used = 0;
    int i;

    for (i = 0; s != NULL && c[i] != NULL; i++)
        if (strcmp(s, c[i]) == 0)
            return i;
    list[0] = '\0';
    for (i = 0; c[i] != NULL && used < sizeof(list); i++)
        used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", c[i]);
    fail(ld, v, "'%s' must be one of %s", d->name, list);
    return -1;
}

/* Enum field; choices are listed in the enum's order. */
static int
set_enum(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    int i = choice_index(ld, d, v);

    if (i < 0)
        return -1;
    *FIELD(base, d, int) = i;
    return 0;
}

/* String field restricted to a set of choices. */
static int
set_choice_str(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    int i = choice_index(ld, d, v);

    return i < 0 ? -1 : store_str(ld, FIELD(base, d, char *), ((const char *const *)d->arg)[i]);
}

static int
set_section(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    if (v->type != GW_CNODE_MAP)
        return fail(ld, v, "'%s' must be a mapping", d->name);
    return apply(ld, d->arg, d->name, v, (char *)base + d->off);
}

/* Provider names: [A-Za-z0-9_.-]+ */
static int
set_name(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    const char *s = string_of(ld, d, v);

    if (s == NULL)
        return -1;
    if (!gw_name_ok(s))
        return fail(ld, v, "'%s' may only contain letters, digits, '_', '.' and '-'", d->name);
    return store_str(ld, FIELD(base, d, char *), s);
}

/* Route prefixes: an absolute path without query, fragment or spaces. */
static int
set_prefix(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    const char *s = string_of(ld, d, v);

    if (s == NULL)
        return -1;
    if (s[0] != '/')
        return fail(ld, v, "'%s' must start with '/'", d->name);
    if (strpbrk(s, "?# ") != NULL)
        return fail(ld, v, "'%s' must be a path without spaces, query or fragment", d->name);
    return store_str(ld, FIELD(base, d, char *), s);
}

static char *
resolve_path(const char *basedir, const char *path)
{
    char *out;

    if (path[0] == '/' || basedir == NULL)
        return strdup(path);
    if (asprintf(&out, "%s/%s", basedir, path) < 0)
        return NULL;
    return out;
}

/* Opens a regular file for reading; -1 with errno set otherwise. */
static int
open_file(const char *path)
{
    struct stat st;
    int err, fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return -1;
    if (fstat(fd, &st) < 0) {
        err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        return -1;
    }
    return fd;
}

/* A file that must be readable now (key_file, ca_file); stored resolved against basedir. */
static int
set_file(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    const char *s = string_of(ld, d, v);
    char *path;
    int fd;

    if (s == NULL)
        return -1;
    path = resolve_path(ld->basedir, s);
    if (path == NULL)
        return oom(ld);
    fd = open_file(path);
    if (fd < 0) {
        fail(ld, v, "cannot read %s '%s': %s", d->name, path, strerror(errno));
        free(path);
        return -1;
    }
    close(fd);
    free(*FIELD(base, d, char *));
    *FIELD(base, d, char *) = path;
    return 0;
}

/* Port number: decimal digits, min..65535. */
static int
parse_port(const char *s, size_t len, unsigned min, uint16_t *out)
{
    unsigned v = 0;
    size_t i;

    if (len == 0 || len > 5)
        return -1;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v < min || v > 65535)
        return -1;
    *out = (uint16_t)v;
    return 0;
}

static int
valid_ipv6(const char *s, size_t len)
{
    char buf[INET6_ADDRSTRLEN + 1];
    struct in6_addr a;

    if (len == 0 || len >= sizeof(buf))
        return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return inet_pton(AF_INET6, buf, &a) == 1;
}

static int
valid_hostname(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || len > 253)
        return 0;
    for (i = 0; i < len; i++)
        if (!gw_name_char((unsigned char)s[i]))
            return 0;
    return 1;
}

/*
 * Splits "host:port", "[v6]:port" or ":port". host/hlen: the host without brackets (hlen 0 for
 * ":port"). Returns NULL or a description of what is wrong.
 */
static const char *
split_hostport(const char *s, const char **host, size_t *hlen, int *v6, const char **port)
{
    const char *close, *colon;

    *v6 = 0;
    if (s[0] == '[') {
        close = strchr(s, ']');
        if (close == NULL)
            return "unterminated '[' in IPv6 address";
        if (!valid_ipv6(s + 1, (size_t)(close - s - 1)))
            return "invalid IPv6 address";
        if (close[1] != ':')
            return "expected ':port' after ']'";
        *host = s + 1;
        *hlen = (size_t)(close - s - 1);
        *v6 = 1;
        *port = close + 2;
        return NULL;
    }
    colon = strrchr(s, ':');
    if (colon == NULL)
        return "expected host:port, [v6]:port or :port";
    if (memchr(s, ':', (size_t)(colon - s)) != NULL)
        return "IPv6 addresses must be in brackets, e.g. [::1]:8080";
    *host = s;
    *hlen = (size_t)(colon - s);
    *port = colon + 1;
    if (*hlen > 0 && !valid_hostname(s, *hlen))
        return "invalid host";
    return NULL;
}

static int
parse_addr(struct ld *ld, const struct gw_cnode *v, struct gw_listen_cfg *l)
{
    const char *s = text_of(v), *host, *port, *why;
    size_t hlen;
    int v6;

    if (s == NULL || s[0] == '\0' || gw_cnode_is_null(v))
        return fail(ld, v, "a listen address must be a \"host:port\" string");
    why = split_hostport(s, &host, &hlen, &v6, &port);
    if (why != NULL)
        return fail(ld, v, "invalid listen address '%s': %s", s, why);
    if (parse_port(port, strlen(port), 0, &l->port) < 0)
        return fail(ld, v, "invalid listen address '%s': port must be between 0 and 65535", s);
    free(l->addr);
    free(l->host);
    l->addr = strdup(s);
    l->host = strndup(host, hlen);
    if (l->addr == NULL || l->host == NULL)
        return oom(ld);
    return 0;
}

static int
set_addr(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    (void)d;
    return parse_addr(ld, v, base);
}

static int set_tls(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base);

static const struct directive listen_item_table[] = {
    {"addr", set_addr, 0, 0, 0, NULL, NULL, D_REQUIRED},
    {"tls", set_tls, 0, 0, 0, NULL, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, NULL, 0},
};

/* A listener: "host:port", or a mapping with addr and tls. */
static int
parse_listen(struct ld *ld, const struct gw_cnode *v, struct gw_listen_cfg *l)
{
    if (v->type == GW_CNODE_MAP)
        return apply(ld, listen_item_table, "listen", v, l);
    if (v->type != GW_CNODE_SCALAR)
        return fail(ld, v, "each 'listen' entry must be \"host:port\" or a mapping with 'addr'");
    return parse_addr(ld, v, l);
}

static int
set_listen(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    struct gw_config *cfg = base;
    size_t i;

    (void)d;
    if (v->type != GW_CNODE_SEQ)
        return fail(ld, v, "'listen' must be a sequence of \"host:port\" strings or mappings");
    if (v->nitems == 0)
        return fail(ld, v, "'listen' must have at least one address");
    cfg->listen = calloc(v->nitems, sizeof(*cfg->listen));
    if (cfg->listen == NULL)
        return oom(ld);
    cfg->nlisten = v->nitems;
    for (i = 0; i < v->nitems; i++)
        if (parse_listen(ld, v->items[i], &cfg->listen[i]) < 0)
            return -1;
    return 0;
}

/* ---- TLS listeners ---- */

static const char *const client_auth_names[] = {"none", "optional", "require", NULL};

#define TLSF(f) offsetof(struct gw_tls_cfg, f)

static const struct directive tls_table[] = {
    {"cert", set_file, TLSF(cert), 0, 0, NULL, NULL, D_REQUIRED},
    {"key", set_file, TLSF(key), 0, 0, NULL, NULL, D_REQUIRED},
    {"client_ca", set_file, TLSF(client_ca), 0, 0, NULL, NULL, 0},
    {"client_auth", set_enum, TLSF(client_auth), 0, 0, client_auth_names, NULL, 0},
    {"ciphers", set_str, TLSF(ciphers), 0, 0, NULL, GW_TLS_DEFAULT_CIPHERS, 0},
    {NULL, NULL, 0, 0, 0, NULL, NULL, 0},
};

static int
set_tls(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    struct gw_listen_cfg *l = base;
    char why[512];

    (void)d;
    if (v->type != GW_CNODE_MAP)
        return fail(ld, v, "'tls' must be a mapping with 'cert' and 'key'");
    l->tls = calloc(1, sizeof(*l->tls));
    if (l->tls == NULL)
        return oom(ld);
    if (apply(ld, tls_table, "tls", v, l->tls) < 0)
        return -1;
    if (gw_cnode_get(v, "client_auth") == NULL)
        l->tls->client_auth = l->tls->client_ca ? GW_CLIENT_AUTH_REQUIRE : GW_CLIENT_AUTH_NONE;
    else if (l->tls->client_auth != GW_CLIENT_AUTH_NONE && l->tls->client_ca == NULL)
        return fail(ld, gw_cnode_get(v, "client_auth"), "'client_auth: %s' needs 'client_ca'",
                    client_auth_names[l->tls->client_auth]);
    l->ssl_ctx = gw_tls_server_ctx(l->tls, why, sizeof(why));
    if (l->ssl_ctx == NULL)
        return fail(ld, v, "tls: %s", why);
    return 0;
}

/* ---- pattern lists (model names) ---- */

static int
set_globs(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    struct gw_globs *g = FIELD(base, d, struct gw_globs);
    size_t i;

    if (v->type != GW_CNODE_SEQ)
        return fail(ld, v, "'%s' must be a sequence of strings (patterns such as \"gpt-4o*\")",
                    d->name);
    g->items = calloc(v->nitems ? v->nitems : 1, sizeof(*g->items));
    if (g->items == NULL)
        return oom(ld);
    for (i = 0; i < v->nitems; i++) {
        const char *t = string_of(ld, d, v->items[i]);
        if (t == NULL)
            return -1;
        g->items[i] = strdup(t);
        if (g->items[i] == NULL)
            return oom(ld);
        g->n = i + 1;
    }
    if (g->n == 0)
        return fail(ld, v, "'%s' must list at least one pattern (omit it to allow any)", d->name);
    return 0;
}

int
gw_globs_match(const struct gw_globs *g, const char *s)
{
    size_t i;

    for (i = 0; i < g->n; i++)
        if (fnmatch(g->items[i], s, 0) == 0)
            return 1;
    return 0;
}

static void
free_globs(struct gw_globs *g)
{
    size_t i;

    for (i = 0; i < g->n; i++)
        free(g->items[i]);
    free(g->items);
}

/* ---- admin listener ---- */

static int
set_admin_listen(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    struct gw_admin_cfg *a = base;
    const char *s = text_of(v);

    (void)d;
    if (s != NULL && !v->quoted && strcmp(s, "off") == 0) {
        a->enabled = 0;
        return 0;
    }
    if (v->type != GW_CNODE_SCALAR)
        return fail(ld, v, "'admin.listen' must be \"host:port\" or off");
    a->enabled = 1;
    return parse_addr(ld, v, &a->listen);
}

#define ADMIN(f) offsetof(struct gw_admin_cfg, f)

static const struct directive admin_table[] = {
    {"listen", set_admin_listen, 0, 0, 0, NULL, "127.0.0.1:9090", 0},
    {"token_env", set_str, ADMIN(token_env), 0, 0, NULL, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, NULL, 0},
};

/* ---- identity: auth, teams, keys ---- */

static const char *const auth_modes[] = {"auto", "true", "false", NULL};

static int
set_auth_required(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    const char *t = plain_of(v);
    int i;

    (void)base;
    for (i = 0; t != NULL && auth_modes[i] != NULL; i++) {
        if (strcasecmp(t, auth_modes[i]) == 0) {
            ld->auth_mode = i;
            ld->auth_required = v->line ? v : NULL;
            return 0;
        }
    }
    return fail(ld, v, "'%s' must be auto, true or false", d->name);
}

/* An HTTP header name (token characters). */
static int
set_header_name(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    const char *t = string_of(ld, d, v);
    const unsigned char *q;

    if (t == NULL)
        return -1;
    for (q = (const unsigned char *)t; *q != '\0'; q++)
        if (!(gw_name_char(*q) || strchr("!#$%&'*+^`|~", *q) != NULL))
            return fail(ld, v, "'%s' must be an HTTP header name", d->name);
    return store_str(ld, FIELD(base, d, char *), t);
}

#define AUTHF(f) offsetof(struct gw_auth_cfg, f)

static const struct directive auth_table[] = {
    {"required", set_auth_required, 0, 0, 0, NULL, NULL, 0},
    {"session_header", set_header_name, AUTHF(session_header), 0, 0, NULL, "X-Session-Id", 0},
    {NULL, NULL, 0, 0, 0, NULL, NULL, 0},
};

static int
set_sha256(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    const char *t = string_of(ld, d, v);
    unsigned char *out = FIELD(base, d, unsigned char);
    size_t i;

    if (t == NULL)
        return -1;
    if (strlen(t) != 64)
        return fail(ld, v,
                    "'%s' must be 64 hex digits (the SHA-256 of the key; "
                    "`portcullis keygen` prints it)",
                    d->name);
    for (i = 0; i < 64; i++) {
        int c = t[i], x;
        if (c >= '0' && c <= '9')
            x = c - '0';
        else if (c >= 'a' && c <= 'f')
            x = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            x = c - 'A' + 10;
        else
            return fail(ld, v, "'%s' must be 64 hex digits", d->name);
        if (i % 2 == 0)
            out[i / 2] = (unsigned char)(x << 4);
        else
            out[i / 2] |= (unsigned char)x;
    }
    return 0;
}

/* ---- budgets and rate limits of teams and keys ---- */

const char *const gw_budget_window_names[] = {"minute", "hour", "day", "month", NULL};
const char *const gw_budget_metric_names[] = {"tokens", "input_tokens", "output_tokens",
                                              "cost",   "requests",     NULL};

/* USD: a decimal number > 0 and at most 1e9, stored in micro-USD. */
static int
parse_usd(struct ld *ld, const struct gw_cnode *v, const char *what, int64_t *out)
{
    const char *s = plain_of(v);
    char *end = NULL;
    double x;

    if (s == NULL || s[0] == '\0' || !(s[0] == '.' || (s[0] >= '0' && s[0] <= '9')))
        return fail(ld, v, "'%s' must be an amount of USD (e.g. 25 or 0.50)", what);
    errno = 0;
    x = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !(x >= 0.000001 && x <= 1e9))
        return fail(ld, v, "'%s' must be an amount of USD from 0.000001 to 1000000000", what);
    *out = (int64_t)(x * 1e6 + 0.5);
    return 0;
}

/* A count of tokens or requests: 1 .. 1e15. */
static int
parse_units(struct ld *ld, const struct gw_cnode *v, const char *what, int64_t *out)
{
    const char *s = plain_of(v);
    unsigned long long n;

    if (s == NULL || s[0] == '-' || parse_ull(s, NULL, &n) != 0 || n < 1 || n > 1000000000000000ull)
        return fail(ld, v, "'%s' must be a whole number from 1 to 1000000000000000", what);
    *out = (int64_t)n;
    return 0;
}

static int
policy_add(struct ld *ld, struct gw_budget_policy *p, enum gw_budget_metric m,
           enum gw_budget_window w, int rolling, int64_t limit, int line)
{
    struct gw_budget_limit *nv = realloc(p->v, (p->n + 1) * sizeof(*nv));
    if (nv == NULL)
        return oom(ld);
    p->v = nv;
    p->v[p->n++] = (struct gw_budget_limit){m, w, rolling, limit, line};
    return 0;
}

/* `budgets`: a sequence of {window, rolling, tokens, input_tokens, output_tokens, cost}. */
static int
set_budget_list(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    struct gw_budget_policy *p = FIELD(base, d, struct gw_budget_policy);

    if (v->type != GW_CNODE_SEQ)
        return fail(ld, v,
                    "'%s' must be a sequence of {window, tokens, input_tokens, output_tokens, "
                    "cost, requests, rolling}",
                    d->name);
    for (size_t i = 0; i < v->nitems; i++) {
        const struct gw_cnode *it = v->items[i], *w, *r;
        int win = -1, rolling = 0, any = 0;
        if (it->type != GW_CNODE_MAP)
            return fail(ld, it, "each '%s' entry must be a mapping", d->name);
        for (size_t k = 0; k < it->npairs; k++) {
            const char *key = it->pairs[k].key->scalar;
            int known = strcmp(key, "window") == 0 || strcmp(key, "rolling") == 0;
            for (size_t m = 0; !known && gw_budget_metric_names[m]; m++)
                known = strcmp(key, gw_budget_metric_names[m]) == 0;
            if (!known)
                return fail(ld, it->pairs[k].key,
                            "unknown key '%s.%s' (known: window, rolling, tokens, input_tokens, "
                            "output_tokens, cost, requests)",
                            d->name, key);
        }
        w = gw_cnode_get(it, "window");
        if (w == NULL)
            return fail(ld, it, "'%s' entry: 'window' is required (minute, hour, day, month)",
                        d->name);
        const char *ws = plain_of(w);
        for (int k = 0; ws && gw_budget_window_names[k]; k++)
            if (strcmp(ws, gw_budget_window_names[k]) == 0)
                win = k;
        if (win < 0)
            return fail(ld, w, "'window' must be one of minute, hour, day, month");
        r = gw_cnode_get(it, "rolling");
        if (r != NULL) {
            struct directive bd = {"rolling", set_bool, 0, 0, 0, NULL, NULL, 0};
            if (set_bool(ld, &bd, r, &rolling) < 0)
                return -1;
        }
        for (int m = 0; gw_budget_metric_names[m]; m++) {
            const struct gw_cnode *x = gw_cnode_get(it, gw_budget_metric_names[m]);
            int64_t lim = 0;
            if (x == NULL)
                continue;
            if ((m == GW_BM_COST ? parse_usd(ld, x, gw_budget_metric_names[m], &lim)
                                 : parse_units(ld, x, gw_budget_metric_names[m], &lim)) < 0)
                return -1;
            for (size_t j = 0; j < p->n; j++)
                if (p->v[j].metric == (enum gw_budget_metric)m &&
                    p->v[j].window == (enum gw_budget_window)win && p->v[j].rolling == rolling)
                    return fail(ld, x, "a %s%s '%s' budget is already set at line %d",
                                rolling ? "rolling " : "", gw_budget_window_names[win],
                                gw_budget_metric_names[m], p->v[j].line);
            if (policy_add(ld, p, (enum gw_budget_metric)m, (enum gw_budget_window)win, rolling,
                           lim, x->line) < 0)
                return -1;
            any = 1;
        }
        if (!any)
            return fail(ld, it,
                        "'%s' entry sets no limit: give tokens, input_tokens, output_tokens, "
                        "cost or requests",
                        d->name);
    }
    return 0;
}

/* `rate_limits`: {requests_per_minute, tokens_per_minute}, over a rolling minute. */
static int
set_rate_limits(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    struct gw_budget_policy *p = FIELD(base, d, struct gw_budget_policy);
    static const char *const names[] = {"requests_per_minute", "tokens_per_minute", NULL};

    if (v->type != GW_CNODE_MAP)
        return fail(ld, v, "'%s' must be a mapping (requests_per_minute, tokens_per_minute)",
                    d->name);
    for (size_t k = 0; k < v->npairs; k++) {
        const struct gw_cnode *key = v->pairs[k].key, *val = v->pairs[k].value;
        int which = -1;
        int64_t lim = 0;
        for (int j = 0; names[j]; j++)
            if (strcmp(key->scalar, names[j]) == 0)
                which = j;
        if (which < 0)
            return fail(ld, key,
                        "unknown key '%s.%s' (known: requests_per_minute, tokens_per_minute)",
                        d->name, key->scalar);
        if (parse_units(ld, val, names[which], &lim) < 0 ||
            policy_add(ld, p, which == 0 ? GW_BM_REQUESTS : GW_BM_TOKENS, GW_WIN_MINUTE, 1, lim,
                       val->line) < 0)
            return -1;
    }
    return 0;
}

#define TEAM(f) offsetof(struct gw_team_cfg, f)
#define KEY(f) offsetof(struct gw_key_cfg, f)

static const struct directive team_table[] = {
    {"name", set_name, TEAM(name), 0, 0, NULL, NULL, D_REQUIRED},
    {"allowed_models", set_globs, TEAM(allowed_models), 0, 0, NULL, NULL, 0},
    {"budgets", set_budget_list, TEAM(budget), 0, 0, NULL, NULL, 0},
    {"rate_limits", set_rate_limits, TEAM(budget), 0, 0, NULL, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, NULL, 0},
};

static const struct directive key_table[] = {
    {"id", set_name, KEY(id), 0, 0, NULL, NULL, D_REQUIRED},
    {"team", set_name, KEY(team_name), 0, 0, NULL, NULL, D_REQUIRED},
    {"user", set_str, KEY(user), 0, 0, NULL, NULL, 0},
    {"sha256", set_sha256, KEY(sha256), 0, 0, NULL, NULL, D_REQUIRED},
    {"budgets", set_budget_list, KEY(budget), 0, 0, NULL, NULL, 0},
    {"rate_limits", set_rate_limits, KEY(budget), 0, 0, NULL, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, NULL, 0},
};

static int
set_teams(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    struct gw_config *cfg = base;
    size_t i, j;

    if (v->type != GW_CNODE_SEQ)
        return fail(ld, v, "'%s' must be a sequence of mappings", d->name);
    cfg->teams = calloc(v->nitems ? v->nitems : 1, sizeof(*cfg->teams));
    if (cfg->teams == NULL)
        return oom(ld);
    for (i = 0; i < v->nitems; i++) {
        struct gw_team_cfg *t = &cfg->teams[i];
        if (v->items[i]->type != GW_CNODE_MAP)
            return fail(ld, v->items[i], "each '%s' entry must be a mapping", d->name);
        cfg->nteams = i + 1;
        t->line = v->items[i]->line;
        if (apply(ld, team_table, d->name, v->items[i], t) < 0)
            return -1;
        for (j = 0; j < i; j++)
            if (strcmp(cfg->teams[j].name, t->name) == 0)
                return fail(ld, gw_cnode_get(v->items[i], "name"),
                            "duplicate team '%s' (first at line %d)", t->name, cfg->teams[j].line);
    }
    return 0;
}

static int
set_keys(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    struct gw_config *cfg = base;
    size_t i;

    if (v->type != GW_CNODE_SEQ)
        return fail(ld, v, "'%s' must be a sequence of mappings", d->name);
    cfg->keys = calloc(v->nitems ? v->nitems : 1, sizeof(*cfg->keys));
    ld->km = calloc(v->nitems ? v->nitems : 1, sizeof(*ld->km));
    if (cfg->keys == NULL || ld->km == NULL)
        return oom(ld);
    for (i = 0; i < v->nitems; i++) {
        struct gw_key_cfg *k = &cfg->keys[i];
        const struct gw_cnode *item = v->items[i];
        if (item->type != GW_CNODE_MAP)
            return fail(ld, item, "each '%s' entry must be a mapping", d->name);
        cfg->nkeys = i + 1;
        k->line = item->line;
        if (apply(ld, key_table, d->name, item, k) < 0)
            return -1;
        ld->km[i].team = gw_cnode_get(item, "team");
        ld->km[i].sha256 = gw_cnode_get(item, "sha256");
        ld->km[i].id = gw_cnode_get(item, "id");
    }
    return 0;
}

static int
key_cmp(const void *a, const void *b)
{
    return memcmp(((const struct gw_key_cfg *)a)->sha256, ((const struct gw_key_cfg *)b)->sha256,
                  32);
}

/* Teams referenced by keys exist; ids and hashes are unique; the table is sorted for lookup. */
static int
resolve_identity(struct ld *ld, struct gw_config *cfg)
{
    size_t i, j;

    for (i = 0; i < cfg->nkeys; i++) {
        struct gw_key_cfg *k = &cfg->keys[i];
        for (j = 0; j < cfg->nteams; j++)
            if (strcmp(cfg->teams[j].name, k->team_name) == 0)
                k->team = &cfg->teams[j];
        if (k->team == NULL)
            return fail(ld, ld->km[i].team, "team '%s' is not defined in 'teams'", k->team_name);
        for (j = 0; j < i; j++) {
            if (strcmp(cfg->keys[j].id, k->id) == 0)
                return fail(ld, ld->km[i].id, "duplicate key id '%s' (first at line %d)", k->id,
                            cfg->keys[j].line);
            if (memcmp(cfg->keys[j].sha256, k->sha256, 32) == 0)
                return fail(ld, ld->km[i].sha256, "the same key hash is listed twice (line %d)",
                            cfg->keys[j].line);
        }
    }
    if (ld->auth_mode == 1 && cfg->nkeys == 0)
        return fail(ld, ld->auth_required,
                    "'auth.required' is true but no keys are configured: every request would be "
                    "refused");
    cfg->auth.required = ld->auth_mode == 1 || (ld->auth_mode == 0 && cfg->nkeys > 0);
    if (cfg->nkeys > 1)
        qsort(cfg->keys, cfg->nkeys, sizeof(*cfg->keys), key_cmp);
    return 0;
}

/* ---- filters ---- */

int
gw_cfg_error(struct gw_cfg_ctx *cc, const struct gw_cnode *node, const char *fmt, ...)
{
    char msg[768];
    va_list ap;

    if (node == NULL)
        node = cc->node;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (node != NULL)
        snprintf(cc->err, cc->errlen, "%s:%d:%d: %s", cc->file, node->line, node->col, msg);
    else
        snprintf(cc->err, cc->errlen, "%s: %s", cc->file, msg);
    return -1;
}

static int
set_filters(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    struct gw_config *cfg = base;
    size_t i, j;

    if (v->type != GW_CNODE_SEQ)
        return fail(ld, v, "'%s' must be a sequence of mappings with a 'type'", d->name);
    cfg->filters = calloc(v->nitems ? v->nitems : 1, sizeof(*cfg->filters));
    if (cfg->filters == NULL)
        return oom(ld);
    for (i = 0; i < v->nitems; i++) {
        const struct gw_cnode *item = v->items[i], *type, *name, *onerr;
        struct gw_filter_inst *f = &cfg->filters[i];
        if (item->type != GW_CNODE_MAP)
            return fail(ld, item, "each '%s' entry must be a mapping with a 'type'", d->name);
        f->line = item->line;
        type = gw_cnode_get(item, "type");
        if (type == NULL)
            return fail(ld, item, "missing required key 'type' in 'filters'");
        if (text_of(type) == NULL || (f->ops = gw_filter_lookup(type->scalar)) == NULL) {
            char names[256];
            gw_filter_names(names, sizeof(names));
            return fail(ld, type, "unknown filter type '%s' (known: %s)",
                        text_of(type) ? type->scalar : "?", names);
        }
        name = gw_cnode_get(item, "name");
        if (name != NULL) {
            static const struct directive nd = {"name", NULL, 0, 0, 0, NULL, NULL, 0};
            if (set_name(ld, &nd, name, &f->name) < 0)
                return -1;
        } else {
            f->name = strdup(f->ops->name);
            if (f->name == NULL)
                return oom(ld);
        }
        cfg->nfilters = i + 1;
        for (j = 0; j < i; j++)
            if (strcmp(cfg->filters[j].name, f->name) == 0)
                return fail(ld, name ? name : type,
                            "duplicate filter name '%s' (first at line %d); give each a 'name'",
                            f->name, cfg->filters[j].line);
        onerr = gw_cnode_get(item, "on_error");
        if (onerr != NULL) {
            const char *t = text_of(onerr);
            if (t != NULL && strcmp(t, "pass") == 0)
                f->on_error_pass = 1;
            else if (t == NULL || strcmp(t, "block") != 0)
                return fail(ld, onerr, "'on_error' must be block or pass");
        }
        const struct gw_cnode *bs = gw_cnode_get(item, "block_status");
        if (bs != NULL) {
            const char *t = plain_of(bs);
            char *end = NULL;
            long st = t ? strtol(t, &end, 10) : 0;
            if (t == NULL || *end != '\0' || st < 400 || st > 599)
                return fail(ld, bs, "'block_status' must be an HTTP status from 400 to 599");
            f->block_status = (int)st;
        }
        /* The rest of the mapping is the filter's own configuration. */
        json_t *conf = gw_cnode_to_json(item);
        if (conf == NULL)
            return oom(ld);
        json_object_del(conf, "type");
        json_object_del(conf, "name");
        json_object_del(conf, "on_error");
        json_object_del(conf, "block_status");
        struct gw_cfg_ctx cc = {ld->name, item, ld->err, ld->errlen, ld->basedir};
        int rc = f->ops->conf_new ? f->ops->conf_new(&cc, conf, &f->conf) : 0;
        json_decref(conf);
        if (rc < 0) {
            if (ld->errlen > 0 && ld->err[0] == '\0')
                fail(ld, item, "filter '%s': invalid configuration", f->name);
            return -1;
        }
    }
    return 0;
}

static int
set_route_filters(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    struct gw_route_cfg *r = base;
    size_t i;

    if (v->type != GW_CNODE_SEQ)
        return fail(ld, v, "'%s' must be a sequence of filter names", d->name);
    r->filter_names = calloc(v->nitems + 1, sizeof(char *));
    if (r->filter_names == NULL)
        return oom(ld);
    for (i = 0; i < v->nitems; i++) {
        const char *t = string_of(ld, d, v->items[i]);
        if (t == NULL)
            return -1;
        r->filter_names[i] = strdup(t);
        if (r->filter_names[i] == NULL)
            return oom(ld);
        r->nfilter_names = i + 1;
    }
    return 0;
}

static void
chain_add(struct gw_chain *c, struct gw_filter_inst *f)
{
    unsigned h = f->ops->hooks ? f->ops->hooks(f->conf) : ~0u;
    c->v[c->n++] = f;
    c->req_body |= f->ops->on_req_body != NULL && (h & GW_HOOK_REQ_BODY);
    c->resp_body |= f->ops->on_resp_body != NULL && (h & GW_HOOK_RESP_BODY);
    c->resp_chunk |= f->ops->on_resp_chunk != NULL && (h & GW_HOOK_RESP_CHUNK);
    c->usage |= f->ops->hooks != NULL && (h & GW_HOOK_USAGE);
}

/* Each route's chain: its `filters` by name, else every top-level filter in order. */
static int
resolve_chains(struct ld *ld, struct gw_config *cfg, const struct gw_cnode *root)
{
    size_t i, j, k;

    for (i = 0; i < cfg->nteams; i++)
        cfg->has_budgets |= cfg->teams[i].budget.n > 0;
    for (i = 0; i < cfg->nkeys; i++)
        cfg->has_budgets |= cfg->keys[i].budget.n > 0;
    /* the budget store also keeps the injection filter's session state: a Redis store is opened
     * (and shared by the instances) even when no team or key has a limit */
    if (cfg->has_budgets || cfg->budgets.store == 1) {
        struct gw_filter_inst *b = &cfg->budget_filter;
        b->ops = &gw_budget_filter_ops;
        b->name = strdup("budget");
        if (b->name == NULL)
            return oom(ld);
        if (gw_budget_conf_new(cfg, &b->conf, ld->err, ld->errlen) < 0)
            return -1;
    }
    for (i = 0; i < cfg->nroutes; i++) {
        struct gw_route_cfg *r = &cfg->routes[i];
        size_t n = r->filter_names ? r->nfilter_names : cfg->nfilters;
        r->chain.v = calloc(n + 1, sizeof(*r->chain.v));
        if (r->chain.v == NULL)
            return oom(ld);
        /* budgets and rate limits apply on every route, before any other filter spends time */
        if (cfg->has_budgets)
            chain_add(&r->chain, &cfg->budget_filter);
        if (r->filter_names == NULL) {
            for (j = 0; j < cfg->nfilters; j++)
                chain_add(&r->chain, &cfg->filters[j]);
            continue;
        }
        for (j = 0; j < r->nfilter_names; j++) {
            struct gw_filter_inst *f = NULL;
            for (k = 0; k < cfg->nfilters; k++)
                if (strcmp(cfg->filters[k].name, r->filter_names[j]) == 0)
                    f = &cfg->filters[k];
            if (f == NULL) {
                /* find the route's node again for the position */
                const struct gw_cnode *routes = gw_cnode_get(root, "routes"), *at = NULL;
                for (k = 0; routes != NULL && k < routes->nitems; k++)
                    if (routes->items[k]->line == r->line)
                        at = gw_cnode_get(routes->items[k], "filters");
                return fail(ld, at, "route '%s': unknown filter '%s' (define it under 'filters')",
                            r->prefix, r->filter_names[j]);
            }
            for (k = 0; k < r->chain.n; k++)
                if (r->chain.v[k] == f)
                    return fail(ld, NULL, "route '%s': filter '%s' is listed twice", r->prefix,
                                f->name);
            chain_add(&r->chain, f);
        }
    }
    return 0;
}

/* ---- Azure deployments: model -> deployment name ---- */

static int
set_deployments(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    struct gw_provider_cfg *p = base;
    size_t i;

    (void)d;
    if (v->type != GW_CNODE_MAP)
        return fail(ld, v, "'deployments' must map model names to deployment names");
    p->deploy_models.items = calloc(v->npairs + 1, sizeof(char *));
    p->deploy_names = calloc(v->npairs + 1, sizeof(char *));
    if (p->deploy_models.items == NULL || p->deploy_names == NULL)
        return oom(ld);
    for (i = 0; i < v->npairs; i++) {
        static const struct directive dd = {"deployments", NULL, 0, 0, 0, NULL, NULL, 0};
        const char *name = string_of(ld, &dd, v->pairs[i].value);
        if (name == NULL)
            return -1;
        if (!gw_name_ok(name))
            return fail(ld, v->pairs[i].value,
                        "a deployment name may only contain letters, digits, '_', '.' and '-'");
        p->deploy_models.items[i] = strdup(v->pairs[i].key->scalar);
        p->deploy_names[i] = strdup(name);
        p->deploy_models.n = i + 1;
        if (p->deploy_models.items[i] == NULL || p->deploy_names[i] == NULL)
            return oom(ld);
    }
    return 0;
}

static int
set_base_url(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    struct gw_provider_cfg *p = base;
    const char *s = string_of(ld, d, v), *rest, *auth_end, *host, *hend, *after, *path;
    size_t hlen, plen;
    int v6 = 0, r;

    if (s == NULL)
        return -1;
    if (strncasecmp(s, "https://", 8) == 0) {
        p->tls = 1;
        rest = s + 8;
    } else if (strncasecmp(s, "http://", 7) == 0) {
        p->tls = 0;
        rest = s + 7;
    } else {
        return fail(ld, v, "'base_url' must start with http:// or https://");
    }
    if (strpbrk(s, "?#") != NULL)
        return fail(ld, v, "'base_url' must not have a query or fragment");
    if (strchr(s, ' ') != NULL)
        return fail(ld, v, "'base_url' must not contain spaces");
    auth_end = rest + strcspn(rest, "/");
    if (memchr(rest, '@', (size_t)(auth_end - rest)) != NULL)
        return fail(ld, v, "'base_url' must not contain user info");
    if (rest[0] == '[') {
        hend = memchr(rest, ']', (size_t)(auth_end - rest));
        if (hend == NULL || !valid_ipv6(rest + 1, (size_t)(hend - rest - 1)))
            return fail(ld, v, "'base_url' has an invalid IPv6 address");
        host = rest + 1;
        hlen = (size_t)(hend - host);
        after = hend + 1;
        v6 = 1;
    } else {
        hend = memchr(rest, ':', (size_t)(auth_end - rest));
        if (hend == NULL)
            hend = auth_end;
        host = rest;
        hlen = (size_t)(hend - rest);
        after = hend;
        if (hlen == 0)
            return fail(ld, v, "'base_url' must have a host");
        if (!valid_hostname(host, hlen))
            return fail(ld, v, "'base_url' has an invalid host");
    }
    if (after < auth_end) {
        if (*after != ':')
            return fail(ld, v, "'base_url' has an invalid host");
        if (parse_port(after + 1, (size_t)(auth_end - after - 1), 1, &p->port) < 0)
            return fail(ld, v, "'base_url' port must be between 1 and 65535");
    } else {
        p->port = p->tls ? 443 : 80;
    }
    path = auth_end;
    plen = strlen(path);
    while (plen > 0 && path[plen - 1] == '/')
        plen--;

    p->base_url = strdup(s);
    p->host = strndup(host, hlen);
    p->base_path = strndup(path, plen);
    if (p->port == (p->tls ? 443 : 80))
        r = asprintf(&p->host_header, v6 ? "[%.*s]" : "%.*s", (int)hlen, host);
    else
        r = asprintf(&p->host_header, v6 ? "[%.*s]:%u" : "%.*s:%u", (int)hlen, host,
                     (unsigned)p->port);
    if (r < 0)
        p->host_header = NULL;
    if (p->base_url == NULL || p->host == NULL || p->base_path == NULL || p->host_header == NULL)
        return oom(ld);
    return 0;
}

/* ---- prices ---- */

/* A price: a decimal number of USD per million tokens, 0 to 1e6. */
static int
set_price(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    const char *s = plain_of(v);
    char *end = NULL;
    double x;

    if (s == NULL || s[0] == '\0' || !(s[0] == '.' || (s[0] >= '0' && s[0] <= '9')))
        return fail(ld, v, "'%s' must be a number of USD per million tokens (e.g. 2.5)", d->name);
    errno = 0;
    x = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !(x >= 0 && x <= 1e6))
        return fail(ld, v, "'%s' must be a number from 0 to 1000000 (USD per million tokens)",
                    d->name);
    *FIELD(base, d, double) = x;
    return 0;
}

#define PRICE(f) offsetof(struct gw_price_cfg, f)

static const struct directive price_table[] = {
    {"models", set_globs, PRICE(models), 0, 0, NULL, NULL, D_REQUIRED},
    {"input", set_price, PRICE(input), 0, 0, NULL, NULL, D_REQUIRED},
    {"output", set_price, PRICE(output), 0, 0, NULL, NULL, D_REQUIRED},
    {"cached_input", set_price, PRICE(cached_input), 0, 0, NULL, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, NULL, 0},
};

static int
set_prices(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    struct gw_config *cfg = base;
    size_t i;

    if (v->type != GW_CNODE_SEQ)
        return fail(ld, v, "'%s' must be a sequence of {models, input, output}", d->name);
    cfg->prices = calloc(v->nitems ? v->nitems : 1, sizeof(*cfg->prices));
    if (cfg->prices == NULL)
        return oom(ld);
    for (i = 0; i < v->nitems; i++) {
        if (v->items[i]->type != GW_CNODE_MAP)
            return fail(ld, v->items[i], "each '%s' entry must be a mapping", d->name);
        cfg->nprices = i + 1;
        cfg->prices[i].line = v->items[i]->line;
        cfg->prices[i].cached_input = -1;
        if (apply(ld, price_table, d->name, v->items[i], &cfg->prices[i]) < 0)
            return -1;
        if (cfg->prices[i].cached_input < 0)
            cfg->prices[i].cached_input = cfg->prices[i].input;
    }
    return 0;
}

double
gw_config_cost(const struct gw_config *cfg, const char *model, int64_t tokens_in,
               int64_t tokens_out)
{
    return gw_config_cost_cached(cfg, model, tokens_in, 0, tokens_out);
}

double
gw_config_cost_cached(const struct gw_config *cfg, const char *model, int64_t tokens_in,
                      int64_t cached, int64_t tokens_out)
{
    size_t i;

    if (model == NULL || model[0] == '\0' || (tokens_in < 0 && tokens_out < 0))
        return -1;
    if (cached < 0 || tokens_in <= 0)
        cached = 0;
    else if (cached > tokens_in)
        cached = tokens_in;
    for (i = 0; i < cfg->nprices; i++) {
        const struct gw_price_cfg *p = &cfg->prices[i];
        if (!gw_globs_match(&p->models, model))
            continue;
        return ((tokens_in > 0 ? (double)(tokens_in - cached) * p->input : 0) +
                (double)cached * p->cached_input +
                (tokens_out > 0 ? (double)tokens_out * p->output : 0)) /
               1e6;
    }
    return -1;
}

/* ---------------------------------------------------------------------------------------------
 * audit
 */

static void free_key(char *k);
static int clean_key(char *k);
static int read_key_file(struct ld *ld, const char *path, const char *what,
                         const struct gw_cnode *at, char **out);

#define AUD(f) offsetof(struct gw_audit_cfg, f)
#define SNK(f) offsetof(struct gw_sink_cfg, f)
#define STLS(f) offsetof(struct gw_sink_tls_cfg, f)

static const char *const capture_names[] = {"none", "hash", "redacted", "full", NULL};
static const char *const sink_type_names[] = {"file",    "splunk_hec", "elasticsearch",
                                              "webhook", "syslog",     NULL};
static const enum gw_sink_type sink_type_values[] = {
    GW_SINK_FILE, GW_SINK_SPLUNK_HEC, GW_SINK_ELASTICSEARCH, GW_SINK_WEBHOOK, GW_SINK_SYSLOG};
static const char *const transport_names[] = {"udp", "tcp", "tls", NULL};
static const char *const severity_names[] = {"info", "low", "medium", "high", "critical", NULL};
static const char *const kind_names[] = {"request", "filter",    "auth", "policy",
                                         "config",  "lifecycle", NULL};

/* A path the gateway will create or append to: resolved, not required to exist. */
static int
set_out_path(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    const char *s = string_of(ld, d, v);
    char *path;

    if (s == NULL)
        return -1;
    path = resolve_path(ld->basedir, s);
    if (path == NULL)
        return oom(ld);
    free(*FIELD(base, d, char *));
    *FIELD(base, d, char *) = path;
    return 0;
}

/* A secret named by an environment variable, read now: it must be set. */
static int
set_env_secret(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    const char *name = string_of(ld, d, v), *env;

    if (name == NULL)
        return -1;
    env = getenv(name);
    if (env == NULL || env[0] == '\0')
        return fail(ld, v, "'%s': environment variable '%s' is not set", d->name, name);
    if (store_str(ld, FIELD(base, d, char *), env) < 0)
        return -1;
    if (clean_key(*FIELD(base, d, char *)) < 0)
        return fail(ld, v, "environment variable '%s' contains control characters", name);
    return 0;
}

static int
set_severity(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    const char *s = text_of(v);

    if (s != NULL && s[0] >= '0' && s[0] <= '4' && s[1] == '\0') {
        *FIELD(base, d, int) = s[0] - '0';
        return 0;
    }
    return set_enum(ld, d, v, base);
}

static int
set_kinds(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    unsigned bits = 0;
    size_t i;
    int k;

    if (v->type != GW_CNODE_SEQ || v->nitems == 0)
        return fail(ld, v,
                    "'%s' must be a non-empty list of: request, filter, auth, policy, config, "
                    "lifecycle",
                    d->name);
    for (i = 0; i < v->nitems; i++) {
        k = choice_index(ld, d, v->items[i]);
        if (k < 0)
            return -1;
        bits |= 1u << k;
    }
    *FIELD(base, d, unsigned) = bits;
    return 0;
}

static int
set_sink_type(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    int i = choice_index(ld, d, v);

    if (i < 0)
        return -1;
    *FIELD(base, d, enum gw_sink_type) = sink_type_values[i];
    return 0;
}

/* syslog address: "host:port" (the host may be a name, resolved when the gateway starts). */
static int
set_sink_address(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    struct gw_sink_cfg *c = base;
    struct gw_listen_cfg l;

    (void)d;
    memset(&l, 0, sizeof(l));
    if (parse_addr(ld, v, &l) < 0) {
        free(l.addr);
        free(l.host);
        return -1;
    }
    free(l.addr);
    if (l.port == 0 || l.host[0] == '\0') {
        free(l.host);
        return fail(ld, v, "'address' must be \"host:port\" with a host and a port");
    }
    free(c->host);
    c->host = l.host;
    c->port = l.port;
    return 0;
}

static int
set_sink_url(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    struct gw_sink_cfg *c = base;
    struct gw_provider_cfg p;
    int rc;

    memset(&p, 0, sizeof(p));
    rc = set_base_url(ld, d, v, &p);
    if (rc == 0) {
        c->url = p.base_url;
        c->https = p.tls;
        c->host = p.host;
        c->port = p.port;
        c->host_header = p.host_header;
        if (p.base_path != NULL && p.base_path[0] == '\0') {
            free(p.base_path);
            p.base_path = strdup("/");
            if (p.base_path == NULL)
                rc = oom(ld);
        }
        c->path_query = p.base_path;
        return rc;
    }
    free(p.base_url);
    free(p.host);
    free(p.base_path);
    free(p.host_header);
    /* the provider parser names its key: this one is 'url' */
    char *k = ld->errlen ? strstr(ld->err, "'base_url'") : NULL;
    if (k != NULL)
        memmove(k + 1, k + 6, strlen(k + 6) + 1);
    return -1;
}

static int
set_headers(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    struct gw_sink_cfg *c = base;
    size_t i;

    if (v->type != GW_CNODE_MAP)
        return fail(ld, v, "'%s' must be a mapping of header names to values", d->name);
    c->headers = calloc(v->npairs ? v->npairs : 1, sizeof(*c->headers));
    if (c->headers == NULL)
        return oom(ld);
    for (i = 0; i < v->npairs; i++) {
        const char *name = v->pairs[i].key->scalar, *val = string_of(ld, d, v->pairs[i].value);
        if (val == NULL)
            return -1;
        if (name[0] == '\0' || strpbrk(name, " :\t\r\n") != NULL)
            return fail(ld, v->pairs[i].key, "invalid header name '%s'", name);
        c->headers[i].name = strdup(name);
        c->headers[i].value = strdup(val);
        c->nheaders = i + 1;
        if (c->headers[i].name == NULL || c->headers[i].value == NULL)
            return oom(ld);
    }
    return 0;
}

static const struct directive sink_tls_table[] = {
    {"ca", set_file, STLS(ca), 0, 0, NULL, NULL, 0},
    {"cert", set_file, STLS(cert), 0, 0, NULL, NULL, 0},
    {"key", set_file, STLS(key), 0, 0, NULL, NULL, 0},
    {"verify", set_bool, STLS(verify), 0, 0, NULL, "true", 0},
    {"server_name", set_str, STLS(server_name), 0, 0, NULL, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, NULL, 0},
};

static int
set_sink_tls(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    struct gw_sink_cfg *c = base;

    (void)d;
    if (v->type != GW_CNODE_MAP)
        return fail(ld, v, "'tls' must be a mapping (ca, cert, key, verify, server_name)");
    c->tls_set = 1;
    if (apply(ld, sink_tls_table, "tls", v, &c->tls) < 0)
        return -1;
    if ((c->tls.cert == NULL) != (c->tls.key == NULL))
        return fail(ld, v, "'tls' needs both 'cert' and 'key' for a client certificate");
    return 0;
}

/* Keys of a sink mapping; `types` says which sink types take each (bits of enum gw_sink_type). */
#define T_FILE (1u << GW_SINK_FILE)
#define T_SYSLOG (1u << GW_SINK_SYSLOG)
#define T_HTTP                                                                                     \
    ((1u << GW_SINK_SPLUNK_HEC) | (1u << GW_SINK_ELASTICSEARCH) | (1u << GW_SINK_WEBHOOK))
#define T_ALL (T_FILE | T_SYSLOG | T_HTTP)

static const struct directive sink_table[] = {
    {"name", set_name, SNK(name), 0, 0, NULL, NULL, D_REQUIRED},
    {"type", set_sink_type, SNK(type), 0, 0, sink_type_names, NULL, D_REQUIRED},
    {"min_severity", set_severity, SNK(min_severity), 0, 0, severity_names, "info", 0},
    {"events", set_kinds, SNK(kinds), 0, 0, kind_names, NULL, 0},
    {"batch_events", set_count, SNK(batch_events), 1, 100000, NULL, NULL, 0},
    {"batch_bytes", set_size, SNK(batch_bytes), KIB, 64 * MIB, NULL, "1m", 0},
    {"flush_interval", set_duration, SNK(flush_ms), 0, 60000, NULL, NULL, 0},
    {"timeout", set_duration, SNK(timeout_ms), 100, 600000, NULL, "10s", 0},
    {"path", set_out_path, SNK(path), 0, 0, NULL, NULL, 0},
    {"rotate_bytes", set_size, SNK(rotate_bytes), 0, 1024 * 1024 * MIB, NULL, "0", 0},
    {"rotate_interval", set_duration, SNK(rotate_ms), 0, 31u * 24 * 3600 * 1000, NULL, "0", 0},
    {"keep", set_count, SNK(keep), 0, 1000, NULL, "10", 0},
    {"address", set_sink_address, 0, 0, 0, NULL, NULL, 0},
    {"transport", set_enum, SNK(transport), 0, 0, transport_names, "tcp", 0},
    {"facility", set_count, SNK(facility), 0, 23, NULL, "16", 0},
    {"app_name", set_str, SNK(app_name), 0, 0, NULL, "portcullis", 0},
    {"url", set_sink_url, 0, 0, 0, NULL, NULL, 0},
    {"token_env", set_env_secret, SNK(token), 0, 0, NULL, NULL, 0},
    {"index", set_str, SNK(index), 0, 0, NULL, NULL, 0},
    {"headers", set_headers, 0, 0, 0, NULL, NULL, 0},
    {"gzip", set_bool, SNK(gzip), 0, 0, NULL, "true", 0},
    {"tls", set_sink_tls, 0, 0, 0, NULL, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, NULL, 0},
};

static const unsigned sink_key_types[] = {
    T_ALL,    T_ALL,
    T_ALL,    T_ALL,
    T_ALL,    T_ALL,
    T_ALL,    T_SYSLOG | T_HTTP,
    T_FILE,   T_FILE,
    T_FILE,   T_FILE,
    T_SYSLOG, T_SYSLOG,
    T_SYSLOG, T_SYSLOG,
    T_HTTP,   T_HTTP,
    T_HTTP,   T_HTTP,
    T_HTTP,   T_SYSLOG | T_HTTP,
};

_Static_assert(sizeof(sink_key_types) / sizeof(sink_key_types[0]) ==
                   sizeof(sink_table) / sizeof(sink_table[0]) - 1,
               "every sink key says which types take it");

static const char *
sink_type_name(enum gw_sink_type t)
{
    for (size_t i = 0; sink_type_names[i] != NULL; i++)
        if (sink_type_values[i] == t)
            return sink_type_names[i];
    return "?";
}

static int
parse_sink(struct ld *ld, const struct gw_cnode *item, struct gw_sink_cfg *c)
{
    size_t i, j;

    c->line = item->line;
    c->kinds = GW_AUDIT_K_ALL;
    c->tls.verify = 1;
    if (apply(ld, sink_table, "sinks", item, c) < 0)
        return -1;
    /* keys that do not belong to this type are mistakes, not silently ignored */
    for (i = 0; i < item->npairs; i++) {
        const char *k = item->pairs[i].key->scalar;
        for (j = 0; sink_table[j].name != NULL; j++)
            if (strcmp(sink_table[j].name, k) == 0 && !(sink_key_types[j] & (1u << c->type)))
                return fail(ld, item->pairs[i].key, "'%s' does not apply to a %s sink", k,
                            sink_type_name(c->type));
    }
    switch (c->type) {
    case GW_SINK_FILE:
        if (c->path == NULL)
            return fail(ld, item, "a file sink needs 'path'");
        if (c->batch_events == 0)
            c->batch_events = 1000;
        break;
    case GW_SINK_SYSLOG:
        if (c->host == NULL)
            return fail(ld, item, "a syslog sink needs 'address' (\"host:port\")");
        if (c->transport == GW_SYSLOG_TLS && !c->tls_set)
            c->tls.verify = 1;
        if (c->transport != GW_SYSLOG_TLS && c->tls_set)
            return fail(ld, gw_cnode_get(item, "tls"), "'tls' needs 'transport: tls'");
        if (c->batch_events == 0)
            c->batch_events = 1000;
        break;
    default:
        if (c->url == NULL)
            return fail(ld, item, "a %s sink needs 'url'", sink_type_name(c->type));
        if (c->tls_set && !c->https)
            return fail(ld, gw_cnode_get(item, "tls"), "'tls' needs an https:// url");
        if (c->batch_events == 0)
            c->batch_events = 500;
        if (gw_cnode_get(item, "flush_interval") == NULL)
            c->flush_ms = 200;
        if (c->type == GW_SINK_ELASTICSEARCH && c->index == NULL &&
            store_str(ld, &c->index, "portcullis-audit") < 0)
            return -1;
        break;
    }
    return 0;
}

static int
set_sinks(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    struct gw_audit_cfg *a = base;
    size_t i, j;

    if (v->type != GW_CNODE_SEQ)
        return fail(ld, v, "'%s' must be a sequence of mappings", d->name);
    a->sinks = calloc(v->nitems ? v->nitems : 1, sizeof(*a->sinks));
    if (a->sinks == NULL)
        return oom(ld);
    for (i = 0; i < v->nitems; i++) {
        if (v->items[i]->type != GW_CNODE_MAP)
            return fail(ld, v->items[i], "each '%s' entry must be a mapping", d->name);
        a->nsinks = i + 1;
        if (parse_sink(ld, v->items[i], &a->sinks[i]) < 0)
            return -1;
        for (j = 0; j < i; j++)
            if (strcmp(a->sinks[j].name, a->sinks[i].name) == 0)
                return fail(ld, gw_cnode_get(v->items[i], "name"),
                            "duplicate sink name '%s' (first at line %d)", a->sinks[i].name,
                            a->sinks[j].line);
    }
    return 0;
}

/* HMAC key for the hash chain, from a file (binary as it is, trailing newline trimmed). */
static int
set_hmac_key_file(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    struct gw_audit_cfg *a = base;
    const char *s = string_of(ld, d, v);
    char *path, *key = NULL;
    int rc;

    if (s == NULL)
        return -1;
    path = resolve_path(ld->basedir, s);
    if (path == NULL)
        return oom(ld);
    /* read, trimmed and checked like provider key files (and `audit-verify --key-file`) */
    rc = read_key_file(ld, path, d->name, v, &key);
    free(path);
    if (rc < 0)
        return -1;
    if (strlen(key) < 16 || strlen(key) > 1024) {
        free_key(key);
        return fail(ld, v, "'hmac_key_file' must hold a key of 16 to 1024 bytes");
    }
    free_key(a->hmac_key);
    a->hmac_key = key;
    a->hmac_key_len = strlen(key);
    return 0;
}

static int
set_hmac_key_env(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    struct gw_audit_cfg *a = base;
    if (set_env_secret(ld, d, v, base) < 0)
        return -1;
    a->hmac_key_len = strlen(a->hmac_key);
    if (a->hmac_key_len < 16)
        return fail(ld, v, "'hmac_key_env': the key must be at least 16 bytes");
    return 0;
}

static const struct directive audit_table[] = {
    {"spool_dir", set_out_path, AUD(spool_dir), 0, 0, NULL, "audit-spool", 0},
    {"queue_bytes", set_size, AUD(queue_bytes), 64 * KIB, 4096 * MIB, NULL, "64m", 0},
    {"spool_max_bytes", set_size, AUD(spool_max_bytes), 0, 1024 * 1024 * MIB, NULL, "0", 0},
    {"hmac_key_file", set_hmac_key_file, 0, 0, 0, NULL, NULL, 0},
    {"hmac_key_env", set_hmac_key_env, AUD(hmac_key), 0, 0, NULL, NULL, 0},
    {"capture", set_enum, AUD(capture), 0, 0, capture_names, "redacted", 0},
    {"capture_max", set_size, AUD(capture_max), 0, 16 * MIB, NULL, "8k", 0},
    {"retry_min", set_duration, AUD(retry_min_ms), 10, 60000, NULL, "250ms", 0},
    {"retry_max", set_duration, AUD(retry_max_ms), 10, 3600000, NULL, "30s", 0},
    {"sinks", set_sinks, 0, 0, 0, NULL, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, NULL, 0},
};

static int
set_route_capture(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    return set_enum(ld, d, v, base);
}

#define RAUD(f) offsetof(struct gw_route_cfg, f)

static const struct directive route_audit_table[] = {
    {"capture", set_route_capture, RAUD(capture), 0, 0, capture_names, NULL, 0},
    {"capture_max", set_size, RAUD(capture_max), 0, 16 * MIB, NULL, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, NULL, 0},
};

static int
set_route_audit(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    (void)d;
    if (v->type != GW_CNODE_MAP)
        return fail(ld, v, "'audit' must be a mapping (capture, capture_max)");
    return apply(ld, route_audit_table, "audit", v, base);
}

/* Routes without their own capture policy take the audit section's. */
static int
resolve_audit(struct ld *ld, struct gw_config *cfg, const struct gw_cnode *root)
{
    size_t i;

    if (cfg->audit.retry_max_ms < cfg->audit.retry_min_ms)
        return fail(ld, gw_cnode_get(gw_cnode_get(root, "audit"), "retry_max"),
                    "'retry_max' must not be below 'retry_min'");
    for (i = 0; i < cfg->nroutes; i++) {
        struct gw_route_cfg *r = &cfg->routes[i];
        if (r->capture < 0)
            r->capture = cfg->audit.capture;
        if (r->capture_max == SIZE_MAX)
            r->capture_max = cfg->audit.capture_max;
    }
    return 0;
}

static void
free_audit(struct gw_audit_cfg *a)
{
    size_t i, j;

    free(a->spool_dir);
    free_key(a->hmac_key);
    for (i = 0; i < a->nsinks; i++) {
        struct gw_sink_cfg *c = &a->sinks[i];
        free(c->name);
        free(c->path);
        free(c->host);
        free(c->app_name);
        free(c->url);
        free(c->path_query);
        free(c->host_header);
        free_key(c->token);
        free(c->index);
        for (j = 0; j < c->nheaders; j++) {
            free(c->headers[j].name);
            free(c->headers[j].value);
        }
        free(c->headers);
        free(c->tls.ca);
        free(c->tls.cert);
        free(c->tls.key);
        free(c->tls.server_name);
    }
    free(a->sinks);
}

/* ---------------------------------------------------------------------------------------------
 * tables
 */

static const char *const api_names[] = {"openai", "anthropic", NULL};
static const char *const auth_names[] = {"bearer", "x-api-key", "api-key", "none", NULL};
static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};

#define CFG(f) offsetof(struct gw_config, f)
#define PROV(f) offsetof(struct gw_provider_cfg, f)
#define ROUTE(f) offsetof(struct gw_route_cfg, f)

static const struct directive limits_table[] = {
    {"max_header_bytes", set_size, CFG(limits.max_header_bytes), KIB, MIB, NULL, "32k", 0},
    {"max_headers", set_count, CFG(limits.max_headers), 1, 1000, NULL, "100", 0},
    {"max_body_bytes", set_size, CFG(limits.max_body_bytes), 1, GIB, NULL, "8m", 0},
    {"max_response_bytes", set_size, CFG(limits.max_response_bytes), KIB, GIB, NULL, "32m", 0},
    {"client_buffer_high", set_size, CFG(limits.client_buffer_high), 4 * KIB, 64 * MIB, NULL,
     "256k", 0},
    {"stream_hold_bytes", set_size, CFG(limits.stream_hold_bytes), 0, 16 * MIB, NULL, "128k", 0},
    {NULL, NULL, 0, 0, 0, NULL, NULL, 0},
};

#define MS_1 1ull
#define H_24 (24 * HOUR)

static const struct directive timeouts_table[] = {
    {"client_header", set_duration, CFG(timeouts.client_header), MS_1, H_24, NULL, "10s", 0},
    {"client_body", set_duration, CFG(timeouts.client_body), MS_1, H_24, NULL, "30s", 0},
    {"keepalive", set_duration, CFG(timeouts.keepalive), MS_1, H_24, NULL, "75s", 0},
    {"request", set_duration, CFG(timeouts.request), MS_1, H_24, NULL, "10m", 0},
    {"upstream_connect", set_duration, CFG(timeouts.upstream_connect), MS_1, H_24, NULL, "5s", 0},
    {"upstream_first_byte", set_duration, CFG(timeouts.upstream_first_byte), MS_1, H_24, NULL,
     "120s", 0},
    {"upstream_idle", set_duration, CFG(timeouts.upstream_idle), MS_1, H_24, NULL, "60s", 0},
    {"upstream_pool_idle", set_duration, CFG(timeouts.upstream_pool_idle), MS_1, H_24, NULL, "60s",
     0},
    {"drain", set_duration, CFG(timeouts.drain), MS_1, H_24, NULL, "30s", 0},
    {"stream_hold", set_duration, CFG(timeouts.stream_hold), MS_1, H_24, NULL, "1s", 0},
    {NULL, NULL, 0, 0, 0, NULL, NULL, 0},
};

static const struct directive provider_table[] = {
    {"name", set_name, PROV(name), 0, 0, NULL, NULL, D_REQUIRED},
    {"api", set_enum, PROV(api), 0, 0, api_names, "openai", 0},
    {"base_url", set_base_url, 0, 0, 0, NULL, NULL, D_REQUIRED},
    {"auth", set_enum, PROV(auth), 0, 0, auth_names, NULL, 0}, /* default depends on api */
    {"key_env", set_str, PROV(key_env), 0, 0, NULL, NULL, 0},
    {"key_file", set_file, PROV(key_file), 0, 0, NULL, NULL, 0},
    {"fallback", set_name, PROV(fallback), 0, 0, NULL, NULL, 0},
    {"ca_file", set_file, PROV(ca_file), 0, 0, NULL, NULL, 0},
    {"azure_api_version", set_str, PROV(azure_api_version), 0, 0, NULL, NULL, 0},
    {"deployments", set_deployments, 0, 0, 0, NULL, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, NULL, 0},
};

static const struct directive route_table[] = {
    {"prefix", set_prefix, ROUTE(prefix), 0, 0, NULL, NULL, D_REQUIRED},
    {"provider", set_name, ROUTE(provider_name), 0, 0, NULL, NULL, D_REQUIRED},
    {"strip_prefix", set_bool, ROUTE(strip_prefix), 0, 0, NULL, "false", 0},
    {"models", set_globs, ROUTE(models), 0, 0, NULL, NULL, 0},
    {"filters", set_route_filters, 0, 0, 0, NULL, NULL, 0},
    {"allowed_models", set_globs, ROUTE(allowed_models), 0, 0, NULL, NULL, 0},
    {"audit", set_route_audit, 0, 0, 0, NULL, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, NULL, 0},
};

/* ---- budgets: the store and the policy shared by every team and key ---- */

#define BUD(f) offsetof(struct gw_budgets_cfg, f)

static const char *const budget_store_names[] = {"memory", "redis", NULL};
static const char *const fsync_names[] = {"never", "always", "interval", NULL};
static const char *const store_error_names[] = {"closed", "open", NULL};

/* journal: a path, or "off". */
static int
set_journal(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    const char *s = plain_of(v);
    if (s != NULL && strcmp(s, "off") == 0) {
        free(*FIELD(base, d, char *));
        *FIELD(base, d, char *) = NULL;
        return 0;
    }
    return set_out_path(ld, d, v, base);
}

static int
set_redis_address(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    struct gw_budgets_cfg *b = base;
    const char *s = text_of(v), *host, *port, *why;
    size_t hlen;
    int v6;
    uint16_t p = 0;

    if (s == NULL || s[0] == '\0')
        return fail(ld, v, "'%s' must be host:port (e.g. 127.0.0.1:6379)", d->name);
    why = split_hostport(s, &host, &hlen, &v6, &port);
    if (why == NULL && hlen == 0)
        why = "a host is required";
    if (why == NULL && parse_port(port, strlen(port), 1, &p) < 0)
        why = "port must be between 1 and 65535";
    if (why != NULL)
        return fail(ld, v, "'%s' must be host:port (e.g. 127.0.0.1:6379): %s", d->name, why);
    free(b->redis_host);
    b->redis_host = strndup(host, hlen);
    b->redis_port = p;
    return b->redis_host ? 0 : oom(ld);
}

static int
set_redis_password(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    return set_env_secret(ld, d, v, base);
}

static const struct directive redis_table[] = {
    {"address", set_redis_address, 0, 0, 0, NULL, "127.0.0.1:6379", 0},
    {"password_env", set_redis_password, BUD(redis_password), 0, 0, NULL, NULL, 0},
    {"db", set_count, BUD(redis_db), 0, 1000, NULL, "0", 0},
    {"prefix", set_str, BUD(redis_prefix), 0, 0, NULL, "portcullis:", 0},
    {"timeout", set_duration, BUD(redis_timeout_ms), 1, 60000, NULL, "250ms", 0},
    {NULL, NULL, 0, 0, 0, NULL, NULL, 0},
};

static int
set_redis(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    if (v->type != GW_CNODE_MAP)
        return fail(ld, v, "'%s' must be a mapping (address, password_env, db, prefix, timeout)",
                    d->name);
    return apply(ld, redis_table, d->name, v, base);
}

/* thresholds: percentages, ascending, each in (0, 1000]. */
static int
set_thresholds(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    struct gw_budgets_cfg *b = base;
    size_t max = sizeof(b->thresholds) / sizeof(b->thresholds[0]);

    if (v->type != GW_CNODE_SEQ || v->nitems > max)
        return fail(ld, v,
                    "'%s' must be a sequence of at most %zu percentages (e.g. [50, 80, 100])",
                    d->name, max);
    b->nthresholds = 0;
    for (size_t i = 0; i < v->nitems; i++) {
        const char *s = plain_of(v->items[i]);
        char *end = NULL;
        double x = s ? strtod(s, &end) : 0;
        if (s == NULL || end == s || *end != '\0' || !(x > 0 && x <= 1000))
            return fail(ld, v->items[i], "each '%s' entry must be a percentage above 0 (e.g. 80)",
                        d->name);
        if (i > 0 && x <= b->thresholds[i - 1])
            return fail(ld, v->items[i], "'%s' must be in ascending order", d->name);
        b->thresholds[b->nthresholds++] = x;
    }
    return 0;
}

/* A positive decimal number (factor, lower_to, min_cost). */
static int
set_ratio(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    const char *s = plain_of(v);
    char *end = NULL;
    double x = s ? strtod(s, &end) : 0;
    if (s == NULL || end == s || *end != '\0' || !(x >= (double)d->min / 1000) ||
        !(x <= (double)d->max / 1000))
        return fail(ld, v, "'%s' must be a number from %g to %g", d->name, (double)d->min / 1000,
                    (double)d->max / 1000);
    *FIELD(base, d, double) = x;
    return 0;
}

static const struct directive anomaly_table[] = {
    {"factor", set_ratio, BUD(anomaly_factor), 1001, 1000000, NULL, "5", 0},
    {"window", set_duration, BUD(anomaly_window_ms), 10000, 86400000, NULL, "5m", 0},
    {"baseline", set_duration, BUD(anomaly_baseline_ms), 60000, 31u * 86400000u, NULL, "1h", 0},
    {"min_cost", set_ratio, BUD(anomaly_min_cost), 0, 1000000000, NULL, "1", 0},
    {"lower_to", set_ratio, BUD(anomaly_lower_to), 0, 1000, NULL, "1", 0},
    {"cooldown", set_duration, BUD(anomaly_cooldown_ms), 1000, 86400000, NULL, "15m", 0},
    {NULL, NULL, 0, 0, 0, NULL, NULL, 0},
};

static int
set_anomaly(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    struct gw_budgets_cfg *b = base;
    const char *s = plain_of(v);

    if (s != NULL && strcmp(s, "off") == 0)
        return 0;
    if (v->type != GW_CNODE_MAP)
        return fail(ld, v,
                    "'%s' must be a mapping (factor, window, baseline, min_cost, lower_to, "
                    "cooldown) or off",
                    d->name);
    if (apply(ld, anomaly_table, d->name, v, base) < 0)
        return -1;
    if (b->anomaly_baseline_ms < 2 * b->anomaly_window_ms)
        return fail(ld, v, "'%s.baseline' must be at least twice '%s.window'", d->name, d->name);
    b->anomaly = 1;
    return 0;
}

static const struct directive budgets_table[] = {
    {"store", set_enum, BUD(store), 0, 0, budget_store_names, "memory", 0},
    {"journal", set_journal, BUD(journal), 0, 0, NULL, "budgets.journal", 0},
    {"fsync", set_enum, BUD(fsync), 0, 0, fsync_names, "interval", 0},
    {"fsync_interval", set_duration, BUD(fsync_ms), 10, 60000, NULL, "1s", 0},
    {"redis", set_redis, 0, 0, 0, NULL, NULL, D_SECTION},
    {"on_store_error", set_enum, BUD(fail_open), 0, 0, store_error_names, "closed", 0},
    {"default_output_tokens", set_count, BUD(default_output_tokens), 1, 10000000, NULL, "1024", 0},
    {"thresholds", set_thresholds, 0, 0, 0, NULL, NULL, 0},
    {"anomaly", set_anomaly, 0, 0, 0, NULL, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, NULL, 0},
};

static int set_providers(struct ld *ld, const struct directive *d, const struct gw_cnode *v,
                         void *base);
static int set_routes(struct ld *ld, const struct directive *d, const struct gw_cnode *v,
                      void *base);

static const struct directive top_table[] = {
    {"workers", set_workers, CFG(workers), 1, 256, NULL, "auto", 0},
    {"listen", set_listen, 0, 0, 0, NULL, "127.0.0.1:8080", D_DEF_SEQ},
    {"limits", set_section, 0, 0, 0, limits_table, NULL, D_SECTION},
    {"timeouts", set_section, 0, 0, 0, timeouts_table, NULL, D_SECTION},
    {"upstream_pool_max_idle", set_count, CFG(upstream_pool_max_idle), 0, 10000, NULL, "64", 0},
    {"access_log", set_str, CFG(access_log), 0, 0, NULL, "stderr", 0},
    {"log_level", set_choice_str, CFG(log_level), 0, 0, log_levels, "info", 0},
    {"providers", set_providers, 0, 0, 0, NULL, NULL, D_REQUIRED},
    {"routes", set_routes, 0, 0, 0, NULL, NULL, D_REQUIRED},
    {"admin", set_section, CFG(admin), 0, 0, admin_table, NULL, D_SECTION},
    {"auth", set_section, CFG(auth), 0, 0, auth_table, NULL, D_SECTION},
    {"teams", set_teams, 0, 0, 0, NULL, NULL, 0},
    {"keys", set_keys, 0, 0, 0, NULL, NULL, 0},
    {"prices", set_prices, 0, 0, 0, NULL, NULL, 0},
    {"filters", set_filters, 0, 0, 0, NULL, NULL, 0},
    {"audit", set_section, CFG(audit), 0, 0, audit_table, NULL, D_SECTION},
    {"budgets", set_section, CFG(budgets), 0, 0, budgets_table, NULL, D_SECTION},
    {NULL, NULL, 0, 0, 0, NULL, NULL, 0},
};

/* Applies the default of d: its text as a plain scalar (in a sequence for D_DEF_SEQ), or an
 * empty mapping for a section. */
static int
apply_default(struct ld *ld, const struct directive *d, const struct gw_cnode *at, void *base)
{
    struct gw_cnode scalar, seq, map, *item = &scalar;

    memset(&scalar, 0, sizeof(scalar));
    memset(&seq, 0, sizeof(seq));
    memset(&map, 0, sizeof(map));
    if (d->flags & D_SECTION) {
        map.type = GW_CNODE_MAP;
        map.line = at->line;
        map.col = at->col;
        return d->set(ld, d, &map, base);
    }
    if (d->def == NULL)
        return 0;
    scalar.type = GW_CNODE_SCALAR;
    scalar.scalar = (char *)d->def;
    scalar.len = strlen(d->def);
    if (d->flags & D_DEF_SEQ) {
        seq.type = GW_CNODE_SEQ;
        seq.items = &item;
        seq.nitems = 1;
        return d->set(ld, d, &seq, base);
    }
    return d->set(ld, d, &scalar, base);
}

/* Checks map against tab and fills base. what names the mapping in messages (NULL: top level). */
static int
apply(struct ld *ld, const struct directive *tab, const char *what, const struct gw_cnode *map,
      void *base)
{
    unsigned long long seen = 0;
    const struct gw_cnode *key;
    size_t i, j;

    for (i = 0; i < map->npairs; i++) {
        key = map->pairs[i].key;
        for (j = 0; tab[j].name != NULL; j++)
            if (strcmp(tab[j].name, key->scalar) == 0)
                break;
        if (tab[j].name == NULL) {
            if (what != NULL)
                return fail(ld, key, "unknown key '%s' in '%s'", key->scalar, what);
            return fail(ld, key, "unknown key '%s'", key->scalar);
        }
        seen |= 1ull << j; /* the parser rejects duplicate keys */
        if (tab[j].set(ld, &tab[j], map->pairs[i].value, base) < 0)
            return -1;
    }
    for (j = 0; tab[j].name != NULL; j++) {
        if (seen & (1ull << j))
            continue;
        if (tab[j].flags & D_REQUIRED) {
            if (what != NULL)
                return fail(ld, map, "missing required key '%s' in '%s'", tab[j].name, what);
            return fail(ld, map, "missing required key '%s'", tab[j].name);
        }
        if (apply_default(ld, &tab[j], map, base) < 0)
            return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * providers and routes
 */

/* Trims trailing whitespace; -1 when a control character is left inside. */
static int
clean_key(char *k)
{
    size_t n = strlen(k);
    const unsigned char *p;

    while (n > 0 && (k[n - 1] == ' ' || (k[n - 1] >= '\t' && k[n - 1] <= '\r')))
        k[--n] = '\0';
    for (p = (const unsigned char *)k; *p != '\0'; p++)
        if (*p < 0x20 || *p == 0x7f)
            return -1;
    return 0;
}

static int
read_key_file(struct ld *ld, const char *path, const char *what, const struct gw_cnode *at,
              char **out)
{
    char *buf;
    ssize_t n;
    size_t len = 0;
    int fd;

    *out = NULL;
    fd = open_file(path);
    if (fd < 0)
        return fail(ld, at, "cannot read %s '%s': %s", what, path, strerror(errno));
    buf = malloc(CFG_MAX_KEY_BYTES + 1);
    if (buf == NULL) {
        close(fd);
        return oom(ld);
    }
    for (;;) {
        n = read(fd, buf + len, CFG_MAX_KEY_BYTES + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || (len += (size_t)n) > CFG_MAX_KEY_BYTES)
            break;
    }
    close(fd);
    if (n < 0) {
        free(buf);
        return fail(ld, at, "cannot read %s '%s': %s", what, path, strerror(errno));
    }
    if (len > CFG_MAX_KEY_BYTES) {
        free(buf);
        return fail(ld, at, "%s '%s' is larger than %d bytes", what, path, CFG_MAX_KEY_BYTES);
    }
    buf[len] = '\0';
    if (strlen(buf) != len || clean_key(buf) < 0) {
        explicit_bzero(buf, len);
        free(buf);
        return fail(ld, at, "%s '%s' contains control characters", what, path);
    }
    *out = buf;
    return 0;
}

static void
free_key(char *k)
{
    if (k != NULL) {
        explicit_bzero(k, strlen(k));
        free(k);
    }
}

/* key_env wins when set and non-empty; key_file must be readable whenever it is given. */
static int
resolve_key(struct ld *ld, struct gw_provider_cfg *p, const struct pmeta *m)
{
    const char *env = p->key_env != NULL ? getenv(p->key_env) : NULL;
    char *from_env = NULL, *from_file = NULL;

    if (p->key_file != NULL &&
        read_key_file(ld, p->key_file, "key_file", m->key_file, &from_file) < 0)
        return -1;
    if (env != NULL && env[0] != '\0') {
        from_env = strdup(env);
        if (from_env == NULL) {
            free_key(from_file);
            return oom(ld);
        }
        if (clean_key(from_env) < 0) {
            free_key(from_env);
            free_key(from_file);
            return fail(ld, m->key_env, "environment variable '%s' contains control characters",
                        p->key_env);
        }
    }
    if (from_env != NULL && from_env[0] != '\0') {
        p->key = from_env;
        p->key_from_env = 1;
        free_key(from_file);
    } else if (from_file != NULL && from_file[0] != '\0') {
        p->key = from_file;
        free_key(from_env);
    } else {
        free_key(from_env);
        free_key(from_file);
    }
    return 0;
}

static struct gw_provider_cfg *
find_provider(struct gw_config *cfg, const char *name)
{
    size_t i;

    for (i = 0; i < cfg->nproviders; i++)
        if (cfg->providers[i].name != NULL && strcmp(cfg->providers[i].name, name) == 0)
            return &cfg->providers[i];
    return NULL;
}

static int
set_providers(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    struct gw_config *cfg = base;
    struct gw_provider_cfg *p;
    const struct gw_cnode *item;
    struct pmeta *m;
    size_t i, j;

    if (v->type != GW_CNODE_SEQ)
        return fail(ld, v, "'%s' must be a sequence of mappings", d->name);
    if (v->nitems == 0)
        return fail(ld, v, "'%s' must have at least one entry", d->name);
    cfg->providers = calloc(v->nitems, sizeof(*cfg->providers));
    ld->pm = calloc(v->nitems, sizeof(*ld->pm));
    if (cfg->providers == NULL || ld->pm == NULL)
        return oom(ld);
    cfg->nproviders = v->nitems;
    for (i = 0; i < v->nitems; i++) {
        item = v->items[i];
        p = &cfg->providers[i];
        m = &ld->pm[i];
        if (item->type != GW_CNODE_MAP)
            return fail(ld, item, "each '%s' entry must be a mapping", d->name);
        p->line = item->line;
        if (apply(ld, provider_table, d->name, item, p) < 0)
            return -1;
        m->name = gw_cnode_get(item, "name");
        m->fallback = gw_cnode_get(item, "fallback");
        m->key_env = gw_cnode_get(item, "key_env");
        m->key_file = gw_cnode_get(item, "key_file");
        for (j = 0; j < i; j++)
            if (strcmp(cfg->providers[j].name, p->name) == 0)
                return fail(ld, m->name, "duplicate provider name '%s' (first at line %d)", p->name,
                            cfg->providers[j].line);
        if (gw_cnode_get(item, "auth") == NULL)
            p->auth = p->api == GW_API_ANTHROPIC ? GW_AUTH_X_API_KEY : GW_AUTH_BEARER;
        if (resolve_key(ld, p, m) < 0)
            return -1;
    }
    for (i = 0; i < cfg->nproviders; i++) {
        p = &cfg->providers[i];
        if (p->fallback == NULL)
            continue;
        if (strcmp(p->fallback, p->name) == 0)
            return fail(ld, ld->pm[i].fallback, "provider '%s' cannot fall back to itself",
                        p->name);
        if (find_provider(cfg, p->fallback) == NULL)
            return fail(ld, ld->pm[i].fallback, "fallback '%s' is not a defined provider",
                        p->fallback);
    }
    return 0;
}

static int
set_routes(struct ld *ld, const struct directive *d, const struct gw_cnode *v, void *base)
{
    struct gw_config *cfg = base;
    struct gw_route_cfg *r;
    const struct gw_cnode *item;
    size_t i, j;

    if (v->type != GW_CNODE_SEQ)
        return fail(ld, v, "'%s' must be a sequence of mappings", d->name);
    if (v->nitems == 0)
        return fail(ld, v, "'%s' must have at least one entry", d->name);
    cfg->routes = calloc(v->nitems, sizeof(*cfg->routes));
    ld->rm = calloc(v->nitems, sizeof(*ld->rm));
    if (cfg->routes == NULL || ld->rm == NULL)
        return oom(ld);
    cfg->nroutes = v->nitems;
    for (i = 0; i < v->nitems; i++) {
        item = v->items[i];
        r = &cfg->routes[i];
        if (item->type != GW_CNODE_MAP)
            return fail(ld, item, "each '%s' entry must be a mapping", d->name);
        r->line = item->line;
        r->capture = -1; /* unset: the audit section's default (resolve_audit) */
        r->capture_max = SIZE_MAX;
        if (apply(ld, route_table, d->name, item, r) < 0)
            return -1;
        r->prefix_len = strlen(r->prefix);
        ld->rm[i].prefix = gw_cnode_get(item, "prefix");
        ld->rm[i].provider = gw_cnode_get(item, "provider");
        /* Routes may share a prefix when the earlier ones select by model; a route after one
         * without a model filter could never be chosen. */
        for (j = 0; j < i; j++)
            if (strcmp(cfg->routes[j].prefix, r->prefix) == 0 && cfg->routes[j].models.n == 0)
                return fail(ld, ld->rm[i].prefix,
                            "duplicate route prefix '%s' (first at line %d, which matches every "
                            "model)",
                            r->prefix, cfg->routes[j].line);
        if (r->models.n)
            cfg->routes_by_model = 1;
    }
    return 0;
}

/* A provider that needs a key and has none is replaced by its fallback (one step, no chains). */
static int
resolve_routes(struct ld *ld, struct gw_config *cfg)
{
    struct gw_provider_cfg *p;
    struct gw_route_cfg *r, tmp;
    size_t i, j;

    for (i = 0; i < cfg->nroutes; i++) {
        r = &cfg->routes[i];
        p = find_provider(cfg, r->provider_name);
        if (p == NULL)
            return fail(ld, ld->rm[i].provider, "unknown provider '%s'", r->provider_name);
        if (p->key == NULL && p->auth != GW_AUTH_NONE && p->fallback != NULL) {
            p = find_provider(cfg, p->fallback);
            r->via_fallback = 1;
        }
        r->provider = p;
    }
    /* insertion sort: stable, so equal lengths keep file order; a handful of routes */
    for (i = 1; i < cfg->nroutes; i++) {
        tmp = cfg->routes[i];
        for (j = i; j > 0 && cfg->routes[j - 1].prefix_len < tmp.prefix_len; j--)
            cfg->routes[j] = cfg->routes[j - 1];
        cfg->routes[j] = tmp;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * snapshot lifetime
 */

static void
config_free(struct gw_config *cfg)
{
    struct gw_provider_cfg *p;
    size_t i;

    free(cfg->path);
    for (i = 0; cfg->listen != NULL && i < cfg->nlisten; i++) {
        struct gw_listen_cfg *l = &cfg->listen[i];
        free(l->addr);
        free(l->host);
        if (l->tls != NULL) {
            free(l->tls->cert);
            free(l->tls->key);
            free(l->tls->client_ca);
            free(l->tls->ciphers);
            free(l->tls);
        }
        gw_tls_ctx_free(l->ssl_ctx);
    }
    free(cfg->listen);
    free(cfg->admin.listen.addr);
    free(cfg->admin.listen.host);
    free(cfg->admin.token_env);
    free_key(cfg->admin.token);
    free(cfg->auth.session_header);
    for (i = 0; i < cfg->nteams; i++) {
        free(cfg->teams[i].name);
        free_globs(&cfg->teams[i].allowed_models);
        free(cfg->teams[i].budget.v);
    }
    free(cfg->teams);
    for (i = 0; i < cfg->nkeys; i++) {
        free(cfg->keys[i].id);
        free(cfg->keys[i].team_name);
        free(cfg->keys[i].user);
        free(cfg->keys[i].budget.v);
    }
    free(cfg->keys);
    free(cfg->access_log);
    free(cfg->log_level);
    free_audit(&cfg->audit);
    for (i = 0; i < cfg->nprices; i++)
        free_globs(&cfg->prices[i].models);
    free(cfg->prices);
    for (i = 0; i < cfg->nproviders; i++) {
        p = &cfg->providers[i];
        free(p->name);
        free(p->base_url);
        free(p->host);
        free(p->base_path);
        free(p->host_header);
        free(p->key_env);
        free(p->key_file);
        free_key(p->key);
        free(p->fallback);
        free(p->ca_file);
        free(p->azure_api_version);
        for (size_t j = 0; p->deploy_names != NULL && j < p->deploy_models.n; j++)
            free(p->deploy_names[j]);
        free(p->deploy_names);
        free_globs(&p->deploy_models);
    }
    free(cfg->providers);
    for (i = 0; i < cfg->nroutes; i++) {
        free(cfg->routes[i].prefix);
        free(cfg->routes[i].provider_name);
        free_globs(&cfg->routes[i].models);
        free_globs(&cfg->routes[i].allowed_models);
        free(cfg->routes[i].chain.v);
        for (size_t j = 0; j < cfg->routes[i].nfilter_names; j++)
            free(cfg->routes[i].filter_names[j]);
        free(cfg->routes[i].filter_names);
    }
    for (i = 0; i < cfg->nfilters; i++) {
        struct gw_filter_inst *f = &cfg->filters[i];
        if (f->ops && f->ops->conf_free && f->conf)
            f->ops->conf_free(f->conf);
        free(f->name);
    }
    free(cfg->filters);
    if (cfg->budget_filter.ops && cfg->budget_filter.conf)
        cfg->budget_filter.ops->conf_free(cfg->budget_filter.conf);
    free(cfg->budget_filter.name);
    free(cfg->budgets.journal);
    free(cfg->budgets.redis_host);
    free_key(cfg->budgets.redis_password);
    free(cfg->budgets.redis_prefix);
    free(cfg->routes);
    free(cfg);
}

struct gw_config *
gw_config_ref(struct gw_config *cfg)
{
    if (cfg != NULL)
        __atomic_add_fetch(&cfg->refcnt, 1, __ATOMIC_RELAXED);
    return cfg;
}

void
gw_config_unref(struct gw_config *cfg)
{
    if (cfg != NULL && __atomic_sub_fetch(&cfg->refcnt, 1, __ATOMIC_ACQ_REL) == 0)
        config_free(cfg);
}

/* The admin token comes from the environment at load time, like provider keys. */
static int
resolve_admin(struct ld *ld, struct gw_config *cfg, const struct gw_cnode *root)
{
    const char *env;

    if (cfg->admin.token_env == NULL)
        return 0;
    env = getenv(cfg->admin.token_env);
    if (env == NULL || env[0] == '\0')
        return 0; /* no token: reload only from loopback, as without token_env */
    cfg->admin.token = strdup(env);
    if (cfg->admin.token == NULL)
        return oom(ld);
    if (clean_key(cfg->admin.token) < 0)
        return fail(ld, gw_cnode_get(gw_cnode_get(root, "admin"), "token_env"),
                    "environment variable '%s' contains control characters", cfg->admin.token_env);
    return 0;
}

static int
load(const char *name, const char *basedir, const char *text, size_t len, struct gw_config **out,
     char *err, size_t errlen)
{
    struct ld ld;
    struct gw_cnode *root = NULL;
    struct gw_config *cfg;
    int rc = -1;

    *out = NULL;
    memset(&ld, 0, sizeof(ld));
    ld.name = name;
    ld.basedir = basedir;
    ld.err = err;
    ld.errlen = errlen;
    if (errlen > 0)
        err[0] = '\0';
    if (gw_cnode_parse(name, text, len, &root, err, errlen) < 0)
        return -1;
    cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL) {
        gw_cnode_free(root);
        return oom(&ld);
    }
    ld.cfg = cfg;
    cfg->refcnt = 1;
    cfg->path = strdup(name);
    if (cfg->path == NULL)
        oom(&ld);
    else if (root == NULL)
        fail(&ld, NULL, "the configuration is empty");
    else if (root->type != GW_CNODE_MAP)
        fail(&ld, root, "the configuration must be a mapping, not a %s",
             gw_cnode_type_name(root->type));
    else if (apply(&ld, top_table, NULL, root, cfg) == 0 && resolve_routes(&ld, cfg) == 0 &&
             resolve_identity(&ld, cfg) == 0 && resolve_admin(&ld, cfg, root) == 0 &&
             resolve_chains(&ld, cfg, root) == 0 && resolve_audit(&ld, cfg, root) == 0)
        rc = 0;
    if (rc == 0) {
        unsigned char md[SHA256_DIGEST_LENGTH];
        SHA256((const unsigned char *)text, len, md);
        gw_hex_encode(md, SHA256_DIGEST_LENGTH, cfg->sha256);
        memcpy(cfg->hash, cfg->sha256, 16);
        cfg->hash[16] = '\0';
    }
    gw_cnode_free(root);
    free(ld.pm);
    free(ld.rm);
    free(ld.km);
    if (rc < 0) {
        config_free(cfg);
        return -1;
    }
    *out = cfg;
    return 0;
}

int
gw_config_load_string(const char *name, const char *text, size_t len, struct gw_config **out,
                      char *err, size_t errlen)
{
    return load(name, NULL, text, len, out, err, errlen);
}

int
gw_config_load(const char *path, struct gw_config **out, char *err, size_t errlen)
{
    struct stat st;
    char *text = NULL, *dir = NULL;
    const char *slash;
    size_t len = 0;
    ssize_t n;
    int fd, rc;

    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        goto fail;
    }
    if (st.st_size > (off_t)CFG_MAX_FILE_BYTES) {
        snprintf(err, errlen, "%s: larger than %u bytes", path, CFG_MAX_FILE_BYTES);
        goto fail;
    }
    text = malloc((size_t)st.st_size + 1);
    if (text == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    while (len < (size_t)st.st_size) {
        n = read(fd, text + len, (size_t)st.st_size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    fd = -1;
    text[len] = '\0';

    slash = strrchr(path, '/');
    if (slash != NULL) {
        dir = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
        if (dir == NULL) {
            snprintf(err, errlen, "%s: out of memory", path);
            goto fail;
        }
    }
    rc = load(path, dir, text, len, out, err, errlen);
    free(dir);
    free(text);
    return rc;
fail:
    if (fd >= 0)
        close(fd);
    free(text);
    return -1;
}

/* ---------------------------------------------------------------------------------------------
 * lookups
 */

const struct gw_route_cfg *
gw_config_route(const struct gw_config *cfg, const char *path, size_t len, const char *model)
{
    const struct gw_route_cfg *r;
    size_t i;

    for (i = 0; i < cfg->nroutes; i++) {
        r = &cfg->routes[i];
        if (r->prefix_len > len || memcmp(r->prefix, path, r->prefix_len) != 0)
            continue; /* sorted longest first, file order among equal prefixes */
        if (r->models.n == 0 || (model != NULL && gw_globs_match(&r->models, model)))
            return r;
    }
    return NULL;
}

static int
key_find(const void *digest, const void *k)
{
    return memcmp(digest, ((const struct gw_key_cfg *)k)->sha256, 32);
}

const struct gw_key_cfg *
gw_config_key(const struct gw_config *cfg, const unsigned char digest[32])
{
    if (cfg->nkeys == 0)
        return NULL;
    return bsearch(digest, cfg->keys, cfg->nkeys, sizeof(*cfg->keys), key_find);
}

const char *
gw_provider_deployment(const struct gw_provider_cfg *p, const char *model)
{
    size_t i;

    for (i = 0; i < p->deploy_models.n; i++)
        if (strcmp(p->deploy_models.items[i], model) == 0)
            return p->deploy_names[i];
    return model;
}

const struct gw_provider_cfg *
gw_config_provider(const struct gw_config *cfg, const char *name)
{
    return find_provider((struct gw_config *)cfg, name);
}

/* ---------------------------------------------------------------------------------------------
 * summary (never prints a key)
 */

static void
summary_key(const struct gw_provider_cfg *p, FILE *out)
{
    const char *state;

    if (p->auth == GW_AUTH_NONE)
        return;
    if (p->key != NULL) {
        if (p->key_from_env)
            fprintf(out, ", key from $%s", p->key_env);
        else
            fprintf(out, ", key from file %s", p->key_file);
        return;
    }
    if (p->key_env != NULL && p->key_file != NULL) {
        fprintf(out, ", key from $%s or file %s", p->key_env, p->key_file);
        state = "not set, file empty";
    } else if (p->key_env != NULL) {
        fprintf(out, ", key from $%s", p->key_env);
        state = "not set";
    } else if (p->key_file != NULL) {
        fprintf(out, ", key from file %s", p->key_file);
        state = "empty";
    } else {
        fprintf(out, ", no key configured");
        state = NULL;
    }
    if (state != NULL && p->fallback != NULL)
        fprintf(out, " (%s; falls back to %s)", state, p->fallback);
    else if (state != NULL)
        fprintf(out, " (%s; requests go without a key)", state);
    else if (p->fallback != NULL)
        fprintf(out, " (falls back to %s)", p->fallback);
}

void
gw_config_summary(const struct gw_config *cfg, FILE *out)
{
    const struct gw_provider_cfg *p;
    const struct gw_route_cfg *r;
    const struct gw_timeouts_cfg *t = &cfg->timeouts;
    char a[32], b[32], c[32], e[32], f[32], g[32], h[32], k[32];
    size_t i;

    fprintf(out, "config: %s\n", cfg->path);
    fprintf(out, "workers: %d\n", cfg->workers);
    fprintf(out, "listen:");
    for (i = 0; i < cfg->nlisten; i++) {
        const struct gw_tls_cfg *tls = cfg->listen[i].tls;
        fprintf(out, "%s %s", i ? "," : "", cfg->listen[i].addr);
        if (tls != NULL)
            fprintf(out, " (TLS, cert %s%s)", tls->cert,
                    tls->client_auth == GW_CLIENT_AUTH_REQUIRE    ? ", client certificate required"
                    : tls->client_auth == GW_CLIENT_AUTH_OPTIONAL ? ", client certificate optional"
                                                                  : "");
    }
    fprintf(out, "\n");
    if (cfg->admin.enabled)
        fprintf(out, "admin: %s (reload %s)\n", cfg->admin.listen.addr,
                cfg->admin.token ? "from loopback or with the admin token" : "from loopback only");
    else
        fprintf(out, "admin: off\n");
    fprintf(out, "auth: %s; %zu key%s, %zu team%s; session id from header %s\n",
            cfg->auth.required ? "virtual key required"
                               : "virtual keys optional (no key: anonymous)",
            cfg->nkeys, cfg->nkeys == 1 ? "" : "s", cfg->nteams, cfg->nteams == 1 ? "" : "s",
            cfg->auth.session_header);
    fprintf(out,
            "limits: max_header_bytes %s, max_headers %zu, max_body_bytes %s, "
            "max_response_bytes %s, client_buffer_high %s\n",
            fmt_size(cfg->limits.max_header_bytes, a, sizeof(a)), cfg->limits.max_headers,
            fmt_size(cfg->limits.max_body_bytes, b, sizeof(b)),
            fmt_size(cfg->limits.max_response_bytes, c, sizeof(c)),
            fmt_size(cfg->limits.client_buffer_high, e, sizeof(e)));
    fprintf(out, "timeouts: client_header %s, client_body %s, keepalive %s, request %s\n",
            fmt_duration(t->client_header, a, sizeof(a)),
            fmt_duration(t->client_body, b, sizeof(b)), fmt_duration(t->keepalive, c, sizeof(c)),
            fmt_duration(t->request, e, sizeof(e)));
    fprintf(out,
            "upstream timeouts: connect %s, first_byte %s, idle %s, pool_idle %s; "
            "pool max idle %zu\n",
            fmt_duration(t->upstream_connect, f, sizeof(f)),
            fmt_duration(t->upstream_first_byte, g, sizeof(g)),
            fmt_duration(t->upstream_idle, h, sizeof(h)),
            fmt_duration(t->upstream_pool_idle, k, sizeof(k)), cfg->upstream_pool_max_idle);
    fprintf(out, "access_log: %s\nlog_level: %s\n", cfg->access_log, cfg->log_level);
    for (i = 0; i < cfg->nproviders; i++) {
        p = &cfg->providers[i];
        fprintf(out, "provider %s: %s api, %s, auth %s", p->name, api_names[p->api], p->base_url,
                auth_names[p->auth]);
        summary_key(p, out);
        if (p->ca_file != NULL)
            fprintf(out, ", ca_file %s", p->ca_file);
        if (p->azure_api_version != NULL)
            fprintf(out, ", Azure deployments (api-version %s)", p->azure_api_version);
        fprintf(out, "\n");
    }
    for (i = 0; i < cfg->nprices; i++) {
        const struct gw_price_cfg *pr = &cfg->prices[i];
        fprintf(out, "price");
        for (size_t j = 0; j < pr->models.n; j++)
            fprintf(out, "%s%s", j ? ", " : " ", pr->models.items[j]);
        fprintf(out, ": input %g, output %g USD per million tokens\n", pr->input, pr->output);
    }
    if (cfg->has_budgets) {
        size_t nt = 0, nk = 0;
        for (i = 0; i < cfg->nteams; i++)
            nt += cfg->teams[i].budget.n > 0;
        for (i = 0; i < cfg->nkeys; i++)
            nk += cfg->keys[i].budget.n > 0;
        const struct gw_budgets_cfg *bc = &cfg->budgets;
        fprintf(out, "budgets: limits for %zu team(s) and %zu key(s), store ", nt, nk);
        if (bc->store == 1)
            fprintf(out, "redis %s:%u db %zu (fail %s)\n", bc->redis_host, bc->redis_port,
                    bc->redis_db, bc->fail_open ? "open" : "closed");
        else
            fprintf(out, "memory, journal %s\n", bc->journal ? bc->journal : "off");
    }
    if (cfg->audit.nsinks == 0)
        fprintf(out, "audit: off (no sinks)\n");
    else
        fprintf(out, "audit: spool %s, capture %s (max %s), hash chain %s\n", cfg->audit.spool_dir,
                capture_names[cfg->audit.capture], fmt_size(cfg->audit.capture_max, a, sizeof(a)),
                cfg->audit.hmac_key ? "HMAC-SHA256" : "SHA-256");
    for (i = 0; i < cfg->audit.nsinks; i++) {
        const struct gw_sink_cfg *sk = &cfg->audit.sinks[i];
        fprintf(out, "audit sink %s: %s ", sk->name, sink_type_name(sk->type));
        if (sk->type == GW_SINK_FILE)
            fprintf(out, "%s", sk->path);
        else if (sk->type == GW_SINK_SYSLOG)
            fprintf(out, "%s %s:%u", transport_names[sk->transport], sk->host, (unsigned)sk->port);
        else
            fprintf(out, "%s%s", sk->url, sk->token ? " (token set)" : "");
        fprintf(out, ", min_severity %s\n", severity_names[sk->min_severity]);
    }
    for (i = 0; i < cfg->nfilters; i++) {
        const struct gw_filter_inst *fi = &cfg->filters[i];
        fprintf(out, "filter %s: type %s, on_error %s", fi->name, fi->ops->name,
                fi->on_error_pass ? "pass" : "block");
        if (fi->block_status)
            fprintf(out, ", block_status %d", fi->block_status);
        if (fi->ops->describe) {
            char d[1024]; /* the injection filter's summary alone runs to ~560 bytes */
            d[0] = '\0';
            fi->ops->describe(fi->conf, d, sizeof(d));
            if (d[0])
                fprintf(out, ", %s", d);
        }
        fprintf(out, "\n");
    }
    for (i = 0; i < cfg->nroutes; i++) {
        r = &cfg->routes[i];
        fprintf(out, "route %s -> %s", r->prefix, r->provider_name);
        if (r->via_fallback)
            fprintf(out, " (via fallback %s: no key)", r->provider->name);
        if (r->strip_prefix)
            fprintf(out, ", prefix stripped");
        for (size_t j = 0; j < r->models.n; j++)
            fprintf(out, "%s%s", j ? ", " : ", for models ", r->models.items[j]);
        for (size_t j = 0; j < r->allowed_models.n; j++)
            fprintf(out, "%s%s", j ? ", " : ", approved models ", r->allowed_models.items[j]);
        for (size_t j = 0; j < r->chain.n; j++)
            fprintf(out, "%s%s", j ? " -> " : ", filters ", r->chain.v[j]->name);
        fprintf(out, "\n");
    }
}
