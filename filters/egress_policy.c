/*
 * Egress policy: a compiled allowlist over canonical URLs; see egress_policy.h for the order of
 * the checks and the entry syntax.
 *
 * Entries are kept by the kind of host they name: exact domains and wildcard suffixes in arrays
 * sorted by name (a lookup is one binary search for the host, then one per label suffix for the
 * wildcards), IPv4 and IPv6 ranges in plain lists (an address is an exact range). Each entry
 * carries what it allows of a URL whose host it names: a scheme, a port, a path prefix; several
 * entries may name the same host, and a URL is allowed when any of them accepts it.
 */
#include "filters/egress_policy.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/url.h"

#define URL_MAX (64 * 1024) /* a longer URL is GW_EGRESS_UNPARSED */
#define BARE_MAX 4096       /* "//" and a bare text, copied on the stack */
#define PATH_MAX_URL 8192   /* a longer canonical URL path matches no path entry */
#define ENTRY_MAX 2048      /* the text of an entry */
#define PATH_MAX_ENTRY 1024 /* the canonical path prefix of an entry */
#define SCHEME_LEN (GW_URL_SCHEME_MAX + 1)

/* What an entry allows of a URL whose host it names. */
struct rule {
    char scheme[SCHEME_LEN]; /* "": any scheme of the policy's list */
    int port;                /* -1: any */
    char *path;              /* NULL: any; else a canonical path prefix (owned) */
    size_t path_len;
};

struct name_rule {
    char name[GW_URL_HOST_MAX + 1]; /* canonical domain; for a wildcard, what follows "*." */
    struct rule r;
};

struct v4_rule {
    uint32_t net, mask;
    struct rule r;
};

struct v6_rule {
    uint16_t net[8]; /* host bits cleared */
    int bits;
    struct rule r;
};

struct scheme {
    char name[SCHEME_LEN];
};

struct gw_egress_policy {
    struct name_rule *exact, *wild; /* sorted by name */
    size_t n_exact, n_wild;
    struct v4_rule *v4;
    size_t n_v4;
    struct v6_rule *v6;
    size_t n_v6;
    struct scheme *schemes; /* the scheme list once gw_egress_policy_scheme set it */
    size_t n_schemes;
    int schemes_set;           /* 0: http and https */
    struct scheme *by_entries; /* schemes written in entries */
    size_t n_by_entries;
    size_t count;
    int has_paths; /* some entry has a path prefix */
};

static int
fail(char *err, size_t errlen, const char *msg)
{
    if (errlen > 0)
        snprintf(err, errlen, "%s", msg);
    return -1;
}

static int
is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int
is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* The array a (n elements of size bytes) grown by one element, or NULL (a is then intact). */
static void *
grow(void *a, size_t n, size_t size)
{
    return realloc(a, (n + 1) * size);
}

/* ---- schemes ---- */

/* Folds the scheme s[0..n) into out: 0, or -1 when it is not a scheme. */
static int
fold_scheme(const char *s, size_t n, char out[SCHEME_LEN])
{
    if (n == 0 || n > GW_URL_SCHEME_MAX || !is_alpha((unsigned char)s[0]))
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.')
            return -1;
        out[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    out[n] = '\0';
    return 0;
}

static int
in_list(const struct scheme *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].name, s) == 0)
            return 1;
    return 0;
}

static int
add_to_list(struct scheme **list, size_t *n, const char *s)
{
    if (in_list(*list, *n, s))
        return 0;
    struct scheme *l = grow(*list, *n, sizeof(**list));
    if (l == NULL)
        return -1;
    memcpy(l[*n].name, s, strlen(s) + 1);
    *list = l;
    (*n)++;
    return 0;
}

static int
scheme_listed(const struct gw_egress_policy *p, const char *s)
{
    if (!p->schemes_set)
        return strcmp(s, "http") == 0 || strcmp(s, "https") == 0;
    return in_list(p->schemes, p->n_schemes, s);
}

