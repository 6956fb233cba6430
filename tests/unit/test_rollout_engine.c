/*  test_rollout_engine.c: the rollout engine's decisions
 *  (broker/rollouts/rollout_engine.c) with a hand-driven clock: waves in
 *  order, rate limiting, soak timing, the success threshold's pause and
 *  what resume does, abort_failures and abort_rate, admin pause / resume /
 *  abort, out-of-order and foreign reports, label filters and gates.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rollout_engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1700000000000ull

typedef struct {
    const char *name;
    const char *site;
    uint32_t wave;
} s_node_t;

/* A rollout over nodes with the given args (job=t is added). */
static fdy_rollout_t *
s_rollout(const char *const *args, size_t count, const s_node_t *nodes, size_t node_count)
{
    fdy_rollout_t *r = calloc(1, sizeof *r);
    const char *all[16] = {"job=t"};
    for (size_t i = 0; i < count; i++)
        all[i + 1] = args[i];
    fdy_reason_t why;
    if (fdy_rollout_options_parse(all, count + 1, &r->options, &why) != FOUNDRY_OK)
        fail_msg("options: %s", why.text);
    r->rec.id = 1;
    r->rec.nodes = calloc(node_count, sizeof *r->rec.nodes);
    r->rec.node_count = node_count;
    for (size_t i = 0; i < node_count; i++) {
        snprintf(r->rec.nodes[i].name, FDY_NAME_MAX, "%s", nodes[i].name);
        snprintf(r->rec.nodes[i].site, FDY_NAME_MAX, "%s", nodes[i].site);
        r->rec.nodes[i].wave = nodes[i].wave;
    }
    return r;
}

static void
s_free(fdy_rollout_t *r)
{
    free(r->rec.nodes);
    free(r);
}

static fdy_rollout_node_state_t
s_state(fdy_rollout_t *r, const char *name)
{
    fdy_rollout_node_t *n = fdy_rollout_engine_node(r, name);
    assert_non_null(n);
    return (fdy_rollout_node_state_t) n->state;
}

/* Takes the start flags the service would act on; returns how many. */
static size_t
s_take_starts(fdy_rollout_t *r)
{
    size_t count = 0;
    for (size_t i = 0; i < r->rec.node_count; i++)
        if (r->rec.nodes[i].flags & FDY_RNODE_START_DUE) {
            r->rec.nodes[i].flags &= (uint8_t) ~FDY_RNODE_START_DUE;
            count++;
        }
    return count;
}

static void
s_end(fdy_rollout_t *r, const char *name, bool ok, uint64_t now)
{
    assert_true(fdy_rollout_engine_report(r, name, ok ? FDY_RNODE_HEALTHY : FDY_RNODE_FAILED,
                                          ok ? "" : "handler exit 3", 0, 0, now));
}

static const s_node_t s_three_waves[] = {
    {"lab1", "seongnam-lab", 0}, {"si1", "siheung", 1}, {"si2", "siheung", 1},
    {"ha1", "hanam", 2},         {"ha2", "hanam", 2},
};

static void
test_rollout_engine_runs_waves_in_order(void **state)
{
    (void) state;
    const char *args[] = {"waves=seongnam-lab;siheung;*"};
    fdy_rollout_t *r = s_rollout(args, 1, s_three_waves, 5);
    int64_t next;
    assert_true(fdy_rollout_engine_step(r, T0, NULL, &next));
    assert_int_equal(s_take_starts(r), 1);
    assert_int_equal(s_state(r, "lab1"), FDY_RNODE_STARTED);
    assert_int_equal(s_state(r, "si1"), FDY_RNODE_PENDING);
    /* Nothing new until the lab node ends. */
    assert_false(fdy_rollout_engine_step(r, T0 + 10, NULL, &next));
    assert_int_equal(next, INT64_MAX);
    s_end(r, "lab1", true, T0 + 20);
    assert_true(fdy_rollout_engine_step(r, T0 + 20, NULL, &next));
    assert_int_equal(r->rec.wave, 1);
    assert_int_equal(s_take_starts(r), 2);
    s_end(r, "si1", true, T0 + 30);
    s_end(r, "si2", true, T0 + 31);
    fdy_rollout_engine_step(r, T0 + 40, NULL, &next);
    assert_int_equal(r->rec.wave, 2);
    assert_int_equal(s_take_starts(r), 2);
    s_end(r, "ha1", true, T0 + 50);
    s_end(r, "ha2", true, T0 + 51);
    fdy_rollout_engine_step(r, T0 + 60, NULL, &next);
    assert_int_equal(r->rec.state, FDY_ROLLOUT_SUCCEEDED);
    fdy_rollout_counts_t c;
    fdy_rollout_engine_counts(r, &c);
    assert_int_equal(c.nodes, 5);
    assert_int_equal(c.healthy, 5);
    s_free(r);
}

