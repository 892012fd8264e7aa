/*
 * URL canonicalisation (WHATWG URL standard, basic URL parser) and internal destinations; see
 * url.h for what is followed and where this parser is deliberately stricter.
 */
#include "filters/url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <idn2.h>

#include "filters/hexdigit.h"

#define RAW_HOST_MAX 1023

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

/* '/' always; '\' too where the URL is special. */
static int
is_slash(unsigned char c, int special)
{
    return c == '/' || (special && c == '\\');
}

int
gw_url_default_port(const char *scheme)
{
    if (strcmp(scheme, "http") == 0 || strcmp(scheme, "ws") == 0)
        return 80;
    if (strcmp(scheme, "https") == 0 || strcmp(scheme, "wss") == 0)
        return 443;
    if (strcmp(scheme, "ftp") == 0)
        return 21;
    return -1;
}

static int
is_special_scheme(const char *scheme)
{
    return gw_url_default_port(scheme) > 0 || strcmp(scheme, "file") == 0;
}

/* The standard's forbidden domain code points, ASCII ones (non-ASCII never survives IDNA). */
static int
forbidden_domain(unsigned char c)
{
    return c <= 0x20 || c == 0x7f || strchr("#%/:<>?@[\\]^|", c) != NULL;
}

/* ---- IPv4 ---- */

int
gw_url_ipv4_number(const char *p, size_t n, uint64_t *v, int *odd)
{
    if (n == 0)
        return -1;
    int radix = 10;
    if (n >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        p += 2, n -= 2, radix = 16, *odd = 1;
    } else if (n >= 2 && p[0] == '0') {
        p++, n--, radix = 8, *odd = 1;
    }
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        int d = gw_hex_value((unsigned char)p[i]);
        if (d < 0 || d >= radix)
            return -1;
        x = x * (uint64_t)radix + (uint64_t)d;
        if (x > 0x100000000ull)
            x = 0x100000001ull;
    }
    *v = x;
    return 0;
}

/* The standard's "ends in a number" on h[0..n) (a trailing dot already removed). */
static int
ends_in_number(const char *h, size_t n)
{
    size_t b = n;
    while (b > 0 && h[b - 1] != '.')
        b--;
    if (b == n)
        return 0;
    size_t k = b;
    while (k < n && is_digit((unsigned char)h[k]))
        k++;
    if (k == n)
        return 1;
    uint64_t v;
    int odd = 0;
    return gw_url_ipv4_number(h + b, n - b, &v, &odd) == 0;
}

/* The standard's IPv4 parser on h[0..n) (no trailing dot): 0 with *addr, or -1. */
static int
ipv4_parse(const char *h, size_t n, uint32_t *addr, int *odd)
{
    uint64_t num[4];
    size_t cnt = 0, b = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && h[i] != '.')
            continue;
        if (cnt == 4)
            return -1;
        if (gw_url_ipv4_number(h + b, i - b, &num[cnt], odd) < 0)
            return -1;
        cnt++;
        b = i + 1;
    }
    for (size_t i = 0; i + 1 < cnt; i++)
        if (num[i] > 255)
            return -1;
    if (num[cnt - 1] >= (1ull << (8 * (5 - cnt))))
        return -1;
    uint64_t a = num[cnt - 1];
    for (size_t i = 0; i + 1 < cnt; i++)
        a += num[i] << (8 * (3 - i));
    if (cnt != 4)
        *odd = 1;
    *addr = (uint32_t)a;
    return 0;
}

/* ---- IPv6 ---- */

