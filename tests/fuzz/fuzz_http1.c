/*
 * Request parser fuzzer: the input is a connection's byte stream, fed in pieces whose sizes come
 * from the first byte, with pipelined requests handled the way conn.c does. Properties: no crash
 * or sanitizer report, consumed never exceeds what was fed, errors carry a 4xx/5xx status.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "gateway/http1.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (data[0] % 64) + 1;
    data++;
    size--;
    struct gw_h1_limits lim = {2048, 20, 4096};
    struct gw_h1_parser p;
    gw_h1_init(&p, &lim);
    size_t off = 0;
    int zero_feed = 0;
    while (off < size || zero_feed) {
        size_t n = zero_feed ? 0 : (size - off < step ? size - off : step);
        size_t used = 0;
        enum gw_h1_status st = gw_h1_feed(&p, (const char *)data + off, n, &used);
        zero_feed = 0;
        if (used > n)
            abort();
        off += used;
        if (st == GW_H1_ERROR) {
            if (p.err_status < 400 || p.err_status > 599 || !p.err_msg)
                abort();
            break;
        }
        if (st == GW_H1_HEADERS) {
            /* Touch every header the way the proxy does. */
            for (uint32_t i = 0; i < p.nhdrs; i++)
                (void)gw_h1_hop_by_hop(gw_h1_hname(&p, i), p.hdrs[i].name_len, gw_h1_hvalue(&p, i));
            (void)strlen(gw_h1_url(&p));
            zero_feed = 1;
            continue;
        }
        if (st == GW_H1_DONE) {
            if (p.body && evbuffer_get_length(p.body) != p.body_len)
                abort();
            if (!p.keep_alive)
                break;
            gw_h1_next(&p);
            continue;
        }
        if (used < n && st == GW_H1_MORE)
            abort();
    }
    gw_h1_free(&p);
    return 0;
}
