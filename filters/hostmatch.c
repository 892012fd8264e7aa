/*
 * URL hosts and host allowlists (see hostmatch.h for the semantics).
 */
#include "filters/hostmatch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LABEL_MAX 63

struct gw_hostmatch {
    char **exact; /* canonical hosts, sorted */
    size_t nexact, capexact;
    char **suffix; /* ".example.com" for *.example.com, sorted */
    size_t nsuffix, capsuffix;
};

/* ---- URLs ---- */

/* WHATWG removes every ASCII tab and newline from the input before it parses it. */
static int
ignorable(unsigned char c)
{
    return c == '\t' || c == '\n' || c == '\r';
}

static unsigned char
lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static int
is_alpha(unsigned char c)
{
    c = lower(c);
    return c >= 'a' && c <= 'z';
}

static int
is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Index of the next significant byte of s at or after i, below e. */
static size_t
sig(const char *s, size_t i, size_t e)
{
    while (i < e && ignorable((unsigned char)s[i]))
        i++;
    return i;
}

static int
is_special(const char *scheme)
{
    static const char *const special[] = {"http", "https", "ws", "wss", "ftp", "file"};
    for (size_t k = 0; k < sizeof(special) / sizeof(special[0]); k++)
        if (strcmp(scheme, special[k]) == 0)
            return 1;
    return 0;
}

/* Whether the labels of h (n bytes, lower case, no trailing dot) are 1..63 bytes of
 * [a-z0-9_-] and the name is at most GW_HOST_MAX bytes. */
static int
name_ok(const char *h, size_t n)
{
    if (n == 0 || n > GW_HOST_MAX)
        return 0;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)h[i];
        if (c == '.') {
            if (label == 0)
                return 0;
            label = 0;
            continue;
        }
        if (!(is_alpha(c) || is_digit(c) || c == '-' || c == '_'))
            return 0;
        if (++label > LABEL_MAX)
            return 0;
    }
    return label > 0;
}

static int
ipv6_char(unsigned char c)
{
    c = lower(c);
    return is_digit(c) || (c >= 'a' && c <= 'f') || c == ':' || c == '.';
}

/*
 * The host of the authority [a, e) of s (everything after its last '@'), canonical, into u.
 * Leaves u->host_ok 0 when it is not clean.
 */
static void
parse_host(const char *s, size_t a, size_t e, struct gw_url *u)
{
    for (size_t i = a; i < e; i++)
        if (s[i] == '@')
            a = i + 1;
    size_t n = 0, i = sig(s, a, e);
    const size_t cap = GW_HOST_MAX + 1; /* one more for a trailing dot */
    if (i < e && s[i] == '[') {
        u->host[n++] = '[';
        for (i = sig(s, i + 1, e); i < e && s[i] != ']'; i = sig(s, i + 1, e)) {
            if (!ipv6_char((unsigned char)s[i]) || n >= cap)
                return;
            u->host[n++] = (char)lower((unsigned char)s[i]);
        }
        if (i >= e || n < 3)
            return; /* no ']', or "[]" */
        u->host[n++] = ']';
        i = sig(s, i + 1, e);
        if (i < e && s[i] != ':')
            return;
    } else {
        for (; i < e && s[i] != ':'; i = sig(s, i + 1, e)) {
            if (n >= cap)
                return;
            u->host[n++] = (char)lower((unsigned char)s[i]);
        }
        if (n > 0 && u->host[n - 1] == '.')
            n--;
        if (!name_ok(u->host, n))
            return;
    }
    /* a port: digits only (may be empty) */
    if (i < e)
        for (i = sig(s, i + 1, e); i < e; i = sig(s, i + 1, e))
            if (!is_digit((unsigned char)s[i]))
                return;
    u->host[n] = '\0';
    u->host_len = n;
    u->host_ok = 1;
}

/* Path, query and fragment of s from i to e, into u. */
static void
parse_rest(const char *s, size_t i, size_t e, struct gw_url *u)
{
    u->path_off = i;
    while (i < e && s[i] != '?' && s[i] != '#')
        i++;
    u->path_end = i;
    if (i < e && s[i] == '?') {
        u->has_query = 1;
        u->query_off = ++i;
        while (i < e && s[i] != '#') {
            u->query_len += !ignorable((unsigned char)s[i]);
            i++;
        }
        u->query_end = i;
    }
    if (i < e && s[i] == '#') {
        u->has_fragment = 1;
        u->frag_off = ++i;
        for (; i < e; i++)
            u->frag_len += !ignorable((unsigned char)s[i]);
        u->frag_end = i;
    }
}

