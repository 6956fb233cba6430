/*  test_store_limits.c: the store's limits and counters on real temporary
 *  stores: the stream limit reported as itself without growing the map,
 *  map_size_max holding for a store whose recorded map is larger (as
 *  foundryctl bootstrap makes it), and what a stream's `bytes` counts.
 */
#include "clock.h"
#include "commit.h"
#include "store.h"

#include "fixture_store.h"

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

#define MIB (1ull << 20)

typedef struct {
    char dir[FX_STORE_DIR_LEN];
    fdy_store_t *store;
    fdy_reason_t reason;
} fixture_t;

static foundry_err
s_open(fixture_t *fx, uint64_t map_size, uint64_t map_size_max)
{
    fdy_store_opts_t opts = {.dir = fx->dir, .map_size = map_size, .map_size_max = map_size_max,
                             .dedupe_window_ms = 60000, .read_only = false};
    return fdy_store_open(&opts, &fx->store, &fx->reason);
}

static int
s_setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx_store_open_tmp(fx->dir, "test_store_limits", NULL, NULL, NULL);
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

static fdy_store_stats_t
s_stats(fixture_t *fx)
{
    fdy_store_stats_t stats;
    assert_foundry_ok(fdy_store_stats(fx->store, &stats));
    return stats;
}

/* Appends batches of `per` messages of `size` bytes, ids "<tag>-<n>",
 * until the store refuses; returns the messages stored and leaves the last
 * error in *err. */
static uint64_t
s_fill(fixture_t *fx, uint32_t stream_id, const char *tag, size_t per, size_t size,
       foundry_err *err)
{
    uint8_t *payload = calloc(1, size);
    fdy_store_item_t *items = calloc(per, sizeof *items);
    char(*ids)[32] = calloc(per, sizeof *ids);
    assert_true(payload && items && ids);
    uint64_t stored = 0;
    *err = FOUNDRY_OK;
    for (unsigned call = 0; call < 100000 && *err == FOUNDRY_OK; call++) {
        for (size_t i = 0; i < per; i++) {
            memset(&items[i], 0, sizeof items[i]);
            snprintf(ids[i], sizeof ids[i], "%s-%u-%zu", tag, call, i);
            items[i].stream_id = stream_id;
            items[i].msg_id = (const uint8_t *) ids[i];
            items[i].msg_id_len = strlen(ids[i]);
            items[i].publisher = "filler";
            items[i].data = payload;
            items[i].data_len = size;
        }
        *err = fdy_store_append(fx->store, items, per, &fx->reason);
        for (size_t i = 0; *err == FOUNDRY_OK && i < per; i++)
            stored += !items[i].duplicate;
    }
    free(ids);
    free(items);
    free(payload);
    return stored;
}

/* ---- the stream limit ------------------------------------------------------- */

static void
test_store_limits_stream_limit_reported_without_map_growth(void **state)
{
    fixture_t *fx = *state;
    /* Room for the streams, with headroom the bug would grow into. */
    assert_foundry_ok(s_open(fx, 1 * MIB, 64 * MIB));
    char name[32];
    for (int i = 0; i < FDY_STORE_STREAMS_MAX; i++) {
        snprintf(name, sizeof name, "s%d", i);
        foundry_err err = fdy_store_stream_create_ex(fx->store, name, NULL, 0, NULL, &fx->reason);
        if (err != FOUNDRY_OK)
            fail_msg("stream %d: %s: %s", i, foundry_strerror(err), fx->reason.text);
    }
    fdy_store_stats_t before = s_stats(fx);
    assert_int_equal(before.streams, FDY_STORE_STREAMS_MAX);
    assert_true(before.map_size < 64 * MIB);

    foundry_err err = fdy_store_stream_create_ex(fx->store, "one-more", NULL, 0, NULL, &fx->reason);
    assert_int_equal(err, FOUNDRY_EFULL);
    char want[64];
    snprintf(want, sizeof want, "stream limit of %d reached", FDY_STORE_STREAMS_MAX);
    if (!strstr(fx->reason.text, want) || strstr(fx->reason.text, "map_size_max"))
        fail_msg("reason \"%s\", want one naming \"%s\"", fx->reason.text, want);
    fdy_store_stats_t after = s_stats(fx);
    assert_int_equal(after.map_size, before.map_size); /* not grown */
    assert_int_equal(after.streams, FDY_STORE_STREAMS_MAX);
    assert_int_equal(after.commits, before.commits); /* nothing written */
    uint32_t id;
    assert_int_equal(fdy_store_stream_lookup(fx->store, "one-more", &id), FOUNDRY_ENOTFOUND);

    /* Deleting one makes room for one. */
    assert_foundry_ok(fdy_store_stream_delete(fx->store, "s17", &fx->reason));
    assert_foundry_ok(
        fdy_store_stream_create_ex(fx->store, "one-more", NULL, 0, NULL, &fx->reason));
}

