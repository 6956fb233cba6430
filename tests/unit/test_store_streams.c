/*  test_store_streams.c: the store's issue-3 features on real temporary
 *  directories: schema refusal, one database per stream, stream update,
 *  delete and info, retention (each limit, bounded work, reads, gaps,
 *  dedupe), durable consumers and their states, group commit, dead letters.
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
            fail_msg("%s: %s (%s)", #expr, foundry_strerror(err_), fx->reason.text);             \
    } while (0)

#define WINDOW_MS 60000u
#define MS_NS 1000000ull

typedef struct {
    char dir[FX_STORE_DIR_LEN];
    fdy_store_t *store;
    fdy_reason_t reason;
} fixture_t;

static foundry_err
s_open(fixture_t *fx)
{
    fdy_store_opts_t opts = {.dir = fx->dir, .map_size = 1u << 20, .map_size_max = 256u << 20,
                             .dedupe_window_ms = WINDOW_MS, .read_only = false};
    return fdy_store_open(&opts, &fx->store, &fx->reason);
}

static void
s_reopen(fixture_t *fx)
{
    fdy_store_close(&fx->store);
    assert_foundry_ok(s_open(fx));
}

static int
s_setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx_store_open_tmp(fx->dir, "test_store_streams", NULL, NULL, NULL);
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
s_create(fixture_t *fx, const char *name, const char *filter, const fdy_stream_limits_t *limits)
{
    const char *filters[] = { filter };
    foundry_err err = fdy_store_stream_create_ex(fx->store, name, filters, filter ? 1 : 0, limits,
                                                 &fx->reason);
    if (err != FOUNDRY_OK)
        fail_msg("create %s: %s", name, fx->reason.text);
    uint32_t id = 0;
    assert_foundry_ok(fdy_store_stream_lookup(fx->store, name, &id));
    return id;
}

/* Message n: id "<prefix>-<n>", data_len bytes starting "data-<n>". */
typedef struct {
    char id[32];
    uint8_t data[512];
} s_buf_t;

static void
s_item(fdy_store_item_t *it, s_buf_t *buf, uint32_t stream_id, const char *prefix, unsigned n,
       size_t data_len)
{
    memset(it, 0, sizeof *it);
    snprintf(buf->id, sizeof buf->id, "%s-%u", prefix, n);
    assert_true(data_len <= sizeof buf->data && data_len >= 12);
    memset(buf->data, 'a' + (int) (n % 26), data_len);
    snprintf((char *) buf->data, data_len, "data-%u", n);
    it->stream_id = stream_id;
    it->msg_id = (const uint8_t *) buf->id;
    it->msg_id_len = strlen(buf->id);
    it->publisher = "tester";
    it->data = buf->data;
    it->data_len = data_len;
}

/* Appends count messages prefix-first..prefix-(first+count-1) in one call. */
static void
s_append_n(fixture_t *fx, uint32_t stream_id, const char *prefix, unsigned first, unsigned count,
           size_t data_len)
{
    fdy_store_item_t *items = calloc(count, sizeof *items);
    s_buf_t *bufs = calloc(count, sizeof *bufs);
    assert_non_null(items);
    assert_non_null(bufs);
    for (unsigned i = 0; i < count; i++)
        s_item(&items[i], &bufs[i], stream_id, prefix, first + i, data_len);
    foundry_err err = fdy_store_append(fx->store, items, count, &fx->reason);
    if (err != FOUNDRY_OK)
        fail_msg("append: %s: %s", foundry_strerror(err), fx->reason.text);
    for (unsigned i = 0; i < count; i++)
        assert_false(items[i].duplicate);
    free(items);
    free(bufs);
}

/* Appends one message and returns its item (seq, duplicate). */
static fdy_store_item_t
s_append_one(fixture_t *fx, uint32_t stream_id, const char *prefix, unsigned n)
{
    fdy_store_item_t it;
    s_buf_t buf;
    s_item(&it, &buf, stream_id, prefix, n, 32);
    assert_foundry_ok(fdy_store_append(fx->store, &it, 1, &fx->reason));
    it.msg_id = NULL;
    it.data = NULL;
    return it;
}

typedef struct {
    size_t count;
    uint64_t seqs[2048];
    uint64_t stored_ns[2048];
    char ids[2048][24];
    size_t data_len;
    char first_data[64];
    size_t ext_len;
    uint8_t ext_first;
    char publisher[32];
    bool dead;
    char dl_stream[64];
    uint64_t dl_seq;
    uint64_t dl_stored_ns;
    char dl_consumer[64];
    uint32_t dl_deliveries;
    char dl_reason[128];
} s_got_t;

static foundry_err
s_collect(const fdy_stored_t *rec, void *user)
{
    s_got_t *got = user;
    if (got->count >= 2048)
        return FOUNDRY_ETOOBIG;
    size_t i = got->count++;
    got->seqs[i] = rec->seq;
    got->stored_ns[i] = rec->stored_ns;
    snprintf(got->ids[i], sizeof got->ids[i], "%.*s", (int) rec->msg_id_len,
             (const char *) rec->msg_id);
    if (i == 0) {
        got->data_len = rec->data_len;
        snprintf(got->first_data, sizeof got->first_data, "%.*s",
                 (int) strnlen((const char *) rec->data, rec->data_len), (const char *) rec->data);
        got->ext_len = rec->ext_len;
        got->ext_first = rec->ext_len ? rec->ext[0] : 0;
        snprintf(got->publisher, sizeof got->publisher, "%s", rec->publisher);
        got->dead = rec->dead_letter != NULL;
        if (rec->dead_letter) {
            const fdy_dead_letter_info_t *dl = rec->dead_letter;
            snprintf(got->dl_stream, sizeof got->dl_stream, "%s", dl->stream);
            got->dl_seq = dl->seq;
            got->dl_stored_ns = dl->stored_ns;
            snprintf(got->dl_consumer, sizeof got->dl_consumer, "%s", dl->consumer);
            got->dl_deliveries = dl->deliveries;
            snprintf(got->dl_reason, sizeof got->dl_reason, "%s", dl->reason);
        }
    }
    return FOUNDRY_OK;
}

static foundry_err
s_read(fixture_t *fx, const char *stream, uint64_t from, size_t max, s_got_t *got)
{
    memset(got, 0, sizeof *got);
    return fdy_store_read(fx->store, stream, from, max, s_collect, got, &fx->reason);
}

/* Info without filters or consumer names (they are freed here). */
static fdy_stream_info_t
s_info(fixture_t *fx, const char *name)
{
    fdy_stream_info_t info;
    assert_foundry_ok(fdy_store_stream_info(fx->store, name, &info, &fx->reason));
    fdy_stream_info_t copy = info;
    fdy_store_stream_info_clear(&info);
    memset(copy.filters, 0, sizeof copy.filters);
    copy.filter_count = 0;
    copy.consumers = NULL;
    copy.consumer_count = 0;
    return copy;
}

static fdy_store_stats_t
s_stats(fixture_t *fx)
{
    fdy_store_stats_t stats;
    assert_foundry_ok(fdy_store_stats(fx->store, &stats));
    return stats;
}

/* Trims with max_work until nothing is left to do; checks each call's
 * bound and returns the total. */
