/*  test_store.c: the LMDB store (store.h) on real temporary directories:
 *  append/read, sequences, dedupe and its prune, map growth and the full
 *  map, corruption and gap detection (damage made through raw LMDB), stream
 *  records and routing, reopening, and the key records.
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
#include <unistd.h>

#include <cmocka.h>

#define assert_foundry_ok(expr)                                                                   \
    do {                                                                                          \
        foundry_err err_ = (expr);                                                                \
        if (err_ != FOUNDRY_OK)                                                                   \
            fail_msg("%s: %s", #expr, foundry_strerror(err_));                                    \
    } while (0)

#define WINDOW_MS 60000u
#define SECOND_NS 1000000000ull

typedef struct {
    char dir[FX_STORE_DIR_LEN];
    fdy_store_t *store;
    fdy_reason_t reason;
} fixture_t;

static foundry_err
s_open(fixture_t *fx, uint64_t map_size, uint64_t map_size_max)
{
    fdy_store_opts_t opts = {.dir = fx->dir, .map_size = map_size, .map_size_max = map_size_max,
                             .dedupe_window_ms = WINDOW_MS, .read_only = false};
    return fdy_store_open(&opts, &fx->store, &fx->reason);
}

static int
s_setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx_store_open_tmp(fx->dir, "test_store", NULL, NULL, NULL);
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

static void
s_create(fixture_t *fx, const char *name, const char *filter)
{
    const char *filters[] = { filter };
    foundry_err err = fdy_store_stream_create(fx->store, name, filters, 1, &fx->reason);
    if (err != FOUNDRY_OK)
        fail_msg("create %s: %s", name, fx->reason.text);
}

static uint32_t
s_route(fixture_t *fx, const char *subject)
{
    uint32_t id = 0;
    assert_foundry_ok(fdy_store_stream_route(fx->store, subject, &id, NULL));
    return id;
}

/* Item i of a test batch: id "<prefix>-<n>", data "data-<n>" padded. */
typedef struct {
    char id[32];
    uint8_t data[300];
    size_t data_len;
} s_buf_t;

static void
s_item(fdy_store_item_t *it, s_buf_t *buf, uint32_t stream_id, const char *prefix, unsigned n,
       size_t data_len)
{
    memset(it, 0, sizeof *it);
    snprintf(buf->id, sizeof buf->id, "%s-%u", prefix, n);
    assert_true(data_len <= sizeof buf->data);
    memset(buf->data, 'a' + (int) (n % 26), data_len);
    snprintf((char *) buf->data, data_len, "data-%u", n);
    buf->data_len = data_len;
    it->stream_id = stream_id;
    it->msg_id = (const uint8_t *) buf->id;
    it->msg_id_len = strlen(buf->id);
    it->publisher = "tester";
    it->data = buf->data;
    it->data_len = data_len;
}

static void
s_append_ok(fixture_t *fx, fdy_store_item_t *items, size_t count)
{
    foundry_err err = fdy_store_append(fx->store, items, count, &fx->reason);
    if (err != FOUNDRY_OK)
        fail_msg("append: %s: %s", foundry_strerror(err), fx->reason.text);
}

/* Collects what a read returns. */
typedef struct {
    size_t count;
    uint64_t seqs[256];
    char ids[256][32];
    char data[256][64];
    char publisher[32];
    size_t ext_len;
    uint64_t stored_ns;
} s_got_t;

static foundry_err
s_collect(const fdy_stored_t *rec, void *user)
{
    s_got_t *got = user;
    if (got->count >= 256)
        return FOUNDRY_ETOOBIG;
    size_t i = got->count++;
    got->seqs[i] = rec->seq;
    snprintf(got->ids[i], sizeof got->ids[i], "%.*s", (int) rec->msg_id_len,
             (const char *) rec->msg_id);
    snprintf(got->data[i], sizeof got->data[i], "%.*s", (int) strnlen((const char *) rec->data,
             rec->data_len), (const char *) rec->data);
    snprintf(got->publisher, sizeof got->publisher, "%s", rec->publisher);
    got->ext_len = rec->ext_len;
    got->stored_ns = rec->stored_ns;
    return FOUNDRY_OK;
}

