/*
 * Finding URLs in text the model wrote or read: tool-call arguments (JSON, possibly nested: a
 * string value that is itself JSON), tool results and tool definitions. Used by the `egress`
 * filter; the decision about each URL is filters/egress_policy.h's. The finder only finds spans
 * and does not validate them: it errs on the side of finding (a span that does not parse is
 * denied by the policy, the safe side) but leaves ordinary prose, paths and numbers alone.
 *
 * What counts as a URL in free text (gw_urlfind_next):
 *   - a scheme, ":" and "//" (any scheme: gopher://, dict://, ldap://, svn+ssh://, c://...).
 *     The scheme is the run of letters, digits, '+', '-' and '.' before the ':', from its first
 *     letter (so "1https://x" gives "https://x"; "x-https://x" is the scheme x-https), without a
 *     JSON escape letter that a backslash before the run owns ("\nhttps://x", raw JSON read as
 *     text). The slashes may be written as "\/" (JSON) or as backslashes (`https:\\\\`,
 *     `gopher:\\x`), except after a one-letter scheme: `C:\Users` is a Windows path, not a URL
 *     (`C:/x` has one slash: not a URL either);
 *   - a special scheme (http, https, ws, wss, ftp; any case) ":" and anything that does not
 *     end a URL (`https:evil.example`, which browsers resolve to https://evil.example;
 *     `HTTP:8080`); file: needs at least one slash (`file:/etc/passwd`, not `file:notes.txt`,
 *     which has no host);
 *   - in both cases something must follow the slashes: "http://" alone (prose about schemes) is
 *     not a URL;
 *   - two or more slashes ('/', '\', "\/") followed by a host character (letter, digit,
 *     non-ASCII, '[', '%', '_', '@'), at the start of the text or after white space (ASCII or
 *     Unicode), a quote ('"', '\'', '`'), '(', '<', '>', '[', '=', ',' or the JSON escapes \n,
 *     \t, \r (protocol-relative: `//evil`, `\\evil`, `\/\/evil`; not "a//b" inside a word, nor
 *     "// comment" with a space). GW_URLFIND_BARE is NOT set, the span includes the slashes;
 *   - "www." (any case) followed by a letter, digit or non-ASCII byte, starting a word (not
 *     after a letter, digit, '+', '-', '.', '/', '\', '@', '_' or non-ASCII other than a Unicode
 *     space; after the JSON escapes \n, \t, \r it does):
 *     GW_URLFIND_BARE (judge as "//" + span).
 *   Bare hosts (`evil.example/x`, `10.0.0.1`) are not looked for in free text: too much prose
 *   looks like them (file names, versions, numbers, `curl 10.0.0.1` in a shell command is not
 *   found). Nor are mailto:, data: or javascript: URLs (no "//": no host to judge).
 *   A URL ends at ASCII white space, a control character (NUL included), '"', '\'', '<', '>',
 *   '`', '{', '}', '|', '^', a backslash followed by '"' (a JSON-escaped quote in JSON text read
 *   as text), a Unicode space (U+00A0, U+2000 to U+200A, U+2028, U+2029, U+202F, U+205F,
 *   U+3000) or the end of the text; then trailing sentence punctuation ('.', ',', ';', ':',
 *   '!', '?', and their CJK / full-width forms U+3001, U+3002, U+FF01, U+FF0C, U+FF0E, U+FF1A,
 *   U+FF1B, U+FF1F, with the closing U+FF09, U+300D, U+300F, U+3011), and a ')' or ']' without
 *   its opening partner inside the URL, are dropped from the span. A URL inside a URL (a
 *   redirect target in a query) is part of the outer span.
 *
 * Whole values (gw_urlfind_whole): a string that, trimmed of spaces and C0 controls, is
 * a bare host with an optional port and path:
 *   host: an IPv6 literal in brackets (hex digits, ':' and '.', at least two ':'); an IPv4
 *     address in any form the URL standard reads (1 to 4 parts, decimal, 0x hex or 0-prefixed
 *     octal, each part in range: `10.0.19041.1` is not one); a domain (labels of letters,
 *     digits, '-', '_' and non-ASCII, separated by '.' or the dots IDNA maps to '.': U+3002,
 *     U+FF0E, U+FF61; no empty label but one trailing dot; at least two labels; the last one at
 *     least two letters or non-ASCII bytes, or an xn-- label); or a single label. Percent-escapes
 *     are decoded first (`%31%32%37.0.0.1`); a host that ends in a number but is no valid IPv4
 *     address (`a.1`, `09.1.1.1`) fails the URL standard: not a URL.
 *   then nothing, or ':' and a port (digits; none: "host:"), then nothing, or '/', '\', '?' or
 *   '#' and anything (spaces included). No user info (`alice@example.com` is an e-mail
 *   address), no scheme (gw_urlfind_next finds those).
 *   Which count (hint: the JSON key names a URL or host, see gw_urlfind_key_hint):
 *     - an IPv6 literal: always;
 *     - a dotted quad: with a port or path, with the hint, or when a part is written 0x or
 *       0-prefixed octal (`0177.0.0.1`); alone (`10.0.0.1`, `255.255.255.0`, `0.0.0.0`) it is
 *       as often a netmask, a version or a bind address as a destination;
 *     - IPv4 of 2 or 3 parts (`127.1`, and so `3.14`, `1.2.3`): with a port or path, with the
 *       hint, or when a part is written 0x or octal (`0x7f.1`);
 *     - IPv4 of one part (a number): when it is at least 2^24 or written 0x and has a port or
 *       path or the hint (`2130706433:80`, `0x7f000001/x`; `2130706433` alone is a number), or
 *       with a port of 60 or more (`0:8080`; `10:30` and `16:9` are a time and a ratio);
 *     - a domain: with a port, or a path starting '/', '\' or '?'; alone, with an empty port or
 *       with only a '#' fragment (which sends nothing more to the host) only with the hint, so
 *       that "notes.md", "README.md#install" and "Node.js" stay text;
 *     - a single label: `localhost` with a port or path, or alone with the hint; another label
 *       with a port of 80 or more (`db:5432`, `redis:6379`; not `Page:12`), or any port with
 *       the hint. `localhost:8080` is a classic SSRF target; single labels without a port
 *       (`src/main.c`, `target: main`) are not.
 */
