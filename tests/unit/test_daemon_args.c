/*  test_daemon_args.c: the command line shared by foundry-broker and
 *  foundry-node: aliases, --set, --config precedence, usage errors; and
 *  fdy_daemon_main() (daemon.c, no test file of its own) over a demo spec:
 *  the text, exit statuses, callbacks and the stop flag.
 */
#include "daemon_args.h"

#include "daemon.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

/* ---- fdy_daemon_main() over a demo daemon ------------------------------ */

/* What the callbacks saw; checked after fdy_daemon_main() returns, so no
 * assertion fails while stdout and stderr are redirected. */
static struct {
    int created, ran, destroyed;
    char dir[64];
    int stops[3]; /* *stop after each of three SIGTERMs */
    foundry_err create_err, run_err;
    int tool_runs;
    char tool_value[64];
} s_seen;

static int s_daemon_object; /* what create hands out */

static foundry_err
s_demo_finish(void *cfg_in, fdy_reason_t *reason)
{
    demo_cfg_t *cfg = cfg_in;
    if (cfg->port == 13)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "option 'port': 13 is unlucky");
    return FOUNDRY_OK;
}

static foundry_err
s_demo_create(const void *cfg_in, void **daemon_out, fdy_reason_t *reason)
{
    const demo_cfg_t *cfg = cfg_in;
    s_seen.created++;
    snprintf(s_seen.dir, sizeof s_seen.dir, "%s", cfg->dir);
    if (s_seen.create_err != FOUNDRY_OK)
        return fdy_reason_set(reason, s_seen.create_err, "cannot open %s", cfg->dir);
    *daemon_out = &s_daemon_object;
    return FOUNDRY_OK;
}

static foundry_err
s_demo_run(void *daemon, volatile sig_atomic_t *stop)
{
    s_seen.ran = daemon == &s_daemon_object && *stop == 0 ? 1 : -1;
    for (int i = 0; i < 3; i++) {
        raise(SIGTERM); /* the handler runs before raise() returns */
        s_seen.stops[i] = (int) *stop;
    }
    return s_seen.run_err;
}

static void
s_demo_destroy(void **daemon_p)
{
    s_seen.destroyed += *daemon_p == &s_daemon_object ? 1 : 100;
    *daemon_p = NULL;
}

static const fdy_config_schema_t s_demo_schema = {
    .options = s_opts,
    .option_count = 3,
    .flags = s_flags,
    .flag_count = 2,
    .cfg_size = sizeof(demo_cfg_t),
    .finish = s_demo_finish,
};

static const fdy_daemon_spec_t s_demo_spec = {
    .program = "demo",
    .about = "A demo daemon.\n",
    .epilog = "Epilog line.\n",
    .schema = &s_demo_schema,
    .start_failed_id = "DEMO-START-FAILED",
    .create = s_demo_create,
    .run = s_demo_run,
    .destroy = s_demo_destroy,
};

/* A tool flag: runs over the built config instead of the daemon. */
static int
s_demo_tool(const void *cfg_in, const char *value)
{
    const demo_cfg_t *cfg = cfg_in;
    s_seen.tool_runs++;
    snprintf(s_seen.dir, sizeof s_seen.dir, "%s", cfg->dir);
    snprintf(s_seen.tool_value, sizeof s_seen.tool_value, "%s", value ? value : "(none)");
    return 7;
}

static const fdy_daemon_tool_t s_demo_tools[] = {
    {"--inspect", NULL, "look at the data and exit", s_demo_tool},
    {"--copy-to", "DIR", "copy the data to DIR and exit", s_demo_tool},
};

static const fdy_daemon_spec_t s_tool_spec = {
    .program = "demo",
    .about = "A demo daemon.\n",
    .schema = &s_demo_schema,
    .start_failed_id = "DEMO-START-FAILED",
    .create = s_demo_create,
    .run = s_demo_run,
    .destroy = s_demo_destroy,
    .tools = s_demo_tools,
    .tool_count = 2,
};

typedef struct {
    int status;
    char out[8192];
    char err[4096];
} demo_run_t;

static void
s_slurp(FILE *file, char *buf, size_t size)
{
    rewind(file);
    size_t len = fread(buf, 1, size - 1, file);
    buf[len] = '\0';
    fclose(file);
}

/* Runs fdy_daemon_main(argv) with stdout and stderr captured; s_seen is
 * cleared first and holds what the callbacks saw afterwards. */
static void
s_spec_main(const fdy_daemon_spec_t *spec, demo_run_t *run, int argc, char **argv);

