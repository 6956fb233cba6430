/*  daemon.c: the main() that foundry-broker and foundry-node share, so both
 *  take the same command line, build their config the same way and map
 *  results to the same exit statuses. What a daemon does is behind the
 *  spec's callbacks; the command line itself is parsed by daemon_args.c.
 */
#include "daemon.h"

#include "daemon_args.h"
#include "log.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

/* The stop flag: one of the two allowed globals (STYLE §10). It counts
 * signals up to 2, so a daemon can let a second one cut its graceful stop
 * short; a daemon that only tests for non-zero sees the same as before. */
static volatile sig_atomic_t s_stop;

static void
s_on_signal(int signum)
{
    (void) signum;
    if (s_stop < 2)
        s_stop = s_stop + 1;
}

/* SIGPIPE is ignored: a peer closing a socket must not kill a daemon. */
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

static void
s_print_help(const fdy_daemon_spec_t *spec, FILE *out)
{
    const fdy_config_schema_t *schema = spec->schema;
    fprintf(out, "Usage: %s [OPTION]...\n%s\n", spec->program, spec->about);
    fdy_daemon_print_flags(out, schema->flags, schema->flag_count, schema->options,
                           schema->option_count);
    if (spec->tool_count)
        fprintf(out, "\nInstead of running (with the options above, e.g. --data-dir):\n");
    for (size_t i = 0; i < spec->tool_count; i++) {
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", spec->tools[i].flag,
                 spec->tools[i].metavar ? " " : "",
                 spec->tools[i].metavar ? spec->tools[i].metavar : "");
        fprintf(out, "  %-22s %s\n", left, spec->tools[i].help);
    }
    if (spec->tool_count)
        fprintf(out, "\n");
    fprintf(out, "%sExit status: 0 clean stop, 1 runtime failure, 2 bad usage or config.\n",
            spec->epilog ? spec->epilog : "");
}

/* The level of the schema's log-level option: the table, not the spec,
 * says where it lives, so a daemon cannot name one field twice. */
static int
s_log_level(const fdy_config_schema_t *schema, const void *cfg)
{
    for (size_t i = 0; i < schema->option_count; i++)
        if (schema->options[i].type == FDY_OPT_LOGLEVEL)
            return *(const int *) ((const char *) cfg + schema->options[i].offset);
    return FDY_LOG_NOTICE;
}

/* The schema's log_format option, when it has one. */
static int
s_log_format(const fdy_config_schema_t *schema, const void *cfg)
{
    for (size_t i = 0; i < schema->option_count; i++)
        if (schema->options[i].type == FDY_OPT_LOGFORMAT)
            return *(const int *) ((const char *) cfg + schema->options[i].offset);
    return FDY_LOG_FORMAT_TEXT;
}

/* Returns -1 to go on, or an exit status. */
static int
s_build_config(const fdy_daemon_spec_t *spec, const fdy_daemon_args_t *args, void *cfg)
{
    const fdy_config_schema_t *schema = spec->schema;
    fdy_reason_t reason;
    foundry_err err = fdy_config_init(schema, cfg, &reason);
    if (err == FOUNDRY_OK)
        err = fdy_daemon_args_apply(args, schema->options, schema->option_count, cfg, &reason);
    if (err == FOUNDRY_OK)
        err = fdy_config_finish(schema, cfg, &reason);
    if (err != FOUNDRY_OK) {
        fprintf(stderr, "%s: %s\n", spec->program, reason.text);
        return FDY_DAEMON_EXIT_USAGE;
    }
    return -1;
}

static int
s_run(const fdy_daemon_spec_t *spec, const void *cfg)
{
    fdy_log_to_stderr_as(s_log_level(spec->schema, cfg), s_log_format(spec->schema, cfg));
    s_stop = 0; /* before the handler goes in: no signal can be lost */
    s_install_signals();
    void *daemon = NULL;
    fdy_reason_t reason;
    foundry_err err = spec->create(cfg, &daemon, &reason);
    if (err != FOUNDRY_OK) {
        fdy_log_err(spec->start_failed_id, "%s: %s", foundry_strerror(err), reason.text);
        return FDY_DAEMON_EXIT_FAILURE;
    }
    err = spec->run(daemon, &s_stop);
    spec->destroy(&daemon);
    return err == FOUNDRY_OK ? FDY_DAEMON_EXIT_OK : FDY_DAEMON_EXIT_FAILURE;
}

