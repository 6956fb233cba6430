/*  test_store_dedupe.c: the dedupe index's scope on real temporary stores:
 *  a producer id is remembered per stream and per publishing principal, a
 *  duplicate names the original's stream and seq, retention, the prune and
 *  stream delete remove exactly the scoped entries, and a schema-2 store is
 *  migrated (old entries cleared) at the first read-write open.
 */
#include "clock.h"
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

#define assert_foundry_ok(expr)                                                                    \
    do {                                                                                           \
        foundry_err err_ = (expr);                                                                 \
        if (err_ != FOUNDRY_OK)                                                                    \
            fail_msg("%s: %s (%s)", #expr, foundry_strerror(err_), fx->reason.text);               \
    } while (0)

#define WINDOW_MS 60000u
#define MS_NS     1000000ull

typedef struct {
    char dir[FX_STORE_DIR_LEN];
    fdy_store_t *store;
    fdy_reason_t reason;
} fixture_t;

static foundry_err
s_open_ro(fixture_t *fx, bool read_only)
{
    fdy_store_opts_t opts = {.dir = fx->dir, .map_size = 1u << 20, .map_size_max = 64u << 20,
                             .dedupe_window_ms = WINDOW_MS, .read_only = read_only};
    return fdy_store_open(&opts, &fx->store, &fx->reason);
}

static foundry_err
s_open(fixture_t *fx)
{
    return s_open_ro(fx, false);
}

static int
s_setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx_store_open_tmp(fx->dir, "test_store_dedupe", NULL, NULL, NULL);
    assert_int_equal(s_open(fx), FOUNDRY_OK);
    *state = fx;
    return 0;
}

static int
s_teardown(void **state)
{
    fixture_t *fx = *state;
    fx_store_rm(fx->dir, &fx->store);
    free(fx);
    return 0;
}

static uint32_t
s_create(fixture_t *fx, const char *name, const char *filter)
{
    const char *filters[] = {filter};
    assert_foundry_ok(fdy_store_stream_create(fx->store, name, filters, 1, &fx->reason));
    uint32_t id = 0;
    assert_foundry_ok(fdy_store_stream_lookup(fx->store, name, &id));
    return id;
}

/* One message: id as given, data naming the publisher (to tell records
 * apart on read). */
typedef struct {
    fdy_store_item_t item;
    char data[FDY_STORE_PUBLISHER_MAX + FOUNDRY_MSG_ID_MAX + 2];
} s_msg_t;

static fdy_store_item_t *
s_msg(s_msg_t *m, uint32_t stream_id, const char *publisher, const char *id)
{
    memset(m, 0, sizeof *m);
    snprintf(m->data, sizeof m->data, "%s:%s", publisher ? publisher : "", id);
    m->item.stream_id = stream_id;
    m->item.msg_id = (const uint8_t *) id;
    m->item.msg_id_len = strlen(id);
    m->item.publisher = publisher;
    m->item.data = (const uint8_t *) m->data;
    m->item.data_len = strlen(m->data);
    return &m->item;
}

/* Appends one message and returns its outcome. */
static fdy_store_item_t
s_put(fixture_t *fx, uint32_t stream_id, const char *publisher, const char *id)
{
    s_msg_t m;
    assert_foundry_ok(
        fdy_store_append(fx->store, s_msg(&m, stream_id, publisher, id), 1, &fx->reason));
    fdy_store_item_t out = m.item;
    out.msg_id = NULL;
    out.data = NULL;
    return out;
}

static uint64_t
s_dedupe_entries(fixture_t *fx)
{
    fdy_store_stats_t stats;
    assert_foundry_ok(fdy_store_stats(fx->store, &stats));
    return stats.dedupe_entries;
}

static uint64_t
s_messages(fixture_t *fx, const char *stream)
{
    fdy_stream_info_t info;
    assert_foundry_ok(fdy_store_stream_info(fx->store, stream, &info, &fx->reason));
    uint64_t messages = info.messages;
    fdy_store_stream_info_clear(&info);
    return messages;
}

typedef struct {
    size_t count;
    char data[16][64];
    char publisher[16][64];
} s_got_t;

static foundry_err
s_collect(const fdy_stored_t *rec, void *user)
{
    s_got_t *got = user;
    if (got->count >= 16)
        return FOUNDRY_ETOOBIG;
    snprintf(got->data[got->count], sizeof got->data[0], "%.*s", (int) rec->data_len,
             (const char *) rec->data);
    snprintf(got->publisher[got->count], sizeof got->publisher[0], "%s", rec->publisher);
    got->count++;
    return FOUNDRY_OK;
}

