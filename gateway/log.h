/* Error log (stderr, levelled) and access log (one JSON line per request). */
#ifndef GW_LOG_H
#define GW_LOG_H

#include <stdint.h>

enum gw_log_level { GW_LOG_DEBUG = 0, GW_LOG_INFO, GW_LOG_WARN, GW_LOG_ERROR };

/* Sets the minimum level from a config word ("debug", "info", "warn", "error"). */
void gw_log_set_level(const char *word);

/* printf-style message to stderr with time and level; thread-safe (one write per line). */
void gw_log(enum gw_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define gw_debug(...) gw_log(GW_LOG_DEBUG, __VA_ARGS__)
#define gw_info(...) gw_log(GW_LOG_INFO, __VA_ARGS__)
#define gw_warn(...) gw_log(GW_LOG_WARN, __VA_ARGS__)
#define gw_error(...) gw_log(GW_LOG_ERROR, __VA_ARGS__)

/*
 * Opens the access log named by the config ("stderr", "stdout", "off" or a path, opened for
 * append). Returns the fd, -1 for "off", or -2 on error (errno set).
 */
int gw_access_log_open(const char *where);

/* Monotonic clock in microseconds. */
uint64_t gw_now_us(void);

/* Invariant check: aborts in debug builds, logs in release builds. */
#ifdef GW_DEBUG
#define GW_BUG_ON(cond)                                                                            \
    do {                                                                                           \
        if (cond) {                                                                                \
            gw_error("BUG at %s:%d: %s", __FILE__, __LINE__, #cond);                               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)
#else
#define GW_BUG_ON(cond)                                                                            \
    do {                                                                                           \
        if (cond)                                                                                  \
            gw_error("BUG at %s:%d: %s", __FILE__, __LINE__, #cond);                               \
    } while (0)
#endif

#endif
