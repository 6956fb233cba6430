/*  test_store_audit.c: the audit log's hash chain (store_audit.c) on a real
 *  store: appends chain; a flipped byte, a deleted or cut entry, a moved
 *  trim point or a lost head record is named by seq; retention trims from
 *  the start and verify passes from the trim point; the commit part rides a
 *  turn's commit; secret-looking admin args are elided (audit_entry.c).
 */
#include "audit_entry.h"
#include "commit.h"
#include "store_audit.h"
#include "tamper.h"

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

#define SECOND_NS 1000000000ull
#define ENTRIES   6

typedef struct {
    char dir[FX_STORE_DIR_LEN];
    fdy_store_t *store;
    fdy_reason_t reason;
    fdy_audit_entry_t entries[ENTRIES];
} fixture_t;

static void
s_entry(fdy_audit_entry_t *e, const char *principal, const char *command, uint64_t time_ns)
{
    memset(e, 0, sizeof *e);
    e->kind = FDY_AUDIT_ADMIN;
    e->time_ns = time_ns;
    e->result = FOUNDRY_OK;
    snprintf(e->principal, sizeof e->principal, "%s", principal);
    snprintf(e->command, sizeof e->command, "%s", command);
    snprintf(e->args, sizeof e->args, "name=n-%s", command);
}

static void
s_reopen(fixture_t *fx)
{
    fdy_store_close(&fx->store);
    fdy_store_opts_t opts = {.dir = fx->dir, .map_size = 0, .map_size_max = 0,
                             .dedupe_window_ms = 0, .read_only = false};
    assert_foundry_ok(fdy_store_open(&opts, &fx->store, &fx->reason));
}

/* Closes the store so tamper.c may open it (not twice in one process). */
static void
s_close(fixture_t *fx)
{
    fdy_store_close(&fx->store);
}

static fdy_audit_verify_t
s_verify(fixture_t *fx, foundry_err want)
{
    fdy_audit_verify_t result;
    foundry_err err = fdy_store_audit_verify(fx->store, &result, &fx->reason);
    if (err != want)
        fail_msg("verify: %s (%s), want %s", foundry_strerror(err), fx->reason.text,
                 foundry_strerror(want));
    return result;
}

/* Six admin entries, one second apart from t=1s: 1, 2 and 3 alone, then
 * 4..6 in one append. */
static int
setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    fdy_store_opts_t opts = {.dir = NULL, .map_size = 0, .map_size_max = 0,
                             .dedupe_window_ms = 0, .read_only = false};
    fx_store_open_tmp(fx->dir, "test_store_audit", &opts, &fx->store, &fx->reason);
    const char *who[ENTRIES] = {"admin", "ops", "admin", "ops", "admin", "admin"};
    for (size_t i = 0; i < ENTRIES; i++) {
        char command[32];
        snprintf(command, sizeof command, "cmd%zu", i + 1);
        s_entry(&fx->entries[i], who[i], command, (i + 1) * SECOND_NS);
    }
    for (size_t i = 0; i < 3; i++)
        assert_foundry_ok(fdy_store_audit_append(fx->store, &fx->entries[i], 1, &fx->reason));
    assert_foundry_ok(fdy_store_audit_append(fx->store, &fx->entries[3], 3, &fx->reason));
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *fx = *state;
    fx_store_rm(fx->dir, &fx->store);
    free(fx);
    return 0;
}

/* ---- the chain ---------------------------------------------------------------- */