enum gw_url_kind
gw_url_parse(const char *s, size_t len, struct gw_url *u)
{
    memset(u, 0, sizeof(*u));
    size_t b = 0, e = len;
    while (b < e && (unsigned char)s[b] <= 0x20)
        b++;
    while (e > b && (unsigned char)s[e - 1] <= 0x20)
        e--;

    /* scheme: ALPHA *(ALPHA / DIGIT / "+" / "-" / ".") ":" */
    char scheme[8];
    size_t sl = 0, i = b;
    int has_scheme = 0;
    if (i < e && is_alpha((unsigned char)s[i])) {
        size_t j = i;
        int fits = 1;
        for (; j < e; j = sig(s, j + 1, e)) {
            unsigned char c = (unsigned char)s[j];
            if (!(is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.'))
                break;
            if (sl + 1 < sizeof(scheme))
                scheme[sl++] = (char)lower(c);
            else
                fits = 0;
        }
        if (j < e && s[j] == ':') {
            has_scheme = 1;
            i = j + 1;
        }
        scheme[sl] = '\0';
        if (!fits)
            scheme[0] = '\0'; /* longer than any special scheme */
    }

    int special = 1; /* protocol-relative references resolve against an http(s) page */
    if (has_scheme) {
        special = is_special(scheme);
        size_t j = sig(s, i, e);
        if (special) {
            while (j < e && (s[j] == '/' || s[j] == '\\'))
                j = sig(s, j + 1, e);
        } else if (j < e && s[j] == '/' && sig(s, j + 1, e) < e && s[sig(s, j + 1, e)] == '/') {
            j = sig(s, j + 1, e) + 1;
        } else {
            u->kind = GW_URL_NO_HOST;
            parse_rest(s, i, e, u);
            return u->kind;
        }
        i = j;
    } else {
        size_t j = sig(s, b, e), slashes = 0;
        while (j < e && (s[j] == '/' || s[j] == '\\')) {
            slashes++;
            j = sig(s, j + 1, e);
        }
        if (slashes < 2) {
            u->kind = GW_URL_RELATIVE;
            parse_rest(s, b, e, u);
            return u->kind;
        }
        i = j;
    }

    u->kind = GW_URL_HOST;
    size_t a = i;
    while (i < e && s[i] != '/' && s[i] != '?' && s[i] != '#' && !(special && s[i] == '\\'))
        i++;
    u->authority_done = i < e;
    parse_host(s, a, i, u);
    parse_rest(s, i, e, u);
    return u->kind;
}

/* ---- allowlists ---- */

struct gw_hostmatch *
gw_hostmatch_new(void)
{
    return calloc(1, sizeof(struct gw_hostmatch));
}

void
gw_hostmatch_free(struct gw_hostmatch *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nexact; i++)
        free(m->exact[i]);
    for (size_t i = 0; i < m->nsuffix; i++)
        free(m->suffix[i]);
    free(m->exact);
    free(m->suffix);
    free(m);
}

size_t
gw_hostmatch_count(const struct gw_hostmatch *m)
{
    return m ? m->nexact + m->nsuffix : 0;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Inserts s (n bytes) into the sorted set *v; a duplicate is dropped. 0, or -1 (no memory). */
static int
insert(char ***v, size_t *nv, size_t *cap, const char *s, size_t n)
{
    size_t lo = 0, hi = *nv;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp((*v)[mid], s);
        if (c == 0)
            return 0;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (*nv == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        char **nvp = realloc(*v, nc * sizeof(*nvp));
        if (!nvp)
            return -1;
        *v = nvp;
        *cap = nc;
    }
    char *d = malloc(n + 1);
    if (!d)
        return -1;
    memcpy(d, s, n);
    d[n] = '\0';
    memmove(*v + lo + 1, *v + lo, (*nv - lo) * sizeof(**v));
    (*v)[lo] = d;
    (*nv)++;
    return 0;
}

static int
find(char *const *v, size_t n, const char *s)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(v[mid], s);
        if (c == 0)
            return 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

int
gw_hostmatch_add(struct gw_hostmatch *m, const char *p, size_t len, char *err, size_t errlen)
{
    char buf[GW_HOST_MAX + 4];
    if (len == 0)
        return fail(err, errlen, "empty host pattern");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x80)
            return fail(err, errlen, "non-ASCII host: write it in punycode (xn--...)");
        if (c <= 0x20 || c == 0x7f)
            return fail(err, errlen, "spaces or control characters in a host pattern");
    }
    if (memchr(p, '/', len) || memchr(p, '\\', len))
        return fail(err, errlen, "a host pattern is a host name, not a URL");
    if (memchr(p, '@', len))
        return fail(err, errlen, "a host pattern cannot hold user info ('@')");
    if (p[0] == '[') {
        if (len < 3 || p[len - 1] != ']' || len - 2 > GW_HOST_MAX)
            return fail(err, errlen, "an IPv6 literal is written [address]");
        size_t colons = 0;
        buf[0] = '[';
        for (size_t i = 1; i + 1 < len; i++) {
            if (!ipv6_char((unsigned char)p[i]))
                return fail(err, errlen, "an IPv6 literal is written [address]");
            colons += p[i] == ':';
            buf[i] = (char)lower((unsigned char)p[i]);
        }
        if (colons < 2)
            return fail(err, errlen, "an IPv6 literal is written [address]");
        buf[len - 1] = ']';
        if (insert(&m->exact, &m->nexact, &m->capexact, buf, len) < 0)
            return fail(err, errlen, "out of memory");
        return 0;
    }
    if (memchr(p, ':', len))
        return fail(err, errlen, "a host pattern cannot hold a port (hosts match on any port)");
    int wild = len >= 2 && p[0] == '*' && p[1] == '.';
    if ((len == 1 && p[0] == '*') || (wild && (len == 2 || (len == 3 && p[2] == '.'))))
        return fail(err, errlen, "'*' alone would allow every host");
    const char *h = wild ? p + 2 : p;
    size_t n = wild ? len - 2 : len;
    if (memchr(h, '*', n))
        return fail(err, errlen,
                    "a wildcard is a whole first label: '*.example.com' (covers subdomains)");
    if (n > 0 && h[n - 1] == '.')
        n--;
    if (n > GW_HOST_MAX)
        return fail(err, errlen, "host longer than %d bytes", GW_HOST_MAX);
    buf[0] = '.';
    for (size_t i = 0; i < n; i++)
        buf[i + 1] = (char)lower((unsigned char)h[i]);
    buf[n + 1] = '\0';
    if (!name_ok(buf + 1, n))
        return fail(err, errlen,
                    "not a host name: labels of 1 to %d letters, digits, '-' or '_', "
                    "separated by dots",
                    LABEL_MAX);
    int rc = wild ? insert(&m->suffix, &m->nsuffix, &m->capsuffix, buf, n + 1)
                  : insert(&m->exact, &m->nexact, &m->capexact, buf + 1, n);
    if (rc < 0)
        return fail(err, errlen, "out of memory");
    return 0;
}

int
gw_hostmatch_host(const struct gw_hostmatch *m, const char *host, size_t len)
{
    char buf[GW_HOST_MAX + 3];
    if (!m || len == 0 || len >= sizeof(buf))
        return 0;
    memcpy(buf, host, len);
    buf[len] = '\0';
    if (strlen(buf) != len)
        return 0; /* a NUL inside */
    if (find(m->exact, m->nexact, buf))
        return 1;
    if (buf[0] == '[')
        return 0;
    /* every proper suffix that starts at a label boundary: ".b.example.com", ".example.com" */
    for (const char *d = strchr(buf, '.'); d; d = strchr(d + 1, '.'))
        if (find(m->suffix, m->nsuffix, d))
            return 1;
    return 0;
}

int
gw_hostmatch_url(const struct gw_hostmatch *m, const char *url, size_t len)
{
    struct gw_url u;
    if (gw_url_parse(url, len, &u) != GW_URL_HOST || !u.host_ok)
        return 0;
    return gw_hostmatch_host(m, u.host, u.host_len);
}
