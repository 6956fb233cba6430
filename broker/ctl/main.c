/*  main.c: foundryctl's entry point: the global flags every command shares
 *  and the list of command groups, one line per cmd_*.c. Parsing and help
 *  are ctl_args.c's; the commands and their own options live in their
 *  groups. Nothing here talks to a broker.
 */
#include "ctl.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

/* In --help order. A new group is its cmd_*.c, its declaration in ctl.h,
 * one line here and its file in meson.build. */
static const fdy_ctl_group_t *const s_groups[] = {
    &fdy_cmd_keys_group,    &fdy_cmd_key_changes_group, &fdy_cmd_status_group,    &fdy_cmd_pub_group,
    &fdy_cmd_streams_group, &fdy_cmd_consumers_group, &fdy_cmd_sub_group,
    &fdy_cmd_audit_group,   &fdy_cmd_store_group,   &fdy_cmd_jobs_group,
    &fdy_cmd_models_group,  &fdy_cmd_rollouts_group,
    &fdy_cmd_context_group,
    &fdy_cmd_backup_group,
    &fdy_cmd_top_group,
};

enum { G_ENDPOINT = 1, G_KEY, G_BROKER_KEY, G_TIMEOUT, G_JSON, G_YES, G_CONTEXT };

static const fdy_ctl_flag_t s_globals[] = {
    {"--endpoint", "ENDPOINT", G_ENDPOINT, false,
     "broker endpoint, tcp://127.0.0.1:7700 or host:port (env FOUNDRY_ENDPOINT)"},
    {"--context", "NAME", G_CONTEXT, false,
     "use stored context NAME (env FOUNDRY_CONTEXT; default: context use's)"},
    {"--key", "SECRETFILE", G_KEY, false,
     "our admin key pair, NAME.key_secret, mode 0600 (env FOUNDRY_KEY)"},
    {"--broker-key", "PUBFILE", G_BROKER_KEY, false,
     "the broker's public key file, broker.key (env FOUNDRY_BROKER_KEY)"},
    {"--timeout", "DURATION", G_TIMEOUT, false,
     "give up after DURATION (2s, 500ms; a bare number is ms) without an answer (default 5s)"},
    /* repeatable: scripts add it to whatever they were given */
    {"--json", NULL, G_JSON, true, "machine-readable output (see docs/cli.md)"},
    {"--yes", NULL, G_YES, false,
     "do not ask before stream rm, consumer rm, key rm (they ask only on a terminal)"},
    {"--help", NULL, FDY_CTL_FLAG_HELP, false, "show help (also -h) and exit"},
    {"--version", NULL, FDY_CTL_FLAG_VERSION, false, "show the version and exit"},
};

static const char s_global_notes[] =
    "\nEnvironment:\n"
    "  FOUNDRY_ENDPOINT         broker endpoint, when --endpoint is not given\n"
    "  FOUNDRY_KEY              our secret key file, when --key is not given\n"
    "  FOUNDRY_BROKER_KEY       broker's public key file, when --broker-key is not given\n"
    "  FOUNDRY_CONTEXT          stored context to use, when --context is not given\n"
    "Flags win over variables, variables over the context in use (context ls).\n"
    "\nExit status: 0 ok; 1 runtime error (broker unreachable, key refused, not found,\n"
    "message refused, an offline key change the running broker did not confirm);\n"
    "2 usage error. Errors are one line on stderr:\n"
    "\"foundryctl: <reason>\".\n";

static int
s_global_set(fdy_ctl_args_t *args, const fdy_ctl_flag_t *flag, const char *value)
{
    uint64_t ms = 0;
    int status;
    switch (flag->id) {
    case G_ENDPOINT: args->endpoint = value; break;
    case G_KEY: args->key_file = value; break;
    case G_BROKER_KEY: args->broker_key_file = value; break;
    case G_JSON: args->json = true; break;
    case G_YES: args->yes = true; break;
    case G_CONTEXT: args->context = value; break;
    case G_TIMEOUT:
        status = fdy_ctl_args_parse_ms("--timeout", value, 1, INT_MAX, &ms);
        if (status != FDY_CTL_EXIT_OK)
            return status;
        args->timeout_ms = (int) ms;
        break;
    default: break;
    }
    return FDY_CTL_EXIT_OK;
}

static const fdy_ctl_cli_t s_cli = {
    .globals = s_globals,
    .global_count = sizeof s_globals / sizeof s_globals[0],
    .global_set = s_global_set,
    .global_notes = s_global_notes,
    .groups = s_groups,
    .group_count = sizeof s_groups / sizeof s_groups[0],
};

int
main(int argc, char **argv)
{
    fdy_ctl_args_t args = {.timeout_ms = FDY_CTL_TIMEOUT_DEFAULT_MS};
    int status = fdy_ctl_args_run(&s_cli, argc, argv, &args);
    /* Output that did not reach its reader is a failure scripts must see. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "foundryctl: writing output failed: %s\n", strerror(errno));
        if (status == FDY_CTL_EXIT_OK)
            status = FDY_CTL_EXIT_FAIL;
    }
    return status;
}
