/*  cmd_backup.c: `foundryctl backup DIR`: a hot, consistent backup of a
 *  broker's data directory while the broker serves: the store as one
 *  compacted LMDB snapshot (backup_store.c), checked page by page, then the
 *  model blobs (backup_blobs.c). Built in DIR.partial and renamed to DIR
 *  at the end, so a DIR that exists is a whole backup. Restore is a copy of
 *  the files back (docs/operations.md, "Backup and restore").
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include "ctl.h"

#include "backup_blobs.h"
#include "backup_refs.h"
#include "backup_store.h"
#include "files.h"
#include "store.h"
#include "store_check.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_DATA_DIR "/var/lib/foundry"
#define INFO_FILE        "BACKUP"
#define RELEASE_KEY      "release.sign"

typedef struct {
    const char *data_dir;
} backup_opts_t;

enum { BACKUP_DATA_DIR = 1 };

typedef struct {
    fdy_backup_store_result_t store;
    fdy_store_check_result_t check;
    fdy_backup_blobs_result_t blobs;
    uint64_t manifests; /* model manifests in the snapshot */
    bool release_key;   /* <data_dir>/release.sign copied */
} backup_t;

/* dir/name into out; false when it does not fit. */
static bool
s_join(char out[PATH_MAX], const char *dir, const char *name)
{
    int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
    return n >= 0 && n < PATH_MAX;
}

static int
s_remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void) st, (void) type, (void) ftw;
    remove(path);
    return 0;
}

/* A failed backup leaves nothing that looks like one. */
static void
s_remove_tree(const char *path)
{
    nftw(path, s_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* DIR/BACKUP: what the backup holds and where it came from, for the
 * operator restoring it. */
static int
s_write_info(const char *partial, const char *data_dir, const backup_t *b)
{
    char path[PATH_MAX];
    if (!s_join(path, partial, INFO_FILE))
        return fdy_output_fail("%s: path too long", partial);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!out) {
        int saved = errno;
        if (fd >= 0)
            close(fd);
        return fdy_output_fail("%s: %s", path, strerror(saved));
    }
    char when[64];
    time_t now = time(NULL);
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    fprintf(out,
            "# foundry backup: restore with docs/operations.md, \"Backup and restore\"\n"
            "created %s\nsource %s\nschema %d\nstore_bytes %llu\nstore_records %llu\n"
            "streams %llu\nmanifests %llu\nblobs %llu\nblob_bytes %llu\nrelease_key %s\n",
            when, data_dir, FDY_STORE_SCHEMA, (unsigned long long) b->store.copy_bytes,
            (unsigned long long) b->check.records, (unsigned long long) b->check.streams,
            (unsigned long long) b->manifests, (unsigned long long) b->blobs.copied,
            (unsigned long long) b->blobs.bytes, b->release_key ? RELEASE_KEY : "none");
    bool ok = fflush(out) == 0 && fsync(fileno(out)) == 0;
    int saved = errno;
    ok = fclose(out) == 0 && ok;
    if (!ok)
        return fdy_output_fail("%s: %s", path, strerror(saved));
    return FDY_CTL_EXIT_OK;
}

/* <data_dir>/release.sign, the broker's release-log signing key when
 * release_key_file is not set: the release log in the store is signed with
 * it and every agent trusts its public half, so a restore needs it back.
 * Absent (a broker that never started the models service): nothing to do. */
static int
s_copy_release_key(const char *data_dir, const char *partial, bool *copied)
{
    char from[PATH_MAX], to[PATH_MAX];
    *copied = false;
    if (!s_join(from, data_dir, RELEASE_KEY) || !s_join(to, partial, RELEASE_KEY))
        return fdy_output_fail("%s: path too long", data_dir);
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0 && errno == ENOENT)
        return FDY_CTL_EXIT_OK;
    if (in < 0)
        return fdy_output_fail("%s: %s", from, strerror(errno));
    int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    char buf[4096];
    ssize_t got = out >= 0 ? read(in, buf, sizeof buf) : -1;
    bool ok = got > 0 && (size_t) got < sizeof buf && write(out, buf, (size_t) got) == got &&
              fsync(out) == 0;
    int saved = errno;
    close(in);
    if (out >= 0)
        close(out);
    if (!ok)
        return fdy_output_fail("copying %s: %s", from, got >= 0 && saved == 0 ? "unexpected size"
                                                                              : strerror(saved));
    *copied = true;
    return FDY_CTL_EXIT_OK;
}