static void
s_demo_main(demo_run_t *run, int argc, char **argv)
{
    s_spec_main(&s_demo_spec, run, argc, argv);
}

static void
s_spec_main(const fdy_daemon_spec_t *spec, demo_run_t *run, int argc, char **argv)
{
    FILE *out = tmpfile(), *err = tmpfile();
    assert_non_null(out);
    assert_non_null(err);
    memset(&s_seen, 0, sizeof s_seen);
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    dup2(fileno(out), 1);
    dup2(fileno(err), 2);
    run->status = fdy_daemon_main(argc, argv, spec);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    s_slurp(out, run->out, sizeof run->out);
    s_slurp(err, run->err, sizeof run->err);
}

static void
test_daemon_main_help_version_help_config(void **state)
{
    (void) state;
    demo_run_t run;
    char a0[] = "demo", help[] = "--help", version[] = "--version", hc[] = "--help-config";
    char *v1[] = {a0, help};
    s_demo_main(&run, 2, v1);
    assert_int_equal(run.status, 0);
    assert_string_equal(run.err, "");
    const char head[] = "Usage: demo [OPTION]...\nA demo daemon.\n\n  --config FILE ";
    assert_memory_equal(run.out, head, sizeof head - 1);
    assert_non_null(strstr(run.out, "  --dir DIR              set dir (default: /var/lib/demo)\n"
                                    "  --quiet                set quiet to true\n"));
    const char tail[] = "in order.\nEpilog line.\n"
                        "Exit status: 0 clean stop, 1 runtime failure, 2 bad usage or config.\n";
    size_t len = strlen(run.out);
    assert_true(len > sizeof tail);
    assert_string_equal(run.out + len - (sizeof tail - 1), tail);

    char *v2[] = {a0, version};
    s_demo_main(&run, 2, v2);
    assert_int_equal(run.status, 0);
    char want[64];
    snprintf(want, sizeof want, "demo %s\n", foundry_version());
    assert_string_equal(run.out, want);

    char *v3[] = {a0, hc};
    s_demo_main(&run, 2, v3);
    assert_int_equal(run.status, 0);
    assert_non_null(strstr(run.out, "\nport = 7700\n"));
    assert_non_null(strstr(run.out, "\ndir = /var/lib/demo\n"));
}

static void
test_daemon_main_usage_and_config_errors_exit_2(void **state)
{
    (void) state;
    demo_run_t run;
    char a0[] = "demo", bogus[] = "--bogus", set[] = "--set", bad[] = "port=0",
         unlucky[] = "port=13", config[] = "--config", missing[] = "/nonexistent/demo.conf";
    char *v1[] = {a0, bogus};
    s_demo_main(&run, 2, v1);
    assert_int_equal(run.status, 2);
    assert_string_equal(run.err, "demo: unknown argument '--bogus' (see --help)\n");
    assert_string_equal(run.out, "");

    char *v2[] = {a0, set, bad};
    s_demo_main(&run, 3, v2);
    assert_int_equal(run.status, 2);
    assert_memory_equal(run.err, "demo: option 'port': ", 21);

    char *v3[] = {a0, set, unlucky}; /* refused by the schema's finish */
    s_demo_main(&run, 3, v3);
    assert_int_equal(run.status, 2);
    assert_string_equal(run.err, "demo: option 'port': 13 is unlucky\n");

    char *v4[] = {a0, config, missing};
    s_demo_main(&run, 3, v4);
    assert_int_equal(run.status, 2);
    assert_non_null(strstr(run.err, "/nonexistent/demo.conf"));
}

/* A tool flag anywhere on the line runs the tool over the config the other
 * flags built (never the daemon) and returns its status; its help line
 * is listed; a second tool, or one without its value, is a usage error. */
