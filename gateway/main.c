/*
 * portcullis: the command line (run, check, scan, keygen, version). Running is gateway/control.c.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <openssl/sha.h>

#include "audit/verify.h"
#include "gateway/version.h"
#include "config/cfg.h"
#include "config/name.h"
#include "gateway/control.h"
#include "gateway/log.h"
#include "gateway/scan_cli.h"
#include "filters/flt_budget.h"
#include "filters/hexdigit.h"
#include "filters/scan.h"

#define DEFAULT_CONFIG "config/portcullis.yaml"
#define PORTCULLIS_VERSION GW_VERSION

static void
usage(FILE *f)
{
    fprintf(
        f, "usage: portcullis [-c FILE] [-w N]     run the gateway\n"
           "       portcullis check [-c FILE] [--rule-times [N]]\n"
           "                                       validate a config and print a summary; with\n"
           "                                       --rule-times, the N (30) rules slowest to\n"
           "                                       compile, each compiled alone\n"
           "       portcullis scan [-c FILE] [--route PREFIX]\n"
           "                                       run a route's filters over JSON lines on stdin\n"
           "       portcullis keygen --team T [--user U] [--id ID]\n"
           "                                       make a virtual key and its config entry\n"
           "       portcullis audit-verify [--key-file F | --key-env VAR] FILE...\n"
           "                                       check audit files' hash chain (oldest first)\n"
           "       portcullis version\n"
           "  -c FILE  configuration (YAML or JSON; default " DEFAULT_CONFIG ")\n"
           "  -w N     worker threads (overrides 'workers' in the config)\n");
}

static int
valid_name(const char *s)
{
    return strlen(s) <= 64 && gw_name_ok(s);
}

/* `portcullis keygen --team T [--user U] [--id ID]`: a new virtual key and its config entry. */
static int
keygen(int argc, char **argv)
{
    const char *team = NULL, *user = NULL, *id = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--team") == 0 && i + 1 < argc)
            team = argv[++i];
        else if (strcmp(argv[i], "--user") == 0 && i + 1 < argc)
            user = argv[++i];
        else if (strcmp(argv[i], "--id") == 0 && i + 1 < argc)
            id = argv[++i];
        else {
            fprintf(stderr, "portcullis keygen: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!team || !valid_name(team) || (id && !valid_name(id))) {
        fprintf(stderr, "portcullis keygen: --team is required; team and id may only contain "
                        "letters, digits, '_', '.' and '-'\n");
        return 2;
    }
    for (const char *q = user; q && *q; q++) {
        if ((unsigned char)*q < 0x20 || *q == '"' || *q == '\\' || *q == 0x7f) {
            fprintf(stderr, "portcullis keygen: --user must be printable, without quotes\n");
            return 2;
        }
    }
    unsigned char raw[32], md[SHA256_DIGEST_LENGTH];
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        fprintf(stderr, "portcullis keygen: no randomness available\n");
        return 1;
    }
    /* pc- + base64url of 256 random bits */
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char key[3 + 44] = "pc-";
    size_t o = 3;
    for (size_t i = 0; i < sizeof(raw); i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16;
        if (i + 1 < sizeof(raw))
            v |= (uint32_t)raw[i + 1] << 8;
        if (i + 2 < sizeof(raw))
            v |= raw[i + 2];
        int chars = i + 2 < sizeof(raw) ? 4 : i + 1 < sizeof(raw) ? 3 : 2;
        for (int k = 0; k < chars; k++)
            key[o++] = b64[(v >> (18 - 6 * k)) & 63];
    }
    key[o] = '\0';
    SHA256((const unsigned char *)key, o, md);
    char hex[65];
    gw_hex_encode(md, 32, hex);
    char idbuf[32];
    if (!id) {
        snprintf(idbuf, sizeof(idbuf), "%s-%.8s", team, hex);
        id = strlen(team) < 20 ? idbuf : hex + 56;
    }
    printf("# Virtual key for team '%s'%s%s%s. Give it to the application (as its OpenAI or\n"
           "# Anthropic API key); it is shown only now: the gateway keeps its SHA-256 alone.\n"
           "%s\n\n"
           "# Add this entry under 'keys:' in the config, then reload (SIGHUP):\n"
           "  - id: %s\n    team: %s\n",
           team, user ? " (user '" : "", user ? user : "", user ? "')" : "", key, id, team);
    if (user)
        printf("    user: \"%s\"\n", user);
    printf("    sha256: %s\n", hex);
    explicit_bzero(key, sizeof(key));
    explicit_bzero(raw, sizeof(raw));
    return 0;
}

int
main(int argc, char **argv)
{
    const char *cfg_path = DEFAULT_CONFIG;
    int workers_override = 0;
    int check = 0;
    int argi = 1;

    if (argi < argc && strcmp(argv[argi], "keygen") == 0)
        return keygen(argc - 2, argv + 2);
    if (argi < argc && strcmp(argv[argi], "audit-verify") == 0)
        return gw_audit_verify_main(argc - 1, argv + 1);
    const char *scan_route = NULL;
    int scan = 0;
    size_t rule_times = 0; /* check --rule-times: how many rules to list */
    if (argi < argc && strcmp(argv[argi], "scan") == 0) {
        scan = 1;
        argi++;
    } else if (argi < argc && strcmp(argv[argi], "check") == 0) {
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
        } else if (strcmp(argv[argi], "--rule-times") == 0 && check) {
            rule_times = 30;
            if (argi + 1 < argc && argv[argi + 1][0] >= '0' && argv[argi + 1][0] <= '9') {
                char *end;
                long n = strtol(argv[++argi], &end, 10);
                if (*end || n < 0 || n > 100000) {
                    fprintf(stderr, "portcullis: --rule-times wants a number from 0 (all) to "
                                    "100000\n");
                    return 2;
                }
                rule_times = n ? (size_t)n : SIZE_MAX;
            }
            gw_scan_profile_enable();
        } else if (strcmp(argv[argi], "--route") == 0 && argi + 1 < argc && scan) {
            scan_route = argv[++argi];
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
    /* serving opens the budget store (journal replay, Redis); check and scan only validate */
    gw_budget_open_stores = !scan && !check;
    if (gw_config_load(cfg_path, &cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (scan) {
        int rc = gw_scan_main(cfg, scan_route);
        gw_config_unref(cfg);
        return rc;
    }
    if (check) {
        gw_config_summary(cfg, stdout);
        if (rule_times)
            gw_scan_profile_report(stdout, rule_times);
        printf("configuration OK\n");
        gw_config_unref(cfg);
        return 0;
    }
    if (workers_override)
        cfg->workers = workers_override;

    signal(SIGPIPE, SIG_IGN);
    int rc = gw_control_run(cfg, cfg_path, workers_override, PORTCULLIS_VERSION);
    gw_config_unref(cfg);
    return rc;
}
