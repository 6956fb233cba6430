/*  test_store_jobs.c: the jobs table on a real store: records written by
 *  the jobs commit part come back by id, each with its state record, a
 *  removal removes both, and the store check (store_check.c) names a job
 *  record that no longer decodes or that names another job, a state
 *  record that does not decode, and a high-water mark of the wrong size.
 *  A schema-5 store (whole records only) is read as it is, and migrated.
 */
#include "codec_jobs.h"
#include "commit.h"
#include "store_check.h"
#include "store_job_state.h"
#include "store_jobs.h"

#include "fixture_store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lmdb.h>

typedef struct {
    uint64_t ids[8];
    bool whole[8];       /* it came with its whole record */
    size_t state_len[8]; /* and a state record of this size (0: none) */
    size_t count;
} s_seen_t;

static foundry_err
s_collect(uint64_t id, const uint8_t *record, size_t len, const uint8_t *state, size_t state_len,
          void *user, fdy_reason_t *reason)
{
    (void) len;
    (void) reason;
    s_seen_t *seen = user;
    if (seen->count < 8) {
        seen->whole[seen->count] = record != NULL;
        seen->state_len[seen->count] = state ? state_len : 0;
        seen->ids[seen->count++] = id;
    }
    return FOUNDRY_OK;
}

/* A valid record of job id (encoded as the jobs service does). */
static uint8_t *
s_record(uint64_t id, size_t *len_out)
{
    fdy_job_record_t rec = {.id = id, .tenant = "acme", .submitter = "acme", .state = "queued"};
    rec.spec.type = "inspect";
    rec.spec.max_attempts = 3;
    uint8_t *buf = NULL;
    fdy_reason_t reason = {{0}};
    foundry_err err = fdy_codec_job_record_encode(&rec, &buf, len_out);
    if (err != FOUNDRY_OK)
        fail_msg("encode job %llu: %s %s", (unsigned long long) id, foundry_strerror(err),
                 reason.text);
    return buf;
}

static void
s_write(fdy_store_t *store, const fdy_store_job_write_t *items, size_t count)
{
    fdy_store_jobs_t jobs = {.items = items, .count = count};
    fx_store_commit_one(store, &fdy_store_jobs_part, &jobs);
}

/* Per job id below 1000: seen whole, and the size of its state record. */
typedef struct {
    bool whole[1000];
    size_t state_len[1000];
    size_t count;
} s_tally_t;

static foundry_err
s_tally(uint64_t id, const uint8_t *record, size_t len, const uint8_t *state, size_t state_len,
        void *user, fdy_reason_t *reason)
{
    (void) len;
    (void) reason;
    s_tally_t *tally = user;
    assert_true(id < 1000);
    tally->whole[id] = record != NULL;
    tally->state_len[id] = state ? state_len : 0;
    tally->count++;
    return FOUNDRY_OK;
}

static void
test_jobs_table_round_trip_and_check(void **state)
{
    (void) state;
    char dir[FX_STORE_DIR_LEN];
    fdy_store_t *store = NULL;
    fdy_reason_t reason = {{0}};
    fdy_store_opts_t opts = {.dedupe_window_ms = 60000};
    fx_store_open_tmp(dir, "fdy-store-jobs", &opts, &store, &reason);

    size_t len1 = 0, len2 = 0, len3 = 0;
    uint8_t *r1 = s_record(1, &len1), *r2 = s_record(2, &len2), *r3 = s_record(3, &len3);
    fdy_store_job_write_t writes[] = {
        {1, r1, len1, false}, {2, r2, len2, false}, {3, r3, len3, false}};
    s_write(store, writes, 3);
    fdy_store_job_write_t removal = {.id = 2};
    s_write(store, &removal, 1);
    s_seen_t seen = {0};
    uint64_t next_id = 0;
    assert_int_equal(fdy_store_jobs_scan(store, s_collect, &seen, &next_id, &reason), FOUNDRY_OK);
    assert_int_equal(seen.count, 2);
    assert_int_equal(seen.ids[0], 1);
    assert_int_equal(seen.ids[1], 3);
    assert_int_equal(next_id, 4);
    /* With every job removed, ids still go on after the newest ever
     * written (the high-water mark, not a job: scans do not show it). */
    fdy_store_job_write_t all_gone[] = {{.id = 1}, {.id = 3}};
    s_write(store, all_gone, 2);
    seen.count = 0;
    assert_int_equal(fdy_store_jobs_scan(store, s_collect, &seen, &next_id, &reason), FOUNDRY_OK);
    assert_int_equal(seen.count, 0);
    assert_int_equal(next_id, 4);
    s_write(store, writes, 3);
    fdy_store_close(&store);
    fdy_store_check_result_t clean = fx_store_check(dir);
    assert_int_equal(clean.verdict, FDY_STORE_CHECK_CLEAN);

    /* Job 3's record stored under id 7, and garbage as job 9: both are
     * findings, the first one named. */
    fdy_store_opts_t reopen = {.dir = dir, .dedupe_window_ms = 60000};
    if (fdy_store_open(&reopen, &store, &reason) != FOUNDRY_OK)
        fail_msg("reopen: %s", reason.text);
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0x07, 0x01};
    fdy_store_job_write_t bad[] = {{7, r3, len3, false}, {9, garbage, sizeof garbage, false}};
    s_write(store, bad, 2);
    fdy_store_close(&store);
    fdy_store_check_result_t damaged = fx_store_check(dir);
    assert_int_equal(damaged.verdict, FDY_STORE_CHECK_DAMAGED);
    assert_int_equal(damaged.damaged, 2);
    assert_non_null(strstr(damaged.reason, "job 7: record names job 3"));

    fx_store_rm(dir, &store);
    free(r1);
    free(r2);
    free(r3);
}