static void
test_daemon_main_tool_runs_instead_of_the_daemon(void **state)
{
    (void) state;
    demo_run_t run;
    char a0[] = "demo", inspect[] = "--inspect", dir[] = "--dir", tmp[] = "/tmp/x",
         copy[] = "--copy-to", to[] = "/tmp/y", copy_eq[] = "--copy-to=/tmp/z", help[] = "--help";
    char *v1[] = {a0, inspect, dir, tmp};
    s_spec_main(&s_tool_spec, &run, 4, v1);
    assert_int_equal(run.status, 7);
    assert_int_equal(s_seen.tool_runs, 1);
    assert_int_equal(s_seen.created, 0);
    assert_string_equal(s_seen.dir, "/tmp/x");
    assert_string_equal(s_seen.tool_value, "(none)");

    char *v2[] = {a0, copy, to};
    s_spec_main(&s_tool_spec, &run, 3, v2);
    assert_int_equal(run.status, 7);
    assert_string_equal(s_seen.tool_value, "/tmp/y");
    assert_string_equal(s_seen.dir, "/var/lib/demo");

    char *v3[] = {a0, copy_eq};
    s_spec_main(&s_tool_spec, &run, 2, v3);
    assert_string_equal(s_seen.tool_value, "/tmp/z");

    char *v4[] = {a0, inspect, copy_eq};
    s_spec_main(&s_tool_spec, &run, 3, v4);
    assert_int_equal(run.status, 2);
    assert_int_equal(s_seen.tool_runs, 0);
    assert_non_null(strstr(run.err, "cannot be combined"));

    char *v5[] = {a0, copy};
    s_spec_main(&s_tool_spec, &run, 2, v5);
    assert_int_equal(run.status, 2);
    assert_non_null(strstr(run.err, "'--copy-to' needs a value"));

    char *v6[] = {a0, help};
    s_spec_main(&s_tool_spec, &run, 2, v6);
    assert_int_equal(run.status, 0);
    assert_non_null(strstr(run.out, "  --copy-to DIR          copy the data to DIR and exit\n"));
}

static void
test_daemon_main_check_config_does_not_start(void **state)
{
    (void) state;
    demo_run_t run;
    char a0[] = "demo", check[] = "--check-config";
    char *argv[] = {a0, check};
    s_demo_main(&run, 2, argv);
    assert_int_equal(run.status, 0);
    assert_string_equal(run.out, "demo: configuration OK\n");
    assert_string_equal(run.err, "");
    assert_int_equal(s_seen.created, 0);
}

static void
test_daemon_main_runs_and_counts_stop_signals(void **state)
{
    (void) state;
    char a0[] = "demo", dir[] = "--dir=/srv/demo";
    char *argv[] = {a0, dir};
    memset(&s_seen, 0, sizeof s_seen);
    fflush(stdout);
    int status = fdy_daemon_main(2, argv, &s_demo_spec);
    assert_int_equal(status, 0);
    assert_int_equal(s_seen.created, 1);
    assert_string_equal(s_seen.dir, "/srv/demo"); /* the flag reached the config */
    assert_int_equal(s_seen.ran, 1);              /* the daemon from create, stop 0 */
    assert_int_equal(s_seen.stops[0], 1);
    assert_int_equal(s_seen.stops[1], 2); /* a second signal is seen */
    assert_int_equal(s_seen.stops[2], 2); /* and the count stays put */
    assert_int_equal(s_seen.destroyed, 1);

    /* The flag starts at 0 again on the next run. */
    memset(&s_seen, 0, sizeof s_seen);
    s_seen.run_err = FOUNDRY_EIO;
    status = fdy_daemon_main(2, argv, &s_demo_spec);
    assert_int_equal(status, 1); /* run failed */
    assert_int_equal(s_seen.ran, 1);
    assert_int_equal(s_seen.destroyed, 1); /* destroyed all the same */
}

static void
test_daemon_main_create_failure_is_logged_exit_1(void **state)
{
    (void) state;
    char a0[] = "demo";
    char *argv[] = {a0};
    FILE *err = tmpfile();
    assert_non_null(err);
    fflush(stderr);
    int saved_err = dup(2);
    dup2(fileno(err), 2);
    memset(&s_seen, 0, sizeof s_seen);
    s_seen.create_err = FOUNDRY_ESTORE;
    int status = fdy_daemon_main(1, argv, &s_demo_spec);
    int created = s_seen.created, ran = s_seen.ran, destroyed = s_seen.destroyed;
    fflush(stderr);
    dup2(saved_err, 2);
    close(saved_err);
    char text[1024];
    s_slurp(err, text, sizeof text);
    assert_int_equal(status, 1);
    assert_int_equal(created, 1);
    assert_int_equal(ran, 0);
    assert_int_equal(destroyed, 0);
    assert_non_null(strstr(text, "DEMO-START-FAILED"));
    assert_non_null(strstr(text, "cannot open /var/lib/demo"));
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
        cmocka_unit_test(test_daemon_main_help_version_help_config),
        cmocka_unit_test(test_daemon_main_usage_and_config_errors_exit_2),
        cmocka_unit_test(test_daemon_main_check_config_does_not_start),
        cmocka_unit_test(test_daemon_main_tool_runs_instead_of_the_daemon),
        cmocka_unit_test(test_daemon_main_runs_and_counts_stop_signals),
        cmocka_unit_test(test_daemon_main_create_failure_is_logged_exit_1),
    };
    return cmocka_run_group_tests_name("daemon_args", tests, NULL, NULL);
}
