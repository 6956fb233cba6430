/*  test_modes.c: the modes of every file and directory foundry-broker
 *  creates (docs/operations.md, "File modes"), with stat(), under umask 022
 *  and 000: the data directory and keys directory 0700, the store, lock and
 *  ready files 0600, the broker's secret key 0600 and public key 0644.
 *  The node's files are checked in test_node_outbox.c.
 */
#include "proc.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_LEN 1024

/* Empties and removes dir (one level: what the harness put there). */
static void
s_remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    FDY_CHECK_MSG(d, "opendir %s", dir);
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        char path[PATH_LEN];
        snprintf(path, sizeof path, "%s/%s", dir, entry->d_name);
        FDY_CHECK_MSG(unlink(path) == 0, "unlink %s", path);
    }
    closedir(d);
    FDY_CHECK_MSG(rmdir(dir) == 0, "rmdir %s", dir);
}

static void
s_check_mode(const char *dir, const char *name, mode_t want, unsigned umask_value)
{
    char path[PATH_LEN];
    snprintf(path, sizeof path, "%s%s%s", dir, name[0] ? "/" : "", name);
    struct stat st;
    FDY_CHECK_MSG(stat(path, &st) == 0, "umask %03o: %s is missing", umask_value, path);
    FDY_CHECK_MSG((st.st_mode & 07777) == want, "umask %03o: %s has mode %04o, want %04o",
                  umask_value, path, (unsigned) (st.st_mode & 07777), (unsigned) want);
}

/* Leaves a ready file and its temporary file of a crashed broker, both
 * wide open: the next start must not keep their modes. */
static void
s_plant_leftovers(const char *data_dir)
{
    const char *names[] = {"ready", "ready.tmp"};
    for (size_t i = 0; i < 2; i++) {
        char path[PATH_LEN];
        snprintf(path, sizeof path, "%s/%s", data_dir, names[i]);
        FILE *file = fopen(path, "w");
        FDY_CHECK(file);
        fputs("endpoint tcp://127.0.0.1:1\npid 1\n", file);
        fclose(file);
        FDY_CHECK(chmod(path, 0666) == 0);
    }
}

static void
s_check_broker_files(unsigned umask_value)
{
    char name[32];
    snprintf(name, sizeof name, "modes-%03o", umask_value);
    fdy_proc_t *p = fdy_proc_new(name);
    /* The broker makes them itself: its data directory, its store, its key
     * pair (the harness made these for the other tests). */
    char keys_dir[PATH_LEN];
    snprintf(keys_dir, sizeof keys_dir, "%s/keys", fdy_proc_dir(p));
    s_remove_dir(fdy_proc_data_dir(p));
    s_remove_dir(keys_dir);

    /* The broker inherits the umask at fork; ours is put back at once. */
    mode_t before = umask((mode_t) umask_value);
    foundry_err err = fdy_proc_broker_start(p, NULL);
    umask(before);
    FDY_CHECK_OK(err);
    const char *data = fdy_proc_data_dir(p);
    s_check_mode(data, "", 0700, umask_value);
    s_check_mode(data, "data.mdb", 0600, umask_value);
    s_check_mode(data, "lock.mdb", 0600, umask_value);
    s_check_mode(data, "broker.lock", 0600, umask_value);
    s_check_mode(data, "ready", 0600, umask_value);
    s_check_mode(keys_dir, "", 0700, umask_value);
    s_check_mode(keys_dir, "broker.key_secret", 0600, umask_value);
    s_check_mode(keys_dir, "broker.key", 0644, umask_value);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);

    s_plant_leftovers(data);
    umask((mode_t) umask_value);
    err = fdy_proc_broker_restart(p);
    umask(before);
    FDY_CHECK_OK(err);
    s_check_mode(data, "ready", 0600, umask_value);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

static void
test_modes_broker_files_umask_022(void)
{
    s_check_broker_files(022);
}

static void
test_modes_broker_files_umask_000(void)
{
    s_check_broker_files(0);
}

int
main(int argc, char **argv)
{
    static const fdy_proc_test_t tests[] = {
        {"broker_files_umask_022", test_modes_broker_files_umask_022},
        {"broker_files_umask_000", test_modes_broker_files_umask_000},
    };
    return fdy_proc_run_tests("modes", tests, sizeof tests / sizeof tests[0], argc, argv);
}
