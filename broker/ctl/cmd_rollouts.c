/*  cmd_rollouts.c: `foundryctl rollout start|pause|resume|abort|status|ls`,
 *  the rollouts service's admin commands (docs/rollouts.md). Options
 *  are checked and turned into rollout.start's key=value arguments by
 *  ctl_model_args.c. `--wait` follows a rollout with plain lines, one per
 *  change, until it ends (succeeded: exit 0; aborted, or still going at the
 *  deadline: exit 1).
 */
#include "ctl.h"

#include "clock.h"
#include "config.h"
#include "ctl_model_args.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    fdy_ctl_rollout_opts_t start;
    const char *wait;
} rollouts_opts_t;

/* How often --wait asks. Not a test's synchronisation: a person watching. */
#define WAIT_POLL_MS 500

static int
s_id(const fdy_ctl_args_t *args, uint64_t *id)
{
    if (!fdy_ctl_args_parse_u64(args->pos[0], 1, UINT64_MAX, id))
        return fdy_output_usage("bad rollout id '%s'", args->pos[0]);
    return FDY_CTL_EXIT_OK;
}

static int
s_wait_ms(const rollouts_opts_t *o, uint64_t *ms)
{
    *ms = 0;
    if (!o->wait)
        return FDY_CTL_EXIT_OK;
    return fdy_ctl_args_parse_ms("--wait", o->wait, 0, INT32_MAX, ms);
}

/* A cell as text, copied into buf. */
static const char *
s_text(const fdy_table_t *table, size_t row, const char *column, char *buf, size_t cap)
{
    long col = fdy_output_column(table, column);
    buf[0] = '\0';
    if (col >= 0) {
        const fdy_slice_t *cell = &table->cells[row * table->column_count + (size_t) col];
        size_t len = cell->len < cap - 1 ? cell->len : cap - 1;
        if (len) /* an empty cell may have no data pointer at all */
            memcpy(buf, cell->data, len);
        buf[len] = '\0';
    }
    return buf;
}

/* The rollout.ls row of id, or -1. */
static long
s_find_row(const fdy_table_t *table, uint64_t id)
{
    long col = fdy_output_column(table, "id");
    for (size_t row = 0; col >= 0 && row < table->row_count; row++) {
        uint64_t value;
        const fdy_slice_t *cell = &table->cells[row * table->column_count + (size_t) col];
        if (fdy_output_parse_u64(cell->data, cell->len, &value) == FOUNDRY_OK && value == id)
            return (long) row;
    }
    return -1;
}

/* Follows rollout id until it ends or wait_ms pass, printing a line each
 * time its summary changes. */
