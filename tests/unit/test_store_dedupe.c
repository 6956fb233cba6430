/*  test_store_dedupe.c: the dedupe index's scope on real temporary stores:
 *  a producer id is remembered per stream and per publishing principal, a
 *  duplicate names the original's stream and seq, retention, the prune and
 *  stream delete remove exactly the scoped entries, ids are forgotten after
 *  the window and remembered across a reopen (rebuilt from the records),
 *  random ids work alike, the cap refuses rather than forgets, and stores
 *  of schemas 2 and 4 are migrated at the first read-write open.
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
#include <time.h>

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

/* ---- window, reopen, random ids, cap ----------------------------------------- */

/* Reopens the store with another window and cap. */
static void
s_reopen(fixture_t *fx, uint64_t window_ms, uint64_t index_max)
{
    fdy_store_close(&fx->store);
    fdy_store_opts_t opts = {.dir = fx->dir, .map_size = 1u << 20, .map_size_max = 64u << 20,
                             .dedupe_window_ms = window_ms, .dedupe_index_max = index_max};
    assert_foundry_ok(fdy_store_open(&opts, &fx->store, &fx->reason));
}

/* Polls (bounded by a deadline) until the store's time passes until_ns. */
static void
s_wait_store_time(fixture_t *fx, uint64_t until_ns)
{
    uint64_t deadline = fdy_clock_mono_ns() + 10ull * 1000 * MS_NS;
    while (fdy_store_now_ns(fx->store) <= until_ns) {
        assert_true(fdy_clock_mono_ns() < deadline);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

static void
test_store_dedupe_duplicate_within_window_not_after(void **state)
{
    fixture_t *fx = *state;
    s_reopen(fx, 100, 0);
    uint32_t id = s_create(fx, "tele", "tele.>");
    uint64_t before = fdy_store_now_ns(fx->store);
    assert_int_equal(s_put(fx, id, "node-a", "m-1").seq, 1);
    fdy_store_item_t dup = s_put(fx, id, "node-a", "m-1");
    assert_true(dup.duplicate);
    assert_int_equal(dup.seq, 1);
    s_wait_store_time(fx, before + 200 * MS_NS);
    /* Past the window: new again, and the id names the new record. */
    fdy_store_item_t again = s_put(fx, id, "node-a", "m-1");
    assert_false(again.duplicate);
    assert_int_equal(again.seq, 2);
    dup = s_put(fx, id, "node-a", "m-1");
    assert_true(dup.duplicate);
    assert_int_equal(dup.seq, 2);
    assert_int_equal(s_dedupe_entries(fx), 1);
    assert_int_equal(s_messages(fx, "tele"), 2);
}

static void
test_store_dedupe_after_reopen_names_original_seq(void **state)
{
    fixture_t *fx = *state;
    uint32_t a = s_create(fx, "a", "a.>");
    uint32_t b = s_create(fx, "b", "b.>");
    for (int i = 0; i < 50; i++) {
        char mid[16];
        snprintf(mid, sizeof mid, "m-%d", i);
        s_put(fx, a, "node-a", mid);
        s_put(fx, i % 2 ? a : b, "partner-b", mid);
    }
    uint64_t entries = s_dedupe_entries(fx);
    assert_int_equal(entries, 100);
    s_reopen(fx, WINDOW_MS, 0);
    /* Rebuilt from the records: same entries, same seqs, same scopes. */
    assert_int_equal(s_dedupe_entries(fx), entries);
    fdy_store_item_t dup = s_put(fx, a, "node-a", "m-7");
    assert_true(dup.duplicate);
    assert_int_equal(dup.seq, 7 + 4);              /* a: node-a 0..7 and partner-b 1,3,5,7 */
    assert_true(s_put(fx, a, "partner-b", "m-7").duplicate);
    assert_false(s_put(fx, a, "partner-b", "m-8").duplicate); /* m-8 went to b */
    assert_true(s_put(fx, b, "partner-b", "m-8").duplicate);
    assert_false(s_put(fx, b, "node-a", "m-8").duplicate);     /* another principal */
}

static void
test_store_dedupe_reopen_skips_what_the_window_forgot(void **state)
{
    fixture_t *fx = *state;
    s_reopen(fx, 100, 0);
    uint32_t id = s_create(fx, "tele", "tele.>");
    uint64_t before = fdy_store_now_ns(fx->store);
    s_put(fx, id, "node-a", "old");
    s_wait_store_time(fx, before + 200 * MS_NS);
    s_reopen(fx, 100, 0);
    /* Not pruned yet, but past the window: not loaded, and new again. */
    assert_int_equal(s_dedupe_entries(fx), 0);
    fdy_store_item_t again = s_put(fx, id, "node-a", "old");
    assert_false(again.duplicate);
    assert_int_equal(again.seq, 2);
}

/* Random 16-byte ids (UUID-like), as partners send them. */
static void
test_store_dedupe_random_ids(void **state)
{
    fixture_t *fx = *state;
    enum { N = 4000, PER = 200 };
    uint32_t id = s_create(fx, "tele", "tele.>");
    static uint8_t ids[N][16];
    uint64_t x = 0x9e3779b97f4a7c15ull ^ (uint64_t) fdy_clock_wall_ns();
    for (size_t i = 0; i < N; i++)
        for (size_t b = 0; b < 16; b++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
            ids[i][b] = (uint8_t) x;
        }
    fdy_store_item_t items[PER];
    const char *data = "payload";
    for (int pass = 0; pass < 3; pass++) {
        if (pass == 2)
            s_reopen(fx, WINDOW_MS, 0);
        for (size_t at = 0; at < N; at += PER) {
            memset(items, 0, sizeof items);
            for (size_t i = 0; i < PER; i++) {
                items[i].stream_id = id;
                items[i].publisher = "partner-b";
                items[i].msg_id = ids[at + i];
                items[i].msg_id_len = 16;
                items[i].data = (const uint8_t *) data;
                items[i].data_len = strlen(data);
            }
            assert_foundry_ok(fdy_store_append(fx->store, items, PER, &fx->reason));
            for (size_t i = 0; i < PER; i++) {
                assert_int_equal(items[i].duplicate, pass > 0);
                assert_int_equal(items[i].seq, at + i + 1);
            }
        }
    }
    assert_int_equal(s_messages(fx, "tele"), N);
    assert_int_equal(s_dedupe_entries(fx), N);
}

static void
test_store_dedupe_cap_refuses_until_ids_age_out(void **state)
{
    fixture_t *fx = *state;
    s_reopen(fx, 100, 10);
    uint32_t id = s_create(fx, "tele", "tele.>");
    uint64_t before = fdy_store_now_ns(fx->store);
    for (int i = 0; i < 10; i++) {
        char mid[16];
        snprintf(mid, sizeof mid, "m-%d", i);
        s_put(fx, id, "node-a", mid);
    }
    s_msg_t m;
    assert_int_equal(fdy_store_append(fx->store, s_msg(&m, id, "node-a", "m-10"), 1, &fx->reason),
                     FOUNDRY_EFULL);
    assert_non_null(strstr(fx->reason.text, "dedupe index full"));
    assert_int_equal(s_messages(fx, "tele"), 10); /* nothing lost, nothing added */
    s_wait_store_time(fx, before + 200 * MS_NS);
    size_t pruned = 0;
    assert_foundry_ok(fdy_store_prune_dedupe(fx->store, fdy_store_now_ns(fx->store), 100, &pruned));
    assert_int_equal(pruned, 10);
    assert_int_equal(s_put(fx, id, "node-a", "m-10").seq, 11);
}

/* ---- migration from schemas 2 and 4 ----------------------------------------- */

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

/* Whether the old "dedupe" database exists. */
static bool
s_raw_has_dedupe_db(const char *dir)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    s_raw_begin(dir, &env, &txn);
    bool has = mdb_dbi_open(txn, "dedupe", 0, &dbi) == 0;
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return has;
}

/* Turns the closed store into what an older schema left: its number and a
 * "dedupe" B-tree with an entry per message (the key format of schemas 3
 * and 4: the value stream_id | seq | stored_ns; schema 2 keyed by the id
 * alone, which the migration treats alike: it deletes the database). */
static void
s_make_old(fixture_t *fx, uint8_t schema, uint32_t stream_id, int messages)
{
    MDB_env *env;
    MDB_txn *txn;
    s_raw_begin(fx->dir, &env, &txn);
    MDB_dbi meta, dedupe;
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    assert_int_equal(mdb_dbi_open(txn, "dedupe", MDB_CREATE, &dedupe), 0);
    uint8_t number[8] = {schema};
    MDB_val k = {6, "schema"}, v = {sizeof number, number};
    assert_int_equal(mdb_put(txn, meta, &k, &v, 0), 0);
    for (int i = 1; i <= messages; i++) {
        char old_key[16];
        int len = snprintf(old_key, sizeof old_key, "m-%d", i);
        uint8_t val[20] = {0};
        val[0] = (uint8_t) stream_id;
        val[4] = (uint8_t) i;
        MDB_val dk = {(size_t) len, old_key}, dv = {sizeof val, val};
        assert_int_equal(mdb_put(txn, dedupe, &dk, &dv, 0), 0);
    }
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static void
s_check_migration(fixture_t *fx, uint8_t schema)
{
    uint32_t id = s_create(fx, "tele", "tele.>");
    s_put(fx, id, "node-a", "m-1");
    s_put(fx, id, "node-a", "m-2");
    fdy_store_close(&fx->store);
    s_make_old(fx, schema, id, 2);

    /* Read-only: served as it is, left at the old schema. */
    assert_foundry_ok(s_open_ro(fx, true));
    assert_int_equal(s_messages(fx, "tele"), 2);
    fdy_store_close(&fx->store);
    MDB_env *env;
    MDB_txn *txn;
    s_raw_begin(fx->dir, &env, &txn);
    assert_int_equal(s_raw_schema(txn), schema);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    assert_true(s_raw_has_dedupe_db(fx->dir));

    /* Read-write: migrated, the old database gone, the index rebuilt from
     * the records: a resend inside the window is still a duplicate. */
    assert_foundry_ok(s_open(fx));
    assert_int_equal(s_dedupe_entries(fx), 2);
    assert_int_equal(s_messages(fx, "tele"), 2);
    fdy_store_item_t resent = s_put(fx, id, "node-a", "m-2");
    assert_true(resent.duplicate);
    assert_int_equal(resent.seq, 2);
    assert_false(s_put(fx, id, "partner-b", "m-2").duplicate);
    fdy_store_close(&fx->store);
    s_raw_begin(fx->dir, &env, &txn);
    assert_int_equal(s_raw_schema(txn), FDY_STORE_SCHEMA);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    assert_false(s_raw_has_dedupe_db(fx->dir));
    assert_foundry_ok(s_open(fx));
    assert_int_equal(s_dedupe_entries(fx), 3);
}

static void
test_store_dedupe_schema_4_migrated_at_open(void **state)
{
    s_check_migration(*state, 4);
}

static void
test_store_dedupe_schema_2_migrated_at_open(void **state)
{
    s_check_migration(*state, 2);
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
        cmocka_unit_test_setup_teardown(test_store_dedupe_duplicate_within_window_not_after,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_store_dedupe_after_reopen_names_original_seq,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_store_dedupe_reopen_skips_what_the_window_forgot,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_store_dedupe_random_ids, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_store_dedupe_cap_refuses_until_ids_age_out,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_store_dedupe_schema_4_migrated_at_open, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_store_dedupe_schema_2_migrated_at_open, s_setup,
                                        s_teardown),
    };
    return cmocka_run_group_tests_name("store_dedupe", tests, NULL, NULL);
}
