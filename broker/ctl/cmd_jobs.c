/*  cmd_jobs.c: `foundryctl job submit|ls|show|cancel|retry|result`, `dlq
 *  ls|requeue` and `node ls`. Jobs go through libfoundry's jobs API, as a
 *  partner's would (the broker stores every change before it answers);
 *  node ls is the jobs service's admin command. Output through output.c:
 *  human tables and records, or --json.
 */
#include "ctl.h"

#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define SITES_MAX  16
#define LABELS_MAX 16

typedef struct {
    const char *sites[SITES_MAX];
    size_t site_count;
    const char *labels[LABELS_MAX];
    size_t label_count;
    const char *data;
    const char *data_file;
    const char *priority;
    const char *timeout;
    const char *attempts;
    const char *key;
    const char *state;
    const char *site;
    const char *type;
    const char *out;
    const char *wait;
} jobs_opts_t;

/* ---- rendering: job infos as an output.c table -------------------------- */

static const char *const s_ls_columns[] = {
    "id", "state", "type", "tenant", "node", "attempt", "priority", "sites", "waiting", "error",
};
static const fdy_col_type_t s_ls_types[] = {
    FDY_COL_INT,  FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_TEXT,
    FDY_COL_INT,  FDY_COL_INT,  FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_TEXT,
};
#define LS_COLUMNS (sizeof s_ls_columns / sizeof s_ls_columns[0])

static const char *const s_show_columns[] = {
    "id",       "state",    "type",     "tenant",   "submitter", "sites",      "labels",
    "priority", "attempt",  "max_attempts", "fence", "node",     "created_ms", "updated_ms",
    "waiting",  "progress", "error",    "log_tail", "result_bytes", "attempts",
};
static const fdy_col_type_t s_show_types[] = {
    FDY_COL_INT,  FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_TEXT,
    FDY_COL_TEXT, FDY_COL_INT,  FDY_COL_INT,  FDY_COL_INT,  FDY_COL_INT,  FDY_COL_TEXT,
    FDY_COL_INT,  FDY_COL_INT,  FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_TEXT,
    FDY_COL_INT,  FDY_COL_TEXT,
};
#define SHOW_COLUMNS (sizeof s_show_columns / sizeof s_show_columns[0])

/* Cells being collected: each an owned string. */
typedef struct {
    char **texts;
    size_t count, cap;
    bool failed;
} cells_t;

static void
s_cell(cells_t *c, const char *fmt, ...) FDY_PRINTF(2, 3);

static void
s_cell(cells_t *c, const char *fmt, ...)
{
    if (c->count == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        char **grown = realloc(c->texts, cap * sizeof *grown);
        if (!grown) {
            c->failed = true;
            return;
        }
        c->texts = grown;
        c->cap = cap;
    }
    va_list args;
    va_start(args, fmt);
    int len = vsnprintf(NULL, 0, fmt, args);
    va_end(args);
    char *text = len >= 0 ? malloc((size_t) len + 1) : NULL;
    if (text) {
        va_start(args, fmt);
        vsnprintf(text, (size_t) len + 1, fmt, args);
        va_end(args);
    }
    if (!text)
        c->failed = true;
    c->texts[c->count++] = text;
}

static void
s_cells_free(cells_t *c)
{
    for (size_t i = 0; i < c->count; i++)
        free(c->texts[i]);
    free(c->texts);
    memset(c, 0, sizeof *c);
}

static const char *
s_or(const char *text)
{
    return text ? text : "";
}

static void
s_join(cells_t *c, const char *const *items, size_t count)
{
    size_t len = 1;
    for (size_t i = 0; i < count; i++)
        len += strlen(items[i]) + 1;
    char *text = calloc(1, len);
    for (size_t i = 0; text && i < count; i++) {
        if (i)
            strcat(text, " ");
        strcat(text, items[i]);
    }
    s_cell(c, "%s", text ? text : "");
    free(text);
}

static void
s_ls_row(cells_t *c, const foundry_job_info_t *info)
{
    s_cell(c, "%" PRIu64, info->id);
    s_cell(c, "%s", info->state_name);
    s_cell(c, "%s", s_or(info->type));
    s_cell(c, "%s", s_or(info->tenant));
    s_cell(c, "%s", s_or(info->node));
    s_cell(c, "%u", info->attempt);
    s_cell(c, "%u", info->priority);
    s_join(c, info->sites, info->site_count);
    s_cell(c, "%s", s_or(info->waiting));
    s_cell(c, "%s", s_or(info->error));
}

