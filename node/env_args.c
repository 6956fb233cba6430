/*  env_args.c: turns FOUNDRY_ENDPOINT, FOUNDRY_KEY and FOUNDRY_BROKER_KEY
 *  into foundry-node flags ahead of the command line's, and expands the
 *  `host:port` endpoint shorthand. The config parser (lib/daemon) knows
 *  nothing of either; it sees ordinary flags.
 */
#include "env_args.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *variable;
    const char *flag;
} s_variables[] = {
    {"FOUNDRY_ENDPOINT", "--endpoint"},
    {"FOUNDRY_KEY", "--key"},
    {"FOUNDRY_BROKER_KEY", "--broker-key"},
};
#define VARIABLE_COUNT (sizeof s_variables / sizeof s_variables[0])

/* "host:port" -> "tcp://host:port"; anything with a scheme as it is. */
static char *
s_endpoint(const char *value)
{
    if (strstr(value, "://"))
        return strdup(value);
    size_t size = strlen("tcp://") + strlen(value) + 1;
    char *out = malloc(size);
    if (out)
        snprintf(out, size, "tcp://%s", value);
    return out;
}

/* Copies one argument, expanding an endpoint value: "--endpoint=V", or V
 * when the previous argument was "--endpoint". */
static char *
s_copy_arg(const char *arg, const char *previous)
{
    if (previous && strcmp(previous, "--endpoint") == 0)
        return s_endpoint(arg);
    if (strncmp(arg, "--endpoint=", 11) == 0) {
        char *endpoint = s_endpoint(arg + 11);
        if (!endpoint)
            return NULL;
        size_t size = 11 + strlen(endpoint) + 1;
        char *out = malloc(size);
        if (out)
            snprintf(out, size, "--endpoint=%s", endpoint);
        free(endpoint);
        return out;
    }
    return strdup(arg);
}

/* True when the command line gives flag itself: then the variable is not
 * even read, so a bad value in it cannot stop a run that overrides it. */
static bool
s_given(int argc, char **argv, const char *flag)
{
    size_t len = strlen(flag);
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strncmp(argv[i], flag, len) == 0 && (argv[i][len] == '\0' || argv[i][len] == '='))
            return true;
    return false;
}

char **
fdy_env_args_build(int argc, char **argv, int *argc_out)
{
    char **out = calloc((size_t) argc + 2 * VARIABLE_COUNT + 1, sizeof *out);
    if (!out)
        return NULL;
    int n = 0;
    bool failed = !(out[n++] = strdup(argc > 0 ? argv[0] : "foundry-node"));
    for (size_t i = 0; !failed && i < VARIABLE_COUNT; i++) {
        const char *value = getenv(s_variables[i].variable);
        if (!value || !*value || s_given(argc, argv, s_variables[i].flag))
            continue;
        out[n++] = strdup(s_variables[i].flag);
        out[n] = i == 0 ? s_endpoint(value) : strdup(value);
        failed = !out[n - 1] || !out[n];
        n++;
    }
    /* "--" ends the flags: what follows is copied as it is. */
    bool flags_done = false;
    for (int i = 1; !failed && i < argc; i++) {
        flags_done = flags_done || strcmp(argv[i], "--") == 0;
        out[n] = flags_done ? strdup(argv[i]) : s_copy_arg(argv[i], i > 1 ? argv[i - 1] : NULL);
        failed = !out[n++];
    }
    if (failed) {
        fdy_env_args_free(out, n);
        return NULL;
    }
    *argc_out = n;
    return out;
}

void
fdy_env_args_free(char **args, int argc)
{
    if (!args)
        return;
    for (int i = 0; i < argc; i++)
        free(args[i]);
    free(args);
}
