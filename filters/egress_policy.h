/*
 * Egress policy: which URLs may leave. A compiled allowlist over canonical URLs (filters/url.h,
 * the WHATWG parse browsers and HTTP clients do), shared by the `egress` filter (tool calls, tool
 * results, tool definitions, markdown links and images) and the `exfil` filter's allow_hosts.
 *
 * A URL is judged in this order:
 *   1. it must canonicalise (gw_url_canon): anything that does not parse cleanly is denied
 *      (GW_EGRESS_UNPARSED), and so is a URL over 64 KiB;
 *   2. its scheme must be allowed: http and https unless gw_egress_policy_scheme() set the list;
 *      an entry written with a scheme (`ftp://files.example`) allows that scheme for that entry
 *      only: a URL whose scheme is not in the list is judged against such entries alone.
 *      Otherwise GW_EGRESS_SCHEME (also when no such entry takes the URL, whatever its host).
 *      A URL without a host (mailto:, data:) is allowed when its scheme is in the list (no entry
 *      names it), except a hostless file: URL (file:///etc/passwd), which is GW_EGRESS_INTERNAL
 *      (file://host/x goes on to steps 3 and 4: only an entry naming host allows it).
 *      A protocol-relative URL (`//host/x`, `\\host`, no scheme) goes where the page's scheme
 *      takes it, http or https: it is allowed when it would be as https: or as http: (each with
 *      its default port when the URL has none); when neither, the verdict is the https one (the
 *      http one if https is not an allowed scheme). A relative reference without a host (`/x`,
 *      `x/y`, `?q`, `#f`) stays on the page's origin: GW_EGRESS_OK;
 *   3. a host inside the machine or the private network (gw_url_is_internal: loopback, private,
 *      link-local, CGNAT, metadata, *.internal, *.local, file: ...) is denied (GW_EGRESS_INTERNAL)
 *      unless an entry names it explicitly (an exact host, an IP, a CIDR range containing it, or a
 *      wildcard under which it falls) and accepts its scheme, port and path;
 *   4. with no entries at all, every other host is allowed; with entries, one must match
 *      (GW_EGRESS_NOT_ALLOWED otherwise).
 *
 * Entries (gw_egress_policy_allow), matched after the same canonicalisation as URLs:
 *   docs.example.com        exact host: not its subdomains
 *   *.example.com           any subdomain at any depth, not example.com itself ('*' only as a
 *                           whole first label, never on an IP address)
 *   10.1.2.3, [::1], ::1    an IP address (IPv4 in any form a URL may use: 0x7f.1 is 127.0.0.1):
 *                           IP literals in URLs match only IP entries, domains only domain
 *                           entries (IPv4-mapped / compatible / NAT64 IPv6 forms of an IPv4
 *                           address match the IPv4 entry; an IPv4 URL does not match an IPv6
 *                           entry such as ::ffff:10.1.2.3)
 *   10.0.0.0/8, [fd00::]/8  a CIDR range (IPv6 prefix written with or without brackets; host
 *                           bits past the prefix are ignored); after an IP address, '/' and a
 *                           digit always start a prefix length, and a range takes no path
 *   host:8443               any of the above with a port: only that port (the scheme's default
 *                           port when the URL has none; a URL of a scheme without a default
 *                           port and without a port matches no port entry); without a port,
 *                           any port. A range's port follows the prefix (`10.0.0.0/8:8443`); a
 *                           bare IPv6 address takes none (write `[::1]:8443`)
 *   https://host[:port]/p/  with a scheme: that scheme only. With a path prefix (after any of
 *                           the above but a range, with or without a scheme: `host/p/`): the
 *                           URL's path must be the prefix or lie under it, segment-wise (`/p`
 *                           covers `/p` and `/p/x`, not `/px`; `/p/` covers `/p/` and `/p/x`),
 *                           compared after dot-segment removal (`/p/../q` is `/q`) and the
 *                           decoding of percent-escaped unreserved characters (gw_url_path); a
 *                           path with an encoded '/', '\', '.' or '%' left in it, or a `..;`
 *                           segment, never matches a path entry, nor does one over 8 KiB.
 * Hosts in entries go through IDNA like URL hosts (münchen.de = xn--mnchen-3ya.de), case and one
 * trailing dot folded, percent-escapes decoded. An entry never holds spaces, controls, '\', user
 * info (an '@' before the path), a query or a fragment. Adding an entry that is already there
 * (after canonicalisation: `Docs.Example.com.` is `docs.example.com`, `10.0.0.1/32` is
 * `10.0.0.1`) changes nothing.
 *
 * The policy is immutable once built: threads share it without locks. Checks allocate nothing
 * themselves; gw_url_canon does only for IDNA (a host with non-ASCII or xn-- labels: libidn2) and
 * for a URL over 4 KiB with a tab or newline inside.
 */
#ifndef GW_EGRESS_POLICY_H
#define GW_EGRESS_POLICY_H

#include <stddef.h>

enum gw_egress_why {
    GW_EGRESS_OK = 0,
    GW_EGRESS_UNPARSED,    /* not a URL that parses cleanly */
    GW_EGRESS_SCHEME,      /* scheme not allowed */
    GW_EGRESS_INTERNAL,    /* internal destination not explicitly allowed */
    GW_EGRESS_NOT_ALLOWED, /* host / port / path not in the allowlist */
};

/* "ok", "unparsed", "scheme", "internal", "not_allowed" (static strings). */
const char *gw_egress_why_name(enum gw_egress_why w);

struct gw_egress_policy;

/* An empty policy (no entries: every public http(s) URL allowed), NULL when out of memory. */
struct gw_egress_policy *gw_egress_policy_new(void);
void gw_egress_policy_free(struct gw_egress_policy *p);

/*
 * Adds one entry (len bytes, see above). 0, or -1 with a reason in err (errlen bytes,
 * NUL-terminated) and the policy unchanged: empty, a malformed wildcard (`*`, `*.`, `a*b`,
 * `*x.com`, `x.*.com`, a wildcard on an IP address), a host that does not canonicalise or has an
 * empty label, user info, a query or fragment, a space, control or '\', a bad scheme, port
 * (1 to 65535) or prefix length, a range with a path, an ambiguous path (see above), or no
 * memory.
 * Not thread-safe: build, then share.
 */
int gw_egress_policy_allow(struct gw_egress_policy *p, const char *entry, size_t len, char *err,
                           size_t errlen);

/*
 * Adds one allowed scheme (letters, digits, '+', '-', '.'; case folded). The first call replaces
 * the default list (http, https). 0, or -1 with a reason in err.
 */
int gw_egress_policy_scheme(struct gw_egress_policy *p, const char *scheme, size_t len, char *err,
                            size_t errlen);

/* How many distinct entries the policy holds. */
size_t gw_egress_policy_count(const struct gw_egress_policy *p);

/* 1 when an entry has a path prefix (a URL cut short cannot be judged before its path ends). */
int gw_egress_policy_has_paths(const struct gw_egress_policy *p);

/*
 * Judges the URL url (n bytes, any bytes). flags: GW_EGRESS_BARE when the text is a bare host
 * with an optional port and path (`www.example.com/x`, `10.0.0.1:8080`): judged as if "//"
 * preceded it (after its leading spaces and controls; a bare text over 4 KiB is
 * GW_EGRESS_UNPARSED). p must not be NULL. Thread-safe; allocation-free (see above).
 */
#define GW_EGRESS_BARE 0x1u
enum gw_egress_why gw_egress_check(const struct gw_egress_policy *p, const char *url, size_t n,
                                   unsigned flags);

#endif
