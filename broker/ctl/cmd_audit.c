/*  cmd_audit.c: `foundryctl audit ls|verify`, through the broker's audit.ls
 *  (paged, at most 1000 entries a request) and audit.verify, or with
 *  --data-dir straight from the store, read-only (also while the broker
 *  runs, and when it cannot start). Both ways print the same table, built
 *  by the store's audit_entry.c. Changes nothing.
 */
#include "ctl.h"

#include "clock.h"
#include "config.h"
#include "store_audit.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define AUDIT_PAGE_MAX 1000u

typedef struct {
    const char *since; /* --since, as given */
    uint64_t since_ns; /* what it means; 0 when absent */
    const char *principal;
    const char *data_dir; /* offline */
} audit_opts_t;

/* ---- the rows of a listing, gathered over pages --------------------------- */

typedef struct {
    fdy_slice_t *cells; /* FDY_AUDIT_COLUMNS per row; each data is a malloc'd copy */
    size_t rows;
    size_t capacity;
} rows_t;

static void
s_rows_free(rows_t *self)
{
    for (size_t i = 0; i < self->rows * FDY_AUDIT_COLUMNS; i++)
        free((void *) self->cells[i].data);
    free(self->cells);
    memset(self, 0, sizeof *self);
}

/* Copies one row of FDY_AUDIT_COLUMNS cells. */
static foundry_err
s_rows_add(rows_t *self, const fdy_slice_t *cells)
{
    if (self->rows == self->capacity) {
        size_t capacity = self->capacity ? 2 * self->capacity : 64;
        fdy_slice_t *grown = realloc(self->cells, capacity * FDY_AUDIT_COLUMNS * sizeof *grown);
        if (!grown)
            return FOUNDRY_ENOMEM;
        self->cells = grown;
        self->capacity = capacity;
    }
    fdy_slice_t *row = &self->cells[self->rows * FDY_AUDIT_COLUMNS];
    for (size_t i = 0; i < FDY_AUDIT_COLUMNS; i++) {
        uint8_t *copy = malloc(cells[i].len + 1);
        if (!copy) {
            for (size_t k = 0; k < i; k++)
                free((void *) row[k].data);
            return FOUNDRY_ENOMEM;
        }
        if (cells[i].len) /* an empty cell from the wire may have no data */
            memcpy(copy, cells[i].data, cells[i].len);
        copy[cells[i].len] = '\0';
        row[i] = (fdy_slice_t){.data = copy, .len = cells[i].len};
    }
    self->rows++;
    return FOUNDRY_OK;
}

static int
s_rows_print(const rows_t *self, bool json)
{
    fdy_table_t table = {
        .column_count = FDY_AUDIT_COLUMNS,
        .columns = fdy_audit_entry_columns,
        .types = fdy_audit_entry_types,
        .row_count = self->rows,
        .cells = self->cells,
    };
    return fdy_output_table(stdout, &table, json) == FOUNDRY_OK ? FDY_CTL_EXIT_OK
                                                                : fdy_output_fail("out of memory");
}

/* ---- offline ---------------------------------------------------------------- */

static int
s_offline_open(const char *dir, fdy_store_t **store_out)
{
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return fdy_output_fail("no data directory %s", dir);
    fdy_store_opts_t opts = {.dir = dir, .read_only = true};
    fdy_reason_t reason = {{0}};
    foundry_err err = fdy_store_open(&opts, store_out, &reason);
    if (err != FOUNDRY_OK)
        return fdy_output_fail("cannot open the store in %s: %s", dir,
                               reason.text[0] ? reason.text : foundry_strerror(err));
    return FDY_CTL_EXIT_OK;
}

static foundry_err
s_offline_row(const fdy_audit_entry_t *entry, void *user, bool *stop)
{
    (void) stop;
    fdy_audit_row_text_t text;
    fdy_slice_t cells[FDY_AUDIT_COLUMNS];
    fdy_audit_entry_row(entry, &text, cells);
    return s_rows_add(user, cells);
}