static void
test_rollout_engine_rate_limits_starts(void **state)
{
    (void) state;
    const char *args[] = {"rate=2"}; /* one start every 30 s */
    const s_node_t nodes[] = {{"a", "s", 0}, {"b", "s", 0}, {"c", "s", 0}};
    fdy_rollout_t *r = s_rollout(args, 1, nodes, 3);
    int64_t next;
    fdy_rollout_engine_step(r, T0, NULL, &next);
    assert_int_equal(s_take_starts(r), 1);
    assert_int_equal(next, 30000);
    char why[128];
    fdy_rollout_engine_waiting(r, fdy_rollout_engine_node(r, "b"), T0 + 1000, why, sizeof why);
    assert_string_equal(why, "rate 2/min: next start in 29 s");
    fdy_rollout_engine_step(r, T0 + 29999, NULL, &next);
    assert_int_equal(s_take_starts(r), 0);
    assert_int_equal(next, 1);
    fdy_rollout_engine_step(r, T0 + 30000, NULL, &next);
    assert_int_equal(s_take_starts(r), 1);
    assert_int_equal(s_state(r, "b"), FDY_RNODE_STARTED);
    assert_int_equal(s_state(r, "c"), FDY_RNODE_PENDING);
    /* A node's end does not bypass the rate. */
    s_end(r, "a", true, T0 + 30001);
    fdy_rollout_engine_step(r, T0 + 30001, NULL, &next);
    assert_int_equal(s_take_starts(r), 0);
    fdy_rollout_engine_step(r, T0 + 60000, NULL, &next);
    assert_int_equal(s_take_starts(r), 1);
    s_free(r);
}

static void
test_rollout_engine_soaks_before_the_next_wave(void **state)
{
    (void) state;
    const char *args[] = {"waves=a;b", "soak=5000"};
    const s_node_t nodes[] = {{"n1", "a", 0}, {"n2", "b", 1}};
    fdy_rollout_t *r = s_rollout(args, 2, nodes, 2);
    int64_t next;
    fdy_rollout_engine_step(r, T0, NULL, &next);
    s_take_starts(r);
    s_end(r, "n1", true, T0 + 100);
    fdy_rollout_engine_step(r, T0 + 100, NULL, &next);
    assert_int_equal(r->rec.wave, 0);
    assert_int_equal(r->rec.wave_done_ms, T0 + 100);
    assert_int_equal(next, 5000);
    fdy_rollout_engine_step(r, T0 + 5099, NULL, &next);
    assert_int_equal(r->rec.wave, 0);
    assert_int_equal(next, 1);
    fdy_rollout_engine_step(r, T0 + 5100, NULL, &next);
    assert_int_equal(r->rec.wave, 1);
    assert_int_equal(s_take_starts(r), 1);
    s_free(r);
}