#ifndef GW_URLFIND_H
#define GW_URLFIND_H

#include <stddef.h>

#define GW_URLFIND_BARE 0x1u /* no scheme and no "//": judge as "//" + span */

/*
 * Finds the next URL in t (n bytes, any bytes, not NUL-terminated) at or after *pos. Returns 1
 * with its span [*off, *off + *len) (*len > 0, *off >= the *pos given) and *flags
 * (GW_URLFIND_*), *pos moved to the end of the span; 0 when there is none more (*pos = n). No
 * URL starts before *pos (a scheme is read from *pos on); the bytes before *pos are only looked
 * at to decide whether a word starts at *pos. Allocates nothing; thread-safe.
 */
int gw_urlfind_next(const char *t, size_t n, size_t *pos, size_t *off, size_t *len,
                    unsigned *flags);

/* 1 when the whole string s (n bytes) is a bare host / IP URL as described above (span in
 * *off, *len: s without the spaces and C0 controls around it; to be judged with GW_URLFIND_BARE),
 * else 0. Allocates nothing; thread-safe. */
int gw_urlfind_whole(const char *s, size_t n, int hint, size_t *off, size_t *len);

/* 1 when a JSON key (n bytes, decoded) names a URL or a host: it contains, case-insensitively,
 * url, uri, link, href, host, domain, endpoint, server, site, address, src, webhook, callback,
 * redirect, origin or location, or has "ip" as a word (ip, ip_addr, server_ip, serverIp; not
 * zip or script) (so also image_url, srcset, website, email_address: a hint only
 * widens what gw_urlfind_whole takes; "target" and "destination" name files as often as hosts,
 * and are not hints). */
int gw_urlfind_key_hint(const char *key, size_t n);

/*
 * A URL found by gw_urlfind_text / gw_urlfind_json, handed to the visitor: url (len > 0 bytes,
 * not NUL-terminated, valid only during the call) with flags. In JSON it is the decoded text
 * (escapes resolved; tab and newline bytes a URL parser would remove are left in it).
 * offset: the URL's position in the input when its bytes are there as handed over (free text;
 * a JSON string without escapes), else the position of the first byte after the opening quote
 * of the top-level JSON string that holds it (a string with escapes, or JSON nested in one).
 * The visitor returns 0 to keep the URL, a positive value to have it replaced by the marker, a
 * negative value to stop.
 */