/* The standard's IPv6 parser on p[0..n) (inside the brackets): 0 with a[8], or -1. */
static int
ipv6_parse(const char *p, size_t n, uint16_t a[8])
{
    size_t i = 0;
    int piece = 0, compress = -1;
#define C (i < n ? (unsigned char)p[i] : 0)
    memset(a, 0, 8 * sizeof(a[0]));
    if (C == ':') {
        if (i + 1 >= n || p[i + 1] != ':')
            return -1;
        i += 2;
        compress = ++piece;
    }
    while (i < n) {
        if (piece == 8)
            return -1;
        if (C == ':') {
            if (compress >= 0)
                return -1;
            i++;
            compress = ++piece;
            continue;
        }
        unsigned value = 0, length = 0;
        while (length < 4 && i < n && gw_hex_value(C) >= 0) {
            value = value * 16 + (unsigned)gw_hex_value(C);
            i++, length++;
        }
        if (i < n && C == '.') {
            if (length == 0)
                return -1;
            i -= length;
            if (piece > 6)
                return -1;
            int seen = 0;
            while (i < n) {
                int v4 = -1;
                if (seen > 0) {
                    if (C == '.' && seen < 4)
                        i++;
                    else
                        return -1;
                }
                if (i >= n || !is_digit(C))
                    return -1;
                while (i < n && is_digit(C)) {
                    int d = C - '0';
                    if (v4 < 0)
                        v4 = d;
                    else if (v4 == 0)
                        return -1;
                    else
                        v4 = v4 * 10 + d;
                    if (v4 > 255)
                        return -1;
                    i++;
                }
                a[piece] = (uint16_t)(a[piece] * 0x100 + v4);
                seen++;
                if (seen == 2 || seen == 4)
                    piece++;
            }
            if (seen != 4)
                return -1;
            break;
        } else if (i < n && C == ':') {
            i++;
            if (i >= n)
                return -1;
        } else if (i < n) {
            return -1;
        }
        a[piece++] = (uint16_t)value;
    }
#undef C
    if (compress >= 0) {
        int swaps = piece - compress;
        piece = 7;
        while (piece != 0 && swaps > 0) {
            uint16_t t = a[piece];
            a[piece] = a[compress + swaps - 1];
            a[compress + swaps - 1] = t;
            piece--, swaps--;
        }
    } else if (piece != 8) {
        return -1;
    }
    return 0;
}

/* The standard's IPv6 serializer, in brackets, into out (at least 42 bytes). */
static size_t
ipv6_serialize(const uint16_t a[8], char *out)
{
    int best = -1, bestlen = 1;
    for (int i = 0; i < 8;) {
        int j = i;
        while (j < 8 && a[j] == 0)
            j++;
        if (j - i > bestlen)
            best = i, bestlen = j - i;
        i = j > i ? j : i + 1;
    }
    size_t n = 0;
    out[n++] = '[';
    int ignore0 = 0;
    for (int i = 0; i < 8; i++) {
        if (ignore0 && a[i] == 0)
            continue;
        ignore0 = 0;
        if (i == best) {
            memcpy(out + n, i == 0 ? "::" : ":", i == 0 ? 2 : 1);
            n += i == 0 ? 2 : 1;
            ignore0 = 1;
            continue;
        }
        n += (size_t)sprintf(out + n, "%x", a[i]);
        if (i != 7)
            out[n++] = ':';
    }
    out[n++] = ']';
    out[n] = '\0';
    return n;
}

/* ---- hosts ---- */

/* Domain to ASCII (the standard's, beStrict false) of the NUL-terminated d into out. */
static int
domain_to_ascii(const char *d, size_t n, char *out, size_t cap, unsigned *odd)
{
    int fast = 1;
    for (size_t i = 0; i < n && fast; i++) {
        if ((unsigned char)d[i] >= 0x80)
            fast = 0;
        else if ((i == 0 || d[i - 1] == '.') && n - i >= 4 && lower((unsigned char)d[i]) == 'x' &&
                 lower((unsigned char)d[i + 1]) == 'n' && d[i + 2] == '-' && d[i + 3] == '-')
            fast = 0;
    }
    if (fast) {
        if (n >= cap)
            return -1;
        for (size_t i = 0; i < n; i++)
            out[i] = (char)lower((unsigned char)d[i]);
        out[n] = '\0';
        return (int)n;
    }
    *odd |= GW_URL_ODD_IDNA;
    char *a = NULL;
    if (idn2_to_ascii_8z(d, &a, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT) != IDN2_OK) {
        free(a);
        return -1;
    }
    size_t an = strlen(a);
    if (an >= cap) {
        free(a);
        return -1;
    }
    memcpy(out, a, an + 1);
    free(a);
    return (int)an;
}

