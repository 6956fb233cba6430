/*  daemon_args.h: the command line every Foundry daemon shares (--config,
 *  --set, --check-config, --help-config, --help, --version, plus flags that
 *  alias options). fdy_daemon_main() (daemon.h) drives it; each daemon keeps
 *  only its own config schema and help text.
 */
#ifndef FDY_DAEMON_ARGS_H_INCLUDED
#define FDY_DAEMON_ARGS_H_INCLUDED

#include "config.h"

#include <stdbool.h>
#include <stdio.h>

typedef enum {
    FDY_DAEMON_RUN = 0,         /* build the config and run */
    FDY_DAEMON_HELP = 1,        /* --help: print usage, exit 0 */
    FDY_DAEMON_VERSION = 2,     /* --version */
    FDY_DAEMON_HELP_CONFIG = 3, /* --help-config */
} fdy_daemon_action_t;

typedef struct {
    fdy_daemon_action_t action;
    const char *config_path; /* --config, borrowed from argv, or NULL */
    bool check_only;         /* --check-config */
    /* option settings from flags, applied after the file, in order;
     * strings borrowed from argv */
    const char **keys;
    const char **values;
    size_t set_count;
} fdy_daemon_args_t;

/* Parses argv ("--flag value" and "--flag=value" both work). Returns
 * FOUNDRY_OK with *args filled (free with fdy_daemon_args_free()),
 * FOUNDRY_EINVAL with a one-line reason for a usage error, or
 * FOUNDRY_ENOMEM. --set splits its KEY=VALUE argument in place. */
foundry_err fdy_daemon_args_parse(int argc, char **argv, const fdy_flag_t *flags,
                                  size_t flag_count, fdy_daemon_args_t *args,
                                  fdy_reason_t *reason);
void fdy_daemon_args_free(fdy_daemon_args_t *args);

/* Applies --config, then the flags in order, over cfg (which holds the
 * defaults). Returns FOUNDRY_OK, or FOUNDRY_EIO / FOUNDRY_EINVAL with
 * "file:line: reason" or "option 'x': reason". */
foundry_err fdy_daemon_args_apply(const fdy_daemon_args_t *args, const fdy_option_t *opts,
                                  size_t opt_count, void *cfg, fdy_reason_t *reason);

/* Prints the help lines of the shared flags and of each alias with the
 * default of the option it sets, from the option table. */
void fdy_daemon_print_flags(FILE *out, const fdy_flag_t *flags, size_t flag_count,
                            const fdy_option_t *opts, size_t opt_count);

#endif