static void
test_rollout_engine_success_threshold_pauses_and_resume_accepts(void **state)
{
    (void) state;
    const s_node_t nodes[] = {{"a1", "a", 0}, {"a2", "a", 0}, {"a3", "a", 0},
                              {"a4", "a", 0}, {"a5", "a", 0}, {"b1", "b", 1}};
    const char *args[] = {"waves=b;a"};
    fdy_rollout_t *r = s_rollout(args, 1, nodes, 6);
    /* b1 is wave 1 here; make the five a-nodes wave 2 (index 1). */
    for (size_t i = 0; i < 5; i++)
        r->rec.nodes[i].wave = 1;
    r->rec.nodes[5].wave = 0;
    int64_t next;
    fdy_rollout_engine_step(r, T0, NULL, &next);
    s_end(r, "b1", true, T0 + 1);
    fdy_rollout_engine_step(r, T0 + 2, NULL, &next);
    assert_int_equal(r->rec.wave, 1);
    s_end(r, "a1", true, T0 + 3);
    s_end(r, "a2", false, T0 + 3);
    s_end(r, "a3", true, T0 + 3);
    s_end(r, "a4", false, T0 + 3);
    s_end(r, "a5", true, T0 + 3);
    assert_true(fdy_rollout_engine_step(r, T0 + 4, NULL, &next));
    assert_int_equal(r->rec.state, FDY_ROLLOUT_PAUSED);
    assert_int_equal(r->rec.pause, FDY_PAUSE_SUCCESS);
    assert_string_equal(r->rec.reason, "wave 2: 2 of 5 failed, success needs 100%");
    /* Still paused on the next step; resume accepts the wave. */
    fdy_rollout_engine_step(r, T0 + 5, NULL, &next);
    assert_int_equal(r->rec.state, FDY_ROLLOUT_PAUSED);
    fdy_reason_t why;
    assert_int_equal(fdy_rollout_engine_resume(r, T0 + 6, &why), FOUNDRY_OK);
    assert_string_equal(r->rec.reason, "");
    fdy_rollout_engine_step(r, T0 + 7, NULL, &next);
    assert_int_equal(r->rec.state, FDY_ROLLOUT_SUCCEEDED);
    s_free(r);
}

static void
test_rollout_engine_success_share_below_100(void **state)
{
    (void) state;
    const char *args[] = {"success=60"};
    const s_node_t nodes[] = {
        {"a", "s", 0}, {"b", "s", 0}, {"c", "s", 0}, {"d", "s", 0}, {"e", "s", 0}};
    fdy_rollout_t *r = s_rollout(args, 1, nodes, 5);
    int64_t next;
    fdy_rollout_engine_step(r, T0, NULL, &next);
    s_end(r, "a", true, T0);
    s_end(r, "b", true, T0);
    s_end(r, "c", true, T0);
    s_end(r, "d", false, T0);
    s_end(r, "e", false, T0);
    fdy_rollout_engine_step(r, T0 + 1, NULL, &next);
    assert_int_equal(r->rec.state, FDY_ROLLOUT_SUCCEEDED); /* 3 of 5 = 60% */
    s_free(r);
}

static void
test_rollout_engine_abort_failures_trips(void **state)
{
    (void) state;
    const char *args[] = {"abort_failures=2", "success=0"};
    const s_node_t nodes[] = {{"a", "s", 0}, {"b", "s", 0}, {"c", "s", 0}, {"d", "t", 1}};
    fdy_rollout_t *r = s_rollout(args, 2, nodes, 4);
    int64_t next;
    fdy_rollout_engine_step(r, T0, NULL, &next);
    assert_int_equal(s_take_starts(r), 3);
    s_end(r, "a", false, T0 + 1);
    fdy_rollout_engine_step(r, T0 + 1, NULL, &next);
    assert_int_equal(r->rec.state, FDY_ROLLOUT_RUNNING);
    s_end(r, "b", false, T0 + 2);
    assert_true(fdy_rollout_engine_step(r, T0 + 2, NULL, &next));
    assert_int_equal(r->rec.state, FDY_ROLLOUT_ABORTED);
    assert_string_equal(r->rec.reason, "abort_failures=2: 2 nodes failed");
    /* The node in flight is cancelled; the next wave never starts. */
    fdy_rollout_node_t *c = fdy_rollout_engine_node(r, "c");
    assert_int_equal(c->state, FDY_RNODE_CANCELLED);
    assert_true(c->flags & FDY_RNODE_CANCEL_DUE);
    assert_int_equal(s_state(r, "d"), FDY_RNODE_PENDING);
    /* Reports after the end change nothing. */
    assert_false(fdy_rollout_engine_report(r, "c", FDY_RNODE_HEALTHY, "", 0, 0, T0 + 3));
    assert_false(fdy_rollout_engine_step(r, T0 + 3, NULL, &next));
    s_free(r);
}