static void
test_store_audit_append_chains(void **state)
{
    fixture_t *fx = *state;
    static const uint8_t zero[FDY_AUDIT_HASH_LEN];
    for (size_t i = 0; i < ENTRIES; i++) {
        assert_int_equal(fx->entries[i].seq, i + 1);
        const uint8_t *prev = i ? fx->entries[i - 1].hash : zero;
        assert_memory_equal(fx->entries[i].prev_hash, prev, FDY_AUDIT_HASH_LEN);
        assert_memory_not_equal(fx->entries[i].hash, zero, FDY_AUDIT_HASH_LEN);
    }
    fdy_audit_verify_t v = s_verify(fx, FOUNDRY_OK);
    assert_int_equal(v.entries, ENTRIES);
    assert_int_equal(v.from_seq, 1);
    assert_int_equal(v.last_seq, ENTRIES);
    assert_int_equal(v.bad_seq, 0);
    assert_memory_equal(v.head_hash, fx->entries[ENTRIES - 1].hash, FDY_AUDIT_HASH_LEN);
    /* The head survives a reopen: the chain goes on from it. */
    s_reopen(fx);
    fdy_audit_entry_t more;
    s_entry(&more, "admin", "after", 10 * SECOND_NS);
    assert_foundry_ok(fdy_store_audit_append(fx->store, &more, 1, &fx->reason));
    assert_int_equal(more.seq, ENTRIES + 1);
    assert_memory_equal(more.prev_hash, fx->entries[ENTRIES - 1].hash, FDY_AUDIT_HASH_LEN);
    assert_int_equal(s_verify(fx, FOUNDRY_OK).entries, ENTRIES + 1);
}

/* Every field of the record is covered: a flip at any of these offsets
 * (result, time, prev_hash, hash, lengths, text, last byte) is named. */
static void
test_store_audit_flipped_byte_names_seq(void **state)
{
    fixture_t *fx = *state;
    const size_t offsets[] = {2, 9, 20, 60, 81, 88, 95};
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
        s_close(fx);
        assert_foundry_ok(fdy_tamper_audit_flip(fx->dir, 3, offsets[i], &fx->reason));
        s_reopen(fx);
        fdy_audit_verify_t v = s_verify(fx, FOUNDRY_ECORRUPT);
        if (v.bad_seq != 3)
            fail_msg("flip at %zu: bad_seq %llu (%s), want 3", offsets[i],
                     (unsigned long long) v.bad_seq, v.reason);
        assert_non_null(strstr(fx->reason.text, "seq 3"));
        /* Flipped back, it is whole again: the check is exact. */
        s_close(fx);
        assert_foundry_ok(fdy_tamper_audit_flip(fx->dir, 3, offsets[i], &fx->reason));
        s_reopen(fx);
        s_verify(fx, FOUNDRY_OK);
    }
}

static void
test_store_audit_deleted_entry_detected(void **state)
{
    fixture_t *fx = *state;
    s_close(fx);
    assert_foundry_ok(fdy_tamper_audit_delete(fx->dir, 4, &fx->reason));
    s_reopen(fx);
    fdy_audit_verify_t v = s_verify(fx, FOUNDRY_ECORRUPT);
    assert_int_equal(v.bad_seq, 4);
    assert_non_null(strstr(v.reason, "missing"));
}

static void
test_store_audit_deleted_first_or_last_detected(void **state)
{
    fixture_t *fx = *state;
    /* The last: the head record still names it. */
    s_close(fx);
    assert_foundry_ok(fdy_tamper_audit_delete(fx->dir, ENTRIES, &fx->reason));
    s_reopen(fx);
    assert_int_equal(s_verify(fx, FOUNDRY_ECORRUPT).bad_seq, ENTRIES);
    /* The first: nothing was ever trimmed, so the chain starts at 1. */
    s_close(fx);
    assert_foundry_ok(fdy_tamper_audit_delete(fx->dir, 1, &fx->reason));
    s_reopen(fx);
    assert_int_equal(s_verify(fx, FOUNDRY_ECORRUPT).bad_seq, 1);
}

/* The head record is lost: appends go on after the last entry, and the
 * break is named at the first entry appended after it. */
static void
test_store_audit_append_survives_lost_head(void **state)
{
    fixture_t *fx = *state;
    s_close(fx);
    assert_foundry_ok(fdy_tamper_audit_forget_head(fx->dir, &fx->reason));
    s_reopen(fx);
    fdy_audit_entry_t more;
    s_entry(&more, "admin", "after", 10 * SECOND_NS);
    assert_foundry_ok(fdy_store_audit_append(fx->store, &more, 1, &fx->reason));
    assert_int_equal(more.seq, ENTRIES + 1);
    fdy_audit_verify_t v = s_verify(fx, FOUNDRY_ECORRUPT);
    assert_int_equal(v.bad_seq, ENTRIES + 1);
    assert_non_null(strstr(v.reason, "prev_hash"));
}

