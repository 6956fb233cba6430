/*  model_state.c: the per-model state file (model_state.h) and the atomic
 *  file write the model modules share. The format is "key = value" lines
 *  so an operator can read it; unknown keys are refused (a newer agent's
 *  file is not silently half-read).
 */
#include "model_state.h"

#include "files.h"
#include "log.h"
#include "model_blobs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_LEN   4096
#define STATE_FILE "state"

foundry_err
fdy_model_state_sync_dir(const char *dir, fdy_reason_t *reason)
{
    if (fdy_dir_fsync(dir) != 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "fsync %s: %s", dir, strerror(errno));
    return FOUNDRY_OK;
}

foundry_err
fdy_model_state_write_file(const char *dir, const char *name, const void *data, size_t len,
                           fdy_reason_t *reason)
{
    char tmp[PATH_LEN], path[PATH_LEN];
    if ((size_t) snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name) >= sizeof tmp ||
        (size_t) snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return fdy_reason_set(reason, FOUNDRY_EIO, "path too long in %s", dir);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "cannot create %s: %s", tmp, strerror(errno));
    const uint8_t *at = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(fd, at, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int error = errno;
            close(fd);
            unlink(tmp);
            return fdy_reason_set(reason, FOUNDRY_EIO, "writing %s: %s", tmp, strerror(error));
        }
        at += n;
        left -= (size_t) n;
    }
    if (fsync(fd) != 0) {
        int error = errno;
        close(fd);
        unlink(tmp);
        return fdy_reason_set(reason, FOUNDRY_EIO, "fsync %s: %s", tmp, strerror(error));
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        int error = errno;
        unlink(tmp);
        return fdy_reason_set(reason, FOUNDRY_EIO, "rename %s: %s", tmp, strerror(error));
    }
    return fdy_model_state_sync_dir(dir, reason);
}

foundry_err
fdy_model_state_save(const char *models_dir, const fdy_model_held_t *state, fdy_reason_t *reason)
{
    char dir[PATH_LEN];
    if ((size_t) snprintf(dir, sizeof dir, "%s/%s", models_dir, state->name) >= sizeof dir)
        return fdy_reason_set(reason, FOUNDRY_EIO, "models_dir is too long");
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return fdy_reason_set(reason, FOUNDRY_EIO, "cannot create %s: %s", dir, strerror(errno));
    char manifest[2 * FDY_MODEL_HASH_LEN + 1], log_hash[2 * FDY_MODEL_HASH_LEN + 1];
    char previous[2 * FDY_MODEL_HASH_LEN + 1];
    fdy_blobs_hex(state->manifest_hash, manifest);
    fdy_blobs_hex(state->previous_manifest_hash, previous);
    fdy_blobs_hex(state->head.hash, log_hash);
    char text[1024];
    int len =
        snprintf(text, sizeof text,
                 "# foundry-node: the installed model (docs/node.md); written atomically\n"
                 "version = %" PRIu64 "\nmanifest = %s\nprevious = %" PRIu64
                 "\nprevious_manifest = %s\nlog_index = %" PRIu64
                 "\nlog_hash = %s\nlog_version = %" PRIu64 "\nrelease_version = %" PRIu64 "\n",
                 state->version, manifest, state->previous, previous, state->head.index, log_hash,
                 state->head.version, state->head.release_version);
    return fdy_model_state_write_file(dir, STATE_FILE, text, (size_t) len, reason);
}

static foundry_err
s_parse_u64(const char *text, uint64_t *out)
{
    if (!*text || *text == '-')
        return FOUNDRY_EINVAL;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || *end)
        return FOUNDRY_EINVAL;
    *out = v;
    return FOUNDRY_OK;
}

static foundry_err
s_line(fdy_model_held_t *out, char *line)
{
    char *eq = strchr(line, '=');
    if (!eq)
        return FOUNDRY_EINVAL;
    char *key = line, *value = eq + 1;
    *eq = '\0';
    key[strcspn(key, " \t")] = '\0';
    value += strspn(value, " \t");
    value[strcspn(value, " \t")] = '\0';
    if (strcmp(key, "version") == 0)
        return s_parse_u64(value, &out->version);
    if (strcmp(key, "previous") == 0)
        return s_parse_u64(value, &out->previous);
    if (strcmp(key, "log_index") == 0)
        return s_parse_u64(value, &out->head.index);
    if (strcmp(key, "log_version") == 0)
        return s_parse_u64(value, &out->head.version);
    if (strcmp(key, "release_version") == 0)
        return s_parse_u64(value, &out->head.release_version);
    if (strcmp(key, "manifest") == 0)
        return fdy_blobs_parse_hex(value, out->manifest_hash);
    if (strcmp(key, "previous_manifest") == 0)
        return fdy_blobs_parse_hex(value, out->previous_manifest_hash);
    if (strcmp(key, "log_hash") == 0)
        return fdy_blobs_parse_hex(value, out->head.hash);
    return FOUNDRY_EINVAL;
}

foundry_err
fdy_model_state_load(const char *models_dir, const char *name, fdy_model_held_t *out,
                     fdy_reason_t *reason)
{
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", name);
    char path[PATH_LEN];
    if ((size_t) snprintf(path, sizeof path, "%s/%s/%s", models_dir, name, STATE_FILE) >=
        sizeof path)
        return fdy_reason_set(reason, FOUNDRY_EIO, "models_dir is too long");
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "%s: no such file", path);
        return fdy_reason_set(reason, FOUNDRY_EIO, "%s: %s", path, strerror(errno));
    }
    char line[512];
    unsigned number = 0;
    foundry_err err = FOUNDRY_OK;
    while (err == FOUNDRY_OK && fgets(line, sizeof line, f)) {
        number++;
        line[strcspn(line, "\r\n")] = '\0';
        char *start = line + strspn(line, " \t");
        if (*start == '\0' || *start == '#')
            continue;
        if (s_line(out, start) != FOUNDRY_OK)
            err = fdy_reason_set(reason, FOUNDRY_EINVAL, "%s:%u: not a valid state line", path,
                                 number);
    }
    fclose(f);
    if (err == FOUNDRY_OK && out->version == 0 && out->previous != 0)
        err = fdy_reason_set(reason, FOUNDRY_EINVAL, "%s: previous without version", path);
    return err;
}

foundry_err
fdy_model_state_each(const char *models_dir, fdy_model_state_fn *fn, void *user,
                     fdy_reason_t *reason)
{
    DIR *dir = opendir(models_dir);
    if (!dir) {
        if (errno == ENOENT)
            return FOUNDRY_OK;
        return fdy_reason_set(reason, FOUNDRY_EIO, "cannot read %s: %s", models_dir,
                              strerror(errno));
    }
    struct dirent *d;
    while ((d = readdir(dir))) {
        if (!fdy_model_name_ok(d->d_name))
            continue; /* ".", "..", an old ".blobs", strays */
        fdy_model_held_t state;
        fdy_reason_t why;
        fdy_reason_clear(&why);
        foundry_err err = fdy_model_state_load(models_dir, d->d_name, &state, &why);
        if (err == FOUNDRY_OK)
            fn(&state, user);
        else if (err != FOUNDRY_ENOTFOUND)
            fdy_log_warn("MODEL-STATE-BAD", "%s (the model counts as not installed)", why.text);
    }
    closedir(dir);
    return FOUNDRY_OK;
}
