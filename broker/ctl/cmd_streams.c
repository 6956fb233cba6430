/*  cmd_streams.c: `foundryctl stream ls|info|add|edit|rm|read`, through the
 *  broker's stream.* admin commands; values are checked here first only so a
 *  typo is a usage error. `stream read` pages, at most 1000 messages per
 *  request (the admin protocol's limit), so a long read never holds one LMDB
 *  read transaction or one huge reply.
 */
#include "ctl.h"

#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define STREAMS_PAGE_MAX 1000u
/* Most --subject filters per stream (the store's FDY_STREAM_FILTERS_MAX). */
#define STREAMS_SUBJECTS_MAX 16

/* The options of stream read, add and edit. The limits are passed on as
 * given once checked: the broker parses them again. */
typedef struct {
    uint64_t from_seq;                          /* read --from; 0 when absent (from 1) */
    uint64_t count;                             /* read --count; 0 = to the end */
    const char *subjects[STREAMS_SUBJECTS_MAX]; /* --subject, repeatable */
    size_t subject_count;
    const char *max_age;   /* --max-age, a duration: max_age_text */
    char max_age_text[FDY_CTL_DURATION_TEXT_MAX];
    const char *max_bytes; /* --max-bytes, a size */
    const char *max_msgs;  /* --max-msgs, a number */
    fdy_ctl_decode_t decode; /* read --decode */
} streams_opts_t;

static int
s_ls(const fdy_ctl_args_t *args)
{
    return fdy_ctl_conn_run(args, "stream.ls", NULL, FDY_CTL_SHOW_TABLE, NULL);
}

/* The sequence of the last row of a page, to ask for the next one. */
static foundry_err
s_last_seq(const fdy_table_t *table, uint64_t *seq_out, fdy_reason_t *reason)
{
    long col = fdy_output_column(table, "seq");
    if (col < 0)
        return fdy_reason_set(reason, FOUNDRY_EPROTO, "the broker's stream.read reply has no seq");
    const fdy_slice_t *cell =
        &table->cells[(table->row_count - 1) * table->column_count + (size_t) col];
    if (fdy_output_parse_u64(cell->data, cell->len, seq_out) != FOUNDRY_OK)
        return fdy_reason_set(reason, FOUNDRY_EPROTO, "the broker sent a bad seq");
    return FOUNDRY_OK;
}

static int
s_read(const fdy_ctl_args_t *args)
{
    const streams_opts_t *opts = args->opts;
    const char *stream = args->pos[0];
    fdy_ctl_conn_t *conn = NULL;
    int status = fdy_ctl_conn_open(args, &conn);
    if (status != FDY_CTL_EXIT_OK)
        return status;

    fdy_output_msgs_t msgs = {.decode = (int) opts->decode};
    uint64_t from = opts->from_seq ? opts->from_seq : 1;
    uint64_t left = opts->count; /* 0: to the end of the stream */
    uint64_t page = STREAMS_PAGE_MAX;
    bool started = false;
    for (;;) {
        uint64_t want = left == 0 || left > page ? page : left;
        char stream_arg[32 + FOUNDRY_STREAM_NAME_MAX * 4];
        char from_arg[40], count_arg[40];
        snprintf(stream_arg, sizeof stream_arg, "stream=%s", stream);
        snprintf(from_arg, sizeof from_arg, "from=%" PRIu64, from);
        snprintf(count_arg, sizeof count_arg, "count=%" PRIu64, want);
        const char *argv[] = {stream_arg, from_arg, count_arg};

        fdy_table_t table;
        fdy_reason_t reason = {{0}};
        foundry_err err = fdy_ctl_conn_admin(conn, "stream.read", argv, 3, &table, &reason);
        if (err == FOUNDRY_ETOOBIG && want > 1) {
            /* The reply was larger than we accept in one frame (big
             * payloads): ask for fewer messages per page from now on. */
            page = want / 2;
            continue;
        }
        if (err == FOUNDRY_ENOTFOUND && !started) {
            status = fdy_output_fail("no stream named %s", stream);
            break;
        }
        if (err != FOUNDRY_OK) {
            status = fdy_ctl_conn_report(conn, err, &reason);
            break;
        }
        if (!started) /* nothing, not even a header, for an unknown stream */
            fdy_output_msgs_begin(stdout, &msgs, args->json);
        started = true;
        /* An empty page is the end; a short one may only mean the broker
         * capped the reply's size, so ask again from after its last row. */
        if (table.row_count == 0)
            break;
        if (table.row_count > want) {
            status = fdy_output_fail("the broker sent %zu messages for count=%" PRIu64,
                                     table.row_count, want);
            break;
        }
        uint64_t last;
        err = fdy_output_msgs_rows(stdout, &msgs, &table, &reason);
        if (err == FOUNDRY_OK)
            err = s_last_seq(&table, &last, &reason);
        if (err == FOUNDRY_OK && last < from)
            err = fdy_reason_set(&reason, FOUNDRY_EPROTO,
                                 "the broker answered from=%" PRIu64 " with seq %" PRIu64, from,
                                 last);
        if (err != FOUNDRY_OK) {
            status = fdy_output_fail("%s", reason.text);
            break;
        }
        if (left != 0) {
            left -= table.row_count;
            if (left == 0)
                break;
        }
        if (last == UINT64_MAX)
            break;
        from = last + 1;
    }
    /* Close the JSON array even after a later error, so what was printed
     * parses; the exit status says it is incomplete. */
    if (started)
        fdy_output_msgs_end(stdout, &msgs);
    fdy_ctl_conn_destroy(&conn);
    return status;
}

