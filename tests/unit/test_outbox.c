/*  test_outbox.c: foundry-node's LMDB outbox (node/outbox.h) on real
 *  temporary directories: append and commit, ack removal, both bound
 *  policies by entries and by bytes, reopening (contents, epoch, seqs never
 *  reused), read order and resumption, the directory lock, checksummed
 *  records (damage made through raw LMDB), message ids, and acks whose
 *  delete failed kept across a restart (mdb_txn_commit failing through a
 *  link-time wrap).
 */
#include "outbox.h"

#include <dirent.h>
#include <errno.h>
#include <lmdb.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define assert_foundry_ok(expr)                                                                    \
    do {                                                                                           \
        foundry_err err_ = (expr);                                                                 \
        if (err_ != FOUNDRY_OK)                                                                    \
            fail_msg("%s: %s (%s)", #expr, foundry_strerror(err_), fx->reason.text);               \
    } while (0)

#define assert_foundry_err(expr, want)                                                             \
    do {                                                                                           \
        foundry_err err_ = (expr);                                                                 \
        if (err_ != (want))                                                                        \
            fail_msg("%s: got %s, want %s (%s)", #expr, foundry_strerror(err_),                    \
                     foundry_strerror(want), fx->reason.text);                                     \
    } while (0)

#define SUBJECT "telemetry.siheung.robot1.temp"

/* -Wl,--wrap=mdb_txn_commit: while set, commits fail as a full disk's do
 * (the transaction is gone, nothing written). */
static bool s_fail_commits;
int __real_mdb_txn_commit(MDB_txn *txn);
int __wrap_mdb_txn_commit(MDB_txn *txn);

int
__wrap_mdb_txn_commit(MDB_txn *txn)
{
    if (!s_fail_commits)
        return __real_mdb_txn_commit(txn);
    mdb_txn_abort(txn);
    return ENOSPC;
}

typedef struct {
    char dir[64];
    fdy_outbox_t *outbox;
    fdy_reason_t reason;
} fixture_t;

static foundry_err
s_open(fixture_t *fx, uint64_t max_entries, uint64_t max_bytes, fdy_outbox_policy_t policy)
{
    fdy_outbox_opts_t opts = {fx->dir, max_entries, max_bytes, policy};
    return fdy_outbox_open(&opts, &fx->outbox, &fx->reason);
}

static int
setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/foundry-outbox-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *fx = *state;
    fdy_outbox_close(&fx->outbox);
    DIR *dir = opendir(fx->dir);
    if (dir) {
        struct dirent *entry;
        while ((entry = readdir(dir)) != NULL) {
            if (entry->d_name[0] == '.')
                continue;
            char path[512];
            snprintf(path, sizeof path, "%s/%s", fx->dir, entry->d_name);
            unlink(path);
        }
        closedir(dir);
    }
    rmdir(fx->dir);
    free(fx);
    return 0;
}

/* Payload of entry i: its text, so a record served for the wrong seq or
 * truncated cannot pass. */
static size_t
s_payload(uint64_t i, char *out, size_t size)
{
    int n = snprintf(out, size, "payload-%llu-", (unsigned long long) i);
    size_t len = (size_t) n;
    for (uint64_t k = 0; k < i % 50 && len + 1 < size; k++)
        out[len++] = (char) ('a' + (i + k) % 26);
    out[len] = '\0';
    return len;
}

static foundry_err
s_append(fixture_t *fx, uint64_t i, uint64_t *seq_out)
{
    char payload[128];
    size_t len = s_payload(i, payload, sizeof payload);
    return fdy_outbox_append(fx->outbox, SUBJECT, (const uint8_t *) payload, len,
                             (uint32_t) (i % 7 + 1), seq_out, &fx->reason);
}

/* Collects what a read hands out. */
typedef struct {
    uint64_t seqs[256];
    size_t count;
    size_t stop_after; /* consume this many, then refuse; 0 = all */
    bool bad_content;
} s_seen_t;