int
gw_egress_policy_scheme(struct gw_egress_policy *p, const char *scheme, size_t len, char *err,
                        size_t errlen)
{
    char s[SCHEME_LEN];
    if (fold_scheme(scheme, len, s) < 0)
        return fail(err, errlen,
                    "bad scheme: a letter, then letters, digits, '+', '-' or '.', at most 31");
    if (!p->schemes_set) {
        p->n_schemes = 0;
        p->schemes_set = 1;
    }
    if (add_to_list(&p->schemes, &p->n_schemes, s) < 0)
        return fail(err, errlen, "out of memory");
    return 0;
}

/* ---- building ---- */

const char *
gw_egress_why_name(enum gw_egress_why w)
{
    switch (w) {
    case GW_EGRESS_OK:
        return "ok";
    case GW_EGRESS_UNPARSED:
        return "unparsed";
    case GW_EGRESS_SCHEME:
        return "scheme";
    case GW_EGRESS_INTERNAL:
        return "internal";
    case GW_EGRESS_NOT_ALLOWED:
        return "not_allowed";
    }
    return "unknown";
}

struct gw_egress_policy *
gw_egress_policy_new(void)
{
    return calloc(1, sizeof(struct gw_egress_policy));
}

void
gw_egress_policy_free(struct gw_egress_policy *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n_exact; i++)
        free(p->exact[i].r.path);
    for (size_t i = 0; i < p->n_wild; i++)
        free(p->wild[i].r.path);
    for (size_t i = 0; i < p->n_v4; i++)
        free(p->v4[i].r.path);
    for (size_t i = 0; i < p->n_v6; i++)
        free(p->v6[i].r.path);
    free(p->exact);
    free(p->wild);
    free(p->v4);
    free(p->v6);
    free(p->schemes);
    free(p->by_entries);
    free(p);
}

size_t
gw_egress_policy_count(const struct gw_egress_policy *p)
{
    return p->count;
}

int
gw_egress_policy_has_paths(const struct gw_egress_policy *p)
{
    return p->has_paths;
}

enum entry_kind { E_EXACT, E_WILD, E_V4, E_V6 };

/* A parsed entry; r.path points into the caller's buffer until the entry is stored. */
struct entry {
    enum entry_kind kind;
    struct gw_url_canon host; /* the canonical host (for E_EXACT, E_WILD: the name) */
    int bits;                 /* prefix length; the whole address when there was none */
    struct rule r;
};

static int
same_rule(const struct rule *a, const struct rule *b)
{
    return strcmp(a->scheme, b->scheme) == 0 && a->port == b->port &&
           (a->path == NULL) == (b->path == NULL) &&
           (a->path == NULL ||
            (a->path_len == b->path_len && memcmp(a->path, b->path, a->path_len) == 0));
}

/* Copies the caller's path into r (owned): 0 or -1. */
static int
own_path(struct rule *r)
{
    if (r->path == NULL)
        return 0;
    char *c = malloc(r->path_len + 1);
    if (c == NULL)
        return -1;
    memcpy(c, r->path, r->path_len + 1);
    r->path = c;
    return 0;
}

/* Inserts e into the sorted array *a (*n elements) unless it is there: 1 added, 0 there, -1. */
static int
insert_name(struct name_rule **a, size_t *n, const struct entry *e)
{
    size_t lo = 0, hi = *n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp((*a)[mid].name, e->host.host) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < *n && strcmp((*a)[i].name, e->host.host) == 0; i++)
        if (same_rule(&(*a)[i].r, &e->r))
            return 0;
    struct rule r = e->r;
    if (own_path(&r) < 0)
        return -1;
    struct name_rule *g = grow(*a, *n, sizeof(**a));
    if (g == NULL) {
        free(r.path);
        return -1;
    }
    *a = g;
    memmove(*a + lo + 1, *a + lo, (*n - lo) * sizeof(**a));
    memcpy((*a)[lo].name, e->host.host, e->host.host_len + 1);
    (*a)[lo].r = r;
    (*n)++;
    return 1;
}