static foundry_err
s_read(fixture_t *fx, const char *stream, uint64_t from, size_t max, s_got_t *got)
{
    memset(got, 0, sizeof *got);
    return fdy_store_read(fx->store, stream, from, max, s_collect, got, &fx->reason);
}

static fdy_stream_info_t
s_info(fixture_t *fx, const char *name)
{
    fdy_stream_info_t *infos, found;
    size_t count;
    memset(&found, 0, sizeof found);
    assert_foundry_ok(fdy_store_stream_list(fx->store, &infos, &count));
    bool seen = false;
    for (size_t i = 0; i < count; i++)
        if (strcmp(infos[i].name, name) == 0) {
            found = infos[i];
            memset(found.filters, 0, sizeof found.filters); /* freed with infos */
            found.consumers = NULL;
            found.consumer_count = 0;
            seen = true;
        }
    fdy_store_stream_infos_free(&infos, count);
    if (!seen)
        fail_msg("stream %s not listed", name);
    return found;
}

/* ---- append and read ---------------------------------------------------- */

static void
test_store_append_read_round_trip(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx, 0, 0));
    s_create(fx, "alpha", "alpha.>");
    s_create(fx, "beta", "beta.*");
    uint32_t a = s_route(fx, "alpha.x.y"), b = s_route(fx, "beta.z");
    assert_int_not_equal(a, b);

    /* Interleaved: each stream has its own message database, so both
     * streams' records are appended in one transaction. */
    fdy_store_item_t items[10];
    s_buf_t bufs[10];
    for (unsigned i = 0; i < 10; i++)
        s_item(&items[i], &bufs[i], i % 2 ? b : a, "rt", i, 40 + i);
    uint8_t ext[1000];
    memset(ext, 0xEE, sizeof ext);
    items[3].ext = ext;
    items[3].ext_len = sizeof ext;
    uint64_t before = fdy_clock_wall_ns();
    s_append_ok(fx, items, 10);
    for (unsigned i = 0; i < 10; i++) {
        assert_int_equal(items[i].seq, i / 2 + 1);
        assert_false(items[i].duplicate);
    }

    s_got_t got;
    assert_foundry_ok(s_read(fx, "alpha", 1, 100, &got));
    assert_int_equal(got.count, 5);
    for (unsigned i = 0; i < 5; i++) {
        char want[32];
        assert_int_equal(got.seqs[i], i + 1);
        snprintf(want, sizeof want, "rt-%u", 2 * i);
        assert_string_equal(got.ids[i], want);
        snprintf(want, sizeof want, "data-%u", 2 * i);
        assert_string_equal(got.data[i], want);
    }
    assert_string_equal(got.publisher, "tester");
    assert_true(got.stored_ns >= before && got.stored_ns <= fdy_clock_wall_ns());

    /* Beta's second record (item 3) carries the external payload. */
    assert_foundry_ok(s_read(fx, "beta", 2, 1, &got));
    assert_int_equal(got.count, 1);
    assert_string_equal(got.ids[0], "rt-3");
    assert_int_equal(got.ext_len, sizeof ext);

    fdy_store_stats_t stats;
    assert_foundry_ok(fdy_store_stats(fx->store, &stats));
    assert_int_equal(stats.messages, 10);
    assert_int_equal(stats.streams, 2);
    assert_int_equal(stats.dedupe_entries, 10);
    assert_true(stats.used_bytes > 0 && stats.used_bytes <= stats.map_size);

    assert_int_equal(s_read(fx, "gamma", 1, 10, &got), FOUNDRY_ENOTFOUND);
    items[0].stream_id = 99;
    assert_int_equal(fdy_store_append(fx->store, items, 1, &fx->reason), FOUNDRY_ENOTFOUND);
}

