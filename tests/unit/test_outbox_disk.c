/*  test_outbox_disk.c: foundry-node's outbox (node/outbox.h) on a real 4 MiB
 *  tmpfs. Filled until the disk is full, it refuses new entries with
 *  "disk full" (counted as lost) instead of failing its commits; with the
 *  last free byte taken by another file it still deletes every
 *  acknowledged entry, then stores new ones in the pages that freed, and
 *  a reopened outbox holds exactly those. Skips (77) without tmpfs.
 */
#include "outbox.h"
#include "tmpfs.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define TMPFS_SIZE (4u * 1024u * 1024u)
#define SUBJECT    "telemetry.siheung.robot1.temp"
#define TURNS_MAX  5000

typedef struct {
    char mount[64];
    char dir[96];
    char filler[96];
    fdy_outbox_t *outbox;
    fdy_reason_t reason;
} fixture_t;

static void
s_open(fixture_t *fx)
{
    /* Bounds far beyond the disk: the disk is what fills. */
    fdy_outbox_opts_t opts = {fx->dir, 1000000, 64u << 20, FDY_OUTBOX_DROP_OLDEST};
    if (fdy_outbox_open(&opts, &fx->outbox, &fx->reason) != FOUNDRY_OK)
        fail_msg("open: %s", fx->reason.text);
}

static int
setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    snprintf(fx->mount, sizeof fx->mount, "/tmp/foundry-outbox-disk-XXXXXX");
    assert_non_null(mkdtemp(fx->mount));
    assert_int_equal(fdy_tmpfs_mount(fx->mount, TMPFS_SIZE), 0);
    snprintf(fx->dir, sizeof fx->dir, "%s/outbox", fx->mount);
    snprintf(fx->filler, sizeof fx->filler, "%s/filler", fx->mount);
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *fx = *state;
    fdy_outbox_close(&fx->outbox);
    fdy_tmpfs_umount(fx->mount);
    rmdir(fx->mount);
    free(fx);
    return 0;
}

/* Entry k: every other one has a payload over half a page (LMDB gives it
 * overflow pages of its own), the rest share leaf pages. */
static foundry_err
s_append(fixture_t *fx, uint64_t k)
{
    static uint8_t payload[3000];
    memset(payload, (int) (k & 0xff), sizeof payload);
    size_t len = k % 2 ? sizeof payload : 100;
    return fdy_outbox_append(fx->outbox, SUBJECT, payload, len, 1, NULL, &fx->reason);
}

typedef struct {
    size_t count;
    uint64_t first;
} s_seen_t;

static bool
s_count(const fdy_outbox_entry_t *entry, void *user)
{
    s_seen_t *seen = user;
    if (seen->count++ == 0)
        seen->first = entry->seq;
    return true;
}

/* Entries a read hands out; *first_seq (may be NULL) the first one's seq. */
static size_t
s_readable(fixture_t *fx, uint64_t *first_seq)
{
    s_seen_t seen = {0, 0};
    uint64_t next = 0;
    if (fdy_outbox_read(fx->outbox, 0, 1u << 20, s_count, &seen, &next, &fx->reason) != FOUNDRY_OK)
        fail_msg("read: %s", fx->reason.text);
    if (first_seq)
        *first_seq = seen.first;
    return seen.count;
}

