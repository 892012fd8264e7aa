/* Names in the config: providers, teams, key ids, filters, rule ids, deployments. */
#ifndef GW_NAME_H
#define GW_NAME_H

/* 1 when c may appear in a name: [A-Za-z0-9_.-] (locale-independent). */
static inline int
gw_name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

/* 1 when s is a non-empty name made of gw_name_char characters. */
static inline int
gw_name_ok(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!gw_name_char((unsigned char)*s))
            return 0;
    return 1;
}

#endif
