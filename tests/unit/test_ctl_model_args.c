/*  test_ctl_model_args.c: the values foundryctl's model and rollout
 *  commands take (broker/ctl/ctl_model_args.c): NAME@VERSION, wave specs,
 *  rates, percentages and gates are refused with a reason naming what is
 *  wrong; the rollout options become exactly the rollout.start arguments
 *  of docs/rollouts.md; a rollback plan names the current version
 *  and a release version above every one seen.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ctl_model_args.h"

#include <stdlib.h>
#include <string.h>

static void
assert_refused(foundry_err err, const fdy_reason_t *reason, const char *needle)
{
    assert_int_equal(err, FOUNDRY_EINVAL);
    if (!strstr(reason->text, needle))
        fail_msg("reason '%s' does not mention '%s'", reason->text, needle);
}

static void
test_ctl_model_args_ref(void **state)
{
    (void) state;
    char name[FDY_MODEL_NAME_MAX + 1];
    uint64_t version = 99;
    fdy_reason_t reason = {{0}};
    assert_int_equal(fdy_ctl_model_ref_parse("detector@7", true, name, &version, &reason),
                     FOUNDRY_OK);
    assert_string_equal(name, "detector");
    assert_int_equal(version, 7);
    assert_int_equal(fdy_ctl_model_ref_parse("det.v2_x-1", false, name, &version, &reason),
                     FOUNDRY_OK);
    assert_string_equal(name, "det.v2_x-1");
    assert_int_equal(version, 0);
    assert_refused(fdy_ctl_model_ref_parse("detector", true, name, &version, &reason), &reason,
                   "needs a version");
    assert_refused(fdy_ctl_model_ref_parse("detector@0", true, name, &version, &reason), &reason,
                   "bad version '0'");
    assert_refused(fdy_ctl_model_ref_parse("detector@7x", true, name, &version, &reason), &reason,
                   "bad version");
    assert_refused(fdy_ctl_model_ref_parse("Detector@1", true, name, &version, &reason), &reason,
                   "bad model name 'Detector'");
    assert_refused(fdy_ctl_model_ref_parse("@1", true, name, &version, &reason), &reason,
                   "bad model name");
}

static void
test_ctl_model_args_waves(void **state)
{
    (void) state;
    fdy_reason_t reason = {{0}};
    assert_int_equal(fdy_ctl_waves_check("seongnam-lab;siheung;*", &reason), FOUNDRY_OK);
    assert_int_equal(fdy_ctl_waves_check("10%;bucheon,hanam;100%", &reason), FOUNDRY_OK);
    assert_int_equal(fdy_ctl_waves_check("*", &reason), FOUNDRY_OK);
    assert_refused(fdy_ctl_waves_check("*;siheung", &reason), &reason, "must be the last wave");
    assert_refused(fdy_ctl_waves_check("siheung;;*", &reason), &reason, "wave 2 is empty");
    assert_refused(fdy_ctl_waves_check("siheung;", &reason), &reason, "wave 2 is empty");
    assert_refused(fdy_ctl_waves_check("150%", &reason), &reason, "1%..100%");
    assert_refused(fdy_ctl_waves_check("0%", &reason), &reason, "1%..100%");
    assert_refused(fdy_ctl_waves_check("siheung,,pangyo", &reason), &reason, "wave 1");
    assert_refused(fdy_ctl_waves_check("sihe ung", &reason), &reason, "'sihe ung' is not a site");
}

static void
test_ctl_model_args_rate_and_percent(void **state)
{
    (void) state;
    fdy_reason_t reason = {{0}};
    uint64_t value = 0;
    assert_int_equal(fdy_ctl_rate_parse("5/m", &value, &reason), FOUNDRY_OK);
    assert_int_equal(value, 5);
    assert_int_equal(fdy_ctl_rate_parse("12/min", &value, &reason), FOUNDRY_OK);
    assert_int_equal(value, 12);
    assert_int_equal(fdy_ctl_rate_parse("2/s", &value, &reason), FOUNDRY_OK);
    assert_int_equal(value, 120);
    assert_int_equal(fdy_ctl_rate_parse("0", &value, &reason), FOUNDRY_OK);
    assert_int_equal(value, 0);
    assert_refused(fdy_ctl_rate_parse("5/h", &value, &reason), &reason, "unit 'h'");
    assert_refused(fdy_ctl_rate_parse("fast", &value, &reason), &reason, "nodes a minute");
    assert_int_equal(fdy_ctl_percent_parse("95%", &value, &reason), FOUNDRY_OK);
    assert_int_equal(value, 95);
    assert_int_equal(fdy_ctl_percent_parse("100", &value, &reason), FOUNDRY_OK);
    assert_int_equal(value, 100);
    assert_refused(fdy_ctl_percent_parse("101", &value, &reason), &reason, "0..100");
    assert_refused(fdy_ctl_percent_parse("%", &value, &reason), &reason, "0..100");
}

static void
test_ctl_model_args_gates(void **state)
{
    (void) state;
    fdy_reason_t reason = {{0}};
    const char *good[] = {"inspection.reject_rate<0.02", "temp>=-5", "latency_ms<=250", "errors==0",
                          "load>1e3"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (fdy_ctl_gate_check(good[i], &reason) != FOUNDRY_OK)
            fail_msg("gate %s refused: %s", good[i], reason.text);
    assert_refused(fdy_ctl_gate_check("errors=0", &reason), &reason, "use ==");
    assert_refused(fdy_ctl_gate_check("errors", &reason), &reason, "no comparison");
    assert_refused(fdy_ctl_gate_check("errors<", &reason), &reason, "not a number");
    assert_refused(fdy_ctl_gate_check("errors<1x", &reason), &reason, "'1x' is not a number");
    assert_refused(fdy_ctl_gate_check("<1", &reason), &reason, "METRIC<VALUE");
    assert_refused(fdy_ctl_gate_check("err rate<1", &reason), &reason, "METRIC<VALUE");
}

static void
assert_argv(const fdy_ctl_argv_t *argv, const char *const *want, size_t count)
{
    assert_int_equal(argv->argc, count);
    for (size_t i = 0; i < count; i++)
        assert_string_equal(argv->argv[i], want[i]);
}

static void
test_ctl_model_args_rollout_model(void **state)
{
    (void) state;
    fdy_ctl_rollout_opts_t o = {0};
    o.model = "detector@7";
    o.waves = "seongnam-lab;siheung;*";
    o.rate = "5/m";
    o.soak = "30s";
    o.success = "90%";
    o.abort_failures = "3";
    o.abort_rate = "20";
    o.gates[o.gate_count++] = "inspection.reject_rate<0.02";
    o.sites[o.site_count++] = "siheung";
    o.labels[o.label_count++] = "line=3";
    fdy_ctl_argv_t argv = {0};
    fdy_reason_t reason = {{0}};
    assert_int_equal(fdy_ctl_rollout_argv(&o, &argv, &reason), FOUNDRY_OK);
    const char *want[] = {"model=detector@7", "waves=seongnam-lab;siheung;*",
                          "rate=5",           "soak=30000",
                          "success=90",       "abort_failures=3",
                          "abort_rate=20",    "gate=inspection.reject_rate<0.02",
                          "site=siheung",     "label=line=3"};
    assert_argv(&argv, want, sizeof want / sizeof want[0]);
    fdy_ctl_argv_free(&argv);
}

static void
test_ctl_model_args_rollout_job(void **state)
{
    (void) state;
    fdy_ctl_rollout_opts_t o = {0};
    o.job = "recalibrate";
    o.data = "mode=full";
    o.run_timeout = "2m";
    o.waves = "10%;*";
    fdy_ctl_argv_t argv = {0};
    fdy_reason_t reason = {{0}};
    assert_int_equal(fdy_ctl_rollout_argv(&o, &argv, &reason), FOUNDRY_OK);
    const char *want[] = {"job=recalibrate", "waves=10%;*", "data=mode=full", "timeout=120000"};
    assert_argv(&argv, want, sizeof want / sizeof want[0]);
    fdy_ctl_argv_free(&argv);
    /* a bare number is milliseconds, as for every foundryctl duration */
    o.run_timeout = "1500";
    o.waves = NULL;
    o.data = NULL;
    assert_int_equal(fdy_ctl_rollout_argv(&o, &argv, &reason), FOUNDRY_OK);
    const char *bare[] = {"job=recalibrate", "timeout=1500"};
    assert_argv(&argv, bare, sizeof bare / sizeof bare[0]);
    fdy_ctl_argv_free(&argv);
}