static void
test_outbox_full_disk_still_deletes_acked_entries(void **state)
{
    fixture_t *fx = *state;
    s_open(fx);
    uint64_t k = 0;
    bool full = false;
    for (int turn = 0; turn < TURNS_MAX && !full; turn++) {
        for (int i = 0; i < 20 && !full; i++, k++) {
            foundry_err err = s_append(fx, k);
            if (err == FOUNDRY_EFULL) {
                full = true;
                char want[160];
                snprintf(want, sizeof want, "disk full at %s", fx->dir);
                if (!strstr(fx->reason.text, want))
                    fail_msg("refusal \"%s\" lacks \"%s\"", fx->reason.text, want);
            } else if (err != FOUNDRY_OK) {
                fail_msg("append %llu: %s (%s)", (unsigned long long) k, foundry_strerror(err),
                         fx->reason.text);
            }
        }
        /* What was admitted fits: the commit itself never fails. */
        if (fdy_outbox_commit(fx->outbox, &fx->reason) != FOUNDRY_OK)
            fail_msg("commit at turn %d: %s", turn, fx->reason.text);
    }
    assert_true(full);
    fdy_outbox_stats_t stats;
    fdy_outbox_stats(fx->outbox, &stats);
    uint64_t stored = stats.entries;
    fprintf(stderr, "  stored %llu entries before the disk was full\n",
            (unsigned long long) stored);
    assert_true(stored > 100);
    assert_true(stats.disk_full);
    assert_true(stats.lost >= 1 && stats.lost == stats.disk_full_lost);
    assert_int_equal(stats.lost_samples, stats.disk_full_lost_samples);

    /* Another file takes every byte left: only the reserve remains. */
    assert_true(fdy_tmpfs_fill(fx->filler, 0) >= 0);
    assert_true(fdy_tmpfs_free(fx->mount) < 4096);

    /* All of it acknowledged: every delete commits. */
    for (uint64_t seq = 1; seq <= stored; seq++)
        assert_int_equal(fdy_outbox_remove(fx->outbox, seq, &fx->reason), FOUNDRY_OK);
    assert_int_equal(s_readable(fx, NULL), 0); /* acked: never read again */
    for (int i = 0; i < 10 && stats.entries > 0; i++) {
        if (fdy_outbox_commit(fx->outbox, &fx->reason) != FOUNDRY_OK)
            fail_msg("commit of the deletes: %s", fx->reason.text);
        fdy_outbox_stats(fx->outbox, &stats);
    }
    assert_int_equal(stats.entries, 0);
    assert_int_equal(stats.removed, stored);

    /* The disk is still full, but the deleted entries' pages take new ones. */
    uint64_t lost = stats.lost;
    for (int i = 0; i < 40; i++, k++)
        if (s_append(fx, k) != FOUNDRY_OK)
            fail_msg("append after the deletes: %s", fx->reason.text);
    assert_int_equal(fdy_outbox_commit(fx->outbox, &fx->reason), FOUNDRY_OK);
    fdy_outbox_stats(fx->outbox, &stats);
    assert_int_equal(stats.entries, 40);
    assert_int_equal(stats.lost, lost);

    /* Reopened: exactly the 40 new ones, none of the acknowledged. */
    fdy_outbox_close(&fx->outbox);
    s_open(fx);
    uint64_t first = 0;
    assert_int_equal(s_readable(fx, &first), 40);
    assert_true(first > stored);
    fdy_outbox_stats(fx->outbox, &stats);
    assert_int_equal(stats.entries, 40);
    unlink(fx->filler);
}

/* The data file's size: posix_fallocate grows it, LMDB does not care. */
static long long
s_data_size(fixture_t *fx)
{
    char path[128];
    snprintf(path, sizeof path, "%s/data.mdb", fx->dir);
    struct stat st;
    if (stat(path, &st) != 0)
        fail_msg("stat %s", path);
    return (long long) st.st_size;
}

/* Another file leaves less than the allocation's slack: the outbox takes
 * what is free in one allocation, not one per append (each a walk of the
 * whole file on tmpfs, which made the intake crawl as the disk filled). */
static void
test_outbox_nearly_full_disk_allocates_in_chunks(void **state)
{
    fixture_t *fx = *state;
    s_open(fx);
    assert_true(fdy_tmpfs_fill(fx->filler, 768u * 1024u) >= 0);
    long long size = s_data_size(fx);
    int grown = 0;
    bool full = false;
    uint64_t k = 0;
    static uint8_t payload[300];
    for (int turn = 0; turn < TURNS_MAX && !full; turn++) {
        for (int i = 0; i < 15 && !full; i++, k++) {
            memset(payload, (int) (k & 0xff), sizeof payload);
            foundry_err err = fdy_outbox_append(fx->outbox, SUBJECT, payload, sizeof payload, 7,
                                                NULL, &fx->reason);
            if (err == FOUNDRY_EFULL)
                full = true;
            else if (err != FOUNDRY_OK)
                fail_msg("append %llu: %s", (unsigned long long) k, fx->reason.text);
            long long now = s_data_size(fx);
            grown += now != size;
            size = now;
        }
        if (fdy_outbox_commit(fx->outbox, &fx->reason) != FOUNDRY_OK)
            fail_msg("commit at turn %d: %s", turn, fx->reason.text);
    }
    fprintf(stderr, "  %llu appends, the data file grew %d times, %llu bytes free\n",
            (unsigned long long) k, grown, (unsigned long long) fdy_tmpfs_free(fx->dir));
    assert_true(full);
    assert_true(k > 1000);
    assert_true(grown <= 3);
    unlink(fx->filler);
}

int
main(void)
{
    if (!fdy_tmpfs_setup()) {
        printf("skipped: cannot mount\n");
        return FDY_TMPFS_SKIP;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_outbox_full_disk_still_deletes_acked_entries, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_outbox_nearly_full_disk_allocates_in_chunks, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("outbox_disk", tests, NULL, NULL);
}
