#include "gateway/control.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>

#include "audit/audit.h"
#include "gateway/log.h"
#include "gateway/admin_budget.h"
#include "gateway/metrics.h"
#include "gateway/worker.h"
#include "providers/provider.h"

#define LISTEN_BACKLOG 4096

struct control {
    struct event_base *base;
    const char *cfg_path;
    const char *version;
    int workers_override;
    struct gw_config *cfg; /* current snapshot (reference) */
    struct gw_worker *workers;
    int nworkers;
    int exited; /* workers whose loop ended */
    int exit_pipe[2];
    struct event *exit_ev;
    struct evhttp *admin;
    uint64_t generation, reloads_ok, reloads_failed;
    double last_reload_ok;
    int draining;
};

/* Binds a listening socket for addr; with reuseport (SO_REUSEPORT) each worker can have its own. */
static int
bind_listener(const struct gw_listen_cfg *l, uint16_t port, int reuseport, uint16_t *bound_port)
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
    if (reuseport)
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

static void
print_addr(const char *what, const struct gw_listen_cfg *l, uint16_t port, const char *extra)
{
    const char *h = l->host && *l->host ? l->host : "*";
    int v6 = strchr(h, ':') != NULL;
    fprintf(stderr, "portcullis: %s %s%s%s:%u%s\n", what, v6 ? "[" : "", h, v6 ? "]" : "", port,
            extra);
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
    if (!cfg->auth.required)
        gw_warn("no virtual keys configured: clients are not authenticated (see README, "
                "\"Virtual keys\")");
}

/* ---- reload ---- */

static int
same_listeners(const struct gw_config *a, const struct gw_config *b)
{
    if (a->nlisten != b->nlisten)
        return 0;
    for (size_t i = 0; i < a->nlisten; i++)
        if (strcmp(a->listen[i].host, b->listen[i].host) != 0 ||
            a->listen[i].port != b->listen[i].port)
            return 0;
    return 1;
}

/* Loads the config file again and hands it to every worker. 0 on success; else err says why. */
static int
reload(struct control *ctl, char *err, size_t errlen)
{
    struct gw_config *cfg = NULL;
    if (gw_config_load(ctl->cfg_path, &cfg, err, errlen) < 0)
        goto refused;
    if (!same_listeners(ctl->cfg, cfg)) {
        snprintf(err, errlen,
                 "%s: 'listen' addresses changed; restart to change listeners (TLS settings of "
                 "the same addresses do reload)",
                 ctl->cfg_path);
        gw_config_unref(cfg);
        goto refused;
    }
    /* What cannot change in a running process keeps its value, and the log says so. */
    int workers = ctl->workers_override ? ctl->workers_override : cfg->workers;
    if (workers != ctl->nworkers)
        gw_warn("reload: 'workers' changes need a restart; keeping %d", ctl->nworkers);
    cfg->workers = ctl->nworkers;
    if (strcmp(cfg->access_log, ctl->cfg->access_log) != 0)
        gw_warn("reload: 'access_log' changes need a restart; still writing to %s",
                ctl->cfg->access_log);
    if (!gw_audit_same(&cfg->audit, &ctl->cfg->audit))
        gw_warn("reload: 'audit' sink changes need a restart; capture policies do reload");
    if (cfg->admin.enabled != ctl->cfg->admin.enabled ||
        (cfg->admin.enabled && strcmp(cfg->admin.listen.addr, ctl->cfg->admin.listen.addr) != 0))
        gw_warn("reload: 'admin.listen' changes need a restart");
    gw_log_set_level(cfg->log_level);
    for (int i = 0; i < ctl->nworkers; i++)
        gw_worker_adopt(&ctl->workers[i], gw_config_ref(cfg));
    gw_config_unref(ctl->cfg);
    ctl->cfg = cfg;
    ctl->generation++;
    ctl->reloads_ok++;
    ctl->last_reload_ok = (double)time(NULL);
    gw_info("configuration reloaded from %s (generation %llu, hash %s)", ctl->cfg_path,
            (unsigned long long)ctl->generation, cfg->hash);
    gw_audit_config("config_reload", cfg, ctl->cfg_path, (unsigned)ctl->generation, NULL);
    announce_fallbacks(cfg);
    return 0;
refused:
    ctl->reloads_failed++;
    gw_error("configuration reload refused, the running configuration stays: %s", err);
    gw_audit_config("config_reload_failed", ctl->cfg, ctl->cfg_path, (unsigned)ctl->generation,
                    err);
    return -1;
}