/* ---- stream add|info|edit|rm ----------------------------------------------- */

/* Builds name=, filter=... and the limits shared by add and edit. */
static int
s_stream_argv(const fdy_ctl_args_t *args, fdy_ctl_argv_t *argv)
{
    const streams_opts_t *opts = args->opts;
    foundry_err err = fdy_ctl_argv_add(argv, "name", args->pos[0]);
    for (size_t i = 0; err == FOUNDRY_OK && i < opts->subject_count; i++)
        err = fdy_ctl_argv_add(argv, "filter", opts->subjects[i]);
    if (err == FOUNDRY_OK)
        err = fdy_ctl_argv_add(argv, "max_age", opts->max_age);
    if (err == FOUNDRY_OK)
        err = fdy_ctl_argv_add(argv, "max_bytes", opts->max_bytes);
    if (err == FOUNDRY_OK)
        err = fdy_ctl_argv_add(argv, "max_msgs", opts->max_msgs);
    return err == FOUNDRY_OK ? FDY_CTL_EXIT_OK : fdy_output_fail("out of memory");
}

static int
s_stream_command(const fdy_ctl_args_t *args, const char *command, bool limits)
{
    fdy_ctl_argv_t argv = {0};
    int status = limits ? s_stream_argv(args, &argv)
                        : (fdy_ctl_argv_add(&argv, "name", args->pos[0]) == FOUNDRY_OK
                               ? FDY_CTL_EXIT_OK
                               : fdy_output_fail("out of memory"));
    char not_found[64 + FOUNDRY_STREAM_NAME_MAX * 4];
    snprintf(not_found, sizeof not_found, "no stream named %s", args->pos[0]);
    if (status == FDY_CTL_EXIT_OK)
        status = fdy_ctl_conn_run(args, command, &argv, FDY_CTL_SHOW_RECORD,
                                  strcmp(command, "stream.add") == 0 ? NULL : not_found);
    fdy_ctl_argv_free(&argv);
    return status;
}

/* A subject goes to the first stream, by creation order, whose filter
 * matches: a new stream whose every filter an existing stream covers
 * would never get a message, which is a typo rather than a wish. */
static int
s_check_shadowed(const fdy_ctl_args_t *args)
{
    const streams_opts_t *opts = args->opts;
    if (opts->subject_count == 0)
        return FDY_CTL_EXIT_OK;
    fdy_ctl_conn_t *conn = NULL;
    int status = fdy_ctl_conn_open(args, &conn);
    size_t covered = 0;
    char stream[FOUNDRY_STREAM_NAME_MAX + 1] = "", filter[FOUNDRY_SUBJECT_MAX + 1] = "";
    const char *first_covered = NULL;
    for (size_t i = 0; status == FDY_CTL_EXIT_OK && i < opts->subject_count; i++) {
        bool found = false;
        status = fdy_ctl_streams_capturing(conn, opts->subjects[i], stream, sizeof stream, filter,
                                           sizeof filter, &found);
        if (status != FDY_CTL_EXIT_OK || !found)
            continue;
        covered++;
        first_covered = opts->subjects[i];
        if (covered < opts->subject_count)
            fdy_output_note("subjects matching %s go to stream %s (its filter %s), not to %s",
                            opts->subjects[i], stream, filter, args->pos[0]);
    }
    fdy_ctl_conn_destroy(&conn);
    if (status == FDY_CTL_EXIT_OK && covered == opts->subject_count)
        status = fdy_output_fail("stream %s would never get a message: stream %s already captures "
                                 "%s (its filter %s), and a subject goes to the first stream, by "
                                 "creation order, that matches",
                                 args->pos[0], stream, first_covered, filter);
    return status;
}