/* A record cut short does not decode: read lists it as damaged and goes
 * on; verify names it. */
static foundry_err
s_collect(const fdy_audit_entry_t *entry, void *user, bool *stop)
{
    (void) stop;
    fdy_audit_entry_t *out = user;
    out[entry->seq - 1] = *entry;
    return FOUNDRY_OK;
}

static void
test_store_audit_damaged_record_listed(void **state)
{
    fixture_t *fx = *state;
    s_close(fx);
    assert_foundry_ok(fdy_tamper_audit_truncate(fx->dir, 2, 40, &fx->reason));
    s_reopen(fx);
    fdy_audit_entry_t seen[ENTRIES];
    memset(seen, 0, sizeof seen);
    fdy_audit_query_t all = {0};
    assert_foundry_ok(fdy_store_audit_read(fx->store, &all, s_collect, seen, &fx->reason));
    assert_int_equal(seen[1].kind, FDY_AUDIT_DAMAGED);
    assert_int_equal(seen[1].seq, 2);
    assert_string_equal(seen[2].command, "cmd3");
    assert_string_equal(seen[ENTRIES - 1].command, "cmd6");
    assert_int_equal(s_verify(fx, FOUNDRY_ECORRUPT).bad_seq, 2);
}

/* ---- reading --------------------------------------------------------------------- */

typedef struct {
    uint64_t seqs[ENTRIES + 2];
    size_t count;
    size_t stop_after;
} s_seen_t;

static foundry_err
s_seqs(const fdy_audit_entry_t *entry, void *user, bool *stop)
{
    s_seen_t *seen = user;
    seen->seqs[seen->count++] = entry->seq;
    *stop = seen->count == seen->stop_after;
    return FOUNDRY_OK;
}

static void
test_store_audit_read_filters(void **state)
{
    fixture_t *fx = *state;
    s_seen_t seen = {.stop_after = 0};
    fdy_audit_query_t ops = {.principal = "ops"};
    assert_foundry_ok(fdy_store_audit_read(fx->store, &ops, s_seqs, &seen, &fx->reason));
    assert_int_equal(seen.count, 2);
    assert_int_equal(seen.seqs[0], 2);
    assert_int_equal(seen.seqs[1], 4);

    seen = (s_seen_t){.stop_after = 0};
    fdy_audit_query_t since = {.since_ns = 5 * SECOND_NS};
    assert_foundry_ok(fdy_store_audit_read(fx->store, &since, s_seqs, &seen, &fx->reason));
    assert_int_equal(seen.count, 2);
    assert_int_equal(seen.seqs[0], 5);

    seen = (s_seen_t){.stop_after = 2};
    fdy_audit_query_t from = {.from_seq = 3};
    assert_foundry_ok(fdy_store_audit_read(fx->store, &from, s_seqs, &seen, &fx->reason));
    assert_int_equal(seen.count, 2);
    assert_int_equal(seen.seqs[0], 3);
    assert_int_equal(seen.seqs[1], 4);
}

/* ---- retention ------------------------------------------------------------------- */