static void
s_read(fixture_t *fx, const char *stream, s_got_t *got)
{
    memset(got, 0, sizeof *got);
    assert_foundry_ok(fdy_store_read(fx->store, stream, 1, 16, s_collect, got, &fx->reason));
}

/* ---- scope ----------------------------------------------------------------- */

static void
test_store_dedupe_same_id_two_principals_both_stored(void **state)
{
    fixture_t *fx = *state;
    uint32_t id = s_create(fx, "tele", "tele.>");
    /* In separate calls and within one call: neither suppresses the other. */
    fdy_store_item_t a = s_put(fx, id, "node-a", "m-1");
    fdy_store_item_t b = s_put(fx, id, "partner-b", "m-1");
    assert_false(a.duplicate);
    assert_false(b.duplicate);
    assert_int_equal(a.seq, 1);
    assert_int_equal(b.seq, 2);
    s_msg_t m[3];
    fdy_store_item_t items[3] = {*s_msg(&m[0], id, "node-a", "m-2"),
                                 *s_msg(&m[1], id, "partner-b", "m-2"),
                                 *s_msg(&m[2], id, NULL, "m-2")};
    assert_foundry_ok(fdy_store_append(fx->store, items, 3, &fx->reason));
    for (int i = 0; i < 3; i++) {
        assert_false(items[i].duplicate);
        assert_int_equal(items[i].seq, 3 + i);
    }
    /* A publisher name that is a prefix of another, with the id continuing
     * it, is still another key ("ab"+"c" is not "a"+"bc"). */
    assert_false(s_put(fx, id, "ab", "c").duplicate);
    assert_false(s_put(fx, id, "a", "bc").duplicate);
    assert_int_equal(s_messages(fx, "tele"), 7);
    assert_int_equal(s_dedupe_entries(fx), 7);
    s_got_t got;
    s_read(fx, "tele", &got);
    assert_string_equal(got.data[1], "partner-b:m-1");
    assert_string_equal(got.publisher[1], "partner-b");
}

static void
test_store_dedupe_same_principal_same_stream_duplicate_with_original_seq(void **state)
{
    fixture_t *fx = *state;
    uint32_t id = s_create(fx, "tele", "tele.>");
    assert_int_equal(s_put(fx, id, "node-a", "m-1").seq, 1);
    assert_int_equal(s_put(fx, id, "partner-b", "m-1").seq, 2);
    assert_int_equal(s_put(fx, id, "node-a", "m-2").seq, 3);
    /* Each principal's resend gets its own original, later and in a batch. */
    fdy_store_item_t again = s_put(fx, id, "node-a", "m-1");
    assert_true(again.duplicate);
    assert_int_equal(again.seq, 1);
    assert_int_equal(again.stream_id, id);
    s_msg_t m[3];
    fdy_store_item_t items[3] = {*s_msg(&m[0], id, "partner-b", "m-1"),
                                 *s_msg(&m[1], id, "node-a", "m-3"),
                                 *s_msg(&m[2], id, "node-a", "m-3")};
    assert_foundry_ok(fdy_store_append(fx->store, items, 3, &fx->reason));
    assert_true(items[0].duplicate);
    assert_int_equal(items[0].seq, 2);
    assert_false(items[1].duplicate);
    assert_int_equal(items[1].seq, 4);
    assert_true(items[2].duplicate); /* earlier in the same call */
    assert_int_equal(items[2].seq, 4);
    assert_int_equal(s_messages(fx, "tele"), 4);
}

static void
test_store_dedupe_same_principal_other_stream_stored_there(void **state)
{
    fixture_t *fx = *state;
    uint32_t one = s_create(fx, "one", "one.>");
    uint32_t two = s_create(fx, "two", "two.>");
    s_put(fx, one, "node-a", "x");
    assert_int_equal(s_put(fx, one, "node-a", "m-1").seq, 2);
    /* A resend routed elsewhere is a new message there: its seq is one of
     * that stream, never the first stream's seq under another name. */
    fdy_store_item_t there = s_put(fx, two, "node-a", "m-1");
    assert_false(there.duplicate);
    assert_int_equal(there.stream_id, two);
    assert_int_equal(there.seq, 1);
    assert_int_equal(s_messages(fx, "two"), 1);
    /* And each stream answers resends with its own original. */
    fdy_store_item_t dup_one = s_put(fx, one, "node-a", "m-1");
    fdy_store_item_t dup_two = s_put(fx, two, "node-a", "m-1");
    assert_true(dup_one.duplicate && dup_two.duplicate);
    assert_int_equal(dup_one.seq, 2);
    assert_int_equal(dup_two.seq, 1);
    assert_int_equal(s_messages(fx, "one"), 2);
    assert_int_equal(s_messages(fx, "two"), 1);
}