static uint32_t
v4_mask(int bits)
{
    return bits == 0 ? 0 : 0xffffffffu << (32 - bits);
}

/* Clears the bits of a past the first bits. */
static void
v6_mask(uint16_t a[8], int bits)
{
    for (int i = 0; i < 8; i++) {
        int keep = bits - 16 * i;
        if (keep <= 0)
            a[i] = 0;
        else if (keep < 16)
            a[i] &= (uint16_t)(0xffffu << (16 - keep));
    }
}

static int
insert_v4(struct gw_egress_policy *p, const struct entry *e)
{
    uint32_t mask = v4_mask(e->bits), net = e->host.ipv4 & mask;
    for (size_t i = 0; i < p->n_v4; i++)
        if (p->v4[i].net == net && p->v4[i].mask == mask && same_rule(&p->v4[i].r, &e->r))
            return 0;
    struct rule r = e->r;
    if (own_path(&r) < 0)
        return -1;
    struct v4_rule *g = grow(p->v4, p->n_v4, sizeof(*p->v4));
    if (g == NULL) {
        free(r.path);
        return -1;
    }
    p->v4 = g;
    p->v4[p->n_v4].net = net;
    p->v4[p->n_v4].mask = mask;
    p->v4[p->n_v4].r = r;
    p->n_v4++;
    return 1;
}

static int
insert_v6(struct gw_egress_policy *p, const struct entry *e)
{
    uint16_t net[8];
    memcpy(net, e->host.ipv6, sizeof(net));
    v6_mask(net, e->bits);
    for (size_t i = 0; i < p->n_v6; i++)
        if (p->v6[i].bits == e->bits && memcmp(p->v6[i].net, net, sizeof(net)) == 0 &&
            same_rule(&p->v6[i].r, &e->r))
            return 0;
    struct rule r = e->r;
    if (own_path(&r) < 0)
        return -1;
    struct v6_rule *g = grow(p->v6, p->n_v6, sizeof(*p->v6));
    if (g == NULL) {
        free(r.path);
        return -1;
    }
    p->v6 = g;
    memcpy(p->v6[p->n_v6].net, net, sizeof(net));
    p->v6[p->n_v6].bits = e->bits;
    p->v6[p->n_v6].r = r;
    p->n_v6++;
    return 1;
}

/*
 * Canonicalises the host text h[0..n) (bracketed when v6 is set) the way gw_url_canon does a URL's
 * host: 0 with the host in *u, or -1.
 */
static int
canon_host(const char *h, size_t n, int v6, struct gw_url_canon *u)
{
    char buf[ENTRY_MAX + 16];
    int len =
        snprintf(buf, sizeof(buf), "http://%s%.*s%s/", v6 ? "[" : "", (int)n, h, v6 ? "]" : "");
    if (len < 0 || (size_t)len >= sizeof(buf))
        return -1;
    if (gw_url_canon(buf, (size_t)len, u) < 0 || u->host_type == GW_URL_HOST_NONE || u->port >= 0)
        return -1;
    return 0;
}

/* Parses a port s[0..n): 1..65535, or -1. */
static int
parse_port(const char *s, size_t n)
{
    long v = 0;
    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
        if (v > 65535)
            return -1;
    }
    return v == 0 ? -1 : (int)v;
}

/*
 * Parses the entry s[0..n) into *e, its canonical path (if any) into path (PATH_MAX_ENTRY bytes):
 * 0, or -1 with a reason in err.
 */