static void
test_store_sequence_numbering(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx, 0, 0));
    s_create(fx, "seqs", "s.>");
    uint32_t id = s_route(fx, "s.a");
    s_buf_t bufs[7];
    fdy_store_item_t items[7];
    unsigned n = 0;
    for (unsigned call = 0; call < 3; call++) {
        size_t count = call + 1; /* 1, 2, 3 items per call: seqs 1..6 */
        for (size_t i = 0; i < count; i++, n++)
            s_item(&items[i], &bufs[i], id, "seq", n, 32);
        s_append_ok(fx, items, count);
        for (size_t i = 0; i < count; i++)
            assert_int_equal(items[i].seq, n - count + i + 1);
    }
    fdy_stream_info_t info = s_info(fx, "seqs");
    assert_int_equal(info.first_seq, 1);
    assert_int_equal(info.last_seq, 6);
    assert_int_equal(info.messages, 6);
    assert_int_equal(info.bytes, 6 * 32);

    s_got_t got;
    assert_foundry_ok(s_read(fx, "seqs", 0, 100, &got)); /* from 0 = from the first */
    assert_int_equal(got.count, 6);
    assert_foundry_ok(s_read(fx, "seqs", 3, 2, &got)); /* bounded by max_count */
    assert_int_equal(got.count, 2);
    assert_int_equal(got.seqs[0], 3);
    assert_int_equal(got.seqs[1], 4);
    assert_foundry_ok(s_read(fx, "seqs", 7, 10, &got)); /* past the end: nothing */
    assert_int_equal(got.count, 0);
}

/* ---- dedupe ------------------------------------------------------------- */

static void
test_store_dedupe_within_batch_and_across_calls(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx, 0, 0));
    s_create(fx, "dd", "dd.>");
    s_create(fx, "other", "other.>");
    uint32_t id = s_route(fx, "dd.x"), other = s_route(fx, "other.x");
    s_buf_t bufs[4];
    fdy_store_item_t items[4];
    s_item(&items[0], &bufs[0], id, "dup", 1, 20);
    s_item(&items[1], &bufs[1], id, "dup", 2, 20);
    s_item(&items[2], &bufs[2], id, "dup", 1, 20); /* same id as items[0] */
    s_item(&items[3], &bufs[3], id, "dup", 3, 20);
    s_append_ok(fx, items, 4);
    assert_int_equal(items[0].seq, 1);
    assert_int_equal(items[1].seq, 2);
    assert_true(items[2].duplicate);
    assert_int_equal(items[2].seq, 1);
    assert_int_equal(items[3].seq, 3);
    assert_false(items[3].duplicate);

    /* A resend in a later call: the original seq. Routed to another
     * stream it is new there (dedupe is per stream), so the ack's stream
     * and seq always name one message. */
    s_item(&items[0], &bufs[0], id, "dup", 2, 20);
    s_item(&items[1], &bufs[1], other, "dup", 3, 20);
    s_item(&items[2], &bufs[2], id, "dup", 4, 20);
    s_append_ok(fx, items, 3);
    assert_true(items[0].duplicate);
    assert_int_equal(items[0].seq, 2);
    assert_false(items[1].duplicate);
    assert_int_equal(items[1].stream_id, other);
    assert_int_equal(items[1].seq, 1);
    assert_false(items[2].duplicate);
    assert_int_equal(items[2].seq, 4);

    /* Only duplicates: acked from the index without a commit (no fsync). */
    fdy_store_stats_t before, after;
    assert_foundry_ok(fdy_store_stats(fx->store, &before));
    s_item(&items[0], &bufs[0], id, "dup", 4, 20);
    s_append_ok(fx, items, 1);
    assert_true(items[0].duplicate);
    assert_int_equal(items[0].seq, 4);
    assert_foundry_ok(fdy_store_stats(fx->store, &after));
    assert_int_equal(after.commits, before.commits);

    s_got_t got;
    assert_foundry_ok(s_read(fx, "dd", 1, 100, &got));
    assert_int_equal(got.count, 4);
    assert_string_equal(got.ids[3], "dup-4");
    assert_int_equal(s_info(fx, "dd").messages, 4);
    assert_int_equal(s_info(fx, "other").messages, 1);
    assert_int_equal(s_info(fx, "other").last_seq, 1);
}

