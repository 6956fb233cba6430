/*  files.c: see files.h. */
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

foundry_err
fdy_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return FOUNDRY_EIO;
        }
        p += n;
        len -= (size_t) n;
    }
    return FOUNDRY_OK;
}

foundry_err
fdy_pwrite_all(int fd, const void *data, size_t len, off_t offset)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return FOUNDRY_EIO;
        }
        p += n;
        len -= (size_t) n;
        offset += (off_t) n;
    }
    return FOUNDRY_OK;
}

foundry_err
fdy_pread_all(int fd, void *buf, size_t len, off_t offset)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = 0;
            return FOUNDRY_EIO;
        }
        p += n;
        len -= (size_t) n;
        offset += (off_t) n;
    }
    return FOUNDRY_OK;
}

foundry_err
fdy_file_create(const char *path, mode_t mode, const void *data, size_t len, fdy_reason_t *reason)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        if (errno == EEXIST)
            return fdy_reason_set(reason, FOUNDRY_EEXIST, "%s already exists; not overwriting",
                                  path);
        return fdy_reason_set(reason, FOUNDRY_EIO, "cannot create %s: %s", path, strerror(errno));
    }
    foundry_err err = FOUNDRY_OK;
    if (fchmod(fd, mode) != 0 || fdy_write_all(fd, data, len) != FOUNDRY_OK || fsync(fd) != 0)
        err = fdy_reason_set(reason, FOUNDRY_EIO, "cannot write %s: %s", path, strerror(errno));
    if (close(fd) != 0 && err == FOUNDRY_OK)
        err = fdy_reason_set(reason, FOUNDRY_EIO, "cannot write %s: %s", path, strerror(errno));
    if (err != FOUNDRY_OK)
        unlink(path);
    return err;
}

foundry_err
fdy_dirs_make(const char *dir, fdy_reason_t *reason)
{
    char path[PATH_MAX];
    size_t len = dir ? strlen(dir) : 0;
    if (len == 0 || len >= sizeof path)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "bad directory '%.80s'", dir ? dir : "");
    memcpy(path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char saved = path[i];
        path[i] = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return fdy_reason_set(reason, FOUNDRY_EIO, "cannot create directory %s: %s", path,
                                  strerror(errno));
        path[i] = saved;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return fdy_reason_set(reason, FOUNDRY_EIO, "%s is not a directory", dir);
    return FOUNDRY_OK;
}

int
fdy_dir_fsync(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int
fdy_dir_fsync_parent(const char *path)
{
    char dir[PATH_MAX];
    if ((size_t) snprintf(dir, sizeof dir, "%s", path) >= sizeof dir) {
        errno = ENAMETOOLONG;
        return -1;
    }
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    return fdy_dir_fsync(dir);
}

foundry_err
fdy_file_read_secret(const char *path, bool check_mode, size_t max, char **text_out,
                     size_t *len_out, fdy_reason_t *reason)
{
    *text_out = NULL;
    /* sodium_malloc() needs it; it is idempotent and thread-safe. */
    if (sodium_init() < 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "libsodium failed to initialise");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "cannot open %s: %s", path, strerror(errno));
    foundry_err err = FOUNDRY_OK;
    char *text = NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        err = fdy_reason_set(reason, FOUNDRY_EIO, "cannot stat %s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        err = fdy_reason_set(reason, FOUNDRY_EIO, "%s is not a regular file", path);
        goto out;
    }
    if (check_mode && (st.st_mode & 077)) {
        err = fdy_reason_set(reason, FOUNDRY_EAUTH,
                             "secret key file %s is accessible by group or others (mode %04o); "
                             "run: chmod 600 %s",
                             path, (unsigned) (st.st_mode & 07777), path);
        goto out;
    }
    if ((uint64_t) st.st_size > max) {
        err = fdy_reason_set(reason, FOUNDRY_EINVAL, "%s is too big (over %zu bytes)", path, max);
        goto out;
    }
    text = sodium_malloc(max + 1);
    if (!text) {
        err = fdy_reason_set(reason, FOUNDRY_ENOMEM, "cannot allocate secure memory");
        goto out;
    }
    size_t len = 0;
    while (len < max) {
        ssize_t n = read(fd, text + len, max - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = fdy_reason_set(reason, FOUNDRY_EIO, "cannot read %s: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t) n;
    }
    text[len] = '\0';
    *text_out = text;
    if (len_out)
        *len_out = len;
    text = NULL;
out:
    sodium_free(text);
    close(fd);
    return err;
}

void
fdy_file_secret_free(char *text)
{
    sodium_free(text); /* sodium_free wipes the memory first */
}
