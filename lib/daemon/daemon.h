/*  daemon.h: the whole main() of a Foundry daemon, shared by foundry-broker
 *  and foundry-node: command line, --help/--version/--help-config/
 *  --check-config, building the config, the stop signals, create/run/
 *  destroy and the exit status. A daemon's main.c fills one spec.
 */
#ifndef FDY_DAEMON_H_INCLUDED
#define FDY_DAEMON_H_INCLUDED

#include "config.h"

#include <signal.h>

/* Exit statuses of every daemon (also in their --help). */
#define FDY_DAEMON_EXIT_OK      0 /* clean stop, or help/version/check done */
#define FDY_DAEMON_EXIT_FAILURE 1 /* could not start, or the run failed */
#define FDY_DAEMON_EXIT_USAGE   2 /* bad command line or configuration */

/* A one-shot command of a daemon's binary (foundry-broker --check-store):
 * it runs over the config built as for a start, instead of the daemon. */
typedef struct {
    const char *flag;    /* "--check-store" */
    const char *metavar; /* "NEWDIR" when it takes a value, else NULL */
    const char *help;    /* one line for --help */
    /* Returns the exit status. cfg and value (NULL without metavar) are
     * borrowed for the call. */
    int (*run)(const void *cfg, const char *value);
} fdy_daemon_tool_t;

typedef struct {
    const char *program;               /* "foundry-broker": messages and --version */
    const char *about;                 /* --help: lines between the usage line and the flags */
    const char *epilog;                /* --help: lines after the flags, before the exit statuses */
    const fdy_config_schema_t *schema; /* options, flags, cross-checks */
    const char *start_failed_id;       /* log id when create fails: "BROKER-START-FAILED" */
    /* Builds the daemon over cfg. cfg is borrowed, valid until destroy
     * returns. Returns FOUNDRY_OK with *daemon_out (caller owns), or an
     * error with reason, which fdy_daemon_main() logs. */
    foundry_err (*create)(const void *cfg, void **daemon_out, fdy_reason_t *reason);
    /* Runs until *stop becomes non-zero; *stop counts SIGTERM/SIGINT up to
     * 2 (a second signal may cut a graceful stop short). Returns FOUNDRY_OK
     * on a requested stop, else an error (logged by the daemon). */
    foundry_err (*run)(void *daemon, volatile sig_atomic_t *stop);
    /* Destroys *daemon_p and nulls it. */
    void (*destroy)(void **daemon_p);
    const fdy_daemon_tool_t *tools; /* may be NULL when tool_count is 0 */
    size_t tool_count;
} fdy_daemon_spec_t;

/* Runs a daemon from its command line and returns its exit status: parses
 * argv (usage error: "<program>: <reason> (see --help)" on stderr, 2);
 * --help, --version, --help-config print to stdout and return 0; builds the
 * config (defaults, then --config, then flags in order, then
 * schema->finish; an error prints "<program>: <reason>" and returns 2);
 * --check-config prints "<program>: configuration OK" and returns 0; a
 * tool flag (at most one) runs that tool over the config and returns its
 * status, without logging setup, signals or the daemon.
 * Otherwise logs to stderr at the config's log_level option (notice if the
 * schema has none), routes SIGTERM and SIGINT to the stop flag, ignores
 * SIGPIPE, and runs create/run/destroy: 0 on a clean stop, 1 if create or
 * run failed. Not thread-safe: the stop flag is process-wide, so one
 * fdy_daemon_main() at a time (it is reset to 0 before each run). */
int fdy_daemon_main(int argc, char **argv, const fdy_daemon_spec_t *spec);

#endif