static void
test_store_dedupe_prune_after_window(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx, 0, 0));
    s_create(fx, "pr", "pr.>");
    s_create(fx, "pr2", "pr2.>");
    uint32_t id = s_route(fx, "pr.x"), id2 = s_route(fx, "pr2.x");
    s_buf_t bufs[5];
    fdy_store_item_t items[5];
    for (unsigned i = 0; i < 5; i++)
        s_item(&items[i], &bufs[i], i < 3 ? id : id2, "pr", i, 20);
    s_append_ok(fx, items, 5);

    size_t pruned = 99;
    fdy_store_stats_t stats;
    /* Within the window nothing goes. */
    assert_foundry_ok(fdy_store_prune_dedupe(fx->store, fdy_clock_wall_ns(), 100, &pruned));
    assert_int_equal(pruned, 0);
    assert_foundry_ok(fdy_store_stats(fx->store, &stats));
    assert_int_equal(stats.dedupe_entries, 5);

    /* After it, in bounded steps. */
    uint64_t later = fdy_clock_wall_ns() + 2 * WINDOW_MS * 1000000ull;
    size_t total = 0;
    assert_foundry_ok(fdy_store_prune_dedupe(fx->store, later, 2, &pruned));
    assert_int_equal(pruned, 2);
    total += pruned;
    for (int turn = 0; turn < 10 && total < 5; turn++) {
        assert_foundry_ok(fdy_store_prune_dedupe(fx->store, later, 2, &pruned));
        assert_true(pruned <= 2);
        total += pruned;
    }
    assert_int_equal(total, 5);
    assert_foundry_ok(fdy_store_stats(fx->store, &stats));
    assert_int_equal(stats.dedupe_entries, 0);
    assert_foundry_ok(fdy_store_prune_dedupe(fx->store, later, 100, &pruned));
    assert_int_equal(pruned, 0);

    /* Forgotten ids are new messages again; the records stay readable. */
    s_item(&items[0], &bufs[0], id, "pr", 0, 20);
    s_append_ok(fx, items, 1);
    assert_false(items[0].duplicate);
    assert_int_equal(items[0].seq, 4);
    s_got_t got;
    assert_foundry_ok(s_read(fx, "pr", 1, 100, &got));
    assert_int_equal(got.count, 4);
    assert_foundry_ok(fdy_store_stats(fx->store, &stats));
    assert_int_equal(stats.dedupe_entries, 1);
}

/* ---- map growth and the full map ---------------------------------------- */

static void
test_store_map_grows_from_tiny(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx, 1u << 20, 64u << 20));
    s_create(fx, "big", "big.>");
    uint32_t id = s_route(fx, "big.x");
    enum { PER = 100, CALLS = 25, SIZE = 4000 };
    uint8_t *payload = calloc(1, SIZE);
    assert_non_null(payload);
    fdy_store_item_t items[PER];
    char ids[PER][32];
    for (unsigned c = 0; c < CALLS; c++) {
        for (unsigned i = 0; i < PER; i++) {
            memset(&items[i], 0, sizeof items[i]);
            snprintf(ids[i], sizeof ids[i], "g-%u-%u", c, i);
            items[i].stream_id = id;
            items[i].msg_id = (const uint8_t *) ids[i];
            items[i].msg_id_len = strlen(ids[i]);
            items[i].data = payload;
            items[i].data_len = SIZE;
        }
        s_append_ok(fx, items, PER);
    }
    free(payload);
    fdy_store_stats_t stats;
    assert_foundry_ok(fdy_store_stats(fx->store, &stats));
    assert_true(stats.map_size > (8u << 20)); /* 10 MB of payload is in it */
    assert_true(stats.map_size <= (64u << 20));
    assert_int_equal(stats.messages, PER * CALLS);
    /* Attempts that hit MDB_MAP_FULL left no dedupe entry behind. */
    assert_int_equal(stats.dedupe_entries, PER * CALLS);
    fdy_stream_info_t info = s_info(fx, "big");
    assert_int_equal(info.last_seq, PER * CALLS);
    s_got_t got;
    assert_foundry_ok(s_read(fx, "big", PER * CALLS - 9, 100, &got));
    assert_int_equal(got.count, 10);

    /* Reopened with the tiny size again, the grown map is kept. */
    uint64_t grown = stats.map_size;
    fdy_store_close(&fx->store);
    assert_foundry_ok(s_open(fx, 1u << 20, 64u << 20));
    assert_foundry_ok(fdy_store_stats(fx->store, &stats));
    assert_int_equal(stats.map_size, grown);
    assert_foundry_ok(s_read(fx, "big", 1, 100, &got));
    assert_int_equal(got.count, 100);
}

