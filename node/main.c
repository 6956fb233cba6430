/*  main.c: foundry-node's entry point. fdy_daemon_main() parses flags,
 *  builds the config, runs the agent until SIGTERM or SIGINT (a second one
 *  cuts the shutdown flush short) and maps the result to an exit status (0
 *  clean stop, 1 runtime failure, 2 bad usage or config). Here: the help
 *  text and the agent's lifecycle, nothing else.
 */
#include "agent.h"
#include "daemon.h"
#include "env_args.h"

#include <stdio.h>

/* Adapters only: the spec's callbacks take void pointers (and a void **
 * must not be written through as a fdy_agent_t **). */
static foundry_err
s_create(const void *cfg, void **daemon_out, fdy_reason_t *reason)
{
    fdy_agent_t *agent = NULL;
    foundry_err err = fdy_agent_new(cfg, &agent, reason);
    *daemon_out = agent;
    return err;
}

static foundry_err
s_run(void *daemon, volatile sig_atomic_t *stop)
{
    return fdy_agent_run(daemon, stop);
}

static void
s_destroy(void **daemon_p)
{
    fdy_agent_t *agent = *daemon_p;
    fdy_agent_destroy(&agent);
    *daemon_p = NULL;
}

static const fdy_daemon_spec_t s_spec = {
    .program = "foundry-node",
    .about = "The Foundry site agent: takes local telemetry on a ZeroMQ PULL socket (and\n"
             "stdin), keeps it in a durable outbox and forwards it to the broker under\n"
             "telemetry.<site>.<metric>. Text lines: <metric> <value> [unit] [ts_ns]\n"
             "[key=value ...] (docs/node.md).\n",
    .epilog = "site must be set; listen defaults to ipc://<data_dir>/telemetry.sock.\n"
              "FOUNDRY_ENDPOINT, FOUNDRY_KEY and FOUNDRY_BROKER_KEY, when set, count as\n"
              "--endpoint, --key and --broker-key given before the other flags (so after\n"
              "--config); --endpoint host:port means tcp://host:port.\n"
              "SIGTERM or SIGINT (or the end of stdin with --stdin) stops: inputs close, acks\n"
              "are awaited for shutdown_flush, and what is unacknowledged stays in the outbox.\n",
    .schema = &fdy_agent_config_schema,
    .start_failed_id = "NODE-START-FAILED",
    .create = s_create,
    .run = s_run,
    .destroy = s_destroy,
};

int
main(int argc, char **argv)
{
    int args_count = 0;
    char **args = fdy_env_args_build(argc, argv, &args_count);
    if (!args) {
        fputs("foundry-node: out of memory\n", stderr);
        return FDY_DAEMON_EXIT_FAILURE;
    }
    int status = fdy_daemon_main(args_count, args, &s_spec);
    fdy_env_args_free(args, args_count);
    return status;
}