static int
s_ls_offline(const audit_opts_t *opts, rows_t *rows)
{
    fdy_store_t *store = NULL;
    int status = s_offline_open(opts->data_dir, &store);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    fdy_audit_query_t query = {.since_ns = opts->since_ns, .principal = opts->principal};
    fdy_reason_t reason = {{0}};
    foundry_err err = fdy_store_audit_read(store, &query, s_offline_row, rows, &reason);
    if (err != FOUNDRY_OK)
        status = fdy_output_fail("cannot read the audit log in %s: %s", opts->data_dir,
                                 reason.text[0] ? reason.text : foundry_strerror(err));
    fdy_store_close(&store);
    return status;
}

/* ---- online ------------------------------------------------------------------- */

static int
s_ls_online(const fdy_ctl_args_t *args, rows_t *rows)
{
    const audit_opts_t *opts = args->opts;
    fdy_ctl_conn_t *conn = NULL;
    int status = fdy_ctl_conn_open(args, &conn);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    uint64_t from = 1;
    uint64_t page = AUDIT_PAGE_MAX;
    for (;;) {
        char from_arg[40], count_arg[40], since_arg[40], principal_arg[16 + FDY_NAME_MAX * 4];
        const char *argv[4];
        size_t argc = 0;
        snprintf(from_arg, sizeof from_arg, "from=%" PRIu64, from);
        snprintf(count_arg, sizeof count_arg, "count=%" PRIu64, page);
        argv[argc++] = from_arg;
        argv[argc++] = count_arg;
        if (opts->since_ns) {
            snprintf(since_arg, sizeof since_arg, "since=%" PRIu64, opts->since_ns);
            argv[argc++] = since_arg;
        }
        if (opts->principal) {
            snprintf(principal_arg, sizeof principal_arg, "principal=%s", opts->principal);
            argv[argc++] = principal_arg;
        }
        fdy_table_t table;
        fdy_reason_t reason = {{0}};
        foundry_err err = fdy_ctl_conn_admin(conn, "audit.ls", argv, argc, &table, &reason);
        if (err == FOUNDRY_ETOOBIG && page > 1) {
            page /= 2; /* long args: fewer entries a reply */
            continue;
        }
        if (err != FOUNDRY_OK) {
            status = fdy_ctl_conn_report(conn, err, &reason);
            break;
        }
        long seq_col = fdy_output_column(&table, "seq");
        if (table.column_count != FDY_AUDIT_COLUMNS || seq_col != 0) {
            status = fdy_output_fail("the broker's audit.ls reply has other columns");
            break;
        }
        uint64_t last = 0;
        for (size_t r = 0; r < table.row_count && status == FDY_CTL_EXIT_OK; r++) {
            const fdy_slice_t *cells = &table.cells[r * FDY_AUDIT_COLUMNS];
            if (fdy_output_parse_u64(cells[0].data, cells[0].len, &last) != FOUNDRY_OK)
                status = fdy_output_fail("the broker sent a bad seq");
            else if (s_rows_add(rows, cells) != FOUNDRY_OK)
                status = fdy_output_fail("out of memory");
        }
        /* A short page is the end; each page asks after the last seq. */
        if (status != FDY_CTL_EXIT_OK || table.row_count < page || last < from ||
            last == UINT64_MAX)
            break;
        from = last + 1;
    }
    fdy_ctl_conn_destroy(&conn);
    return status;
}

static int
s_ls(const fdy_ctl_args_t *args)
{
    const audit_opts_t *opts = args->opts;
    rows_t rows = {0};
    int status = opts->data_dir ? s_ls_offline(opts, &rows) : s_ls_online(args, &rows);
    if (status == FDY_CTL_EXIT_OK)
        status = s_rows_print(&rows, args->json);
    s_rows_free(&rows);
    return status;
}

/* ---- verify ------------------------------------------------------------------- */

