/*  model_files.c: version files and the current/previous symlinks
 *  (model_files.h). A link is replaced by making `.LINK.tmp` and renaming
 *  it over LINK, which POSIX makes atomic: a reader always finds the old
 *  or the new target. Targets are relative ("4"), so the directory can be
 *  moved whole.
 */
#include "model_files.h"

#include "model_state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_LEN 4096

/* ---- links ----------------------------------------------------------------- */

foundry_err
fdy_model_files_link(const char *model_dir, const char *link, uint64_t *version_out)
{
    *version_out = 0;
    char path[PATH_LEN], target[64];
    snprintf(path, sizeof path, "%s/%s", model_dir, link);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n <= 0)
        return FOUNDRY_ENOTFOUND;
    target[n] = '\0';
    char *end = NULL;
    unsigned long long v = strtoull(target, &end, 10);
    if (*end || v == 0)
        return FOUNDRY_ENOTFOUND;
    *version_out = v;
    return FOUNDRY_OK;
}

/* Makes link point at version: .LINK.tmp, then rename over LINK. */
static foundry_err
s_point(const char *model_dir, const char *link, uint64_t version, fdy_reason_t *reason)
{
    char tmp[PATH_LEN], path[PATH_LEN], target[32];
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", model_dir, link);
    snprintf(path, sizeof path, "%s/%s", model_dir, link);
    snprintf(target, sizeof target, "%" PRIu64, version);
    unlink(tmp);
    if (symlink(target, tmp) != 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "symlink %s: %s", tmp, strerror(errno));
    if (rename(tmp, path) != 0) {
        int error = errno;
        unlink(tmp);
        return fdy_reason_set(reason, FOUNDRY_EIO, "rename %s: %s", tmp, strerror(error));
    }
    return FOUNDRY_OK;
}

foundry_err
fdy_model_files_switch(const char *model_dir, uint64_t version, uint64_t *old_out,
                       fdy_reason_t *reason)
{
    if (old_out)
        *old_out = 0;
    char path[PATH_LEN];
    snprintf(path, sizeof path, "%s/%" PRIu64, model_dir, version);
    struct stat st;
    if (stat(path, &st) != 0)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "%s: %s", path, strerror(errno));
    uint64_t old = 0;
    (void) fdy_model_files_link(model_dir, "current", &old);
    foundry_err err = FOUNDRY_OK;
    /* previous first: a crash between the two leaves current as it was. */
    if (old != 0 && old != version)
        err = s_point(model_dir, "previous", old, reason);
    if (err == FOUNDRY_OK)
        err = s_point(model_dir, "current", version, reason);
    if (err == FOUNDRY_OK)
        err = fdy_model_state_sync_dir(model_dir, reason);
    if (err == FOUNDRY_OK && old_out)
        *old_out = old;
    return err;
}

foundry_err
fdy_model_files_rollback(const char *model_dir, uint64_t *version_out, fdy_reason_t *reason)
{
    *version_out = 0;
    uint64_t previous = 0;
    if (fdy_model_files_link(model_dir, "previous", &previous) != FOUNDRY_OK) {
        char path[PATH_LEN];
        snprintf(path, sizeof path, "%s/current", model_dir);
        unlink(path);
        (void) fdy_model_state_sync_dir(model_dir, NULL);
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND,
                              "no previous version to go back to: current removed");
    }
    foundry_err err = s_point(model_dir, "current", previous, reason);
    if (err == FOUNDRY_OK)
        err = fdy_model_state_sync_dir(model_dir, reason);
    if (err == FOUNDRY_OK)
        *version_out = previous;
    return err;
}

size_t
fdy_model_files_prune(const char *model_dir, uint64_t keep_a, uint64_t keep_b)
{
    DIR *dir = opendir(model_dir);
    if (!dir)
        return 0;
    size_t removed = 0;
    struct dirent *d;
    while ((d = readdir(dir))) {
        const char *name = d->d_name;
        bool tmp =
            name[0] == '.' && strlen(name) > 5 && strcmp(name + strlen(name) - 4, ".tmp") == 0;
        char *end = NULL;
        unsigned long long v = strtoull(name, &end, 10);
        bool version_file = name[0] >= '1' && name[0] <= '9' && *end == '\0';
        if (!tmp && !(version_file && v != keep_a && v != keep_b))
            continue;
        char path[PATH_LEN];
        snprintf(path, sizeof path, "%s/%s", model_dir, name);
        if (unlink(path) == 0)
            removed++;
    }
    closedir(dir);
    return removed;
}
