/*  ready_file.c: write a daemon's ready file atomically with mode 0600
 *  (ready_file.h). Shared by foundry-broker and foundry-node so the mode
 *  and the tmp + fsync + rename order are decided once. Not for reading it:
 *  each reader parses the lines it needs.
 */
#include "ready_file.h"

#include "files.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_MODE 0600

foundry_err
fdy_ready_file_write(const char *path, const char *text, fdy_reason_t *reason)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int) sizeof tmp)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%s: path is too long", path);
    /* O_NOFOLLOW: a symlink planted as the tmp name is not written through. */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, S_MODE);
    if (fd < 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "%s: %s", tmp, strerror(errno));
    /* open() honours the umask only to narrow, and keeps the mode of a
     * leftover file: set it outright. */
    errno = 0;
    bool ok = fchmod(fd, S_MODE) == 0 && fdy_write_all(fd, text, strlen(text)) == FOUNDRY_OK &&
              fsync(fd) == 0;
    int failure = ok ? 0 : errno;
    if (close(fd) != 0 && ok) {
        ok = false;
        failure = errno;
    }
    /* Renamed only once fsynced: a reader never sees a half-written file. */
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        failure = errno;
    }
    if (!ok) {
        unlink(tmp);
        return fdy_reason_set(reason, FOUNDRY_EIO, "writing %s: %s", path,
                              strerror(failure ? failure : EIO));
    }
    return FOUNDRY_OK;
}
