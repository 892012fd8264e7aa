/*
 * URL canonicaliser fuzzer: arbitrary bytes through gw_url_canon, gw_url_is_internal and
 * gw_url_path. A successful result's host is non-empty exactly when it has a type, and is then
 * printable ASCII without upper case or '%'; serialised as scheme://host:port/ and canonicalised
 * again it gives the same host, type, port and internal verdict. Its canonical path is its own
 * canonical path.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/url.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_url: %s failed at line %d\n", #cond, __LINE__);                  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/*
 * The canonical path: it fits or fails cleanly, starts with '/' unless opaque, and is its own
 * canonical path (same text, same ambiguity) behind "http://h".
 */
static void
check_path(const struct gw_url_canon *u, const char *s, size_t n)
{
    static char path[1 << 17], again[sizeof(path) + 16];
    size_t len = 0, len2 = 0;
    int rc = gw_url_path(u, s, n, path, sizeof(path), &len);
    CHECK(rc == 0 || rc == GW_URL_PATH_AMBIGUOUS || rc == -1);
    if (rc < 0)
        return;
    CHECK(len < sizeof(path) && path[len] == '\0');
    if (len == 0 || path[0] != '/') {
        CHECK(!u->special && !u->relative && !u->has_authority); /* opaque */
        return;
    }
    memcpy(again, "http://h", 8);
    memcpy(again + 8, path, len);
    static char path2[sizeof(path)];
    int rc2 = gw_url_canon_path(again, len + 8, path2, sizeof(path2), &len2);
    CHECK(rc2 == rc && len2 == len && memcmp(path, path2, len) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gw_url_canon u, v;
    int rc = gw_url_canon((const char *)data, size, &u);
    int in = gw_url_is_internal(&u);
    CHECK(in == 0 || in == 1);
    if (rc != 0) {
        CHECK(rc == -1 && u.host_len == 0 && in == 0);
        return 0;
    }
    CHECK(u.path_off <= u.path_end && u.path_end <= size);
    check_path(&u, (const char *)data, size);
    CHECK(u.host_len == strlen(u.host));
    CHECK((u.host_len > 0) == (u.host_type != GW_URL_HOST_NONE));
    CHECK(u.host_len <= GW_URL_HOST_MAX);
    CHECK(u.port >= -1 && u.port <= 65535);
    for (size_t i = 0; i < u.host_len; i++) {
        unsigned char c = (unsigned char)u.host[i];
        CHECK(c > 0x20 && c < 0x7f && c != '%' && !(c >= 'A' && c <= 'Z'));
    }
    if (u.host_len == 0)
        return 0;
    char again[GW_URL_SCHEME_MAX + GW_URL_HOST_MAX + 32];
    int len;
    if (u.port >= 0)
        len = snprintf(again, sizeof(again), "%s%s//%s:%d/", u.scheme, u.relative ? "" : ":",
                       u.host, u.port);
    else
        len = snprintf(again, sizeof(again), "%s%s//%s/", u.scheme, u.relative ? "" : ":", u.host);
    CHECK(len > 0 && (size_t)len < sizeof(again));
    CHECK(gw_url_canon(again, (size_t)len, &v) == 0);
    CHECK(strcmp(v.host, u.host) == 0);
    CHECK(v.host_type == u.host_type && v.port == u.port);
    CHECK(gw_url_is_internal(&v) == in);
    return 0;
}
