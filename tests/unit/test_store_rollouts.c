/*  test_store_rollouts.c: the rollouts table (broker/store/store_rollouts.c):
 *  a record's round trip through encode and decode, refusal of truncated
 *  and damaged records, the commit part and the direct put, the scan in id
 *  order, and the store check naming a record that does not decode or that
 *  names another rollout.
 */
#include "fixture_store.h"

#include "commit.h"
#include "store_check.h"
#include "store_rollouts.h"

#include <string.h>

static void
s_fill(fdy_rollout_record_t *rec, uint64_t id, fdy_rollout_node_t *nodes, char **args)
{
    memset(rec, 0, sizeof *rec);
    rec->id = id;
    rec->args = args;
    rec->arg_count = 2;
    rec->state = 1;
    rec->pause = 2;
    rec->wave = 1;
    rec->wave_done_ms = 11;
    rec->soak_from_ms = 12;
    rec->last_start_ms = 13;
    rec->created_ms = 14;
    rec->updated_ms = 15;
    snprintf(rec->reason, sizeof rec->reason, "wave 2: 1 of 2 failed, success needs 100%%");
    rec->nodes = nodes;
    rec->node_count = 2;
    memset(nodes, 0, 2 * sizeof *nodes);
    snprintf(nodes[0].name, sizeof nodes[0].name, "lab-1");
    snprintf(nodes[0].site, sizeof nodes[0].site, "seongnam-lab");
    nodes[0].state = 7;
    nodes[0].job_id = 42;
    snprintf(nodes[1].name, sizeof nodes[1].name, "si-1");
    snprintf(nodes[1].site, sizeof nodes[1].site, "siheung");
    nodes[1].wave = 1;
    nodes[1].state = 8;
    nodes[1].flags = 3;
    nodes[1].done_bytes = 100;
    nodes[1].total_bytes = 200;
    snprintf(nodes[1].reason, sizeof nodes[1].reason, "job 43 dead: handler exit 3");
}

static void
test_store_rollouts_record_round_trip(void **state)
{
    (void) state;
    char a0[] = "job=reindex", a1[] = "waves=seongnam-lab;*";
    char *args[] = {a0, a1};
    fdy_rollout_node_t nodes[2];
    fdy_rollout_record_t rec, back;
    s_fill(&rec, 5, nodes, args);
    uint8_t *buf;
    size_t len;
    fdy_reason_t why = {{0}};
    assert_int_equal(fdy_store_rollouts_encode(&rec, &buf, &len, &why), FOUNDRY_OK);
    assert_int_equal(fdy_store_rollouts_decode(buf, len, &back, &why), FOUNDRY_OK);
    assert_int_equal(back.id, 5);
    assert_int_equal(back.arg_count, 2);
    assert_string_equal(back.args[1], "waves=seongnam-lab;*");
    assert_int_equal(back.state, 1);
    assert_int_equal(back.pause, 2);
    assert_int_equal(back.wave, 1);
    assert_int_equal(back.wave_done_ms, 11);
    assert_int_equal(back.soak_from_ms, 12);
    assert_int_equal(back.last_start_ms, 13);
    assert_int_equal(back.created_ms, 14);
    assert_int_equal(back.updated_ms, 15);
    assert_string_equal(back.reason, rec.reason);
    assert_int_equal(back.node_count, 2);
    assert_memory_equal(&back.nodes[0], &nodes[0], sizeof nodes[0]);
    assert_memory_equal(&back.nodes[1], &nodes[1], sizeof nodes[1]);
    fdy_store_rollouts_record_clear(&back);
    /* Every truncation is refused, never read past. */
    for (size_t cut = 0; cut < len; cut++) {
        assert_int_equal(fdy_store_rollouts_decode(buf, cut, &back, &why), FOUNDRY_ECORRUPT);
        fdy_store_rollouts_record_clear(&back);
    }
    /* A NUL inside a string, and a bad version. */
    uint8_t *copy = malloc(len + 1);
    memcpy(copy, buf, len);
    copy[0] = 9;
    assert_int_equal(fdy_store_rollouts_decode(copy, len, &back, &why), FOUNDRY_ECORRUPT);
    assert_non_null(strstr(why.text, "version 9"));
    fdy_store_rollouts_record_clear(&back);
    memcpy(copy, buf, len);
    copy[len] = 0;
    assert_int_equal(fdy_store_rollouts_decode(copy, len + 1, &back, &why), FOUNDRY_ECORRUPT);
    fdy_store_rollouts_record_clear(&back);
    free(copy);
    free(buf);
}