/* The host parser (special) on raw[0..n): the canonical host into u, 0 or -1. */
static int
parse_host(const char *raw, size_t n, struct gw_url_canon *u)
{
    if (n == 0 || n > RAW_HOST_MAX)
        return -1;
    if (raw[0] == '[') {
        if (n < 2 || raw[n - 1] != ']')
            return -1;
        if (ipv6_parse(raw + 1, n - 2, u->ipv6) < 0)
            return -1;
        u->host_type = GW_URL_HOST_IPV6;
        u->host_len = ipv6_serialize(u->ipv6, u->host);
        const uint16_t *a = u->ipv6;
        int zero4 = !a[0] && !a[1] && !a[2] && !a[3] && !a[4];
        if ((zero4 && a[5] == 0xffff) || (zero4 && !a[5] && (a[6] || a[7] > 1)) ||
            (a[0] == 0x64 && a[1] == 0xff9b && !a[2] && !a[3] && !a[4] && !a[5])) {
            u->has_ipv4 = 1;
            u->ipv4 = (uint32_t)a[6] << 16 | a[7];
        }
        return 0;
    }

    char dec[RAW_HOST_MAX + 1];
    size_t dn = 0;
    for (size_t i = 0; i < n; i++) {
        int h1, h2;
        if (raw[i] == '%' && i + 2 < n && (h1 = gw_hex_value((unsigned char)raw[i + 1])) >= 0 &&
            (h2 = gw_hex_value((unsigned char)raw[i + 2])) >= 0) {
            dec[dn++] = (char)(h1 * 16 + h2);
            i += 2;
            u->odd |= GW_URL_ODD_PCT_HOST;
        } else {
            dec[dn++] = raw[i];
        }
    }
    dec[dn] = '\0';
    if (memchr(dec, '\0', dn) != NULL)
        return -1; /* a NUL is forbidden, and would cut the name short for libidn2 */

    char asc[GW_URL_HOST_MAX + 3];
    int an = domain_to_ascii(dec, dn, asc, sizeof(asc), &u->odd);
    if (an <= 0)
        return -1;
    size_t m = (size_t)an;
    for (size_t i = 0; i < m; i++)
        if (forbidden_domain((unsigned char)asc[i]))
            return -1;
    if (asc[m - 1] == '.') {
        m--;
        u->odd |= GW_URL_ODD_TRAILING_DOT;
        if (m == 0 || asc[m - 1] == '.')
            return -1; /* stricter than the standard: "x.." and "." */
    }
    asc[m] = '\0';
    if (ends_in_number(asc, m)) {
        int odd = 0;
        if (ipv4_parse(asc, m, &u->ipv4, &odd) < 0)
            return -1;
        if (odd || (u->odd & GW_URL_ODD_TRAILING_DOT))
            u->odd |= GW_URL_ODD_IPV4_FORM;
        u->has_ipv4 = 1;
        u->host_type = GW_URL_HOST_IPV4;
        uint32_t a = u->ipv4;
        u->host_len = (size_t)sprintf(u->host, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255,
                                      (a >> 8) & 255, a & 255);
        return 0;
    }
    if (m > GW_URL_HOST_MAX)
        return -1;
    memcpy(u->host, asc, m + 1);
    u->host_len = m;
    u->host_type = GW_URL_HOST_DOMAIN;
    return 0;
}

/* ---- URLs ---- */

/* Path (its span), query and fragment presence from s[i..n). */
static void
parse_rest(const char *s, size_t i, size_t n, int special, struct gw_url_canon *u)
{
    size_t p = i;
    while (i < n && s[i] != '?' && s[i] != '#')
        i++;
    u->path_off = p;
    u->path_end = i;
    if (special && memchr(s + p, '\\', i - p) != NULL)
        u->odd |= GW_URL_ODD_BACKSLASH;
    u->has_path = i - p > 1 || (i - p == 1 && !is_slash((unsigned char)s[p], special));
    if (i < n && s[i] == '?') {
        u->has_query = 1;
        while (i < n && s[i] != '#')
            i++;
    }
    u->has_fragment = i < n && s[i] == '#';
}

