/*  xalloc.c: the daemons' allocators, which log and abort on out-of-memory
 *  (systemd restarts the daemon). Built into fdy_daemon only, so libfoundry,
 *  which must return FOUNDRY_ENOMEM instead, cannot call them.
 */
#include "xalloc.h"

#include "log.h"

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