static void
test_store_full_at_max_refuses_writes_keeps_reads(void **state)
{
    fixture_t *fx = *state;
    /* Not a power-of-two multiple: the last growth is capped at the max. */
    assert_foundry_ok(s_open(fx, 1u << 20, 3u << 20));
    s_create(fx, "full", "full.>");
    uint32_t id = s_route(fx, "full.x");
    enum { PER = 20, SIZE = 4000 };
    uint8_t *payload = calloc(1, SIZE);
    assert_non_null(payload);
    fdy_store_item_t items[PER];
    char ids[PER][32];
    foundry_err err = FOUNDRY_OK;
    unsigned calls = 0;
    for (; calls < 100 && err == FOUNDRY_OK; calls++) {
        for (unsigned i = 0; i < PER; i++) {
            memset(&items[i], 0, sizeof items[i]);
            snprintf(ids[i], sizeof ids[i], "f-%u-%u", calls, i);
            items[i].stream_id = id;
            items[i].msg_id = (const uint8_t *) ids[i];
            items[i].msg_id_len = strlen(ids[i]);
            items[i].data = payload;
            items[i].data_len = SIZE;
        }
        err = fdy_store_append(fx->store, items, PER, &fx->reason);
    }
    assert_int_equal(err, FOUNDRY_EFULL);
    assert_non_null(strstr(fx->reason.text, "store full"));
    assert_int_equal(items[0].seq, 0);
    unsigned stored = (calls - 1) * PER; /* the last call stored nothing */
    assert_true(stored > 0);

    fdy_store_stats_t stats;
    assert_foundry_ok(fdy_store_stats(fx->store, &stats));
    assert_int_equal(stats.map_size, 3u << 20);
    assert_int_equal(stats.messages, stored);
    /* The refused call claimed no id: sent again later, it is stored. */
    assert_int_equal(stats.dedupe_entries, stored);
    fdy_stream_info_t info = s_info(fx, "full");
    assert_int_equal(info.last_seq, stored);

    /* Reads keep working, all of them. */
    s_got_t got;
    size_t seen = 0;
    for (uint64_t from = 1; from <= stored; from += 100) {
        assert_foundry_ok(s_read(fx, "full", from, 100, &got));
        seen += got.count;
    }
    assert_int_equal(seen, stored);
    /* And writes stay refused with the same error. */
    assert_int_equal(fdy_store_append(fx->store, items, PER, &fx->reason), FOUNDRY_EFULL);
    free(payload);
}

/* ---- corruption --------------------------------------------------------- */

/* Schema 2 and 3: messages of stream <id> live in database "m.<id>", keyed by
 * seq (u64 big endian). */
static void
s_msg_key(uint8_t *key, uint64_t seq)
{
    for (int i = 0; i < 8; i++)
        key[i] = (uint8_t) (seq >> (56 - 8 * i));
}

/* Opens the store's LMDB directly, as a damaged disk or a bug would. The
 * store must be closed: LMDB forbids one process opening an env twice. */
static void
s_raw_damage(const char *dir, uint32_t stream_id, uint64_t seq, bool delete_it)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    char db_name[32];
    snprintf(db_name, sizeof db_name, "m.%u", stream_id);
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 4096), 0);
    assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, db_name, 0, &dbi), 0);
    uint8_t key[8];
    s_msg_key(key, seq);
    MDB_val k = { sizeof key, key }, v;
    if (delete_it) {
        assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
    }
    else {
        assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
        uint8_t copy[512];
        assert_true(v.mv_size <= sizeof copy);
        memcpy(copy, v.mv_data, v.mv_size);
        copy[v.mv_size - 1] ^= 0x01; /* one bit of the payload */
        v.mv_data = copy;
        assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    }
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static void
s_fill_five(fixture_t *fx, const char *name, uint32_t *id_out)
{
    char filter[32];
    snprintf(filter, sizeof filter, "%s.>", name);
    s_create(fx, name, filter);
    snprintf(filter, sizeof filter, "%s.x", name);
    *id_out = s_route(fx, filter);
    s_buf_t bufs[5];
    fdy_store_item_t items[5];
    for (unsigned i = 0; i < 5; i++)
        s_item(&items[i], &bufs[i], *id_out, name, i, 50);
    s_append_ok(fx, items, 5);
}

