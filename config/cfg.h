/*
 * Configuration snapshot: loaded and validated once per generation, immutable afterwards,
 * shared read-only by every worker and released when the last reference goes.
 */
#ifndef GW_CFG_H
#define GW_CFG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum gw_api {
    GW_API_OPENAI = 0, /* OpenAI-style errors: {"error":{"message","type","param","code"}} */
    GW_API_ANTHROPIC,  /* Anthropic-style errors: {"type":"error","error":{"type","message"}} */
};

enum gw_auth_style {
    GW_AUTH_BEARER = 0, /* Authorization: Bearer KEY */
    GW_AUTH_X_API_KEY,  /* x-api-key: KEY (Anthropic) */
    GW_AUTH_API_KEY,    /* api-key: KEY (Azure OpenAI) */
    GW_AUTH_NONE,       /* nothing added; the client's credentials are not forwarded either */
};

/* A list of shell-style patterns (fnmatch: '*', '?', '[...]'), e.g. model names. */
struct gw_globs {
    char **items;
    size_t n;
};

/* 1 when s matches one of the patterns. */
int gw_globs_match(const struct gw_globs *g, const char *s);

struct gw_provider_cfg {
    char *name;
    enum gw_api api;
    char *base_url;    /* as written */
    int tls;           /* 1 for https:// */
    char *host;        /* host name or address, IPv6 without brackets */
    uint16_t port;     /* explicit or 80/443 */
    char *base_path;   /* "" or "/v1": no trailing slash */
    char *host_header; /* value of Host: "host" or "host:port" (port only when not default) */
    enum gw_auth_style auth;
    char *key_env;           /* environment variable holding the key, or NULL */
    char *key_file;          /* file holding the key (trailing whitespace trimmed), or NULL */
    char *key;               /* resolved at load time: NULL when neither source gave a key */
    char *fallback;          /* provider name used by routes when this one has no key, or NULL */
    char *ca_file;           /* CA bundle for verifying this upstream, NULL = system trust store */
    char *azure_api_version; /* set: Azure OpenAI deployment paths (see README), else NULL */
    struct gw_globs deploy_models; /* Azure: model names ... */
    char **deploy_names;           /* ... and the deployment each maps to (default: the model) */
    int line;                      /* line of the definition in the config file */
    int key_from_env; /* 1: key came from key_env, 0: from key_file (or there is no key) */
};
/* key_file and ca_file are stored resolved: a relative path in the file is taken relative to the
 * directory of the config file (relative to the working directory for gw_config_load_string). */

struct gw_filter_ops;

/* One configured filter: its type's operations and its compiled configuration. */
struct gw_filter_inst {
    char *name; /* instance name (default: the type) */
    const struct gw_filter_ops *ops;
    void *conf;        /* from ops->conf_new; freed with the snapshot */
    int on_error_pass; /* on_error: pass (fail open) instead of block */
    int block_status;  /* block_status: the HTTP status of this filter's blocks (0: its own) */
    int line;
};

/* A route's filter chain, in config order. */
struct gw_chain {
    struct gw_filter_inst **v;
    size_t n;
    unsigned req_body : 1, resp_body : 1, resp_chunk : 1; /* some filter has that callback */
    unsigned usage : 1; /* some filter reads the answer's usage (GW_HOOK_USAGE) */
};

struct gw_route_cfg {
    char *prefix; /* path prefix, starts with '/' */
    size_t prefix_len;
    char *provider_name;              /* as written */
    struct gw_provider_cfg *provider; /* effective provider (after fallback) */
    int via_fallback;                 /* 1 when provider is the configured one's fallback */
    int strip_prefix;                 /* remove prefix before appending to base_path */
    struct gw_globs models;           /* route only requests whose model matches (n = 0: any) */
    struct gw_globs allowed_models;   /* approved models on this route (n = 0: any) */
    struct gw_chain chain;            /* `filters` of the route, else every top-level filter */
    char **filter_names;              /* as written (NULL: not given) */
    size_t nfilter_names;
    int capture;        /* enum gw_capture: route `audit.capture`, else the audit default */
    size_t capture_max; /* bytes of captured text per field */
    int line;
};