typedef int (*gw_urlfind_visit)(void *ctx, const char *url, size_t len, unsigned flags,
                                size_t offset);

/*
 * Visits every URL gw_urlfind_next finds in the free text t (n bytes). v may be NULL (counting
 * only); marker NULL is "". When the visitor asked for a replacement and out is not NULL, *out
 * is a malloc'd copy of t with those spans replaced by marker (NUL-terminated, *outlen bytes
 * when outlen is not NULL; the caller frees it); else *out is NULL. Returns the number of URLs
 * visited, or -1 (no memory, or the visitor stopped: *out NULL). Allocates only for *out.
 */
long gw_urlfind_text(const char *t, size_t n, gw_urlfind_visit v, void *ctx, const char *marker,
                     char **out, size_t *outlen);

/*
 * Visits every URL in the JSON text j (n bytes).
 *
 * JSON (the first non-space byte is '{', '[' or '"') is walked lexically, without building a
 * tree, so that nothing a lenient parser would read escapes: duplicate keys (every value is
 * visited), NUL bytes in keys, lone surrogates, NaN, numbers of any size, and text that is not
 * quite JSON (the bytes between strings are read as free text). Every string is decoded (\uXXXX
 * and \/ resolved) and read:
 *   - a key: through gw_urlfind_next;
 *   - a value: as a whole value (gw_urlfind_whole with the hint of its key; an array's elements,
 *     at any depth of arrays, inherit the hint of the array's key; an object's members use their
 *     own keys), and through gw_urlfind_next (a URL found both ways, at the same place, is
 *     visited once, as the whole value; a URL inside a whole value is visited too);
 *   - both: a string that starts with a URL is taken as a URL parser given the whole string
 *     takes it: when its authority goes on past the URL's end (past a space, a quote...) and
 *     holds an '@', the span runs on past that '@' ("https://ok.example @evil.example/x" is one
 *     URL, to evil.example); and a string in which nothing was found that is one word broken
 *     only by tab and newline bytes (which URL parsers remove anywhere) is read again without
 *     them ("h\tttps:evil.example", "10.0.0.\n1": the span handed over keeps them);
 *   - a value whose first non-space character is '{' or '[' (but which is no IPv6 host) is JSON
 *     nested in a string and walked the same way, its root inheriting the string's hint, up to
 *     8 levels of nesting (the input is level 0); a string deeper than that is read as a value.
 * Numbers, true, false and null are never URLs. Beyond 256 levels of objects and arrays, keys
 * can no longer be told from values: every string there is read as a value with the hint, and is
 * never replaced (-2).
 * Anything else is free text, read undecoded: the whole text as a whole value without the hint
 * (a tool result that is just `10.0.0.1:8080`), and gw_urlfind_next's URLs, with escapes such
 * as `\/` and `\\` left as they are (the URL then holds them; the policy reads '\' as '/');
 * neither the '@' rule nor the second reading without tab and newline bytes applies (they would
 * join the lines of, say, a file listing).
 *
 * Replacements (the visitor's positive answer, out not NULL): the span is replaced by marker in
 * the decoded string, which is then encoded again ('"', '\', controls and lone surrogates
 * escaped, everything else as UTF-8) and put in place of the string's body; a nested JSON
 * string is edited the same way inside, then encoded as a whole. Everything else, formatting
 * and numbers included, is copied unchanged, so JSON in gives JSON out. Overlapping spans (a
 * whole value and a URL inside it) become one marker. Free text is edited like gw_urlfind_text.
 * *out as for gw_urlfind_text; NULL when nothing was replaced.
 * Returns the number of URLs visited, -1 (no memory, or the visitor stopped) or -2: a
 * replacement that cannot be written, i.e. asked for a key (keys are never replaced), for a
 * string beyond the 256 levels above, or with a marker that is not UTF-8 inside a JSON string;
 * the walk stops there (or, for the marker, after the string), *out is NULL. Without out, a
 * positive answer is only counted, never -2. Allocates a copy of strings that hold escapes or
 * nested JSON, and what *out needs; thread-safe.
 */
long gw_urlfind_json(const char *j, size_t n, gw_urlfind_visit v, void *ctx, const char *marker,
                     char **out, size_t *outlen);

#endif
