/* Unit tests for config/cfg.c: validation, defaults, key resolution, routing, refcounting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/cfg.h"

/* A valid providers + routes block, appended to snippets that test other keys. */
#define TAIL                                                                                       \
    "providers:\n"                                                                                 \
    "  - name: p\n"                                                                                \
    "    base_url: http://127.0.0.1:9\n"                                                           \
    "routes:\n"                                                                                    \
    "  - prefix: /\n"                                                                              \
    "    provider: p\n"

static struct gw_config *
load_ok(const char *text)
{
    struct gw_config *cfg = NULL;
    char err[512];

    if (gw_config_load_string("s.yaml", text, strlen(text), &cfg, err, sizeof(err)) != 0)
        fail_msg("unexpected error: %s", err);
    assert_non_null(cfg);
    return cfg;
}

static struct gw_config *
load_file_ok(const char *path)
{
    struct gw_config *cfg = NULL;
    char err[512];

    if (gw_config_load(path, &cfg, err, sizeof(err)) != 0)
        fail_msg("unexpected error: %s", err);
    assert_non_null(cfg);
    return cfg;
}

static void
expect_error(const char *text, const char *want)
{
    struct gw_config *cfg = (struct gw_config *)1;
    char err[512];

    if (gw_config_load_string("s.yaml", text, strlen(text), &cfg, err, sizeof(err)) == 0)
        fail_msg("loaded, expected: %s", want);
    assert_null(cfg);
    assert_string_equal(err, want);
}

static char *
summary_of(const struct gw_config *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    gw_config_summary(cfg, f);
    fclose(f);
    return buf;
}

static int
setup(void **state)
{
    (void)state;
    unsetenv("OPENAI_API_KEY");
    unsetenv("ANTHROPIC_API_KEY");
    unsetenv("GW_TEST_JSON_KEY");
    unsetenv("GW_TEST_KEYFILE_ENV");
    return 0;
}

/* ------------------------------------------------------------------------------------------- */

static void
test_default_config(void **state)
{
    const struct gw_provider_cfg *p;
    struct gw_config *cfg;

    (void)state;
    cfg = load_file_ok("config/portcullis.yaml");
    assert_string_equal(cfg->path, "config/portcullis.yaml");
    assert_int_equal(cfg->workers, sysconf(_SC_NPROCESSORS_ONLN));
    assert_int_equal(cfg->nlisten, 1);
    assert_string_equal(cfg->listen[0].addr, "127.0.0.1:8080");
    assert_string_equal(cfg->listen[0].host, "127.0.0.1");
    assert_int_equal(cfg->listen[0].port, 8080);
    assert_int_equal(cfg->limits.max_header_bytes, 32 * 1024);
    assert_int_equal(cfg->limits.max_headers, 100);
    assert_int_equal(cfg->limits.max_body_bytes, 8 << 20);
    assert_int_equal(cfg->limits.max_response_bytes, 32 << 20);
    assert_int_equal(cfg->limits.client_buffer_high, 256 * 1024);
    assert_int_equal(cfg->timeouts.client_header, 10000);
    assert_int_equal(cfg->timeouts.client_body, 30000);
    assert_int_equal(cfg->timeouts.keepalive, 75000);
    assert_int_equal(cfg->timeouts.request, 600000);
    assert_int_equal(cfg->timeouts.upstream_connect, 5000);
    assert_int_equal(cfg->timeouts.upstream_first_byte, 120000);
    assert_int_equal(cfg->timeouts.upstream_idle, 60000);
    assert_int_equal(cfg->timeouts.upstream_pool_idle, 60000);
    assert_int_equal(cfg->upstream_pool_max_idle, 64);
    assert_string_equal(cfg->access_log, "stderr");
    assert_string_equal(cfg->log_level, "info");
    assert_int_equal(cfg->refcnt, 1);

    assert_int_equal(cfg->nproviders, 4);
    p = gw_config_provider(cfg, "openai");
    assert_non_null(p);
    assert_int_equal(p->api, GW_API_OPENAI);
    assert_string_equal(p->base_url, "https://api.openai.com");
    assert_int_equal(p->tls, 1);
    assert_string_equal(p->host, "api.openai.com");
    assert_int_equal(p->port, 443);
    assert_string_equal(p->base_path, "");
    assert_string_equal(p->host_header, "api.openai.com");
    assert_int_equal(p->auth, GW_AUTH_BEARER);
    assert_string_equal(p->key_env, "OPENAI_API_KEY");
    assert_null(p->key_file);
    assert_null(p->key);
    assert_string_equal(p->fallback, "mock");
    assert_null(p->ca_file);
    assert_true(p->line > 1);
    p = gw_config_provider(cfg, "anthropic");
    assert_int_equal(p->api, GW_API_ANTHROPIC);
    assert_int_equal(p->auth, GW_AUTH_X_API_KEY);
    p = gw_config_provider(cfg, "mock");
    assert_int_equal(p->tls, 0);
    assert_string_equal(p->host, "127.0.0.1");
    assert_int_equal(p->port, 8089);
    assert_string_equal(p->host_header, "127.0.0.1:8089");
    assert_int_equal(p->auth, GW_AUTH_NONE);
    assert_null(gw_config_provider(cfg, "nope"));

    /* sorted by descending prefix length, equal lengths in file order */
    assert_int_equal(cfg->nroutes, 3);
    assert_string_equal(cfg->routes[0].prefix, "/v1/messages");
    assert_int_equal(cfg->routes[0].prefix_len, 12);
    assert_string_equal(cfg->routes[1].prefix, "/v1/complete");
    assert_string_equal(cfg->routes[2].prefix, "/v1/");
    assert_true(cfg->routes[2].line > cfg->routes[0].line);
    assert_int_equal(cfg->routes[2].strip_prefix, 0);
    gw_config_unref(cfg);
}

/* Every default in cfg.c's tables must equal the value written in config/portcullis.yaml. */
static void
test_defaults_match_default_file(void **state)
{
    struct gw_config *def, *min;

    (void)state;
    def = load_file_ok("config/portcullis.yaml");
    min = load_file_ok("tests/fixtures/config/minimal.yaml");
    assert_int_equal(min->workers, def->workers);
    assert_int_equal(min->nlisten, def->nlisten);
    assert_string_equal(min->listen[0].addr, def->listen[0].addr);
    assert_string_equal(min->listen[0].host, def->listen[0].host);
    assert_int_equal(min->listen[0].port, def->listen[0].port);
    assert_memory_equal(&min->limits, &def->limits, sizeof(def->limits));
    assert_memory_equal(&min->timeouts, &def->timeouts, sizeof(def->timeouts));
    assert_int_equal(min->upstream_pool_max_idle, def->upstream_pool_max_idle);
    assert_string_equal(min->access_log, def->access_log);
    assert_string_equal(min->log_level, def->log_level);
    assert_int_equal(min->providers[0].api, GW_API_OPENAI);
    assert_int_equal(min->providers[0].auth, GW_AUTH_BEARER);
    assert_int_equal(min->routes[0].strip_prefix, 0);
    gw_config_unref(min);
    gw_config_unref(def);
}