/* The authority s[i..e) (after its slashes): user info, host and port into u. */
static int
parse_authority(const char *s, size_t i, size_t e, int special, struct gw_url_canon *u)
{
    u->has_authority = 1;
    for (size_t k = i; k < e; k++)
        if (s[k] == '@') {
            i = k + 1;
            u->odd |= GW_URL_ODD_USERINFO;
            if (i == e)
                return -1; /* user info and no host */
        }
    size_t k = i;
    int brackets = 0;
    for (; k < e; k++) {
        if (s[k] == '[')
            brackets = 1;
        else if (s[k] == ']')
            brackets = 0;
        else if (s[k] == ':' && !brackets)
            break;
    }
    if (k < e) {
        if (k == i)
            return -1; /* a port without a host */
        if (k + 1 == e)
            u->odd |= GW_URL_ODD_EMPTY_PORT;
        long port = 0;
        for (size_t j = k + 1; j < e; j++) {
            if (!is_digit((unsigned char)s[j]))
                return -1;
            port = port * 10 + (s[j] - '0');
            if (port > 65535)
                return -1;
        }
        if (k + 1 < e)
            u->port = (int)port;
    }
    if (k == i) {
        if (special)
            return -1;
        return 0; /* foo:///x: an empty host */
    }
    if (parse_host(s + i, k - i, u) < 0)
        return -1;
    if (u->port >= 0 && u->port == gw_url_default_port(u->scheme))
        u->port = -1;
    return 0;
}

/* Parses the cleaned-up URL s[0..n) into u. */
static int
parse(const char *s, size_t n, struct gw_url_canon *u)
{
    size_t i = 0;
    int special = 1; /* a relative reference is read against a special base */
    if (n > 0 && is_alpha((unsigned char)s[0])) {
        size_t j = 1;
        while (j < n && (is_alpha((unsigned char)s[j]) || is_digit((unsigned char)s[j]) ||
                         s[j] == '+' || s[j] == '-' || s[j] == '.'))
            j++;
        if (j < n && s[j] == ':') {
            if (j > GW_URL_SCHEME_MAX)
                return -1;
            for (size_t k = 0; k < j; k++)
                u->scheme[k] = (char)lower((unsigned char)s[k]);
            u->scheme[j] = '\0';
            u->special = special = is_special_scheme(u->scheme);
            i = j + 1;
        }
    }
    if (u->scheme[0] == '\0')
        u->relative = 1;

    if (strcmp(u->scheme, "file") == 0) {
        /* file state, file slash state, file host state: no user info, no port */
        if (i + 1 < n && is_slash((unsigned char)s[i], 1) && is_slash((unsigned char)s[i + 1], 1)) {
            if (s[i] == '\\' || s[i + 1] == '\\')
                u->odd |= GW_URL_ODD_BACKSLASH;
            i += 2;
            size_t e = i;
            while (e < n && !is_slash((unsigned char)s[e], 1) && s[e] != '?' && s[e] != '#')
                e++;
            u->has_authority = 1;
            if (e > i) {
                if (parse_host(s + i, e - i, u) < 0)
                    return -1;
                if (strcmp(u->host, "localhost") == 0) {
                    u->host[0] = '\0';
                    u->host_len = 0;
                    u->host_type = GW_URL_HOST_NONE;
                }
            }
            i = e;
        }
        parse_rest(s, i, n, 1, u);
        return 0;
    }

    int authority = 0;
    if (special && !u->relative) {
        /* special authority slashes, then special authority ignore slashes */
        size_t j = i;
        while (j < n && is_slash((unsigned char)s[j], 1))
            j++;
        if (j - i != 2 || s[i] != '/' || s[i + 1] != '/')
            u->odd |= GW_URL_ODD_SLASHES;
        if (memchr(s + i, '\\', j - i) != NULL)
            u->odd |= GW_URL_ODD_BACKSLASH;
        i = j;
        authority = 1;
    } else if (u->relative) {
        if (i + 1 < n && is_slash((unsigned char)s[i], 1) && is_slash((unsigned char)s[i + 1], 1)) {
            size_t j = i;
            while (j < n && is_slash((unsigned char)s[j], 1))
                j++;
            if (j - i != 2 || s[i] != '/' || s[i + 1] != '/')
                u->odd |= GW_URL_ODD_SLASHES;
            if (memchr(s + i, '\\', j - i) != NULL)
                u->odd |= GW_URL_ODD_BACKSLASH;
            i = j;
            authority = 1;
        }
    } else if (i + 1 < n && s[i] == '/' && s[i + 1] == '/') {
        i += 2;
        authority = 1;
    }
    if (authority) {
        size_t e = i;
        while (e < n && !is_slash((unsigned char)s[e], special) && s[e] != '?' && s[e] != '#')
            e++;
        if (parse_authority(s, i, e, special, u) < 0)
            return -1;
        i = e;
    }
    parse_rest(s, i, n, special, u);
    return 0;
}

