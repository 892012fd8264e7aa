/*
 * libFuzzer target: the budget store's journal replay (store/budget_mem.c). The input is written
 * as a journal file and opened: a malformed journal must give an error naming the line, never a
 * crash or a leak; a journal that opens must serve a read of a key it may hold and survive the
 * compaction it triggered (reopened once more).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/budget.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!path[0])
        snprintf(path, sizeof(path), "/tmp/pc-fuzz-journal-%d", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    if (size)
        fwrite(data, 1, size, f);
    fclose(f);
    char err[256];
    struct gw_budget_store *s = gw_budget_mem_new(path, 0, 0, err, sizeof(err));
    if (s) {
        struct gw_budget_counter c;
        struct gw_budget_result r;
        memset(&c, 0, sizeof(c));
        snprintf(c.cur, sizeof(c.cur), "k");
        gw_budget_run(s, NULL, GW_BUDGET_READ, &c, 1, &r, NULL, NULL, NULL);
        gw_budget_free(s);
        s = gw_budget_mem_new(path, 0, 0, err, sizeof(err));
        if (!s)
            abort(); /* what the store wrote itself must open again */
        gw_budget_free(s);
    } else if (!strchr(err, ':')) {
        abort(); /* errors name the file (and the line) */
    }
    unlink(path);
    return 0;
}
