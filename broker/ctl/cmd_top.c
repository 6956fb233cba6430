/*  cmd_top.c: `foundryctl top`, a live view of the network: the broker's
 *  status counters and one row per site (metrics.sites: nodes, telemetry
 *  and its rate, job results and model bytes sent there), refreshed every --interval on a terminal, or printed as
 *  plain snapshots (--once: one) when stdout is not one; and `metrics
 *  sites`, that table alone. Only asks.
 */
#include "ctl.h"

#include "clock.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SITES_MAX 64
#define INTERVAL_DEFAULT_MS 2000

typedef struct {
    bool once;
    uint64_t interval_ms;
} top_opts_t;

typedef struct {
    char site[64];
    uint64_t nodes, connections, messages, last_seq, jobs_results, model_bytes;
    char node_names[256];
} site_row_t;

typedef struct {
    site_row_t rows[SITES_MAX];
    size_t count;
    int64_t at_ms;
} snapshot_t;

static uint64_t
s_cell_u64(const fdy_table_t *t, size_t row, const char *column)
{
    long c = fdy_output_column(t, column);
    uint64_t value = 0;
    if (c < 0)
        return 0;
    const fdy_slice_t *cell = &t->cells[row * t->column_count + (size_t) c];
    if (fdy_output_parse_u64(cell->data, cell->len, &value) != FOUNDRY_OK)
        return 0;
    return value;
}

static void
s_cell_text(const fdy_table_t *t, size_t row, const char *column, char *out, size_t size)
{
    long c = fdy_output_column(t, column);
    out[0] = '\0';
    if (c < 0)
        return;
    const fdy_slice_t *cell = &t->cells[row * t->column_count + (size_t) c];
    snprintf(out, size, "%.*s", (int) cell->len, (const char *) cell->data);
}

static int
s_compare_sites(const void *a, const void *b)
{
    return strcmp(((const site_row_t *) a)->site, ((const site_row_t *) b)->site);
}

static const site_row_t *
s_find(const snapshot_t *snap, const char *site)
{
    for (size_t i = 0; snap && i < snap->count; i++)
        if (strcmp(snap->rows[i].site, site) == 0)
            return &snap->rows[i];
    return NULL;
}

/* Prints the status line block from the status reply (one row). */
static void
s_print_status(FILE *out, const fdy_table_t *status)
{
    char version[64];
    s_cell_text(status, 0, "version", version, sizeof version);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
    fprintf(out, "foundry %s   up %" PRIu64 " s   connections %" PRIu64 "   %s\n", version,
            s_cell_u64(status, 0, "uptime_s"), s_cell_u64(status, 0, "connections"), when);
    fprintf(out, "messages %" PRIu64 "   published %" PRIu64 "   duplicates %" PRIu64
                 "   errors %" PRIu64 "\n",
            s_cell_u64(status, 0, "messages"), s_cell_u64(status, 0, "published"),
            s_cell_u64(status, 0, "duplicates"), s_cell_u64(status, 0, "errors"));
    fprintf(out, "jobs: known %" PRIu64 "   queued %" PRIu64 "   submitted %" PRIu64
                 "   succeeded %" PRIu64 "   dead %" PRIu64 "   nodes %" PRIu64 "\n",
            s_cell_u64(status, 0, "jobs"), s_cell_u64(status, 0, "jobs_queued"),
            s_cell_u64(status, 0, "jobs_submitted"), s_cell_u64(status, 0, "jobs_succeeded"),
            s_cell_u64(status, 0, "jobs_dead"), s_cell_u64(status, 0, "job_nodes"));
    /* Rollouts: whatever the rollouts service counts, by name. */
    bool any = false;
    for (size_t c = 0; c < status->column_count; c++) {
        if (strncmp(status->columns[c], "rollout", 7) != 0)
            continue;
        fprintf(out, "%s%s %" PRIu64, any ? "   " : "rollouts: ", status->columns[c],
                s_cell_u64(status, 0, status->columns[c]));
        any = true;
    }
    if (any)
        fprintf(out, "\n");
}

static void
s_print_sites(FILE *out, const snapshot_t *now, const snapshot_t *before)
{
    fprintf(out, "\n%-16s %6s %6s %12s %10s %10s %10s  %s\n", "SITE", "NODES", "CONNS",
            "TELEMETRY", "MSG/S", "JOBS DONE", "MODEL MiB", "CONNECTED NODES");
    for (size_t i = 0; i < now->count; i++) {
        const site_row_t *r = &now->rows[i];
        const site_row_t *was = s_find(before, r->site);
        double rate = 0;
        if (was && now->at_ms > before->at_ms && r->last_seq >= was->last_seq)
            rate = (double) (r->last_seq - was->last_seq) * 1000.0
                   / (double) (now->at_ms - before->at_ms);
        fprintf(out,
                "%-16s %6" PRIu64 " %6" PRIu64 " %12" PRIu64 " %10.1f %10" PRIu64 " %10.1f  %s\n",
                r->site, r->nodes, r->connections, r->messages, rate, r->jobs_results,
                (double) r->model_bytes / (1024.0 * 1024.0),
                r->node_names[0] ? r->node_names : "-");
    }
}