static size_t
s_trim_all(fixture_t *fx, uint64_t now_ns, size_t max_work, size_t *calls_out)
{
    size_t total = 0, trimmed = 0, calls = 0;
    do {
        assert_foundry_ok(fdy_store_trim(fx->store, now_ns, max_work, &trimmed));
        assert_true(trimmed <= max_work);
        total += trimmed;
        calls++;
    } while (trimmed > 0 && calls < 10000);
    if (calls_out)
        *calls_out = calls;
    return total;
}

/* ---- raw LMDB ------------------------------------------------------------ */

typedef struct {
    MDB_env *env;
    MDB_txn *txn;
} s_raw_t;

static void
s_raw_begin(const char *dir, s_raw_t *raw)
{
    assert_int_equal(mdb_env_create(&raw->env), 0);
    assert_int_equal(mdb_env_set_maxdbs(raw->env, 4096), 0);
    assert_int_equal(mdb_env_open(raw->env, dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(raw->env, NULL, 0, &raw->txn), 0);
}

static void
s_raw_end(s_raw_t *raw)
{
    assert_int_equal(mdb_txn_commit(raw->txn), 0);
    mdb_env_close(raw->env);
}

static void
s_raw_put_u64(s_raw_t *raw, const char *db, const char *key, uint64_t value)
{
    MDB_dbi dbi;
    assert_int_equal(mdb_dbi_open(raw->txn, db, MDB_CREATE, &dbi), 0);
    uint8_t buf[8];
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t) (value >> (8 * i));
    MDB_val k = { strlen(key), (void *) key }, v = { sizeof buf, buf };
    assert_int_equal(mdb_put(raw->txn, dbi, &k, &v, 0), 0);
}

static bool
s_raw_db_exists(s_raw_t *raw, const char *db)
{
    MDB_dbi dbi;
    return mdb_dbi_open(raw->txn, db, 0, &dbi) == 0;
}

static void
s_seq_key(uint8_t *key, uint64_t seq)
{
    for (int i = 0; i < 8; i++)
        key[i] = (uint8_t) (seq >> (56 - 8 * i));
}

/* ---- schema and layout ---------------------------------------------------- */

static void
test_store_streams_schema_version_refused(void **state)
{
    fixture_t *fx = *state;
    /* A store as schema 1 left it: meta says 1, messages in "msgs". */
    s_raw_t raw;
    s_raw_begin(fx->dir, &raw);
    s_raw_put_u64(&raw, "meta", "schema", 1);
    s_raw_put_u64(&raw, "msgs", "x", 0);
    s_raw_end(&raw);

    assert_int_equal(s_open(fx), FOUNDRY_EVERSION);
    assert_null(fx->store);
    assert_non_null(strstr(fx->reason.text, "schema version 1"));
    assert_non_null(strstr(fx->reason.text, "older"));
    /* Refused before anything was created or changed. */
    s_raw_begin(fx->dir, &raw);
    assert_false(s_raw_db_exists(&raw, "consumers"));
    assert_false(s_raw_db_exists(&raw, "streams"));
    assert_true(s_raw_db_exists(&raw, "msgs"));
    /* A newer schema is refused too. */
    s_raw_put_u64(&raw, "meta", "schema", FDY_STORE_SCHEMA + 1);
    s_raw_end(&raw);
    assert_int_equal(s_open(fx), FOUNDRY_EVERSION);
    assert_non_null(strstr(fx->reason.text, "newer"));
    fdy_store_opts_t ro = {.dir = fx->dir, .map_size = 0, .map_size_max = 0,
                             .dedupe_window_ms = WINDOW_MS, .read_only = true};
    assert_int_equal(fdy_store_open(&ro, &fx->store, &fx->reason), FOUNDRY_EVERSION);

    /* The current version opens (schema 2 and 3 are migrated:
     * test_store_dedupe.c, test_registry.c). */
    s_raw_begin(fx->dir, &raw);
    s_raw_put_u64(&raw, "meta", "schema", FDY_STORE_SCHEMA);
    s_raw_end(&raw);
    assert_foundry_ok(s_open(fx));
}

/* Interleaved appends to six streams fill every stream's pages (MDB_APPEND
 * everywhere), where one shared database split them in half. */
static void
test_store_streams_layout_one_database_per_stream(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx));
    enum { STREAMS = 6, ROUNDS = 40, PER = 25, SIZE = 200 };
    uint32_t ids[STREAMS];
    for (int s = 0; s < STREAMS; s++) {
        char name[16], filter[16];
        snprintf(name, sizeof name, "s%d", s);
        snprintf(filter, sizeof filter, "s%d.>", s);
        ids[s] = s_create(fx, name, filter, NULL);
    }
    fdy_store_item_t items[STREAMS * PER];
    s_buf_t *bufs = calloc(STREAMS * PER, sizeof *bufs);
    assert_non_null(bufs);
    for (unsigned r = 0; r < ROUNDS; r++) {
        for (unsigned i = 0; i < STREAMS * PER; i++)
            s_item(&items[i], &bufs[i], ids[i % STREAMS], "lay", r * STREAMS * PER + i, SIZE);
        assert_foundry_ok(fdy_store_append(fx->store, items, STREAMS * PER, &fx->reason));
    }
    free(bufs);
    fdy_store_close(&fx->store);

    s_raw_t raw;
    s_raw_begin(fx->dir, &raw);
    MDB_dbi dbi;
    assert_int_not_equal(mdb_dbi_open(raw.txn, "msgs", 0, &dbi), 0);
    for (int s = 0; s < STREAMS; s++) {
        char db[16];
        snprintf(db, sizeof db, "m.%u", ids[s]);
        assert_int_equal(mdb_dbi_open(raw.txn, db, 0, &dbi), 0);
        MDB_stat st;
        assert_int_equal(mdb_stat(raw.txn, dbi, &st), 0);
        assert_int_equal(st.ms_entries, ROUNDS * PER);
        /* record = 20 header + 6 publisher + id + 200 data; node = 8 + key 8 */
        double used = (double) st.ms_entries * (20 + 6 + 9 + SIZE + 16);
        double fill = used / ((double) st.ms_leaf_pages * st.ms_psize);
        if (fill < 0.85)
            fail_msg("stream %d: leaf pages %.0f%% full (split instead of appended)", s,
                     fill * 100);
    }
    s_raw_end(&raw);
}

/* ---- create, info, update ------------------------------------------------ */

