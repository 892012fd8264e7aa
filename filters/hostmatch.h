/*
 * Hosts of URLs, and allowlists of hosts.
 *
 * gw_url_parse splits a URL the way a browser would find its host (WHATWG URL parsing, the parts
 * that decide where a request goes): ASCII tab and newline anywhere are ignored, leading and
 * trailing C0 controls and spaces are trimmed, the scheme is case-insensitive, after a special
 * scheme (http, https, ws, wss, ftp, file) any run of '/' and '\' introduces the authority (so
 * `https:evil.example` and `https:/\evil.example` reach evil.example, as they do from a page of
 * another scheme), '\' ends the authority like '/', a reference that starts with two slashes
 * (either kind) is protocol-relative, and the host is what follows the last '@' of the authority.
 * The host is then canonicalised only as far as it can be without IDNA or IP parsing: lower case,
 * one trailing dot dropped. A host that needs more (percent-escapes, non-ASCII, characters other
 * than letters, digits, '-', '_' and '.', empty labels, a port that is not digits) is reported as
 * not clean, and an allowlist never allows it: the safe answer for a host we cannot be sure
 * about. A later WHATWG canonicaliser can replace that judgement behind the same interface.
 *
 * gw_hostmatch is a compiled allowlist: exact hosts (`docs.example.com`, which does not cover
 * its subdomains) and wildcards (`*.example.com`: any subdomain, at any depth, but not
 * example.com itself), case-insensitive, trailing dots ignored; IPv6 literals in brackets match
 * as written. Lookups are binary searches, one per label of the host; the allowlist is immutable
 * after it is built, so threads share it without locks.
 */
#ifndef GW_HOSTMATCH_H
#define GW_HOSTMATCH_H

#include <stddef.h>

#define GW_HOST_MAX 253 /* longest DNS name, without the trailing dot */

enum gw_url_kind {
    GW_URL_RELATIVE = 0, /* no scheme and no authority: resolved against the page */
    GW_URL_NO_HOST,      /* a scheme without an authority: mailto:, data:, javascript:, tel: */
    GW_URL_HOST,         /* an authority: scheme://host..., a special scheme, or //host... */
};

/*
 * A parsed URL. Offsets index the text handed to gw_url_parse (tab and newline bytes inside a
 * part are counted in its span but not in the *_len "significant" lengths).
 */
struct gw_url {
    enum gw_url_kind kind;
    int host_ok;                /* GW_URL_HOST with a host that parsed cleanly */
    char host[GW_HOST_MAX + 3]; /* host_ok: canonical host, NUL-terminated ("[::1]" as written) */
    size_t host_len;
    int authority_done;          /* something ended the authority ('/', '\', '?', '#'): the host
                                  * is complete even if the text was cut after it */
    size_t path_off, path_end;   /* the path: [path_off, path_end) ("" when empty) */
    int has_query, has_fragment; /* a '?' / '#' was seen */
    size_t query_off, query_end; /* after the '?', up to '#' or the end */
    size_t query_len;            /* significant bytes of the query (0: none or empty) */
    size_t frag_off, frag_end;   /* after the '#' */
    size_t frag_len;
};

/*
 * Parses len bytes of url (not NUL-terminated; any bytes) into *u. Returns u->kind. Never fails:
 * text that is not a URL at all is GW_URL_RELATIVE.
 */
enum gw_url_kind gw_url_parse(const char *url, size_t len, struct gw_url *u);

struct gw_hostmatch;

/* An empty allowlist (allows nothing), or NULL when out of memory. */
struct gw_hostmatch *gw_hostmatch_new(void);

/*
 * Adds one pattern (len bytes): `host`, `*.host`, or `[IPv6]`. Returns 0, or -1 with a reason in
 * err (errlen bytes, NUL-terminated): empty, `*` or `*.` alone, a wildcard that is not a whole
 * leading label (`a*b`, `*x.com`, `x.*.com`), a URL, a port or user info, characters outside
 * letters, digits, '-', '_' and '.', an empty or over-long label, a name over 253 bytes, or no
 * memory. Not thread-safe: build the list, then share it.
 */
int gw_hostmatch_add(struct gw_hostmatch *m, const char *pattern, size_t len, char *err,
                     size_t errlen);

/* How many distinct patterns the list holds. */
size_t gw_hostmatch_count(const struct gw_hostmatch *m);

/* 1 when host (len bytes, canonical as gw_url_parse writes it) is allowed, else 0. NULL m: 0. */
int gw_hostmatch_host(const struct gw_hostmatch *m, const char *host, size_t len);

/* 1 when url (len bytes) has a clean host that m allows; 0 for every other URL, relative ones
 * and those without a host included. */
int gw_hostmatch_url(const struct gw_hostmatch *m, const char *url, size_t len);

void gw_hostmatch_free(struct gw_hostmatch *m);

#endif
