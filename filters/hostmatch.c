/*
 * URL hosts: where a browser finds them (see hostmatch.h).
 */
#include "filters/hostmatch.h"

#include <string.h>

#define LABEL_MAX 63

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