/* ---- admin HTTP ---- */

static void
reply(struct evhttp_request *req, int code, const char *type, struct evbuffer *body)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_send_reply(req, code, NULL, body);
}

static void
reply_text(struct evhttp_request *req, int code, const char *text)
{
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evbuffer_add_printf(b, "%s\n", text);
    reply(req, code, "text/plain; charset=utf-8", b);
    evbuffer_free(b);
}

static int
workers_running(const struct control *ctl)
{
    int n = 0;
    for (int i = 0; i < ctl->nworkers; i++)
        n += __atomic_load_n(&ctl->workers[i].running, __ATOMIC_ACQUIRE);
    return n;
}

static void
on_metrics(struct control *ctl, struct evhttp_request *req)
{
    struct gw_metrics *ms[256];
    size_t n = 0;
    for (int i = 0; i < ctl->nworkers && n < 256; i++)
        ms[n++] = ctl->workers[i].metrics;
    struct gw_metrics_globals g = {
        .config_generation = ctl->generation,
        .reloads_ok = ctl->reloads_ok,
        .reloads_failed = ctl->reloads_failed,
        .last_reload_ok_time = ctl->last_reload_ok,
        .workers = ctl->nworkers,
        .workers_running = workers_running(ctl),
        .draining = ctl->draining,
        .version = ctl->version,
    };
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    gw_metrics_render(ms, n, &g, b);
    gw_audit_render_metrics(b);
    reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", b);
    evbuffer_free(b);
}

static int
is_loopback(const char *ip)
{
    return strncmp(ip, "127.", 4) == 0 || strcmp(ip, "::1") == 0 ||
           strncmp(ip, "::ffff:127.", 11) == 0;
}

/* Reload is allowed from loopback, or anywhere with the admin token. */
static int
reload_allowed(const struct control *ctl, struct evhttp_request *req, int *status)
{
    const char *token = ctl->cfg->admin.token;
    const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (token && auth && strncasecmp(auth, "Bearer ", 7) == 0) {
        const char *given = auth + 7;
        size_t n = strlen(token);
        if (strlen(given) == n && CRYPTO_memcmp(given, token, n) == 0)
            return 1;
        *status = 401;
        return 0;
    }
    char *peer = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(evhttp_request_get_connection(req), &peer, &port);
    if (peer && is_loopback(peer))
        return 1;
    *status = token ? 401 : 403;
    return 0;
}

static void
on_reload(struct control *ctl, struct evhttp_request *req)
{
    int status = 403;
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    if (!reload_allowed(ctl, req, &status)) {
        evbuffer_add_printf(b, "{\"status\":\"error\",\"error\":\"%s\"}\n",
                            status == 401 ? "a valid admin token is required"
                                          : "reload is only allowed from loopback (set "
                                            "admin.token_env to allow it with a token)");
        reply(req, status, "application/json", b);
        evbuffer_free(b);
        return;
    }
    char err[1024], esc[2048];
    if (ctl->draining) {
        evbuffer_add_printf(b, "{\"status\":\"error\",\"error\":\"shutting down\"}\n");
        reply(req, 503, "application/json", b);
    } else if (reload(ctl, err, sizeof(err)) < 0) {
        gw_json_escape(err, strlen(err), esc, sizeof(esc));
        evbuffer_add_printf(b, "{\"status\":\"error\",\"error\":\"%s\",\"generation\":%llu}\n", esc,
                            (unsigned long long)ctl->generation);
        reply(req, 422, "application/json", b);
    } else {
        evbuffer_add_printf(b, "{\"status\":\"ok\",\"generation\":%llu,\"config_hash\":\"%s\"}\n",
                            (unsigned long long)ctl->generation, ctl->cfg->hash);
        reply(req, 200, "application/json", b);
    }
    evbuffer_free(b);
}