typedef struct {
    uint64_t ids[8];
    size_t count, bad;
} s_seen_t;

static foundry_err
s_collect(uint64_t id, const fdy_rollout_record_t *rec, const char *bad, void *user,
          fdy_reason_t *reason)
{
    (void) reason;
    (void) bad;
    s_seen_t *seen = user;
    if (!rec) {
        seen->bad++;
        return FOUNDRY_OK;
    }
    assert_int_equal(rec->id, id);
    seen->ids[seen->count++] = id;
    return FOUNDRY_OK;
}

static void
test_store_rollouts_table_part_put_scan_and_check(void **state)
{
    (void) state;
    char dir[FX_STORE_DIR_LEN];
    fdy_store_t *store = NULL;
    fdy_reason_t reason = {{0}};
    fdy_store_opts_t opts = {.dedupe_window_ms = 60000};
    fx_store_open_tmp(dir, "fdy-store-rollouts", &opts, &store, &reason);
    char a0[] = "job=reindex", a1[] = "rate=1";
    char *args[] = {a0, a1};
    fdy_rollout_node_t nodes[2];
    fdy_rollout_record_t rec;
    s_fill(&rec, 3, nodes, args);
    assert_int_equal(fdy_store_rollouts_put(store, &rec, &reason), FOUNDRY_OK);
    s_fill(&rec, 1, nodes, args);
    uint8_t *buf;
    size_t len;
    assert_int_equal(fdy_store_rollouts_encode(&rec, &buf, &len, &reason), FOUNDRY_OK);
    fdy_store_rollout_write_t w = {1, buf, len};
    fdy_store_rollouts_t part = {&w, 1};
    fdy_commit_t commit;
    fdy_commit_init(&commit);
    fdy_commit_add(&commit, &fdy_store_rollouts_part, &part);
    assert_int_equal(fdy_commit_run(&commit, store, &reason), FOUNDRY_OK);
    assert_int_equal(fdy_commit_result(&commit, &part), FOUNDRY_OK);
    s_seen_t seen = {{0}, 0, 0};
    assert_int_equal(fdy_store_rollouts_scan(store, s_collect, &seen, &reason), FOUNDRY_OK);
    assert_int_equal(seen.count, 2);
    assert_int_equal(seen.ids[0], 1);
    assert_int_equal(seen.ids[1], 3);
    fdy_store_close(&store);
    assert_int_equal(fx_store_check(dir).verdict, FDY_STORE_CHECK_CLEAN);

    /* Rollout 1's record under id 7 and garbage as 9: both found. */
    fdy_store_opts_t reopen = {.dir = dir, .dedupe_window_ms = 60000};
    if (fdy_store_open(&reopen, &store, &reason) != FOUNDRY_OK)
        fail_msg("reopen: %s", reason.text);
    static const uint8_t garbage[] = {0x01, 0x02};
    fdy_store_rollout_write_t bad[] = {{7, buf, len}, {9, garbage, sizeof garbage}};
    fdy_store_rollouts_t bad_part = {bad, 2};
    fx_store_commit_one(store, &fdy_store_rollouts_part, &bad_part);
    s_seen_t again = {{0}, 0, 0};
    assert_int_equal(fdy_store_rollouts_scan(store, s_collect, &again, &reason), FOUNDRY_OK);
    assert_int_equal(again.count, 2);
    assert_int_equal(again.bad, 2);
    fdy_store_close(&store);
    fdy_store_check_result_t damaged = fx_store_check(dir);
    assert_int_equal(damaged.verdict, FDY_STORE_CHECK_DAMAGED);
    assert_int_equal(damaged.damaged, 2);
    assert_non_null(strstr(damaged.reason, "rollout 7: record names rollout 1"));
    fx_store_rm(dir, &store);
    free(buf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_rollouts_record_round_trip),
        cmocka_unit_test(test_store_rollouts_table_part_put_scan_and_check),
    };
    return cmocka_run_group_tests_name("store_rollouts", tests, NULL, NULL);
}