/* The copy is only a backup if it can be opened: check every page and
 * record, as foundry-broker does at start. */
static int
s_check_copy(const char *partial, backup_t *b)
{
    fdy_store_check_opts_t opts = {.dir = partial, .report = NULL, .progress = false};
    foundry_err err = fdy_store_check(&opts, &b->check);
    if (err != FOUNDRY_OK || b->check.verdict != FDY_STORE_CHECK_CLEAN)
        return fdy_output_fail("the copied store failed its check: %s", b->check.reason);
    fprintf(stderr, "backup: copy checked: %llu records in %llu tables, %llu streams\n",
            (unsigned long long) b->check.records, (unsigned long long) b->check.tables,
            (unsigned long long) b->check.streams);
    return FDY_CTL_EXIT_OK;
}

static int
s_build(const char *data_dir, const char *partial, backup_t *b)
{
    fdy_reason_t reason = {0};
    if (fdy_backup_store_copy(data_dir, partial, stderr, &b->store, &reason) != FOUNDRY_OK)
        return fdy_output_fail("store: %s", reason.text);
    int status = s_check_copy(partial, b);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    /* The blobs the snapshot references, read from the copy itself. Its
     * reader (and the check's) leaves a lock.mdb, no part of a backup. */
    fdy_backup_refs_t *refs = NULL;
    foundry_err err = fdy_backup_refs_load(partial, &refs, &reason);
    char lock[PATH_MAX];
    if (s_join(lock, partial, "lock.mdb"))
        unlink(lock);
    if (err != FOUNDRY_OK)
        return fdy_output_fail("models in the copied store: %s", reason.text);
    /* After the store: every blob its snapshot references was stored (and
     * fsynced) before the commit that references it, and the broker
     * removes only unreferenced blobs. */
    char blobs_from[PATH_MAX], blobs_to[PATH_MAX];
    if (!s_join(blobs_from, data_dir, "blobs") || !s_join(blobs_to, partial, "blobs")) {
        fdy_backup_refs_destroy(&refs);
        return fdy_output_fail("%s: path too long", data_dir);
    }
    err = fdy_backup_blobs_copy(blobs_from, blobs_to, fdy_backup_refs_want, refs, stderr, &b->blobs,
                                &reason);
    uint64_t missing = err == FOUNDRY_OK ? fdy_backup_refs_missing(refs, blobs_to, stderr) : 0;
    b->manifests = fdy_backup_refs_manifests(refs);
    fdy_backup_refs_destroy(&refs);
    if (err != FOUNDRY_OK)
        return fdy_output_fail("blobs: %s", reason.text);
    if (missing)
        return fdy_output_fail("%llu blob(s) that models in the snapshot need are missing or "
                               "damaged in %s (listed above): a restored broker could not serve "
                               "them; nothing was kept",
                               (unsigned long long) missing, blobs_from);
    status = s_copy_release_key(data_dir, partial, &b->release_key);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    return s_write_info(partial, data_dir, b);
}

static void
s_print(const fdy_ctl_args_t *args, const char *dir, const backup_t *b)
{
    if (args->json) {
        printf("{\"dir\":");
        fdy_output_json_string(stdout, dir, strlen(dir));
        printf(",\"store_bytes\":%llu,\"source_bytes\":%llu,\"records\":%llu,\"streams\":%llu,"
               "\"manifests\":%llu,\"blobs\":%llu,\"blob_bytes\":%llu,\"blobs_damaged\":%llu,"
               "\"blobs_skipped\":%llu}\n",
               (unsigned long long) b->store.copy_bytes, (unsigned long long) b->store.source_bytes,
               (unsigned long long) b->check.records, (unsigned long long) b->check.streams,
               (unsigned long long) b->manifests, (unsigned long long) b->blobs.copied,
               (unsigned long long) b->blobs.bytes, (unsigned long long) b->blobs.damaged,
               (unsigned long long) b->blobs.skipped);
        return;
    }
    printf("backup %s: store %llu bytes (%llu records, %llu streams, %llu model manifests), "
           "%llu blobs (%llu bytes)\n",
           dir, (unsigned long long) b->store.copy_bytes, (unsigned long long) b->check.records,
           (unsigned long long) b->check.streams, (unsigned long long) b->manifests,
           (unsigned long long) b->blobs.copied, (unsigned long long) b->blobs.bytes);
}