static void
test_json_fixture(void **state)
{
    const struct gw_provider_cfg *p;
    struct gw_config *cfg;

    (void)state;
    cfg = load_file_ok("tests/fixtures/config/full.json");
    assert_int_equal(cfg->workers, 3);
    assert_int_equal(cfg->nlisten, 3);
    assert_string_equal(cfg->listen[0].host, "127.0.0.1");
    assert_int_equal(cfg->listen[0].port, 0);
    assert_string_equal(cfg->listen[1].addr, "[::1]:8081");
    assert_string_equal(cfg->listen[1].host, "::1");
    assert_int_equal(cfg->listen[1].port, 8081);
    assert_string_equal(cfg->listen[2].host, "");
    assert_int_equal(cfg->listen[2].port, 9090);
    assert_int_equal(cfg->limits.max_body_bytes, 1 << 20);
    assert_int_equal(cfg->limits.max_headers, 50);
    assert_int_equal(cfg->limits.max_header_bytes, 32 * 1024); /* default */
    assert_int_equal(cfg->timeouts.request, 90000);
    assert_int_equal(cfg->timeouts.upstream_connect, 250);
    assert_int_equal(cfg->timeouts.keepalive, 75000); /* default */
    assert_int_equal(cfg->upstream_pool_max_idle, 0);
    assert_string_equal(cfg->access_log, "off");
    assert_string_equal(cfg->log_level, "debug");

    p = gw_config_provider(cfg, "oa");
    assert_int_equal(p->tls, 1);
    assert_string_equal(p->host, "2001:db8::1");
    assert_int_equal(p->port, 8443);
    assert_string_equal(p->base_path, "/v1");
    assert_string_equal(p->host_header, "[2001:db8::1]:8443");
    assert_int_equal(p->auth, GW_AUTH_BEARER);
    assert_null(p->key);
    p = gw_config_provider(cfg, "an");
    assert_int_equal(p->api, GW_API_ANTHROPIC);
    assert_int_equal(p->auth, GW_AUTH_NONE);
    assert_string_equal(p->host, "localhost");
    assert_int_equal(p->port, 80);
    assert_string_equal(p->host_header, "localhost");

    assert_string_equal(cfg->routes[0].prefix, "/anthropic/v1/messages");
    assert_int_equal(cfg->routes[0].strip_prefix, 1);
    assert_ptr_equal(cfg->routes[0].provider, gw_config_provider(cfg, "an"));
    assert_string_equal(cfg->routes[1].prefix, "/v1/");
    assert_int_equal(cfg->routes[1].via_fallback, 0);
    gw_config_unref(cfg);

    /* the one-line form from the task */
    cfg = load_ok("{\"workers\": 2, \"listen\": [\"127.0.0.1:0\"], \"providers\": [{\"name\": "
                  "\"p\", \"base_url\": \"http://127.0.0.1:9\"}], \"routes\": [{\"prefix\": \"/\", "
                  "\"provider\": \"p\"}]}");
    assert_int_equal(cfg->workers, 2);
    assert_int_equal(cfg->listen[0].port, 0);
    gw_config_unref(cfg);
}

/* ------------------------------------------------------------------------------------------- */

static void
test_errors_top_level(void **state)
{
    (void)state;
    expect_error("", "s.yaml: the configuration is empty");
    expect_error("# nothing\n", "s.yaml: the configuration is empty");
    expect_error("- a\n", "s.yaml:1:1: the configuration must be a mapping, not a sequence");
    expect_error("hello\n", "s.yaml:1:1: the configuration must be a mapping, not a scalar");
    expect_error("foo: 1\n" TAIL, "s.yaml:1:1: unknown key 'foo'");
    expect_error(TAIL "workers: 2\nworkers: 3\n", "s.yaml:8:1: duplicate key 'workers'");
    expect_error("workers: 2\n", "s.yaml:1:1: missing required key 'providers'");
    expect_error("workers: 2\nproviders:\n  - name: p\n    base_url: http://h\n",
                 "s.yaml:1:1: missing required key 'routes'");
    expect_error("\n\nlimits: 5\n" TAIL, "s.yaml:3:9: 'limits' must be a mapping");
    expect_error("timeouts: [1]\n" TAIL, "s.yaml:1:11: 'timeouts' must be a mapping");
    expect_error("log_level: verbose\n" TAIL,
                 "s.yaml:1:12: 'log_level' must be one of debug, info, warn, error");
    expect_error("access_log: []\n" TAIL, "s.yaml:1:13: 'access_log' must be a non-empty string");
    expect_error("access_log: \"\"\n" TAIL, "s.yaml:1:13: 'access_log' must be a non-empty string");
    expect_error("access_log:\n" TAIL, "s.yaml:1:12: 'access_log' must be a non-empty string");
    expect_error("access_log: \"a\\nb\"\n" TAIL,
                 "s.yaml:1:13: 'access_log' must not contain control characters");
    expect_error("upstream_pool_max_idle: 10001\n" TAIL,
                 "s.yaml:1:25: 'upstream_pool_max_idle' must be between 0 and 10000");
}

static void
test_errors_workers(void **state)
{
    (void)state;
    expect_error("workers: many\n" TAIL, "s.yaml:1:10: 'workers' must be an integer or \"auto\"");
    expect_error("workers: \"2\"\n" TAIL, "s.yaml:1:10: 'workers' must be an integer or \"auto\"");
    expect_error("workers: 2x\n" TAIL, "s.yaml:1:10: 'workers' must be an integer or \"auto\"");
    expect_error("workers: 1.5\n" TAIL, "s.yaml:1:10: 'workers' must be an integer or \"auto\"");
    expect_error("workers: [1]\n" TAIL, "s.yaml:1:10: 'workers' must be an integer or \"auto\"");
    expect_error("workers: 0\n" TAIL,
                 "s.yaml:1:10: 'workers' must be \"auto\" or between 1 and 256");
    expect_error("workers: 257\n" TAIL,
                 "s.yaml:1:10: 'workers' must be \"auto\" or between 1 and 256");
    expect_error("workers: -1\n" TAIL,
                 "s.yaml:1:10: 'workers' must be \"auto\" or between 1 and 256");
    expect_error("workers: 99999999999999999999999\n" TAIL,
                 "s.yaml:1:10: 'workers' must be \"auto\" or between 1 and 256");
}

