/*  tmpfs.h: a small real file system for tests of a full disk. The tests
 *  run as root in CI and mount a tmpfs of a few MiB under their temporary
 *  directory; where mounting is not permitted they skip (exit 77, counted
 *  by meson as skipped). Plain libc: linked by unit and integration tests.
 */
#ifndef FDY_TMPFS_H_INCLUDED
#define FDY_TMPFS_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

/* Meson's exit code for a skipped test. */
#define FDY_TMPFS_SKIP 77

/* Moves this process into a mount namespace of its own (with private
 * propagation), so its mounts are seen by it and the children it starts
 * (broker, node, foundryctl) and vanish when they all exit, however the
 * test ends (the runners _exit after a failed check). Then tries a tmpfs on
 * a scratch directory under $TMPDIR or /tmp. True when mounting works:
 * call it first in main() and skip otherwise. */
bool fdy_tmpfs_setup(void);

/* Mounts a tmpfs of size_bytes on dir (which must exist and be empty).
 * Returns 0, or -1 with errno. */
int fdy_tmpfs_mount(const char *dir, uint64_t size_bytes);

/* Unmounts dir (lazily: a process still inside does not keep it mounted),
 * so the directory can be removed. */
void fdy_tmpfs_umount(const char *dir);

/* Bytes the file system of path has free for this process. */
uint64_t fdy_tmpfs_free(const char *path);

/* Appends to file path (created 0600) until at most `leave` bytes are free
 * on its file system or a write fails with ENOSPC. Returns the bytes
 * written, or -1 with errno on another failure. */
int64_t fdy_tmpfs_fill(const char *path, uint64_t leave);

/* Copies every regular file of src into dst (not recursive). Returns 0 or
 * -1 with errno. */
int fdy_tmpfs_copy_dir(const char *src, const char *dst);

#endif
