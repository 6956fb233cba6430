/*  xalloc.c: the daemons' allocators, which log and abort on out-of-memory
 *  (systemd restarts the daemon). Built into fdy_daemon only, so libfoundry,
 *  which must return FOUNDRY_ENOMEM instead, cannot call them.
 */
#include "xalloc.h"

#include "log.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void *
fdy_xalloc(size_t size)
{
    void *mem = calloc(1, size ? size : 1);
    if (!mem) {
        fdy_log_err("OUT-OF-MEMORY", "allocating %zu bytes failed; aborting", size);
        abort();
    }
    return mem;
}

char *
fdy_xstrdup(const char *text)
{
    size_t len = strlen(text);
    char *copy = fdy_xalloc(len + 1);
    memcpy(copy, text, len + 1);
    return copy;
}

void *
fdy_xrealloc(void *mem, size_t size)
{
    void *grown = realloc(mem, size ? size : 1);
    if (!grown) {
        fdy_log_err("OUT-OF-MEMORY", "growing to %zu bytes failed; aborting", size);
        abort();
    }
    return grown;
}

void *
fdy_xgrow(void *array, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return array;
    size_t next = *cap ? *cap : 8;
    while (next < need) {
        if (next > SIZE_MAX / 2 / size) {
            fdy_log_err("OUT-OF-MEMORY", "an array of %zu elements is too large; aborting", need);
            abort();
        }
        next *= 2;
    }
    uint8_t *grown = fdy_xrealloc(array, next * size);
    memset(grown + *cap * size, 0, (next - *cap) * size);
    *cap = next;
    return grown;
}