/* Without --subject the stream is reachable only by name: a dead-letter
 * stream created ahead of need, with limits of its own. */
static int
s_add(const fdy_ctl_args_t *args)
{
    int status = s_check_shadowed(args);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    return s_stream_command(args, "stream.add", true);
}

static int
s_info(const fdy_ctl_args_t *args)
{
    return s_stream_command(args, "stream.info", false);
}

static int
s_edit(const fdy_ctl_args_t *args)
{
    const streams_opts_t *opts = args->opts;
    if (opts->subject_count == 0 && !opts->max_age && !opts->max_bytes && !opts->max_msgs)
        return fdy_output_usage("stream edit needs --subject, --max-age, --max-bytes or "
                                "--max-msgs");
    return s_stream_command(args, "stream.edit", true);
}

static int
s_rm(const fdy_ctl_args_t *args)
{
    int status = fdy_ctl_prompt_confirm(
        args, "delete stream %s with all its messages and consumers?", args->pos[0]);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    return s_stream_command(args, "stream.rm", false);
}

/* ---- the group ---------------------------------------------------------- */

enum {
    STREAMS_FROM = 1,
    STREAMS_COUNT,
    STREAMS_SUBJECT,
    STREAMS_MAX_AGE,
    STREAMS_MAX_BYTES,
    STREAMS_MAX_MSGS,
    STREAMS_DECODE,
};

static const fdy_ctl_flag_t s_flags[] = {
    {"--from", "SEQ", STREAMS_FROM, false, "first sequence to read (default 1)"},
    {"--decode", "KIND", STREAMS_DECODE, false,
     "telemetry: show telemetry batches as samples; auto (default): binary payloads under "
     "telemetry.>; none: never"},
    /* The same text as sub's --count (cmd_sub.c): docs/cli.md and scripts
     * know them as one option. */
    {"--count", "N", STREAMS_COUNT, false,
     "at most N messages (stream read: default to the end; sub: default no limit)"},
    {"--subject", "FILTER", STREAMS_SUBJECT, true,
     "subjects the stream captures (* a token, > the rest); repeatable"},
    {"--max-age", "DURATION", STREAMS_MAX_AGE, false,
     "drop messages older than this, e.g. 30s, 1h, 7d (0: no limit)"},
    {"--max-bytes", "SIZE", STREAMS_MAX_BYTES, false,
     "keep at most this many bytes, oldest dropped first, e.g. 64MiB (0: no limit)"},
    {"--max-msgs", "N", STREAMS_MAX_MSGS, false,
     "keep at most N messages, oldest dropped first (0: no limit)"},
};

static int
s_opts_set(void *opts, const fdy_ctl_flag_t *flag, const char *value)
{
    streams_opts_t *self = opts;
    uint64_t n;
    fdy_reason_t reason = {{0}};
    switch (flag->id) {
    case STREAMS_FROM:
        if (!fdy_ctl_args_parse_u64(value, 1, UINT64_MAX, &self->from_seq))
            return fdy_output_usage("--from needs a sequence number >= 1, not %s", value);
        return FDY_CTL_EXIT_OK;
    case STREAMS_COUNT:
        if (!fdy_ctl_args_parse_u64(value, 1, UINT64_MAX, &self->count))
            return fdy_output_usage("--count needs a number >= 1, not %s", value);
        return FDY_CTL_EXIT_OK;
    case STREAMS_DECODE: return fdy_ctl_decode_parse(value, &self->decode);
    case STREAMS_SUBJECT:
        if (self->subject_count == STREAMS_SUBJECTS_MAX)
            return fdy_output_usage("at most %d --subject filters", STREAMS_SUBJECTS_MAX);
        self->subjects[self->subject_count++] = value;
        return fdy_ctl_args_check_filter("--subject", value);
    case STREAMS_MAX_AGE:
        self->max_age = self->max_age_text;
        return fdy_ctl_args_duration_text("--max-age", value, self->max_age_text);
    case STREAMS_MAX_BYTES:
        self->max_bytes = value;
        if (fdy_config_parse_size(value, &n, &reason) != FOUNDRY_OK)
            return fdy_output_usage("--max-bytes: %s", reason.text[0] ? reason.text : "bad size");
        return FDY_CTL_EXIT_OK;
    case STREAMS_MAX_MSGS:
        self->max_msgs = value;
        return fdy_ctl_args_check_count("--max-msgs", value);
    default: return FDY_CTL_EXIT_OK;
    }
}

