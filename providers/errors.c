/*
 * Provider-format error bodies. The types and codes follow what each API documents, so clients
 * branch on them as they would on the provider's own errors.
 */
#include "providers/provider.h"

#include <stdio.h>
#include <string.h>

size_t
gw_json_escape(const char *s, size_t n, char *buf, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (cap == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7];
        size_t el = 0;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            el = 2;
        } else if (c == '\n') {
            memcpy(esc, "\\n", 2);
            el = 2;
        } else if (c == '\r') {
            memcpy(esc, "\\r", 2);
            el = 2;
        } else if (c == '\t') {
            memcpy(esc, "\\t", 2);
            el = 2;
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            el = 6;
        } else {
            esc[0] = (char)c;
            el = 1;
        }
        if (o + el + 1 > cap)
            break;
        memcpy(buf + o, esc, el);
        o += el;
    }
    buf[o] = '\0';
    return o;
}

static const char *
openai_type(int status)
{
    switch (status) {
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 429:
        return "rate_limit_error";
    default:
        return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

static const char *
openai_code(int status)
{
    switch (status) {
    case 400:
        return "bad_request";
    case 401:
        return "invalid_api_key";
    case 403:
        return "forbidden";
    case 404:
        return "not_found";
    case 405:
        return "method_not_allowed";
    case 408:
        return "request_timeout";
    case 413:
        return "request_too_large";
    case 417:
        return "expectation_failed";
    case 429:
        return "rate_limit_exceeded";
    case 431:
        return "request_header_fields_too_large";
    case 502:
        return "upstream_error";
    case 503:
        return "service_unavailable";
    case 504:
        return "upstream_timeout";
    case 505:
        return "http_version_not_supported";
    default:
        return status >= 500 ? "server_error" : "invalid_request";
    }
}

static const char *
anthropic_type(int status)
{
    switch (status) {
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 408:
    case 504:
        return "timeout_error";
    case 413:
        return "request_too_large";
    case 429:
        return "rate_limit_error";
    case 529:
    case 503:
        return "overloaded_error";
    default:
        return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

size_t
gw_error_body(enum gw_api api, int status, const char *message, char *buf, size_t cap)
{
    return gw_error_body_code(api, status, NULL, message, buf, cap);
}

size_t
gw_error_body_code(enum gw_api api, int status, const char *code, const char *message, char *buf,
                   size_t cap)
{
    char esc[512];
    gw_json_escape(message, strlen(message), esc, sizeof(esc));
    int n;
    if (api == GW_API_ANTHROPIC)
        n = snprintf(buf, cap,
                     "{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":\"%s\"}}",
                     anthropic_type(status), esc);
    else
        n = snprintf(
            buf, cap,
            "{\"error\":{\"message\":\"%s\",\"type\":\"%s\",\"param\":null,\"code\":\"%s\"}}", esc,
            openai_type(status), code ? code : openai_code(status));
    if (n < 0)
        return 0;
    return (size_t)n < cap ? (size_t)n : cap - 1;
}

size_t
gw_error_event(enum gw_api api, int status, const char *message, char *buf, size_t cap)
{
    return gw_error_event_code(api, status, NULL, message, buf, cap);
}

size_t
gw_error_event_code(enum gw_api api, int status, const char *code, const char *message, char *buf,
                    size_t cap)
{
    const char *pre = api == GW_API_ANTHROPIC ? "event: error\ndata: " : "data: ";
    size_t pl = strlen(pre);
    if (cap < pl + 4)
        return 0;
    memcpy(buf, pre, pl);
    size_t n = gw_error_body_code(api, status, code, message, buf + pl, cap - pl - 2);
    memcpy(buf + pl + n, "\n\n", 3);
    return pl + n + 2;
}

enum gw_api
gw_api_for_path(const char *path, size_t len)
{
    static const char *const anthropic[] = {"/v1/messages", "/v1/complete"};
    for (size_t i = 0; i < 2; i++) {
        size_t n = strlen(anthropic[i]);
        if (len >= n && memcmp(path, anthropic[i], n) == 0 &&
            (len == n || path[n] == '/' || path[n] == '?'))
            return GW_API_ANTHROPIC;
    }
    return GW_API_OPENAI;
}