static void
s_show_row(cells_t *c, const foundry_job_info_t *info)
{
    s_cell(c, "%" PRIu64, info->id);
    s_cell(c, "%s", info->state_name);
    s_cell(c, "%s", s_or(info->type));
    s_cell(c, "%s", s_or(info->tenant));
    s_cell(c, "%s", s_or(info->submitter));
    s_join(c, info->sites, info->site_count);
    s_join(c, info->labels, info->label_count);
    s_cell(c, "%u", info->priority);
    s_cell(c, "%u", info->attempt);
    s_cell(c, "%u", info->max_attempts);
    s_cell(c, "%" PRIu64, info->fence);
    s_cell(c, "%s", s_or(info->node));
    s_cell(c, "%" PRIu64, info->created_ms);
    s_cell(c, "%" PRIu64, info->updated_ms);
    s_cell(c, "%s", s_or(info->waiting));
    s_cell(c, "%s", s_or(info->progress));
    s_cell(c, "%s", s_or(info->error));
    s_cell(c, "%s", s_or(info->log_tail));
    s_cell(c, "%zu", info->result_len);
    /* The attempt history, one "attempt/fence node state [error]" per attempt. */
    size_t len = 1;
    for (size_t i = 0; i < info->attempt_count; i++)
        len += 64 + strlen(s_or(info->attempts[i].node)) + strlen(s_or(info->attempts[i].state)) +
               strlen(s_or(info->attempts[i].error));
    char *text = calloc(1, len);
    for (size_t i = 0; text && i < info->attempt_count; i++) {
        const foundry_job_attempt_t *a = &info->attempts[i];
        size_t at = strlen(text);
        snprintf(text + at, len - at, "%s%u/%" PRIu64 " %s %s%s%s", i ? "; " : "", a->attempt,
                 a->fence, s_or(a->node), s_or(a->state), a->error && *a->error ? ": " : "",
                 s_or(a->error));
    }
    s_cell(c, "%s", text ? text : "");
    free(text);
}

static int
s_print(const cells_t *c, const char *const *columns, const fdy_col_type_t *types,
        size_t column_count, bool record, bool json)
{
    if (c->failed)
        return fdy_output_fail("out of memory");
    size_t rows = c->count / column_count;
    fdy_slice_t *slices = calloc(c->count ? c->count : 1, sizeof *slices);
    if (!slices)
        return fdy_output_fail("out of memory");
    for (size_t i = 0; i < c->count; i++)
        slices[i] = (fdy_slice_t){ (const uint8_t *) c->texts[i], strlen(c->texts[i]) };
    fdy_table_t table = { column_count, columns, types, rows, slices };
    foundry_err err = record && rows == 1 ? fdy_output_record(stdout, &table, 0, true, json)
                                          : fdy_output_table(stdout, &table, json);
    free(slices);
    return err == FOUNDRY_OK ? FDY_CTL_EXIT_OK : fdy_output_fail("%s", foundry_strerror(err));
}

/* ---- commands -------------------------------------------------------------- */

static int
s_fail(foundry_client_t *client, foundry_err err)
{
    if (err == FOUNDRY_EAUTH)
        return fdy_ctl_conn_report_refused(foundry_client_last_error(client));
    return fdy_output_fail("%s: %s", foundry_strerror(err), foundry_client_last_error(client));
}

static bool
s_id(const fdy_ctl_args_t *args, uint64_t *id)
{
    return fdy_ctl_args_parse_u64(args->pos[0], 1, UINT64_MAX, id);
}

