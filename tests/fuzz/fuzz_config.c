/* libFuzzer target: YAML/JSON config text → gw_config (parser + validation must never crash/leak).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config/cfg.h"
#include "config/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gw_config *cfg;
    struct gw_cnode *root;
    char err[256];
    json_t *j;

    if (gw_cnode_parse("fuzz", (const char *)data, size, &root, err, sizeof(err)) == 0) {
        j = gw_cnode_to_json(root);
        json_decref(j);
        gw_cnode_free(root);
    }
    if (gw_config_load_string("fuzz", (const char *)data, size, &cfg, err, sizeof(err)) == 0) {
        FILE *devnull = fopen("/dev/null", "w");
        if (devnull != NULL) {
            gw_config_summary(cfg, devnull);
            fclose(devnull);
        }
        (void)gw_config_route(cfg, "/v1/chat/completions", 20, NULL);
        gw_config_unref(cfg);
    }
    return 0;
}
