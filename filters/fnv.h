/*
 * FNV-1a, 64 bits: the classifier's word hashes (their values are part of every model file, so
 * this must never change) and the injection filter's system-prompt cache slots.
 */
#ifndef GW_FNV_H
#define GW_FNV_H

#include <stddef.h>
#include <stdint.h>

#define GW_FNV_OFFSET 0xcbf29ce484222325ull
#define GW_FNV_PRIME 0x100000001b3ull

/* h (GW_FNV_OFFSET to start) extended by n bytes of s. */
static inline uint64_t
gw_fnv1a(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * GW_FNV_PRIME;
    return h;
}

#endif