static void
on_admin(struct evhttp_request *req, void *arg)
{
    struct control *ctl = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    int get = m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD;
    if (!path)
        path = "";
    if (strcmp(path, "/healthz") == 0 && get) {
        reply_text(req, 200, "ok");
    } else if (strcmp(path, "/readyz") == 0 && get) {
        int running = workers_running(ctl);
        if (ctl->draining)
            reply_text(req, 503, "not ready: shutting down");
        else if (running < ctl->nworkers)
            reply_text(req, 503, "not ready: workers starting");
        else
            reply_text(req, 200, "ready");
    } else if (strcmp(path, "/metrics") == 0 && get) {
        on_metrics(ctl, req);
    } else if (strcmp(path, "/admin/reload") == 0 && m == EVHTTP_REQ_POST) {
        on_reload(ctl, req);
    } else if (strncmp(path, "/admin/budgets", 14) == 0) {
        int status = 403;
        if (!reload_allowed(ctl, req, &status))
            reply_text(req, status,
                       status == 401 ? "a valid admin token is required"
                                     : "the admin API is only allowed from loopback (set "
                                       "admin.token_env to allow it with a token)");
        else
            gw_admin_budgets(req, ctl->cfg, path);
    } else if (strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0 ||
               strcmp(path, "/metrics") == 0 || strcmp(path, "/admin/reload") == 0) {
        reply_text(req, 405, "method not allowed");
    } else {
        reply_text(req, 404,
                   "not found: /healthz, /readyz, /metrics, POST /admin/reload, /admin/budgets");
    }
}