static void
test_errors_limits_timeouts(void **state)
{
    (void)state;
    expect_error("limits:\n  max_header_bytes: 8k\n  foo: 1\n" TAIL,
                 "s.yaml:3:3: unknown key 'foo' in 'limits'");
    expect_error("limits:\n  max_header_bytes: 512\n" TAIL,
                 "s.yaml:2:21: 'max_header_bytes' must be between 1k and 1m");
    expect_error("limits:\n  max_header_bytes: 2m\n" TAIL,
                 "s.yaml:2:21: 'max_header_bytes' must be between 1k and 1m");
    expect_error("limits:\n  max_body_bytes: 0\n" TAIL,
                 "s.yaml:2:19: 'max_body_bytes' must be between 1 and 1g");
    expect_error("limits:\n  max_body_bytes: 99999999999g\n" TAIL,
                 "s.yaml:2:19: 'max_body_bytes' must be between 1 and 1g");
    expect_error("limits:\n  max_body_bytes: lots\n" TAIL,
                 "s.yaml:2:19: 'max_body_bytes' must be a size (e.g. 512, 32k, 8m, 1g)");
    expect_error("limits:\n  max_body_bytes: -5\n" TAIL,
                 "s.yaml:2:19: 'max_body_bytes' must be between 1 and 1g");
    expect_error("limits:\n  max_response_bytes: 1023\n" TAIL,
                 "s.yaml:2:23: 'max_response_bytes' must be between 1k and 1g");
    expect_error("limits:\n  client_buffer_high: 1k\n" TAIL,
                 "s.yaml:2:23: 'client_buffer_high' must be between 4k and 64m");
    expect_error("limits:\n  max_headers: 0\n" TAIL,
                 "s.yaml:2:16: 'max_headers' must be between 1 and 1000");
    expect_error("limits:\n  max_headers: 1001\n" TAIL,
                 "s.yaml:2:16: 'max_headers' must be between 1 and 1000");
    expect_error("limits:\n  max_headers: 10k\n" TAIL,
                 "s.yaml:2:16: 'max_headers' must be an integer");
    expect_error("limits:\n  max_headers: '10'\n" TAIL,
                 "s.yaml:2:16: 'max_headers' must be an integer");
    expect_error("timeouts:\n  client_header: 0\n" TAIL,
                 "s.yaml:2:18: 'client_header' must be between 1ms and 24h");
    expect_error("timeouts:\n  request: 25h\n" TAIL,
                 "s.yaml:2:12: 'request' must be between 1ms and 24h");
    expect_error("timeouts:\n  request: 86400001\n" TAIL,
                 "s.yaml:2:12: 'request' must be between 1ms and 24h");
    expect_error("timeouts:\n  request: 9999999h\n" TAIL,
                 "s.yaml:2:12: 'request' must be between 1ms and 24h");
    expect_error("timeouts:\n  keepalive: 10 s\n" TAIL,
                 "s.yaml:2:14: 'keepalive' must be a duration (e.g. 250ms, 10s, 5m, 1h)");
    expect_error("timeouts:\n  keepalive: 1d\n" TAIL,
                 "s.yaml:2:14: 'keepalive' must be a duration (e.g. 250ms, 10s, 5m, 1h)");
    expect_error("timeouts:\n  keepalive: {}\n" TAIL,
                 "s.yaml:2:14: 'keepalive' must be a duration (e.g. 250ms, 10s, 5m, 1h)");
    expect_error("timeouts:\n  idle: 1s\n" TAIL, "s.yaml:2:3: unknown key 'idle' in 'timeouts'");
}

static void
test_errors_listen(void **state)
{
    (void)state;
    expect_error("listen: 127.0.0.1:80\n" TAIL,
                 "s.yaml:1:9: 'listen' must be a sequence of \"host:port\" strings or mappings");
    expect_error("listen: []\n" TAIL, "s.yaml:1:9: 'listen' must have at least one address");
    expect_error("listen: [[1]]\n" TAIL,
                 "s.yaml:1:10: each 'listen' entry must be \"host:port\" or a mapping with 'addr'");
    expect_error("listen:\n  - addr: 127.0.0.1:0\n    tls: {cert: /nonexistent.crt, key: k}\n" TAIL,
                 "s.yaml:3:17: cannot read cert '/nonexistent.crt': No such file or directory");
    expect_error("listen:\n  - addr: 127.0.0.1:0\n    tls: yes\n" TAIL,
                 "s.yaml:3:10: 'tls' must be a mapping with 'cert' and 'key'");
    expect_error("listen:\n  - {port: 1}\n" TAIL, "s.yaml:2:6: unknown key 'port' in 'listen'");
    expect_error("listen:\n  - localhost\n" TAIL,
                 "s.yaml:2:5: invalid listen address 'localhost': expected host:port, [v6]:port "
                 "or :port");
    expect_error("listen:\n  - 127.0.0.1:80\n  - ::1:80\n" TAIL,
                 "s.yaml:3:5: invalid listen address '::1:80': IPv6 addresses must be in "
                 "brackets, e.g. [::1]:8080");
    expect_error("listen: ['[::1]80']\n" TAIL,
                 "s.yaml:1:10: invalid listen address '[::1]80': expected ':port' after ']'");
    expect_error("listen: ['[::1:80']\n" TAIL,
                 "s.yaml:1:10: invalid listen address '[::1:80': unterminated '[' in IPv6 "
                 "address");
    expect_error("listen: ['[zz]:80']\n" TAIL,
                 "s.yaml:1:10: invalid listen address '[zz]:80': invalid IPv6 address");
    expect_error("listen: [':65536']\n" TAIL,
                 "s.yaml:1:10: invalid listen address ':65536': port must be between 0 and 65535");
    expect_error("listen: ['h:']\n" TAIL,
                 "s.yaml:1:10: invalid listen address 'h:': port must be between 0 and 65535");
    expect_error("listen: ['h:8x']\n" TAIL,
                 "s.yaml:1:10: invalid listen address 'h:8x': port must be between 0 and 65535");
    expect_error("listen: ['a b:80']\n" TAIL,
                 "s.yaml:1:10: invalid listen address 'a b:80': invalid host");
}

#define PROV1 "providers:\n  - name: p\n"
#define ROUTE1 "routes:\n  - prefix: /\n    provider: p\n"

static void
test_errors_providers(void **state)
{
    (void)state;
    expect_error("providers: []\n" ROUTE1, "s.yaml:1:12: 'providers' must have at least one entry");
    expect_error("providers: x\n" ROUTE1,
                 "s.yaml:1:12: 'providers' must be a sequence of mappings");
    expect_error("providers:\n  - x\n" ROUTE1,
                 "s.yaml:2:5: each 'providers' entry must be a mapping");
    expect_error("providers:\n  - base_url: http://h\n" ROUTE1,
                 "s.yaml:2:5: missing required key 'name' in 'providers'");
    expect_error(PROV1 "    api: openai\n" ROUTE1,
                 "s.yaml:2:5: missing required key 'base_url' in 'providers'");
    expect_error(PROV1 "    base_url: http://h\n    foo: bar\n" ROUTE1,
                 "s.yaml:4:5: unknown key 'foo' in 'providers'");
    expect_error(PROV1 "    base_url: http://h\n  - name: q\n    base_url: http://h\n"
                       "  - name: p\n    base_url: http://h\n" ROUTE1,
                 "s.yaml:6:11: duplicate provider name 'p' (first at line 2)");
    expect_error("providers:\n  - name: a b\n    base_url: http://h\n" ROUTE1,
                 "s.yaml:2:11: 'name' may only contain letters, digits, '_', '.' and '-'");
    expect_error("providers:\n  - name: \"\"\n    base_url: http://h\n" ROUTE1,
                 "s.yaml:2:11: 'name' must be a non-empty string");
    expect_error(PROV1 "    base_url: http://h\n    api: azure\n" ROUTE1,
                 "s.yaml:4:10: 'api' must be one of openai, anthropic");
    expect_error(PROV1 "    base_url: http://h\n    auth: basic\n" ROUTE1,
                 "s.yaml:4:11: 'auth' must be one of bearer, x-api-key, api-key, none");
    expect_error(PROV1 "    base_url: http://h\n    fallback: nope\n" ROUTE1,
                 "s.yaml:4:15: fallback 'nope' is not a defined provider");
    expect_error(PROV1 "    base_url: http://h\n    fallback: p\n" ROUTE1,
                 "s.yaml:4:15: provider 'p' cannot fall back to itself");
    expect_error(PROV1 "    base_url: http://h\n    key_file: /nonexistent/key\n" ROUTE1,
                 "s.yaml:4:15: cannot read key_file '/nonexistent/key': No such file or "
                 "directory");
    expect_error(PROV1 "    base_url: http://h\n    key_file: tests/fixtures\n" ROUTE1,
                 "s.yaml:4:15: cannot read key_file 'tests/fixtures': Is a directory");
    expect_error(PROV1 "    base_url: http://h\n    ca_file: /nonexistent/ca.pem\n" ROUTE1,
                 "s.yaml:4:14: cannot read ca_file '/nonexistent/ca.pem': No such file or "
                 "directory");
    expect_error(PROV1 "    base_url: http://h\n    key_env: ''\n" ROUTE1,
                 "s.yaml:4:14: 'key_env' must be a non-empty string");
}

