/*  test_node_disk.c: the real foundry-node with its data directory on a
 *  4 MiB tmpfs, against the real broker (dedupe window 1 s, so a resend of
 *  something acknowledged would be stored again). The outbox fills the
 *  disk while the broker is down; another file takes the last byte; the
 *  broker comes back and acknowledges while telemetry keeps coming; the
 *  node is stopped (cleanly, or killed with the disk still full) and
 *  restarted after space is freed. Every sample the node kept arrives
 *  exactly once: nothing acknowledged is sent again. Skips (77) where
 *  tmpfs cannot be mounted.
 */
#include "clock.h"
#include "node_proc.h"
#include "tmpfs.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STREAM          "telemetry-siheung"
#define TMPFS_SIZE      (4u * 1024u * 1024u)
#define FRAMES_MAX      1000u /* 100,000 samples: far more than 4 MiB holds */
#define SAMPLES_MAX     (FRAMES_MAX * FDY_NODE_PROC_LINES_PER_FRAME)
#define FILL_TIMEOUT_MS 30000

typedef struct {
    uint64_t in, dropped, lost; /* samples, summed over the node's runs */
} s_node_stats_t;

/* Adds up the last NODE-STATS line of each run (the one before its
 * NODE-STOPPED): samples taken in, dropped by policy, lost. */
static s_node_stats_t
s_node_stats(const fdy_node_proc_t *node)
{
    s_node_stats_t total = {0, 0, 0}, last = {0, 0, 0};
    FILE *file = fopen(node->log_path, "r");
    FDY_CHECK(file);
    char line[4096];
    while (fgets(line, sizeof line, file)) {
        const char *in = strstr(line, "NODE-STATS in: ");
        const char *outbox = strstr(line, " bad samples; outbox: ");
        if (in && outbox) {
            unsigned long long samples = 0, entries = 0, bytes = 0, dropped = 0, lost = 0;
            sscanf(in, "NODE-STATS in: %llu samples", &samples);
            sscanf(outbox,
                   " bad samples; outbox: %llu entries, %llu bytes, %llu samples dropped, "
                   "%llu lost",
                   &entries, &bytes, &dropped, &lost);
            last = (s_node_stats_t){samples, dropped, lost};
        } else if (strstr(line, "NODE-STOPPED")) {
            total.in += last.in;
            total.dropped += last.dropped;
            total.lost += last.lost;
            last = (s_node_stats_t){0, 0, 0};
        }
    }
    fclose(file);
    return total;
}

/* Polls until the outbox is empty; false when it is not within timeout_ms
 * (the caller goes on: what is left shows in the counts). */
static bool
s_wait_outbox_empty(const fdy_node_proc_t *node, int timeout_ms)
{
    int64_t deadline = fdy_clock_mono_ms() + timeout_ms;
    for (;;) {
        uint64_t entries = 1, samples = 1;
        if (fdy_node_proc_outbox_count(node, &entries, &samples) && entries == 0)
            return true;
        if (fdy_clock_mono_ms() >= deadline)
            return false;
        fdy_proc_nap_ms(50);
    }
}

typedef struct {
    fdy_proc_t *p;
    fdy_node_proc_t node;
    fdy_node_proc_pusher_t pusher;
    char filler[FDY_NODE_PROC_PATH_LEN + 16];
    size_t frames; /* pushed so far */
} s_env_t;

static void
s_push_for(s_env_t *e, int ms)
{
    int64_t until = fdy_clock_mono_ms() + ms;
    while (fdy_clock_mono_ms() < until && e->frames + 5 <= FRAMES_MAX) {
        fdy_node_proc_push_frames(&e->pusher, e->frames, 5);
        e->frames += 5;
        fdy_proc_nap_ms(50);
    }
}

/* The broker (dedupe window 1 s) and the node's key; the node on its tmpfs
 * fills the disk while the broker is down; a filler takes the last byte;
 * then the broker is back and acknowledges while telemetry keeps coming
 * for ack_ms. The pusher stays open. */