static int
start_admin(struct control *ctl)
{
    const struct gw_admin_cfg *a = &ctl->cfg->admin;
    if (!a->enabled)
        return 0;
    uint16_t port = 0;
    int fd = bind_listener(&a->listen, a->listen.port, 0, &port);
    if (fd < 0)
        return -1;
    ctl->admin = evhttp_new(ctl->base);
    if (!ctl->admin || !evhttp_accept_socket_with_handle(ctl->admin, fd)) {
        gw_error("admin %s: cannot serve", a->listen.addr);
        close(fd);
        return -1;
    }
    evhttp_set_allowed_methods(ctl->admin, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
    evhttp_set_max_headers_size(ctl->admin, 16384);
    evhttp_set_max_body_size(ctl->admin, 65536);
    evhttp_set_timeout(ctl->admin, 30);
    evhttp_set_gencb(ctl->admin, on_admin, ctl);
    print_addr("admin on", &a->listen, port, "");
    return 0;
}

/* ---- signals and shutdown ---- */

static void
on_worker_exit(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct control *ctl = arg;
    char b[64];
    ssize_t n;
    while ((n = read(fd, b, sizeof(b))) > 0)
        ctl->exited += (int)n;
    if (ctl->exited >= ctl->nworkers)
        event_base_loopexit(ctl->base, NULL);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct control *ctl = arg;
    if (sig == SIGHUP) {
        char err[1024];
        gw_info("SIGHUP: reloading %s", ctl->cfg_path);
        (void)reload(ctl, err, sizeof(err));
        return;
    }
    if (ctl->draining)
        return;
    gw_info("%s: draining and stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    ctl->draining = 1;
    /* The admin listener keeps answering (/readyz says 503) until the workers are done. */
    for (int i = 0; i < ctl->nworkers; i++)
        gw_worker_stop(&ctl->workers[i]);
}

int
gw_control_run(struct gw_config *cfg, const char *cfg_path, int workers_override,
               const char *version)
{
    struct control ctl = {.cfg_path = cfg_path,
                          .version = version,
                          .workers_override = workers_override,
                          .exit_pipe = {-1, -1},
                          .generation = 1};
    int rc = 1;
    ctl.cfg = gw_config_ref(cfg);
    gw_log_set_level(cfg->log_level);
    int access_fd = gw_access_log_open(cfg->access_log);
    if (access_fd == -2) {
        gw_error("access_log %s: %s", cfg->access_log, strerror(errno));
        gw_config_unref(ctl.cfg);
        return 1;
    }
    ctl.nworkers = cfg->workers;
    size_t nl = cfg->nlisten;
    int *fds = calloc((size_t)ctl.nworkers * nl, sizeof(int));
    uint16_t *ports = calloc(nl, sizeof(uint16_t));
    ctl.workers = calloc((size_t)ctl.nworkers, sizeof(*ctl.workers));
    ctl.base = event_base_new();
    if (!fds || !ports || !ctl.workers || !ctl.base ||
        pipe2(ctl.exit_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        goto out;
    for (size_t j = 0; j < nl; j++) {
        /* The first socket picks the port (port 0: any free one); the others share it. */
        for (int i = 0; i < ctl.nworkers; i++) {
            uint16_t want = i == 0 ? cfg->listen[j].port : ports[j];
            int fd = bind_listener(&cfg->listen[j], want, 1, &ports[j]);
            if (fd < 0)
                goto out;
            fds[(size_t)i * nl + j] = fd;
        }
    }
    for (int i = 0; i < ctl.nworkers; i++) {
        if (gw_worker_init(&ctl.workers[i], i, cfg, &fds[(size_t)i * nl], nl, access_fd) < 0)
            goto out;
        ctl.workers[i].exit_fd = ctl.exit_pipe[1];
    }
    announce_fallbacks(cfg);
    if (start_admin(&ctl) < 0)
        goto out;
    char aerr[512];
    if (gw_audit_start(cfg, aerr, sizeof(aerr)) < 0) {
        gw_error("%s", aerr);
        goto out;
    }
    if (cfg->audit.nsinks == 0)
        gw_warn("audit: no sinks configured; decisions are not recorded (see README: Audit)");
    gw_audit_lifecycle("start", version);
    gw_audit_config("config_load", cfg, cfg_path, 1, NULL);

    struct event *sigs[3];
    int signos[3] = {SIGTERM, SIGINT, SIGHUP};
    for (int i = 0; i < 3; i++) {
        sigs[i] = evsignal_new(ctl.base, signos[i], on_signal, &ctl);
        evsignal_add(sigs[i], NULL);
    }
    ctl.exit_ev = event_new(ctl.base, ctl.exit_pipe[0], EV_READ | EV_PERSIST, on_worker_exit, &ctl);
    event_add(ctl.exit_ev, NULL);
    int started = 0;
    for (; started < ctl.nworkers; started++) {
        if (gw_worker_start(&ctl.workers[started]) < 0) {
            gw_error("cannot start worker %d", started);
            break;
        }
    }
    if (started == ctl.nworkers) {
        for (size_t j = 0; j < nl; j++) {
            char extra[64];
            snprintf(extra, sizeof(extra), "%s (%d worker%s)", cfg->listen[j].tls ? " TLS" : "",
                     ctl.nworkers, ctl.nworkers == 1 ? "" : "s");
            print_addr("listening on", &cfg->listen[j], ports[j], extra);
        }
        fflush(stderr);
        event_base_dispatch(ctl.base);
        rc = 0;
    } else {
        for (int i = 0; i < started; i++)
            gw_worker_stop(&ctl.workers[i]);
    }
    for (int i = 0; i < started; i++)
        gw_worker_join(&ctl.workers[i]);
    for (int i = 0; i < 3; i++)
        event_free(sigs[i]);
    event_free(ctl.exit_ev);
    if (rc == 0)
        gw_info("stopped");
    gw_audit_lifecycle("stop", started == ctl.nworkers ? "signal" : "failed to start");
    gw_audit_stop(2000);
out:
    if (ctl.admin)
        evhttp_free(ctl.admin);
    if (ctl.base)
        event_base_free(ctl.base);
    for (int i = 0; i < 2; i++)
        if (ctl.exit_pipe[i] >= 0)
            close(ctl.exit_pipe[i]);
    if (access_fd > STDERR_FILENO)
        close(access_fd);
    free(ctl.workers);
    free(fds);
    free(ports);
    gw_config_unref(ctl.cfg);
    return rc;
}
