/*  main.c: foundry-broker's entry point. fdy_daemon_main() parses flags,
 *  builds the config, runs the broker until SIGTERM or SIGINT and maps the
 *  result to an exit status (0 clean stop, 1 runtime failure, 2 bad usage
 *  or config). Here: the help text and the broker's lifecycle, nothing else.
 */
#include "broker.h"
#include "daemon.h"

/* Adapters only: the spec's callbacks take void pointers (and a void **
 * must not be written through as a fdy_broker_t **). */
static foundry_err
s_create(const void *cfg, void **daemon_out, fdy_reason_t *reason)
{
    fdy_broker_t *broker = NULL;
    foundry_err err = fdy_broker_new(cfg, &broker, reason);
    *daemon_out = broker;
    return err;
}

static foundry_err
s_run(void *daemon, volatile sig_atomic_t *stop)
{
    return fdy_broker_run(daemon, stop);
}

static void
s_destroy(void **daemon_p)
{
    fdy_broker_t *broker = *daemon_p;
    fdy_broker_destroy(&broker);
    *daemon_p = NULL;
}

static const fdy_daemon_spec_t s_spec = {
    .program = "foundry-broker",
    .about = "The Foundry message broker: CurveZMQ clients, durable LMDB store.\n",
    .schema = &fdy_broker_config_schema,
    .start_failed_id = "BROKER-START-FAILED",
    .create = s_create,
    .run = s_run,
    .destroy = s_destroy,
};

int
main(int argc, char **argv)
{
    return fdy_daemon_main(argc, argv, &s_spec);
}