static bool
s_collect(const fdy_outbox_entry_t *entry, void *user)
{
    s_seen_t *seen = user;
    if (seen->stop_after && seen->count == seen->stop_after)
        return false;
    /* Entry i was appended with payload i and i % 7 + 1 samples in these
     * tests, and seq i. */
    char payload[128];
    size_t len = s_payload(entry->seq, payload, sizeof payload);
    if (strcmp(entry->subject, SUBJECT) != 0 || entry->payload_len != len ||
        memcmp(entry->payload, payload, len) != 0 || entry->samples != entry->seq % 7 + 1 ||
        entry->created_ns == 0)
        seen->bad_content = true;
    if (seen->count < 256)
        seen->seqs[seen->count++] = entry->seq;
    return true;
}

static void
s_read_all(fixture_t *fx, uint64_t from, size_t max, s_seen_t *seen, uint64_t *next_out)
{
    memset(seen, 0, sizeof *seen);
    uint64_t next = 0;
    assert_foundry_ok(fdy_outbox_read(fx->outbox, from, max, s_collect, seen, &next, &fx->reason));
    assert_false(seen->bad_content);
    if (next_out)
        *next_out = next;
}

/* First and last seq and count of what a read hands out, for entries
 * whose payload is not from s_payload(). */
typedef struct {
    uint64_t first, last, count;
    bool unordered;
} s_range_t;

static bool
s_range(const fdy_outbox_entry_t *entry, void *user)
{
    s_range_t *range = user;
    if (range->count == 0)
        range->first = entry->seq;
    else if (entry->seq <= range->last)
        range->unordered = true;
    range->last = entry->seq;
    range->count++;
    return true;
}

/* ---- tests ------------------------------------------------------------------ */

static void
test_outbox_append_commit_read(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx, 1000, 1 << 20, FDY_OUTBOX_DROP_OLDEST));
    for (uint64_t i = 1; i <= 3; i++) {
        uint64_t seq = 0;
        assert_foundry_ok(s_append(fx, i, &seq));
        assert_int_equal(seq, i);
    }
    fdy_outbox_stats_t stats;
    fdy_outbox_stats(fx->outbox, &stats);
    assert_int_equal(stats.entries, 3);
    assert_int_equal(stats.appended, 0); /* counted at the commit */

    /* Reads see committed entries only, and never run beside a write. */
    s_seen_t seen;
    uint64_t next = 0;
    assert_foundry_err(fdy_outbox_read(fx->outbox, 0, 10, s_collect, &seen, &next, &fx->reason),
                       FOUNDRY_EINVAL);
    assert_foundry_ok(fdy_outbox_commit(fx->outbox, &fx->reason));
    assert_foundry_ok(fdy_outbox_commit(fx->outbox, &fx->reason)); /* nothing open: fine */
    s_read_all(fx, 0, 100, &seen, &next);
    assert_int_equal(seen.count, 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(seen.seqs[i], i + 1);
    assert_int_equal(next, 4);

    fdy_outbox_stats(fx->outbox, &stats);
    assert_int_equal(stats.appended, 3);
    assert_int_equal(stats.appended_samples, 2 + 3 + 4);
    char payload[128];
    uint64_t bytes = 0;
    for (uint64_t i = 1; i <= 3; i++)
        bytes += FDY_OUTBOX_ENTRY_BYTES(strlen(SUBJECT), s_payload(i, payload, sizeof payload));
    assert_int_equal(stats.bytes, bytes);

    /* Bad subjects are refused before anything is written. */
    char long_subject[300];
    memset(long_subject, 'a', sizeof long_subject - 1);
    long_subject[sizeof long_subject - 1] = '\0';
    assert_foundry_err(
        fdy_outbox_append(fx->outbox, "", (const uint8_t *) "x", 1, 1, NULL, &fx->reason),
        FOUNDRY_EINVAL);
    assert_foundry_err(
        fdy_outbox_append(fx->outbox, long_subject, (const uint8_t *) "x", 1, 1, NULL, &fx->reason),
        FOUNDRY_EINVAL);
    /* An empty payload is a valid entry. */
    uint64_t seq = 0;
    assert_foundry_ok(fdy_outbox_append(fx->outbox, "s", NULL, 0, 0, &seq, &fx->reason));
    assert_int_equal(seq, 4);
}