static void
test_rollout_engine_abort_rate_trips(void **state)
{
    (void) state;
    const char *args[] = {"abort_rate=50", "success=0"};
    const s_node_t nodes[] = {{"a", "s", 0}, {"b", "s", 0}, {"c", "s", 0}, {"d", "s", 0}};
    fdy_rollout_t *r = s_rollout(args, 2, nodes, 4);
    int64_t next;
    fdy_rollout_engine_step(r, T0, NULL, &next);
    s_end(r, "a", true, T0);
    s_end(r, "b", true, T0);
    s_end(r, "c", false, T0);
    fdy_rollout_engine_step(r, T0 + 1, NULL, &next); /* 1 of 3 = 33% */
    assert_int_equal(r->rec.state, FDY_ROLLOUT_RUNNING);
    s_end(r, "d", false, T0 + 2);
    fdy_rollout_engine_step(r, T0 + 2, NULL, &next); /* 2 of 4 = 50% */
    assert_int_equal(r->rec.state, FDY_ROLLOUT_ABORTED);
    assert_string_equal(r->rec.reason, "abort_rate=50%: 2 of 4 finished nodes failed");
    s_free(r);
}

static void
test_rollout_engine_admin_pause_resume_abort(void **state)
{
    (void) state;
    const char *args[] = {"waves=a;b"};
    const s_node_t nodes[] = {{"n1", "a", 0}, {"n2", "b", 1}};
    fdy_rollout_t *r = s_rollout(args, 1, nodes, 2);
    fdy_reason_t why;
    int64_t next;
    fdy_rollout_engine_step(r, T0, NULL, &next);
    s_take_starts(r);
    assert_int_equal(fdy_rollout_engine_pause(r, FDY_PAUSE_ADMIN, "paused by ops", T0, &why),
                     FOUNDRY_OK);
    assert_int_equal(fdy_rollout_engine_pause(r, FDY_PAUSE_ADMIN, "again", T0, &why),
                     FOUNDRY_EINVAL);
    assert_non_null(strstr(why.text, "is paused, not running"));
    /* Reports still count while paused, but no wave advances. */
    s_end(r, "n1", true, T0 + 1);
    fdy_rollout_engine_step(r, T0 + 2, NULL, &next);
    assert_int_equal(r->rec.wave, 0);
    assert_int_equal(s_state(r, "n2"), FDY_RNODE_PENDING);
    char text[128];
    fdy_rollout_engine_waiting(r, fdy_rollout_engine_node(r, "n2"), T0, text, sizeof text);
    assert_string_equal(text, "waits for wave 2 of 2");
    assert_int_equal(fdy_rollout_engine_resume(r, T0 + 3, &why), FOUNDRY_OK);
    assert_int_equal(fdy_rollout_engine_resume(r, T0 + 3, &why), FOUNDRY_EINVAL);
    fdy_rollout_engine_step(r, T0 + 4, NULL, &next);
    assert_int_equal(r->rec.wave, 1);
    assert_int_equal(s_take_starts(r), 1);
    assert_int_equal(fdy_rollout_engine_abort(r, "aborted by ops", T0 + 5, &why), FOUNDRY_OK);
    assert_int_equal(r->rec.state, FDY_ROLLOUT_ABORTED);
    assert_int_equal(s_state(r, "n2"), FDY_RNODE_CANCELLED);
    assert_int_equal(fdy_rollout_engine_abort(r, "again", T0 + 6, &why), FOUNDRY_EINVAL);
    assert_int_equal(fdy_rollout_engine_resume(r, T0 + 6, &why), FOUNDRY_EINVAL);
    s_free(r);
}

