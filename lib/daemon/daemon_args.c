/*  daemon_args.c: command-line parsing shared by foundry-broker and
 *  foundry-node, so both accept the same shared flags with the same
 *  precedence (defaults, then --config, then flags in order). Not for
 *  foundryctl, whose commands take positional arguments.
 */
#include "daemon_args.h"

#include <stdlib.h>
#include <string.h>

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

static void
s_add(fdy_daemon_args_t *args, const char *key, const char *value)
{
    args->keys[args->set_count] = key;
    args->values[args->set_count++] = value;
}

/* Records arg when it is one of the aliases; anything else is a usage error. */
static foundry_err
s_parse_alias(int argc, char **argv, int *index, const fdy_flag_t *flags, size_t flag_count,
              fdy_daemon_args_t *args, fdy_reason_t *reason)
{
    const char *arg = argv[*index];
    for (size_t f = 0; f < flag_count; f++) {
        if (!flags[f].metavar) {
            if (strcmp(arg, flags[f].flag) != 0)
                continue;
            s_add(args, flags[f].key, "true");
            return FOUNDRY_OK;
        }
        if (!s_is_flag(arg, flags[f].flag))
            continue;
        const char *value = s_flag_value(argc, argv, index, flags[f].flag);
        if (!value)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "option '%s' needs a value", arg);
        s_add(args, flags[f].key, value);
        return FOUNDRY_OK;
    }
    return fdy_reason_set(reason, FOUNDRY_EINVAL, "unknown argument '%s'", arg);
}

foundry_err
fdy_daemon_args_parse(int argc, char **argv, const fdy_flag_t *flags, size_t flag_count,
                      fdy_daemon_args_t *args, fdy_reason_t *reason)
{
    memset(args, 0, sizeof *args);
    /* Every argument sets at most one option. */
    args->keys = calloc((size_t) argc + 1, sizeof *args->keys);
    args->values = calloc((size_t) argc + 1, sizeof *args->values);
    if (!args->keys || !args->values) {
        fdy_daemon_args_free(args);
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            args->action = FDY_DAEMON_HELP;
            return FOUNDRY_OK;
        }
        if (strcmp(arg, "--version") == 0) {
            args->action = FDY_DAEMON_VERSION;
            return FOUNDRY_OK;
        }
        if (strcmp(arg, "--help-config") == 0) {
            args->action = FDY_DAEMON_HELP_CONFIG;
            return FOUNDRY_OK;
        }
        if (strcmp(arg, "--check-config") == 0) {
            args->check_only = true;
            continue;
        }
        if (s_is_flag(arg, "--config")) {
            args->config_path = s_flag_value(argc, argv, &i, "--config");
            if (!args->config_path)
                return fdy_reason_set(reason, FOUNDRY_EINVAL, "option '%s' needs a value", arg);
            continue;
        }
        if (s_is_flag(arg, "--set")) {
            char *pair = (char *) s_flag_value(argc, argv, &i, "--set");
            char *equals = pair ? strchr(pair, '=') : NULL;
            if (!equals || equals == pair)
                return fdy_reason_set(reason, FOUNDRY_EINVAL, "--set needs KEY=VALUE, got '%s'",
                                      pair ? pair : "");
            *equals = '\0'; /* argv outlives the parse: split in place */
            s_add(args, pair, equals + 1);
            continue;
        }
        foundry_err err = s_parse_alias(argc, argv, &i, flags, flag_count, args, reason);
        if (err != FOUNDRY_OK)
            return err;
    }
    return FOUNDRY_OK;
}

void
fdy_daemon_args_free(fdy_daemon_args_t *args)
{
    free(args->keys);
    free(args->values);
    args->keys = NULL;
    args->values = NULL;
    args->set_count = 0;
}

foundry_err
fdy_daemon_args_apply(const fdy_daemon_args_t *args, const fdy_option_t *opts, size_t opt_count,
                      void *cfg, fdy_reason_t *reason)
{
    foundry_err err = FOUNDRY_OK;
    if (args->config_path)
        err = fdy_config_load_file(opts, opt_count, cfg, args->config_path, reason);
    for (size_t i = 0; err == FOUNDRY_OK && i < args->set_count; i++)
        err = fdy_config_set(opts, opt_count, cfg, args->keys[i], args->values[i], reason);
    return err;
}

static const char *
s_default_of(const fdy_option_t *opts, size_t opt_count, const char *key)
{
    for (size_t i = 0; i < opt_count; i++)
        if (strcmp(opts[i].key, key) == 0)
            return opts[i].default_value;
    return NULL;
}

void
fdy_daemon_print_flags(FILE *out, const fdy_flag_t *flags, size_t flag_count,
                       const fdy_option_t *opts, size_t opt_count)
{
    fprintf(out, "  --config FILE          read options from FILE (key = value lines)\n");
    for (size_t i = 0; i < flag_count; i++) {
        char left[64];
        if (!flags[i].metavar) {
            fprintf(out, "  %-22s set %s to true\n", flags[i].flag, flags[i].key);
            continue;
        }
        snprintf(left, sizeof left, "%s %s", flags[i].flag, flags[i].metavar);
        const char *def = s_default_of(opts, opt_count, flags[i].key);
        if (!def)
            fprintf(out, "  %-22s set %s (no default)\n", left, flags[i].key);
        else if (!*def)
            fprintf(out, "  %-22s set %s (default: derived, see --help-config)\n", left,
                    flags[i].key);
        else
            fprintf(out, "  %-22s set %s (default: %s)\n", left, flags[i].key, def);
    }
    fprintf(out, "  --set KEY=VALUE        set any option; see --help-config\n"
                 "  --check-config         validate the configuration and exit\n"
                 "  --help-config          print every option and its default, as a config file\n"
                 "  --help                 print this help and exit\n"
                 "  --version              print the version and exit\n\n"
                 "Later settings win: defaults, then --config, then the other flags in order.\n");
}