static void
test_outbox_uncommitted_appends_vanish(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx, 1000, 1 << 20, FDY_OUTBOX_DROP_OLDEST));
    assert_foundry_ok(s_append(fx, 1, NULL));
    assert_foundry_ok(fdy_outbox_commit(fx->outbox, &fx->reason));
    assert_foundry_ok(s_append(fx, 2, NULL));
    fdy_outbox_close(&fx->outbox); /* aborts entry 2 */
    assert_foundry_ok(s_open(fx, 1000, 1 << 20, FDY_OUTBOX_DROP_OLDEST));
    s_seen_t seen;
    s_read_all(fx, 0, 100, &seen, NULL);
    assert_int_equal(seen.count, 1);
    assert_int_equal(seen.seqs[0], 1);
}

/* The deletes of acked entries fail (and so the appends with them): the
 * acks are not lost with the transaction, are never read again, survive a
 * restart in <dir>/acked, and are deleted at the next commit that works. */
static void
test_outbox_failed_delete_is_kept_across_a_restart(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx, 1000, 1 << 20, FDY_OUTBOX_DROP_OLDEST));
    for (uint64_t i = 1; i <= 10; i++)
        assert_foundry_ok(s_append(fx, i, NULL));
    assert_foundry_ok(fdy_outbox_commit(fx->outbox, &fx->reason));
    for (uint64_t i = 1; i <= 6; i++)
        assert_foundry_ok(fdy_outbox_remove(fx->outbox, i, &fx->reason));
    s_fail_commits = true;
    assert_foundry_ok(s_append(fx, 11, NULL));
    assert_foundry_err(fdy_outbox_commit(fx->outbox, &fx->reason), FOUNDRY_ESTORE);
    assert_non_null(strstr(fx->reason.text, "disk full at"));
    fdy_outbox_stats_t stats;
    fdy_outbox_stats(fx->outbox, &stats);
    assert_int_equal(stats.lost, 1); /* the append went with the failed commit */
    assert_int_equal(stats.entries, 10);
    s_seen_t seen;
    s_read_all(fx, 0, 100, &seen, NULL);
    assert_int_equal(seen.count, 4); /* 7..10: acked ones are not sent again */
    assert_int_equal(seen.seqs[0], 7);
    fdy_outbox_close(&fx->outbox);
    s_fail_commits = false;

    assert_foundry_ok(s_open(fx, 1000, 1 << 20, FDY_OUTBOX_DROP_OLDEST));
    s_read_all(fx, 0, 100, &seen, NULL);
    assert_int_equal(seen.count, 4);
    assert_int_equal(seen.seqs[0], 7);
    assert_foundry_ok(fdy_outbox_commit(fx->outbox, &fx->reason));
    fdy_outbox_stats(fx->outbox, &stats);
    assert_int_equal(stats.entries, 4);
    assert_int_equal(stats.removed, 6);
    /* Done: the file holds nothing any more, a new ack of 7 is new. */
    fdy_outbox_close(&fx->outbox);
    assert_foundry_ok(s_open(fx, 1000, 1 << 20, FDY_OUTBOX_DROP_OLDEST));
    fdy_outbox_stats(fx->outbox, &stats);
    assert_int_equal(stats.entries, 4);
    s_read_all(fx, 0, 100, &seen, NULL);
    assert_int_equal(seen.count, 4);
}