enum gw_client_auth {
    GW_CLIENT_AUTH_NONE = 0, /* no client certificate asked for */
    GW_CLIENT_AUTH_OPTIONAL, /* asked for; verified against client_ca when sent */
    GW_CLIENT_AUTH_REQUIRE,  /* mTLS: the handshake fails without a valid one */
};

struct gw_tls_cfg {
    char *cert;      /* PEM certificate chain (resolved path) */
    char *key;       /* PEM private key (resolved path) */
    char *client_ca; /* CA bundle for client certificates, or NULL */
    char *ciphers;   /* TLS 1.2 cipher list (OpenSSL syntax) */
    int client_auth; /* enum gw_client_auth */
};

struct gw_listen_cfg {
    char *addr;             /* as written: "127.0.0.1:8080", "[::1]:8080", ":8080" */
    char *host;             /* NULL or "" = any address */
    uint16_t port;          /* 0 = pick a free port (tests) */
    struct gw_tls_cfg *tls; /* NULL: plain HTTP */
    void *ssl_ctx; /* SSL_CTX * built at load time when tls is set; lives with the snapshot */
};

struct gw_admin_cfg {
    int enabled; /* 0 when listen is "off" */
    struct gw_listen_cfg listen;
    char *token_env; /* environment variable holding the admin token, or NULL */
    char *token;     /* resolved at load time; NULL: reload only from loopback */
};

/* ---- budgets and rate limits (filters/flt_budget.c enforces them) ---- */

enum gw_budget_window { GW_WIN_MINUTE = 0, GW_WIN_HOUR, GW_WIN_DAY, GW_WIN_MONTH };
enum gw_budget_metric {
    GW_BM_TOKENS = 0, /* input + output tokens */
    GW_BM_INPUT,      /* input tokens */
    GW_BM_OUTPUT,     /* output tokens */
    GW_BM_COST,       /* micro-USD, from the price table */
    GW_BM_REQUESTS,   /* requests (rate limits) */
    GW_BM_COUNT
};

/* Names of the metrics and windows as the config writes them (indexed by the enums above,
 * NULL-terminated): config keys, store keys, events and the admin API all use these. */
extern const char *const gw_budget_metric_names[];
extern const char *const gw_budget_window_names[];

/* One limit: at most `limit` units of `metric` per window. */
struct gw_budget_limit {
    enum gw_budget_metric metric;
    enum gw_budget_window window;
    int rolling;   /* 0: calendar-aligned in UTC; 1: the last window length up to now */
    int64_t limit; /* tokens, requests, or micro-USD */
    int line;
};

/* The limits of one team or key: `budgets` and `rate_limits`. */
struct gw_budget_policy {
    struct gw_budget_limit *v;
    size_t n;
};

struct gw_budgets_cfg {
    int store;         /* 0 memory, 1 redis */
    char *journal;     /* memory store: resolved path; NULL: "off" (spend lost on restart) */
    int fsync;         /* 0 never, 1 always, 2 interval */
    uint32_t fsync_ms; /* interval */
    char *redis_host;  /* redis store */
    uint16_t redis_port;
    char *redis_password; /* resolved from password_env, or NULL */
    size_t redis_db;
    char *redis_prefix;
    uint32_t redis_timeout_ms;
    int fail_open;                /* on_store_error: open (admit unaccounted) instead of 503 */
    size_t default_output_tokens; /* reserved when the request sets no output maximum */
    double thresholds[8];         /* percent of a limit at which an event is emitted, ascending */
    size_t nthresholds;
    /* cost-anomaly playbook: a team's spend in the last `anomaly_window` above `factor` times
     * its average per window over the last `anomaly_baseline` (and above min_cost USD) emits an
     * alert and, when lower_to < 1, multiplies the team's limits by lower_to for cooldown. */
    int anomaly;
    double anomaly_factor, anomaly_min_cost, anomaly_lower_to;
    uint32_t anomaly_window_ms, anomaly_baseline_ms, anomaly_cooldown_ms;
};