static void
test_store_checksum_corruption_detected(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx, 0, 0));
    uint32_t id;
    s_fill_five(fx, "crc", &id);
    fdy_store_close(&fx->store);
    s_raw_damage(fx->dir, id, 3, false);
    assert_foundry_ok(s_open(fx, 0, 0));

    s_got_t got;
    assert_int_equal(s_read(fx, "crc", 1, 100, &got), FOUNDRY_ECORRUPT);
    assert_int_equal(got.count, 2); /* 1 and 2 served, nothing from 3 on */
    assert_non_null(strstr(fx->reason.text, "crc"));
    assert_non_null(strstr(fx->reason.text, "seq 3"));
    assert_non_null(strstr(fx->reason.text, "checksum"));
    assert_foundry_ok(s_read(fx, "crc", 4, 100, &got));
    assert_int_equal(got.count, 2);
}

static void
test_store_gap_detected(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx, 0, 0));
    uint32_t id;
    s_fill_five(fx, "gap", &id);
    fdy_store_close(&fx->store);
    s_raw_damage(fx->dir, id, 2, true);
    assert_foundry_ok(s_open(fx, 0, 0));

    s_got_t got;
    assert_int_equal(s_read(fx, "gap", 1, 100, &got), FOUNDRY_ECORRUPT);
    assert_int_equal(got.count, 1);
    assert_non_null(strstr(fx->reason.text, "gap"));
    assert_non_null(strstr(fx->reason.text, "seq 2"));
    /* Also when the read starts at the hole, and when the tail is gone. */
    assert_int_equal(s_read(fx, "gap", 2, 100, &got), FOUNDRY_ECORRUPT);
    assert_int_equal(got.count, 0);
    fdy_store_close(&fx->store);
    s_raw_damage(fx->dir, id, 5, true);
    assert_foundry_ok(s_open(fx, 0, 0));
    assert_int_equal(s_read(fx, "gap", 3, 100, &got), FOUNDRY_ECORRUPT);
    assert_int_equal(got.count, 2);
    assert_non_null(strstr(fx->reason.text, "seq 5"));
}

/* ---- streams ------------------------------------------------------------ */

static void
test_store_stream_create_route_list(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx, 0, 0));
    const char *f1[] = { "telemetry.siheung.>", "jobs.siheung.*" };
    const char *f2[] = { "telemetry.>" };
    assert_foundry_ok(fdy_store_stream_create(fx->store, "telemetry-siheung", f1, 2, &fx->reason));
    assert_foundry_ok(fdy_store_stream_create(fx->store, "all_telemetry", f2, 1, &fx->reason));

    uint32_t id = 0;
    const char *name = NULL;
    /* First stream by creation order wins where filters overlap. */
    assert_foundry_ok(fdy_store_stream_route(fx->store, "telemetry.siheung.r1", &id, &name));
    assert_string_equal(name, "telemetry-siheung");
    uint32_t first = id;
    assert_foundry_ok(fdy_store_stream_route(fx->store, "jobs.siheung.run", &id, &name));
    assert_int_equal(id, first);
    assert_foundry_ok(fdy_store_stream_route(fx->store, "telemetry.hanam.r1", &id, &name));
    assert_string_equal(name, "all_telemetry");
    assert_string_equal(fdy_store_stream_name(fx->store, id), "all_telemetry");
    assert_null(fdy_store_stream_name(fx->store, 999));
    assert_int_equal(fdy_store_stream_route(fx->store, "jobs.siheung.a.b", &id, NULL),
                     FOUNDRY_ENOSTREAM);
    assert_int_equal(fdy_store_stream_route(fx->store, "models.x", &id, NULL), FOUNDRY_ENOSTREAM);

    assert_int_equal(fdy_store_stream_create(fx->store, "all_telemetry", f2, 1, &fx->reason),
                     FOUNDRY_EEXIST);
    const char *bad_names[] = {
        "", "a.b", "x y", "caf\xc3\xa9", "a/b",
        "0123456789012345678901234567890123456789012345678901234567890123", /* 64 */
    };
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++)
        if (fdy_store_stream_create(fx->store, bad_names[i], f2, 1, &fx->reason) != FOUNDRY_EINVAL)
            fail_msg("name '%s' accepted", bad_names[i]);
    const char *bad_filters[][1] = { { "" }, { "a..b" }, { ">.a" }, { "a.b c" }, { "a.*x" } };
    for (size_t i = 0; i < sizeof bad_filters / sizeof bad_filters[0]; i++)
        if (fdy_store_stream_create(fx->store, "okname", bad_filters[i], 1, &fx->reason) !=
            FOUNDRY_EINVAL)
            fail_msg("filter '%s' accepted", bad_filters[i][0]);
    assert_int_equal(fdy_store_stream_create(fx->store, "okname", f2, 0, &fx->reason),
                     FOUNDRY_EINVAL);
    const char *many[FDY_STREAM_FILTERS_MAX + 1];
    for (size_t i = 0; i <= FDY_STREAM_FILTERS_MAX; i++)
        many[i] = "a.b";
    assert_int_equal(fdy_store_stream_create(fx->store, "okname", many,
                                             FDY_STREAM_FILTERS_MAX + 1, &fx->reason),
                     FOUNDRY_EINVAL);
    /* The longest valid name works. */
    assert_foundry_ok(fdy_store_stream_create(
        fx->store, "012345678901234567890123456789012345678901234567890123456789012", f2, 1,
        &fx->reason));

    fdy_stream_info_t *infos;
    size_t count;
    assert_foundry_ok(fdy_store_stream_list(fx->store, &infos, &count));
    assert_int_equal(count, 3);
    assert_string_equal(infos[0].name, "telemetry-siheung"); /* creation order */
    assert_int_equal(infos[0].filter_count, 2);
    assert_string_equal(infos[0].filters[0], "telemetry.siheung.>");
    assert_string_equal(infos[0].filters[1], "jobs.siheung.*");
    assert_string_equal(infos[1].name, "all_telemetry");
    assert_int_equal(infos[1].first_seq, 0);
    assert_int_equal(infos[1].last_seq, 0);
    assert_true(infos[1].created_ns > 0);
    fdy_store_stream_infos_free(&infos, count);
    assert_null(infos);
}

