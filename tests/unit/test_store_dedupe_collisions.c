/*  test_store_dedupe_collisions.c: the dedupe index when every key hashes
 *  alike. crypto_shorthash is wrapped at link time to return one of four
 *  values, so nearly every lookup hits entries of other keys: each hit
 *  must be confirmed against its record, no message is dropped as a false
 *  duplicate, and real duplicates still name their original seq, also
 *  after a reopen and through the prune.
 */
#include "clock.h"
#include "store.h"

#include "fixture_store.h"

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

int __wrap_crypto_shorthash(unsigned char *out, const unsigned char *in, unsigned long long inlen,
                            const unsigned char *k);

/* Four hashes for every key there is: the last input byte's low bits. */
int
__wrap_crypto_shorthash(unsigned char *out, const unsigned char *in, unsigned long long inlen,
                        const unsigned char *k)
{
    (void) k;
    memset(out, 0, 8);
    out[7] = inlen ? (unsigned char) (in[inlen - 1] & 3) : 0;
    return 0;
}

typedef struct {
    char dir[FX_STORE_DIR_LEN];
    fdy_store_t *store;
    fdy_reason_t reason;
} fixture_t;

static void
s_open_window(fixture_t *fx, uint64_t window_ms)
{
    fdy_store_opts_t opts = {.dir = fx->dir, .map_size = 1u << 20, .map_size_max = 64u << 20,
                             .dedupe_window_ms = window_ms, .dedupe_index_max = 0};
    assert_foundry_ok(fdy_store_open(&opts, &fx->store, &fx->reason));
}

static void
s_open(fixture_t *fx)
{
    s_open_window(fx, WINDOW_MS);
}

static int
s_setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx_store_open_tmp(fx->dir, "test_store_dedupe_collisions", NULL, NULL, NULL);
    s_open(fx);
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

/* Publishes ids 0..n-1 of one principal; expects each new (or each a
 * duplicate of seq i + 1). */
static void
s_publish_all(fixture_t *fx, uint32_t stream_id, const char *publisher, int n, bool duplicates,
              uint64_t first_seq)
{
    for (int i = 0; i < n; i++) {
        char mid[16];
        snprintf(mid, sizeof mid, "id-%d", i);
        fdy_store_item_t it = {0};
        it.stream_id = stream_id;
        it.publisher = publisher;
        it.msg_id = (const uint8_t *) mid;
        it.msg_id_len = strlen(mid);
        it.data = (const uint8_t *) mid;
        it.data_len = strlen(mid);
        assert_foundry_ok(fdy_store_append(fx->store, &it, 1, &fx->reason));
        if (it.duplicate != duplicates)
            fail_msg("%s %s: duplicate %d, seq %llu", publisher, mid, it.duplicate,
                     (unsigned long long) it.seq);
        assert_int_equal(it.seq, first_seq + (uint64_t) i);
    }
}

static void
test_store_dedupe_collisions_confirmed_against_records(void **state)
{
    fixture_t *fx = *state;
    const char *filters[] = {"t.>"};
    assert_foundry_ok(fdy_store_stream_create(fx->store, "t", filters, 1, &fx->reason));
    uint32_t id = 0;
    assert_foundry_ok(fdy_store_stream_lookup(fx->store, "t", &id));
    enum { N = 300 };
    s_publish_all(fx, id, "node-a", N, false, 1);
    s_publish_all(fx, id, "partner-b", N, false, N + 1); /* same ids, another principal */
    s_publish_all(fx, id, "node-a", N, true, 1);
    fdy_store_close(&fx->store);
    s_open(fx);
    s_publish_all(fx, id, "partner-b", N, true, N + 1);
    fdy_store_stats_t stats;
    assert_foundry_ok(fdy_store_stats(fx->store, &stats));
    assert_int_equal(stats.dedupe_entries, 2 * N);
    assert_int_equal(stats.messages, 2 * N);

    /* Reopened with a 1 s window (some of the ids above may still be in it)
     * and given fresh ones: once the window has passed, the prune removes
     * every entry, each by its own seq among its colliding neighbours. */
    fdy_store_close(&fx->store);
    s_open_window(fx, 1000);
    s_publish_all(fx, id, "partner-c", N, false, 2 * N + 1);
    assert_foundry_ok(fdy_store_stats(fx->store, &stats));
    uint64_t entries = stats.dedupe_entries;
    assert_true(entries >= N);
    uint64_t until = fdy_store_now_ns(fx->store) + 1100000000ull;
    uint64_t deadline = fdy_clock_mono_ns() + 10000000000ull;
    while (fdy_store_now_ns(fx->store) <= until) {
        assert_true(fdy_clock_mono_ns() < deadline);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    size_t pruned = 0;
    assert_foundry_ok(
        fdy_store_prune_dedupe(fx->store, fdy_store_now_ns(fx->store), 4 * N, &pruned));
    assert_int_equal(pruned, entries);
    assert_foundry_ok(fdy_store_stats(fx->store, &stats));
    assert_int_equal(stats.dedupe_entries, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_dedupe_collisions_confirmed_against_records,
                                        s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("store_dedupe_collisions", tests, NULL, NULL);
}
