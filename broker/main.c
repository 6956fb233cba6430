/*  main.c: foundry-broker's entry point. fdy_daemon_main() parses flags,
 *  builds the config, runs the broker until SIGTERM or SIGINT and maps the
 *  result to an exit status (0 clean stop, 1 runtime failure, 2 bad usage
 *  or config). Here: the help text and the broker's lifecycle, nothing else.
 */
#include "broker.h"
#include "broker_config.h"
#include "daemon.h"
#include "store_check.h"
#include "store_salvage.h"

#include <stdio.h>

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

/* --check-store: the check of foundryctl store check, on data_dir. */
static int
s_check_store(const void *cfg_in, const char *value)
{
    (void) value;
    const fdy_broker_cfg_t *cfg = cfg_in;
    fdy_store_check_opts_t opts = {.dir = cfg->data_dir, .report = stdout, .progress = true};
    fdy_store_check_result_t result;
    if (fdy_store_check(&opts, &result) != FOUNDRY_OK)
        fprintf(stderr, "foundry-broker: %s\n", result.reason);
    return fdy_store_check_exit_status(&result);
}

/* --salvage-to NEWDIR: the salvage of foundryctl store salvage. */
static int
s_salvage_to(const void *cfg_in, const char *value)
{
    const fdy_broker_cfg_t *cfg = cfg_in;
    fdy_store_salvage_opts_t opts = {.from = cfg->data_dir, .to = value, .report = stdout};
    fdy_store_salvage_result_t result;
    if (fdy_store_salvage(&opts, &result) != FOUNDRY_OK)
        fprintf(stderr, "foundry-broker: %s\n", result.reason);
    return fdy_store_salvage_exit_status(&result);
}

static const fdy_daemon_tool_t s_tools[] = {
    {"--check-store", NULL,
     "check every page and record of the store in data_dir (read-only, also while a broker "
     "runs) and exit: 0 clean, 1 damaged, 2 no store or cannot check", s_check_store},
    {"--salvage-to", "NEWDIR",
     "copy every readable record of the store in data_dir into a new store in NEWDIR and "
     "exit: 0 all copied, 1 records skipped (listed), 2 failed", s_salvage_to},
};

static const fdy_daemon_spec_t s_spec = {
    .program = "foundry-broker",
    .about = "The Foundry message broker: CurveZMQ clients, durable LMDB store.\n",
    .schema = &fdy_broker_config_schema,
    .start_failed_id = "BROKER-START-FAILED",
    .create = s_create,
    .run = s_run,
    .destroy = s_destroy,
    .tools = s_tools,
    .tool_count = sizeof s_tools / sizeof s_tools[0],
};

int
main(int argc, char **argv)
{
    return fdy_daemon_main(argc, argv, &s_spec);
}
