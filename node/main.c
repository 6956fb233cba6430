/*  main.c: foundry-node's entry point. Parses flags, builds the config
 *  (defaults, then --config, then flags in order), creates and runs the
 *  agent, and maps the result to an exit status: 0 clean stop, 1 runtime
 *  failure, 2 bad usage or config. Nothing else belongs here.
 */
#include "agent.h"
#include "agent_config.h"
#include "log.h"

#include <signal.h>
#include <stdbool.h>
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
    size_t count = 0;
    const fdy_agent_flag_t *flags = fdy_agent_config_flags(&count);
    fprintf(out,
            "Usage: %s [OPTION]...\n"
            "The Foundry site agent: takes local telemetry on a ZeroMQ PULL socket (and\n"
            "stdin), keeps it in a durable outbox and forwards it to the broker under\n"
            "telemetry.<site>.<metric>. Text lines: <metric> <value> [unit] [ts_ns]\n"
            "[key=value ...] (docs/node.md).\n\n"
            "  --config FILE          read options from FILE (key = value lines)\n",
            PROGRAM);
    for (size_t i = 0; i < count; i++) {
        char left[64];
        if (flags[i].metavar)
            snprintf(left, sizeof left, "%s %s", flags[i].flag, flags[i].metavar);
        else
            snprintf(left, sizeof left, "%s", flags[i].flag);
        const char *def = fdy_agent_config_default(flags[i].key);
        if (!flags[i].metavar)
            fprintf(out, "  %-22s set %s to true\n", left, flags[i].key);
        else if (strcmp(flags[i].key, "listen") == 0)
            fprintf(out, "  %-22s set %s (default: ipc://<data_dir>/telemetry.sock)\n", left,
                    flags[i].key);
        else
            fprintf(out, "  %-22s set %s (default: %s)\n", left, flags[i].key,
                    def ? def : "none, required");
    }
    fprintf(out, "  --set KEY=VALUE        set any option; see --help-config\n"
                 "  --check-config         validate the configuration and exit\n"
                 "  --help-config          print every option and its default, as a config file\n"
                 "  --help                 print this help and exit\n"
                 "  --version              print the version and exit\n\n"
                 "Later settings win: defaults, then --config, then the other flags in order.\n"
                 "SIGTERM or SIGINT (or the end of stdin with --stdin) stops: inputs close, acks\n"
                 "are awaited for shutdown_flush, and what is unacknowledged stays in the outbox.\n"
                 "Exit status: 0 clean stop, 1 runtime failure, 2 bad usage or config.\n");
}

static int
s_usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", PROGRAM);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see --help)\n");
    return EXIT_USAGE;
}

typedef struct {
    const char *config_path;
    bool check_only;
    /* option settings from flags, applied after the file, in order */
    const char **keys;
    const char **values;
    size_t set_count;
} args_t;

/* Accepts "--flag value" and "--flag=value". */
static const char *
s_flag_value(int argc, char **argv, int *index, const char *flag)
{
    const char *arg = argv[*index];
    size_t len = strlen(flag);
    if (strncmp(arg, flag, len) != 0)
        return NULL;
    if (arg[len] == '=')
        return arg + len + 1;
    if (arg[len] != '\0' || *index + 1 >= argc)
        return NULL;
    return argv[++*index];
}

static bool
s_is_flag(const char *arg, const char *flag)
{
    size_t len = strlen(flag);
    return strncmp(arg, flag, len) == 0 && (arg[len] == '\0' || arg[len] == '=');
}