static void
test_rollout_engine_ignores_stale_and_foreign_reports(void **state)
{
    (void) state;
    const s_node_t nodes[] = {{"n1", "a", 0}, {"n2", "a", 0}};
    fdy_rollout_t *r = s_rollout(NULL, 0, nodes, 2);
    int64_t next;
    /* Before the start: a report is ignored. */
    assert_false(fdy_rollout_engine_report(r, "n1", FDY_RNODE_DOWNLOADING, "", 10, 0, T0));
    fdy_rollout_engine_step(r, T0, NULL, &next);
    /* A node not in the rollout. */
    assert_false(fdy_rollout_engine_report(r, "intruder", FDY_RNODE_HEALTHY, "", 0, 0, T0));
    assert_true(fdy_rollout_engine_report(r, "n1", FDY_RNODE_DOWNLOADING, "", 10, 100, T0));
    assert_true(fdy_rollout_engine_report(r, "n1", FDY_RNODE_INSTALLED, "", 100, 0, T0 + 1));
    /* Out of order: downloading after installed is stale. */
    assert_false(fdy_rollout_engine_report(r, "n1", FDY_RNODE_DOWNLOADING, "", 50, 0, T0 + 2));
    assert_int_equal(s_state(r, "n1"), FDY_RNODE_INSTALLED);
    assert_int_equal(fdy_rollout_engine_node(r, "n1")->total_bytes, 100);
    /* Same state again with nothing new: no change. */
    assert_false(fdy_rollout_engine_report(r, "n1", FDY_RNODE_INSTALLED, "", 100, 0, T0 + 3));
    assert_true(fdy_rollout_engine_report(r, "n1", FDY_RNODE_FAILED, "health", 0, 0, T0 + 4));
    /* After its end, nothing moves it. */
    assert_false(fdy_rollout_engine_report(r, "n1", FDY_RNODE_HEALTHY, "", 0, 0, T0 + 5));
    assert_string_equal(fdy_rollout_engine_node(r, "n1")->reason, "health");
    /* A healthy report may skip the intermediate states. */
    assert_true(fdy_rollout_engine_report(r, "n2", FDY_RNODE_HEALTHY, "", 0, 0, T0 + 6));
    s_free(r);
}

static void
test_rollout_engine_waits_for_labels_and_excludes(void **state)
{
    (void) state;
    const char *args[] = {"label=line=3"};
    const s_node_t nodes[] = {{"n1", "a", 0}, {"n2", "a", 0}};
    fdy_rollout_t *r = s_rollout(args, 1, nodes, 2);
    int64_t next;
    fdy_rollout_engine_step(r, T0, NULL, &next);
    assert_int_equal(s_take_starts(r), 0);
    char why[128];
    fdy_rollout_engine_waiting(r, fdy_rollout_engine_node(r, "n1"), T0, why, sizeof why);
    assert_non_null(strstr(why, "labels"));
    const char *l1[] = {"cam=a", "line=3"};
    const char *l2[] = {"line=4"};
    assert_true(fdy_rollout_engine_labels(r, "n1", l1, 2, T0 + 1));
    assert_true(fdy_rollout_engine_labels(r, "n2", l2, 1, T0 + 1));
    assert_int_equal(s_state(r, "n2"), FDY_RNODE_EXCLUDED);
    fdy_rollout_engine_step(r, T0 + 2, NULL, &next);
    assert_int_equal(s_take_starts(r), 1);
    s_end(r, "n1", true, T0 + 3);
    fdy_rollout_engine_step(r, T0 + 4, NULL, &next);
    /* The excluded node counts neither way. */
    assert_int_equal(r->rec.state, FDY_ROLLOUT_SUCCEEDED);
    fdy_rollout_counts_t c;
    fdy_rollout_engine_counts(r, &c);
    assert_int_equal(c.nodes, 1);
    s_free(r);
}