static void
test_outbox_ack_removes(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx, 1000, 1 << 20, FDY_OUTBOX_DROP_OLDEST));
    for (uint64_t i = 1; i <= 5; i++)
        assert_foundry_ok(s_append(fx, i, NULL));
    assert_foundry_ok(fdy_outbox_commit(fx->outbox, &fx->reason));
    assert_foundry_ok(fdy_outbox_remove(fx->outbox, 2, &fx->reason));
    assert_foundry_ok(fdy_outbox_remove(fx->outbox, 4, &fx->reason));
    /* Gone already (dropped, or acked twice): not an error. */
    assert_foundry_ok(fdy_outbox_remove(fx->outbox, 4, &fx->reason));
    assert_foundry_ok(fdy_outbox_remove(fx->outbox, 99, &fx->reason));
    assert_foundry_ok(fdy_outbox_commit(fx->outbox, &fx->reason));

    s_seen_t seen;
    s_read_all(fx, 0, 100, &seen, NULL);
    assert_int_equal(seen.count, 3);
    assert_int_equal(seen.seqs[0], 1);
    assert_int_equal(seen.seqs[1], 3);
    assert_int_equal(seen.seqs[2], 5);
    fdy_outbox_stats_t stats;
    fdy_outbox_stats(fx->outbox, &stats);
    assert_int_equal(stats.entries, 3);
    assert_int_equal(stats.removed, 2);
    char payload[128];
    uint64_t bytes = 0;
    for (uint64_t i = 1; i <= 5; i += 2)
        bytes += FDY_OUTBOX_ENTRY_BYTES(strlen(SUBJECT), s_payload(i, payload, sizeof payload));
    assert_int_equal(stats.bytes, bytes);

    /* Removing everything empties it, in bytes too. */
    for (uint64_t i = 1; i <= 5; i++)
        assert_foundry_ok(fdy_outbox_remove(fx->outbox, i, &fx->reason));
    assert_foundry_ok(fdy_outbox_commit(fx->outbox, &fx->reason));
    fdy_outbox_stats(fx->outbox, &stats);
    assert_int_equal(stats.entries, 0);
    assert_int_equal(stats.bytes, 0);
    s_read_all(fx, 0, 100, &seen, NULL);
    assert_int_equal(seen.count, 0);
}

static void
test_outbox_survives_reopen(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx, 1000, 1 << 20, FDY_OUTBOX_DROP_OLDEST));
    uint64_t epoch = fdy_outbox_epoch(fx->outbox);
    assert_true(epoch != 0);
    for (uint64_t i = 1; i <= 10; i++)
        assert_foundry_ok(s_append(fx, i, NULL));
    assert_foundry_ok(fdy_outbox_commit(fx->outbox, &fx->reason));
    assert_foundry_ok(fdy_outbox_remove(fx->outbox, 1, &fx->reason));
    assert_foundry_ok(fdy_outbox_remove(fx->outbox, 7, &fx->reason));
    assert_foundry_ok(fdy_outbox_commit(fx->outbox, &fx->reason));
    fdy_outbox_stats_t before;
    fdy_outbox_stats(fx->outbox, &before);
    fdy_outbox_close(&fx->outbox);

    assert_foundry_ok(s_open(fx, 1000, 1 << 20, FDY_OUTBOX_DROP_OLDEST));
    assert_int_equal(fdy_outbox_epoch(fx->outbox), epoch);
    fdy_outbox_stats_t after;
    fdy_outbox_stats(fx->outbox, &after);
    assert_int_equal(after.entries, 8);
    assert_int_equal(after.bytes, before.bytes);
    s_seen_t seen;
    s_read_all(fx, 0, 100, &seen, NULL);
    assert_int_equal(seen.count, 8);
    const uint64_t want[] = {2, 3, 4, 5, 6, 8, 9, 10};
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(seen.seqs[i], want[i]);

    /* Seqs are never reused, even once the outbox was empty: a reused seq
     * would be a reused message id, which the broker would take for a
     * duplicate. */
    for (uint64_t i = 1; i <= 10; i++)
        assert_foundry_ok(fdy_outbox_remove(fx->outbox, i, &fx->reason));
    assert_foundry_ok(fdy_outbox_commit(fx->outbox, &fx->reason));
    fdy_outbox_close(&fx->outbox);
    assert_foundry_ok(s_open(fx, 1000, 1 << 20, FDY_OUTBOX_DROP_OLDEST));
    uint64_t seq = 0;
    assert_foundry_ok(s_append(fx, 11, &seq));
    assert_int_equal(seq, 11);
    assert_int_equal(fdy_outbox_epoch(fx->outbox), epoch);
}

