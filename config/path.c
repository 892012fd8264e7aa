/*
 * gw_cfg_path (filters/filter.h) on its own, so that what links it (filters and their unit tests
 * and fuzzers, which stub the rest of the config code) does not pull config/cfg.c in with it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/filter.h"

char *
gw_cfg_path(const struct gw_cfg_ctx *cc, const char *file)
{
    char *path = NULL;
    if (file[0] != '/' && cc->basedir)
        return asprintf(&path, "%s/%s", cc->basedir, file) < 0 ? NULL : path;
    return strdup(file);
}