/* A high-water mark that is not 8 bytes is the store check's finding;
 * the scan then gives ids after the newest job, never an error. */
static void
test_jobs_bad_high_water_mark_is_found_and_ids_follow_the_jobs(void **state)
{
    (void) state;
    char dir[FX_STORE_DIR_LEN];
    fdy_store_t *store = NULL;
    fdy_reason_t reason = {{0}};
    fdy_store_opts_t opts = {.dedupe_window_ms = 60000};
    fx_store_open_tmp(dir, "fdy-store-jobs-mark", &opts, &store, &reason);
    size_t len5 = 0;
    uint8_t *r5 = s_record(5, &len5);
    static const uint8_t short_mark[] = {0x00, 0x00, 0x01};
    /* Key 0 is the mark: written last, so it replaces the good one. */
    fdy_store_job_write_t writes[] = {{5, r5, len5, false}};
    s_write(store, writes, 1);
    fdy_store_job_write_t bad_mark = {0, short_mark, sizeof short_mark, false};
    s_write(store, &bad_mark, 1);
    s_seen_t seen = {0};
    uint64_t next_id = 0;
    assert_int_equal(fdy_store_jobs_scan(store, s_collect, &seen, &next_id, &reason), FOUNDRY_OK);
    assert_int_equal(seen.count, 1);
    assert_int_equal(seen.ids[0], 5);
    assert_int_equal(next_id, 6);
    fdy_store_close(&store);
    fdy_store_check_result_t damaged = fx_store_check(dir);
    assert_int_equal(damaged.verdict, FDY_STORE_CHECK_DAMAGED);
    assert_int_equal(damaged.damaged, 1);
    assert_non_null(strstr(damaged.reason, "jobs high-water mark of 3 bytes, not 8"));
    fx_store_rm(dir, &store);
    free(r5);
}

/* A state record of job id in state `state`, fence `fence`. */
static uint8_t *
s_state_record(const char *state, uint64_t fence, size_t *len_out)
{
    fdy_job_record_t rec = {.state = state, .attempt = 1, .fence = fence, .node = "node-a"};
    uint8_t *buf = NULL;
    size_t cap = 0;
    *len_out = 0;
    assert_int_equal(fdy_store_job_state_append(&rec, &buf, len_out, &cap), FOUNDRY_OK);
    return buf;
}

/* Whole records, state records after them, an orphan state record and a
 * damaged one: the scan pairs each job with its state record, a removal
 * takes both, and the check names the damaged one. */
static uint8_t *s_state_record(const char *state, uint64_t fence, size_t *len_out);

/* The part writes a commit in key order through one cursor: writes given
 * in any order (new jobs newest first, over many leaf pages, state
 * records of older ones, a removal) all land. */
