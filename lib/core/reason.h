/*  reason.h: a short human-readable explanation travelling next to a
 *  foundry_err, so the layer that reports an error can name the file, line
 *  or value at fault without lower layers printing anything.
 */
#ifndef FDY_REASON_H_INCLUDED
#define FDY_REASON_H_INCLUDED

#include "foundry.h"

#include <stddef.h>

#define FDY_REASON_MAX 256

typedef struct {
    char text[FDY_REASON_MAX];
} fdy_reason_t;

#if defined(__GNUC__)
#define FDY_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define FDY_PRINTF(a, b)
#endif

/* Formats into reason->text (truncated to fit). reason may be NULL: then
 * nothing happens. Returns err, so callers can write
 * `return fdy_reason_set(reason, FOUNDRY_EINVAL, "bad %s", x);`. */
foundry_err fdy_reason_set(fdy_reason_t *reason, foundry_err err, const char *fmt, ...)
    FDY_PRINTF(3, 4);

/* Empties reason (may be NULL). */
void fdy_reason_clear(fdy_reason_t *reason);

#endif
