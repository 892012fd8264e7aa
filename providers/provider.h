/*
 * What the core needs to know about each provider API without knowing sockets: how its errors
 * look (so a gateway-made answer is indistinguishable in shape from the provider's own, and the
 * official SDKs raise their usual typed errors).
 */
#ifndef GW_PROVIDER_H
#define GW_PROVIDER_H

#include <stddef.h>

#include "config/cfg.h"

/*
 * Writes a JSON error body for status in api's format into buf (cap bytes, NUL-terminated,
 * truncated safely). message is any UTF-8 text; it is JSON-escaped. Returns the length written.
 * OpenAI:    {"error":{"message":M,"type":T,"param":null,"code":C}}
 * Anthropic: {"type":"error","error":{"type":T,"message":M}}
 */
size_t gw_error_body(enum gw_api api, int status, const char *message, char *buf, size_t cap);

/* Same with an explicit OpenAI error code (e.g. "model_not_allowed"); NULL: the status's. */
size_t gw_error_body_code(enum gw_api api, int status, const char *code, const char *message,
                          char *buf, size_t cap);

/*
 * Same error as a server-sent event that ends a stream whose headers already went out:
 * OpenAI "data: {...}\n\n", Anthropic "event: error\ndata: {...}\n\n". Returns the length.
 */
size_t gw_error_event(enum gw_api api, int status, const char *message, char *buf, size_t cap);
size_t gw_error_event_code(enum gw_api api, int status, const char *code, const char *message,
                           char *buf, size_t cap);

/* The API a request path belongs to when no route says otherwise (e.g. /v1/messages). */
enum gw_api gw_api_for_path(const char *path, size_t len);

/* Escapes s as the inside of a JSON string into buf; returns bytes written (NUL-terminated). */
size_t gw_json_escape(const char *s, size_t n, char *buf, size_t cap);

#endif