static int
s_read_file(const char *path, char **data_out, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fdy_output_fail("%s: %s", path, strerror(errno));
    size_t cap = 65536, len = 0;
    char *data = malloc(cap);
    size_t n;
    while (data && (n = fread(data + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap && cap < 64u * 1024u * 1024u) {
            char *grown = realloc(data, cap * 2);
            if (!grown) {
                free(data);
                data = NULL;
                break;
            }
            data = grown;
            cap *= 2;
        } else if (len == cap) {
            break;
        }
    }
    fclose(f);
    if (!data)
        return fdy_output_fail("out of memory");
    *data_out = data;
    *len_out = len;
    return FDY_CTL_EXIT_OK;
}

static int
s_show_info(const fdy_ctl_args_t *args, const foundry_job_info_t *info)
{
    cells_t c = { 0 };
    s_show_row(&c, info);
    int status = s_print(&c, s_show_columns, s_show_types, SHOW_COLUMNS, true, args->json);
    s_cells_free(&c);
    return status;
}

static int
s_submit(const fdy_ctl_args_t *args)
{
    const jobs_opts_t *o = args->opts;
    foundry_job_spec_t spec;
    foundry_job_spec_init(&spec);
    spec.type = args->pos[0];
    spec.sites = o->sites;
    spec.site_count = o->site_count;
    spec.labels = o->labels;
    spec.label_count = o->label_count;
    spec.idempotency_key = o->key;
    uint64_t value = 0;
    if (o->priority) {
        if (!fdy_ctl_args_parse_u64(o->priority, 0, UINT32_MAX, &value))
            return fdy_output_usage("--priority must be a number");
        spec.priority = (uint32_t) value;
    }
    if (o->attempts) {
        if (!fdy_ctl_args_parse_u64(o->attempts, 1, 1000, &value))
            return fdy_output_usage("--attempts must be 1..1000");
        spec.max_attempts = (uint32_t) value;
    }
    if (o->timeout) {
        int status = fdy_ctl_args_parse_ms("--run-timeout", o->timeout, 0, UINT32_MAX, &value);
        if (status != FDY_CTL_EXIT_OK)
            return status;
        spec.timeout_ms = (uint32_t) value;
    }
    uint64_t wait_ms = 0;
    if (o->wait) {
        int status = fdy_ctl_args_parse_ms("--wait", o->wait, 0, INT32_MAX, &wait_ms);
        if (status != FDY_CTL_EXIT_OK)
            return status;
    }
    if (o->data && o->data_file)
        return fdy_output_usage("give --data or --data-file, not both");
    char *file_data = NULL;
    size_t file_len = 0;
    if (o->data_file) {
        int status = s_read_file(o->data_file, &file_data, &file_len);
        if (status != FDY_CTL_EXIT_OK)
            return status;
        spec.payload = file_data;
        spec.payload_len = file_len;
    } else if (o->data) {
        spec.payload = o->data;
        spec.payload_len = strlen(o->data);
    }
    fdy_ctl_conn_settings_t settings;
    foundry_client_t *client = NULL;
    int status = fdy_ctl_conn_client(args, &settings, &client);
    if (status != FDY_CTL_EXIT_OK) {
        free(file_data);
        return status;
    }
    uint64_t id = 0;
    int duplicate = 0;
    foundry_err err = foundry_job_submit(client, &spec, &id, &duplicate);
    free(file_data);
    if (err != FOUNDRY_OK) {
        status = s_fail(client, err);
    } else if (o->wait) {
        const foundry_job_info_t *info = NULL;
        err = foundry_job_wait(client, id, (int) wait_ms, &info);
        status = err == FOUNDRY_OK ? s_show_info(args, info) : s_fail(client, err);
        if (status == FDY_CTL_EXIT_OK && info->state != FOUNDRY_JOB_SUCCEEDED)
            status = FDY_CTL_EXIT_FAIL;
    } else if (args->json) {
        printf("{\"id\":%" PRIu64 ",\"duplicate\":%s}\n", id, duplicate ? "true" : "false");
    } else {
        printf("%" PRIu64 "%s\n", id, duplicate ? " duplicate" : "");
    }
    (void) foundry_client_close(&client, 0, NULL);
    return status;
}

typedef struct {
    const jobs_opts_t *opts;
    cells_t cells;
} ls_t;

static void
s_ls_one(const foundry_job_info_t *info, void *user)
{
    ls_t *ls = user;
    if (ls->opts->type && strcmp(info->type, ls->opts->type) != 0)
        return;
    if (ls->opts->site) {
        bool found = false;
        for (size_t i = 0; i < info->site_count && !found; i++)
            found = strcmp(info->sites[i], ls->opts->site) == 0;
        if (!found)
            return;
    }
    s_ls_row(&ls->cells, info);
}

static int
s_list(const fdy_ctl_args_t *args, const char *state)
{
    fdy_ctl_conn_settings_t settings;
    foundry_client_t *client = NULL;
    int status = fdy_ctl_conn_client(args, &settings, &client);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    ls_t ls = { args->opts, { 0 } };
    foundry_err err = foundry_job_list(client, state, s_ls_one, &ls);
    status = err == FOUNDRY_OK
                 ? s_print(&ls.cells, s_ls_columns, s_ls_types, LS_COLUMNS, false, args->json)
                 : s_fail(client, err);
    s_cells_free(&ls.cells);
    (void) foundry_client_close(&client, 0, NULL);
    return status;
}

static int
s_ls(const fdy_ctl_args_t *args)
{
    const jobs_opts_t *o = args->opts;
    return s_list(args, o->state);
}

static int
s_dlq_ls(const fdy_ctl_args_t *args)
{
    return s_list(args, "dead");
}

/* show, result, cancel, retry: one job by id. */
static int
s_one(const fdy_ctl_args_t *args, char what)
{
    uint64_t id;
    if (!s_id(args, &id))
        return fdy_output_usage("bad job id '%s'", args->pos[0]);
    fdy_ctl_conn_settings_t settings;
    foundry_client_t *client = NULL;
    int status = fdy_ctl_conn_client(args, &settings, &client);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    const foundry_job_info_t *info = NULL;
    foundry_err err = FOUNDRY_OK;
    switch (what) {
    case 'c': err = foundry_job_cancel(client, id); break;
    case 'r': err = foundry_job_retry(client, id); break;
    default: err = foundry_job_status(client, id, &info); break;
    }
    if (err == FOUNDRY_OK && !info)
        err = foundry_job_status(client, id, &info);
    if (err != FOUNDRY_OK) {
        status = s_fail(client, err);
    } else if (what == 'R') {
        const jobs_opts_t *o = args->opts;
        if (info->state != FOUNDRY_JOB_SUCCEEDED) {
            status = fdy_output_fail("job %" PRIu64 " is %s: no result", id, info->state_name);
        } else if (o->out) {
            FILE *f = fopen(o->out, "wb");
            if (!f || (info->result_len &&
                       fwrite(info->result, 1, info->result_len, f) != info->result_len))
                status = fdy_output_fail("%s: %s", o->out, strerror(errno));
            if (f && fclose(f) != 0 && status == FDY_CTL_EXIT_OK)
                status = fdy_output_fail("%s: %s", o->out, strerror(errno));
        } else if (args->json) {
            fdy_output_json_bytes(stdout, info->result, info->result_len);
            putchar('\n');
        } else if (info->result_len) {
            fwrite(info->result, 1, info->result_len, stdout);
        }
    } else {
        status = s_show_info(args, info);
    }
    (void) foundry_client_close(&client, 0, NULL);
    return status;
}

static int
s_show(const fdy_ctl_args_t *args)
{
    return s_one(args, 's');
}

static int
s_result(const fdy_ctl_args_t *args)
{
    return s_one(args, 'R');
}

static int
s_cancel(const fdy_ctl_args_t *args)
{
    return s_one(args, 'c');
}

static int
s_retry(const fdy_ctl_args_t *args)
{
    return s_one(args, 'r');
}

static int
s_node_ls(const fdy_ctl_args_t *args)
{
    return fdy_ctl_conn_run(args, "node.ls", NULL, FDY_CTL_SHOW_TABLE, NULL);
}

/* ---- the group ------------------------------------------------------------------ */

enum {
    JOB_SITE = 1,
    JOB_LABEL,
    JOB_DATA,
    JOB_DATA_FILE,
    JOB_PRIORITY,
    JOB_TIMEOUT,
    JOB_ATTEMPTS,
    JOB_KEY,
    JOB_WAIT,
    JOB_STATE,
    JOB_TYPE,
    JOB_OUT,
};

static const fdy_ctl_flag_t s_flags[] = {
    {"--site", "SITE", JOB_SITE, true, "target site; repeatable (submit: none = any site)"},
    {"--label", "K=V", JOB_LABEL, true, "capability the node must advertise; repeatable"},
    {"--data", "TEXT", JOB_DATA, false, "the payload"},
    {"--data-file", "FILE", JOB_DATA_FILE, false, "the payload, read from FILE"},
    {"--priority", "N", JOB_PRIORITY, false, "higher runs first (default 0)"},
    {"--run-timeout", "DURATION", JOB_TIMEOUT, false,
     "per attempt, e.g. 30s (default 60s; --timeout is how long foundryctl waits)"},
    {"--attempts", "N", JOB_ATTEMPTS, false, "most attempts (default 3)"},
    {"--idempotency-key", "KEY", JOB_KEY, false,
     "a resubmit with the same key returns the same job"},
    {"--wait", "DURATION", JOB_WAIT, false,
     "wait up to DURATION (e.g. 5m) for the job to end, then show it"},
    {"--state", "STATE", JOB_STATE, false, "only jobs in STATE (queued, running, dead, ...)"},
    {"--type", "TYPE", JOB_TYPE, false, "only jobs of TYPE"},
    {"--out", "FILE", JOB_OUT, false, "write the result to FILE"},
};

static int
s_opts_set(void *opts, const fdy_ctl_flag_t *flag, const char *value)
{
    jobs_opts_t *self = opts;
    switch (flag->id) {
    case JOB_SITE:
        if (self->site_count == SITES_MAX)
            return fdy_output_usage("at most %d --site", SITES_MAX);
        self->sites[self->site_count++] = value;
        self->site = value;
        break;
    case JOB_LABEL:
        if (self->label_count == LABELS_MAX)
            return fdy_output_usage("at most %d --label", LABELS_MAX);
        self->labels[self->label_count++] = value;
        break;
    case JOB_DATA: self->data = value; break;
    case JOB_DATA_FILE: self->data_file = value; break;
    case JOB_PRIORITY: self->priority = value; break;
    case JOB_TIMEOUT: self->timeout = value; break;
    case JOB_ATTEMPTS: self->attempts = value; break;
    case JOB_KEY: self->key = value; break;
    case JOB_WAIT: self->wait = value; break;
    case JOB_STATE: self->state = value; break;
    case JOB_TYPE: self->type = value; break;
    case JOB_OUT: self->out = value; break;
    default: break;
    }
    return FDY_CTL_EXIT_OK;
}

static const fdy_ctl_cmd_t s_commands[] = {
    {
        .words = "job submit",
        .synopsis = "TYPE [--site S]... [--label K=V]... [--data TEXT | --data-file F]\n"
                    "                          [--priority N] [--run-timeout D] [--attempts N]\n"
                    "                          [--idempotency-key KEY] [--wait DURATION]",
        .summary = "submit a job; prints its id once the broker stored it",
        .notes = "With --wait, waits up to DURATION for the job to end and shows it as job\n"
                 "show does; the exit status is then 1 unless it succeeded.",
        .pos_names = {"TYPE"},
        .min_pos = 1,
        .max_pos = 1,
        .flags = (const int[]){JOB_SITE, JOB_LABEL, JOB_DATA, JOB_DATA_FILE, JOB_PRIORITY,
                               JOB_TIMEOUT, JOB_ATTEMPTS, JOB_KEY, JOB_WAIT, 0},
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_submit,
    },
    {
        .words = "job ls",
        .synopsis = "[--state S] [--site S] [--type T]",
        .summary = "list jobs, newest first (at most 1000)",
        .notes = "Columns: id state type tenant node attempt priority sites waiting error.",
        .flags = (const int[]){JOB_STATE, JOB_SITE, JOB_TYPE, 0},
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_ls,
    },
    {
        .words = "job show",
        .synopsis = "ID",
        .summary = "show a job: attempt history, progress, error, why it waits",
        .pos_names = {"ID"},
        .min_pos = 1,
        .max_pos = 1,
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_show,
    },
    {
        .words = "job result",
        .synopsis = "ID [--out F]",
        .summary = "print a succeeded job's result (or write it to F)",
        .pos_names = {"ID"},
        .min_pos = 1,
        .max_pos = 1,
        .flags = (const int[]){JOB_OUT, 0},
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_result,
    },
    {
        .words = "job cancel",
        .synopsis = "ID",
        .summary = "cancel a queued or running job (its node kills the handler)",
        .pos_names = {"ID"},
        .min_pos = 1,
        .max_pos = 1,
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_cancel,
    },
    {
        .words = "job retry",
        .synopsis = "ID",
        .summary = "queue a dead, cancelled or expired job again",
        .pos_names = {"ID"},
        .min_pos = 1,
        .max_pos = 1,
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_retry,
    },
    {
        .words = "dlq ls",
        .synopsis = "",
        .summary = "list dead jobs (attempts used up) with their last error",
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_dlq_ls,
    },
    {
        .words = "dlq requeue",
        .synopsis = "ID",
        .summary = "queue a dead job again with a fresh set of attempts",
        .pos_names = {"ID"},
        .min_pos = 1,
        .max_pos = 1,
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_retry,
    },
    {
        .words = "node ls",
        .synopsis = "",
        .summary = "list the node agents taking jobs: site, labels, free slots, heartbeat",
        .notes = "Columns: site name labels slots (type:free) busy last_heartbeat_ms connected.",
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_node_ls,
    },
};

const fdy_ctl_group_t fdy_cmd_jobs_group = {
    .commands = s_commands,
    .command_count = sizeof s_commands / sizeof s_commands[0],
    .flags = s_flags,
    .flag_count = sizeof s_flags / sizeof s_flags[0],
    .opts_size = sizeof(jobs_opts_t),
    .opts_set = s_opts_set,
};