static void
test_outbox_read_order_and_resume(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx, 1000, 1 << 20, FDY_OUTBOX_DROP_OLDEST));
    /* Appended over several commits, removals in between. */
    for (uint64_t i = 1; i <= 100; i++) {
        assert_foundry_ok(s_append(fx, i, NULL));
        if (i % 10 == 0)
            assert_foundry_ok(fdy_outbox_commit(fx->outbox, &fx->reason));
    }
    for (uint64_t i = 5; i <= 100; i += 5)
        assert_foundry_ok(fdy_outbox_remove(fx->outbox, i, &fx->reason));
    assert_foundry_ok(fdy_outbox_commit(fx->outbox, &fx->reason));

    /* Page through 7 at a time: every remaining seq once, ascending. */
    uint64_t from = 0, expect = 1;
    size_t total = 0;
    for (;;) {
        s_seen_t seen;
        uint64_t next = 0;
        s_read_all(fx, from, 7, &seen, &next);
        if (seen.count == 0) {
            assert_int_equal(next, from);
            break;
        }
        for (size_t i = 0; i < seen.count; i++) {
            if (expect % 5 == 0)
                expect++;
            assert_int_equal(seen.seqs[i], expect);
            expect++;
        }
        total += seen.count;
        assert_int_equal(next, seen.seqs[seen.count - 1] + 1);
        from = next;
    }
    assert_int_equal(total, 80);

    /* A callback that stops leaves the cursor at the entry it refused. */
    s_seen_t seen;
    memset(&seen, 0, sizeof seen);
    seen.stop_after = 3;
    uint64_t next = 0;
    assert_foundry_ok(fdy_outbox_read(fx->outbox, 10, 50, s_collect, &seen, &next, &fx->reason));
    assert_int_equal(seen.count, 3);
    assert_int_equal(seen.seqs[0], 11);
    assert_int_equal(seen.seqs[2], 13);
    assert_int_equal(next, 14);
    /* Reading from past the end gives nothing and keeps the cursor. */
    s_read_all(fx, 1000, 50, &seen, &next);
    assert_int_equal(seen.count, 0);
    assert_int_equal(next, 1000);
}

static void
test_outbox_drop_oldest_by_entries(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx, 5, 1 << 20, FDY_OUTBOX_DROP_OLDEST));
    uint64_t dropped_samples = 0;
    for (uint64_t i = 1; i <= 8; i++) {
        assert_foundry_ok(s_append(fx, i, NULL));
        if (i <= 3)
            dropped_samples += i % 7 + 1;
        if (i == 4)
            assert_foundry_ok(fdy_outbox_commit(fx->outbox, &fx->reason));
    }
    assert_foundry_ok(fdy_outbox_commit(fx->outbox, &fx->reason));
    fdy_outbox_stats_t stats;
    fdy_outbox_stats(fx->outbox, &stats);
    assert_int_equal(stats.entries, 5);
    assert_int_equal(stats.dropped, 3);
    assert_int_equal(stats.dropped_samples, dropped_samples);
    s_seen_t seen;
    s_read_all(fx, 0, 100, &seen, NULL);
    assert_int_equal(seen.count, 5);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(seen.seqs[i], i + 4);
}

