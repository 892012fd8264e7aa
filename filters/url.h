/*
 * URL canonicalisation the way browsers and HTTP clients find where a URL goes (the WHATWG URL
 * standard's basic URL parser, the parts that decide the destination), and a test for
 * destinations inside the machine, the private network or the cloud's metadata service.
 *
 * gw_url_canon follows the standard for the special schemes (http, https, ws, wss, ftp, and
 * file): leading and trailing C0 controls and spaces trimmed, ASCII tab and newline removed
 * anywhere, the scheme lower-cased, '\' read as '/', any run of slashes after the scheme
 * accepted, user info dropped (the host follows the last '@' of the authority), the port parsed
 * and the scheme's default port dropped, the host percent-decoded, mapped by IDNA (UTS #46,
 * non-transitional, through libidn2) and checked for forbidden code points, a host that ends in
 * a number parsed as IPv4 (decimal, 0x hex, 0-prefixed octal, 1 to 4 parts), a bracketed host
 * parsed as IPv6. A reference without a scheme is parsed as if its base URL had a special
 * scheme (what a web page's is): `//host`, `\\host` and `/\host` reach host; the scheme stays
 * empty and `relative` is set, for the caller to decide. Other schemes are kept opaque: the
 * scheme is recorded and a `//authority` is parsed as above (stricter than the standard's
 * opaque host, which is neither decoded nor mapped: a host the standard would take verbatim may
 * fail here).
 *
 * Deliberate differences, all towards failing: libidn2 checks hyphens and label lengths
 * (`-x.münchen.de` fails; the standard's ASCII fast path is kept, so `-x.example` passes), more
 * than one trailing dot fails, a host over 253 bytes (after IDNA) or over 1023 bytes as written
 * fails, a scheme over 31 bytes fails. `file:` Windows drive letters are not special-cased.
 */
#ifndef GW_URL_H
#define GW_URL_H

#include <stddef.h>
#include <stdint.h>

#define GW_URL_SCHEME_MAX 31
#define GW_URL_HOST_MAX 253 /* a domain without its trailing dot; "[IPv6]" is at most 41 */

enum gw_url_host_type {
    GW_URL_HOST_NONE = 0, /* no authority (mailto:, data:, a relative path) or an empty host
                           * (file:///x, foo:///x) */
    GW_URL_HOST_DOMAIN,   /* ASCII, lower case, A-labels, no trailing dot */
    GW_URL_HOST_IPV4,     /* dotted quad */
    GW_URL_HOST_IPV6,     /* "[...]", compressed as the standard serialises it */
};

/*
 * Things the standard tolerates (with a validation error, or quietly) that a plain URL has no
 * reason to contain: a strict policy can deny a URL with any of them.
 */
#define GW_URL_ODD_TRIMMED 0x0001u   /* leading or trailing C0 control or space */
#define GW_URL_ODD_TAB_NL 0x0002u    /* tab, CR or LF removed from inside */
#define GW_URL_ODD_BACKSLASH 0x0004u /* '\' read as '/' */
#define GW_URL_ODD_SLASHES 0x0008u   /* not exactly "//" before the authority */
#define GW_URL_ODD_USERINFO 0x0010u  /* user info (dropped) */
#define GW_URL_ODD_PCT_HOST 0x0020u  /* percent-escapes in the host */
#define GW_URL_ODD_IDNA 0x0040u      /* non-ASCII host, or A-labels (xn--) written */
#define GW_URL_ODD_IPV4_FORM 0x0080u /* IPv4 written other than as four decimal parts */
#define GW_URL_ODD_TRAILING_DOT 0x0100u
#define GW_URL_ODD_EMPTY_PORT 0x0200u /* "host:" */

struct gw_url_canon {
    char scheme[GW_URL_SCHEME_MAX + 1]; /* lower case; "" when relative */
    int relative;                       /* no scheme: parsed against a special base */
    int special;                        /* http, https, ws, wss, ftp or file */
    int has_authority;                  /* "//" (or its special-scheme equivalents) */
    enum gw_url_host_type host_type;
    char host[GW_URL_HOST_MAX + 1]; /* NUL-terminated, "" for GW_URL_HOST_NONE */
    size_t host_len;
    int port;         /* -1: none, or the scheme's default */
    uint32_t ipv4;    /* the IPv4 address (host order), when has_ipv4 */
    int has_ipv4;     /* an IPv4 host, or an IPv6 one with an IPv4 address in it
                       * (::ffff:a.b.c.d mapped, ::a.b.c.d compatible, 64:ff9b::/96 NAT64) */
    uint16_t ipv6[8]; /* the IPv6 address, when GW_URL_HOST_IPV6 */
    int has_path;     /* a path other than "" or "/" (or an opaque path: mailto:x) */
    int has_query;    /* a '?' */
    int has_fragment; /* a '#' */
    unsigned odd;     /* GW_URL_ODD_* */
    size_t path_off;  /* the path's bytes in the text given, [path_off, path_end): tab and */
    size_t path_end;  /* newline bytes inside included, query and fragment not */
};

