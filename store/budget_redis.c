/* placeholder until the redis backend lands */
#include <stdio.h>

#include "store/budget_impl.h"

struct gw_budget_store *
gw_budget_redis_new(const char *host, uint16_t port, const char *password, int db,
                    const char *prefix, uint32_t timeout_ms, char *err, size_t errlen)
{
    (void)host;
    (void)port;
    (void)password;
    (void)db;
    (void)prefix;
    (void)timeout_ms;
    snprintf(err, errlen, "not built");
    return NULL;
}
