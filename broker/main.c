/*  main.c: foundry-broker's entry point. Parses flags, builds the config
 *  (defaults, then --config, then flags in order), creates and runs the
 *  broker, and maps the result to an exit status: 0 clean stop, 1 runtime
 *  failure, 2 bad usage or config. Nothing else belongs here.
 */
#include "broker.h"
#include "broker_config.h"
#include "daemon_args.h"
#include "log.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_USAGE 2
#define PROGRAM    "foundry-broker"

/* The stop flag: one of the two allowed globals (STYLE §10). */
static volatile sig_atomic_t s_stop;

static void
s_on_signal(int signum)
{
    (void) signum;
    s_stop = 1;
}

static void
s_print_help(FILE *out)
{
    size_t flag_count = 0, opt_count = 0;
    const fdy_flag_t *flags = fdy_broker_config_flags(&flag_count);
    const fdy_option_t *opts = fdy_broker_config_options(&opt_count);
    fprintf(out, "Usage: %s [OPTION]...\n"
                 "The Foundry message broker: CurveZMQ clients, durable LMDB store.\n\n",
            PROGRAM);
    fdy_daemon_print_flags(out, flags, flag_count, opts, opt_count);
    fprintf(out, "Exit status: 0 clean stop, 1 runtime failure, 2 bad usage or config.\n");
}

/* Returns -1 to go on, or an exit status. */
static int
s_build_config(const fdy_daemon_args_t *args, fdy_broker_cfg_t *cfg)
{
    size_t opt_count = 0;
    const fdy_option_t *opts = fdy_broker_config_options(&opt_count);
    fdy_reason_t reason;
    foundry_err err = fdy_broker_config_init(cfg, &reason);
    if (err == FOUNDRY_OK)
        err = fdy_daemon_args_apply(args, opts, opt_count, cfg, &reason);
    if (err == FOUNDRY_OK)
        err = fdy_broker_config_validate(cfg, &reason);
    if (err != FOUNDRY_OK) {
        fprintf(stderr, "%s: %s\n", PROGRAM, reason.text);
        return EXIT_USAGE;
    }
    return -1;
}

static int
s_run(const fdy_broker_cfg_t *cfg)
{
    fdy_log_to_stderr(cfg->log_level);
    fdy_daemon_install_signals(s_on_signal);
    fdy_broker_t *broker = NULL;
    fdy_reason_t reason;
    foundry_err err = fdy_broker_new(cfg, &broker, &reason);
    if (err != FOUNDRY_OK) {
        fdy_log_err("BROKER-START-FAILED", "%s: %s", foundry_strerror(err), reason.text);
        return EXIT_FAILURE;
    }
    err = fdy_broker_run(broker, &s_stop);
    fdy_broker_destroy(&broker);
    return err == FOUNDRY_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}

int
main(int argc, char **argv)
{
    size_t flag_count = 0;
    const fdy_flag_t *flags = fdy_broker_config_flags(&flag_count);
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
    }
    else if (args.action == FDY_DAEMON_VERSION) {
        printf("%s %s\n", PROGRAM, foundry_version());
        status = EXIT_SUCCESS;
    }
    else if (args.action == FDY_DAEMON_HELP_CONFIG) {
        fdy_broker_config_print(stdout);
        status = EXIT_SUCCESS;
    }
    fdy_broker_cfg_t cfg;
    memset(&cfg, 0, sizeof cfg);
    if (status < 0)
        status = s_build_config(&args, &cfg);
    if (status < 0 && args.check_only) {
        printf("%s: configuration OK\n", PROGRAM);
        status = EXIT_SUCCESS;
    }
    if (status < 0)
        status = s_run(&cfg);
    fdy_broker_config_free(&cfg);
    fdy_daemon_args_free(&args);
    return status;
}
