/*
 * SSE framer fuzzer, differential: the event boundaries found when the stream arrives in one
 * piece must be exactly those found when it arrives in pieces of any size.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/sse.h"

/* Marks every boundary offset by scanning with the given piece size. */
static void
boundaries(const char *d, size_t n, size_t step, unsigned char *mark)
{
    struct gw_sse s;
    gw_sse_init(&s);
    memset(mark, 0, n + 1);
    for (size_t off = 0; off < n; off += step) {
        size_t len = n - off < step ? n - off : step;
        size_t end = gw_sse_scan(&s, d + off, len);
        if (end > len)
            abort();
        if (end)
            mark[off + end] = 1;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (data[0] % 32) + 1;
    const char *d = (const char *)data + 1;
    size_t n = size - 1;
    unsigned char *a = malloc(n + 1), *b = malloc(n + 1);
    /* Scanning in one piece reports the last boundary; in pieces, the last of each piece. The
     * overall last boundary must be the same either way, and byte-by-byte (every boundary) must
     * agree with it too. */
    boundaries(d, n, n ? n : 1, a);
    boundaries(d, n, step, b);
    size_t last_a = 0, last_b = 0;
    for (size_t i = 0; i <= n; i++) {
        if (a[i])
            last_a = i;
        if (b[i])
            last_b = i;
    }
    if (last_a != last_b)
        abort();
    free(a);
    free(b);
    return 0;
}
