/*  test_commit.c: the group commit built from parts (commit.h) on a real
 *  store in a temporary directory: a droppable part that fails leaves the
 *  others committed, map growth reruns every part from scratch, a full map
 *  stores nothing, and a turn of duplicates commits (and fsyncs) nothing.
 */
#include "commit.h"
#include "store.h"

#include "fixture_store.h"

#include <lmdb.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define assert_foundry_ok(expr)                                                                   \
    do {                                                                                          \
        foundry_err err_ = (expr);                                                                \
        if (err_ != FOUNDRY_OK)                                                                   \
            fail_msg("%s: %s (%s)", #expr, foundry_strerror(err_), fx->reason.text);             \
    } while (0)

#define MIB (1ull << 20)
#define ITEMS 64
#define ITEM_SIZE 32768 /* ITEMS of them: 2 MiB, twice the smallest map below */

typedef struct {
    char dir[FX_STORE_DIR_LEN];
    fdy_store_t *store;
    fdy_reason_t reason;
    uint32_t stream_id;
    fdy_store_item_t items[ITEMS];
    char ids[ITEMS][32];
    uint8_t *payload;
} fixture_t;

static void
s_open(fixture_t *fx, uint64_t map_size, uint64_t map_size_max)
{
    fdy_store_opts_t opts = {.dir = NULL, .map_size = map_size, .map_size_max = map_size_max,
                             .dedupe_window_ms = 60000, .read_only = false};
    fx_store_open_tmp(fx->dir, "test_commit", &opts, &fx->store, &fx->reason);
    const char *filters[] = { "orders.>" };
    assert_foundry_ok(fdy_store_stream_create(fx->store, "orders", filters, 1, &fx->reason));
    assert_foundry_ok(fdy_store_stream_lookup(fx->store, "orders", &fx->stream_id));
}

/* count items of size bytes each, ids "<prefix>-<n>". */
static void
s_items(fixture_t *fx, const char *prefix, size_t count, size_t size)
{
    for (size_t i = 0; i < count; i++) {
        fdy_store_item_t *it = &fx->items[i];
        memset(it, 0, sizeof *it);
        snprintf(fx->ids[i], sizeof fx->ids[i], "%s-%zu", prefix, i);
        it->stream_id = fx->stream_id;
        it->msg_id = (const uint8_t *) fx->ids[i];
        it->msg_id_len = strlen(fx->ids[i]);
        it->publisher = "tester";
        it->data = fx->payload;
        it->data_len = size;
    }
}

static fdy_store_stats_t
s_stats(fixture_t *fx)
{
    fdy_store_stats_t stats;
    assert_int_equal(fdy_store_stats(fx->store, &stats), FOUNDRY_OK);
    return stats;
}

static uint64_t
s_messages(fixture_t *fx)
{
    fdy_stream_info_t info;
    assert_foundry_ok(fdy_store_stream_info(fx->store, "orders", &info, &fx->reason));
    uint64_t messages = info.messages;
    fdy_store_stream_info_clear(&info);
    return messages;
}

static int
s_setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx->payload = calloc(1, ITEM_SIZE);
    assert_non_null(fx->payload);
    *state = fx;
    return 0;
}

static int
s_teardown(void **state)
{
    fixture_t *fx = *state;
    fx_store_rm(fx->dir, &fx->store);
    free(fx->payload);
    free(fx);
    return 0;
}

/* ---- a test part --------------------------------------------------------- */

/* Writes blobs into a database of its own, so growth is needed for it;
 * checks on every call that the database is empty (an earlier attempt's
 * writes were rolled back) and counts the calls. */
typedef struct {
    size_t blobs;
    size_t calls;
    size_t dirty_starts; /* calls that found an earlier attempt's records */
    size_t written;      /* out-field: records written by the last attempt */
    size_t resets;
} s_blob_t;

static foundry_err
s_blob_write(void *data, fdy_store_t *store, MDB_txn *txn, uint64_t now_ns, size_t *writes,
             fdy_reason_t *reason)
{
    (void) store;
    (void) now_ns;
    s_blob_t *b = data;
    b->calls++;
    b->written = 0;
    MDB_dbi dbi;
    int rc = mdb_dbi_open(txn, "test_blobs", MDB_CREATE, &dbi);
    if (rc != 0)
        return fdy_reason_set(reason, rc == MDB_MAP_FULL ? FOUNDRY_EFULL : FOUNDRY_ESTORE,
                              "blobs: %s", mdb_strerror(rc));
    MDB_stat st;
    if (mdb_stat(txn, dbi, &st) == 0 && st.ms_entries > 0)
        b->dirty_starts++;
    static uint8_t blob[ITEM_SIZE];
    for (size_t i = 0; i < b->blobs; i++) {
        uint64_t key = i;
        MDB_val k = { sizeof key, &key }, v = { sizeof blob, blob };
        rc = mdb_put(txn, dbi, &k, &v, 0);
        if (rc != 0)
            return fdy_reason_set(reason, rc == MDB_MAP_FULL ? FOUNDRY_EFULL : FOUNDRY_ESTORE,
                                  "blobs: %s", mdb_strerror(rc));
        b->written++;
        (*writes)++;
    }
    return FOUNDRY_OK;
}

