/*
 * Helpers filters use to check their config mappings (filters/filter.h), on their own for the same
 * reason as config/path.c: filters' unit tests and fuzzers stub the rest of the config code.
 */
#include <stdio.h>
#include <string.h>

#include "config/parse.h"
#include "filters/filter.h"

const struct gw_cnode *
gw_cfg_node_at(const struct gw_cfg_ctx *cc, const char *a, const char *b)
{
    const struct gw_cnode *n = gw_cnode_get(cc->node, a);
    if (n && b && gw_cnode_get(n, b))
        n = gw_cnode_get(n, b);
    return n;
}

int
gw_cfg_unknown_keys(struct gw_cfg_ctx *cc, const json_t *o, const char *const *known,
                    const char *section, const char *prefix)
{
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        size_t i = 0;
        while (known[i] && strcmp(known[i], k) != 0)
            i++;
        if (known[i])
            continue;
        char list[200];
        size_t used = 0;
        list[0] = '\0';
        for (i = 0; known[i] && used < sizeof(list); i++)
            used +=
                (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", known[i]);
        return gw_cfg_error(cc,
                            section ? gw_cfg_node_at(cc, section, k) : gw_cfg_node_at(cc, k, NULL),
                            "%sunknown key '%s%s%s' (known: %s)", prefix ? prefix : "",
                            section ? section : "", section ? "." : "", k, list);
    }
    return 0;
}