static void
s_fill_then_ack(s_env_t *e, const char *name, int ack_ms)
{
    memset(e, 0, sizeof *e);
    e->p = fdy_proc_new(name);
    const char *broker_extra[] = {"--set", "dedupe_window=1s", NULL};
    FDY_CHECK_OK(fdy_proc_broker_start(e->p, broker_extra));
    fdy_proc_key_add(e->p, FDY_NODE_PROC_KEY, "--role", "node", "--site", FDY_NODE_PROC_SITE, NULL);
    FDY_CHECK_EQ(fdy_proc_broker_stop(e->p), 0);

    fdy_node_proc_t *node = &e->node;
    fdy_node_proc_init(node, e->p, "node");
    FDY_CHECK(mkdir(node->data_dir, 0700) == 0);
    FDY_CHECK_MSG(fdy_tmpfs_mount(node->data_dir, TMPFS_SIZE) == 0, "mount: %s", strerror(errno));
    /* Bounds beyond the disk (and a 1 MiB reserve): the disk is what fills. */
    node->extra[0] = "--set";
    node->extra[1] = "outbox_max_bytes=64MiB";
    fdy_node_proc_start(node, -1, true);
    snprintf(e->filler, sizeof e->filler, "%s/filler", node->data_dir);
    FDY_CHECK(fdy_tmpfs_fill(e->filler, 768u * 1024u) >= 0);

    /* Half the frames hold about twice what the disk has left; the node takes
     * them at its own pace (a loaded machine, a slow disk), so the wait is
     * on a deadline once they are all pushed, not on the frame count. */
    fdy_node_proc_pusher_open(&e->pusher, node->listen);
    int64_t deadline = fdy_clock_mono_ms() + FILL_TIMEOUT_MS;
    while (fdy_node_proc_log_count(node, "OUTBOX-DISK-FULL") == 0 &&
           fdy_node_proc_log_count(node, "OUTBOX-WRITE-FAILED") == 0) {
        FDY_NODE_CHECK(node, fdy_clock_mono_ms() < deadline,
                       "the disk never filled (%zu frames pushed in %d ms)", e->frames,
                       FILL_TIMEOUT_MS);
        if (e->frames + 10 <= FRAMES_MAX / 2) {
            fdy_node_proc_push_frames(&e->pusher, e->frames, 10);
            e->frames += 10;
        }
        fdy_proc_nap_ms(20);
    }
    FDY_CHECK(fdy_tmpfs_fill(e->filler, 0) >= 0);
    FDY_CHECK_OK(fdy_proc_broker_restart(e->p));
    s_push_for(e, ack_ms);
}

/* Waits out the broker's dedupe window: a resend after it is stored again,
 * which is what these tests must be able to see. Time, not a sync. */
static void
s_outlive_dedupe_window(void)
{
    int64_t window_end = fdy_clock_mono_ms() + 1500;
    while (fdy_clock_mono_ms() < window_end)
        fdy_proc_nap_ms(50);
}

static void
s_read_stream(s_env_t *e, fdy_node_proc_reader_t *reader)
{
    *reader = (fdy_node_proc_reader_t){
        FDY_NODE_PROC_SITE, STREAM, FDY_NODE_PROC_KEY, SAMPLES_MAX, NULL, 0, 0, 0, 1, 0};
    reader->seen = calloc(reader->range, 1);
    FDY_CHECK(reader->seen);
    fdy_node_proc_read_new(e->p, reader);
    fprintf(stderr,
            "  pushed %zu frames; broker holds %zu samples in %zu messages, %zu duplicates; "
            "%zu disk-full, %zu write-failed log lines\n",
            e->frames, reader->count, reader->messages, reader->duplicates,
            fdy_node_proc_log_count(&e->node, "OUTBOX-DISK-FULL"),
            fdy_node_proc_log_count(&e->node, "OUTBOX-WRITE-FAILED"));
    FDY_NODE_CHECK(&e->node, reader->duplicates == 0, "%zu samples stored twice",
                   reader->duplicates);
    FDY_CHECK_EQ(reader->foreign, 0);
    fdy_proc_check_stream_count(e->p, STREAM, (int64_t) reader->messages);
}

static void
s_env_destroy(s_env_t *e, fdy_node_proc_reader_t *reader)
{
    free(reader->seen);
    FDY_CHECK_EQ(fdy_proc_broker_stop(e->p), 0);
    fdy_tmpfs_umount(e->node.data_dir);
    fdy_proc_destroy(&e->p);
}

/* Clean stops, and space freed while the node runs: every sample it kept
 * arrives once, the rest is counted as lost. */