static void
s_blob_reset(void *data)
{
    s_blob_t *b = data;
    b->written = 0;
    b->resets++;
}

static const fdy_commit_part_t s_blob_part = {
    .name = "test-blobs",
    .prepare = NULL,
    .write = s_blob_write,
    .reset = s_blob_reset,
    .droppable = false,
};

/* ---- tests --------------------------------------------------------------- */

static void
test_commit_droppable_failure_keeps_the_rest(void **state)
{
    fixture_t *fx = *state;
    s_open(fx, MIB, 64 * MIB);
    fdy_consumer_config_t cfg = { .name = "c1", .start = FDY_CONSUMER_START_FIRST };
    assert_foundry_ok(fdy_store_consumer_create(fx->store, "orders", &cfg, &fx->reason));

    s_items(fx, "drop", 3, 100);
    fdy_store_items_t items = { fx->items, 3 };
    fdy_consumer_state_t states[2] = {
        { .stream_id = fx->stream_id, .name = "c1", .ack_floor = 1, .delivered_seq = 2 },
        { .stream_id = fx->stream_id, .name = "ghost", .ack_floor = 0, .delivered_seq = 1 },
    };
    fdy_store_states_t state_data = { states, 2 };
    uint64_t commits = s_stats(fx).commits;

    fdy_commit_t commit;
    fdy_commit_init(&commit);
    assert_true(fdy_commit_empty(&commit));
    fdy_commit_add(&commit, &fdy_store_messages_part, &items);
    fdy_commit_add(&commit, &fdy_store_states_part, &state_data);
    assert_false(fdy_commit_empty(&commit));
    /* The publishes decide the result; the states report their own. */
    assert_foundry_ok(fdy_commit_run(&commit, fx->store, &fx->reason));
    assert_int_equal(fdy_commit_result(&commit, &items), FOUNDRY_OK);
    assert_int_equal(fdy_commit_result(&commit, &state_data), FOUNDRY_ENOTFOUND);
    assert_non_null(strstr(fdy_commit_reason(&commit, &state_data), "ghost"));
    assert_string_equal(fdy_commit_reason(&commit, &items), "");
    assert_int_equal(fx->items[0].seq, 1);
    assert_int_equal(fx->items[2].seq, 3);
    assert_false(fx->items[0].duplicate);
    assert_int_equal(s_messages(fx), 3);
    assert_int_equal(s_stats(fx).commits, commits + 1); /* the retry is the one commit */

    /* The whole states part is dropped, c1's good state with it. */
    fdy_consumer_t c;
    assert_foundry_ok(fdy_store_consumer_get(fx->store, "orders", "c1", &c, &fx->reason));
    assert_int_equal(c.state.delivered_seq, 0);
    fdy_store_consumer_clear(&c);

    /* A malformed state fails in prepare: dropped before any transaction. */
    s_items(fx, "drop2", 1, 100);
    items.count = 1;
    states[0].ack_floor = 5; /* past delivered_seq */
    state_data.count = 1;
    fdy_commit_init(&commit);
    fdy_commit_add(&commit, &fdy_store_messages_part, &items);
    fdy_commit_add(&commit, &fdy_store_states_part, &state_data);
    assert_foundry_ok(fdy_commit_run(&commit, fx->store, &fx->reason));
    assert_int_equal(fdy_commit_result(&commit, &state_data), FOUNDRY_EINVAL);
    assert_int_equal(fx->items[0].seq, 4);

    /* Not droppable, the same failure refuses everything. */
    fdy_store_item_t *first = &fx->items[0];
    s_items(fx, "strict", 1, 100);
    fdy_store_batch_t batch = { .items = first, .item_count = 1, .states = &states[1],
                                .state_count = 1 };
    assert_int_equal(fdy_store_commit(fx->store, &batch, &fx->reason), FOUNDRY_ENOTFOUND);
    assert_int_equal(first->seq, 0);
    assert_int_equal(s_messages(fx), 4);
}