static void
test_outbox_drop_oldest_by_bytes(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx, 1000, 4096, FDY_OUTBOX_DROP_OLDEST));
    uint8_t payload[1000];
    memset(payload, 'p', sizeof payload);
    uint64_t entry = FDY_OUTBOX_ENTRY_BYTES(strlen(SUBJECT), sizeof payload);
    uint64_t fit = 4096 / entry; /* 3 */
    for (uint64_t i = 1; i <= 10; i++)
        assert_foundry_ok(
            fdy_outbox_append(fx->outbox, SUBJECT, payload, sizeof payload, 2, NULL, &fx->reason));
    assert_foundry_ok(fdy_outbox_commit(fx->outbox, &fx->reason));
    fdy_outbox_stats_t stats;
    fdy_outbox_stats(fx->outbox, &stats);
    assert_int_equal(stats.entries, fit);
    assert_true(stats.bytes <= 4096);
    assert_int_equal(stats.dropped, 10 - fit);
    assert_int_equal(stats.dropped_samples, 2 * (10 - fit));

    /* The newest survive, in order. */
    s_range_t range = {0, 0, 0, false};
    uint64_t next = 0;
    assert_foundry_ok(fdy_outbox_read(fx->outbox, 0, 100, s_range, &range, &next, &fx->reason));
    assert_int_equal(range.count, fit);
    assert_int_equal(range.first, 10 - fit + 1);
    assert_int_equal(range.last, 10);
    assert_false(range.unordered);
}

static void
test_outbox_entry_over_max_bytes(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx, 1000, 4096, FDY_OUTBOX_DROP_OLDEST));
    uint8_t *payload = calloc(1, 5000);
    assert_non_null(payload);
    assert_foundry_ok(s_append(fx, 1, NULL));
    assert_foundry_err(fdy_outbox_append(fx->outbox, SUBJECT, payload, 5000, 9, NULL, &fx->reason),
                       FOUNDRY_ETOOBIG);
    free(payload);
    assert_foundry_ok(fdy_outbox_commit(fx->outbox, &fx->reason));
    fdy_outbox_stats_t stats;
    fdy_outbox_stats(fx->outbox, &stats);
    assert_int_equal(stats.entries, 1); /* nothing else was pushed out for it */
    assert_int_equal(stats.dropped, 1);
    assert_int_equal(stats.dropped_samples, 9);
}

static void
test_outbox_drop_newest(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx, 3, 1 << 20, FDY_OUTBOX_DROP_NEWEST));
    for (uint64_t i = 1; i <= 3; i++)
        assert_foundry_ok(s_append(fx, i, NULL));
    assert_foundry_err(s_append(fx, 4, NULL), FOUNDRY_EFULL);
    assert_foundry_err(s_append(fx, 5, NULL), FOUNDRY_EFULL);
    assert_foundry_ok(fdy_outbox_commit(fx->outbox, &fx->reason));
    fdy_outbox_stats_t stats;
    fdy_outbox_stats(fx->outbox, &stats);
    assert_int_equal(stats.entries, 3);
    assert_int_equal(stats.dropped, 2);
    assert_int_equal(stats.dropped_samples, (4 % 7 + 1) + (5 % 7 + 1));
    s_seen_t seen;
    s_read_all(fx, 0, 100, &seen, NULL);
    assert_int_equal(seen.count, 3);
    assert_int_equal(seen.seqs[0], 1);
    assert_int_equal(seen.seqs[2], 3);

    /* An ack makes room again; the refused entries took no seq. */
    assert_foundry_ok(fdy_outbox_remove(fx->outbox, 1, &fx->reason));
    uint64_t seq = 0;
    assert_foundry_ok(s_append(fx, 4, &seq));
    assert_int_equal(seq, 4);
    assert_foundry_ok(fdy_outbox_commit(fx->outbox, &fx->reason));
    fdy_outbox_stats(fx->outbox, &stats);
    assert_int_equal(stats.entries, 3);

    /* By bytes as well. */
    fdy_outbox_close(&fx->outbox);
    assert_foundry_ok(s_open(fx, 1000, 4096, FDY_OUTBOX_DROP_NEWEST));
    uint8_t payload[1500];
    memset(payload, 'q', sizeof payload);
    foundry_err errs[4];
    for (int i = 0; i < 4; i++)
        errs[i] = fdy_outbox_append(fx->outbox, "s", payload, sizeof payload, 1, NULL, &fx->reason);
    /* 3 entries of the old bound are still there (~100 bytes each). */
    assert_int_equal(errs[0], FOUNDRY_OK);
    assert_int_equal(errs[1], FOUNDRY_OK);
    assert_int_equal(errs[2], FOUNDRY_EFULL);
    assert_int_equal(errs[3], FOUNDRY_EFULL);
}

