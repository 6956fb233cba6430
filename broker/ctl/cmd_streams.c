/*  cmd_streams.c: `foundryctl stream ls|info|add|edit|rm` and `stream read
 *  STREAM [--from SEQ] [--count N]`. Reads page through the broker, at most
 *  1000 messages per request (the admin protocol's limit), so long reads
 *  never hold one LMDB read transaction or one huge reply. The broker does
 *  the work (admin commands stream.*); values are checked here first only
 *  so a typo is a usage error.
 */
#include "ctl.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define STREAMS_PAGE_MAX 1000u

int
fdy_cmd_streams_ls(const fdy_ctl_args_t *args)
{
    fdy_ctl_conn_t *conn = NULL;
    int status = fdy_ctl_conn_open(args, &conn);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    fdy_table_t table;
    fdy_reason_t reason = {{0}};
    foundry_err err = fdy_ctl_conn_admin(conn, "stream.ls", NULL, 0, &table, &reason);
    if (err != FOUNDRY_OK)
        status = fdy_ctl_conn_report(conn, err, &reason);
    else if (fdy_output_table(stdout, &table, args->json) != FOUNDRY_OK)
        status = fdy_output_fail("out of memory");
    fdy_ctl_conn_destroy(&conn);
    return status;
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

int
fdy_cmd_streams_read(const fdy_ctl_args_t *args)
{
    const char *stream = args->pos[0];
    fdy_ctl_conn_t *conn = NULL;
    int status = fdy_ctl_conn_open(args, &conn);
    if (status != FDY_CTL_EXIT_OK)
        return status;

    fdy_output_msgs_t msgs;
    uint64_t from = args->from_seq ? args->from_seq : 1;
    uint64_t left = args->count; /* 0: to the end of the stream */
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
    foundry_err err = fdy_ctl_argv_add(argv, "name", args->pos[0]);
    for (size_t i = 0; err == FOUNDRY_OK && i < args->subject_count; i++)
        err = fdy_ctl_argv_add(argv, "filter", args->subjects[i]);
    if (err == FOUNDRY_OK)
        err = fdy_ctl_argv_add(argv, "max_age", args->max_age);
    if (err == FOUNDRY_OK)
        err = fdy_ctl_argv_add(argv, "max_bytes", args->max_bytes);
    if (err == FOUNDRY_OK)
        err = fdy_ctl_argv_add(argv, "max_msgs", args->max_msgs);
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
        status = fdy_ctl_conn_run(args, command, &argv, true,
                                  strcmp(command, "stream.add") == 0 ? NULL : not_found);
    fdy_ctl_argv_free(&argv);
    return status;
}

/* Without --subject the stream is reachable only by name: a dead-letter
 * stream created ahead of need, with limits of its own. */
int
fdy_cmd_streams_add(const fdy_ctl_args_t *args)
{
    return s_stream_command(args, "stream.add", true);
}

int
fdy_cmd_streams_info(const fdy_ctl_args_t *args)
{
    return s_stream_command(args, "stream.info", false);
}

int
fdy_cmd_streams_edit(const fdy_ctl_args_t *args)
{
    if (args->subject_count == 0 && !args->max_age && !args->max_bytes && !args->max_msgs)
        return fdy_output_usage("stream edit needs --subject, --max-age, --max-bytes or "
                                "--max-msgs");
    return s_stream_command(args, "stream.edit", true);
}

int
fdy_cmd_streams_rm(const fdy_ctl_args_t *args)
{
    return s_stream_command(args, "stream.rm", false);
}