static int
s_snapshot(fdy_ctl_conn_t *conn, snapshot_t *snap, FILE *out, const snapshot_t *before)
{
    fdy_table_t table;
    fdy_reason_t reason;
    foundry_err err = fdy_ctl_conn_admin(conn, "metrics.sites", NULL, 0, &table, &reason);
    if (err != FOUNDRY_OK)
        return fdy_ctl_conn_report(conn, err, &reason);
    snap->count = 0;
    snap->at_ms = fdy_clock_mono_ms();
    for (size_t r = 0; r < table.row_count && snap->count < SITES_MAX; r++) {
        site_row_t *row = &snap->rows[snap->count++];
        s_cell_text(&table, r, "site", row->site, sizeof row->site);
        row->nodes = s_cell_u64(&table, r, "nodes");
        row->connections = s_cell_u64(&table, r, "connections");
        row->messages = s_cell_u64(&table, r, "telemetry_messages");
        row->last_seq = s_cell_u64(&table, r, "telemetry_last_seq");
        row->jobs_results = s_cell_u64(&table, r, "jobs_results");
        row->model_bytes = s_cell_u64(&table, r, "model_bytes");
        s_cell_text(&table, r, "node_names", row->node_names, sizeof row->node_names);
    }
    qsort(snap->rows, snap->count, sizeof snap->rows[0], s_compare_sites);
    /* status last: its table is borrowed until the next request */
    err = fdy_ctl_conn_admin(conn, "status", NULL, 0, &table, &reason);
    if (err != FOUNDRY_OK)
        return fdy_ctl_conn_report(conn, err, &reason);
    if (table.row_count != 1)
        return fdy_output_fail("status: the broker sent %zu rows", table.row_count);
    s_print_status(out, &table);
    s_print_sites(out, snap, before);
    return FDY_CTL_EXIT_OK;
}

static int
s_top(const fdy_ctl_args_t *args)
{
    const top_opts_t *opts = args->opts;
    bool live = !opts->once && isatty(STDOUT_FILENO);
    fdy_ctl_conn_t *conn = NULL;
    int status = fdy_ctl_conn_open(args, &conn);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    snapshot_t *snaps = calloc(2, sizeof *snaps);
    if (!snaps) {
        fdy_ctl_conn_destroy(&conn);
        return fdy_output_fail("out of memory");
    }
    snapshot_t *before = NULL;
    for (unsigned turn = 0;; turn++) {
        snapshot_t *now = &snaps[turn % 2];
        if (live)
            fputs("\033[H\033[2J", stdout);   /* home, clear: redraw in place */
        else if (turn > 0)
            fputs("\n", stdout);
        status = s_snapshot(conn, now, stdout, before);
        fflush(stdout);
        if (status != FDY_CTL_EXIT_OK || opts->once)
            break;
        before = now;
        usleep((useconds_t) opts->interval_ms * 1000u);   /* the refresh period, not a sync */
    }
    free(snaps);
    fdy_ctl_conn_destroy(&conn);
    return status;
}

static int
s_sites_cmd(const fdy_ctl_args_t *args)
{
    return fdy_ctl_conn_run(args, "metrics.sites", NULL, FDY_CTL_SHOW_TABLE, NULL);
}

enum { TOP_ONCE = 1, TOP_INTERVAL };

static const fdy_ctl_flag_t s_flags[] = {
    {"--once", NULL, TOP_ONCE, false, "print one snapshot and exit (for scripts and logs)"},
    {"--interval", "MS", TOP_INTERVAL, false, "refresh period in milliseconds (default 2000)"},
};

static void
s_opts_init(void *opts)
{
    ((top_opts_t *) opts)->interval_ms = INTERVAL_DEFAULT_MS;
}

static int
s_opts_set(void *opts, const fdy_ctl_flag_t *flag, const char *value)
{
    top_opts_t *self = opts;
    if (flag->id == TOP_ONCE)
        self->once = true;
    else if (flag->id == TOP_INTERVAL
             && !fdy_ctl_args_parse_u64(value, 100, 3600000, &self->interval_ms))
        return fdy_output_usage("--interval needs milliseconds from 100 to 3600000, not %s",
                                value);
    return FDY_CTL_EXIT_OK;
}

static const fdy_ctl_cmd_t s_commands[] = {
    {
        .words = "top",
        .synopsis = "[--once] [--interval MS]",
        .summary = "live view of the network: status counters and one row per site",
        .notes = "On a terminal it redraws every --interval until Ctrl-C; otherwise it prints a\n"
                 "plain snapshot each period (--once: one, then exits). Rows are sorted by\n"
                 "site; MSG/S is the telemetry rate since the previous snapshot. Scripts:\n"
                 "`foundryctl status --json` and `foundryctl --json metrics sites`.",
        .flags = (const int[]){TOP_ONCE, TOP_INTERVAL, 0},
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_top,
    },
    {
        .words = "metrics sites",
        .synopsis = "",
        .summary = "one row per configured site: nodes connected, telemetry stored",
        .notes = "Columns: site nodes connections telemetry_messages telemetry_bytes\n"
                 "telemetry_last_seq (a rate is its change over time) node_names.",
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_sites_cmd,
    },
};

const fdy_ctl_group_t fdy_cmd_top_group = {
    .commands = s_commands,
    .command_count = sizeof s_commands / sizeof s_commands[0],
    .flags = s_flags,
    .flag_count = sizeof s_flags / sizeof s_flags[0],
    .opts_size = sizeof(top_opts_t),
    .opts_init = s_opts_init,
    .opts_set = s_opts_set,
};
