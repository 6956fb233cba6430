/*  reason.c: error reasons, foundry_strerror(), and the daemons'
 *  abort-on-OOM allocators. Not for logging: reasons are returned, and the
 *  layer that decides what to do with an error logs it.
 */
#include "reason.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

foundry_err
fdy_reason_set(fdy_reason_t *reason, foundry_err err, const char *fmt, ...)
{
    if (reason) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(reason->text, sizeof reason->text, fmt, args);
        va_end(args);
    }
    return err;
}

void
fdy_reason_clear(fdy_reason_t *reason)
{
    if (reason)
        reason->text[0] = '\0';
}

FOUNDRY_EXPORT const char *
foundry_strerror(foundry_err err)
{
    switch (err) {
    case FOUNDRY_OK: return "success";
    case FOUNDRY_ENOMEM: return "out of memory";
    case FOUNDRY_EINVAL: return "invalid argument";
    case FOUNDRY_EPROTO: return "malformed message";
    case FOUNDRY_ETOOBIG: return "message too big";
    case FOUNDRY_EAUTH: return "authentication refused";
    case FOUNDRY_EDENIED: return "permission denied";
    case FOUNDRY_EFULL: return "store full";
    case FOUNDRY_ESTORE: return "storage error";
    case FOUNDRY_EVERSION: return "unsupported protocol version";
    case FOUNDRY_ENOSTREAM: return "no stream for subject";
    case FOUNDRY_ETIMEDOUT: return "timed out";
    case FOUNDRY_ECLOSED: return "closed";
    case FOUNDRY_ENOTFOUND: return "not found";
    case FOUNDRY_ECORRUPT: return "stored data corrupt";
    case FOUNDRY_EIO: return "I/O error";
    case FOUNDRY_EEXIST: return "already exists";
    case FOUNDRY_EKIND: return "unknown message kind or command";
    case FOUNDRY_ERATE: return "rate limit exceeded";
    case FOUNDRY_ESTALE: return "stale fencing token: the lease has moved on";
    case FOUNDRY_ENOSPC: return "no space left on disk";
    }
    return "unknown error";
}

FOUNDRY_EXPORT const char *
foundry_version(void)
{
    return FOUNDRY_VERSION_STRING;
}
