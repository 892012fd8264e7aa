/*
 * The control thread: signals, configuration reloads and the admin HTTP listener (/healthz,
 * /readyz, /metrics, POST /admin/reload). It never touches a worker's event loop: new snapshots
 * are handed over with gw_worker_adopt, and shutdown with gw_worker_stop.
 */
#ifndef GW_CONTROL_H
#define GW_CONTROL_H

#include "config/cfg.h"

/*
 * Runs the gateway on cfg (reference borrowed) until SIGTERM/SIGINT and the drain that follows.
 * cfg_path is reloaded on SIGHUP and POST /admin/reload; workers_override (> 0) replaces the
 * file's `workers` in every snapshot. Returns the process exit status.
 */
int gw_control_run(struct gw_config *cfg, const char *cfg_path, int workers_override,
                   const char *version);

#endif