struct gw_team_cfg {
    char *name;
    struct gw_globs allowed_models; /* approved models for the team (n = 0: any) */
    struct gw_budget_policy budget; /* budgets and rate limits of the whole team */
    int line;
};

/* A model price: USD per million tokens, for the models matching the patterns. */
struct gw_price_cfg {
    struct gw_globs models;
    double input, output;
    double cached_input; /* input tokens read from the provider's prompt cache (default: input) */
    int line;
};

struct gw_key_cfg {
    char *id; /* key id: appears in logs and events, never the key */
    char *team_name;
    const struct gw_team_cfg *team;
    char *user; /* or NULL */
    unsigned char sha256[32];
    struct gw_budget_policy budget; /* budgets and rate limits of this key alone */
    int line;
};

struct gw_auth_cfg {
    int required;         /* resolved: 1 when every request must carry a virtual key */
    char *session_header; /* header carrying the session id (default X-Session-Id) */
};

struct gw_limits_cfg {
    size_t max_header_bytes;   /* request line + headers; over → 431 */
    size_t max_headers;        /* header count; over → 431 */
    size_t max_body_bytes;     /* request body; over → 413 */
    size_t max_response_bytes; /* buffered (non-streamed) response bodies */
    size_t client_buffer_high; /* pending output to a client before upstream reads pause */
    size_t stream_hold_bytes;  /* most text filters may hold back per logical stream */
};

struct gw_timeouts_cfg {          /* all in milliseconds */
    uint32_t client_header;       /* first byte of a request → end of its headers */
    uint32_t client_body;         /* idle gap while reading a request body */
    uint32_t keepalive;           /* idle keep-alive connection between requests */
    uint32_t request;             /* whole exchange, first byte → last byte of response */
    uint32_t upstream_connect;    /* TCP + TLS handshake to the provider */
    uint32_t upstream_first_byte; /* request sent → first response byte */
    uint32_t upstream_idle;       /* gap between response bytes */
    uint32_t upstream_pool_idle;  /* how long an idle pooled upstream connection is kept */
    uint32_t drain;               /* SIGTERM: how long exchanges in flight may take to finish */
    uint32_t stream_hold;         /* held-back stream text is released after this long */
};

/* ---- audit (see audit/audit.h) ---- */

enum gw_sink_type {
    GW_SINK_FILE = 0,      /* JSON lines, size and time rotation */
    GW_SINK_SYSLOG,        /* RFC 5424 over UDP, TCP (octet counting) or TLS */
    GW_SINK_SPLUNK_HEC,    /* Splunk HTTP Event Collector */
    GW_SINK_ELASTICSEARCH, /* Elasticsearch / OpenSearch _bulk */
    GW_SINK_WEBHOOK,       /* generic NDJSON POST */
};

enum gw_syslog_transport { GW_SYSLOG_UDP = 0, GW_SYSLOG_TCP, GW_SYSLOG_TLS };

/* Event kinds, a bit each (a sink's `events` filter). */
enum {
    GW_AUDIT_K_REQUEST = 1u << 0,   /* one per exchange: access and usage */
    GW_AUDIT_K_FILTER = 1u << 1,    /* a filter decision other than pass */
    GW_AUDIT_K_AUTH = 1u << 2,      /* authentication failures */
    GW_AUDIT_K_POLICY = 1u << 3,    /* model not allowed, rate and budget limits */
    GW_AUDIT_K_CONFIG = 1u << 4,    /* config loaded, reloaded, reload failed */
    GW_AUDIT_K_LIFECYCLE = 1u << 5, /* gateway start and stop */
    GW_AUDIT_K_ALL = (1u << 6) - 1,
};

