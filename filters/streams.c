/* Per-stream records of filters (filter.h: struct gw_streams). */
#include <stdlib.h>
#include <string.h>

#include "filters/filter.h"

void *
gw_streams_get(struct gw_streams *s, size_t elem, int id, int *added)
{
    char *v = s->v;
    if (added)
        *added = 0;
    for (size_t i = 0; i < s->n; i++) {
        int rid;
        memcpy(&rid, v + i * elem, sizeof(rid));
        if (rid == id)
            return v + i * elem;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4;
        if (!(v = realloc(s->v, cap * elem)))
            return NULL;
        s->v = v;
        s->cap = cap;
    }
    char *r = v + s->n++ * elem;
    memset(r, 0, elem);
    memcpy(r, &id, sizeof(id));
    if (added)
        *added = 1;
    return r;
}