static void
test_rollout_engine_gates_pause_and_resume_restarts_soak(void **state)
{
    (void) state;
    const char *args[] = {"waves=a;b", "soak=1000", "gate=temp<80"};
    const s_node_t nodes[] = {{"n1", "a", 0}, {"n2", "b", 1}};
    fdy_rollout_t *r = s_rollout(args, 3, nodes, 2);
    int64_t next;
    uint64_t from, until;
    fdy_rollout_engine_step(r, T0, NULL, &next);
    assert_false(fdy_rollout_engine_soaking(r, &from, &until));
    s_end(r, "n1", true, T0 + 10);
    fdy_rollout_gates_t ok = {false, NULL};
    fdy_rollout_engine_step(r, T0 + 10, &ok, &next);
    assert_true(fdy_rollout_engine_soaking(r, &from, &until));
    assert_int_equal(from, T0 + 10);
    assert_int_equal(until, T0 + 1010);
    /* The soak is over, but the reader has not caught up: wait. */
    fdy_rollout_engine_step(r, T0 + 1010, &ok, &next);
    assert_int_equal(r->rec.wave, 0);
    fdy_rollout_gates_t bad = {false, "gate temp<80 violated: 91 at a/n1"};
    fdy_rollout_engine_step(r, T0 + 1011, &bad, &next);
    assert_int_equal(r->rec.state, FDY_ROLLOUT_PAUSED);
    assert_int_equal(r->rec.pause, FDY_PAUSE_GATE);
    assert_string_equal(r->rec.reason, "gate temp<80 violated: 91 at a/n1");
    fdy_reason_t why;
    assert_int_equal(fdy_rollout_engine_resume(r, T0 + 2000, &why), FOUNDRY_OK);
    assert_true(fdy_rollout_engine_soaking(r, &from, &until));
    assert_int_equal(from, T0 + 2000);
    fdy_rollout_gates_t held = {true, NULL};
    fdy_rollout_engine_step(r, T0 + 2500, &held, &next);
    assert_int_equal(r->rec.wave, 0);
    fdy_rollout_engine_step(r, T0 + 3000, &held, &next);
    assert_int_equal(r->rec.wave, 1);
    s_free(r);
}

static void
test_rollout_engine_node_state_names(void **state)
{
    (void) state;
    const char *model[] = {"pending",   "downloading", "verified", "waiting-interlock",
                           "installed", "healthy",     "failed"};
    for (size_t i = 0; i < sizeof model / sizeof model[0]; i++) {
        fdy_rollout_node_state_t s;
        assert_true(fdy_rollout_node_state_parse(model[i], &s));
        assert_string_equal(fdy_rollout_node_state_name(s), model[i]);
    }
    fdy_rollout_node_state_t s;
    assert_false(fdy_rollout_node_state_parse("exploded", &s));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rollout_engine_runs_waves_in_order),
        cmocka_unit_test(test_rollout_engine_rate_limits_starts),
        cmocka_unit_test(test_rollout_engine_soaks_before_the_next_wave),
        cmocka_unit_test(test_rollout_engine_success_threshold_pauses_and_resume_accepts),
        cmocka_unit_test(test_rollout_engine_success_share_below_100),
        cmocka_unit_test(test_rollout_engine_abort_failures_trips),
        cmocka_unit_test(test_rollout_engine_abort_rate_trips),
        cmocka_unit_test(test_rollout_engine_admin_pause_resume_abort),
        cmocka_unit_test(test_rollout_engine_ignores_stale_and_foreign_reports),
        cmocka_unit_test(test_rollout_engine_waits_for_labels_and_excludes),
        cmocka_unit_test(test_rollout_engine_gates_pause_and_resume_restarts_soak),
        cmocka_unit_test(test_rollout_engine_node_state_names),
    };
    return cmocka_run_group_tests_name("rollout_engine", tests, NULL, NULL);
}