static int
parse_entry(const char *s, size_t n, struct entry *e, char *path, char *err, size_t errlen)
{
    memset(e, 0, sizeof(*e));
    e->r.port = -1;
    if (n == 0)
        return fail(err, errlen, "empty entry");
    if (n > ENTRY_MAX)
        return fail(err, errlen, "entry too long");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f)
            return fail(err, errlen, "a space or control character");
        if (c == '\\')
            return fail(err, errlen, "a backslash");
        if (c == '?' || c == '#')
            return fail(err, errlen, "a query or fragment");
    }

    /* a scheme: the leading run of scheme characters, if "://" follows it */
    size_t i = 0;
    while (i < n && (is_alpha((unsigned char)s[i]) || is_digit((unsigned char)s[i]) ||
                     s[i] == '+' || s[i] == '-' || s[i] == '.'))
        i++;
    if (n - i >= 3 && memcmp(s + i, "://", 3) == 0) {
        if (fold_scheme(s, i, e->r.scheme) < 0)
            return fail(err, errlen, "bad scheme");
        i += 3;
    } else {
        i = 0;
    }
    if (i == n || s[i] == '/')
        return fail(err, errlen, "no host");
    const char *path_at = memchr(s + i, '/', n - i);
    size_t before_path = path_at != NULL ? (size_t)(path_at - s) - i : n - i;
    if (memchr(s + i, '@', before_path) != NULL)
        return fail(err, errlen, "user info"); /* an '@' in the path is the path's */

    /* the host: "[v6]", a bare v6 (two colons or more before the first '/'), or up to ':' '/' */
    size_t hb = i, he = i;
    int v6 = 0;
    if (s[i] == '[') {
        const char *rb = memchr(s + i, ']', n - i);
        if (rb == NULL)
            return fail(err, errlen, "a '[' without ']'");
        hb = i + 1;
        he = (size_t)(rb - s);
        i = he + 1;
        v6 = 1;
    } else {
        size_t slash = i, colons = 0;
        for (; slash < n && s[slash] != '/'; slash++)
            colons += s[slash] == ':';
        if (colons >= 2) {
            he = i = slash;
            v6 = 1;
        } else {
            while (he < n && s[he] != '/' && s[he] != ':')
                he++;
            if (he == hb)
                return fail(err, errlen, "no host");
            i = he;
        }
    }

    int wild = he - hb >= 1 && s[hb] == '*';
    if (wild) {
        if (he - hb < 3 || s[hb + 1] != '.')
            return fail(err, errlen, "malformed wildcard: '*.' and a domain");
        hb += 2;
    }
    if (memchr(s + hb, '*', he - hb) != NULL)
        return fail(err, errlen, "malformed wildcard: '*.' only as the first label");
    if (canon_host(s + hb, he - hb, v6, &e->host) < 0)
        return fail(err, errlen, "bad host");
    int ip = e->host.host_type != GW_URL_HOST_DOMAIN;
    if (wild && ip)
        return fail(err, errlen, "a wildcard on an IP address");
    if (!ip && (e->host.host[0] == '.' || strstr(e->host.host, "..") != NULL))
        return fail(err, errlen, "an empty label");
    e->kind = ip ? (e->host.host_type == GW_URL_HOST_IPV4 ? E_V4 : E_V6) : wild ? E_WILD : E_EXACT;
    int max_bits = e->kind == E_V4 ? 32 : 128;
    e->bits = max_bits;

    /* after an IP address, '/' and a digit start a prefix length */
    int cidr = 0;
    if (ip && i + 1 < n && s[i] == '/' && is_digit((unsigned char)s[i + 1])) {
        size_t k = i + 1;
        int bits = 0;
        while (k < n && is_digit((unsigned char)s[k]) && bits <= max_bits)
            bits = bits * 10 + (s[k++] - '0');
        if (bits > max_bits || (k < n && is_digit((unsigned char)s[k])))
            return fail(err, errlen, "bad prefix length");
        e->bits = bits;
        cidr = 1;
        i = k;
    }
    if (i < n && s[i] == ':') {
        size_t k = i + 1;
        while (k < n && s[k] != '/')
            k++;
        if ((e->r.port = parse_port(s + i + 1, k - i - 1)) < 0)
            return fail(err, errlen, "bad port: 1 to 65535");
        i = k;
    }
    if (i < n) {
        if (s[i] != '/')
            return fail(err, errlen, "bad host");
        if (cidr)
            return fail(err, errlen, "a CIDR range takes no path");
        char url[ENTRY_MAX + 16];
        int len = snprintf(url, sizeof(url), "http://h%.*s", (int)(n - i), s + i);
        if (len < 0 || (size_t)len >= sizeof(url))
            return fail(err, errlen, "entry too long");
        int rc = gw_url_canon_path(url, (size_t)len, path, PATH_MAX_ENTRY, &e->r.path_len);
        if (rc < 0)
            return fail(err, errlen, "bad or too long path");
        if (rc == GW_URL_PATH_AMBIGUOUS)
            return fail(err, errlen, "a path with an encoded '/', '\\', '.' or '%', or '..;'");
        e->r.path = path;
    }
    return 0;
}