/* ---- reopen and keys ---------------------------------------------------- */

static foundry_err
s_key_collect(const char *name, const uint8_t *rec, size_t len, void *user)
{
    char *out = user;
    size_t used = strlen(out);
    snprintf(out + used, 256 - used, "%s=%.*s;", name, (int) len, (const char *) rec);
    return FOUNDRY_OK;
}

static void
test_store_keys_put_list_generation(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx, 0, 0));
    assert_int_equal(fdy_store_key_generation(fx->store), 0);
    assert_foundry_ok(fdy_store_key_put(fx->store, "zed", (const uint8_t *) "Z1", 2, &fx->reason));
    assert_int_equal(fdy_store_key_generation(fx->store), 1);
    assert_foundry_ok(fdy_store_key_put(fx->store, "amy", (const uint8_t *) "A1", 2, &fx->reason));
    assert_foundry_ok(fdy_store_key_put(fx->store, "zed", (const uint8_t *) "Z2", 2, &fx->reason));
    assert_int_equal(fdy_store_key_generation(fx->store), 3);
    char listed[256] = "";
    assert_foundry_ok(fdy_store_key_list(fx->store, s_key_collect, listed, &fx->reason));
    assert_string_equal(listed, "amy=A1;zed=Z2;");
    assert_int_equal(fdy_store_key_put(fx->store, "", (const uint8_t *) "x", 1, &fx->reason),
                     FOUNDRY_EINVAL);
}