static void
test_jobs_writes_in_any_order_all_land(void **state)
{
    (void) state;
    char dir[FX_STORE_DIR_LEN];
    fdy_store_t *store = NULL;
    fdy_reason_t reason = {{0}};
    fdy_store_opts_t opts = {.dedupe_window_ms = 60000};
    fx_store_open_tmp(dir, "fdy-store-jobs-order", &opts, &store, &reason);
    size_t lens[701], slen;
    uint8_t *recs[701] = {NULL};
    for (uint64_t id = 1; id <= 700; id++)
        recs[id] = s_record(id, &lens[id]);
    uint8_t *st = s_state_record("leased", 1, &slen);
    fdy_store_job_write_t first[100];
    for (size_t i = 0; i < 100; i++)
        first[i] = (fdy_store_job_write_t){100 - i, recs[100 - i], lens[100 - i], false};
    s_write(store, first, 100);
    /* Jobs 101..700 new, newest first, between the state records of jobs
     * 1..100 (odd ones) and the removal of job 50. */
    fdy_store_job_write_t mixed[700];
    size_t n = 0;
    for (size_t i = 0; i < 600; i++) {
        mixed[n++] = (fdy_store_job_write_t){700 - i, recs[700 - i], lens[700 - i], false};
        if (i % 6 == 0 && i / 6 < 100 && (i / 6) % 2 == 1 && i / 6 != 49)
            mixed[n++] = (fdy_store_job_write_t){i / 6 + 1, st, slen, true};
    }
    mixed[n++] = (fdy_store_job_write_t){.id = 50};
    s_write(store, mixed, n);
    s_tally_t *tally = calloc(1, sizeof *tally);
    assert_non_null(tally);
    uint64_t next_id = 0;
    assert_int_equal(fdy_store_jobs_scan(store, s_tally, tally, &next_id, &reason), FOUNDRY_OK);
    assert_int_equal(tally->count, 699);
    assert_int_equal(next_id, 701);
    for (uint64_t id = 1; id <= 700; id++) {
        assert_int_equal(tally->whole[id], id != 50);
        bool has_state = id <= 100 && (id - 1) % 2 == 1 && id != 50;
        assert_int_equal(tally->state_len[id], has_state ? slen : 0);
    }
    fdy_store_close(&store);
    assert_int_equal(fx_store_check(dir).verdict, FDY_STORE_CHECK_CLEAN);
    fx_store_rm(dir, &store);
    free(tally);
    for (uint64_t id = 1; id <= 700; id++)
        free(recs[id]);
    free(st);
}

static void
test_jobs_state_records_pair_with_their_jobs(void **state)
{
    (void) state;
    char dir[FX_STORE_DIR_LEN];
    fdy_store_t *store = NULL;
    fdy_reason_t reason = {{0}};
    fdy_store_opts_t opts = {.dedupe_window_ms = 60000};
    fx_store_open_tmp(dir, "fdy-store-jobs-state", &opts, &store, &reason);
    size_t len1, len2, len3, slen1, slen3;
    uint8_t *r1 = s_record(1, &len1), *r2 = s_record(2, &len2), *r3 = s_record(3, &len3);
    uint8_t *s1 = s_state_record("leased", 1, &slen1), *s3 = s_state_record("succeeded", 4, &slen3);
    fdy_store_job_write_t whole[] = {
        {1, r1, len1, false}, {2, r2, len2, false}, {3, r3, len3, false}};
    s_write(store, whole, 3);
    fdy_store_job_write_t states[] = {{1, s1, slen1, true}, {3, s3, slen3, true}};
    s_write(store, states, 2);
    s_seen_t seen = {0};
    uint64_t next_id = 0;
    assert_int_equal(fdy_store_jobs_scan(store, s_collect, &seen, &next_id, &reason), FOUNDRY_OK);
    assert_int_equal(seen.count, 3);
    assert_int_equal(seen.ids[0], 1);
    assert_true(seen.whole[0]);
    assert_int_equal(seen.state_len[0], slen1);
    assert_int_equal(seen.ids[1], 2);
    assert_true(seen.whole[1]);
    assert_int_equal(seen.state_len[1], 0);
    assert_int_equal(seen.ids[2], 3);
    assert_int_equal(seen.state_len[2], slen3);
    /* A state record alone does not raise the high-water mark. */
    assert_int_equal(next_id, 4);

    /* Removing job 1 takes its state record too; a state record for job 8
     * that has no whole record comes alone (the loader reports it, and the
     * store check below). */
    fdy_store_job_write_t removal = {.id = 1};
    s_write(store, &removal, 1);
    fdy_store_job_write_t orphan = {8, s1, slen1, true};
    s_write(store, &orphan, 1);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(fdy_store_jobs_scan(store, s_collect, &seen, &next_id, &reason), FOUNDRY_OK);
    assert_int_equal(seen.count, 3);
    assert_int_equal(seen.ids[0], 2);
    assert_int_equal(seen.ids[1], 3);
    assert_int_equal(seen.state_len[1], slen3);
    assert_int_equal(seen.ids[2], 8);
    assert_false(seen.whole[2]);
    assert_int_equal(seen.state_len[2], slen1);
    assert_int_equal(next_id, 4);
    fdy_store_close(&store);
    /* No write leaves a state record alone: the store check finds it. */
    fdy_store_check_result_t orphaned = fx_store_check(dir);
    assert_int_equal(orphaned.verdict, FDY_STORE_CHECK_DAMAGED);
    assert_int_equal(orphaned.damaged, 1);
    assert_non_null(strstr(orphaned.reason, "job 8: a state record without its job's record"));
    fdy_store_opts_t reopen = {.dir = dir, .dedupe_window_ms = 60000};
    if (fdy_store_open(&reopen, &store, &reason) != FOUNDRY_OK)
        fail_msg("reopen: %s", reason.text);
    fdy_store_job_write_t orphan_removal = {.id = 8};
    s_write(store, &orphan_removal, 1);
    fdy_store_close(&store);
    assert_int_equal(fx_store_check(dir).verdict, FDY_STORE_CHECK_CLEAN);

    /* A state record cut short is a finding of the store check. */
    if (fdy_store_open(&reopen, &store, &reason) != FOUNDRY_OK)
        fail_msg("reopen: %s", reason.text);
    fdy_store_job_write_t cut = {3, s3, slen3 - 1, true};
    s_write(store, &cut, 1);
    fdy_store_close(&store);
    fdy_store_check_result_t damaged = fx_store_check(dir);
    assert_int_equal(damaged.verdict, FDY_STORE_CHECK_DAMAGED);
    assert_int_equal(damaged.damaged, 1);
    assert_non_null(strstr(damaged.reason, "job 3: job state record"));
    fx_store_rm(dir, &store);
    free(r1);
    free(r2);
    free(r3);
    free(s1);
    free(s3);
}