static void
test_store_audit_trim_verifies_from_trim_point(void **state)
{
    fixture_t *fx = *state;
    fdy_audit_trimmed_t trimmed;
    /* At t=10s with a 6.5 s limit, entries 1..3 (t=1..3s) are too old. */
    assert_foundry_ok(fdy_store_audit_trim(fx->store, 10 * SECOND_NS, 6500000000ull, 0, 100,
                                           &trimmed, &fx->reason));
    assert_int_equal(trimmed.removed, 3);
    assert_int_equal(trimmed.through_seq, 3);
    assert_false(trimmed.more);
    fdy_audit_verify_t v = s_verify(fx, FOUNDRY_OK);
    assert_int_equal(v.from_seq, 4);
    assert_int_equal(v.anchor_seq, 3);
    assert_int_equal(v.entries, 4); /* 4, 5, 6 and the trim entry */
    s_seen_t seen = {.stop_after = 0};
    fdy_audit_entry_t last[ENTRIES + 1];
    memset(last, 0, sizeof last);
    fdy_audit_query_t from = {.from_seq = ENTRIES + 1};
    assert_foundry_ok(fdy_store_audit_read(fx->store, &from, s_seqs, &seen, &fx->reason));
    assert_int_equal(seen.count, 1);
    fdy_audit_query_t all = {0};
    assert_foundry_ok(fdy_store_audit_read(fx->store, &all, s_collect, last, &fx->reason));
    assert_int_equal(last[ENTRIES].kind, FDY_AUDIT_TRIM);
    assert_string_equal(last[ENTRIES].args, "through_seq=3 entries=3");

    /* Nothing more is due: no change. */
    assert_foundry_ok(fdy_store_audit_trim(fx->store, 10 * SECOND_NS, 6500000000ull, 0, 100,
                                           &trimmed, &fx->reason));
    assert_int_equal(trimmed.removed, 0);

    /* By size, in batches of at most 2 a call: a backlog says more. */
    uint64_t entries, bytes;
    assert_foundry_ok(fdy_store_audit_size(fx->store, &entries, &bytes, &fx->reason));
    assert_int_equal(entries, 4);
    assert_foundry_ok(
        fdy_store_audit_trim(fx->store, 10 * SECOND_NS, 0, bytes / 4, 2, &trimmed, &fx->reason));
    assert_int_equal(trimmed.removed, 2);
    assert_true(trimmed.more);
    v = s_verify(fx, FOUNDRY_OK);
    assert_int_equal(v.anchor_seq, 5);
    assert_int_equal(v.from_seq, 6);

    /* Appends after a trim chain on, and survive a reopen. */
    s_reopen(fx);
    fdy_audit_entry_t more;
    s_entry(&more, "admin", "later", 20 * SECOND_NS);
    assert_foundry_ok(fdy_store_audit_append(fx->store, &more, 1, &fx->reason));
    s_verify(fx, FOUNDRY_OK);
}

/* Deleting more from the start and moving the trim point by hand: the
 * last trim entry still names the old one. */
static void
test_store_audit_moved_trim_point_detected(void **state)
{
    fixture_t *fx = *state;
    fdy_audit_trimmed_t trimmed;
    assert_foundry_ok(fdy_store_audit_trim(fx->store, 10 * SECOND_NS, 8500000000ull, 0, 100,
                                           &trimmed, &fx->reason));
    assert_int_equal(trimmed.through_seq, 1);
    s_close(fx);
    assert_foundry_ok(fdy_tamper_audit_anchor(fx->dir, 2, &fx->reason));
    assert_foundry_ok(fdy_tamper_audit_delete(fx->dir, 2, &fx->reason));
    s_reopen(fx);
    fdy_audit_verify_t v = s_verify(fx, FOUNDRY_ECORRUPT);
    assert_int_equal(v.bad_seq, 2);
    assert_non_null(strstr(v.reason, "trim"));
}

/* ---- the commit part --------------------------------------------------------------- */

