/*  test_daemon_args.c: the command line shared by foundry-broker and
 *  foundry-node: aliases, --set, --config precedence, usage errors.
 */
#include "daemon_args.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct {
    char *dir;
    uint64_t port;
    bool quiet;
} demo_cfg_t;

static const fdy_option_t s_opts[] = {
    {"dir", FDY_OPT_PATH, "/var/lib/demo", 0, 0, FDY_OPT_RESTART, offsetof(demo_cfg_t, dir),
     "data"},
    {"port", FDY_OPT_UINT, "7700", 1, 65535, FDY_OPT_RESTART, offsetof(demo_cfg_t, port),
     "port"},
    {"quiet", FDY_OPT_BOOL, "false", 0, 0, FDY_OPT_RESTART, offsetof(demo_cfg_t, quiet),
     "quiet"},
};
static const fdy_flag_t s_flags[] = {
    {"--dir", "DIR", "dir"},
    {"--quiet", NULL, "quiet"},
};

static foundry_err
s_parse(char **argv, int argc, fdy_daemon_args_t *args, fdy_reason_t *reason)
{
    return fdy_daemon_args_parse(argc, argv, s_flags, 2, args, reason);
}

static void
test_daemon_args_aliases_and_set_apply_in_order(void **state)
{
    (void) state;
    char a0[] = "prog", a1[] = "--dir", a2[] = "/a", a3[] = "--set", a4[] = "port=99",
         a5[] = "--quiet", a6[] = "--dir=/b";
    char *argv[] = {a0, a1, a2, a3, a4, a5, a6};
    fdy_daemon_args_t args;
    fdy_reason_t reason;
    assert_int_equal(s_parse(argv, 7, &args, &reason), FOUNDRY_OK);
    assert_int_equal(args.action, FDY_DAEMON_RUN);
    assert_int_equal(args.set_count, 4);
    demo_cfg_t cfg;
    memset(&cfg, 0, sizeof cfg);
    assert_int_equal(fdy_config_defaults(s_opts, 3, &cfg, &reason), FOUNDRY_OK);
    assert_int_equal(fdy_daemon_args_apply(&args, s_opts, 3, &cfg, &reason), FOUNDRY_OK);
    assert_string_equal(cfg.dir, "/b"); /* the later flag wins */
    assert_int_equal(cfg.port, 99);
    assert_true(cfg.quiet);
    fdy_config_free(s_opts, 3, &cfg);
    fdy_daemon_args_free(&args);
}

static void
test_daemon_args_config_file_then_flags(void **state)
{
    (void) state;
    char path[] = "/tmp/test_daemon_args.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "port = 10\ndir = /file\n";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t) (sizeof text - 1));
    close(fd);
    char a0[] = "prog", a1[] = "--set", a2[] = "port=20", a3[] = "--config";
    char *argv[] = {a0, a1, a2, a3, path};
    fdy_daemon_args_t args;
    fdy_reason_t reason;
    assert_int_equal(s_parse(argv, 5, &args, &reason), FOUNDRY_OK);
    demo_cfg_t cfg;
    memset(&cfg, 0, sizeof cfg);
    assert_int_equal(fdy_config_defaults(s_opts, 3, &cfg, &reason), FOUNDRY_OK);
    assert_int_equal(fdy_daemon_args_apply(&args, s_opts, 3, &cfg, &reason), FOUNDRY_OK);
    /* The file applies first, wherever --config stands; flags override it. */
    assert_int_equal(cfg.port, 20);
    assert_string_equal(cfg.dir, "/file");
    fdy_config_free(s_opts, 3, &cfg);
    fdy_daemon_args_free(&args);
    unlink(path);
}

static void
test_daemon_args_usage_errors_name_the_argument(void **state)
{
    (void) state;
    fdy_daemon_args_t args;
    fdy_reason_t reason;
    char a0[] = "prog", bogus[] = "--bogus", dir[] = "--dir", set[] = "--set", bad[] = "=x";
    char *unknown[] = {a0, bogus};
    assert_int_equal(s_parse(unknown, 2, &args, &reason), FOUNDRY_EINVAL);
    assert_non_null(strstr(reason.text, "--bogus"));
    fdy_daemon_args_free(&args);
    char *missing[] = {a0, dir};
    assert_int_equal(s_parse(missing, 2, &args, &reason), FOUNDRY_EINVAL);
    assert_non_null(strstr(reason.text, "needs a value"));
    fdy_daemon_args_free(&args);
    char *bad_set[] = {a0, set, bad};
    assert_int_equal(s_parse(bad_set, 3, &args, &reason), FOUNDRY_EINVAL);
    assert_non_null(strstr(reason.text, "KEY=VALUE"));
    fdy_daemon_args_free(&args);
}

static void
test_daemon_args_bad_value_is_refused_by_apply(void **state)
{
    (void) state;
    char a0[] = "prog", a1[] = "--set", a2[] = "port=70000";
    char *argv[] = {a0, a1, a2};
    fdy_daemon_args_t args;
    fdy_reason_t reason;
    assert_int_equal(s_parse(argv, 3, &args, &reason), FOUNDRY_OK);
    demo_cfg_t cfg;
    memset(&cfg, 0, sizeof cfg);
    assert_int_equal(fdy_config_defaults(s_opts, 3, &cfg, &reason), FOUNDRY_OK);
    assert_int_equal(fdy_daemon_args_apply(&args, s_opts, 3, &cfg, &reason), FOUNDRY_EINVAL);
    assert_non_null(strstr(reason.text, "port"));
    assert_int_equal(cfg.port, 7700); /* unchanged */
    fdy_config_free(s_opts, 3, &cfg);
    fdy_daemon_args_free(&args);
}

static void
test_daemon_args_actions(void **state)
{
    (void) state;
    char a0[] = "prog", help[] = "--help", version[] = "--version", hc[] = "--help-config",
         check[] = "--check-config";
    fdy_daemon_args_t args;
    fdy_reason_t reason;
    char *v1[] = {a0, help};
    assert_int_equal(s_parse(v1, 2, &args, &reason), FOUNDRY_OK);
    assert_int_equal(args.action, FDY_DAEMON_HELP);
    fdy_daemon_args_free(&args);
    char *v2[] = {a0, version};
    assert_int_equal(s_parse(v2, 2, &args, &reason), FOUNDRY_OK);
    assert_int_equal(args.action, FDY_DAEMON_VERSION);
    fdy_daemon_args_free(&args);
    char *v3[] = {a0, hc};
    assert_int_equal(s_parse(v3, 2, &args, &reason), FOUNDRY_OK);
    assert_int_equal(args.action, FDY_DAEMON_HELP_CONFIG);
    fdy_daemon_args_free(&args);
    char *v4[] = {a0, check};
    assert_int_equal(s_parse(v4, 2, &args, &reason), FOUNDRY_OK);
    assert_int_equal(args.action, FDY_DAEMON_RUN);
    assert_true(args.check_only);
    fdy_daemon_args_free(&args);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_daemon_args_aliases_and_set_apply_in_order),
        cmocka_unit_test(test_daemon_args_config_file_then_flags),
        cmocka_unit_test(test_daemon_args_usage_errors_name_the_argument),
        cmocka_unit_test(test_daemon_args_bad_value_is_refused_by_apply),
        cmocka_unit_test(test_daemon_args_actions),
    };
    return cmocka_run_group_tests_name("daemon_args", tests, NULL, NULL);
}
