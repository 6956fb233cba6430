/*  start_check.c: check_store_at_start and the clean-stop marker
 *  (start_check.h). The marker is what makes "auto" cheap: a clean stop
 *  skips the check, anything else pays for one walk of the store. Not for
 *  the check itself (broker/store/store_check.c).
 */
#include "start_check.h"

#include "kv_check.h"
#include "log.h"
#include "ready_file.h"
#include "store_check.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What the marker records of data.mdb. */
typedef struct {
    unsigned long long txnid;
    unsigned long long size;
    long long mtime_s;
    long mtime_ns;
} s_stamp_t;

static foundry_err
s_path(char *out, size_t size, const char *dir, const char *name, fdy_reason_t *reason)
{
    if ((size_t) snprintf(out, size, "%s/%s", dir, name) >= size)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "data_dir is too long");
    return FOUNDRY_OK;
}

/* data.mdb's stamp now; *exists false when there is no data.mdb. */
static foundry_err
s_stamp(const char *dir, s_stamp_t *out, bool *exists, fdy_reason_t *reason)
{
    char path[PATH_MAX];
    foundry_err err = s_path(path, sizeof path, dir, "data.mdb", reason);
    if (err != FOUNDRY_OK)
        return err;
    memset(out, 0, sizeof *out);
    struct stat st;
    *exists = stat(path, &st) == 0;
    if (!*exists)
        return FOUNDRY_OK;
    fdy_kv_file_t file;
    fdy_reason_t why;
    if (fdy_kv_check_file(dir, "store", &file, &why) == FOUNDRY_OK)
        out->txnid = file.txnid; /* else 0: never matches a marker */
    out->size = (unsigned long long) st.st_size;
    out->mtime_s = (long long) st.st_mtim.tv_sec;
    out->mtime_ns = st.st_mtim.tv_nsec;
    return FOUNDRY_OK;
}

static void
s_stamp_text(const s_stamp_t *s, char *out, size_t size)
{
    snprintf(out, size, "foundry clean stop 1\ntxnid %llu\nsize %llu\nmtime %lld.%09ld\n", s->txnid,
             s->size, s->mtime_s, s->mtime_ns);
}

/* Reads and removes the marker: *clean when it matched data.mdb. */
static foundry_err
s_take_marker(const char *dir, const s_stamp_t *now, bool *clean, fdy_reason_t *reason)
{
    char path[PATH_MAX];
    foundry_err err = s_path(path, sizeof path, dir, FDY_CLEAN_STOP_FILE, reason);
    if (err != FOUNDRY_OK)
        return err;
    *clean = false;
    char text[256] = "", want[256];
    FILE *f = fopen(path, "re");
    if (f) {
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = '\0';
        fclose(f);
        s_stamp_text(now, want, sizeof want);
        *clean = now->txnid != 0 && strcmp(text, want) == 0;
    }
    if (unlink(path) != 0 && errno != ENOENT)
        return fdy_reason_set(reason, FOUNDRY_EIO, "cannot remove %s: %s", path, strerror(errno));
    /* Gone for good before the store changes: a crash from here on leaves
     * no marker. */
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    return FOUNDRY_OK;
}

foundry_err
fdy_start_check_run(const char *data_dir, const char *mode, fdy_reason_t *reason)
{
    s_stamp_t now;
    bool exists;
    foundry_err err = s_stamp(data_dir, &now, &exists, reason);
    bool clean = false;
    if (err == FOUNDRY_OK)
        err = s_take_marker(data_dir, &now, &clean, reason);
    if (err != FOUNDRY_OK || !exists || strcmp(mode, "never") == 0)
        return err;
    if (clean && strcmp(mode, "always") != 0)
        return FOUNDRY_OK;
    fdy_log_notice("STORE-CHECK-START", "%s/data.mdb: %s: checking every page and record first",
                   data_dir,
                   clean ? "check_store_at_start = always"
                         : "the last stop was not clean (or the file changed since)");
    fdy_store_check_opts_t opts = {.dir = data_dir};
    fdy_store_check_result_t result;
    err = fdy_store_check(&opts, &result);
    if (err != FOUNDRY_OK || result.verdict == FDY_STORE_CHECK_UNUSABLE)
        return fdy_reason_set(reason, err == FOUNDRY_OK ? FOUNDRY_ESTORE : err,
                              "store check at start: %s", result.reason);
    if (result.verdict == FDY_STORE_CHECK_DAMAGED && result.damaged &&
        result.damaged == result.audit_chain_damaged) {
        fdy_log_warn("STORE-CHECK-AUDIT",
                     "%s/data.mdb: the audit log's hash chain is broken (%s); starting: see "
                     "foundryctl audit verify",
                     data_dir, result.reason);
        return FOUNDRY_OK;
    }
    if (result.verdict == FDY_STORE_CHECK_DAMAGED) {
        /* The finding in full: a reason is too short for it and the advice. */
        fdy_log_err("STORE-CHECK-FAILED", "%s", result.reason);
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT,
                              "%s/data.mdb is damaged (STORE-CHECK-FAILED above); restore a "
                              "backup or salvage it (foundry-broker --salvage-to NEWDIR; "
                              "docs/operations.md: Recovering a damaged store)",
                              data_dir);
    }
    fdy_log_notice(
        "STORE-CHECKED", "%s/data.mdb: clean: %llu tables, %llu streams, %llu records in %llu ms",
        data_dir, (unsigned long long) result.tables, (unsigned long long) result.streams,
        (unsigned long long) result.records, (unsigned long long) result.elapsed_ms);
    return FOUNDRY_OK;
}

foundry_err
fdy_start_check_mark_clean(const char *data_dir, fdy_reason_t *reason)
{
    s_stamp_t now;
    bool exists;
    foundry_err err = s_stamp(data_dir, &now, &exists, reason);
    if (err != FOUNDRY_OK || !exists)
        return err;
    char path[PATH_MAX], text[256];
    err = s_path(path, sizeof path, data_dir, FDY_CLEAN_STOP_FILE, reason);
    if (err != FOUNDRY_OK)
        return err;
    s_stamp_text(&now, text, sizeof text);
    return fdy_ready_file_write(path, text, reason);
}
