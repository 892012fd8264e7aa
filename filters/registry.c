#include "filters/registry.h"

#include <stdio.h>
#include <string.h>

#include "filters/filter.h"

extern const struct gw_filter_ops gw_flt_egress;
extern const struct gw_filter_ops gw_flt_exfil;
extern const struct gw_filter_ops gw_flt_injection;
extern const struct gw_filter_ops gw_flt_patterns;
extern const struct gw_filter_ops gw_flt_trace;

static const struct gw_filter_ops *const filters[] = {
    &gw_flt_egress, &gw_flt_exfil, &gw_flt_injection, &gw_flt_patterns, &gw_flt_trace,
};

const struct gw_filter_ops *
gw_filter_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++)
        if (strcmp(filters[i]->name, name) == 0)
            return filters[i];
    return NULL;
}

void
gw_filter_names(char *buf, size_t cap)
{
    size_t used = 0;
    if (cap)
        buf[0] = '\0';
    for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]) && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", filters[i]->name);
}