static void
test_store_streams_create_ex_info_and_lookup(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx));
    fdy_stream_limits_t lim = { 3600000, 1u << 30, 1000000 };
    const char *filters[] = { "telemetry.pangyo.>", "lab.*.temp" };
    assert_foundry_ok(
        fdy_store_stream_create_ex(fx->store, "tp", filters, 2, &lim, &fx->reason));
    /* Filter-less: reachable by name only. */
    uint32_t byname = s_create(fx, "byname", NULL, NULL);
    assert_int_equal(fdy_store_stream_create(fx->store, "legacy", filters, 0, &fx->reason),
                     FOUNDRY_EINVAL); /* the old function still needs a filter */
    uint32_t id = 0;
    assert_foundry_ok(fdy_store_stream_route(fx->store, "lab.x.temp", &id, NULL));
    assert_int_not_equal(id, byname);
    assert_int_equal(fdy_store_stream_route(fx->store, "byname", &id, NULL), FOUNDRY_ENOSTREAM);
    assert_int_equal(fdy_store_stream_lookup(fx->store, "nope", &id), FOUNDRY_ENOTFOUND);

    s_append_n(fx, byname, "bn", 0, 3, 40);
    fdy_stream_info_t info;
    assert_foundry_ok(fdy_store_stream_info(fx->store, "tp", &info, &fx->reason));
    assert_string_equal(info.name, "tp");
    assert_int_equal(info.limits.max_age_ms, 3600000);
    assert_int_equal(info.limits.max_bytes, 1u << 30);
    assert_int_equal(info.limits.max_msgs, 1000000);
    assert_int_equal(info.filter_count, 2);
    assert_string_equal(info.filters[1], "lab.*.temp");
    assert_int_equal(info.consumer_count, 0);
    fdy_store_stream_info_clear(&info);
    fdy_stream_info_t bn = s_info(fx, "byname");
    assert_int_equal(bn.first_seq, 1);
    assert_int_equal(bn.last_seq, 3);
    assert_int_equal(bn.messages, 3);
    assert_int_equal(bn.bytes, 120);
    assert_int_equal(bn.limits.max_msgs, 0);

    assert_int_equal(fdy_store_stream_info(fx->store, "nope", &info, &fx->reason),
                     FOUNDRY_ENOTFOUND);
    assert_null(info.consumers);
    fdy_store_stream_info_clear(&info); /* safe after an error */
    fdy_stream_limits_t huge = { UINT64_MAX, 0, 0 };
    assert_int_equal(
        fdy_store_stream_create_ex(fx->store, "huge", filters, 1, &huge, &fx->reason),
        FOUNDRY_EINVAL);

    /* Limits survive a reopen. */
    s_reopen(fx);
    assert_int_equal(s_info(fx, "tp").limits.max_age_ms, 3600000);
    fdy_stream_info_t *infos;
    size_t count;
    assert_foundry_ok(fdy_store_stream_list(fx->store, &infos, &count));
    assert_int_equal(count, 2);
    assert_string_equal(infos[0].name, "tp");
    assert_int_equal(infos[0].limits.max_msgs, 1000000);
    assert_int_equal(infos[1].filter_count, 0);
    fdy_store_stream_infos_free(&infos, count);
}

static void
test_store_streams_update_filters_and_limits(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx));
    uint32_t a = s_create(fx, "a", "a.>", NULL);
    s_create(fx, "b", "b.>", NULL);
    uint32_t id = 0;
    const char *name = NULL;
    assert_foundry_ok(fdy_store_stream_route(fx->store, "a.x", &id, &name));
    assert_string_equal(name, "a");

    /* New filters route at once; limits untouched when NULL. */
    const char *nf[] = { "c.>", "d.*" };
    assert_foundry_ok(fdy_store_stream_update(fx->store, "a", nf, 2, NULL, &fx->reason));
    assert_int_equal(fdy_store_stream_route(fx->store, "a.x", &id, NULL), FOUNDRY_ENOSTREAM);
    assert_foundry_ok(fdy_store_stream_route(fx->store, "d.y", &id, NULL));
    assert_int_equal(id, a);
    /* Limits only: filters kept. */
    fdy_stream_limits_t lim = { 0, 0, 5 };
    assert_foundry_ok(fdy_store_stream_update(fx->store, "a", NULL, 0, &lim, &fx->reason));
    fdy_stream_info_t info;
    assert_foundry_ok(fdy_store_stream_info(fx->store, "a", &info, &fx->reason));
    assert_int_equal(info.limits.max_msgs, 5);
    assert_int_equal(info.filter_count, 2);
    assert_string_equal(info.filters[0], "c.>");
    fdy_store_stream_info_clear(&info);
    /* The new limit applies at the next trim. */
    s_append_n(fx, a, "u", 0, 8, 20);
    assert_int_equal(s_trim_all(fx, fdy_clock_wall_ns(), 100, NULL), 3);
    assert_int_equal(s_info(fx, "a").messages, 5);

    /* First match by creation order: "b" now overlaps "a" but comes later. */
    const char *ov[] = { "c.>" };
    assert_foundry_ok(fdy_store_stream_update(fx->store, "b", ov, 1, NULL, &fx->reason));
    assert_foundry_ok(fdy_store_stream_route(fx->store, "c.z", &id, &name));
    assert_string_equal(name, "a");

    const char *bad[] = { "x..y" };
    assert_int_equal(fdy_store_stream_update(fx->store, "a", bad, 1, NULL, &fx->reason),
                     FOUNDRY_EINVAL);
    assert_int_equal(fdy_store_stream_update(fx->store, "zz", nf, 1, NULL, &fx->reason),
                     FOUNDRY_ENOTFOUND);
    s_reopen(fx);
    assert_foundry_ok(fdy_store_stream_route(fx->store, "d.q", &id, NULL));
    assert_int_equal(id, a);
    assert_int_equal(s_info(fx, "a").limits.max_msgs, 5);
}

/* ---- delete ---------------------------------------------------------------- */

static void
test_store_streams_delete_removes_messages_dedupe_consumers(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx));
    uint32_t gone = s_create(fx, "gone", "gone.>", NULL);
    uint32_t keep = s_create(fx, "keep", "keep.>", NULL);
    s_append_n(fx, gone, "g", 0, 50, 40);
    s_append_n(fx, keep, "k", 0, 5, 40);
    fdy_consumer_config_t cfg = { .name = "c1", .ack_wait_ms = 1000 };
    assert_foundry_ok(fdy_store_consumer_create(fx->store, "gone", &cfg, &fx->reason));
    /* Enough consumers to span several pages of the consumer databases. */
    for (int i = 0; i < 300; i++) {
        snprintf(cfg.name, sizeof cfg.name, "many-%03d", i);
        assert_foundry_ok(fdy_store_consumer_create(fx->store, "gone", &cfg, &fx->reason));
    }
    snprintf(cfg.name, sizeof cfg.name, "kc");
    assert_foundry_ok(fdy_store_consumer_create(fx->store, "keep", &cfg, &fx->reason));
    const char *borrowed = NULL;
    uint32_t id;
    assert_foundry_ok(fdy_store_stream_route(fx->store, "gone.x", &id, &borrowed));
    assert_int_equal(s_stats(fx).dedupe_entries, 55);
    assert_int_equal(s_stats(fx).consumers, 302);

    assert_foundry_ok(fdy_store_stream_delete(fx->store, "gone", &fx->reason));
    assert_string_equal(borrowed, "gone"); /* still valid memory */
    s_got_t got;
    assert_int_equal(s_read(fx, "gone", 1, 10, &got), FOUNDRY_ENOTFOUND);
    assert_int_equal(fdy_store_stream_route(fx->store, "gone.x", &id, NULL), FOUNDRY_ENOSTREAM);
    assert_null(fdy_store_stream_name(fx->store, gone));
    fdy_store_stats_t stats = s_stats(fx);
    assert_int_equal(stats.streams, 1);
    assert_int_equal(stats.messages, 5);
    assert_int_equal(stats.dedupe_entries, 5); /* only keep's ids remain */
    assert_int_equal(stats.consumers, 1);
    fdy_consumer_t c;
    assert_int_equal(fdy_store_consumer_get(fx->store, "gone", "c1", &c, &fx->reason),
                     FOUNDRY_ENOTFOUND);
    assert_foundry_ok(fdy_store_consumer_get(fx->store, "keep", "kc", &c, &fx->reason));
    fdy_store_consumer_clear(&c);
    /* Its ids are new messages again, also in another stream. */
    fdy_store_item_t it = s_append_one(fx, keep, "g", 7);
    assert_false(it.duplicate);
    assert_int_equal(it.seq, 6);
    /* Appending to the deleted id fails; the name can be created anew. */
    s_buf_t buf;
    s_item(&it, &buf, gone, "x", 1, 20);
    assert_int_equal(fdy_store_append(fx->store, &it, 1, &fx->reason), FOUNDRY_ENOTFOUND);
    uint32_t again = s_create(fx, "gone", "gone.>", NULL);
    assert_true(again > keep);
    assert_int_equal(s_info(fx, "gone").messages, 0);
    assert_int_equal(s_info(fx, "gone").last_seq, 0);
    assert_int_equal(fdy_store_stream_delete(fx->store, "nope", &fx->reason), FOUNDRY_ENOTFOUND);

    /* Durable, and its database is gone from the file. */
    fdy_store_close(&fx->store);
    s_raw_t raw;
    s_raw_begin(fx->dir, &raw);
    char db[16];
    snprintf(db, sizeof db, "m.%u", gone);
    assert_false(s_raw_db_exists(&raw, db));
    snprintf(db, sizeof db, "m.%u", keep);
    assert_true(s_raw_db_exists(&raw, db));
    s_raw_end(&raw);
    assert_foundry_ok(s_open(fx));
    assert_int_equal(s_stats(fx).streams, 2);
    assert_foundry_ok(s_read(fx, "keep", 1, 100, &got));
    assert_int_equal(got.count, 6);
}

