/*  cmd_consumers.c: `foundryctl consumer add|ls|info|rm`, the durable
 *  consumers of a stream, through the broker's consumer.* admin commands.
 *  Values are checked here first only so a typo is a usage error; the
 *  broker decides. Receiving from a consumer is `foundryctl sub` (cmd_sub.c).
 */
#include "ctl.h"

#include <stdio.h>
#include <string.h>

/* consumer add's options, passed on as given once checked. */
typedef struct {
    const char *filter;          /* --filter */
    const char *start;           /* --start first|last|new|seq:N|time:NS */
    const char *ack_wait;        /* --ack-wait, a duration: ack_wait_text */
    char ack_wait_text[FDY_CTL_DURATION_TEXT_MAX];
    const char *max_deliver;     /* --max-deliver, a number */
    const char *max_ack_pending; /* --max-ack-pending, a number */
} consumers_opts_t;

/* Every command passes no not_found message to fdy_ctl_conn_run(): the
 * broker's reason says which of stream and consumer was missing. */
static foundry_err
s_stream_and_name(const fdy_ctl_args_t *args, fdy_ctl_argv_t *argv)
{
    foundry_err err = fdy_ctl_argv_add(argv, "stream", args->pos[0]);
    if (err == FOUNDRY_OK && args->pos_count > 1)
        err = fdy_ctl_argv_add(argv, "name", args->pos[1]);
    return err;
}

static int
s_add(const fdy_ctl_args_t *args)
{
    const consumers_opts_t *opts = args->opts;
    fdy_ctl_argv_t argv = {0};
    foundry_err err = s_stream_and_name(args, &argv);
    if (err == FOUNDRY_OK)
        err = fdy_ctl_argv_add(&argv, "filter", opts->filter);
    if (err == FOUNDRY_OK)
        err = fdy_ctl_argv_add(&argv, "start", opts->start);
    if (err == FOUNDRY_OK)
        err = fdy_ctl_argv_add(&argv, "ack_wait", opts->ack_wait);
    if (err == FOUNDRY_OK)
        err = fdy_ctl_argv_add(&argv, "max_deliver", opts->max_deliver);
    if (err == FOUNDRY_OK)
        err = fdy_ctl_argv_add(&argv, "max_ack_pending", opts->max_ack_pending);
    int status = err == FOUNDRY_OK
                     ? fdy_ctl_conn_run(args, "consumer.add", &argv, FDY_CTL_SHOW_RECORD, NULL)
                     : fdy_output_fail("out of memory");
    fdy_ctl_argv_free(&argv);
    return status;
}

static int
s_simple(const fdy_ctl_args_t *args, const char *command, fdy_ctl_show_t show)
{
    fdy_ctl_argv_t argv = {0};
    int status = s_stream_and_name(args, &argv) == FOUNDRY_OK
                     ? fdy_ctl_conn_run(args, command, &argv, show, NULL)
                     : fdy_output_fail("out of memory");
    fdy_ctl_argv_free(&argv);
    return status;
}

static int
s_ls(const fdy_ctl_args_t *args)
{
    return s_simple(args, "consumer.ls", FDY_CTL_SHOW_TABLE);
}

static int
s_info(const fdy_ctl_args_t *args)
{
    return s_simple(args, "consumer.info", FDY_CTL_SHOW_RECORD);
}

static int
s_rm(const fdy_ctl_args_t *args)
{
    int status = fdy_ctl_prompt_confirm(args, "delete consumer %s of stream %s and its cursor?",
                                        args->pos[1], args->pos[0]);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    return s_simple(args, "consumer.rm", FDY_CTL_SHOW_RECORD);
}

/* ---- the group ---------------------------------------------------------- */

enum { CONS_FILTER = 1, CONS_START, CONS_ACK_WAIT, CONS_MAX_DELIVER, CONS_MAX_ACK_PENDING };

static const fdy_ctl_flag_t s_flags[] = {
    {"--filter", "FILTER", CONS_FILTER, false,
     "only messages whose subject matches (default: all)"},
    {"--start", "POS", CONS_START, false,
     "first (default), last, new, seq:N or time:NS (ns since the epoch)"},
    {"--ack-wait", "DURATION", CONS_ACK_WAIT, false,
     "redeliver a message not acked within this, e.g. 30s (default 30s)"},
    {"--max-deliver", "N", CONS_MAX_DELIVER, false,
     "after N deliveries without an ack, dead-letter it (default 5; 0: never)"},
    {"--max-ack-pending", "N", CONS_MAX_ACK_PENDING, false,
     "at most N unacked messages out at once (default 1000; 0: no limit)"},
};

