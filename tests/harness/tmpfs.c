/*  tmpfs.c: mounting, filling and freeing a small tmpfs for the full-disk
 *  tests (tmpfs.h). Test code only: it never runs in a daemon. Mounts live
 *  in the test's own mount namespace, so none outlives the test.
 */
#define _GNU_SOURCE
#include "tmpfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

bool
fdy_tmpfs_setup(void)
{
    if (unshare(CLONE_NEWNS) != 0)
        return false;
    /* Without this a shared / would propagate our mounts back out. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return false;
    const char *tmp = getenv("TMPDIR");
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/foundry-mount-probe-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return false;
    bool ok = mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k") == 0;
    if (ok)
        umount2(dir, MNT_DETACH);
    rmdir(dir);
    return ok;
}

int
fdy_tmpfs_mount(const char *dir, uint64_t size_bytes)
{
    char options[64];
    snprintf(options, sizeof options, "size=%llu,mode=0700", (unsigned long long) size_bytes);
    return mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, options);
}

void
fdy_tmpfs_umount(const char *dir)
{
    umount2(dir, MNT_DETACH);
}

uint64_t
fdy_tmpfs_free(const char *path)
{
    struct statvfs st;
    if (statvfs(path, &st) != 0)
        return 0;
    return (uint64_t) st.f_bavail * st.f_frsize;
}

int64_t
fdy_tmpfs_fill(const char *path, uint64_t leave)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    static char block[64 * 1024];
    memset(block, 0x5a, sizeof block);
    int64_t written = 0;
    for (;;) {
        uint64_t free_now = fdy_tmpfs_free(path);
        if (free_now <= leave)
            break;
        uint64_t want = free_now - leave;
        size_t len = want < sizeof block ? (size_t) want : sizeof block;
        ssize_t got = write(fd, block, len);
        if (got < 0 && errno == ENOSPC)
            break;
        if (got < 0) {
            int saved = errno;
            close(fd);
            errno = saved;
            return -1;
        }
        if (got == 0)
            break;
        written += got; /* a short write took what was left: the next one says ENOSPC */
    }
    fsync(fd);
    close(fd);
    return written;
}

int
fdy_tmpfs_copy_dir(const char *src, const char *dst)
{
    DIR *dir = opendir(src);
    if (!dir)
        return -1;
    struct dirent *entry;
    int result = 0;
    while (result == 0 && (entry = readdir(dir)) != NULL) {
        char from[PATH_MAX], to[PATH_MAX];
        snprintf(from, sizeof from, "%s/%s", src, entry->d_name);
        snprintf(to, sizeof to, "%s/%s", dst, entry->d_name);
        struct stat st;
        if (stat(from, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        int in = open(from, O_RDONLY | O_CLOEXEC);
        int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st.st_mode & 0777);
        char buf[16384];
        ssize_t got = 0;
        while (in >= 0 && out >= 0 && (got = read(in, buf, sizeof buf)) > 0)
            if (write(out, buf, (size_t) got) != got)
                got = -1;
        if (in < 0 || out < 0 || got < 0 || fsync(out) != 0)
            result = -1;
        if (in >= 0)
            close(in);
        if (out >= 0)
            close(out);
    }
    closedir(dir);
    return result;
}