static void
s_raw_schema(const char *dir, bool set, uint64_t *schema)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 4096), 0);
    assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    MDB_val k = {6, (void *) "schema"}, v;
    uint8_t buf[8];
    if (set) {
        for (int i = 0; i < 8; i++)
            buf[i] = (uint8_t) (*schema >> (8 * i));
        v = (MDB_val){sizeof buf, buf};
        assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    } else {
        assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
        assert_int_equal(v.mv_size, 8);
        *schema = 0;
        for (int i = 0; i < 8; i++)
            *schema |= (uint64_t) ((const uint8_t *) v.mv_data)[i] << (8 * i);
    }
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

/* A store of schema 5 holds only whole records: a read-only open reads
 * them as they are, the first read-write open migrates it to this
 * build's schema keeping them, and its jobs then take state records. */
static void
test_jobs_schema_5_store_is_read_and_migrated(void **state)
{
    (void) state;
    char dir[FX_STORE_DIR_LEN];
    fdy_store_t *store = NULL;
    fdy_reason_t reason = {{0}};
    fdy_store_opts_t opts = {.dedupe_window_ms = 60000};
    fx_store_open_tmp(dir, "fdy-store-jobs-v5", &opts, &store, &reason);
    size_t len1, len2, slen;
    uint8_t *r1 = s_record(1, &len1), *r2 = s_record(2, &len2);
    fdy_store_job_write_t whole[] = {{1, r1, len1, false}, {2, r2, len2, false}};
    s_write(store, whole, 2);
    fdy_store_close(&store);
    uint64_t schema = 5;
    s_raw_schema(dir, true, &schema);

    fdy_store_opts_t ro = {.dir = dir, .dedupe_window_ms = 60000, .read_only = true};
    if (fdy_store_open(&ro, &store, &reason) != FOUNDRY_OK)
        fail_msg("read-only open: %s", reason.text);
    s_seen_t seen = {0};
    uint64_t next_id = 0;
    assert_int_equal(fdy_store_jobs_scan(store, s_collect, &seen, &next_id, &reason), FOUNDRY_OK);
    assert_int_equal(seen.count, 2);
    assert_true(seen.whole[0] && seen.whole[1]);
    assert_int_equal(seen.state_len[0] + seen.state_len[1], 0);
    fdy_store_close(&store);
    s_raw_schema(dir, false, &schema);
    assert_int_equal(schema, 5); /* a reader changes nothing */

    fdy_store_opts_t rw = {.dir = dir, .dedupe_window_ms = 60000};
    if (fdy_store_open(&rw, &store, &reason) != FOUNDRY_OK)
        fail_msg("read-write open: %s", reason.text);
    uint8_t *s2 = s_state_record("running", 1, &slen);
    fdy_store_job_write_t change = {2, s2, slen, true};
    s_write(store, &change, 1);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(fdy_store_jobs_scan(store, s_collect, &seen, &next_id, &reason), FOUNDRY_OK);
    assert_int_equal(seen.count, 2);
    assert_int_equal(seen.state_len[0], 0);
    assert_int_equal(seen.state_len[1], slen);
    assert_int_equal(next_id, 3);
    fdy_store_close(&store);
    s_raw_schema(dir, false, &schema);
    assert_int_equal(schema, FDY_STORE_SCHEMA);
    assert_int_equal(fx_store_check(dir).verdict, FDY_STORE_CHECK_CLEAN);
    fx_store_rm(dir, &store);
    free(r1);
    free(r2);
    free(s2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jobs_table_round_trip_and_check),
        cmocka_unit_test(test_jobs_bad_high_water_mark_is_found_and_ids_follow_the_jobs),
        cmocka_unit_test(test_jobs_state_records_pair_with_their_jobs),
        cmocka_unit_test(test_jobs_writes_in_any_order_all_land),
        cmocka_unit_test(test_jobs_schema_5_store_is_read_and_migrated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