/*
 * Canonicalises the n bytes of s (any bytes, not NUL-terminated; read as UTF-8) into *out.
 * Returns 0, or -1 when the standard's parser fails (or one of the differences above), with
 * *out then holding nothing useful. Allocates nothing that outlives the call, and nothing at all
 * unless the host needs IDNA (non-ASCII or xn-- labels: libidn2 allocates) or the URL has a tab
 * or newline inside and is over 4 KiB (the copy without them); thread-safe.
 */
int gw_url_canon(const char *s, size_t n, struct gw_url_canon *out);

/* The scheme's default port: http and ws 80, https and wss 443, ftp 21; -1 for the others. */
int gw_url_default_port(const char *scheme);

/*
 * The standard's IPv4 number parser on p[0..n) (decimal, 0x hex, 0-prefixed octal): 0 with the
 * value in *v (saturated above 2^32), or -1. Hex and octal forms set *odd.
 */
int gw_url_ipv4_number(const char *p, size_t n, uint64_t *v, int *odd);

/*
 * The canonical path of a URL, for comparing it with a path prefix. u is what gw_url_canon(s, n,
 * u) returned 0 for, with the same s and n. Writes the path NUL-terminated into out (cap bytes,
 * the NUL included) and its length to *outlen. The path is the standard's: tab and newline
 * removed, '\' a separator where the URL is special (and for a reference without a scheme),
 * dot segments removed ("." and "..", each dot also as %2e in either case: "/a/%2E%2e/b" is
 * "/b"), one '/' first, no query or fragment; an empty path is "/", and a relative reference's
 * path is taken as if against "/" ("x/../y" is "/y"). Then, for comparison: escapes of
 * unreserved characters (letters, digits, '-', '.', '_', '~') are decoded, other escapes keep
 * their byte with upper-case hex, and the bytes the standard's path percent-encode set names
 * (controls, space, non-ASCII, '"', '<', '>', '^', '`', '{', '}') are escaped, as are a '%' that
 * starts no escape ("%25") and a '\' in a non-special path ("%5C"). An opaque path (a
 * non-special scheme without "//" or a leading '/': mailto:x, data:...) is kept as written.
 * Returns 0, GW_URL_PATH_AMBIGUOUS when the path is written but a server could read it otherwise
 * than this (it still holds %2F, %5C, %2E or %25, a '%' that starts no escape, or a segment that
 * is "." or ".." followed by ';' or %3B, which servers that cut path parameters read as a dot
 * segment): never take such a path to be under a prefix; or -1 when the path does not fit in
 * cap. Allocates nothing; thread-safe.
 */
#define GW_URL_PATH_AMBIGUOUS 1
int gw_url_path(const struct gw_url_canon *u, const char *s, size_t n, char *out, size_t cap,
                size_t *outlen);

/* gw_url_canon then gw_url_path: the same results, and -1 when s does not canonicalise. */
int gw_url_canon_path(const char *s, size_t n, char *out, size_t cap, size_t *outlen);

/*
 * 1 when u's destination is inside: loopback (127/8, ::1, localhost, *.localhost), private
 * (10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10), link-local (169.254/16, fe80::/10), CGNAT
 * (100.64/10), unspecified (0/8, ::), multicast, reserved and broadcast (224/3, ff00::/8), the
 * cloud metadata services (169.254.169.254, fd00:ec2::254, 100.100.100.200, metadata,
 * metadata.google.internal, instance-data), the private-use names *.internal and *.local, IPv6
 * forms of those IPv4 addresses (mapped, compatible, NAT64), and file: URLs. 0 otherwise, and
 * for URLs without a host (mailto:, relative paths).
 */
int gw_url_is_internal(const struct gw_url_canon *u);

#endif