static int
is_tab_nl(unsigned char c)
{
    return c == '\t' || c == '\n' || c == '\r';
}

/* The index in s of the k-th byte that the clean-up keeps of s[b..e), or e past the last one. */
static size_t
kept_index(const char *s, size_t b, size_t e, size_t k)
{
    for (size_t i = b; i < e; i++)
        if (!is_tab_nl((unsigned char)s[i]) && k-- == 0)
            return i;
    return e;
}

int
gw_url_canon(const char *s, size_t n, struct gw_url_canon *out)
{
    memset(out, 0, sizeof(*out));
    out->port = -1;
    size_t b = 0, e = n;
    while (b < e && (unsigned char)s[b] <= 0x20)
        b++;
    while (e > b && (unsigned char)s[e - 1] <= 0x20)
        e--;
    if (b > 0 || e < n)
        out->odd |= GW_URL_ODD_TRIMMED;
    int rc;
    size_t m = 0;
    for (size_t i = b; i < e; i++)
        m += !is_tab_nl((unsigned char)s[i]);
    if (m == e - b) {
        /* the common case: nothing to remove, parse in place */
        rc = parse(s + b, m, out);
        out->path_off += b;
        out->path_end += b;
    } else {
        /* tab and newline removed into a copy: on the stack unless the URL is long */
        char stack[4096];
        stack[0] = 0; /* never read before written: for GCC, which cannot see that */
        char *buf = m <= sizeof(stack) ? stack : malloc(m);
        if (buf == NULL)
            return -1;
        m = 0;
        for (size_t i = b; i < e; i++)
            if (!is_tab_nl((unsigned char)s[i]))
                buf[m++] = s[i];
        out->odd |= GW_URL_ODD_TAB_NL;
        rc = parse(buf, m, out);
        if (buf != stack)
            free(buf);
        out->path_off = kept_index(s, b, e, out->path_off);
        out->path_end = kept_index(s, b, e, out->path_end);
    }
    if (rc < 0) {
        memset(out, 0, sizeof(*out));
        out->port = -1;
    }
    return rc;
}

/* ---- paths ---- */

/* The output of the path canonicaliser: bytes past cap are dropped and remembered. */
struct path_out {
    char *p;
    size_t cap, len;
    int over;
};

static void
put(struct path_out *o, unsigned char c)
{
    if (o->len + 1 < o->cap)
        o->p[o->len++] = (char)c;
    else
        o->over = 1;
}

static void
put_escape(struct path_out *o, unsigned char c)
{
    static const char hex[] = "0123456789ABCDEF";
    put(o, '%');
    put(o, (unsigned char)hex[c >> 4]);
    put(o, (unsigned char)hex[c & 15]);
}

