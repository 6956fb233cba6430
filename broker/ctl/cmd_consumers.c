/*  cmd_consumers.c: `foundryctl consumer add|ls|info|rm`, the durable
 *  consumers of a stream, through the broker's consumer.* admin commands.
 *  Values are checked here first only so a typo is a usage error; the
 *  broker decides. Receiving from a consumer is `foundryctl sub` (cmd_sub.c).
 */
#include "ctl.h"

#include <stdio.h>
#include <string.h>

/* Not found: the broker's reason says which of stream and consumer was
 * missing. */
static int
s_run(const fdy_ctl_args_t *args, const char *command, const fdy_ctl_argv_t *argv, bool record)
{
    return fdy_ctl_conn_run(args, command, argv, record, NULL);
}

static foundry_err
s_stream_and_name(const fdy_ctl_args_t *args, fdy_ctl_argv_t *argv)
{
    foundry_err err = fdy_ctl_argv_add(argv, "stream", args->pos[0]);
    if (err == FOUNDRY_OK && args->pos_count > 1)
        err = fdy_ctl_argv_add(argv, "name", args->pos[1]);
    return err;
}

int
fdy_cmd_consumers_add(const fdy_ctl_args_t *args)
{
    fdy_ctl_argv_t argv = {0};
    foundry_err err = s_stream_and_name(args, &argv);
    if (err == FOUNDRY_OK)
        err = fdy_ctl_argv_add(&argv, "filter", args->filter);
    if (err == FOUNDRY_OK)
        err = fdy_ctl_argv_add(&argv, "start", args->start);
    if (err == FOUNDRY_OK)
        err = fdy_ctl_argv_add(&argv, "ack_wait", args->ack_wait);
    if (err == FOUNDRY_OK)
        err = fdy_ctl_argv_add(&argv, "max_deliver", args->max_deliver);
    if (err == FOUNDRY_OK)
        err = fdy_ctl_argv_add(&argv, "max_ack_pending", args->max_ack_pending);
    int status = err == FOUNDRY_OK ? s_run(args, "consumer.add", &argv, true)
                                   : fdy_output_fail("out of memory");
    fdy_ctl_argv_free(&argv);
    return status;
}

static int
s_simple(const fdy_ctl_args_t *args, const char *command, bool record)
{
    fdy_ctl_argv_t argv = {0};
    int status = s_stream_and_name(args, &argv) == FOUNDRY_OK
                     ? s_run(args, command, &argv, record)
                     : fdy_output_fail("out of memory");
    fdy_ctl_argv_free(&argv);
    return status;
}

int
fdy_cmd_consumers_ls(const fdy_ctl_args_t *args)
{
    return s_simple(args, "consumer.ls", false);
}

int
fdy_cmd_consumers_info(const fdy_ctl_args_t *args)
{
    return s_simple(args, "consumer.info", true);
}

int
fdy_cmd_consumers_rm(const fdy_ctl_args_t *args)
{
    return s_simple(args, "consumer.rm", true);
}