typedef struct {
    const fdy_daemon_tool_t *tool; /* NULL: run the daemon */
    const char *value;
} s_tool_use_t;

/* Takes the tool flags out of argv (in place: argv keeps the rest, in
 * order) so the shared parser sees only its own. Returns the new argc, or
 * -1 with reason for a usage error. */
static int
s_take_tools(const fdy_daemon_spec_t *spec, int argc, char **argv, s_tool_use_t *use,
             fdy_reason_t *reason)
{
    int kept = 1;
    for (int i = 1; i < argc; i++) {
        const fdy_daemon_tool_t *tool = NULL;
        const char *value = NULL;
        for (size_t t = 0; t < spec->tool_count && !tool; t++) {
            const char *flag = spec->tools[t].flag;
            size_t len = strlen(flag);
            if (strncmp(argv[i], flag, len) != 0)
                continue;
            if (argv[i][len] == '\0' && !spec->tools[t].metavar)
                tool = &spec->tools[t];
            else if (spec->tools[t].metavar && argv[i][len] == '=')
                tool = &spec->tools[t], value = argv[i] + len + 1;
            else if (spec->tools[t].metavar && argv[i][len] == '\0') {
                if (i + 1 >= argc) {
                    fdy_reason_set(reason, FOUNDRY_EINVAL, "option '%s' needs a value", flag);
                    return -1;
                }
                tool = &spec->tools[t], value = argv[++i];
            }
        }
        if (!tool) {
            argv[kept++] = argv[i];
            continue;
        }
        if (use->tool) {
            fdy_reason_set(reason, FOUNDRY_EINVAL, "'%s' and '%s' cannot be combined",
                           use->tool->flag, tool->flag);
            return -1;
        }
        if (value && !*value) {
            fdy_reason_set(reason, FOUNDRY_EINVAL, "option '%s' needs a value", tool->flag);
            return -1;
        }
        use->tool = tool;
        use->value = value;
    }
    return kept;
}

int
fdy_daemon_main(int argc, char **argv, const fdy_daemon_spec_t *spec)
{
    const fdy_config_schema_t *schema = spec->schema;
    fdy_daemon_args_t args;
    fdy_reason_t reason;
    s_tool_use_t use = {NULL, NULL};
    int kept = s_take_tools(spec, argc, argv, &use, &reason);
    if (kept < 0) {
        fprintf(stderr, "%s: %s (see --help)\n", spec->program, reason.text);
        return FDY_DAEMON_EXIT_USAGE;
    }
    argc = kept;
    if (fdy_daemon_args_parse(argc, argv, schema->flags, schema->flag_count, &args, &reason) !=
        FOUNDRY_OK) {
        fprintf(stderr, "%s: %s (see --help)\n", spec->program, reason.text);
        fdy_daemon_args_free(&args);
        return FDY_DAEMON_EXIT_USAGE;
    }
    int status = -1;
    if (args.action == FDY_DAEMON_HELP) {
        s_print_help(spec, stdout);
        status = FDY_DAEMON_EXIT_OK;
    } else if (args.action == FDY_DAEMON_VERSION) {
        printf("%s %s\n", spec->program, foundry_version());
        status = FDY_DAEMON_EXIT_OK;
    } else if (args.action == FDY_DAEMON_HELP_CONFIG) {
        fdy_config_describe(schema, stdout);
        status = FDY_DAEMON_EXIT_OK;
    }
    /* Lives until create/run/destroy are done: the daemon borrows it. */
    void *cfg = fdy_xalloc(schema->cfg_size);
    if (status < 0)
        status = s_build_config(spec, &args, cfg);
    if (status < 0 && args.check_only) {
        printf("%s: configuration OK\n", spec->program);
        status = FDY_DAEMON_EXIT_OK;
    }
    if (status < 0 && use.tool) {
        fdy_log_to_stderr_as(s_log_level(schema, cfg), s_log_format(schema, cfg));
        status = use.tool->run(cfg, use.value);
    }
    if (status < 0)
        status = s_run(spec, cfg);
    fdy_config_fini(schema, cfg);
    free(cfg);
    fdy_daemon_args_free(&args);
    return status;
}