static int
is_unreserved(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* The standard's path percent-encode set. */
static int
path_encodes(unsigned char c)
{
    return c <= 0x20 || c >= 0x7f || strchr("\"#<>?^`{}", c) != NULL;
}

/* The first index at or after i of p[0..n) that the clean-up keeps. */
static size_t
skip_tab_nl(const char *p, size_t n, size_t i)
{
    while (i < n && is_tab_nl((unsigned char)p[i]))
        i++;
    return i;
}

/*
 * Whether the canonical path o[0..len) is ambiguous: an escape that a server may decode into a
 * separator, a dot or an escape ('/', '\', '.', '%'), a '%' that starts no escape, or a segment
 * that some servers read as a dot segment (".;x", "..;x": path parameters cut off).
 */
static int
path_ambiguous(const char *o, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (o[i] == '%') {
            int h1 = i + 1 < len ? gw_hex_value((unsigned char)o[i + 1]) : -1;
            int h2 = i + 2 < len ? gw_hex_value((unsigned char)o[i + 2]) : -1;
            if (h1 < 0 || h2 < 0)
                return 1;
            int c = h1 * 16 + h2;
            if (c == '/' || c == '\\' || c == '.' || c == '%')
                return 1;
        }
        if (o[i] == '/') {
            size_t k = i + 1, d = 0;
            while (k + d < len && d < 2 && o[k + d] == '.')
                d++;
            k += d;
            if (d > 0 && k < len &&
                (o[k] == ';' || (k + 2 < len && o[k] == '%' && o[k + 1] == '3' &&
                                 lower((unsigned char)o[k + 2]) == 'b')))
                return 1;
        }
    }
    return 0;
}

int
gw_url_path(const struct gw_url_canon *u, const char *s, size_t n, char *out, size_t cap,
            size_t *outlen)
{
    if (cap == 0 || u->path_off > u->path_end || u->path_end > n)
        return -1;
    const char *p = s + u->path_off;
    size_t pn = u->path_end - u->path_off;
    int special = u->special || u->relative;
    struct path_out o = {out, cap, 0, 0};
    size_t i = skip_tab_nl(p, pn, 0);

    if (!special && !u->has_authority && (i == pn || p[i] != '/')) {
        /* an opaque path (mailto:x): kept as written */
        for (; i < pn; i++)
            if (!is_tab_nl((unsigned char)p[i]))
                put(&o, (unsigned char)p[i]);
    } else {
        /* the path start state takes one slash, the path state a segment per slash */
        if (i < pn && is_slash((unsigned char)p[i], special))
            i++;
        for (;;) {
            size_t seg = o.len;
            int units = 0, dots = 1;
            put(&o, '/');
            for (;; i++) {
                i = skip_tab_nl(p, pn, i);
                if (i == pn || is_slash((unsigned char)p[i], special))
                    break;
                unsigned char c = (unsigned char)p[i];
                units++;
                if (c == '%') {
                    size_t j1 = skip_tab_nl(p, pn, i + 1);
                    size_t j2 = j1 < pn ? skip_tab_nl(p, pn, j1 + 1) : pn;
                    int h1 = j1 < pn ? gw_hex_value((unsigned char)p[j1]) : -1;
                    int h2 = j2 < pn ? gw_hex_value((unsigned char)p[j2]) : -1;
                    if (h1 >= 0 && h2 >= 0) {
                        c = (unsigned char)(h1 * 16 + h2);
                        dots &= c == '.';
                        if (is_unreserved(c))
                            put(&o, c);
                        else
                            put_escape(&o, c);
                        i = j2;
                        continue;
                    }
                    /* a '%' that starts no escape is a literal '%': "%25", and ambiguous */
                    dots = 0;
                    put_escape(&o, c);
                    continue;
                }
                dots &= c == '.';
                /* a '\\' here is in a non-special path: a server may still take it for '/' */
                if (path_encodes(c) || c == '\\')
                    put_escape(&o, c);
                else
                    put(&o, c);
            }
            int end = i == pn;
            if (dots && units == 2) {
                /* "..": shorten the path, and keep a trailing slash at the end */
                o.len = seg;
                while (o.len > 0 && out[o.len - 1] != '/')
                    o.len--;
                if (o.len > 0)
                    o.len--;
                if (end)
                    put(&o, '/');
            } else if (dots && units == 1) {
                o.len = seg;
                if (end)
                    put(&o, '/');
            }
            if (end)
                break;
            i++;
        }
    }
    if (o.over)
        return -1;
    out[o.len] = '\0';
    *outlen = o.len;
    return path_ambiguous(out, o.len) ? GW_URL_PATH_AMBIGUOUS : 0;
}