/* ---- map_size_max over a larger recorded map --------------------------------- */

static void
test_store_limits_map_size_max_caps_a_larger_recorded_map(void **state)
{
    fixture_t *fx = *state;
    /* Created as foundryctl bootstrap does: a 64 MiB map. */
    assert_foundry_ok(s_open(fx, 64 * MIB, 64 * MIB));
    assert_int_equal(s_stats(fx).map_size, 64 * MIB);
    const char *filters[] = {"f.>"};
    assert_foundry_ok(fdy_store_stream_create(fx->store, "f", filters, 1, &fx->reason));
    fdy_store_close(&fx->store);

    /* Opened with a 2 MiB maximum: the cap holds. */
    assert_foundry_ok(s_open(fx, 1 * MIB, 2 * MIB));
    fdy_store_stats_t stats = s_stats(fx);
    assert_int_equal(stats.map_size, 2 * MIB);
    assert_int_equal(stats.map_size_max, 2 * MIB);
    uint32_t id;
    assert_foundry_ok(fdy_store_stream_lookup(fx->store, "f", &id));
    foundry_err err;
    uint64_t stored = s_fill(fx, id, "a", 20, 4000, &err);
    assert_int_equal(err, FOUNDRY_EFULL);
    assert_non_null(strstr(fx->reason.text, "store full"));
    assert_true(stored > 0 && stored * 4000 < 2 * MIB);
    stats = s_stats(fx);
    assert_int_equal(stats.map_size, 2 * MIB);
    assert_int_equal(stats.messages, stored);
    fdy_store_close(&fx->store);

    /* Raising the maximum again lets it store more. LMDB keeps only
     * increases in the file, so the recorded 64 MiB is capped anew. */
    assert_foundry_ok(s_open(fx, 1 * MIB, 8 * MIB));
    assert_int_equal(s_stats(fx).map_size, 8 * MIB);
    uint64_t more = s_fill(fx, id, "b", 20, 4000, &err);
    assert_int_equal(err, FOUNDRY_EFULL);
    assert_true(more > stored);
    assert_int_equal(s_stats(fx).map_size, 8 * MIB);
    fdy_store_close(&fx->store);

    /* Below what the data already uses: as small as LMDB allows, full. */
    assert_foundry_ok(s_open(fx, 1 * MIB, 1 * MIB));
    stats = s_stats(fx);
    assert_true(stats.map_size < 8 * MIB && stats.map_size >= stats.used_bytes);
    uint64_t last = s_fill(fx, id, "c", 20, 4000, &err); /* free pages only */
    assert_int_equal(err, FOUNDRY_EFULL);
    assert_int_equal(s_stats(fx).messages, stored + more + last);
    assert_int_equal(s_stats(fx).map_size, stats.map_size);
}

/* ---- what `bytes` counts ------------------------------------------------------ */