/* ---- retention ------------------------------------------------------------- */

static void
test_store_streams_trim_max_msgs_bounded_work(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx));
    fdy_stream_limits_t lim = { 0, 0, 10 };
    uint32_t id = s_create(fx, "tm", "tm.>", &lim);
    s_append_n(fx, id, "tm", 0, 25, 30);

    size_t trimmed = 99;
    uint64_t now = fdy_clock_wall_ns();
    assert_foundry_ok(fdy_store_trim(fx->store, now, 4, &trimmed));
    assert_int_equal(trimmed, 4); /* bounded */
    fdy_stream_info_t info = s_info(fx, "tm");
    assert_int_equal(info.first_seq, 5);
    assert_int_equal(info.messages, 21);
    size_t calls = 0;
    assert_int_equal(s_trim_all(fx, now, 4, &calls) + 4, 15);
    assert_true(calls >= 3);
    info = s_info(fx, "tm");
    assert_int_equal(info.first_seq, 16);
    assert_int_equal(info.last_seq, 25);
    assert_int_equal(info.messages, 10);
    assert_int_equal(info.bytes, 10 * 30);

    /* Nothing over the limit: no transaction, no fsync. */
    uint64_t commits = s_stats(fx).commits;
    assert_foundry_ok(fdy_store_trim(fx->store, now, 4, &trimmed));
    assert_int_equal(trimmed, 0);
    assert_int_equal(s_stats(fx).commits, commits);

    /* Reads from before the head start at it; the range stays gap-free. */
    s_got_t got;
    assert_foundry_ok(s_read(fx, "tm", 1, 100, &got));
    assert_int_equal(got.count, 10);
    assert_int_equal(got.seqs[0], 16);
    assert_string_equal(got.ids[0], "tm-15");
    assert_int_equal(got.seqs[9], 25);
    assert_foundry_ok(s_read(fx, "tm", 20, 100, &got));
    assert_int_equal(got.seqs[0], 20);
    assert_int_equal(got.count, 6);

    /* Appends push it over again; the trimmer notices. */
    s_append_n(fx, id, "tm", 25, 3, 30);
    assert_int_equal(s_trim_all(fx, now, 100, NULL), 3);
    assert_int_equal(s_info(fx, "tm").first_seq, 19);

    /* Durable. */
    s_reopen(fx);
    info = s_info(fx, "tm");
    assert_int_equal(info.first_seq, 19);
    assert_int_equal(info.messages, 10);
    assert_foundry_ok(s_read(fx, "tm", 0, 100, &got));
    assert_int_equal(got.count, 10);
}

static void
test_store_streams_trim_max_bytes(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx));
    fdy_stream_limits_t lim = { 0, 1000, 0 };
    uint32_t id = s_create(fx, "tb", "tb.>", &lim);
    /* 30 x 100 bytes of payload, one with a 150-byte external part. */
    fdy_store_item_t items[30];
    s_buf_t bufs[30];
    uint8_t ext[150];
    memset(ext, 0xAB, sizeof ext);
    for (unsigned i = 0; i < 30; i++)
        s_item(&items[i], &bufs[i], id, "tb", i, 100);
    items[27].ext = ext;
    items[27].ext_len = sizeof ext;
    assert_foundry_ok(fdy_store_append(fx->store, items, 30, &fx->reason));
    assert_int_equal(s_info(fx, "tb").bytes, 3150);
    assert_int_equal(s_trim_all(fx, fdy_clock_wall_ns(), 7, NULL), 22);
    fdy_stream_info_t info = s_info(fx, "tb");
    assert_int_equal(info.bytes, 7 * 100 + 150 + 100); /* 950 <= 1000 < 1050 */
    assert_int_equal(info.messages, 8);
    assert_int_equal(info.first_seq, 23);
    s_got_t got;
    assert_foundry_ok(s_read(fx, "tb", 1, 100, &got));
    assert_int_equal(got.count, 8);
    assert_int_equal(got.seqs[0], 23);
}

static void
test_store_streams_trim_max_age_uses_now(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx));
    fdy_stream_limits_t lim = { 1000, 0, 0 };
    uint32_t id = s_create(fx, "ta", "ta.>", &lim);
    uint32_t other = s_create(fx, "free", "free.>", NULL);
    for (unsigned i = 0; i < 6; i++)
        s_append_n(fx, id, "ta", i * 2, 2, 20); /* six commits, rising stored_ns */
    s_append_n(fx, other, "fr", 0, 4, 20);
    s_got_t got;
    assert_foundry_ok(s_read(fx, "ta", 1, 100, &got));
    assert_int_equal(got.count, 12);
    uint64_t stored[12];
    memcpy(stored, got.stored_ns, sizeof stored);

    /* Young: nothing goes. */
    size_t trimmed;
    assert_foundry_ok(fdy_store_trim(fx->store, stored[0] + 999 * MS_NS, 100, &trimmed));
    assert_int_equal(trimmed, 0);
    /* Exactly the records at least max_age old at now_ns go. */
    uint64_t now = stored[5] + 1000 * MS_NS;
    size_t expect = 0;
    for (int i = 0; i < 12; i++)
        expect += stored[i] + 1000 * MS_NS <= now;
    assert_true(expect >= 6 && expect < 12);
    assert_int_equal(s_trim_all(fx, now, 5, NULL), expect);
    fdy_stream_info_t info = s_info(fx, "ta");
    assert_int_equal(info.first_seq, expect + 1);
    assert_int_equal(info.messages, 12 - expect);
    /* Later, all of it; the stream without limits keeps everything. */
    assert_int_equal(s_trim_all(fx, stored[11] + 2000 * MS_NS, 100, NULL), 12 - expect);
    info = s_info(fx, "ta");
    assert_int_equal(info.first_seq, 0);
    assert_int_equal(info.last_seq, 12);
    assert_int_equal(info.messages, 0);
    assert_int_equal(info.bytes, 0);
    assert_int_equal(s_info(fx, "free").messages, 4);
    assert_foundry_ok(s_read(fx, "ta", 1, 100, &got));
    assert_int_equal(got.count, 0);
    /* Sequences continue after an emptied stream. */
    fdy_store_item_t it = s_append_one(fx, id, "ta", 100);
    assert_int_equal(it.seq, 13);
    info = s_info(fx, "ta");
    assert_int_equal(info.first_seq, 13);
    assert_int_equal(info.messages, 1);
    assert_foundry_ok(s_read(fx, "ta", 1, 100, &got));
    assert_int_equal(got.count, 1);
    assert_int_equal(got.seqs[0], 13);
}