/* Client TLS towards a collector (syslog over TLS, https:// collectors). */
struct gw_sink_tls_cfg {
    char *ca;          /* CA bundle file; NULL: the system trust store */
    char *cert, *key;  /* client certificate and key (mutual TLS), or NULL */
    int verify;        /* verify the collector's certificate and name (default 1) */
    char *server_name; /* name to send (SNI) and verify; NULL: the host of address / url */
};

struct gw_header_cfg {
    char *name, *value;
};

struct gw_sink_cfg {
    char *name; /* unique among sinks; names its spool files */
    enum gw_sink_type type;
    int min_severity;    /* records below are not sent here: 0 info .. 4 critical */
    unsigned kinds;      /* GW_AUDIT_K_* bits sent here */
    size_t batch_events; /* most records per send */
    size_t batch_bytes;  /* most record bytes per send (a single larger record goes alone) */
    uint32_t flush_ms;   /* how long a partial batch waits for more records (0: send now) */
    uint32_t timeout_ms; /* network sinks: connect + send + answer */
    /* file */
    char *path;          /* resolved like other files */
    size_t rotate_bytes; /* rotate when the file would pass this size (0: never) */
    uint32_t rotate_ms;  /* rotate when the file is older than this (0: never) */
    size_t keep;         /* rotated files kept: path.1 (newest) .. path.keep */
    /* syslog */
    char *host; /* collector host (syslog: from address; http: from url) */
    uint16_t port;
    enum gw_syslog_transport transport;
    size_t facility; /* 0..23, default 16 (local0) */
    char *app_name;  /* APP-NAME, default "portcullis" */
    /* http collectors */
    char *url;         /* as written */
    int https;         /* url is https:// */
    char *path_query;  /* request target: path and query of url, "/" when none */
    char *host_header; /* Host: host[:port] */
    char *token;       /* resolved from token_env: HEC "Splunk <token>", ES "ApiKey <token>",
                        * webhook "Bearer <token>"; NULL: no Authorization header */
    char *index;       /* HEC index / Elasticsearch index (default "portcullis-audit" for ES) */
    struct gw_header_cfg *headers; /* extra request headers */
    size_t nheaders;
    int gzip;    /* Content-Encoding: gzip (default 1) */
    int tls_set; /* a tls mapping was given */
    struct gw_sink_tls_cfg tls;
    int line;
};

struct gw_audit_cfg {
    char *spool_dir;    /* spool, chain state and overflow files (created when missing) */
    size_t queue_bytes; /* workers -> audit thread queue; past it records spill to disk */
    char *hmac_key;     /* resolved from hmac_key_env / hmac_key_file; NULL: plain SHA-256 */
    size_t hmac_key_len;
    int capture;           /* default capture policy (enum gw_capture) */
    size_t capture_max;    /* default cap on captured text per field */
    uint32_t retry_min_ms; /* first retry after a failed send; doubles up to retry_max_ms */
    uint32_t retry_max_ms;
    size_t spool_max_bytes; /* per sink; past it records are dropped and counted (0: no cap) */
    struct gw_sink_cfg *sinks;
    size_t nsinks;
};

enum gw_capture { GW_CAPTURE_NONE = 0, GW_CAPTURE_HASH, GW_CAPTURE_REDACTED, GW_CAPTURE_FULL };