static void
test_store_reopen_keeps_everything(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx, 1u << 20, 64u << 20));
    s_create(fx, "keep", "keep.>");
    s_create(fx, "keep2", "keep2.>");
    uint32_t id = s_route(fx, "keep.a"), id2 = s_route(fx, "keep2.a");
    s_buf_t bufs[3];
    fdy_store_item_t items[3];
    for (unsigned i = 0; i < 3; i++)
        s_item(&items[i], &bufs[i], i == 2 ? id2 : id, "keep", i, 30);
    s_append_ok(fx, items, 3);
    assert_foundry_ok(fdy_store_key_put(fx->store, "k", (const uint8_t *) "rec", 3, &fx->reason));
    fdy_store_close(&fx->store);
    assert_null(fx->store);

    assert_foundry_ok(s_open(fx, 1u << 20, 64u << 20));
    assert_int_equal(s_route(fx, "keep.zzz"), id);
    assert_int_equal(s_route(fx, "keep2.zzz"), id2);
    assert_string_equal(fdy_store_stream_name(fx->store, id2), "keep2");
    s_got_t got;
    assert_foundry_ok(s_read(fx, "keep", 1, 10, &got));
    assert_int_equal(got.count, 2);
    assert_string_equal(got.ids[1], "keep-1");
    assert_int_equal(fdy_store_key_generation(fx->store), 1);
    char listed[256] = "";
    assert_foundry_ok(fdy_store_key_list(fx->store, s_key_collect, listed, &fx->reason));
    assert_string_equal(listed, "k=rec;");
    /* The dedupe index survived, and sequences continue. */
    s_item(&items[0], &bufs[0], id, "keep", 1, 30);
    s_item(&items[1], &bufs[1], id, "keep", 7, 30);
    s_append_ok(fx, items, 2);
    assert_true(items[0].duplicate);
    assert_int_equal(items[0].seq, 2);
    assert_false(items[1].duplicate);
    assert_int_equal(items[1].seq, 3);
    /* New streams get new ids. */
    s_create(fx, "keep3", "keep3.>");
    uint32_t id3 = s_route(fx, "keep3.a");
    assert_true(id3 != id && id3 != id2);

    /* A read-only open sees the same and cannot write. */
    fdy_store_close(&fx->store);
    fdy_store_opts_t ro = {.dir = fx->dir, .map_size = 0, .map_size_max = 0,
                             .dedupe_window_ms = WINDOW_MS, .read_only = true};
    assert_foundry_ok(fdy_store_open(&ro, &fx->store, &fx->reason));
    assert_foundry_ok(s_read(fx, "keep", 1, 10, &got));
    assert_int_equal(got.count, 3);
    assert_int_not_equal(fdy_store_append(fx->store, items, 1, &fx->reason), FOUNDRY_OK);
}

/* RssFile of this process, in KiB, from /proc/self/status. */
static long
s_rss_file_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    assert_non_null(f);
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "RssFile: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

static foundry_err
s_touch(const fdy_stored_t *rec, void *user)
{
    size_t *sum = user;
    for (size_t i = 0; i < rec->data_len; i += 64)
        *sum += rec->data[i];
    return FOUNDRY_OK;
}

/* Reading a long stream maps its pages into the process; releasing them
 * must shrink the resident set and keep every record readable. */
static void
test_store_release_pages_shrinks_resident_set(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx, 64u << 20, 256u << 20));
    s_create(fx, "big", "big.>");
    uint32_t id = s_route(fx, "big.x");
    enum { BATCH = 256, BATCHES = 160 }; /* 40,960 records of 300 bytes: ~16 MiB */
    static fdy_store_item_t items[BATCH];
    static s_buf_t bufs[BATCH];
    for (unsigned b = 0; b < BATCHES; b++) {
        for (unsigned i = 0; i < BATCH; i++)
            s_item(&items[i], &bufs[i], id, "rel", b * BATCH + i, 300);
        s_append_ok(fx, items, BATCH);
    }
    size_t sum = 0;
    for (uint64_t from = 1; from <= BATCH * BATCHES; from += 1000)
        assert_foundry_ok(fdy_store_read(fx->store, "big", from, 1000, s_touch, &sum, &fx->reason));
    long before = s_rss_file_kib();
    fdy_store_release_pages(fx->store);
    long after = s_rss_file_kib();
    assert_true(before > 8 * 1024); /* the read mapped most of the 16 MiB */
    if (after >= before / 2)
        fail_msg("RssFile %ld KiB before, %ld KiB after release", before, after);
    size_t again = 0;
    for (uint64_t from = 1; from <= BATCH * BATCHES; from += 1000)
        assert_foundry_ok(
            fdy_store_read(fx->store, "big", from, 1000, s_touch, &again, &fx->reason));
    assert_true(again == sum);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_append_read_round_trip, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_store_release_pages_shrinks_resident_set, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_store_sequence_numbering, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_store_dedupe_within_batch_and_across_calls, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_store_dedupe_prune_after_window, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_store_map_grows_from_tiny, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_store_full_at_max_refuses_writes_keeps_reads, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_store_checksum_corruption_detected, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_store_gap_detected, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_store_stream_create_route_list, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_store_keys_put_list_generation, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_store_reopen_keeps_everything, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