static void
test_store_streams_trim_work_shared_across_streams(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx));
    fdy_stream_limits_t lim = { 0, 0, 5 };
    uint32_t ids[3];
    for (int s = 0; s < 3; s++) {
        char name[8], filter[8];
        snprintf(name, sizeof name, "w%d", s);
        snprintf(filter, sizeof filter, "w%d.>", s);
        ids[s] = s_create(fx, name, filter, &lim);
        s_append_n(fx, ids[s], name, 0, 10, 20);
    }
    size_t trimmed;
    assert_foundry_ok(fdy_store_trim(fx->store, fdy_clock_wall_ns(), 4, &trimmed));
    assert_int_equal(trimmed, 4);
    assert_int_equal(s_trim_all(fx, fdy_clock_wall_ns(), 4, NULL), 11);
    for (int s = 0; s < 3; s++) {
        char name[8];
        snprintf(name, sizeof name, "w%d", s);
        assert_int_equal(s_info(fx, name).messages, 5);
        assert_int_equal(s_info(fx, name).first_seq, 6);
    }
}

static void
test_store_streams_trim_forgets_dedupe_and_keeps_gap_checks(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx));
    fdy_stream_limits_t lim = { 0, 0, 4 };
    uint32_t id = s_create(fx, "td", "td.>", &lim);
    s_append_n(fx, id, "td", 0, 8, 20); /* seqs 1..8 */
    assert_int_equal(s_stats(fx).dedupe_entries, 8);
    assert_int_equal(s_trim_all(fx, fdy_clock_wall_ns(), 100, NULL), 4);
    /* Trimmed records take their ids along: nothing dangles. */
    assert_int_equal(s_stats(fx).dedupe_entries, 4);
    fdy_store_item_t it = s_append_one(fx, id, "td", 0); /* trimmed: stored anew */
    assert_false(it.duplicate);
    assert_int_equal(it.seq, 9);
    it = s_append_one(fx, id, "td", 5); /* still stored: a duplicate */
    assert_true(it.duplicate);
    assert_int_equal(it.seq, 6);
    assert_int_equal(s_trim_all(fx, fdy_clock_wall_ns(), 100, NULL), 1); /* seq 5, td-4 */
    assert_int_equal(s_stats(fx).dedupe_entries, 4);
    /* The prune, after the window, finds exactly what is left. */
    uint64_t later = fdy_clock_wall_ns() + 2 * WINDOW_MS * MS_NS;
    size_t pruned = 0, total = 0;
    for (int turn = 0; turn < 20; turn++) {
        assert_foundry_ok(fdy_store_prune_dedupe(fx->store, later, 3, &pruned));
        total += pruned;
    }
    assert_int_equal(total, 4);
    assert_int_equal(s_stats(fx).dedupe_entries, 0);

    /* A hole past the trimmed head is still a gap. */
    fdy_stream_info_t info = s_info(fx, "td");
    assert_int_equal(info.first_seq, 6);
    fdy_store_close(&fx->store);
    s_raw_t raw;
    s_raw_begin(fx->dir, &raw);
    char db[16];
    snprintf(db, sizeof db, "m.%u", id);
    MDB_dbi dbi;
    assert_int_equal(mdb_dbi_open(raw.txn, db, 0, &dbi), 0);
    uint8_t key[8];
    s_seq_key(key, info.first_seq + 1);
    MDB_val k = { sizeof key, key };
    assert_int_equal(mdb_del(raw.txn, dbi, &k, NULL), 0);
    s_raw_end(&raw);
    assert_foundry_ok(s_open(fx));
    s_got_t got;
    assert_int_equal(s_read(fx, "td", 1, 100, &got), FOUNDRY_ECORRUPT);
    assert_int_equal(got.count, 1);
    assert_int_equal(got.seqs[0], info.first_seq);
    char want[32];
    snprintf(want, sizeof want, "seq %llu", (unsigned long long) info.first_seq + 1);
    assert_non_null(strstr(fx->reason.text, want));
}

/* ---- consumers ------------------------------------------------------------- */

static void
s_consumer(fixture_t *fx, const char *stream, const char *name, fdy_consumer_start_t start,
           uint64_t value)
{
    fdy_consumer_config_t cfg = { .start = start, .start_value = value, .ack_wait_ms = 30000,
                                  .max_deliver = 5, .max_ack_pending = 100 };
    snprintf(cfg.name, sizeof cfg.name, "%s", name);
    foundry_err err = fdy_store_consumer_create(fx->store, stream, &cfg, &fx->reason);
    if (err != FOUNDRY_OK)
        fail_msg("consumer %s: %s", name, fx->reason.text);
}

static uint64_t
s_floor(fixture_t *fx, const char *stream, const char *name)
{
    fdy_consumer_t c;
    assert_foundry_ok(fdy_store_consumer_get(fx->store, stream, name, &c, &fx->reason));
    assert_int_equal(c.state.ack_floor, c.state.delivered_seq);
    uint64_t floor = c.state.ack_floor;
    fdy_store_consumer_clear(&c);
    return floor;
}