static void
test_outbox_lock_is_exclusive(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx, 10, 1 << 20, FDY_OUTBOX_DROP_OLDEST));
    fdy_outbox_t *second = NULL;
    fdy_outbox_opts_t opts = {fx->dir, 10, 1 << 20, FDY_OUTBOX_DROP_OLDEST};
    /* flock locks belong to the open file description, so a second open
     * in this process conflicts as another process would. */
    assert_foundry_err(fdy_outbox_open(&opts, &second, &fx->reason), FOUNDRY_EEXIST);
    assert_null(second);
    fdy_outbox_close(&fx->outbox);
    assert_foundry_ok(fdy_outbox_open(&opts, &second, &fx->reason));
    fdy_outbox_close(&second);

    fdy_outbox_opts_t bad = {fx->dir, 0, 1 << 20, FDY_OUTBOX_DROP_OLDEST};
    assert_foundry_err(fdy_outbox_open(&bad, &second, &fx->reason), FOUNDRY_EINVAL);
    bad.max_entries = 1;
    bad.max_bytes = 100;
    assert_foundry_err(fdy_outbox_open(&bad, &second, &fx->reason), FOUNDRY_EINVAL);
}

/* Flips one byte of entry seq's value through raw LMDB. */
static void
s_damage(const char *dir, uint64_t seq)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 2), 0);
    assert_int_equal(mdb_env_set_mapsize(env, 64u << 20), 0);
    assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "entries", 0, &dbi), 0);
    uint8_t key_buf[8];
    for (int i = 7; i >= 0; i--) {
        key_buf[i] = (uint8_t) seq;
        seq >>= 8;
    }
    MDB_val key = {sizeof key_buf, key_buf};
    MDB_val value;
    assert_int_equal(mdb_get(txn, dbi, &key, &value), 0);
    uint8_t *copy = malloc(value.mv_size);
    assert_non_null(copy);
    memcpy(copy, value.mv_data, value.mv_size);
    copy[value.mv_size - 1] ^= 0x40;
    MDB_val damaged = {value.mv_size, copy};
    assert_int_equal(mdb_put(txn, dbi, &key, &damaged, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    free(copy);
}

static void
test_outbox_skips_and_deletes_damaged_entries(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx, 100, 1 << 20, FDY_OUTBOX_DROP_OLDEST));
    for (uint64_t i = 1; i <= 4; i++)
        assert_foundry_ok(s_append(fx, i, NULL));
    assert_foundry_ok(fdy_outbox_commit(fx->outbox, &fx->reason));
    fdy_outbox_close(&fx->outbox);
    s_damage(fx->dir, 2);

    assert_foundry_ok(s_open(fx, 100, 1 << 20, FDY_OUTBOX_DROP_OLDEST));
    s_seen_t seen;
    uint64_t next = 0;
    s_read_all(fx, 0, 100, &seen, &next);
    assert_int_equal(seen.count, 3);
    assert_int_equal(seen.seqs[0], 1);
    assert_int_equal(seen.seqs[1], 3);
    assert_int_equal(seen.seqs[2], 4);
    assert_int_equal(next, 5);
    fdy_outbox_stats_t stats;
    fdy_outbox_stats(fx->outbox, &stats);
    assert_int_equal(stats.corrupt, 1);
    assert_int_equal(stats.entries, 4);
    /* The next write deletes it. */
    assert_foundry_ok(s_append(fx, 5, NULL));
    assert_foundry_ok(fdy_outbox_commit(fx->outbox, &fx->reason));
    fdy_outbox_stats(fx->outbox, &stats);
    assert_int_equal(stats.entries, 4);
    s_read_all(fx, 0, 100, &seen, NULL);
    assert_int_equal(seen.count, 4);
    fdy_outbox_stats(fx->outbox, &stats);
    assert_int_equal(stats.corrupt, 1);
}

