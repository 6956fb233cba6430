/*  ready_file.h: the `<data_dir>/ready` file a daemon writes once it serves
 *  (the broker: endpoint, pid, broker key; the node: listen, pid, epoch), so
 *  scripts, tests and foundryctl can wait for it instead of sleeping.
 *  Written whole or not at all, mode 0600 whatever the umask: it is read by
 *  the daemon's own user (and root). Never linked into libfoundry.
 */
#ifndef FDY_READY_FILE_H_INCLUDED
#define FDY_READY_FILE_H_INCLUDED

#include "reason.h"

/* Writes text to path atomically: "<path>.tmp" is created (or truncated, a
 * leftover of a crash included) with mode 0600, set with fchmod so the
 * umask cannot widen or a leftover keep another mode, written, fsynced and
 * renamed over path. path and text are borrowed. Returns FOUNDRY_OK,
 * FOUNDRY_EINVAL (path too long) or FOUNDRY_EIO, with reason naming the
 * file and strerror; on error the temporary file is removed and path is
 * untouched. */
foundry_err fdy_ready_file_write(const char *path, const char *text, fdy_reason_t *reason);

#endif
