/*
 * Fuzzer for the patterns filter's anchor reader (anchors_of: the literals every match of a regex
 * begins with, which decide how much of a stream is held back). Input: a regex, a NUL byte, then
 * a text. Checks: no crash, anchors of ANCHOR_MIN..ANCHOR_MAX-1 bytes, and — the property the
 * streaming hold relies on — when Hyperscan compiles the regex, every match it finds in the text
 * (with its leftmost start) begins with one of the anchors. A wrong anchor would let a stream
 * release the beginning of a match before it is recognised.
 *
 * The file includes filters/flt_patterns.c to reach its static functions.
 */
#include "filters/flt_patterns.c"

struct hit {
    char (*anchors)[ANCHOR_MAX];
    size_t n;
    const char *text;
    size_t len;
};

static int
on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags, void *arg)
{
    (void)id, (void)flags;
    const struct hit *h = arg;
    if (from == to)
        return 0; /* an empty match has no first byte */
    for (size_t k = 0; k < h->n; k++) {
        size_t m = strlen(h->anchors[k]);
        if (to - from >= m && memcmp(h->text + from, h->anchors[k], m) == 0)
            return 0;
    }
    fprintf(stderr, "match [%llu, %llu) begins with none of the %zu anchors\n", from, to, h->n);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    if (!nul || nul - data > 300)
        return 0;
    const char *re = (const char *)data;
    const char *text = (const char *)nul + 1;
    size_t len = size - (size_t)(nul - data) - 1;
    char anchors[PREFIX_MAX][ANCHOR_MAX];
    size_t n = anchors_of(re, anchors);
    if (n > PREFIX_MAX)
        abort();
    for (size_t k = 0; k < n; k++) {
        size_t m = strlen(anchors[k]);
        if (m < ANCHOR_MIN || m >= ANCHOR_MAX)
            abort();
    }
    if (n == 0)
        return 0;
    hs_database_t *db = NULL;
    hs_compile_error_t *err = NULL;
    if (hs_compile(re, HS_FLAG_SOM_LEFTMOST | HS_FLAG_ALLOWEMPTY, HS_MODE_BLOCK, NULL, &db, &err) !=
        HS_SUCCESS) {
        hs_free_compile_error(err);
        return 0;
    }
    hs_scratch_t *scratch = NULL;
    if (hs_alloc_scratch(db, &scratch) == HS_SUCCESS) {
        struct hit h = {anchors, n, text, len};
        hs_scan(db, len ? text : "", (unsigned)len, 0, scratch, on_match, &h);
    }
    hs_free_scratch(scratch);
    hs_free_database(db);
    return 0;
}