static void
test_ctl_model_args_rollout_refusals(void **state)
{
    (void) state;
    fdy_reason_t reason = {{0}};
    fdy_ctl_argv_t argv = {0};
    fdy_ctl_rollout_opts_t none = {0};
    assert_refused(fdy_ctl_rollout_argv(&none, &argv, &reason), &reason, "nothing to roll out");
    fdy_ctl_argv_free(&argv);

    fdy_ctl_rollout_opts_t both = {.model = "detector@7", .job = "recalibrate"};
    assert_refused(fdy_ctl_rollout_argv(&both, &argv, &reason), &reason, "not both");
    fdy_ctl_argv_free(&argv);

    fdy_ctl_rollout_opts_t data = {.model = "detector@7", .data = "x"};
    assert_refused(fdy_ctl_rollout_argv(&data, &argv, &reason), &reason, "fleet jobs");
    fdy_ctl_argv_free(&argv);

    fdy_ctl_rollout_opts_t unversioned = {.model = "detector"};
    assert_refused(fdy_ctl_rollout_argv(&unversioned, &argv, &reason), &reason, "needs a version");
    fdy_ctl_argv_free(&argv);

    fdy_ctl_rollout_opts_t soak = {.model = "detector@7", .soak = "soon"};
    assert_refused(fdy_ctl_rollout_argv(&soak, &argv, &reason), &reason, "--soak");
    fdy_ctl_argv_free(&argv);

    fdy_ctl_rollout_opts_t label = {.model = "detector@7"};
    label.labels[label.label_count++] = "gpu";
    assert_refused(fdy_ctl_rollout_argv(&label, &argv, &reason), &reason,
                   "--label 'gpu' is not key=value");
    fdy_ctl_argv_free(&argv);

    fdy_ctl_rollout_opts_t gate = {.model = "detector@7"};
    gate.gates[gate.gate_count++] = "errors=0";
    assert_refused(fdy_ctl_rollout_argv(&gate, &argv, &reason), &reason, "--gate 'errors=0'");
    fdy_ctl_argv_free(&argv);
}

