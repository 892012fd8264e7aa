/*
 * Where a URL's parts are, the way a browser finds them: the exfil filter's markdown machine
 * splits destinations with it (query, fragment, path segments: the data a URL carries), and asks
 * the egress policy (filters/egress_policy.h, on the WHATWG canonicaliser of filters/url.h)
 * whether the destination may receive it.
 *
 * gw_url_parse (WHATWG URL parsing, the parts that decide where a request goes): ASCII tab and
 * newline anywhere are ignored, leading and trailing C0 controls and spaces are trimmed, the
 * scheme is case-insensitive, after a special scheme (http, https, ws, wss, ftp, file) any run of
 * '/' and '\' introduces the authority (so `https:evil.example` and `https:/\evil.example` reach
 * evil.example, as they do from a page of another scheme), '\' ends the authority like '/', a
 * reference that starts with two slashes (either kind) is protocol-relative, and the host is what
 * follows the last '@' of the authority. The host is canonicalised only as far as it can be
 * without IDNA or IP parsing: lower case, one trailing dot dropped; a host that needs more
 * (percent-escapes, non-ASCII, characters other than letters, digits, '-', '_' and '.', empty
 * labels, a port that is not digits) is reported as not clean. It also says whether the
 * authority is complete (a stream may have cut the text inside it).
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

#endif