static void
test_node_full_disk_stores_everything_kept_once(void)
{
    s_env_t e;
    s_fill_then_ack(&e, "node_disk", 3000);
    bool drained = s_wait_outbox_empty(&e.node, 20000);
    /* Space back while it runs: new telemetry is stored again at once. */
    FDY_CHECK(unlink(e.filler) == 0);
    while (fdy_node_proc_log_count(&e.node, "OUTBOX-DISK-OK") == 0) {
        FDY_NODE_CHECK(&e.node, e.frames < FRAMES_MAX, "no OUTBOX-DISK-OK");
        s_push_for(&e, 100);
    }
    fdy_node_proc_pusher_close(&e.pusher);
    drained = s_wait_outbox_empty(&e.node, 20000) && drained;
    FDY_NODE_CHECK(&e.node, fdy_node_proc_stop(&e.node) == 0, "foundry-node did not stop");
    s_outlive_dedupe_window();
    fdy_node_proc_start(&e.node, -1, true);
    bool drained_again = s_wait_outbox_empty(&e.node, 20000);
    FDY_NODE_CHECK(&e.node, fdy_node_proc_stop(&e.node) == 0, "foundry-node did not stop");

    fdy_node_proc_reader_t reader;
    s_read_stream(&e, &reader);
    s_node_stats_t stats = s_node_stats(&e.node);
    fprintf(stderr, "  node took %" PRIu64 " samples, lost %" PRIu64 " to the full disk\n",
            stats.in, stats.lost);
    FDY_CHECK(drained && drained_again);
    FDY_CHECK(stats.lost > 0); /* the disk was full */
    FDY_CHECK_EQ(reader.count, stats.in - stats.lost - stats.dropped);
    FDY_CHECK(fdy_node_proc_log_count(&e.node, "OUTBOX-DISK-FULL") >= 1);
    FDY_CHECK(fdy_node_proc_log_count(&e.node, "OUTBOX-DISK-OK") >= 1);
    s_env_destroy(&e, &reader);
}

/* The node dies (SIGKILL) with the disk still full, a second after the
 * broker's last ack, telemetry still coming: whatever was acknowledged by
 * then was deleted (or kept as acked), so the restarted node, past the
 * dedupe window, sends none of it again. */
static void
test_node_full_disk_crash_never_sends_acked_entries_again(void)
{
    s_env_t e;
    s_fill_then_ack(&e, "node_disk_crash", 3000);
    FDY_CHECK_EQ(fdy_proc_broker_stop(e.p), 0); /* no ack after this */
    s_push_for(&e, 1000);
    kill(e.node.pid, SIGKILL);
    FDY_CHECK_EQ(fdy_node_proc_wait(&e.node, 10000), 128 + SIGKILL);
    fdy_node_proc_pusher_close(&e.pusher);
    s_outlive_dedupe_window();
    FDY_CHECK(unlink(e.filler) == 0);
    FDY_CHECK_OK(fdy_proc_broker_restart(e.p));
    fdy_node_proc_start(&e.node, -1, true);
    bool drained = s_wait_outbox_empty(&e.node, 20000);
    FDY_NODE_CHECK(&e.node, fdy_node_proc_stop(&e.node) == 0, "foundry-node did not stop");

    fdy_node_proc_reader_t reader;
    s_read_stream(&e, &reader);
    FDY_CHECK(drained);
    FDY_CHECK(reader.count > 0 && reader.count <= e.frames * FDY_NODE_PROC_LINES_PER_FRAME);
    s_env_destroy(&e, &reader);
}

int
main(int argc, char **argv)
{
    if (!getenv("FOUNDRY_NODE")) {
        fprintf(stderr, "node_disk: FOUNDRY_NODE is not set: skipped\n");
        return FDY_TMPFS_SKIP;
    }
    if (!fdy_tmpfs_setup()) {
        printf("skipped: cannot mount\n");
        return FDY_TMPFS_SKIP;
    }
    static const fdy_proc_test_t tests[] = {
        {"node_full_disk_stores_everything_kept_once",
         test_node_full_disk_stores_everything_kept_once},
        {"node_full_disk_crash_never_sends_acked_entries_again",
         test_node_full_disk_crash_never_sends_acked_entries_again},
    };
    return fdy_proc_run_tests("node_disk", tests, sizeof tests / sizeof tests[0], argc, argv);
}