static void
test_store_streams_consumer_create_get_and_start_policies(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx));
    fdy_stream_limits_t lim = { 0, 0, 7 };
    uint32_t id = s_create(fx, "cs", "cs.>", &lim);
    for (unsigned i = 0; i < 5; i++)
        s_append_n(fx, id, "cs", i * 2, 2, 20); /* seqs 1..10 over five commits */
    assert_int_equal(s_trim_all(fx, fdy_clock_wall_ns(), 100, NULL), 3); /* head now 4 */
    s_got_t got;
    assert_foundry_ok(s_read(fx, "cs", 1, 100, &got));
    assert_int_equal(got.seqs[0], 4);

    fdy_consumer_config_t cfg = { .name = "full", .filter = "cs.robot.*", .ack_wait_ms = 1500,
                                  .max_deliver = 7, .max_ack_pending = 64,
                                  .start = FDY_CONSUMER_START_FIRST };
    uint64_t before = fdy_clock_wall_ns();
    assert_foundry_ok(fdy_store_consumer_create(fx->store, "cs", &cfg, &fx->reason));
    fdy_consumer_t c;
    assert_foundry_ok(fdy_store_consumer_get(fx->store, "cs", "full", &c, &fx->reason));
    assert_string_equal(c.config.name, "full");
    assert_string_equal(c.config.filter, "cs.robot.*");
    assert_int_equal(c.config.ack_wait_ms, 1500);
    assert_int_equal(c.config.max_deliver, 7);
    assert_int_equal(c.config.max_ack_pending, 64);
    assert_int_equal(c.config.start, FDY_CONSUMER_START_FIRST);
    assert_true(c.config.created_ns >= before);
    assert_int_equal(c.state.stream_id, id);
    assert_string_equal(c.state.name, "full");
    assert_int_equal(c.state.ack_floor, 3); /* first stored is 4 */
    assert_int_equal(c.state.acked_count, 0);
    assert_int_equal(c.state.redelivered_count, 0);
    fdy_store_consumer_clear(&c);

    s_consumer(fx, "cs", "last", FDY_CONSUMER_START_LAST, 0);
    assert_int_equal(s_floor(fx, "cs", "last"), 9);
    s_consumer(fx, "cs", "new", FDY_CONSUMER_START_NEW, 0);
    assert_int_equal(s_floor(fx, "cs", "new"), 10);
    s_consumer(fx, "cs", "seq", FDY_CONSUMER_START_SEQ, 6);
    assert_int_equal(s_floor(fx, "cs", "seq"), 5);
    /* Time: the first record stored at or after it, by binary search. */
    uint64_t t = got.stored_ns[4]; /* seq 8, first of the fourth commit */
    s_consumer(fx, "cs", "time", FDY_CONSUMER_START_TIME, t);
    uint64_t expect = 0;
    for (size_t i = 0; i < got.count && !expect; i++)
        if (got.stored_ns[i] >= t)
            expect = got.seqs[i] - 1;
    assert_int_equal(s_floor(fx, "cs", "time"), expect);
    s_consumer(fx, "cs", "future", FDY_CONSUMER_START_TIME, UINT64_MAX);
    assert_int_equal(s_floor(fx, "cs", "future"), 10);
    s_consumer(fx, "cs", "past", FDY_CONSUMER_START_TIME, 1);
    assert_int_equal(s_floor(fx, "cs", "past"), 3);

    /* Errors. */
    assert_int_equal(fdy_store_consumer_create(fx->store, "cs", &cfg, &fx->reason),
                     FOUNDRY_EEXIST);
    assert_int_equal(fdy_store_consumer_create(fx->store, "nope", &cfg, &fx->reason),
                     FOUNDRY_ENOTFOUND);
    fdy_consumer_config_t bad = cfg;
    snprintf(bad.name, sizeof bad.name, "a.b");
    assert_int_equal(fdy_store_consumer_create(fx->store, "cs", &bad, &fx->reason),
                     FOUNDRY_EINVAL);
    bad = cfg;
    snprintf(bad.name, sizeof bad.name, "okname");
    snprintf(bad.filter, sizeof bad.filter, "cs..x");
    assert_int_equal(fdy_store_consumer_create(fx->store, "cs", &bad, &fx->reason),
                     FOUNDRY_EINVAL);
    bad = cfg;
    snprintf(bad.name, sizeof bad.name, "okname");
    bad.start = FDY_CONSUMER_START_SEQ;
    bad.start_value = 0;
    assert_int_equal(fdy_store_consumer_create(fx->store, "cs", &bad, &fx->reason),
                     FOUNDRY_EINVAL);
    bad.start = (fdy_consumer_start_t) 9;
    assert_int_equal(fdy_store_consumer_create(fx->store, "cs", &bad, &fx->reason),
                     FOUNDRY_EINVAL);
    assert_int_equal(fdy_store_consumer_get(fx->store, "cs", "okname", &c, &fx->reason),
                     FOUNDRY_ENOTFOUND);
    assert_int_equal(fdy_store_consumer_get(fx->store, "nope", "full", &c, &fx->reason),
                     FOUNDRY_ENOTFOUND);

    /* Survives a reopen; stream info lists the names in order. */
    s_reopen(fx);
    assert_int_equal(s_floor(fx, "cs", "seq"), 5);
    fdy_stream_info_t info;
    assert_foundry_ok(fdy_store_stream_info(fx->store, "cs", &info, &fx->reason));
    assert_int_equal(info.consumer_count, 7);
    assert_string_equal(info.consumers[0], "full");
    assert_string_equal(info.consumers[6], "time");
    fdy_store_stream_info_clear(&info);
}

static void
test_store_streams_consumer_list_delete_per_stream(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx));
    s_create(fx, "one", "one.>", NULL);
    s_create(fx, "two", "two.>", NULL);
    s_consumer(fx, "one", "zeta", FDY_CONSUMER_START_FIRST, 0);
    s_consumer(fx, "one", "alpha", FDY_CONSUMER_START_FIRST, 0);
    s_consumer(fx, "two", "alpha", FDY_CONSUMER_START_NEW, 0); /* same name, other stream */
    s_consumer(fx, "two", "mid", FDY_CONSUMER_START_NEW, 0);

    fdy_consumer_t *list;
    size_t count;
    assert_foundry_ok(fdy_store_consumer_list(fx->store, "one", &list, &count, &fx->reason));
    assert_int_equal(count, 2);
    assert_string_equal(list[0].config.name, "alpha");
    assert_string_equal(list[1].config.name, "zeta");
    fdy_store_consumers_free(&list, count);
    assert_null(list);
    assert_foundry_ok(fdy_store_consumer_list(fx->store, "two", &list, &count, &fx->reason));
    assert_int_equal(count, 2);
    assert_string_equal(list[1].config.name, "mid");
    assert_int_equal(list[0].config.start, FDY_CONSUMER_START_NEW);
    fdy_store_consumers_free(&list, count);

    assert_foundry_ok(fdy_store_consumer_delete(fx->store, "two", "alpha", &fx->reason));
    assert_int_equal(fdy_store_consumer_delete(fx->store, "two", "alpha", &fx->reason),
                     FOUNDRY_ENOTFOUND);
    assert_int_equal(fdy_store_consumer_delete(fx->store, "nope", "alpha", &fx->reason),
                     FOUNDRY_ENOTFOUND);
    fdy_consumer_t c;
    assert_foundry_ok(fdy_store_consumer_get(fx->store, "one", "alpha", &c, &fx->reason));
    fdy_store_consumer_clear(&c);
    assert_foundry_ok(fdy_store_consumer_list(fx->store, "two", &list, &count, &fx->reason));
    assert_int_equal(count, 1);
    assert_string_equal(list[0].config.name, "mid");
    fdy_store_consumers_free(&list, count);
    assert_int_equal(s_stats(fx).consumers, 3);
}

