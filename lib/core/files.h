/*  files.h: the careful file operations the key files, the signing keys,
 *  the ready file and the backup share: a full write, exclusive creation
 *  with a mode, directory fsync, mkdir -p, and reading a small file that may
 *  hold a secret into secure memory.
 */
#ifndef FDY_FILES_H
#define FDY_FILES_H

#include "foundry.h"
#include "reason.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Writes all of data to fd, retrying short writes and EINTR. Returns
 * FOUNDRY_OK or FOUNDRY_EIO with errno set. */
foundry_err fdy_write_all(int fd, const void *data, size_t len);

/* pwrite() of all of data at offset, retrying short writes and EINTR.
 * FOUNDRY_OK or FOUNDRY_EIO with errno set. */
foundry_err fdy_pwrite_all(int fd, const void *data, size_t len, off_t offset);

/* pread() of exactly len bytes at offset, retrying short reads and EINTR.
 * FOUNDRY_OK, or FOUNDRY_EIO with errno set (0 when the file ends first). */
foundry_err fdy_pread_all(int fd, void *buf, size_t len, off_t offset);

/* Creates path exclusively with mode and writes data, fsynced. The mode is
 * given to open() itself, so the file never exists with wider permissions;
 * fchmod() then undoes the umask. A symlink is not followed. Returns
 * FOUNDRY_OK, FOUNDRY_EEXIST (nothing is overwritten) or FOUNDRY_EIO (the
 * partial file is removed), with reason. */
foundry_err fdy_file_create(const char *path, mode_t mode, const void *data, size_t len,
                            fdy_reason_t *reason);

/* mkdir -p: creates the missing directories of dir with mode 0700 and
 * leaves existing ones as they are. Returns FOUNDRY_OK, FOUNDRY_EINVAL (bad
 * or too long a path) or FOUNDRY_EIO (cannot create, or not a directory). */
foundry_err fdy_dirs_make(const char *dir, fdy_reason_t *reason);

/* fsync of a directory, so a create or rename in it is durable. Returns 0,
 * or -1 with errno set. */
int fdy_dir_fsync(const char *dir);

/* fdy_dir_fsync() of the directory that holds path ("." for a bare name). */
int fdy_dir_fsync_parent(const char *path);

/* Reads a whole regular file of at most max bytes into sodium_malloc
 * memory, NUL ended: *text_out (free with fdy_file_secret_free()) and
 * *len_out (may be NULL). check_mode refuses a file group or others can
 * access (FOUNDRY_EAUTH, with the chmod to run); the checks are on the open
 * descriptor, so the file checked is the file read. Other errors:
 * FOUNDRY_EIO (missing, unreadable, not a regular file), FOUNDRY_EINVAL
 * (over max bytes), FOUNDRY_ENOMEM. */
foundry_err fdy_file_read_secret(const char *path, bool check_mode, size_t max, char **text_out,
                                 size_t *len_out, fdy_reason_t *reason);

/* Wipes and frees what fdy_file_read_secret() returned; NULL is fine. */
void fdy_file_secret_free(char *text);

#endif
