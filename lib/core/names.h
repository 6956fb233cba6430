/*  names.h: the one alphabet of names (principals, sites, streams, job
 *  types, label keys, key and signing-key files): [A-Za-z0-9_-], with '.'
 *  where the caller allows it. Each caller keeps its own length rules and
 *  error text; only the character test is shared.
 */
#ifndef FDY_NAMES_H
#define FDY_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

static inline bool
fdy_name_char(char c, bool dot_ok)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || (dot_ok && c == '.');
}

/* True when s[0..len) is 1..max characters of the alphabet. */
static inline bool
fdy_name_ok(const char *s, size_t len, size_t max, bool dot_ok)
{
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!fdy_name_char(s[i], dot_ok))
            return false;
    return true;
}

/* Copies a name (NULL: "") into dst[size], cut to fit and always
 * terminated: snprintf(dst, size, "%s", src) without its cost, for names
 * copied once per job. */
static inline void
fdy_name_copy(char *dst, size_t size, const char *src)
{
    size_t len = src ? strnlen(src, size - 1) : 0;
    memcpy(dst, src ? src : "", len);
    dst[len] = '\0';
}

#endif