int
gw_egress_policy_allow(struct gw_egress_policy *p, const char *entry, size_t len, char *err,
                       size_t errlen)
{
    struct entry e;
    char path[PATH_MAX_ENTRY];
    if (parse_entry(entry, len, &e, path, err, errlen) < 0)
        return -1;
    if (e.r.scheme[0] != '\0' && add_to_list(&p->by_entries, &p->n_by_entries, e.r.scheme) < 0)
        return fail(err, errlen, "out of memory");
    int rc = e.kind == E_EXACT  ? insert_name(&p->exact, &p->n_exact, &e)
             : e.kind == E_WILD ? insert_name(&p->wild, &p->n_wild, &e)
             : e.kind == E_V4   ? insert_v4(p, &e)
                                : insert_v6(p, &e);
    if (rc < 0)
        return fail(err, errlen, "out of memory");
    p->count += (size_t)rc;
    if (e.r.path)
        p->has_paths = 1;
    return 0;
}

/* ---- checking ---- */

/* One check's URL, and its canonical path once a path entry needed it. */
struct check {
    const struct gw_egress_policy *p;
    const struct gw_url_canon *u;
    const char *s;
    size_t n;
    int path_rc; /* gw_url_path's result; -2 until computed */
    size_t path_len;
    char path[PATH_MAX_URL];
};

/* Whether the URL's path is r's prefix or lies under it, segment-wise. */
static int
path_under(struct check *c, const struct rule *r)
{
    if (c->path_rc == -2)
        c->path_rc = gw_url_path(c->u, c->s, c->n, c->path, sizeof(c->path), &c->path_len);
    if (c->path_rc != 0 || c->path_len < r->path_len || memcmp(c->path, r->path, r->path_len) != 0)
        return 0;
    return c->path_len == r->path_len || r->path[r->path_len - 1] == '/' ||
           c->path[r->path_len] == '/';
}

static int
accepts(struct check *c, const struct rule *r, const char *scheme, int listed, int port)
{
    if (r->scheme[0] != '\0' ? strcmp(r->scheme, scheme) != 0 : !listed)
        return 0;
    if (r->port >= 0 && r->port != port)
        return 0;
    return r->path == NULL || path_under(c, r);
}

/* Whether an entry of the sorted a[0..n) named name accepts the URL. */
static int
name_accepts(struct check *c, const struct name_rule *a, size_t n, const char *name,
             const char *scheme, int listed, int port)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(a[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < n && strcmp(a[lo].name, name) == 0; lo++)
        if (accepts(c, &a[lo].r, scheme, listed, port))
            return 1;
    return 0;
}

static int
v6_in(const uint16_t a[8], const uint16_t net[8], int bits)
{
    uint16_t m[8];
    memcpy(m, a, sizeof(m));
    v6_mask(m, bits);
    return memcmp(m, net, sizeof(m)) == 0;
}