/* "first", "last", "new", "seq:N" (N >= 1) or "time:NS". */
static int
s_check_start(const char *value)
{
    uint64_t n;
    if (strcmp(value, "first") == 0 || strcmp(value, "last") == 0 || strcmp(value, "new") == 0)
        return FDY_CTL_EXIT_OK;
    if (strncmp(value, "seq:", 4) == 0 && fdy_ctl_args_parse_u64(value + 4, 1, UINT64_MAX, &n))
        return FDY_CTL_EXIT_OK;
    if (strncmp(value, "time:", 5) == 0 && fdy_ctl_args_parse_u64(value + 5, 0, UINT64_MAX, &n))
        return FDY_CTL_EXIT_OK;
    return fdy_output_usage("--start needs first, last, new, seq:N or time:NS, not %s", value);
}

static int
s_opts_set(void *opts, const fdy_ctl_flag_t *flag, const char *value)
{
    consumers_opts_t *self = opts;
    switch (flag->id) {
    case CONS_FILTER: self->filter = value; return fdy_ctl_args_check_filter("--filter", value);
    case CONS_START: self->start = value; return s_check_start(value);
    case CONS_ACK_WAIT:
        self->ack_wait = self->ack_wait_text;
        return fdy_ctl_args_duration_text("--ack-wait", value, self->ack_wait_text);
    case CONS_MAX_DELIVER:
        self->max_deliver = value;
        return fdy_ctl_args_check_count("--max-deliver", value);
    case CONS_MAX_ACK_PENDING:
        self->max_ack_pending = value;
        return fdy_ctl_args_check_count("--max-ack-pending", value);
    default: return FDY_CTL_EXIT_OK;
    }
}

static const fdy_ctl_cmd_t s_commands[] = {
    {
        .words = "consumer add",
        .synopsis = "STREAM NAME [--filter FILTER] [--start POS] [--ack-wait DURATION]\n"
                    "                          [--max-deliver N] [--max-ack-pending N]",
        .summary = "create a durable consumer: a named cursor on a stream",
        .notes = "Each consumer of a stream gets every message (fan-out); clients bound to\n"
                 "the same consumer share them (a queue group). Its cursor and unacked set\n"
                 "survive broker restarts. A message not acked within --ack-wait is\n"
                 "redelivered; after --max-deliver deliveries it goes to STREAM-dlq.\n"
                 "Prints the consumer, as consumer info does.",
        .pos_names = {"STREAM", "NAME"},
        .min_pos = 2,
        .max_pos = 2,
        .flags = (const int[]){CONS_FILTER, CONS_START, CONS_ACK_WAIT, CONS_MAX_DELIVER,
                               CONS_MAX_ACK_PENDING, 0},
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_add,
    },
    {
        .words = "consumer ls",
        .synopsis = "STREAM",
        .summary = "list the consumers of a stream",
        .notes = "Columns: stream name filter start ack_wait_ms max_deliver max_ack_pending\n"
                 "ack_floor delivered_seq pending bound.",
        .pos_names = {"STREAM"},
        .min_pos = 1,
        .max_pos = 1,
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_ls,
    },
    {
        .words = "consumer info",
        .synopsis = "STREAM NAME",
        .summary = "show one consumer: config, cursor, pending acks, bound clients",
        .notes = "Fields as consumer ls: ack_floor is the seq up to which all is acked,\n"
                 "delivered_seq the last seq delivered, pending the unacked deliveries,\n"
                 "bound the clients subscribed to it now.",
        .pos_names = {"STREAM", "NAME"},
        .min_pos = 2,
        .max_pos = 2,
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_info,
    },
    {
        .words = "consumer rm",
        .synopsis = "STREAM NAME",
        .summary = "delete a consumer and its cursor",
        .notes = "Clients bound to it are unsubscribed. Prints the consumer as it was.\n"
                 "On a terminal it asks first; --yes does not.",
        .pos_names = {"STREAM", "NAME"},
        .min_pos = 2,
        .max_pos = 2,
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_rm,
    },
};

const fdy_ctl_group_t fdy_cmd_consumers_group = {
    .commands = s_commands,
    .command_count = sizeof s_commands / sizeof s_commands[0],
    .flags = s_flags,
    .flag_count = sizeof s_flags / sizeof s_flags[0],
    .opts_size = sizeof(consumers_opts_t),
    .opts_set = s_opts_set,
};