static const char *
s_text(const fdy_table_t *table, const char *column, char *out, size_t size)
{
    long col = fdy_output_column(table, column);
    out[0] = '\0';
    if (col >= 0 && table->row_count == 1 && table->cells[col].len) {
        const fdy_slice_t *cell = &table->cells[col];
        snprintf(out, size, "%.*s", (int) cell->len, (const char *) cell->data);
    }
    return out;
}

/* The verdict of a verify table (one row), as text and exit status. */
static int
s_verify_print(const fdy_table_t *table, bool json)
{
    char ok[8], entries[24], from[24], bad[24], why[FDY_AUDIT_REASON_MAX + 1];
    s_text(table, "ok", ok, sizeof ok);
    s_text(table, "entries", entries, sizeof entries);
    s_text(table, "from_seq", from, sizeof from);
    s_text(table, "bad_seq", bad, sizeof bad);
    s_text(table, "reason", why, sizeof why);
    if (table->row_count != 1 || !ok[0] || !bad[0])
        return fdy_output_fail("the audit.verify reply is not one row with ok and bad_seq");
    if (json && fdy_output_record(stdout, table, 0, false, true) != FOUNDRY_OK)
        return fdy_output_fail("out of memory");
    if (strcmp(ok, "1") != 0)
        return fdy_output_fail("audit log broken at seq %s: %s", bad, why);
    if (!json)
        printf("ok: %s entries, chain intact from seq %s\n", entries, from);
    return FDY_CTL_EXIT_OK;
}

static int
s_verify_offline(const fdy_ctl_args_t *args)
{
    const audit_opts_t *opts = args->opts;
    fdy_store_t *store = NULL;
    int status = s_offline_open(opts->data_dir, &store);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    fdy_audit_verify_t result;
    fdy_reason_t reason = {{0}};
    foundry_err err = fdy_store_audit_verify(store, &result, &reason);
    fdy_store_close(&store);
    if (err != FOUNDRY_OK && err != FOUNDRY_ECORRUPT)
        return fdy_output_fail("cannot read the audit log in %s: %s", opts->data_dir,
                               reason.text[0] ? reason.text : foundry_strerror(err));
    fdy_audit_verify_text_t text;
    fdy_slice_t cells[FDY_AUDIT_VERIFY_COLUMNS];
    fdy_store_audit_verify_row(&result, &text, cells);
    fdy_table_t table = {
        .column_count = FDY_AUDIT_VERIFY_COLUMNS,
        .columns = fdy_store_audit_verify_columns,
        .types = fdy_store_audit_verify_types,
        .row_count = 1,
        .cells = cells,
    };
    return s_verify_print(&table, args->json);
}

static int
s_verify(const fdy_ctl_args_t *args)
{
    const audit_opts_t *opts = args->opts;
    if (opts->data_dir)
        return s_verify_offline(args);
    fdy_ctl_conn_t *conn = NULL;
    int status = fdy_ctl_conn_open(args, &conn);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    fdy_table_t table;
    fdy_reason_t reason = {{0}};
    foundry_err err = fdy_ctl_conn_admin(conn, "audit.verify", NULL, 0, &table, &reason);
    status = err == FOUNDRY_OK ? s_verify_print(&table, args->json)
                               : fdy_ctl_conn_report(conn, err, &reason);
    fdy_ctl_conn_destroy(&conn);
    return status;
}

/* ---- the group ------------------------------------------------------------------ */

/* --since: a duration back from now (30m, 7d) or a UTC date or time
 * (2024-05-01, 2024-05-01T09:30:00Z). */