static void
test_store_streams_consumer_states_survive_reopen(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx));
    uint32_t id = s_create(fx, "st", "st.>", NULL);
    s_append_n(fx, id, "st", 0, 400, 20);
    s_consumer(fx, "st", "c1", FDY_CONSUMER_START_FIRST, 0);
    s_consumer(fx, "st", "c2", FDY_CONSUMER_START_FIRST, 0);

    uint64_t acked[] = { 12, 13, 200, 399 };
    fdy_consumer_redelivery_t redel[] = { { 11, 2 }, { 150, 5 }, { 400, 3 } };
    fdy_consumer_state_t states[2] = {
        { .stream_id = id, .name = "c1", .ack_floor = 10, .delivered_seq = 400, .acked = acked,
          .acked_count = 4, .redelivered = redel, .redelivered_count = 3 },
        { .stream_id = id, .name = "c2", .ack_floor = 400, .delivered_seq = 400 },
    };
    uint64_t commits = s_stats(fx).commits;
    uint64_t before = fdy_clock_wall_ns();
    assert_foundry_ok(fdy_store_consumer_save_states(fx->store, states, 2, &fx->reason));
    assert_int_equal(s_stats(fx).commits, commits + 1); /* one transaction */
    s_reopen(fx);

    fdy_consumer_t c;
    assert_foundry_ok(fdy_store_consumer_get(fx->store, "st", "c1", &c, &fx->reason));
    assert_int_equal(c.state.ack_floor, 10);
    assert_int_equal(c.state.delivered_seq, 400);
    assert_int_equal(c.state.acked_count, 4);
    assert_memory_equal(c.state.acked, acked, sizeof acked);
    assert_int_equal(c.state.redelivered_count, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(c.state.redelivered[i].seq, redel[i].seq);
        assert_int_equal(c.state.redelivered[i].count, redel[i].count);
    }
    assert_true(c.state.updated_ns >= before);
    assert_int_equal(c.config.max_deliver, 5); /* config untouched */
    fdy_store_consumer_clear(&c);
    assert_int_equal(s_floor(fx, "st", "c2"), 400);

    /* Malformed states are refused, nothing written. */
    fdy_consumer_state_t bad = states[0];
    bad.ack_floor = 401;
    assert_int_equal(fdy_store_consumer_save_states(fx->store, &bad, 1, &fx->reason),
                     FOUNDRY_EINVAL);
    uint64_t unsorted[] = { 13, 12 };
    bad = states[0];
    bad.acked = unsorted;
    bad.acked_count = 2;
    assert_int_equal(fdy_store_consumer_save_states(fx->store, &bad, 1, &fx->reason),
                     FOUNDRY_EINVAL);
    uint64_t below[] = { 10 };
    bad.acked = below;
    bad.acked_count = 1;
    assert_int_equal(fdy_store_consumer_save_states(fx->store, &bad, 1, &fx->reason),
                     FOUNDRY_EINVAL);
    fdy_consumer_redelivery_t zero[] = { { 20, 0 } };
    bad = states[0];
    bad.redelivered = zero;
    bad.redelivered_count = 1;
    assert_int_equal(fdy_store_consumer_save_states(fx->store, &bad, 1, &fx->reason),
                     FOUNDRY_EINVAL);
    /* An unknown consumer fails the whole batch: c2's new state is not kept. */
    fdy_consumer_state_t mixed[2] = {
        { .stream_id = id, .name = "c2", .ack_floor = 1, .delivered_seq = 1 },
        { .stream_id = id, .name = "ghost", .ack_floor = 1, .delivered_seq = 1 },
    };
    assert_int_equal(fdy_store_consumer_save_states(fx->store, mixed, 2, &fx->reason),
                     FOUNDRY_ENOTFOUND);
    assert_non_null(strstr(fx->reason.text, "ghost"));
    assert_int_equal(s_floor(fx, "st", "c2"), 400);
}

static void
test_store_streams_commit_batches_items_and_states(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx));
    uint32_t id = s_create(fx, "gc", "gc.>", NULL);
    s_append_n(fx, id, "gc", 0, 3, 20);
    s_consumer(fx, "gc", "c", FDY_CONSUMER_START_FIRST, 0);

    fdy_store_item_t items[2];
    s_buf_t bufs[2];
    s_item(&items[0], &bufs[0], id, "gc", 3, 20);
    s_item(&items[1], &bufs[1], id, "gc", 4, 20);
    fdy_consumer_state_t st = { .stream_id = id, .name = "c", .ack_floor = 2,
                                .delivered_seq = 5 };
    fdy_store_batch_t batch = { .items = items, .item_count = 2, .states = &st,
                                .state_count = 1 };
    uint64_t commits = s_stats(fx).commits;
    assert_foundry_ok(fdy_store_commit(fx->store, &batch, &fx->reason));
    assert_int_equal(s_stats(fx).commits, commits + 1);
    assert_int_equal(items[0].seq, 4);
    assert_int_equal(items[1].seq, 5);
    fdy_consumer_t c;
    assert_foundry_ok(fdy_store_consumer_get(fx->store, "gc", "c", &c, &fx->reason));
    assert_int_equal(c.state.delivered_seq, 5);
    fdy_store_consumer_clear(&c);

    /* Only duplicates plus a state: the state still commits. */
    st.ack_floor = 5;
    assert_foundry_ok(fdy_store_commit(fx->store, &batch, &fx->reason));
    assert_true(items[0].duplicate && items[1].duplicate);
    assert_int_equal(s_floor(fx, "gc", "c"), 5);

    /* A failing part fails all: the new item is not stored, seqs zeroed. */
    s_item(&items[0], &bufs[0], id, "gc", 9, 20);
    fdy_consumer_state_t ghost = { .stream_id = id, .name = "ghost", .delivered_seq = 1 };
    fdy_store_batch_t fail = { .items = items, .item_count = 1, .states = &ghost,
                               .state_count = 1 };
    assert_int_equal(fdy_store_commit(fx->store, &fail, &fx->reason), FOUNDRY_ENOTFOUND);
    assert_int_equal(items[0].seq, 0);
    assert_int_equal(s_info(fx, "gc").last_seq, 5);
    assert_int_equal(s_stats(fx).dedupe_entries, 5);
}

/* ---- dead letters ---------------------------------------------------------- */

