/*  main.c: foundry-node's entry point. Parses flags, builds the config
 *  (defaults, then --config, then flags in order), creates and runs the
 *  agent, and maps the result to an exit status: 0 clean stop, 1 runtime
 *  failure, 2 bad usage or config. Nothing else belongs here.
 */
#include "agent.h"
#include "agent_config.h"
#include "daemon_args.h"
#include "log.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_USAGE 2
#define PROGRAM    "foundry-node"

/* The stop flag: one of the two allowed globals (STYLE §10). It counts
 * signals: a second one cuts the shutdown flush short. */
static volatile sig_atomic_t s_stop;

static void
s_on_signal(int signum)
{
    (void) signum;
    if (s_stop < 2)
        s_stop = s_stop + 1;
}

static void
s_print_help(FILE *out)
{
    size_t flag_count = 0, opt_count = 0;
    const fdy_flag_t *flags = fdy_agent_config_flags(&flag_count);
    const fdy_option_t *opts = fdy_agent_config_options(&opt_count);
    fprintf(out,
            "Usage: %s [OPTION]...\n"
            "The Foundry site agent: takes local telemetry on a ZeroMQ PULL socket (and\n"
            "stdin), keeps it in a durable outbox and forwards it to the broker under\n"
            "telemetry.<site>.<metric>. Text lines: <metric> <value> [unit] [ts_ns]\n"
            "[key=value ...] (docs/node.md).\n\n",
            PROGRAM);
    fdy_daemon_print_flags(out, flags, flag_count, opts, opt_count);
    fprintf(out, "site must be set; listen defaults to ipc://<data_dir>/telemetry.sock.\n"
                 "SIGTERM or SIGINT (or the end of stdin with --stdin) stops: inputs close, acks\n"
                 "are awaited for shutdown_flush, and what is unacknowledged stays in the outbox.\n"
                 "Exit status: 0 clean stop, 1 runtime failure, 2 bad usage or config.\n");
}

/* Returns -1 to go on, or an exit status. */
static int
s_build_config(const fdy_daemon_args_t *args, fdy_agent_cfg_t *cfg)
{
    size_t opt_count = 0;
    const fdy_option_t *opts = fdy_agent_config_options(&opt_count);
    fdy_reason_t reason;
    foundry_err err = fdy_agent_config_init(cfg, &reason);
    if (err == FOUNDRY_OK)
        err = fdy_daemon_args_apply(args, opts, opt_count, cfg, &reason);
    if (err == FOUNDRY_OK)
        err = fdy_agent_config_finish(cfg, &reason);
    if (err != FOUNDRY_OK) {
        fprintf(stderr, "%s: %s\n", PROGRAM, reason.text);
        return EXIT_USAGE;
    }
    return -1;
}

static int
s_run(const fdy_agent_cfg_t *cfg)
{
    fdy_log_to_stderr(cfg->log_level);
    fdy_daemon_install_signals(s_on_signal);
    fdy_agent_t *agent = NULL;
    fdy_reason_t reason;
    foundry_err err = fdy_agent_new(cfg, &agent, &reason);
    if (err != FOUNDRY_OK) {
        fdy_log_err("NODE-START-FAILED", "%s: %s", foundry_strerror(err), reason.text);
        return EXIT_FAILURE;
    }
    err = fdy_agent_run(agent, &s_stop);
    fdy_agent_destroy(&agent);
    return err == FOUNDRY_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}

int
main(int argc, char **argv)
{
    size_t flag_count = 0;
    const fdy_flag_t *flags = fdy_agent_config_flags(&flag_count);
    fdy_daemon_args_t args;
    fdy_reason_t reason;
    if (fdy_daemon_args_parse(argc, argv, flags, flag_count, &args, &reason) != FOUNDRY_OK) {
        fprintf(stderr, "%s: %s (see --help)\n", PROGRAM, reason.text);
        fdy_daemon_args_free(&args);
        return EXIT_USAGE;
    }
    int status = -1;
    if (args.action == FDY_DAEMON_HELP) {
        s_print_help(stdout);
        status = EXIT_SUCCESS;
    } else if (args.action == FDY_DAEMON_VERSION) {
        printf("%s %s\n", PROGRAM, foundry_version());
        status = EXIT_SUCCESS;
    } else if (args.action == FDY_DAEMON_HELP_CONFIG) {
        fdy_agent_config_print(stdout);
        status = EXIT_SUCCESS;
    }
    fdy_agent_cfg_t cfg;
    memset(&cfg, 0, sizeof cfg);
    if (status < 0)
        status = s_build_config(&args, &cfg);
    if (status < 0 && args.check_only) {
        printf("%s: configuration OK\n", PROGRAM);
        status = EXIT_SUCCESS;
    }
    if (status < 0)
        status = s_run(&cfg);
    fdy_agent_config_free(&cfg);
    fdy_daemon_args_free(&args);
    return status;
}