int
gw_url_canon_path(const char *s, size_t n, char *out, size_t cap, size_t *outlen)
{
    struct gw_url_canon u;
    if (gw_url_canon(s, n, &u) < 0)
        return -1;
    return gw_url_path(&u, s, n, out, cap, outlen);
}

/* ---- internal destinations ---- */

static int
v4_in(uint32_t a, uint32_t net, int bits)
{
    uint32_t mask = bits == 0 ? 0 : 0xffffffffu << (32 - bits);
    return (a & mask) == net;
}

static int
v4_internal(uint32_t a)
{
    static const struct {
        uint32_t net;
        int bits;
    } nets[] = {
        {0x00000000, 8},  /* 0/8 "this network", 0.0.0.0 */
        {0x0a000000, 8},  /* 10/8 */
        {0x64400000, 10}, /* 100.64/10 CGNAT */
        {0x7f000000, 8},  /* 127/8 */
        {0xa9fe0000, 16}, /* 169.254/16 link-local, 169.254.169.254 metadata */
        {0xac100000, 12}, /* 172.16/12 */
        {0xc0000000, 24}, /* 192.0.0/24 IETF protocol assignments (192.0.0.192: OCI metadata) */
        {0xc0a80000, 16}, /* 192.168/16 */
        {0xe0000000, 3},  /* 224/4 multicast, 240/4 reserved, 255.255.255.255 */
        {0x646464c8, 32}, /* 100.100.100.200 Alibaba Cloud metadata */
    };
    for (size_t i = 0; i < sizeof(nets) / sizeof(nets[0]); i++)
        if (v4_in(a, nets[i].net, nets[i].bits))
            return 1;
    return 0;
}

/* Whether the domain h (n bytes) is name or ends in "." name. */
static int
is_or_under(const char *h, size_t n, const char *name)
{
    size_t k = strlen(name);
    if (n == k)
        return memcmp(h, name, k) == 0;
    return n > k && h[n - k - 1] == '.' && memcmp(h + n - k, name, k) == 0;
}

int
gw_url_is_internal(const struct gw_url_canon *u)
{
    if (strcmp(u->scheme, "file") == 0)
        return 1;
    const char *h = u->host;
    size_t n = u->host_len;
    switch (u->host_type) {
    case GW_URL_HOST_DOMAIN: {
        static const char *const exact[] = {"metadata", "metadata.google.internal", "instance-data",
                                            "instance-data.ec2.internal"};
        for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
            if (strcmp(h, exact[i]) == 0)
                return 1;
        return is_or_under(h, n, "localhost") || is_or_under(h, n, "internal") ||
               is_or_under(h, n, "local");
    }
    case GW_URL_HOST_IPV4:
        return v4_internal(u->ipv4);
    case GW_URL_HOST_IPV6: {
        const uint16_t *a = u->ipv6;
        int zero7 = !a[0] && !a[1] && !a[2] && !a[3] && !a[4] && !a[5] && !a[6];
        if (zero7 && a[7] <= 1) /* :: and ::1 */
            return 1;
        if ((a[0] & 0xfe00) == 0xfc00 || (a[0] & 0xffc0) == 0xfe80 || (a[0] & 0xffc0) == 0xfec0 ||
            (a[0] & 0xff00) == 0xff00)
            return 1;
        return u->has_ipv4 && v4_internal(u->ipv4);
    }
    case GW_URL_HOST_NONE:
        break;
    }
    return 0;
}
