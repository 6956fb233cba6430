/*  test_rollout_plan.c: wave SPECs, the assignment of nodes to waves (site
 *  lists, N%, *), gate expressions, and rollout.start's options
 *  (broker/rollouts/rollout_plan.c, rollout_options.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rollout_options.h"
#include "rollout_plan.h"

#include <string.h>

static void
test_rollout_plan_parses_sites_percent_and_rest(void **state)
{
    (void) state;
    fdy_rollout_waves_t w;
    fdy_reason_t why;
    assert_int_equal(fdy_rollout_plan_parse_waves("seongnam-lab;siheung, bucheon;10%;*", &w, &why),
                     FOUNDRY_OK);
    assert_int_equal(w.count, 4);
    assert_int_equal(w.waves[0].kind, FDY_ROLLOUT_WAVE_SITES);
    assert_int_equal(w.waves[0].site_count, 1);
    assert_string_equal(w.waves[0].sites[0], "seongnam-lab");
    assert_int_equal(w.waves[1].site_count, 2);
    assert_string_equal(w.waves[1].sites[1], "bucheon");
    assert_int_equal(w.waves[2].kind, FDY_ROLLOUT_WAVE_PERCENT);
    assert_int_equal(w.waves[2].percent, 10);
    assert_int_equal(w.waves[3].kind, FDY_ROLLOUT_WAVE_REST);
    char text[64];
    fdy_rollout_plan_wave_text(&w.waves[1], text, sizeof text);
    assert_string_equal(text, "siheung,bucheon");
    /* No spec is one wave of everything. */
    assert_int_equal(fdy_rollout_plan_parse_waves(NULL, &w, &why), FOUNDRY_OK);
    assert_int_equal(w.count, 1);
    assert_int_equal(w.waves[0].kind, FDY_ROLLOUT_WAVE_REST);
}

static void
test_rollout_plan_refuses_bad_specs_with_reasons(void **state)
{
    (void) state;
    fdy_rollout_waves_t w;
    fdy_reason_t why;
    assert_int_equal(fdy_rollout_plan_parse_waves("siheung;150%", &w, &why), FOUNDRY_EINVAL);
    assert_non_null(strstr(why.text, "wave 2"));
    assert_non_null(strstr(why.text, "150%"));
    assert_int_equal(fdy_rollout_plan_parse_waves("siheung;;pangyo", &w, &why), FOUNDRY_EINVAL);
    assert_non_null(strstr(why.text, "wave 2 is empty"));
    assert_int_equal(fdy_rollout_plan_parse_waves("*;siheung", &w, &why), FOUNDRY_EINVAL);
    assert_non_null(strstr(why.text, "no wave can follow"));
    assert_int_equal(fdy_rollout_plan_parse_waves("siheung,*", &w, &why), FOUNDRY_EINVAL);
    assert_int_equal(fdy_rollout_plan_parse_waves("si.heung", &w, &why), FOUNDRY_EINVAL);
    assert_int_equal(fdy_rollout_plan_parse_waves("hanam,hanam", &w, &why), FOUNDRY_EINVAL);
    assert_non_null(strstr(why.text, "twice"));
    assert_int_equal(fdy_rollout_plan_parse_waves("0%", &w, &why), FOUNDRY_EINVAL);
    assert_int_equal(fdy_rollout_plan_parse_waves("x%", &w, &why), FOUNDRY_EINVAL);
}

static const fdy_rollout_target_t s_nodes[] = {
    {"a1", "siheung"}, {"b1", "bucheon"},      {"b2", "bucheon"}, {"h1", "hanam"},
    {"h2", "hanam"},   {"l1", "seongnam-lab"}, {"p1", "pangyo"},  {"p2", "pangyo"},
};
#define NODE_COUNT (sizeof s_nodes / sizeof s_nodes[0])

static void
test_rollout_plan_assigns_sites_then_percent_then_rest(void **state)
{
    (void) state;
    fdy_rollout_waves_t w;
    fdy_reason_t why;
    assert_int_equal(fdy_rollout_plan_parse_waves("seongnam-lab;bucheon,siheung;25%;*", &w, &why),
                     FOUNDRY_OK);
    uint32_t wave[NODE_COUNT];
    fdy_rollout_plan_assign(&w, s_nodes, NODE_COUNT, wave);
    /* Wave 0: the lab. Wave 1: bucheon and siheung. Wave 2: 25% of 8 = 2
     * of the rest in name order (h1, h2). Wave 3: the rest. */
    const uint32_t want[NODE_COUNT] = {1, 1, 1, 2, 2, 0, 3, 3};
    assert_memory_equal(wave, want, sizeof want);
}

