/* The filter types a config may name. Adding a filter: one flt_<name>.c and one line in registry.c.
 */
#ifndef GW_REGISTRY_H
#define GW_REGISTRY_H

#include <stddef.h>

struct gw_filter_ops;

/* The operations of filter type name, or NULL. */
const struct gw_filter_ops *gw_filter_lookup(const char *name);

/* Writes the known type names, comma-separated, into buf. */
void gw_filter_names(char *buf, size_t cap);

#endif