struct gw_config {
    char *path;  /* file it was loaded from */
    int workers; /* resolved: "auto" → number of online CPUs */
    struct gw_listen_cfg *listen;
    size_t nlisten;
    struct gw_limits_cfg limits;
    struct gw_timeouts_cfg timeouts;
    size_t upstream_pool_max_idle; /* idle connections kept per provider per worker */
    char *access_log;              /* "stderr", "stdout", "off" or a file path */
    char *log_level;               /* "debug", "info", "warn", "error" */
    struct gw_provider_cfg *providers;
    size_t nproviders;
    struct gw_route_cfg *routes; /* sorted by descending prefix length */
    size_t nroutes;
    int routes_by_model; /* some route has a `models` filter: the model must be read first */
    struct gw_admin_cfg admin;
    struct gw_auth_cfg auth;
    struct gw_team_cfg *teams;
    size_t nteams;
    struct gw_price_cfg *prices; /* in file order: the first whose models match applies */
    size_t nprices;
    struct gw_key_cfg *keys; /* sorted by sha256 */
    size_t nkeys;
    struct gw_filter_inst *filters; /* top-level `filters`, in order */
    size_t nfilters;
    struct gw_budgets_cfg budgets;
    int has_budgets; /* some team or key has a limit: every route's chain starts with `budget` */
    struct gw_filter_inst budget_filter; /* that built-in filter */
    struct gw_audit_cfg audit;
    char sha256[65]; /* SHA-256 of the file text, hex (audit: config drift) */
    char hash[17];   /* first 64 bits of the SHA-256 of the file text, hex: tells configs apart */
    int refcnt;      /* atomic; see gw_config_ref */
};

/*
 * Loads and validates the YAML (or JSON) file at path. On success returns 0 and stores a new
 * snapshot with one reference in *out (caller owns it; release with gw_config_unref). On failure
 * returns -1 and writes "file:line:col: message" (or "file: message" when there is no position)
 * into err. Unknown keys, wrong types, out-of-range values, unknown provider references and
 * unreadable key files are errors. Environment variables are read here, never later.
 */
int gw_config_load(const char *path, struct gw_config **out, char *err, size_t errlen);

/* Same as gw_config_load but from a string; name is used in error messages. */
int gw_config_load_string(const char *name, const char *text, size_t len, struct gw_config **out,
                          char *err, size_t errlen);

/* Reference counting (atomic, any thread). unref frees the snapshot at zero. NULL is ignored. */
struct gw_config *gw_config_ref(struct gw_config *cfg);
void gw_config_unref(struct gw_config *cfg);

/*
 * Longest-prefix route for a request path (path need not be NUL-terminated) whose `models`
 * filter, if any, matches model (NULL: the model is unknown, so only routes without a filter
 * match). NULL when none.
 */
const struct gw_route_cfg *gw_config_route(const struct gw_config *cfg, const char *path,
                                           size_t len, const char *model);

/* Cost in USD of tokens_in / tokens_out tokens (-1: unknown) of model under the config's price
 * table; -1 when the model has no price or no count is known. */
double gw_config_cost(const struct gw_config *cfg, const char *model, int64_t tokens_in,
                      int64_t tokens_out);

/* The same, with `cached` of the tokens_in read from the prompt cache (priced at cached_input). */
double gw_config_cost_cached(const struct gw_config *cfg, const char *model, int64_t tokens_in,
                             int64_t cached, int64_t tokens_out);

/* The virtual key whose SHA-256 is digest, or NULL. */
const struct gw_key_cfg *gw_config_key(const struct gw_config *cfg, const unsigned char digest[32]);

/* The Azure deployment name for model on provider p (the model itself when not mapped). */
const char *gw_provider_deployment(const struct gw_provider_cfg *p, const char *model);

/* Finds a provider by name; NULL when none. */
const struct gw_provider_cfg *gw_config_provider(const struct gw_config *cfg, const char *name);

/* Writes a human-readable summary (listeners, workers, providers with key source but never the
 * key, routes with fallbacks spelled out) to out, as `portcullis check` prints it. */
void gw_config_summary(const struct gw_config *cfg, FILE *out);

/* Parses "250ms", "10s", "5m", "1h" or a bare integer (milliseconds). 0 on success. */
int gw_parse_duration_ms(const char *s, uint32_t *out);

/* Parses "512", "32k", "8m", "1g" (binary multiples) or a bare integer (bytes). 0 on success. */
int gw_parse_size(const char *s, size_t *out);

#endif