/* What add and edit take. */
static const int s_limit_flags[] = {
    STREAMS_SUBJECT, STREAMS_MAX_AGE, STREAMS_MAX_BYTES, STREAMS_MAX_MSGS, 0,
};

static const fdy_ctl_cmd_t s_commands[] = {
    {
        .words = "stream ls",
        .synopsis = "",
        .summary = "list streams with their filters, sequences and sizes",
        .notes = "Columns: name filters first_seq last_seq messages bytes.",
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_ls,
    },
    {
        .words = "stream read",
        .synopsis = "STREAM [--from SEQ] [--count N]",
        .summary = "print stored messages of a stream",
        .notes = "Human output: the header \"SEQ SUBJECT PAYLOAD\", then one line per\n"
                 "message (a payload that is not printable UTF-8 prints as <hex>).\n"
                 "--json: an array of objects with seq stored_ns timestamp_ns publisher\n"
                 "id subject payload. Without --count it reads to the end of the stream.",
        .pos_names = {"STREAM"},
        .min_pos = 1,
        .max_pos = 1,
        .flags = (const int[]){STREAMS_FROM, STREAMS_COUNT, STREAMS_DECODE, 0},
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_read,
    },
    {
        .words = "stream info",
        .synopsis = "NAME",
        .summary = "show one stream: filters, sequences, size, limits, consumers",
        .notes = "Fields: name filters first_seq last_seq messages bytes max_age_ms max_bytes\n"
                 "max_msgs consumers created_ns (a limit of 0 means none).",
        .pos_names = {"NAME"},
        .min_pos = 1,
        .max_pos = 1,
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_info,
    },
    {
        .words = "stream add",
        .synopsis = "NAME [--subject FILTER]... [--max-age DURATION] [--max-bytes SIZE]\n"
                    "                          [--max-msgs N]",
        .summary = "create a stream capturing the subjects matching its filters",
        .notes = "A published message is stored in the first stream (by creation) whose\n"
                 "filters match its subject. Without --subject the stream is reachable only\n"
                 "by name, e.g. a dead-letter stream STREAM-dlq made ahead with its own\n"
                 "limits. Retention drops the oldest messages beyond any limit given.\n"
                 "Prints the stream, as stream info does.",
        .pos_names = {"NAME"},
        .min_pos = 1,
        .max_pos = 1,
        .flags = s_limit_flags,
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_add,
    },
    {
        .words = "stream edit",
        .synopsis = "NAME [--subject FILTER]... [--max-age DURATION] [--max-bytes SIZE]\n"
                    "                          [--max-msgs N]",
        .summary = "change a stream's filters or retention limits",
        .notes = "--subject replaces all filters; a limit not given stays as it is, 0 removes\n"
                 "it. Prints the stream, as stream info does.",
        .pos_names = {"NAME"},
        .min_pos = 1,
        .max_pos = 1,
        .flags = s_limit_flags,
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_edit,
    },
    {
        .words = "stream rm",
        .synopsis = "NAME",
        .summary = "delete a stream, its messages and its consumers",
        .notes = "Subscriptions bound to its consumers end. Prints the stream as it was.\n"
                 "On a terminal it asks first; --yes does not.",
        .pos_names = {"NAME"},
        .min_pos = 1,
        .max_pos = 1,
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_rm,
    },
};

const fdy_ctl_group_t fdy_cmd_streams_group = {
    .commands = s_commands,
    .command_count = sizeof s_commands / sizeof s_commands[0],
    .flags = s_flags,
    .flag_count = sizeof s_flags / sizeof s_flags[0],
    .opts_size = sizeof(streams_opts_t),
    .opts_set = s_opts_set,
};