/* Returns -1 to go on, or an exit status. */
static int
s_parse_args(int argc, char **argv, args_t *args)
{
    size_t flag_count = 0;
    const fdy_agent_flag_t *flags = fdy_agent_config_flags(&flag_count);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            s_print_help(stdout);
            return EXIT_SUCCESS;
        }
        if (strcmp(arg, "--version") == 0) {
            printf("%s %s\n", PROGRAM, foundry_version());
            return EXIT_SUCCESS;
        }
        if (strcmp(arg, "--help-config") == 0) {
            fdy_agent_config_print(stdout);
            return EXIT_SUCCESS;
        }
        if (strcmp(arg, "--check-config") == 0) {
            args->check_only = true;
            continue;
        }
        if (s_is_flag(arg, "--config")) {
            args->config_path = s_flag_value(argc, argv, &i, "--config");
            if (!args->config_path)
                return s_usage_error("option '%s' needs a value", arg);
            continue;
        }
        if (s_is_flag(arg, "--set")) {
            const char *pair = s_flag_value(argc, argv, &i, "--set");
            const char *equals = pair ? strchr(pair, '=') : NULL;
            if (!equals || equals == pair)
                return s_usage_error("--set needs KEY=VALUE, got '%s'", pair ? pair : "");
            /* argv outlives the parse: split in place. */
            *(char *) equals = '\0';
            args->keys[args->set_count] = pair;
            args->values[args->set_count++] = equals + 1;
            continue;
        }
        bool known = false;
        for (size_t f = 0; f < flag_count && !known; f++) {
            if (!flags[f].metavar) {
                if (strcmp(arg, flags[f].flag) != 0)
                    continue;
                args->keys[args->set_count] = flags[f].key;
                args->values[args->set_count++] = "true";
                known = true;
                continue;
            }
            if (!s_is_flag(arg, flags[f].flag))
                continue;
            const char *value = s_flag_value(argc, argv, &i, flags[f].flag);
            if (!value)
                return s_usage_error("option '%s' needs a value", arg);
            args->keys[args->set_count] = flags[f].key;
            args->values[args->set_count++] = value;
            known = true;
        }
        if (!known)
            return s_usage_error("unknown argument '%s'", arg);
    }
    return -1;
}

/* Returns -1 to go on, or an exit status. */
static int
s_build_config(const args_t *args, fdy_agent_cfg_t *cfg)
{
    fdy_reason_t reason;
    foundry_err err = fdy_agent_config_init(cfg, &reason);
    if (err == FOUNDRY_OK && args->config_path)
        err = fdy_agent_config_load_file(cfg, args->config_path, &reason);
    for (size_t i = 0; err == FOUNDRY_OK && i < args->set_count; i++)
        err = fdy_agent_config_set(cfg, args->keys[i], args->values[i], &reason);
    if (err == FOUNDRY_OK)
        err = fdy_agent_config_finish(cfg, &reason);
    if (err != FOUNDRY_OK) {
        fprintf(stderr, "%s: %s\n", PROGRAM, reason.text);
        return EXIT_USAGE;
    }
    return -1;
}

static void
s_install_signals(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = s_on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);
    action.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &action, NULL);
}

int
main(int argc, char **argv)
{
    /* Every argument sets at most one option. */
    const char **keys = calloc((size_t) argc, sizeof *keys);
    const char **values = calloc((size_t) argc, sizeof *values);
    if (!keys || !values) {
        free(keys);
        free(values);
        fprintf(stderr, "%s: out of memory\n", PROGRAM);
        return EXIT_FAILURE;
    }
    args_t args = {.keys = keys, .values = values};
    fdy_agent_cfg_t cfg;
    memset(&cfg, 0, sizeof cfg);
    int status = s_parse_args(argc, argv, &args);
    if (status < 0)
        status = s_build_config(&args, &cfg);
    if (status < 0 && args.check_only) {
        printf("%s: configuration OK\n", PROGRAM);
        status = EXIT_SUCCESS;
    }
    if (status < 0) {
        fdy_log_to_stderr(cfg.log_level);
        s_install_signals();
        fdy_agent_t *agent = NULL;
        fdy_reason_t reason;
        foundry_err err = fdy_agent_new(&cfg, &agent, &reason);
        if (err != FOUNDRY_OK) {
            fdy_log_err("NODE-START-FAILED", "%s: %s", foundry_strerror(err), reason.text);
            status = EXIT_FAILURE;
        } else {
            err = fdy_agent_run(agent, &s_stop);
            fdy_agent_destroy(&agent);
            status = err == FOUNDRY_OK ? EXIT_SUCCESS : EXIT_FAILURE;
        }
    }
    fdy_agent_config_free(&cfg);
    free(keys);
    free(values);
    return status;
}