static void
test_errors_base_url(void **state)
{
    static const struct {
        const char *url, *msg;
    } cases[] = {
        {"ftp://h", "'base_url' must start with http:// or https://"},
        {"api.openai.com", "'base_url' must start with http:// or https://"},
        {"https://h/v1?x=1", "'base_url' must not have a query or fragment"},
        {"https://h/v1#frag", "'base_url' must not have a query or fragment"},
        {"https://user:pw@h/v1", "'base_url' must not contain user info"},
        {"http://", "'base_url' must have a host"},
        {"http:///v1", "'base_url' must have a host"},
        {"http://:80", "'base_url' must have a host"},
        {"http://h:0", "'base_url' port must be between 1 and 65535"},
        {"http://h:65536", "'base_url' port must be between 1 and 65535"},
        {"http://h:", "'base_url' port must be between 1 and 65535"},
        {"http://h:x", "'base_url' port must be between 1 and 65535"},
        {"http://[::1", "'base_url' has an invalid IPv6 address"},
        {"http://[nope]:80", "'base_url' has an invalid IPv6 address"},
        {"http://[::1]x/", "'base_url' has an invalid host"},
        {"http://h!/", "'base_url' has an invalid host"},
        {"http://h/a b", "'base_url' must not contain spaces"},
    };
    char text[512], want[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(text, sizeof(text), "providers:\n  - name: p\n    base_url: '%s'\n" ROUTE1,
                 cases[i].url);
        snprintf(want, sizeof(want), "s.yaml:3:15: %s", cases[i].msg);
        expect_error(text, want);
    }
}

static void
test_errors_routes(void **state)
{
    (void)state;
    expect_error("routes: []\n" TAIL, "s.yaml:5:1: duplicate key 'routes'");
    expect_error("routes: []\nproviders:\n  - name: p\n    base_url: http://h\n",
                 "s.yaml:1:9: 'routes' must have at least one entry");
    expect_error("providers:\n  - name: p\n    base_url: http://h\nroutes:\n  - prefix: v1\n"
                 "    provider: p\n",
                 "s.yaml:5:13: 'prefix' must start with '/'");
    expect_error("providers:\n  - name: p\n    base_url: http://h\nroutes:\n  - prefix: /a?b\n"
                 "    provider: p\n",
                 "s.yaml:5:13: 'prefix' must be a path without spaces, query or fragment");
    expect_error("providers:\n  - name: p\n    base_url: http://h\nroutes:\n  - prefix: /v1\n",
                 "s.yaml:5:5: missing required key 'provider' in 'routes'");
    expect_error("providers:\n  - name: p\n    base_url: http://h\nroutes:\n  - provider: p\n",
                 "s.yaml:5:5: missing required key 'prefix' in 'routes'");
    expect_error("providers:\n  - name: p\n    base_url: http://h\nroutes:\n  - prefix: /v1\n"
                 "    provider: q\n",
                 "s.yaml:6:15: unknown provider 'q'");
    expect_error(
        "providers:\n  - name: p\n    base_url: http://h\nroutes:\n  - prefix: /v1\n"
        "    provider: p\n  - prefix: /v1\n    provider: p\n",
        "s.yaml:7:13: duplicate route prefix '/v1' (first at line 5, which matches every model)");
    expect_error("providers:\n  - name: p\n    base_url: http://h\nroutes:\n  - prefix: /v1\n"
                 "    provider: p\n    strip_prefix: maybe\n",
                 "s.yaml:7:19: 'strip_prefix' must be true or false");
    expect_error("providers:\n  - name: p\n    base_url: http://h\nroutes:\n  - prefix: /v1\n"
                 "    provider: p\n    strip_prefix: \"true\"\n",
                 "s.yaml:7:19: 'strip_prefix' must be true or false");
    expect_error("providers:\n  - name: p\n    base_url: http://h\nroutes:\n  - [/v1, p]\n",
                 "s.yaml:5:5: each 'routes' entry must be a mapping");
}

static void
test_errors_files(void **state)
{
    struct gw_config *cfg = (struct gw_config *)1;
    char err[512];

    (void)state;
    assert_int_equal(gw_config_load("tests/fixtures/config/nope.yaml", &cfg, err, sizeof(err)), -1);
    assert_null(cfg);
    assert_string_equal(err,
                        "tests/fixtures/config/nope.yaml: cannot open: No such file or directory");
    assert_int_equal(gw_config_load("tests/fixtures/config", &cfg, err, sizeof(err)), -1);
    assert_string_equal(err, "tests/fixtures/config: not a regular file");
    assert_int_equal(gw_config_load("tests/fixtures/config/tabs.yaml", &cfg, err, sizeof(err)), -1);
    assert_string_equal(err, "tests/fixtures/config/tabs.yaml:3:1: found character that cannot "
                             "start any token while scanning for the next token (tabs cannot be "
                             "used for indentation)");
    expect_error("workers: 2\nlisten: [127.0.0.1:80\n" TAIL,
                 "s.yaml:3:10: did not find expected ',' or ']' while parsing a flow sequence");
    expect_error("workers: 2\n  x: 1\n", "s.yaml:2:4: mapping values are not allowed in this "
                                         "context");
    expect_error("a: *b\n", "s.yaml:1:4: anchors and aliases are not supported");
}

/* ------------------------------------------------------------------------------------------- */

