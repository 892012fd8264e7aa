/*
 * portcullis: command line, listeners, workers, and the control thread (signals).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "config/cfg.h"
#include "gateway/log.h"
#include "gateway/worker.h"

#define DEFAULT_CONFIG "config/portcullis.yaml"
#define LISTEN_BACKLOG 4096
#define PORTCULLIS_VERSION "0.1.0"

static void
usage(FILE *f)
{
    fprintf(f, "usage: portcullis [-c FILE] [-w N]     run the gateway\n"
               "       portcullis check [-c FILE]      validate a config and print a summary\n"
               "       portcullis version\n"
               "  -c FILE  configuration (YAML or JSON; default " DEFAULT_CONFIG ")\n"
               "  -w N     worker threads (overrides 'workers' in the config)\n");
}

/* Binds a listening socket for addr, with SO_REUSEPORT so each worker can have its own. */
static int
bind_listener(const struct gw_listen_cfg *l, uint16_t port, uint16_t *bound_port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char ps[8];
    snprintf(ps, sizeof(ps), "%u", port);
    const char *host = (l->host && *l->host) ? l->host : NULL;
    int rc = getaddrinfo(host, ps, &hints, &ai);
    if (rc != 0) {
        gw_error("listen %s: %s", l->addr, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        gw_error("listen %s: socket: %s", l->addr, strerror(errno));
        freeaddrinfo(ai);
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (ai->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
        gw_error("listen %s: %s", l->addr, strerror(errno));
        close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *bound_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

static struct gw_worker *workers;
static int nworkers;

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct event_base *base = arg;
    if (sig == SIGHUP) {
        gw_warn("SIGHUP: configuration reload is not implemented yet; restart to apply changes");
        return;
    }
    gw_info("%s: draining and stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    for (int i = 0; i < nworkers; i++)
        gw_worker_stop(&workers[i]);
    event_base_loopexit(base, NULL);
}

static void
announce_fallbacks(const struct gw_config *cfg)
{
    for (size_t i = 0; i < cfg->nroutes; i++) {
        const struct gw_route_cfg *r = &cfg->routes[i];
        if (!r->via_fallback)
            continue;
        const struct gw_provider_cfg *named = gw_config_provider(cfg, r->provider_name);
        gw_warn("route %s: provider %s has no key (%s%s not set); requests go to provider %s at "
                "%s%s",
                r->prefix, r->provider_name, named && named->key_env ? "$" : "",
                named && named->key_env ? named->key_env : "key", r->provider->name,
                r->provider->base_url,
                strncmp(r->provider->name, "mock", 4) == 0 ? " (the bundled mock provider)" : "");
    }
}

static int
run(struct gw_config *cfg)
{
    gw_log_set_level(cfg->log_level);
    int access_fd = gw_access_log_open(cfg->access_log);
    if (access_fd == -2) {
        gw_error("access_log %s: %s", cfg->access_log, strerror(errno));
        return 1;
    }
    nworkers = cfg->workers;
    size_t nl = cfg->nlisten;
    int *fds = calloc((size_t)nworkers * nl, sizeof(int));
    uint16_t *ports = calloc(nl, sizeof(uint16_t));
    workers = calloc((size_t)nworkers, sizeof(*workers));
    if (!fds || !ports || !workers)
        return 1;
    for (size_t j = 0; j < nl; j++) {
        /* The first socket picks the port (port 0: any free one); the others share it. */
        for (int i = 0; i < nworkers; i++) {
            uint16_t want = i == 0 ? cfg->listen[j].port : ports[j];
            int fd = bind_listener(&cfg->listen[j], want, &ports[j]);
            if (fd < 0)
                return 1;
            fds[(size_t)i * nl + j] = fd;
        }
    }
    for (int i = 0; i < nworkers; i++) {
        if (gw_worker_init(&workers[i], i, cfg, &fds[(size_t)i * nl], nl, access_fd) < 0)
            return 1;
    }
    announce_fallbacks(cfg);

    struct event_base *base = event_base_new();
    struct event *sigs[3];
    int signos[3] = {SIGTERM, SIGINT, SIGHUP};
    for (int i = 0; i < 3; i++) {
        sigs[i] = evsignal_new(base, signos[i], on_signal, base);
        evsignal_add(sigs[i], NULL);
    }
    for (int i = 0; i < nworkers; i++) {
        if (gw_worker_start(&workers[i]) < 0) {
            gw_error("cannot start worker %d", i);
            return 1;
        }
    }
    for (size_t j = 0; j < nl; j++) {
        const char *h = cfg->listen[j].host && *cfg->listen[j].host ? cfg->listen[j].host : "*";
        int v6 = strchr(h, ':') != NULL;
        fprintf(stderr, "portcullis: listening on %s%s%s:%u (%d worker%s)\n", v6 ? "[" : "", h,
                v6 ? "]" : "", ports[j], nworkers, nworkers == 1 ? "" : "s");
    }
    fflush(stderr);

    event_base_dispatch(base);
    for (int i = 0; i < nworkers; i++)
        gw_worker_join(&workers[i]);
    for (int i = 0; i < 3; i++)
        event_free(sigs[i]);
    event_base_free(base);
    if (access_fd > STDERR_FILENO)
        close(access_fd);
    free(workers);
    free(fds);
    free(ports);
    gw_info("stopped");
    return 0;
}

int
main(int argc, char **argv)
{
    const char *cfg_path = DEFAULT_CONFIG;
    int workers_override = 0;
    int check = 0;
    int argi = 1;

    if (argi < argc && strcmp(argv[argi], "check") == 0) {
        check = 1;
        argi++;
    } else if (argi < argc &&
               (strcmp(argv[argi], "version") == 0 || strcmp(argv[argi], "--version") == 0)) {
        printf("portcullis %s\n", PORTCULLIS_VERSION);
        return 0;
    }
    for (; argi < argc; argi++) {
        if (strcmp(argv[argi], "-c") == 0 && argi + 1 < argc) {
            cfg_path = argv[++argi];
        } else if (strcmp(argv[argi], "-w") == 0 && argi + 1 < argc && !check) {
            char *end;
            long n = strtol(argv[++argi], &end, 10);
            if (*end || n < 1 || n > 256) {
                fprintf(stderr, "portcullis: -w wants a number from 1 to 256\n");
                return 2;
            }
            workers_override = (int)n;
        } else if (strcmp(argv[argi], "-h") == 0 || strcmp(argv[argi], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "portcullis: unexpected argument '%s'\n", argv[argi]);
            usage(stderr);
            return 2;
        }
    }

    char err[1024];
    struct gw_config *cfg = NULL;
    if (gw_config_load(cfg_path, &cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (check) {
        gw_config_summary(cfg, stdout);
        printf("configuration OK\n");
        gw_config_unref(cfg);
        return 0;
    }
    if (workers_override)
        cfg->workers = workers_override;

    signal(SIGPIPE, SIG_IGN);
    int rc = run(cfg);
    gw_config_unref(cfg);
    return rc;
}