static void
test_commit_map_full_grows_and_retries(void **state)
{
    fixture_t *fx = *state;
    s_open(fx, MIB, 64 * MIB);
    uint64_t map_before = s_stats(fx).map_size;
    s_items(fx, "grow", ITEMS, ITEM_SIZE);
    fdy_store_items_t items = { fx->items, ITEMS };
    fdy_commit_t commit;
    fdy_commit_init(&commit);
    fdy_commit_add(&commit, &fdy_store_messages_part, &items);
    assert_foundry_ok(fdy_commit_run(&commit, fx->store, &fx->reason));
    assert_int_equal(fdy_commit_result(&commit, &items), FOUNDRY_OK);
    fdy_store_stats_t stats = s_stats(fx);
    assert_true(stats.map_size > map_before);
    assert_int_equal(s_messages(fx), ITEMS);
    assert_int_equal(fx->items[ITEMS - 1].seq, ITEMS);
}

static void
test_commit_full_at_max_stores_nothing(void **state)
{
    fixture_t *fx = *state;
    s_open(fx, MIB, MIB); /* no room to grow */
    uint64_t commits = s_stats(fx).commits;
    s_items(fx, "full", ITEMS, ITEM_SIZE);
    fdy_store_items_t items = { fx->items, ITEMS };
    fdy_commit_t commit;
    fdy_commit_init(&commit);
    fdy_commit_add(&commit, &fdy_store_messages_part, &items);
    assert_int_equal(fdy_commit_run(&commit, fx->store, &fx->reason), FOUNDRY_EFULL);
    assert_int_equal(fdy_commit_result(&commit, &items), FOUNDRY_EFULL);
    assert_non_null(strstr(fx->reason.text, "map_size_max"));
    for (size_t i = 0; i < ITEMS; i++)
        assert_int_equal(fx->items[i].seq, 0); /* nothing to ack */
    fdy_store_stats_t stats = s_stats(fx);
    assert_int_equal(stats.commits, commits);
    assert_int_equal(stats.dedupe_entries, 0);
    assert_int_equal(s_messages(fx), 0);
}

static void
test_commit_duplicates_commit_nothing(void **state)
{
    fixture_t *fx = *state;
    s_open(fx, MIB, 64 * MIB);
    s_items(fx, "dup", 4, 100);
    fdy_store_items_t items = { fx->items, 4 };
    fdy_commit_t commit;
    fdy_commit_init(&commit);
    fdy_commit_add(&commit, &fdy_store_messages_part, &items);
    assert_foundry_ok(fdy_commit_run(&commit, fx->store, &fx->reason));
    uint64_t commits = s_stats(fx).commits;

    /* The same ids again: every part writes 0, so no commit, no fsync. */
    fdy_commit_init(&commit);
    fdy_commit_add(&commit, &fdy_store_messages_part, &items);
    assert_foundry_ok(fdy_commit_run(&commit, fx->store, &fx->reason));
    assert_int_equal(fdy_commit_result(&commit, &items), FOUNDRY_OK);
    for (size_t i = 0; i < 4; i++) {
        assert_true(fx->items[i].duplicate);
        assert_int_equal(fx->items[i].seq, i + 1);
    }
    assert_int_equal(s_stats(fx).commits, commits);
    assert_int_equal(s_messages(fx), 4);

    /* An empty commit touches nothing either. */
    fdy_commit_init(&commit);
    assert_foundry_ok(fdy_commit_run(&commit, fx->store, &fx->reason));
    assert_int_equal(s_stats(fx).commits, commits);
}

static void
test_commit_part_reruns_from_scratch_after_growth(void **state)
{
    fixture_t *fx = *state;
    s_open(fx, MIB, 64 * MIB);
    uint64_t map_before = s_stats(fx).map_size;
    s_items(fx, "mix", 2, 100);
    fdy_store_items_t items = { fx->items, 2 };
    s_blob_t blobs = { .blobs = ITEMS };
    fdy_commit_t commit;
    fdy_commit_init(&commit);
    fdy_commit_add(&commit, &fdy_store_messages_part, &items);
    fdy_commit_add(&commit, &s_blob_part, &blobs);
    assert_foundry_ok(fdy_commit_run(&commit, fx->store, &fx->reason));
    assert_int_equal(fdy_commit_result(&commit, &blobs), FOUNDRY_OK);
    assert_true(blobs.calls >= 2);          /* at least one MAP_FULL, then again */
    assert_int_equal(blobs.dirty_starts, 0); /* each attempt began from the database */
    assert_int_equal(blobs.written, ITEMS);
    assert_int_equal(blobs.resets, 1); /* only before prepare: nothing failed for good */
    assert_true(s_stats(fx).map_size > map_before);
    /* The messages of the same transaction were rerun too, once stored. */
    assert_int_equal(fx->items[0].seq, 1);
    assert_int_equal(fx->items[1].seq, 2);
    assert_int_equal(s_messages(fx), 2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_commit_droppable_failure_keeps_the_rest, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_commit_map_full_grows_and_retries, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_commit_full_at_max_stores_nothing, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_commit_duplicates_commit_nothing, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_commit_part_reruns_from_scratch_after_growth,
                                        s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("commit", tests, NULL, NULL);
}