static void
test_parse_duration(void **state)
{
    static const struct {
        const char *s;
        uint32_t v;
    } ok[] = {
        {"0", 0},
        {"1", 1},
        {"250", 250},
        {"250ms", 250},
        {"0ms", 0},
        {"10s", 10000},
        {"5m", 300000},
        {"1h", 3600000},
        {"24h", 86400000},
        {"007s", 7000},
        {"4294967295", 4294967295u},
        {"4294967295ms", 4294967295u},
        {"1193h", 4294800000u},
    };
    static const char *const bad[] = {
        "",
        "-1",
        "+1",
        "1x",
        "s",
        "ms",
        "1.5s",
        " 1s",
        "1s ",
        "10S",
        "1 s",
        "1ms5",
        "1d",
        "1sec",
        "4294967296",
        "1194h",
        "4294968s",
        "71583m",
        "99999999999999999999999",
        "0x10",
    };
    uint32_t v;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        v = 12345;
        if (gw_parse_duration_ms(ok[i].s, &v) != 0)
            fail_msg("'%s' rejected", ok[i].s);
        assert_int_equal(v, ok[i].v);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = 12345;
        if (gw_parse_duration_ms(bad[i], &v) == 0)
            fail_msg("'%s' accepted", bad[i]);
        assert_int_equal(v, 12345);
    }
}

static void
test_parse_size(void **state)
{
    static const struct {
        const char *s;
        size_t v;
    } ok[] = {
        {"0", 0},
        {"512", 512},
        {"32k", 32768},
        {"32K", 32768},
        {"8m", 8u << 20},
        {"8M", 8u << 20},
        {"1g", 1u << 30},
        {"1G", 1u << 30},
        {"0k", 0},
        {"16777216g", (size_t)1 << 54},
        {"18446744073709551615", SIZE_MAX},
    };
    static const char *const bad[] = {
        "",
        "-1",
        "+1",
        "k",
        "1kb",
        "1t",
        "1 k",
        " 1",
        "1 ",
        "1.5k",
        "1e3",
        "0x1",
        "1kk",
        "17179869184g",
        "18446744073709551616",
        "99999999999999999999999k",
    };
    size_t v;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        v = 12345;
        if (gw_parse_size(ok[i].s, &v) != 0)
            fail_msg("'%s' rejected", ok[i].s);
        assert_int_equal(v, ok[i].v);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = 12345;
        if (gw_parse_size(bad[i], &v) == 0)
            fail_msg("'%s' accepted", bad[i]);
        assert_int_equal(v, 12345);
    }
}

static void
test_values(void **state)
{
    struct gw_config *cfg;

    (void)state;
    /* bounds are inclusive; sizes and durations may be quoted; booleans accept yes/no */
    cfg = load_ok("workers: 256\n"
                  "limits: {max_header_bytes: 1k, max_headers: 1000, max_body_bytes: '1g',\n"
                  "         max_response_bytes: 1024, client_buffer_high: 64m}\n"
                  "timeouts: {client_header: 1, request: 24h, keepalive: \"250ms\"}\n"
                  "upstream_pool_max_idle: 10000\n"
                  "log_level: error\n"
                  "access_log: /var/log/portcullis/access.log\n"
                  "providers:\n"
                  "  - {name: p, base_url: 'HTTPS://Example.com:443/a/b//', auth: api-key}\n"
                  "  - {name: q.v-2_x, api: anthropic, base_url: 'http://h:8080/x'}\n"
                  "  - {name: r, base_url: 'http://[::1]/', fallback: p}\n"
                  "routes:\n"
                  "  - {prefix: /a, provider: p, strip_prefix: yes}\n"
                  "  - {prefix: /b, provider: q.v-2_x, strip_prefix: no}\n"
                  "  - {prefix: /c, provider: r, strip_prefix: True}\n");
    assert_int_equal(cfg->workers, 256);
    assert_int_equal(cfg->limits.max_header_bytes, 1024);
    assert_int_equal(cfg->limits.max_headers, 1000);
    assert_int_equal(cfg->limits.max_body_bytes, 1u << 30);
    assert_int_equal(cfg->limits.max_response_bytes, 1024);
    assert_int_equal(cfg->limits.client_buffer_high, 64u << 20);
    assert_int_equal(cfg->timeouts.client_header, 1);
    assert_int_equal(cfg->timeouts.request, 86400000);
    assert_int_equal(cfg->timeouts.keepalive, 250);
    assert_int_equal(cfg->timeouts.client_body, 30000);
    assert_int_equal(cfg->upstream_pool_max_idle, 10000);
    assert_string_equal(cfg->log_level, "error");
    assert_string_equal(cfg->access_log, "/var/log/portcullis/access.log");

    assert_int_equal(cfg->providers[0].line, 9);
    assert_int_equal(cfg->providers[2].line, 11);
    assert_int_equal(cfg->routes[1].line, 14);
    assert_int_equal(cfg->providers[0].tls, 1);
    assert_string_equal(cfg->providers[0].host, "Example.com");
    assert_int_equal(cfg->providers[0].port, 443);
    assert_string_equal(cfg->providers[0].host_header, "Example.com");
    assert_string_equal(cfg->providers[0].base_path, "/a/b");
    assert_int_equal(cfg->providers[0].auth, GW_AUTH_API_KEY);
    assert_int_equal(cfg->providers[1].api, GW_API_ANTHROPIC);
    assert_int_equal(cfg->providers[1].auth, GW_AUTH_X_API_KEY);
    assert_int_equal(cfg->providers[1].tls, 0);
    assert_int_equal(cfg->providers[1].port, 8080);
    assert_string_equal(cfg->providers[1].host_header, "h:8080");
    assert_string_equal(cfg->providers[1].base_path, "/x");
    assert_string_equal(cfg->providers[2].host, "::1");
    assert_int_equal(cfg->providers[2].port, 80);
    assert_string_equal(cfg->providers[2].host_header, "[::1]");
    assert_string_equal(cfg->providers[2].base_path, "");

    assert_int_equal(cfg->routes[0].strip_prefix, 1);
    assert_int_equal(cfg->routes[1].strip_prefix, 0);
    assert_int_equal(cfg->routes[2].strip_prefix, 1);
    /* r has no key (bearer) and a fallback: its route goes to p */
    assert_ptr_equal(cfg->routes[2].provider, &cfg->providers[0]);
    assert_int_equal(cfg->routes[2].via_fallback, 1);
    assert_string_equal(cfg->routes[2].provider_name, "r");
    gw_config_unref(cfg);

    cfg = load_ok("workers: \"auto\"\n" TAIL);
    assert_int_equal(cfg->workers, sysconf(_SC_NPROCESSORS_ONLN));
    gw_config_unref(cfg);
}

/* Top-level keys may come in any order: routes are resolved after providers are read. */
static void
test_order_independent(void **state)
{
    struct gw_config *cfg;

    (void)state;
    cfg = load_ok("routes:\n  - prefix: /\n    provider: b\n"
                  "providers:\n"
                  "  - name: a\n    base_url: http://h\n    fallback: b\n"
                  "  - name: b\n    base_url: http://h\n    auth: none\n");
    assert_ptr_equal(cfg->routes[0].provider, &cfg->providers[1]);
    assert_int_equal(cfg->routes[0].via_fallback, 0);
    gw_config_unref(cfg);
}