static bool
s_parse_since(const char *text, uint64_t *ns_out)
{
    uint64_t ms;
    fdy_reason_t reason = {{0}};
    if (fdy_config_parse_duration(text, &ms, &reason) == FOUNDRY_OK) {
        uint64_t now = fdy_clock_wall_ns();
        uint64_t back = ms > UINT64_MAX / 1000000u ? UINT64_MAX : ms * 1000000u;
        *ns_out = now > back ? now - back : 1;
        return true;
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int used = 0;
    int fields = sscanf(text, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &used);
    if (fields != 3 || used != 10)
        return false;
    if (text[used] == 'T') {
        int more = 0;
        if (sscanf(text + used, "T%2d:%2d:%2dZ%n", &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &more) !=
                3 ||
            more != 10)
            return false;
        used += more;
    }
    if (text[used] != '\0' || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
        tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60 || tm.tm_year < 1970)
        return false;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t secs = timegm(&tm);
    if (secs < 0)
        return false;
    /* 0 would mean "no --since": the epoch itself asks for everything too. */
    *ns_out = secs > 0 ? (uint64_t) secs * 1000000000u : 1;
    return true;
}

enum { AUDIT_SINCE = 1, AUDIT_PRINCIPAL, AUDIT_DATA_DIR };

static const fdy_ctl_flag_t s_flags[] = {
    {"--since", "T", AUDIT_SINCE, false,
     "entries since T: a duration back (30m, 7d) or UTC time (2024-05-01T09:30:00Z)"},
    {"--principal", "NAME", AUDIT_PRINCIPAL, false, "only the entries of this principal"},
    {"--data-dir", "DIR", AUDIT_DATA_DIR, false,
     "offline: read the store in DIR (read-only), no broker needed"},
};

static int
s_opts_set(void *opts, const fdy_ctl_flag_t *flag, const char *value)
{
    audit_opts_t *self = opts;
    switch (flag->id) {
    case AUDIT_SINCE:
        self->since = value;
        if (!s_parse_since(value, &self->since_ns))
            return fdy_output_usage("--since needs a duration (30m, 7d) or a UTC date or time "
                                    "(2024-05-01, 2024-05-01T09:30:00Z), not %s",
                                    value);
        return FDY_CTL_EXIT_OK;
    case AUDIT_PRINCIPAL:
        if (strlen(value) >= FDY_NAME_MAX)
            return fdy_output_usage("--principal is longer than %d bytes", FDY_NAME_MAX - 1);
        self->principal = value;
        return FDY_CTL_EXIT_OK;
    case AUDIT_DATA_DIR: self->data_dir = value; return FDY_CTL_EXIT_OK;
    default: return FDY_CTL_EXIT_OK;
    }
}

static const fdy_ctl_cmd_t s_commands[] = {
    {
        .words = "audit ls",
        .synopsis = "[--since T] [--principal NAME] [--data-dir DIR]",
        .summary = "list audit log entries: admin requests and refused authentications",
        .notes =
            "Columns: seq time (time_ns in --json) kind principal key peer command args\n"
            "result result_code reason. kind is admin, auth-refused, suppressed (refusals over\n"
            "the rate limit, counted) or trim (retention removed entries before it).\n"
            "Secret-looking argument values are stored as <elided>.",
        .flags = (const int[]){AUDIT_SINCE, AUDIT_PRINCIPAL, AUDIT_DATA_DIR, 0},
        .reach = FDY_CTL_REACH_DATA_DIR,
        .run = s_ls,
    },
    {
        .words = "audit verify",
        .synopsis = "[--data-dir DIR]",
        .summary = "check the audit log's hash chain",
        .notes = "Exit 0 and \"ok: N entries, chain intact from seq S\", or exit 1 naming\n"
                 "the first entry that was edited, inserted or is missing. --json: the\n"
                 "verdict as one object (ok entries from_seq last_seq anchor_seq head_hash\n"
                 "bad_seq reason); keep head_hash elsewhere to detect a rewritten log.",
        .flags = (const int[]){AUDIT_DATA_DIR, 0},
        .reach = FDY_CTL_REACH_DATA_DIR,
        .run = s_verify,
    },
};

const fdy_ctl_group_t fdy_cmd_audit_group = {
    .commands = s_commands,
    .command_count = sizeof s_commands / sizeof s_commands[0],
    .flags = s_flags,
    .flag_count = sizeof s_flags / sizeof s_flags[0],
    .opts_size = sizeof(audit_opts_t),
    .opts_set = s_opts_set,
};