static void
test_rollout_plan_percent_rounds_up_and_takes_at_least_one(void **state)
{
    (void) state;
    fdy_rollout_waves_t w;
    fdy_reason_t why;
    assert_int_equal(fdy_rollout_plan_parse_waves("1%;30%", &w, &why), FOUNDRY_OK);
    uint32_t wave[NODE_COUNT];
    fdy_rollout_plan_assign(&w, s_nodes, NODE_COUNT, wave);
    /* 1% of 8 rounds up to 1; 30% of 8 = 2.4 -> 3; the last four in no wave. */
    const uint32_t want[NODE_COUNT] = {0,
                                       1,
                                       1,
                                       1,
                                       FDY_ROLLOUT_NO_WAVE,
                                       FDY_ROLLOUT_NO_WAVE,
                                       FDY_ROLLOUT_NO_WAVE,
                                       FDY_ROLLOUT_NO_WAVE};
    assert_memory_equal(wave, want, sizeof want);
}

static void
test_rollout_plan_site_list_leaves_other_sites_out(void **state)
{
    (void) state;
    fdy_rollout_waves_t w;
    fdy_reason_t why;
    assert_int_equal(fdy_rollout_plan_parse_waves("pangyo;hanam", &w, &why), FOUNDRY_OK);
    uint32_t wave[NODE_COUNT];
    fdy_rollout_plan_assign(&w, s_nodes, NODE_COUNT, wave);
    assert_int_equal(wave[6], 0);
    assert_int_equal(wave[7], 0);
    assert_int_equal(wave[3], 1);
    assert_int_equal(wave[0], FDY_ROLLOUT_NO_WAVE);
    assert_int_equal(wave[5], FDY_ROLLOUT_NO_WAVE);
}

static void
test_rollout_plan_gates_parse_and_hold(void **state)
{
    (void) state;
    fdy_rollout_gate_t g;
    fdy_reason_t why;
    assert_int_equal(fdy_rollout_plan_parse_gate("inspection.reject_rate<0.02", &g, &why),
                     FOUNDRY_OK);
    assert_string_equal(g.metric, "inspection.reject_rate");
    assert_int_equal(g.op, FDY_GATE_LT);
    assert_true(fdy_rollout_gate_holds(&g, 0.01));
    assert_false(fdy_rollout_gate_holds(&g, 0.02));
    char text[128];
    fdy_rollout_gate_text(&g, text, sizeof text);
    assert_string_equal(text, "inspection.reject_rate<0.02");
    assert_int_equal(fdy_rollout_plan_parse_gate("temp<=80", &g, &why), FOUNDRY_OK);
    assert_int_equal(g.op, FDY_GATE_LE);
    assert_true(fdy_rollout_gate_holds(&g, 80));
    assert_int_equal(fdy_rollout_plan_parse_gate("uptime>=1e3", &g, &why), FOUNDRY_OK);
    assert_false(fdy_rollout_gate_holds(&g, 999));
    assert_int_equal(fdy_rollout_plan_parse_gate("mode==2", &g, &why), FOUNDRY_OK);
    assert_true(fdy_rollout_gate_holds(&g, 2));
    assert_int_equal(fdy_rollout_plan_parse_gate("rpm>-5", &g, &why), FOUNDRY_OK);
    assert_true(fdy_rollout_gate_holds(&g, 0));
}

static void
test_rollout_plan_refuses_bad_gates(void **state)
{
    (void) state;
    fdy_rollout_gate_t g;
    fdy_reason_t why;
    const char *bad[] = {"temp",    "<5",      "temp<",    "temp<abc", "temp<5x",
                         "te mp<5", "temp=<5", "temp<nan", "temp<inf", "a..b<1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why.text[0] = '\0';
        assert_int_equal(fdy_rollout_plan_parse_gate(bad[i], &g, &why), FOUNDRY_EINVAL);
        assert_true(why.text[0] != '\0');
    }
}