/* Whether an entry naming the URL's host accepts the URL as scheme. */
static int
matches(struct check *c, const char *scheme, int listed)
{
    const struct gw_egress_policy *p = c->p;
    const struct gw_url_canon *u = c->u;
    int port = u->port >= 0 ? u->port : gw_url_default_port(scheme);
    if (u->host_type == GW_URL_HOST_DOMAIN) {
        if (name_accepts(c, p->exact, p->n_exact, u->host, scheme, listed, port))
            return 1;
        for (const char *d = strchr(u->host, '.'); d != NULL; d = strchr(d + 1, '.'))
            if (name_accepts(c, p->wild, p->n_wild, d + 1, scheme, listed, port))
                return 1;
        return 0;
    }
    if (u->host_type == GW_URL_HOST_IPV6)
        for (size_t i = 0; i < p->n_v6; i++)
            if (v6_in(u->ipv6, p->v6[i].net, p->v6[i].bits) &&
                accepts(c, &p->v6[i].r, scheme, listed, port))
                return 1;
    if (u->has_ipv4)
        for (size_t i = 0; i < p->n_v4; i++)
            if ((u->ipv4 & p->v4[i].mask) == p->v4[i].net &&
                accepts(c, &p->v4[i].r, scheme, listed, port))
                return 1;
    return 0;
}

/* The verdict on the URL taken as scheme (steps 2 to 4 of the header). */
static enum gw_egress_why
judge(struct check *c, const char *scheme)
{
    const struct gw_egress_policy *p = c->p;
    int listed = scheme_listed(p, scheme);
    if (!listed && !in_list(p->by_entries, p->n_by_entries, scheme))
        return GW_EGRESS_SCHEME;
    if (c->u->host_type == GW_URL_HOST_NONE) {
        if (!listed)
            return GW_EGRESS_SCHEME; /* no entry names a URL without a host */
        return gw_url_is_internal(c->u) ? GW_EGRESS_INTERNAL : GW_EGRESS_OK;
    }
    if (matches(c, scheme, listed))
        return GW_EGRESS_OK;
    if (!listed)
        return GW_EGRESS_SCHEME; /* allowed by entries only, and none of them took it */
    if (gw_url_is_internal(c->u))
        return GW_EGRESS_INTERNAL;
    return p->count == 0 ? GW_EGRESS_OK : GW_EGRESS_NOT_ALLOWED;
}

enum gw_egress_why
gw_egress_check(const struct gw_egress_policy *p, const char *url, size_t n, unsigned flags)
{
    char bare[BARE_MAX];
    if (n > URL_MAX)
        return GW_EGRESS_UNPARSED;
    if (flags & GW_EGRESS_BARE) {
        size_t b = 0;
        while (b < n && (unsigned char)url[b] <= 0x20)
            b++;
        if (n - b > sizeof(bare) - 2)
            return GW_EGRESS_UNPARSED;
        memcpy(bare, "//", 2);
        memcpy(bare + 2, url + b, n - b);
        n = n - b + 2;
        url = bare;
    }
    struct gw_url_canon u;
    if (gw_url_canon(url, n, &u) < 0)
        return GW_EGRESS_UNPARSED;
    struct check c;
    c.p = p;
    c.u = &u;
    c.s = url;
    c.n = n;
    c.path_rc = -2;
    if (!u.relative)
        return judge(&c, u.scheme);
    if (u.host_type == GW_URL_HOST_NONE)
        return GW_EGRESS_OK; /* a path, query or fragment of the page's own origin */
    /* protocol-relative: the page's scheme decides, http or https */
    enum gw_egress_why https = judge(&c, "https");
    if (https == GW_EGRESS_OK)
        return GW_EGRESS_OK;
    enum gw_egress_why http = judge(&c, "http");
    if (http == GW_EGRESS_OK)
        return GW_EGRESS_OK;
    return https == GW_EGRESS_SCHEME ? http : https;
}
