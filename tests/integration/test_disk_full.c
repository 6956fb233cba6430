/*  test_disk_full.c: the real broker on a 4 MiB tmpfs, through the real
 *  libfoundry. Filling the file system turns publishes into EFULL "disk
 *  full" (not ESTORE "storage error"), the log names the data directory,
 *  reads keep working, and once a filler file is deleted publishing works
 *  again with nothing acknowledged lost, also across a restart.
 */
#include "proc.h"
#include "tmpfs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STREAM      "telemetry-siheung"
#define PUBLISHER   "siheung-1"
#define TMPFS_SIZE  (4u * 1024u * 1024u)
#define PAYLOAD_LEN 2048u
#define ATTEMPTS    4000
#define PATH_LEN    1024

/* The broker's data directory, moved onto a tmpfs of its own (the store
 * bootstrapped by fdy_proc_new() is copied over). */
static void
s_data_onto_tmpfs(fdy_proc_t *p, char *boot, size_t size)
{
    const char *data = fdy_proc_data_dir(p);
    snprintf(boot, size, "%s/data.boot", fdy_proc_dir(p));
    FDY_CHECK_MSG(rename(data, boot) == 0, "rename %s: %s", data, strerror(errno));
    FDY_CHECK(mkdir(data, 0700) == 0);
    FDY_CHECK_MSG(fdy_tmpfs_mount(data, TMPFS_SIZE) == 0, "mount tmpfs on %s: %s", data,
                  strerror(errno));
    FDY_CHECK_MSG(fdy_tmpfs_copy_dir(boot, data) == 0, "copy the store: %s", strerror(errno));
}

/* Publishes message i synchronously. */
static foundry_err
s_publish(foundry_client_t *client, size_t i, foundry_ack_t *ack)
{
    static char payload[PAYLOAD_LEN];
    memset(payload, 'a' + (int) (i % 26), sizeof payload);
    char id[32];
    snprintf(id, sizeof id, "full-%05zu", i);
    return foundry_client_publish(client, "telemetry.siheung.robot1.temp", payload, sizeof payload,
                                  id, strlen(id), ack);
}

static void
test_broker_full_disk_is_efull_and_recovers(void)
{
    fdy_proc_t *p = fdy_proc_new("diskfull");
    char boot[PATH_LEN];
    s_data_onto_tmpfs(p, boot, sizeof boot);
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_key_add(p, PUBLISHER, "--role", "node", "--site", "siheung", NULL);
    foundry_client_t *client = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, PUBLISHER, NULL, &client));

    size_t next = 0, acked = 0;
    foundry_ack_t ack;
    for (; next < 10; next++, acked++)
        FDY_CHECK_OK(s_publish(client, next, &ack));

    /* Less room than a commit's pages: LMDB's write stores part of them
     * and reports EIO (a short write), which must read as a full disk. */
    char filler[PATH_LEN];
    snprintf(filler, sizeof filler, "%s/filler", fdy_proc_data_dir(p));
    FDY_CHECK(fdy_tmpfs_fill(filler, 6000) >= 0);
    foundry_err err = FOUNDRY_OK;
    char reason[256] = "";
    for (int attempt = 0; attempt < ATTEMPTS; attempt++, next++) {
        err = s_publish(client, next, &ack);
        if (err != FOUNDRY_OK) {
            snprintf(reason, sizeof reason, "%s", foundry_client_last_error(client));
            next++;
            break;
        }
        acked++;
    }
    fprintf(stderr, "  disk full after %zu acked messages: %s: %s\n", acked, foundry_strerror(err),
            reason);
    FDY_CHECK_ERR(err, FOUNDRY_EFULL);
    FDY_CHECK_MSG(strstr(reason, "disk full"), "EFULL reason \"%s\" does not say disk full",
                  reason);
    /* Still full: refused again, with the same reason. */
    FDY_CHECK_ERR(s_publish(client, next++, &ack), FOUNDRY_EFULL);
    FDY_CHECK(strstr(ack.reason, "disk full"));

    /* The log names the directory and is not an I/O error. */
    char want[PATH_LEN + 32];
    snprintf(want, sizeof want, "disk full at %s", fdy_proc_data_dir(p));
    FDY_CHECK_MSG(fdy_proc_log_count(p, want), "broker log lacks \"%s\"", want);
    FDY_CHECK(fdy_proc_log_count(p, "STORE-FULL"));
    FDY_CHECK_EQ(fdy_proc_log_count(p, "STORE-APPEND"), 0);

    /* Reads are served while the disk is full. */
    fdy_proc_check_stream_count(p, STREAM, (int64_t) acked);
    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "--json", "stream", "read", STREAM, "--from", "1", "--count",
                              "5", NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);

    /* Space back: publishing works at once, nothing acknowledged is lost. */
    FDY_CHECK(unlink(filler) == 0);
    for (size_t k = 0; k < 20; k++, next++, acked++)
        FDY_CHECK_OK(s_publish(client, next, &ack));
    fdy_proc_check_stream_count(p, STREAM, (int64_t) acked);
    FDY_CHECK_OK(foundry_client_close(&client, 5000, NULL));

    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    FDY_CHECK_OK(fdy_proc_broker_restart(p));
    fdy_proc_check_stream_count(p, STREAM, (int64_t) acked);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_tmpfs_umount(fdy_proc_data_dir(p));
    fdy_proc_destroy(&p);
}

int
main(int argc, char **argv)
{
    if (!fdy_tmpfs_setup()) {
        printf("skipped: cannot mount\n");
        return FDY_TMPFS_SKIP;
    }
    static const fdy_proc_test_t tests[] = {
        {"broker_full_disk_is_efull_and_recovers", test_broker_full_disk_is_efull_and_recovers},
    };
    return fdy_proc_run_tests("disk_full", tests, sizeof tests / sizeof tests[0], argc, argv);
}
