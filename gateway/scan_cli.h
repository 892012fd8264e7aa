/* `portcullis scan`: a route's filters over JSON lines (see scan_cli.c). */
#ifndef GW_SCAN_CLI_H
#define GW_SCAN_CLI_H

#include "config/cfg.h"

/*
 * Reads JSON lines from stdin and prints one verdict per line on stdout, using the route whose
 * prefix is route_prefix (NULL: the last route without a model filter in longest-prefix order,
 * i.e. the catch-all). Returns the exit status: 0, 1 when a line could not be scanned, 2 when
 * the route does not exist.
 */
int gw_scan_main(struct gw_config *cfg, const char *route_prefix);

#endif