static int
s_follow(const fdy_ctl_args_t *args, fdy_ctl_conn_t *conn, uint64_t id, uint64_t wait_ms)
{
    int64_t deadline = fdy_clock_mono_ms() + (int64_t) wait_ms;
    char last[512] = "";
    for (;;) {
        fdy_table_t table;
        fdy_reason_t reason = {{0}};
        foundry_err err = fdy_ctl_conn_admin(conn, "rollout.ls", NULL, 0, &table, &reason);
        if (err != FOUNDRY_OK)
            return fdy_ctl_conn_report(conn, err, &reason);
        long row = s_find_row(&table, id);
        if (row < 0)
            return fdy_output_fail("no rollout %" PRIu64, id);
        char state[64], wave[32], nodes[24], healthy[24], failed[24], why[256];
        s_text(&table, (size_t) row, "state", state, sizeof state);
        s_text(&table, (size_t) row, "wave", wave, sizeof wave);
        s_text(&table, (size_t) row, "nodes", nodes, sizeof nodes);
        s_text(&table, (size_t) row, "healthy", healthy, sizeof healthy);
        s_text(&table, (size_t) row, "failed", failed, sizeof failed);
        s_text(&table, (size_t) row, "reason", why, sizeof why);
        char line[512];
        snprintf(line, sizeof line,
                 "rollout %" PRIu64 " %s wave %s nodes %s healthy %s failed %s%s%s", id, state,
                 wave[0] ? wave : "-", nodes, healthy, failed, why[0] ? " reason " : "", why);
        if (strcmp(line, last) != 0) {
            if (args->json) {
                fdy_output_record(stdout, &table, (size_t) row, false, true);
            } else {
                puts(line);
            }
            fflush(stdout);
            snprintf(last, sizeof last, "%s", line);
        }
        if (strcmp(state, "succeeded") == 0)
            return FDY_CTL_EXIT_OK;
        if (strcmp(state, "aborted") == 0)
            return fdy_output_fail("rollout %" PRIu64 " aborted%s%s", id, why[0] ? ": " : "", why);
        int64_t left = deadline - fdy_clock_mono_ms();
        if (left <= 0)
            return fdy_output_fail("rollout %" PRIu64 " is still %s after --wait %s", id, state,
                                   ((const rollouts_opts_t *) args->opts)->wait);
        int64_t nap = left < WAIT_POLL_MS ? left : WAIT_POLL_MS;
        struct timespec ts = {(time_t) (nap / 1000), (long) (nap % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static int
s_start(const fdy_ctl_args_t *args)
{
    const rollouts_opts_t *o = args->opts;
    fdy_ctl_rollout_opts_t start = o->start;
    start.model = args->pos_count ? args->pos[0] : NULL;
    uint64_t wait_ms;
    int status = s_wait_ms(o, &wait_ms);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    fdy_ctl_argv_t argv = {0};
    fdy_reason_t reason = {{0}};
    foundry_err err = fdy_ctl_rollout_argv(&start, &argv, &reason);
    if (err != FOUNDRY_OK) {
        fdy_ctl_argv_free(&argv);
        return err == FOUNDRY_ENOMEM ? fdy_output_fail("out of memory")
                                     : fdy_output_usage("%s", reason.text);
    }
    fdy_ctl_conn_t *conn = NULL;
    status = fdy_ctl_conn_open(args, &conn);
    if (status != FDY_CTL_EXIT_OK) {
        fdy_ctl_argv_free(&argv);
        return status;
    }
    fdy_table_t table;
    err = fdy_ctl_conn_admin(conn, "rollout.start", (const char *const *) argv.argv, argv.argc,
                             &table, &reason);
    fdy_ctl_argv_free(&argv);
    uint64_t id = 0;
    long col = err == FOUNDRY_OK ? fdy_output_column(&table, "id") : -1;
    if (err == FOUNDRY_ENOTFOUND || err == FOUNDRY_EEXIST)
        status = fdy_output_fail("%s", reason.text[0] ? reason.text : foundry_strerror(err));
    else if (err != FOUNDRY_OK)
        status = fdy_ctl_conn_report(conn, err, &reason);
    else if (col < 0 || table.row_count != 1 ||
             fdy_output_parse_u64(table.cells[col].data, table.cells[col].len, &id) != FOUNDRY_OK)
        status = fdy_output_fail("the broker's rollout.start reply has no id");
    else if (o->wait)
        status = s_follow(args, conn, id, wait_ms);
    else if (args->json)
        printf("{\"id\":%" PRIu64 "}\n", id);
    else
        printf("%" PRIu64 "\n", id);
    fdy_ctl_conn_destroy(&conn);
    return status;
}

/* pause, resume, abort: rollout.<verb> ID, one row (id, state). */
static int
s_change(const fdy_ctl_args_t *args, const char *command)
{
    uint64_t id;
    int status = s_id(args, &id);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    fdy_ctl_argv_t argv = {0};
    if (fdy_ctl_argv_add(&argv, "id", args->pos[0]) != FOUNDRY_OK)
        return fdy_output_fail("out of memory");
    status = fdy_ctl_conn_run(args, command, &argv, FDY_CTL_SHOW_ROW, NULL);
    fdy_ctl_argv_free(&argv);
    return status;
}

static int
s_pause(const fdy_ctl_args_t *args)
{
    return s_change(args, "rollout.pause");
}

static int
s_resume(const fdy_ctl_args_t *args)
{
    return s_change(args, "rollout.resume");
}

static int
s_abort(const fdy_ctl_args_t *args)
{
    return s_change(args, "rollout.abort");
}

static int
s_status(const fdy_ctl_args_t *args)
{
    const rollouts_opts_t *o = args->opts;
    uint64_t id, wait_ms;
    int status = s_id(args, &id);
    if (status == FDY_CTL_EXIT_OK)
        status = s_wait_ms(o, &wait_ms);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    fdy_ctl_conn_t *conn = NULL;
    status = fdy_ctl_conn_open(args, &conn);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    if (o->wait) {
        status = s_follow(args, conn, id, wait_ms);
        if (args->json) { /* one JSON document per line was printed; no table after */
            fdy_ctl_conn_destroy(&conn);
            return status;
        }
    }
    char id_arg[32];
    snprintf(id_arg, sizeof id_arg, "id=%" PRIu64, id);
    const char *argv[] = {id_arg};
    fdy_table_t table;
    fdy_reason_t reason = {{0}};
    foundry_err err = fdy_ctl_conn_admin(conn, "rollout.status", argv, 1, &table, &reason);
    int shown = FDY_CTL_EXIT_OK;
    if (err == FOUNDRY_ENOTFOUND)
        shown = fdy_output_fail("%s", reason.text[0] ? reason.text : "no such rollout");
    else if (err != FOUNDRY_OK)
        shown = fdy_ctl_conn_report(conn, err, &reason);
    else if (fdy_output_table(stdout, &table, args->json) != FOUNDRY_OK)
        shown = fdy_output_fail("out of memory");
    fdy_ctl_conn_destroy(&conn);
    return status != FDY_CTL_EXIT_OK ? status : shown;
}

static int
s_ls(const fdy_ctl_args_t *args)
{
    return fdy_ctl_conn_run(args, "rollout.ls", NULL, FDY_CTL_SHOW_TABLE, NULL);
}

/* ---- the group ------------------------------------------------------------ */

enum {
    RO_WAVES = 1,
    RO_RATE,
    RO_SOAK,
    RO_SUCCESS,
    RO_ABORT_FAILURES,
    RO_ABORT_RATE,
    RO_GATE,
    RO_SITE,
    RO_LABEL,
    RO_JOB,
    RO_DATA,
    RO_RUN_TIMEOUT,
    RO_WAIT,
};

static const fdy_ctl_flag_t s_flags[] = {
    {"--waves", "SPEC", RO_WAVES, false,
     "waves split by ';': sites a,b or N% or * (default *), e.g. 'seongnam-lab;siheung;*'"},
    {"--rate", "N/m", RO_RATE, false, "start at most N nodes a minute (default: no limit)"},
    {"--soak", "DURATION", RO_SOAK, false,
     "gates must hold this long after a wave is healthy (default 0)"},
    {"--success", "PCT", RO_SUCCESS, false, "healthy share a wave needs to advance (default 100)"},
    {"--abort-failures", "N", RO_ABORT_FAILURES, false, "abort after N failed nodes (default off)"},
    {"--abort-rate", "PCT", RO_ABORT_RATE, false,
     "abort when this share of started nodes failed (default off)"},
    {"--gate", "METRIC<VALUE", RO_GATE, true,
     "a telemetry condition every wave must hold (<, >, <=, >=, ==); repeatable"},
    {"--site", "SITE", RO_SITE, true, "only these of the targets' sites; repeatable"},
    {"--label", "K=V", RO_LABEL, true, "only nodes with this label; repeatable"},
    {"--job", "TYPE", RO_JOB, false, "a fleet job: run TYPE once on every target node"},
    {"--data", "TEXT", RO_DATA, false, "the payload"},
    {"--run-timeout", "DURATION", RO_RUN_TIMEOUT, false,
     "fleet job: per node (--timeout is how long foundryctl waits)"},
    {"--wait", "DURATION", RO_WAIT, false,
     "follow the rollout until it ends, up to DURATION (e.g. 2h)"},
};

static int
s_opts_set(void *opts, const fdy_ctl_flag_t *flag, const char *value)
{
    rollouts_opts_t *self = opts;
    fdy_ctl_rollout_opts_t *s = &self->start;
    switch (flag->id) {
    case RO_WAVES: s->waves = value; break;
    case RO_RATE: s->rate = value; break;
    case RO_SOAK: s->soak = value; break;
    case RO_SUCCESS: s->success = value; break;
    case RO_ABORT_FAILURES: s->abort_failures = value; break;
    case RO_ABORT_RATE: s->abort_rate = value; break;
    case RO_GATE:
        return fdy_ctl_args_list_add(s->gates, &s->gate_count, FDY_CTL_ROLLOUT_LIST_MAX, flag->name,
                                     value);
    case RO_SITE:
        return fdy_ctl_args_list_add(s->sites, &s->site_count, FDY_CTL_ROLLOUT_LIST_MAX, flag->name,
                                     value);
    case RO_LABEL:
        return fdy_ctl_args_list_add(s->labels, &s->label_count, FDY_CTL_ROLLOUT_LIST_MAX,
                                     flag->name, value);
    case RO_JOB: s->job = value; break;
    case RO_DATA: s->data = value; break;
    case RO_RUN_TIMEOUT: s->run_timeout = value; break;
    case RO_WAIT: self->wait = value; break;
    default: break;
    }
    return FDY_CTL_EXIT_OK;
}

static const fdy_ctl_cmd_t s_commands[] = {
    {
        .words = "rollout start",
        .synopsis =
            "NAME@VERSION | --job TYPE [--data TEXT] [--run-timeout D]\n"
            "                          [--waves SPEC] [--rate N/m] [--soak D] [--success PCT]\n"
            "                          [--abort-failures N] [--abort-rate PCT]\n"
            "                          [--gate 'METRIC<VALUE']... [--site S]... [--label K=V]...\n"
            "                          [--wait D]",
        .summary = "roll a model version (or a fleet job) out to the nodes, wave by wave",
        .notes = "Prints the rollout id. A wave advances when --success of its nodes are\n"
                 "healthy and every --gate held for --soak; a gate violation or too few healthy\n"
                 "pauses it (rollout resume), an abort criterion aborts it. With --wait, follows\n"
                 "it as rollout status --wait does.",
        .pos_names = {"NAME@VERSION"},
        .min_pos = 0,
        .max_pos = 1,
        .flags =
            (const int[]){RO_WAVES, RO_RATE, RO_SOAK, RO_SUCCESS, RO_ABORT_FAILURES, RO_ABORT_RATE,
                          RO_GATE, RO_SITE, RO_LABEL, RO_JOB, RO_DATA, RO_RUN_TIMEOUT, RO_WAIT, 0},
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_start,
    },
    {
        .words = "rollout pause",
        .synopsis = "ID",
        .summary = "pause a rollout: no more nodes are started",
        .pos_names = {"ID"},
        .min_pos = 1,
        .max_pos = 1,
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_pause,
    },
    {
        .words = "rollout resume",
        .synopsis = "ID",
        .summary = "resume a paused rollout",
        .pos_names = {"ID"},
        .min_pos = 1,
        .max_pos = 1,
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_resume,
    },
    {
        .words = "rollout abort",
        .synopsis = "ID",
        .summary = "abort a rollout: its nodes are told to stop, installed models stay",
        .pos_names = {"ID"},
        .min_pos = 1,
        .max_pos = 1,
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_abort,
    },
    {
        .words = "rollout status",
        .synopsis = "ID [--wait D]",
        .summary = "show a rollout's nodes: wave, site, state, progress, reason",
        .notes = "Columns: wave site node state done_bytes total_bytes reason updated.\n"
                 "With --wait, first prints a line each time the rollout changes until it\n"
                 "ends: exit 0 when it succeeded, 1 when it was aborted or is still going.",
        .pos_names = {"ID"},
        .min_pos = 1,
        .max_pos = 1,
        .flags = (const int[]){RO_WAIT, 0},
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_status,
    },
    {
        .words = "rollout ls",
        .synopsis = "",
        .summary = "list rollouts: target, state, wave, nodes, healthy, failed, reason",
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_ls,
    },
};

const fdy_ctl_group_t fdy_cmd_rollouts_group = {
    .commands = s_commands,
    .command_count = sizeof s_commands / sizeof s_commands[0],
    .flags = s_flags,
    .flag_count = sizeof s_flags / sizeof s_flags[0],
    .opts_size = sizeof(rollouts_opts_t),
    .opts_set = s_opts_set,
};