static void
test_store_streams_dead_letter_copies_with_reason(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx));
    fdy_stream_limits_t lim = { 0, 0, 3 };
    uint32_t id = s_create(fx, "orders", "orders.>", &lim);
    fdy_store_item_t items[3];
    s_buf_t bufs[3];
    uint8_t ext[300];
    memset(ext, 0x5A, sizeof ext);
    for (unsigned i = 0; i < 3; i++)
        s_item(&items[i], &bufs[i], id, "ord", i, 40);
    items[1].ext = ext;
    items[1].ext_len = sizeof ext;
    assert_foundry_ok(fdy_store_append(fx->store, items, 3, &fx->reason));
    s_consumer(fx, "orders", "c1", FDY_CONSUMER_START_FIRST, 0);
    s_got_t got;
    assert_foundry_ok(s_read(fx, "orders", 2, 1, &got));
    uint64_t orig_ns = got.stored_ns[0];
    uint64_t dedupe = s_stats(fx).dedupe_entries;

    uint64_t acked[] = { 1, 3 };
    fdy_consumer_state_t st = { .stream_id = id, .name = "c1", .ack_floor = 0,
                                .delivered_seq = 3, .acked = acked, .acked_count = 2 };
    fdy_dead_letter_t dl = { .stream_id = id, .seq = 2, .consumer = "c1", .deliveries = 5,
                             .reason = "max_deliver 5 reached" };
    fdy_store_batch_t batch = { .dead_letters = &dl, .dead_letter_count = 1, .states = &st,
                                .state_count = 1 };
    assert_foundry_ok(fdy_store_commit(fx->store, &batch, &fx->reason));
    assert_false(dl.gone);
    assert_int_equal(dl.dlq_seq, 1);
    uint32_t dlq = 0;
    assert_foundry_ok(fdy_store_stream_lookup(fx->store, "orders-dlq", &dlq));
    assert_int_equal(dl.dlq_stream_id, dlq);
    assert_int_equal(s_stats(fx).dedupe_entries, dedupe); /* copies are not indexed */

    /* Filter-less, the limits of its stream; the original stays put. */
    fdy_stream_info_t info;
    assert_foundry_ok(fdy_store_stream_info(fx->store, "orders-dlq", &info, &fx->reason));
    assert_int_equal(info.filter_count, 0);
    assert_int_equal(info.limits.max_msgs, 3);
    assert_int_equal(info.messages, 1);
    assert_int_equal(info.bytes, 40 + 300);
    fdy_store_stream_info_clear(&info);
    uint32_t routed;
    const char *name;
    assert_foundry_ok(fdy_store_stream_route(fx->store, "orders.x", &routed, &name));
    assert_string_equal(name, "orders");
    assert_int_equal(s_info(fx, "orders").messages, 3);

    s_reopen(fx); /* durable, format 2 readable after a reopen */
    assert_foundry_ok(s_read(fx, "orders-dlq", 1, 10, &got));
    assert_int_equal(got.count, 1);
    assert_string_equal(got.ids[0], "ord-1");
    assert_string_equal(got.first_data, "data-1");
    assert_int_equal(got.data_len, 40);
    assert_int_equal(got.ext_len, 300);
    assert_int_equal(got.ext_first, 0x5A);
    assert_string_equal(got.publisher, "tester");
    assert_true(got.dead);
    assert_string_equal(got.dl_stream, "orders");
    assert_int_equal(got.dl_seq, 2);
    assert_int_equal(got.dl_stored_ns, orig_ns);
    assert_string_equal(got.dl_consumer, "c1");
    assert_int_equal(got.dl_deliveries, 5);
    assert_string_equal(got.dl_reason, "max_deliver 5 reached");
    assert_foundry_ok(s_read(fx, "orders", 1, 10, &got));
    assert_false(got.dead);
    fdy_consumer_t c;
    assert_foundry_ok(fdy_store_consumer_get(fx->store, "orders", "c1", &c, &fx->reason));
    assert_int_equal(c.state.acked_count, 2);
    fdy_store_consumer_clear(&c);

    /* Trimmed meanwhile: gone, nothing copied; unknown seq: refused. */
    s_append_n(fx, id, "ord", 3, 3, 40);
    assert_int_equal(s_trim_all(fx, fdy_clock_wall_ns(), 100, NULL), 3);
    fdy_dead_letter_t two[2] = {
        { .stream_id = id, .seq = 1, .reason = "poison" },
        { .stream_id = id, .seq = 5, .reason = "poison", .deliveries = 2 },
    };
    batch = (fdy_store_batch_t){ .dead_letters = two, .dead_letter_count = 2 };
    assert_foundry_ok(fdy_store_commit(fx->store, &batch, &fx->reason));
    assert_true(two[0].gone);
    assert_int_equal(two[0].dlq_seq, 0);
    assert_false(two[1].gone);
    assert_int_equal(two[1].dlq_seq, 2);
    assert_foundry_ok(s_read(fx, "orders-dlq", 2, 10, &got));
    assert_string_equal(got.dl_consumer, ""); /* none named */
    two[0].seq = 99;
    batch.dead_letter_count = 1;
    assert_int_equal(fdy_store_commit(fx->store, &batch, &fx->reason), FOUNDRY_ENOTFOUND);
    two[0].seq = 5;
    two[0].reason = "";
    assert_int_equal(fdy_store_commit(fx->store, &batch, &fx->reason), FOUNDRY_EINVAL);
    /* A stream whose name leaves no room for the suffix. */
    const char *longname = "abcdefghij0123456789abcdefghij0123456789abcdefghij0123456789ab";
    uint32_t lid = s_create(fx, longname, "long.>", NULL);
    s_append_n(fx, lid, "long", 0, 1, 20);
    fdy_dead_letter_t ldl = { .stream_id = lid, .seq = 1, .reason = "x" };
    batch = (fdy_store_batch_t){ .dead_letters = &ldl, .dead_letter_count = 1 };
    assert_int_equal(fdy_store_commit(fx->store, &batch, &fx->reason), FOUNDRY_EINVAL);
}

/* ---- reads ------------------------------------------------------------------- */

static void
test_store_streams_reads_page_and_see_new_commits(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx));
    uint32_t id = s_create(fx, "pg", "pg.>", NULL);
    s_got_t got;
    assert_foundry_ok(s_read(fx, "pg", 1, 100, &got));
    assert_int_equal(got.count, 0);
    /* The reused read transaction sees every later commit. */
    for (unsigned round = 0; round < 5; round++) {
        s_append_n(fx, id, "pg", round * 1000, 1000, 64);
        uint64_t next = 1;
        size_t seen = 0;
        for (;;) {
            assert_foundry_ok(s_read(fx, "pg", next, 1000, &got));
            if (got.count == 0)
                break;
            for (size_t i = 0; i < got.count; i++)
                assert_int_equal(got.seqs[i], next + i);
            seen += got.count;
            next += got.count;
        }
        assert_int_equal(seen, (round + 1) * 1000);
    }
    /* A stream created after the first read is readable at once. */
    uint32_t late = s_create(fx, "late", "late.>", NULL);
    s_append_n(fx, late, "late", 0, 2, 20);
    assert_foundry_ok(s_read(fx, "late", 1, 10, &got));
    assert_int_equal(got.count, 2);
}

static void
test_store_streams_damaged_consumer_state_detected(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx));
    uint32_t id = s_create(fx, "dm", "dm.>", NULL);
    s_consumer(fx, "dm", "c", FDY_CONSUMER_START_FIRST, 0);
    fdy_store_close(&fx->store);
    s_raw_t raw;
    s_raw_begin(fx->dir, &raw);
    MDB_dbi dbi;
    assert_int_equal(mdb_dbi_open(raw.txn, "consumer_states", 0, &dbi), 0);
    uint8_t key[8] = { (uint8_t) (id >> 24), (uint8_t) (id >> 16), (uint8_t) (id >> 8),
                       (uint8_t) id, 'c' };
    MDB_val k = { 5, key }, v;
    assert_int_equal(mdb_get(raw.txn, dbi, &k, &v), 0);
    uint8_t copy[128];
    assert_true(v.mv_size <= sizeof copy);
    memcpy(copy, v.mv_data, v.mv_size);
    copy[10] ^= 0x40; /* a bit of ack_floor */
    v.mv_data = copy;
    assert_int_equal(mdb_put(raw.txn, dbi, &k, &v, 0), 0);
    s_raw_end(&raw);
    assert_foundry_ok(s_open(fx));
    fdy_consumer_t c;
    assert_int_equal(fdy_store_consumer_get(fx->store, "dm", "c", &c, &fx->reason),
                     FOUNDRY_ECORRUPT);
    assert_non_null(strstr(fx->reason.text, "damaged state"));
    assert_null(c.state.acked);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_store_streams_schema_version_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(
            test_store_streams_layout_one_database_per_stream, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(
            test_store_streams_create_ex_info_and_lookup, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(
            test_store_streams_update_filters_and_limits, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(
            test_store_streams_delete_removes_messages_dedupe_consumers, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(
            test_store_streams_trim_max_msgs_bounded_work, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_store_streams_trim_max_bytes, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(
            test_store_streams_trim_max_age_uses_now, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(
            test_store_streams_trim_work_shared_across_streams, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(
            test_store_streams_trim_forgets_dedupe_and_keeps_gap_checks, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(
            test_store_streams_consumer_create_get_and_start_policies, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(
            test_store_streams_consumer_list_delete_per_stream, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(
            test_store_streams_consumer_states_survive_reopen, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(
            test_store_streams_commit_batches_items_and_states, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(
            test_store_streams_dead_letter_copies_with_reason, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(
            test_store_streams_reads_page_and_see_new_commits, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(
            test_store_streams_damaged_consumer_state_detected, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("store_streams", tests, NULL, NULL);
}