static void
test_route_longest_prefix(void **state)
{
    const char path[] = "/v1/chat/completionsXYZ";
    const struct gw_route_cfg *r;
    struct gw_config *cfg;

    (void)state;
    cfg = load_ok("providers:\n  - name: p\n    base_url: http://h\n"
                  "routes:\n"
                  "  - {prefix: /, provider: p}\n"
                  "  - {prefix: /v1/chat/completions, provider: p}\n"
                  "  - {prefix: /v1, provider: p}\n"
                  "  - {prefix: /v1/chat, provider: p}\n");
    assert_string_equal(cfg->routes[0].prefix, "/v1/chat/completions");
    assert_string_equal(cfg->routes[1].prefix, "/v1/chat");
    assert_string_equal(cfg->routes[2].prefix, "/v1");
    assert_string_equal(cfg->routes[3].prefix, "/");

    /* path is not NUL-terminated at len */
    assert_string_equal(gw_config_route(cfg, path, 20, NULL)->prefix, "/v1/chat/completions");
    assert_string_equal(gw_config_route(cfg, path, 23, NULL)->prefix, "/v1/chat/completions");
    assert_string_equal(gw_config_route(cfg, path, 19, NULL)->prefix, "/v1/chat");
    assert_string_equal(gw_config_route(cfg, path, 8, NULL)->prefix, "/v1/chat");
    assert_string_equal(gw_config_route(cfg, path, 7, NULL)->prefix, "/v1");
    assert_string_equal(gw_config_route(cfg, path, 3, NULL)->prefix, "/v1");
    assert_string_equal(gw_config_route(cfg, path, 2, NULL)->prefix, "/");
    assert_string_equal(gw_config_route(cfg, "/v2/x", 5, NULL)->prefix, "/");
    assert_string_equal(gw_config_route(cfg, "/v1x", 4, NULL)->prefix, "/v1");
    assert_null(gw_config_route(cfg, path, 0, NULL));
    assert_null(gw_config_route(cfg, "x", 1, NULL));
    gw_config_unref(cfg);

    cfg = load_file_ok("config/portcullis.yaml");
    r = gw_config_route(cfg, "/v1/messages?beta=true", 22, NULL);
    assert_string_equal(r->prefix, "/v1/messages");
    r = gw_config_route(cfg, "/v1/chat/completions", 20, NULL);
    assert_string_equal(r->prefix, "/v1/");
    assert_null(gw_config_route(cfg, "/v2/chat", 8, NULL));
    assert_null(gw_config_route(cfg, "/v1", 3, NULL));
    gw_config_unref(cfg);
}

static void
test_fallback_env(void **state)
{
    const struct gw_route_cfg *r;
    struct gw_config *cfg;
    char *sum;

    (void)state;
    /* no key in the environment: routes fall back to the mocks */
    cfg = load_file_ok("config/portcullis.yaml");
    r = gw_config_route(cfg, "/v1/chat/completions", 20, NULL);
    assert_string_equal(r->provider_name, "openai");
    assert_string_equal(r->provider->name, "mock");
    assert_int_equal(r->via_fallback, 1);
    r = gw_config_route(cfg, "/v1/messages", 12, NULL);
    assert_string_equal(r->provider->name, "mock-anthropic");
    assert_int_equal(r->via_fallback, 1);
    sum = summary_of(cfg);
    assert_non_null(strstr(sum, "config: config/portcullis.yaml\n"));
    assert_non_null(strstr(sum, "\nlisten: 127.0.0.1:8080\n"));
    assert_non_null(strstr(sum, "\nprovider openai: openai api, https://api.openai.com, auth "
                                "bearer, key from $OPENAI_API_KEY (not set; falls back to "
                                "mock)\n"));
    assert_non_null(strstr(sum, "\nprovider mock: openai api, http://127.0.0.1:8089, auth none\n"));
    assert_non_null(strstr(sum,
                           "\nroute /v1/messages -> anthropic (via fallback mock-anthropic: "
                           "no key), filters injection -> secrets -> pii -> exfil -> egress\n"));
    assert_non_null(strstr(sum, "\nroute /v1/ -> openai (via fallback mock: no key), filters "
                                "injection -> secrets -> pii -> exfil -> egress\n"));
    free(sum);
    gw_config_unref(cfg);

    /* an empty variable counts as not set */
    setenv("OPENAI_API_KEY", "", 1);
    cfg = load_file_ok("config/portcullis.yaml");
    assert_null(gw_config_provider(cfg, "openai")->key);
    assert_int_equal(gw_config_route(cfg, "/v1/x", 5, NULL)->via_fallback, 1);
    gw_config_unref(cfg);

    /* key set (trailing whitespace trimmed): the real provider, and the summary hides the key */
    setenv("OPENAI_API_KEY", "sk-test-SECRET-1234\n", 1);
    cfg = load_file_ok("config/portcullis.yaml");
    assert_string_equal(gw_config_provider(cfg, "openai")->key, "sk-test-SECRET-1234");
    assert_int_equal(gw_config_provider(cfg, "openai")->key_from_env, 1);
    r = gw_config_route(cfg, "/v1/chat/completions", 20, NULL);
    assert_string_equal(r->provider->name, "openai");
    assert_int_equal(r->via_fallback, 0);
    r = gw_config_route(cfg, "/v1/messages", 12, NULL);
    assert_string_equal(r->provider->name, "mock-anthropic"); /* ANTHROPIC_API_KEY still unset */
    sum = summary_of(cfg);
    assert_null(strstr(sum, "SECRET"));
    assert_non_null(strstr(sum, "auth bearer, key from $OPENAI_API_KEY\n"));
    assert_non_null(strstr(
        sum, "\nroute /v1/ -> openai, filters injection -> secrets -> pii -> exfil -> egress\n"));
    free(sum);
    gw_config_unref(cfg);

    /* a key with a control character inside would end up in a header: refused */
    setenv("OPENAI_API_KEY", "sk-a\r\nX-Injected: 1", 1);
    expect_error(
        "providers:\n  - name: p\n    base_url: http://h\n    key_env: OPENAI_API_KEY\n" ROUTE1,
        "s.yaml:4:14: environment variable 'OPENAI_API_KEY' contains control "
        "characters");
    unsetenv("OPENAI_API_KEY");
}