static void
test_outbox_msg_ids(void **state)
{
    fixture_t *fx = *state;
    uint8_t id[FDY_OUTBOX_MSG_ID_LEN];
    fdy_outbox_msg_id(0x0102030405060708ull, 0x1112131415161718ull, id);
    const uint8_t want[] = {1, 2, 3, 4, 5, 6, 7, 8, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18};
    assert_memory_equal(id, want, sizeof want);
    uint64_t seq = 0;
    assert_true(fdy_outbox_msg_id_parse(0x0102030405060708ull, id, sizeof id, &seq));
    assert_int_equal(seq, 0x1112131415161718ull);
    assert_false(fdy_outbox_msg_id_parse(0x0102030405060709ull, id, sizeof id, &seq));
    assert_false(fdy_outbox_msg_id_parse(0x0102030405060708ull, id, sizeof id - 1, &seq));
    assert_false(fdy_outbox_msg_id_parse(0x0102030405060708ull, NULL, 0, &seq));

    /* Two outboxes get different epochs. */
    assert_foundry_ok(s_open(fx, 10, 1 << 20, FDY_OUTBOX_DROP_OLDEST));
    uint64_t first = fdy_outbox_epoch(fx->outbox);
    fdy_outbox_close(&fx->outbox);
    char other[128];
    snprintf(other, sizeof other, "%s/other", fx->dir);
    fdy_outbox_opts_t opts = {other, 10, 1 << 20, FDY_OUTBOX_DROP_OLDEST};
    assert_foundry_ok(fdy_outbox_open(&opts, &fx->outbox, &fx->reason));
    assert_true(fdy_outbox_epoch(fx->outbox) != first);
    fdy_outbox_close(&fx->outbox);
    const char *files[] = {"data.mdb", "lock.mdb", "owner.lock"};
    for (size_t i = 0; i < 3; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", other, files[i]);
        unlink(path);
    }
    rmdir(other);

    fdy_outbox_policy_t policy;
    assert_int_equal(fdy_outbox_policy_parse("drop-oldest", &policy), FOUNDRY_OK);
    assert_int_equal(policy, FDY_OUTBOX_DROP_OLDEST);
    assert_int_equal(fdy_outbox_policy_parse("drop-newest", &policy), FOUNDRY_OK);
    assert_int_equal(policy, FDY_OUTBOX_DROP_NEWEST);
    assert_int_equal(fdy_outbox_policy_parse("oldest", &policy), FOUNDRY_EINVAL);
    assert_int_equal(fdy_outbox_policy_parse(NULL, &policy), FOUNDRY_EINVAL);
    assert_string_equal(fdy_outbox_policy_name(FDY_OUTBOX_DROP_NEWEST), "drop-newest");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_outbox_append_commit_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_uncommitted_appends_vanish, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_ack_removes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_survives_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_read_order_and_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_drop_oldest_by_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_drop_oldest_by_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_entry_over_max_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_drop_newest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_lock_is_exclusive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_skips_and_deletes_damaged_entries, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_outbox_msg_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_failed_delete_is_kept_across_a_restart, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("outbox", tests, NULL, NULL);
}