static void
test_store_audit_part_rides_commit(void **state)
{
    fixture_t *fx = *state;
    const char *filters[] = {"orders.>"};
    assert_foundry_ok(fdy_store_stream_create(fx->store, "orders", filters, 1, &fx->reason));
    uint32_t stream_id;
    assert_foundry_ok(fdy_store_stream_lookup(fx->store, "orders", &stream_id));
    fdy_store_item_t item = {0};
    item.stream_id = stream_id;
    item.msg_id = (const uint8_t *) "m1";
    item.msg_id_len = 2;
    item.publisher = "tester";
    item.data = (const uint8_t *) "x";
    item.data_len = 1;
    fdy_store_items_t items = {&item, 1};
    fdy_audit_entry_t refused[2];
    for (size_t i = 0; i < 2; i++) {
        memset(&refused[i], 0, sizeof refused[i]);
        refused[i].kind = FDY_AUDIT_AUTH_REFUSED;
        refused[i].result = FOUNDRY_EAUTH;
        snprintf(refused[i].reason, sizeof refused[i].reason, "unknown key");
    }
    fdy_store_audit_entries_t audit = {refused, 2};
    uint64_t commits_before = 0;
    fdy_store_stats_t stats;
    assert_foundry_ok(fdy_store_stats(fx->store, &stats));
    commits_before = stats.commits;
    fdy_commit_t commit;
    fdy_commit_init(&commit);
    fdy_commit_add(&commit, &fdy_store_messages_part, &items);
    fdy_commit_add(&commit, &fdy_store_audit_part, &audit);
    assert_foundry_ok(fdy_commit_run(&commit, fx->store, &fx->reason));
    assert_int_equal(fdy_commit_result(&commit, &audit), FOUNDRY_OK);
    assert_int_equal(item.seq, 1);
    assert_int_equal(refused[0].seq, ENTRIES + 1);
    assert_int_equal(refused[1].seq, ENTRIES + 2);
    assert_foundry_ok(fdy_store_stats(fx->store, &stats));
    assert_int_equal(stats.commits, commits_before + 1); /* one fsync for both */
    assert_int_equal(s_verify(fx, FOUNDRY_OK).entries, ENTRIES + 2);

    /* A bad entry drops the part, never the messages. */
    refused[0].kind = (fdy_audit_kind_t) 99;
    item.msg_id = (const uint8_t *) "m2";
    fdy_commit_init(&commit);
    fdy_commit_add(&commit, &fdy_store_messages_part, &items);
    fdy_commit_add(&commit, &fdy_store_audit_part, &audit);
    assert_foundry_ok(fdy_commit_run(&commit, fx->store, &fx->reason));
    assert_int_equal(fdy_commit_result(&commit, &audit), FOUNDRY_EINVAL);
    assert_int_equal(item.seq, 2);
    assert_int_equal(s_verify(fx, FOUNDRY_OK).entries, ENTRIES + 2);
}

/* ---- entry texts ---------------------------------------------------------------------- */

static void
test_store_audit_args_elide_secrets(void **state)
{
    (void) state;
    const char *z85 = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
    const char *hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char key_arg[64], note_arg[64], hex_arg[100];
    snprintf(key_arg, sizeof key_arg, "key=%s", z85);
    snprintf(note_arg, sizeof note_arg, "note=%s", z85);
    snprintf(hex_arg, sizeof hex_arg, "seed=%s", hex);
    const char *args[] = {
        "name=robot-1",
        key_arg,
        "secret_key=abc123",
        "Password=hunter2",
        "api_token=t0k",
        note_arg,
        hex_arg,
        "comment=my secret-key line",
        "private",
        "allow=telemetry.>",
    };
    char out[FDY_AUDIT_ARGS_MAX + 1];
    fdy_audit_entry_join_args(out, sizeof out, args, sizeof args / sizeof args[0]);
    char want[512];
    snprintf(want, sizeof want,
             "name=robot-1 key=%s secret_key=<elided> Password=<elided> api_token=<elided> "
             "note=<elided> seed=<elided> comment=<elided> <elided> allow=telemetry.>",
             z85);
    assert_string_equal(out, want);
    assert_null(strstr(out, "abc123"));
    assert_null(strstr(out, "hunter2"));

    /* Too long: cut, marked, still printable UTF-8. */
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big, "name=\xed\x95\x9c", 8); /* a Hangul syllable first */
    const char *long_args[] = {big};
    char cut[32];
    fdy_audit_entry_join_args(cut, sizeof cut, long_args, 1);
    assert_int_equal(strlen(cut), sizeof cut - 1);
    assert_string_equal(cut + strlen(cut) - 3, "...");
    assert_memory_equal(cut, "name=\xed\x95\x9c", 8);

    char text[7];
    fdy_audit_entry_text(text, sizeof text, "a\nb\xff\xed\x95\x9c"); /* no room for the syllable */
    assert_string_equal(text, "a?b?");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_audit_append_chains, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_audit_flipped_byte_names_seq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_audit_deleted_entry_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_audit_deleted_first_or_last_detected, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_audit_append_survives_lost_head, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_audit_damaged_record_listed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_audit_read_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_audit_trim_verifies_from_trim_point, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_audit_moved_trim_point_detected, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_audit_part_rides_commit, setup, teardown),
        cmocka_unit_test(test_store_audit_args_elide_secrets),
    };
    return cmocka_run_group_tests_name("store_audit", tests, NULL, NULL);
}