static void
test_key_file(void **state)
{
    const struct gw_provider_cfg *p;
    struct gw_config *cfg;
    char *sum;

    (void)state;
    /* relative key_file is resolved against the config file's directory */
    cfg = load_file_ok("tests/fixtures/config/keyfile.yaml");
    p = gw_config_provider(cfg, "withfile");
    assert_string_equal(p->key_file, "tests/fixtures/config/key.txt");
    assert_string_equal(p->key, "sk-file-key-123"); /* " \t\r\n\n" trimmed */
    assert_int_equal(p->key_from_env, 0);
    p = gw_config_provider(cfg, "emptyfile");
    assert_null(p->key); /* whitespace only: no key */
    assert_int_equal(gw_config_route(cfg, "/a/", 3, NULL)->via_fallback, 0);
    assert_string_equal(gw_config_route(cfg, "/a/", 3, NULL)->provider->name, "withfile");
    assert_int_equal(gw_config_route(cfg, "/b/", 3, NULL)->via_fallback, 1);
    assert_string_equal(gw_config_route(cfg, "/b/", 3, NULL)->provider->name, "local");
    sum = summary_of(cfg);
    assert_null(strstr(sum, "sk-file-key"));
    assert_non_null(strstr(sum, "key from file tests/fixtures/config/key.txt\n"));
    assert_non_null(strstr(sum, "key from file tests/fixtures/config/key_empty.txt (empty; "
                                "falls back to local)\n"));
    free(sum);
    gw_config_unref(cfg);

    /* key_env wins when set and non-empty */
    setenv("GW_TEST_KEYFILE_ENV", "sk-from-env \n", 1);
    cfg = load_file_ok("tests/fixtures/config/keyfile.yaml");
    p = gw_config_provider(cfg, "withfile");
    assert_string_equal(p->key, "sk-from-env");
    assert_int_equal(p->key_from_env, 1);
    gw_config_unref(cfg);
    setenv("GW_TEST_KEYFILE_ENV", "", 1);
    cfg = load_file_ok("tests/fixtures/config/keyfile.yaml");
    assert_string_equal(gw_config_provider(cfg, "withfile")->key, "sk-file-key-123");
    gw_config_unref(cfg);
    unsetenv("GW_TEST_KEYFILE_ENV");

    /* from a string, relative paths are taken from the working directory */
    cfg = load_ok("providers:\n  - name: p\n    base_url: http://h\n"
                  "    key_file: tests/fixtures/config/key.txt\n"
                  "    ca_file: tests/fixtures/config/key.txt\n" ROUTE1);
    assert_string_equal(cfg->providers[0].key, "sk-file-key-123");
    assert_string_equal(cfg->providers[0].ca_file, "tests/fixtures/config/key.txt");
    gw_config_unref(cfg);
}

static void
test_refcount(void **state)
{
    struct gw_config *cfg;

    (void)state;
    cfg = load_ok(TAIL);
    assert_int_equal(cfg->refcnt, 1);
    assert_ptr_equal(gw_config_ref(cfg), cfg);
    assert_ptr_equal(gw_config_ref(cfg), cfg);
    assert_int_equal(cfg->refcnt, 3);
    gw_config_unref(cfg);
    gw_config_unref(cfg);
    assert_int_equal(cfg->refcnt, 1);
    gw_config_unref(cfg); /* freed here; ASan/valgrind report a leak or double free otherwise */
    assert_null(gw_config_ref(NULL));
    gw_config_unref(NULL);
}

static void
test_summary_default(void **state)
{
    struct gw_config *cfg;
    char *sum;

    (void)state;
    cfg = load_file_ok("tests/fixtures/config/minimal.yaml");
    sum = summary_of(cfg);
    assert_non_null(strstr(sum,
                           "\nlimits: max_header_bytes 32k, max_headers 100, max_body_bytes 8m, "
                           "max_response_bytes 32m, client_buffer_high 256k\n"));
    assert_non_null(strstr(sum, "\ntimeouts: client_header 10s, client_body 30s, keepalive 75s, "
                                "request 10m\n"));
    assert_non_null(strstr(sum, "\nprovider up: openai api, http://127.0.0.1:9000, auth bearer, "
                                "no key configured\n"));
    assert_non_null(strstr(sum, "\nroute / -> up\n"));
    free(sum);
    gw_config_unref(cfg);
}

#define HASH_A "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" /* "test" */
#define HASH_B "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752" /* "test2" */

static void
test_identity(void **state)
{
    (void)state;
    struct gw_config *cfg = load_ok("teams:\n"
                                    "  - name: plat\n"
                                    "    allowed_models: [\"gpt-4o*\"]\n"
                                    "  - name: open\n"
                                    "keys:\n"
                                    "  - {id: b, team: open, sha256: " HASH_B "}\n"
                                    "  - {id: a, team: plat, user: alice, sha256: " HASH_A "}\n"
                                    "auth:\n"
                                    "  session_header: X-Conversation\n" TAIL);
    assert_int_equal(cfg->auth.required, 1); /* auto + keys */
    assert_string_equal(cfg->auth.session_header, "X-Conversation");
    unsigned char d[32];
    for (int i = 0; i < 32; i++) {
        unsigned v;
        sscanf(HASH_A + 2 * i, "%2x", &v);
        d[i] = (unsigned char)v;
    }
    const struct gw_key_cfg *k = gw_config_key(cfg, d);
    assert_non_null(k);
    assert_string_equal(k->id, "a");
    assert_string_equal(k->user, "alice");
    assert_string_equal(k->team->name, "plat");
    assert_true(gw_globs_match(&k->team->allowed_models, "gpt-4o-mini"));
    assert_false(gw_globs_match(&k->team->allowed_models, "gpt-3.5"));
    d[0] ^= 1;
    assert_null(gw_config_key(cfg, d));
    gw_config_unref(cfg);

    cfg = load_ok(TAIL);
    assert_int_equal(cfg->auth.required, 0); /* auto, no keys */
    assert_string_equal(cfg->auth.session_header, "X-Session-Id");
    assert_int_equal(cfg->admin.enabled, 1);
    assert_string_equal(cfg->admin.listen.addr, "127.0.0.1:9090");
    gw_config_unref(cfg);

    expect_error("auth: {required: true}\n" TAIL,
                 "s.yaml:1:18: 'auth.required' is true but no keys are configured: every request "
                 "would be refused");
    expect_error("auth: {required: maybe}\n" TAIL,
                 "s.yaml:1:18: 'required' must be auto, true or false");
    expect_error("keys:\n  - {id: a, team: nope, sha256: " HASH_A "}\n" TAIL,
                 "s.yaml:2:19: team 'nope' is not defined in 'teams'");
    expect_error("teams: [{name: t}]\nkeys:\n  - {id: a, team: t, sha256: abc}\n" TAIL,
                 "s.yaml:3:30: 'sha256' must be 64 hex digits (the SHA-256 of the key; "
                 "`portcullis keygen` prints it)");
    expect_error("teams: [{name: t}]\nkeys:\n  - {id: a, team: t, sha256: " HASH_A
                 "}\n  - {id: a, team: t, sha256: " HASH_B "}\n" TAIL,
                 "s.yaml:4:10: duplicate key id 'a' (first at line 3)");
    expect_error("teams: [{name: t}]\nkeys:\n  - {id: a, team: t, sha256: " HASH_A
                 "}\n  - {id: b, team: t, sha256: " HASH_A "}\n" TAIL,
                 "s.yaml:4:30: the same key hash is listed twice (line 3)");
    expect_error("teams: [{name: t}, {name: t}]\n" TAIL,
                 "s.yaml:1:27: duplicate team 't' (first at line 1)");
    expect_error("teams: [{name: t, allowed_models: []}]\n" TAIL,
                 "s.yaml:1:35: 'allowed_models' must list at least one pattern (omit it to allow "
                 "any)");
    expect_error("auth: {session_header: \"X Session\"}\n" TAIL,
                 "s.yaml:1:24: 'session_header' must be an HTTP header name");
    expect_error("admin: {listen: nowhere}\n" TAIL,
                 "s.yaml:1:17: invalid listen address 'nowhere': expected host:port, [v6]:port "
                 "or :port");
    cfg = load_ok("admin: {listen: off}\n" TAIL);
    assert_int_equal(cfg->admin.enabled, 0);
    gw_config_unref(cfg);
}