static void
test_ctl_model_args_rollback_plan(void **state)
{
    (void) state;
    fdy_reason_t reason = {{0}};
    uint64_t of = 0, release = 0;
    const uint64_t first[] = {1, 2, 3};
    assert_int_equal(fdy_ctl_rollback_plan(first, 3, 3, 0, 2, &of, &release, &reason), FOUNDRY_OK);
    assert_int_equal(of, 3);
    assert_int_equal(release, 4);
    /* After that rollback the log names 2 again and the current manifest
     * carries release_version 4: the next rollback must go above it. */
    const uint64_t second[] = {1, 2, 3, 2};
    assert_int_equal(fdy_ctl_rollback_plan(second, 4, 2, 4, 1, &of, &release, &reason), FOUNDRY_OK);
    assert_int_equal(of, 2);
    assert_int_equal(release, 5);
    assert_refused(fdy_ctl_rollback_plan(first, 3, 3, 0, 3, &of, &release, &reason), &reason,
                   "current version already");
    assert_refused(fdy_ctl_rollback_plan(first, 2, 2, 0, 3, &of, &release, &reason), &reason,
                   "push it as a new version");
    const uint64_t gaps[] = {1, 5, 9};
    assert_refused(fdy_ctl_rollback_plan(gaps, 3, 9, 0, 3, &of, &release, &reason), &reason,
                   "never released");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctl_model_args_ref),
        cmocka_unit_test(test_ctl_model_args_waves),
        cmocka_unit_test(test_ctl_model_args_rate_and_percent),
        cmocka_unit_test(test_ctl_model_args_gates),
        cmocka_unit_test(test_ctl_model_args_rollout_model),
        cmocka_unit_test(test_ctl_model_args_rollout_job),
        cmocka_unit_test(test_ctl_model_args_rollout_refusals),
        cmocka_unit_test(test_ctl_model_args_rollback_plan),
    };
    return cmocka_run_group_tests_name("ctl_model_args", tests, NULL, NULL);
}