static void
test_store_dedupe_publisher_bounded(void **state)
{
    fixture_t *fx = *state;
    uint32_t id = s_create(fx, "tele", "tele.>");
    char longest[FDY_STORE_PUBLISHER_MAX + 2];
    memset(longest, 'p', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    s_msg_t m;
    assert_int_equal(fdy_store_append(fx->store, s_msg(&m, id, longest, "m-1"), 1, &fx->reason),
                     FOUNDRY_EINVAL);
    assert_non_null(strstr(fx->reason.text, "publisher"));
    longest[FDY_STORE_PUBLISHER_MAX] = '\0'; /* 63 bytes, with a 64-byte id */
    char id64[FOUNDRY_MSG_ID_MAX + 1];
    memset(id64, 'i', FOUNDRY_MSG_ID_MAX);
    id64[FOUNDRY_MSG_ID_MAX] = '\0';
    assert_false(s_put(fx, id, longest, id64).duplicate);
    assert_true(s_put(fx, id, longest, id64).duplicate);
    assert_int_equal(s_messages(fx, "tele"), 1);
}

/* ---- removal: trim, prune, delete ----------------------------------------- */

static void
test_store_dedupe_trim_forgets_only_its_own_entry(void **state)
{
    fixture_t *fx = *state;
    fdy_stream_limits_t lim = {0, 0, 2};
    const char *filters[] = {"tele.>"};
    assert_foundry_ok(fdy_store_stream_create_ex(fx->store, "tele", filters, 1, &lim, &fx->reason));
    uint32_t id = 0;
    assert_foundry_ok(fdy_store_stream_lookup(fx->store, "tele", &id));
    s_put(fx, id, "node-a", "m-1");    /* seq 1: trimmed */
    s_put(fx, id, "partner-b", "m-1"); /* seq 2: kept */
    s_put(fx, id, "node-a", "m-2");    /* seq 3: kept */
    size_t trimmed = 0;
    assert_foundry_ok(fdy_store_trim(fx->store, fdy_clock_wall_ns(), 100, &trimmed));
    assert_int_equal(trimmed, 1);
    assert_int_equal(s_dedupe_entries(fx), 2);
    /* node-a's m-1 is gone with its record, partner-b's stays. */
    fdy_store_item_t again = s_put(fx, id, "partner-b", "m-1");
    assert_true(again.duplicate);
    assert_int_equal(again.seq, 2);
    again = s_put(fx, id, "node-a", "m-1");
    assert_false(again.duplicate);
    assert_int_equal(again.seq, 4);
}

static void
test_store_dedupe_prune_removes_scoped_entries(void **state)
{
    fixture_t *fx = *state;
    uint32_t one = s_create(fx, "one", "one.>");
    uint32_t two = s_create(fx, "two", "two.>");
    s_put(fx, one, "node-a", "m-1");
    s_put(fx, one, "partner-b", "m-1");
    s_put(fx, two, "node-a", "m-1");
    s_put(fx, two, NULL, "m-1");
    assert_int_equal(s_dedupe_entries(fx), 4);
    size_t pruned = 0, total = 0;
    assert_foundry_ok(fdy_store_prune_dedupe(fx->store, fdy_clock_wall_ns(), 100, &pruned));
    assert_int_equal(pruned, 0); /* all inside the window */
    uint64_t later = fdy_clock_wall_ns() + 2 * WINDOW_MS * MS_NS;
    for (int turn = 0; turn < 10; turn++) {
        assert_foundry_ok(fdy_store_prune_dedupe(fx->store, later, 1, &pruned));
        assert_true(pruned <= 1);
        total += pruned;
    }
    assert_int_equal(total, 4);
    assert_int_equal(s_dedupe_entries(fx), 0);
    assert_false(s_put(fx, one, "node-a", "m-1").duplicate);
}

static void
test_store_dedupe_stream_delete_drops_its_range(void **state)
{
    fixture_t *fx = *state;
    uint32_t gone = s_create(fx, "gone", "gone.>");
    uint32_t keep = s_create(fx, "keep", "keep.>");
    for (int i = 0; i < 40; i++) {
        char mid[16];
        snprintf(mid, sizeof mid, "m-%d", i);
        s_put(fx, gone, i % 2 ? "node-a" : "partner-b", mid);
        if (i < 3)
            s_put(fx, keep, "node-a", mid);
    }
    assert_int_equal(s_dedupe_entries(fx), 43);
    assert_foundry_ok(fdy_store_stream_delete(fx->store, "gone", &fx->reason));
    assert_int_equal(s_dedupe_entries(fx), 3);
    fdy_store_item_t dup = s_put(fx, keep, "node-a", "m-1");
    assert_true(dup.duplicate);
    assert_int_equal(dup.seq, 2);
    /* Deleting the last stream in key order empties the index. */
    assert_foundry_ok(fdy_store_stream_delete(fx->store, "keep", &fx->reason));
    assert_int_equal(s_dedupe_entries(fx), 0);
}

/* ---- migration from schema 2 ------------------------------------------------ */

static void
s_raw_begin(const char *dir, MDB_env **env, MDB_txn **txn)
{
    assert_int_equal(mdb_env_create(env), 0);
    assert_int_equal(mdb_env_set_maxdbs(*env, 4096), 0);
    assert_int_equal(mdb_env_open(*env, dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(*env, NULL, 0, txn), 0);
}

static uint64_t
s_raw_schema(MDB_txn *txn)
{
    MDB_dbi meta;
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    MDB_val k = {6, "schema"}, v;
    assert_int_equal(mdb_get(txn, meta, &k, &v), 0);
    assert_int_equal(v.mv_size, 8);
    uint64_t value = 0;
    for (int i = 7; i >= 0; i--)
        value = value << 8 | ((const uint8_t *) v.mv_data)[i];
    return value;
}

static void
test_store_dedupe_schema_2_migrated_at_open(void **state)
{
    fixture_t *fx = *state;
    uint32_t id = s_create(fx, "tele", "tele.>");
    s_put(fx, id, "node-a", "m-1");
    s_put(fx, id, "node-a", "m-2");
    fdy_store_close(&fx->store);

    /* What schema 2 left: the number 2 and entries keyed by the id alone,
     * value stream_id(LE) | seq(LE) | stored_ns(LE). */
    MDB_env *env;
    MDB_txn *txn;
    s_raw_begin(fx->dir, &env, &txn);
    MDB_dbi meta, dedupe;
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    assert_int_equal(mdb_dbi_open(txn, "dedupe", 0, &dedupe), 0);
    assert_int_equal(mdb_drop(txn, dedupe, 0), 0);
    uint8_t two[8] = {2};
    MDB_val k = {6, "schema"}, v = {sizeof two, two};
    assert_int_equal(mdb_put(txn, meta, &k, &v, 0), 0);
    for (int i = 1; i <= 2; i++) {
        char old_key[8];
        snprintf(old_key, sizeof old_key, "m-%d", i);
        uint8_t val[20] = {0};
        val[0] = (uint8_t) id;
        val[4] = (uint8_t) i;
        uint64_t now = fdy_clock_wall_ns();
        for (int b = 0; b < 8; b++)
            val[12 + b] = (uint8_t) (now >> (8 * b));
        MDB_val dk = {strlen(old_key), old_key}, dv = {sizeof val, val};
        assert_int_equal(mdb_put(txn, dedupe, &dk, &dv, 0), 0);
    }
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    /* Read-only: served as it is, left at schema 2. */
    assert_foundry_ok(s_open_ro(fx, true));
    assert_int_equal(s_messages(fx, "tele"), 2);
    fdy_store_close(&fx->store);
    s_raw_begin(fx->dir, &env, &txn);
    assert_int_equal(s_raw_schema(txn), 2);
    mdb_txn_abort(txn);
    mdb_env_close(env);

    /* Read-write: migrated, the old entries cleared, the records kept. */
    assert_foundry_ok(s_open(fx));
    assert_int_equal(s_dedupe_entries(fx), 0);
    assert_int_equal(s_messages(fx, "tele"), 2);
    /* What the upgrade means: a resend inside the window is stored again. */
    fdy_store_item_t resent = s_put(fx, id, "node-a", "m-2");
    assert_false(resent.duplicate);
    assert_int_equal(resent.seq, 3);
    assert_true(s_put(fx, id, "node-a", "m-2").duplicate);
    fdy_store_close(&fx->store);
    s_raw_begin(fx->dir, &env, &txn);
    assert_int_equal(s_raw_schema(txn), FDY_STORE_SCHEMA);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    assert_foundry_ok(s_open(fx));
    assert_int_equal(s_dedupe_entries(fx), 1); /* not migrated twice */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_dedupe_same_id_two_principals_both_stored,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(
            test_store_dedupe_same_principal_same_stream_duplicate_with_original_seq, s_setup,
            s_teardown),
        cmocka_unit_test_setup_teardown(test_store_dedupe_same_principal_other_stream_stored_there,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_store_dedupe_publisher_bounded, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_store_dedupe_trim_forgets_only_its_own_entry, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_store_dedupe_prune_removes_scoped_entries, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_store_dedupe_stream_delete_drops_its_range, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_store_dedupe_schema_2_migrated_at_open, s_setup,
                                        s_teardown),
    };
    return cmocka_run_group_tests_name("store_dedupe", tests, NULL, NULL);
}