static void
test_rollout_options_parse_defaults_and_everything(void **state)
{
    (void) state;
    fdy_rollout_options_t o;
    fdy_reason_t why;
    const char *args1[] = {"job=reindex"};
    assert_int_equal(fdy_rollout_options_parse(args1, 1, &o, &why), FOUNDRY_OK);
    assert_int_equal(o.kind, FDY_ROLLOUT_JOB);
    assert_int_equal(o.policy.success, 100);
    assert_int_equal(o.policy.rate, 0);
    assert_int_equal(o.waves.count, 1);
    const char *args2[] = {"model=vision@7", "waves=seongnam-lab;*", "rate=6",        "soak=500",
                           "success=80",     "abort_failures=2",     "abort_rate=50", "gate=t<1",
                           "gate=u>=2",      "site=siheung",         "label=line=3"};
    assert_int_equal(fdy_rollout_options_parse(args2, 11, &o, &why), FOUNDRY_OK);
    assert_int_equal(o.kind, FDY_ROLLOUT_MODEL);
    assert_string_equal(o.model, "vision");
    assert_int_equal(o.version, 7);
    assert_int_equal(o.waves.count, 2);
    assert_int_equal(o.policy.rate, 6);
    assert_int_equal(o.policy.soak_ms, 500);
    assert_int_equal(o.policy.success, 80);
    assert_int_equal(o.policy.abort_failures, 2);
    assert_int_equal(o.policy.abort_rate, 50);
    assert_int_equal(o.gate_count, 2);
    assert_true(fdy_rollout_options_site_ok(&o, "siheung"));
    assert_false(fdy_rollout_options_site_ok(&o, "hanam"));
    const char *has[] = {"line=3", "cam=a"};
    assert_true(fdy_rollout_options_labels_ok(&o, has, 2));
    assert_false(fdy_rollout_options_labels_ok(&o, has + 1, 1));
    char target[64];
    fdy_rollout_options_target(&o, target, sizeof target);
    assert_string_equal(target, "vision@7");
}

static void
test_rollout_options_refuse_with_reasons(void **state)
{
    (void) state;
    fdy_rollout_options_t o;
    fdy_reason_t why;
    struct {
        const char *args[3];
        size_t count;
        const char *says;
    } cases[] = {
        {{"rate=5"}, 1, "exactly one of model"},
        {{"job=a", "model=m@1"}, 2, "exactly one of model"},
        {{"model=vision"}, 1, "NAME@VERSION"},
        {{"model=vision@0"}, 1, "versions start at 1"},
        {{"job=a", "success=101"}, 2, "success=101"},
        {{"job=a", "rate=-1"}, 2, "rate=-1"},
        {{"job=a", "colour=red"}, 2, "unknown rollout option 'colour'"},
        {{"job=a", "rate=1", "rate=2"}, 3, "rate= given twice"},
        {{"model=m@1", "data=x"}, 2, "for fleet jobs"},
        {{"job=a b"}, 1, "job=a b"},
        {{"job=a", "label=nolabel"}, 2, "key=value"},
        {{"job=a", "waves=x;;y"}, 2, "wave 2 is empty"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        why.text[0] = '\0';
        assert_int_equal(fdy_rollout_options_parse(cases[i].args, cases[i].count, &o, &why),
                         FOUNDRY_EINVAL);
        if (!strstr(why.text, cases[i].says))
            fail_msg("case %zu: '%s' does not say '%s'", i, why.text, cases[i].says);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rollout_plan_parses_sites_percent_and_rest),
        cmocka_unit_test(test_rollout_plan_refuses_bad_specs_with_reasons),
        cmocka_unit_test(test_rollout_plan_assigns_sites_then_percent_then_rest),
        cmocka_unit_test(test_rollout_plan_percent_rounds_up_and_takes_at_least_one),
        cmocka_unit_test(test_rollout_plan_site_list_leaves_other_sites_out),
        cmocka_unit_test(test_rollout_plan_gates_parse_and_hold),
        cmocka_unit_test(test_rollout_plan_refuses_bad_gates),
        cmocka_unit_test(test_rollout_options_parse_defaults_and_everything),
        cmocka_unit_test(test_rollout_options_refuse_with_reasons),
    };
    return cmocka_run_group_tests_name("rollout_plan", tests, NULL, NULL);
}