static void
test_store_limits_bytes_counts_message_as_sent(void **state)
{
    fixture_t *fx = *state;
    assert_foundry_ok(s_open(fx, 1 * MIB, 64 * MIB));
    const char *filters[] = {"b.>"};
    assert_foundry_ok(fdy_store_stream_create(fx->store, "b", filters, 1, &fx->reason));
    uint32_t id;
    assert_foundry_ok(fdy_store_stream_lookup(fx->store, "b", &id));

    /* data is the encoded Message as sent, ext its payload frame. The
     * record's header, publisher and id copy do not count: long ones here
     * would show. */
    static const size_t data_len[] = {1, 100, 333, 7};
    static const size_t ext_len[] = {0, 0, 0, 5000};
    uint8_t data[333], ext[5000];
    memset(data, 'd', sizeof data);
    memset(ext, 'e', sizeof ext);
    char publisher[FDY_STORE_PUBLISHER_MAX + 1], ids[4][FOUNDRY_MSG_ID_MAX + 1];
    memset(publisher, 'p', FDY_STORE_PUBLISHER_MAX);
    publisher[FDY_STORE_PUBLISHER_MAX] = '\0';
    fdy_store_item_t items[4];
    uint64_t want = 0;
    for (int i = 0; i < 4; i++) {
        memset(ids[i], 'a' + i, FOUNDRY_MSG_ID_MAX);
        ids[i][FOUNDRY_MSG_ID_MAX] = '\0';
        items[i] = (fdy_store_item_t){.stream_id = id,
                                      .msg_id = (const uint8_t *) ids[i],
                                      .msg_id_len = FOUNDRY_MSG_ID_MAX,
                                      .publisher = publisher,
                                      .data = data,
                                      .data_len = data_len[i],
                                      .ext = ext_len[i] ? ext : NULL,
                                      .ext_len = ext_len[i]};
        want += data_len[i] + ext_len[i];
    }
    assert_foundry_ok(fdy_store_append(fx->store, items, 4, &fx->reason));
    /* A duplicate adds nothing. */
    assert_foundry_ok(fdy_store_append(fx->store, items, 1, &fx->reason));
    assert_true(items[0].duplicate);
    fdy_stream_info_t info;
    assert_foundry_ok(fdy_store_stream_info(fx->store, "b", &info, &fx->reason));
    assert_int_equal(info.bytes, want); /* 1 + 100 + 333 + 7 + 5000 */
    assert_int_equal(info.bytes, 5441);
    fdy_store_stream_info_clear(&info);

    /* A dead-letter copy counts the same message bytes in its stream (its
     * dead-letter block does not). */
    fdy_dead_letter_t dl = {.stream_id = id,
                            .seq = 4,
                            .consumer = "c",
                            .deliveries = 5,
                            .reason = "max_deliver 5 reached without ack"};
    fdy_store_batch_t batch = {.dead_letters = &dl, .dead_letter_count = 1};
    assert_foundry_ok(fdy_store_commit(fx->store, &batch, &fx->reason));
    assert_false(dl.gone);
    assert_foundry_ok(fdy_store_stream_info(fx->store, "b-dlq", &info, &fx->reason));
    assert_int_equal(info.messages, 1);
    assert_int_equal(info.bytes, 7 + 5000);
    fdy_store_stream_info_clear(&info);

    /* Trimming takes off exactly what the record counted. */
    fdy_stream_limits_t lim = {0, 5100, 0};
    assert_foundry_ok(fdy_store_stream_update(fx->store, "b", NULL, 0, &lim, &fx->reason));
    size_t trimmed = 0;
    assert_foundry_ok(fdy_store_trim(fx->store, fdy_clock_wall_ns(), 100, &trimmed));
    assert_int_equal(trimmed, 3);
    assert_foundry_ok(fdy_store_stream_info(fx->store, "b", &info, &fx->reason));
    assert_int_equal(info.bytes, 5007);
    assert_int_equal(info.messages, 1);
    fdy_store_stream_info_clear(&info);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_limits_stream_limit_reported_without_map_growth,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_store_limits_map_size_max_caps_a_larger_recorded_map,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_store_limits_bytes_counts_message_as_sent, s_setup,
                                        s_teardown),
    };
    return cmocka_run_group_tests_name("store_limits", tests, NULL, NULL);
}