static void
test_model_routes(void **state)
{
    (void)state;
    struct gw_config *cfg =
        load_ok("providers:\n"
                "  - {name: a, base_url: http://127.0.0.1:9}\n"
                "  - {name: b, base_url: http://127.0.0.1:10}\n"
                "  - {name: az, base_url: http://127.0.0.1:11, auth: api-key,\n"
                "     azure_api_version: 2024-10-21, deployments: {gpt-4o: dep1}}\n"
                "routes:\n"
                "  - {prefix: /v1/, provider: b, models: [\"llama*\", mistral]}\n"
                "  - {prefix: /v1/, provider: a, allowed_models: [\"gpt-*\"]}\n"
                "  - {prefix: /az/, provider: az}\n");
    assert_int_equal(cfg->routes_by_model, 1);
    const struct gw_route_cfg *r = gw_config_route(cfg, "/v1/chat", 8, "llama-3");
    assert_string_equal(r->provider->name, "b");
    r = gw_config_route(cfg, "/v1/chat", 8, "mistral");
    assert_string_equal(r->provider->name, "b");
    r = gw_config_route(cfg, "/v1/chat", 8, "mistral-large");
    assert_string_equal(r->provider->name, "a");
    r = gw_config_route(cfg, "/v1/chat", 8, NULL);
    assert_string_equal(r->provider->name, "a");
    assert_true(gw_globs_match(&r->allowed_models, "gpt-4o"));
    r = gw_config_route(cfg, "/az/chat", 8, "gpt-4o");
    assert_string_equal(r->provider->azure_api_version, "2024-10-21");
    assert_string_equal(gw_provider_deployment(r->provider, "gpt-4o"), "dep1");
    assert_string_equal(gw_provider_deployment(r->provider, "gpt-4.1"), "gpt-4.1");
    gw_config_unref(cfg);

    expect_error("providers:\n  - {name: a, base_url: http://127.0.0.1:9}\n"
                 "routes:\n  - {prefix: /v1/, provider: a}\n"
                 "  - {prefix: /v1/, provider: a, models: [x]}\n",
                 "s.yaml:5:14: duplicate route prefix '/v1/' (first at line 4, which matches "
                 "every model)");
    expect_error(
        "providers:\n  - {name: a, base_url: http://127.0.0.1:9, deployments: {m: \"a b\"}}\n"
        "routes:\n  - {prefix: /v1/, provider: a}\n",
        "s.yaml:2:62: a deployment name may only contain letters, digits, '_', '.' and "
        "'-'");
}

static void
test_filters(void **state)
{
    (void)state;
    struct gw_config *cfg =
        load_ok("filters:\n"
                "  - {type: trace, name: t1, seed: 5}\n"
                "  - {type: trace, name: t2, on_error: pass, block_status: 451}\n"
                "providers:\n  - {name: p, base_url: http://127.0.0.1:9}\n"
                "routes:\n"
                "  - {prefix: /a/, provider: p, filters: [t2]}\n"
                "  - {prefix: /b/, provider: p, filters: []}\n"
                "  - {prefix: /, provider: p}\n");
    assert_int_equal(cfg->nfilters, 2);
    assert_int_equal(cfg->filters[1].on_error_pass, 1);
    assert_int_equal(cfg->filters[1].block_status, 451);
    const struct gw_route_cfg *r = gw_config_route(cfg, "/a/x", 4, NULL);
    assert_int_equal(r->chain.n, 1);
    assert_string_equal(r->chain.v[0]->name, "t2");
    assert_true(r->chain.resp_chunk);
    r = gw_config_route(cfg, "/b/x", 4, NULL);
    assert_int_equal(r->chain.n, 0);
    r = gw_config_route(cfg, "/c", 2, NULL);
    assert_int_equal(r->chain.n, 2);
    assert_string_equal(r->chain.v[0]->name, "t1");
    gw_config_unref(cfg);

    expect_error("filters:\n  - {type: nope}\n" TAIL,
                 "s.yaml:2:12: unknown filter type 'nope' (known: egress, exfil, injection, "
                 "patterns, trace)");
    expect_error("filters:\n  - {name: x}\n" TAIL,
                 "s.yaml:2:5: missing required key 'type' in 'filters'");
    expect_error(
        "filters:\n  - {type: trace}\n  - {type: trace}\n" TAIL,
        "s.yaml:3:12: duplicate filter name 'trace' (first at line 2); give each a 'name'");
    expect_error("filters:\n  - {type: trace, on_error: maybe}\n" TAIL,
                 "s.yaml:2:29: 'on_error' must be block or pass");
    expect_error("filters:\n  - {type: trace, block_status: 200}\n" TAIL,
                 "s.yaml:2:33: 'block_status' must be an HTTP status from 400 to 599");
    expect_error("filters:\n  - {type: trace, bogus: 1}\n" TAIL,
                 "s.yaml:2:5: trace: unknown or invalid key 'bogus' (seed: integer, hold: bool, "
                 "wait_ms: 0..60000)");
    expect_error("providers:\n  - {name: p, base_url: http://127.0.0.1:9}\n"
                 "routes:\n  - {prefix: /, provider: p, filters: [ghost]}\n",
                 "s.yaml:4:39: route '/': unknown filter 'ghost' (define it under 'filters')");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_default_config, setup),
        cmocka_unit_test_setup(test_defaults_match_default_file, setup),
        cmocka_unit_test_setup(test_json_fixture, setup),
        cmocka_unit_test_setup(test_errors_top_level, setup),
        cmocka_unit_test_setup(test_errors_workers, setup),
        cmocka_unit_test_setup(test_errors_limits_timeouts, setup),
        cmocka_unit_test_setup(test_errors_listen, setup),
        cmocka_unit_test_setup(test_errors_providers, setup),
        cmocka_unit_test_setup(test_errors_base_url, setup),
        cmocka_unit_test_setup(test_errors_routes, setup),
        cmocka_unit_test_setup(test_errors_files, setup),
        cmocka_unit_test_setup(test_parse_duration, setup),
        cmocka_unit_test_setup(test_parse_size, setup),
        cmocka_unit_test_setup(test_values, setup),
        cmocka_unit_test_setup(test_order_independent, setup),
        cmocka_unit_test_setup(test_route_longest_prefix, setup),
        cmocka_unit_test_setup(test_fallback_env, setup),
        cmocka_unit_test_setup(test_key_file, setup),
        cmocka_unit_test_setup(test_refcount, setup),
        cmocka_unit_test_setup(test_summary_default, setup),
        cmocka_unit_test_setup(test_identity, setup),
        cmocka_unit_test_setup(test_model_routes, setup),
        cmocka_unit_test_setup(test_filters, setup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