static int
s_backup(const fdy_ctl_args_t *args)
{
    const backup_opts_t *opts = args->opts;
    const char *data_dir = opts->data_dir ? opts->data_dir : DEFAULT_DATA_DIR;
    const char *dir = args->pos[0];
    char partial[PATH_MAX];
    if (snprintf(partial, sizeof partial, "%s.partial", dir) >= (int) sizeof partial)
        return fdy_output_usage("backup directory name too long: %s", dir);
    struct stat st;
    if (stat(dir, &st) == 0)
        return fdy_output_fail("%s already exists: a backup goes into a new directory", dir);
    if (stat(partial, &st) == 0)
        return fdy_output_fail("%s exists: an earlier backup did not finish; remove it first",
                               partial);
    if (mkdir(partial, 0700) != 0)
        return fdy_output_fail("%s: %s", partial, strerror(errno));

    backup_t b = {0};
    int status = s_build(data_dir, partial, &b);
    if (status == FDY_CTL_EXIT_OK && rename(partial, dir) != 0)
        status = fdy_output_fail("rename %s to %s: %s", partial, dir, strerror(errno));
    if (status == FDY_CTL_EXIT_OK) {
        /* The rename is durable once DIR's parent is synced. */
        char parent[PATH_MAX];
        if (!s_join(parent, dir, "..") || fdy_dir_fsync(parent) != 0)
            return fdy_output_fail("%s: fsync of its directory: %s", dir, strerror(errno));
    }
    if (status != FDY_CTL_EXIT_OK) {
        s_remove_tree(partial);
        return status;
    }
    s_print(args, dir, &b);
    if (b.blobs.damaged)
        return fdy_output_fail("%llu damaged blob(s) in %s/blobs were left out (listed above)",
                               (unsigned long long) b.blobs.damaged, data_dir);
    return FDY_CTL_EXIT_OK;
}

static const fdy_ctl_flag_t s_flags[] = {
    {"--data-dir", "DIR", BACKUP_DATA_DIR, false,
     "the broker's data directory (default " DEFAULT_DATA_DIR ")"},
};

static int
s_opts_set(void *opts, const fdy_ctl_flag_t *flag, const char *value)
{
    backup_opts_t *self = opts;
    if (flag->id == BACKUP_DATA_DIR)
        self->data_dir = value;
    return FDY_CTL_EXIT_OK;
}

static const fdy_ctl_cmd_t s_commands[] = {
    {
        .words = "backup",
        .synopsis = "DIR [--data-dir DIR]",
        .summary = "hot backup of a broker's store and model blobs into a new directory",
        .notes = "Safe while the broker serves: the store is copied as one LMDB read\n"
                 "snapshot, compacted (free pages left out), into DIR/data.mdb, then\n"
                 "checked page by page; then the blobs of <data-dir>/blobs its models\n"
                 "reference (manifests' chunks, uploads' held chunks) go to DIR/blobs, each\n"
                 "checked against its BLAKE2b name; DIR/BACKUP says what\n"
                 "it holds. The broker's release-log key <data-dir>/release.sign comes along.\n"
                 "Built as DIR.partial, renamed to DIR when whole. Run it on the\n"
                 "broker's host as a user that may read the data directory. Progress on\n"
                 "stderr, a summary on stdout. Keys (/etc/foundry/keys) are not included.\n"
                 "Restore: docs/operations.md, \"Backup and restore\".\n"
                 "Exit 0 done; 1 failed, nothing left behind (also when a blob a manifest\n"
                 "needs is missing or damaged), or a damaged upload chunk was left out.",
        .pos_names = {"DIR"},
        .min_pos = 1,
        .max_pos = 1,
        .flags = (const int[]){BACKUP_DATA_DIR, 0},
        .reach = FDY_CTL_REACH_LOCAL,
        .run = s_backup,
    },
};

const fdy_ctl_group_t fdy_cmd_backup_group = {
    .commands = s_commands,
    .command_count = sizeof s_commands / sizeof s_commands[0],
    .flags = s_flags,
    .flag_count = sizeof s_flags / sizeof s_flags[0],
    .opts_size = sizeof(backup_opts_t),
    .opts_set = s_opts_set,
};
