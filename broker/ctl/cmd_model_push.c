/*  cmd_model_push.c: `foundryctl model push` and `model rollback`, both
 *  through libfoundry's foundry_model_push() as a partner's tool would
 *  push (hash once, upload what the broker lacks, sign, publish).
 *  Rollback first asks the models service (admin commands) for what a
 *  rollback manifest must say: the current version, the highest version
 *  and release version seen, and the manifest of the version it brings
 *  back. Progress on stderr (ctl_progress.c), the result on stdout.
 */
#include "cmd_models.h"

#include "arena.h"
#include "clock.h"
#include "codec_models.h"
#include "config.h"
#include "ctl_model_args.h"
#include "ctl_progress.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    fdy_ctl_progress_t bar;
} push_view_t;

static void
s_on_progress(const foundry_model_progress_t *p, void *user)
{
    push_view_t *view = user;
    fdy_ctl_progress_update(&view->bar, p, fdy_clock_mono_ms());
}

static int
s_fail(foundry_client_t *client, foundry_err err)
{
    if (err == FOUNDRY_EAUTH)
        return fdy_ctl_conn_report_refused(foundry_client_last_error(client));
    return fdy_output_fail("%s: %s", foundry_strerror(err), foundry_client_last_error(client));
}

/* Expiry from now, or 0. */
static int
s_expires(const models_opts_t *o, uint64_t *expires_ms)
{
    *expires_ms = 0;
    if (!o->expires)
        return FDY_CTL_EXIT_OK;
    uint64_t ms;
    fdy_reason_t reason = {{0}};
    if (fdy_config_parse_duration(o->expires, &ms, &reason) != FOUNDRY_OK || ms == 0)
        return fdy_output_usage("--expires: %s", reason.text[0] ? reason.text : "must be > 0");
    *expires_ms = fdy_clock_wall_ns() / 1000000u + ms;
    return FDY_CTL_EXIT_OK;
}

static void
s_print_pushed(const fdy_ctl_args_t *args, const char *name, const foundry_model_pushed_t *p,
               const char *verb)
{
    char hex[2 * sizeof p->artifact + 1];
    sodium_bin2hex(hex, sizeof hex, p->artifact, sizeof p->artifact);
    if (args->json) {
        printf("{\"name\":");
        fdy_output_json_string(stdout, name, strlen(name));
        printf(",\"version\":%" PRIu64 ",\"log_index\":%" PRIu64 ",\"artifact\":\"%s\","
               "\"size\":%" PRIu64 ",\"chunks\":%zu,\"chunks_sent\":%zu,\"chunks_held\":%zu,"
               "\"bytes_sent\":%" PRIu64 "}\n",
               p->version, p->log_index, hex, p->size, p->chunk_count, p->chunks_sent,
               p->chunks_held, p->bytes_sent);
        return;
    }
    printf("%s %s version %" PRIu64 " (release log entry %" PRIu64 ")\n", verb, name, p->version,
           p->log_index);
    printf("artifact %s, %" PRIu64 " bytes in %zu chunks: %zu sent, %zu already held\n", hex,
           p->size, p->chunk_count, p->chunks_sent, p->chunks_held);
}

/* Connects and pushes opts, with the progress view on stderr. */
static int
s_run_push(const fdy_ctl_args_t *args, const foundry_model_push_opts_t *opts, const char *verb)
{
    fdy_ctl_conn_settings_t settings;
    foundry_client_t *client = NULL;
    int status = fdy_ctl_conn_client(args, &settings, &client);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    push_view_t view;
    fdy_ctl_progress_init(&view.bar, stderr, isatty(STDERR_FILENO) == 1);
    foundry_model_pushed_t pushed;
    foundry_err err = foundry_model_push(client, opts, s_on_progress, &view, &pushed);
    fdy_ctl_progress_end(&view.bar);
    if (err != FOUNDRY_OK)
        status = s_fail(client, err);
    else
        s_print_pushed(args, opts->name, &pushed, verb);
    (void) foundry_client_close(&client, 0, NULL);
    return status;
}

int
fdy_cmd_model_push(const fdy_ctl_args_t *args)
{
    const models_opts_t *o = args->opts;
    if (!o->name)
        return fdy_output_usage("model push: give --name NAME");
    if (!fdy_model_name_ok(o->name))
        return fdy_output_usage("bad model name '%s': [a-z0-9][a-z0-9._-]*, at most %u", o->name,
                                FDY_MODEL_NAME_MAX);
    uint64_t version = 0;
    if (!o->version)
        return fdy_output_usage("model push: give --model-version V");
    if (!fdy_ctl_args_parse_u64(o->version, 1, UINT64_MAX, &version))
        return fdy_output_usage("--model-version must be a number > 0, not %s", o->version);
    if (o->sign_count == 0)
        return fdy_output_usage("model push: give at least one --sign KEYFILE (a NAME.sign)");
    foundry_model_push_opts_t opts;
    foundry_model_push_opts_init(&opts);
    opts.file = args->pos[0];
    opts.name = o->name;
    opts.version = version;
    if (o->chunk_size) {
        uint64_t bytes;
        fdy_reason_t reason = {{0}};
        if (fdy_config_parse_size(o->chunk_size, &bytes, &reason) != FOUNDRY_OK ||
            bytes < FOUNDRY_MODEL_CHUNK_MIN || bytes > FOUNDRY_MODEL_CHUNK_MAX)
            return fdy_output_usage("--chunk-size %s: must be 64KiB..16MiB", o->chunk_size);
        opts.chunk_size = (uint32_t) bytes;
    }
    if (o->window) {
        uint64_t window;
        if (!fdy_ctl_args_parse_u64(o->window, 1, FOUNDRY_MODEL_WINDOW_MAX, &window))
            return fdy_output_usage("--window must be 1..%u, not %s", FOUNDRY_MODEL_WINDOW_MAX,
                                    o->window);
        opts.window = (uint32_t) window;
    }
    int status = s_expires(o, &opts.expires_ms);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    opts.sign_key_files = o->sign;
    opts.sign_key_count = o->sign_count;
    opts.sites = o->sites;
    opts.site_count = o->site_count;
    opts.labels = o->labels;
    opts.label_count = o->label_count;
    opts.metadata = o->meta;
    opts.metadata_count = o->meta_count;
    if (access(opts.file, R_OK) != 0)
        return fdy_output_fail("%s: cannot read it", opts.file);
    return s_run_push(args, &opts, "pushed");
}

/* ---- rollback -------------------------------------------------------------- */

/* What the rollback needs from the models service. */
typedef struct {
    uint64_t current;                 /* the newest accepted version */
    uint64_t current_release_version; /* that manifest's release_version */
    uint64_t *log_versions;           /* every release-log entry's version */
    size_t log_count;
    uint8_t *base; /* the SignedManifest of the target version */
    size_t base_len;
} rollback_facts_t;

static int
s_admin(fdy_ctl_conn_t *conn, const char *command, const char *const *argv, size_t argc,
        fdy_table_t *table)
{
    fdy_reason_t reason = {{0}};
    foundry_err err = fdy_ctl_conn_admin(conn, command, argv, argc, table, &reason);
    if (err == FOUNDRY_ENOTFOUND)
        return fdy_output_fail("%s", reason.text[0] ? reason.text : "no such model or version");
    if (err != FOUNDRY_OK)
        return fdy_ctl_conn_report(conn, err, &reason);
    if (table->row_count == 0)
        return fdy_output_fail("the broker's %s reply is empty", command);
    return FDY_CTL_EXIT_OK;
}

static int
s_cell_u64(const fdy_table_t *table, size_t row, const char *column, const char *command,
           uint64_t *out)
{
    long col = fdy_output_column(table, column);
    const fdy_slice_t *cell =
        col < 0 ? NULL : &table->cells[row * table->column_count + (size_t) col];
    if (!cell || fdy_output_parse_u64(cell->data, cell->len, out) != FOUNDRY_OK)
        return fdy_output_fail("the broker's %s reply lacks a numeric %s", command, column);
    return FDY_CTL_EXIT_OK;
}

/* model.manifest NAME VERSION: the SignedManifest bytes, copied. */
static int
s_manifest(fdy_ctl_conn_t *conn, const char *name, uint64_t version, uint8_t **out, size_t *len_out)
{
    char name_arg[FDY_MODEL_NAME_MAX + 8], version_arg[32];
    snprintf(name_arg, sizeof name_arg, "name=%s", name);
    snprintf(version_arg, sizeof version_arg, "version=%" PRIu64, version);
    const char *argv[] = {name_arg, version_arg};
    fdy_table_t table;
    int status = s_admin(conn, "model.manifest", argv, 2, &table);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    long col = fdy_output_column(&table, "signed");
    if (col < 0 || table.cells[col].len == 0)
        return fdy_output_fail("the broker's model.manifest reply has no signed manifest");
    *out = malloc(table.cells[col].len);
    if (!*out)
        return fdy_output_fail("out of memory");
    memcpy(*out, table.cells[col].data, table.cells[col].len);
    *len_out = table.cells[col].len;
    return FDY_CTL_EXIT_OK;
}

/* The release_version a manifest carries (0 unless it is a rollback). */
static int
s_release_version(const uint8_t *signed_bytes, size_t len, uint64_t *out)
{
    fdy_arena_t *arena = fdy_arena_new(FDY_DECODE_BUDGET(len));
    if (!arena)
        return fdy_output_fail("out of memory");
    fdy_model_signed_t s;
    fdy_model_manifest_t m;
    fdy_reason_t reason = {{0}};
    foundry_err err = fdy_codec_model_signed_decode(signed_bytes, len, arena, &s, &reason);
    if (err == FOUNDRY_OK)
        err = fdy_codec_model_manifest_decode(s.manifest, s.manifest_len, arena, &m, &reason);
    if (err == FOUNDRY_OK)
        *out = m.release_version;
    fdy_arena_destroy(&arena);
    if (err != FOUNDRY_OK)
        return fdy_output_fail("the broker's current manifest does not decode: %s", reason.text);
    return FDY_CTL_EXIT_OK;
}

static int
s_facts(const fdy_ctl_args_t *args, const char *name, uint64_t to, rollback_facts_t *facts)
{
    fdy_ctl_conn_t *conn = NULL;
    int status = fdy_ctl_conn_open(args, &conn);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    char name_arg[FDY_MODEL_NAME_MAX + 8];
    snprintf(name_arg, sizeof name_arg, "name=%s", name);
    const char *argv[] = {name_arg};
    fdy_table_t table;
    status = s_admin(conn, "model.show", argv, 1, &table);
    if (status == FDY_CTL_EXIT_OK)
        status = s_cell_u64(&table, 0, "version", "model.show", &facts->current);
    uint8_t *current = NULL;
    size_t current_len = 0;
    if (status == FDY_CTL_EXIT_OK)
        status = s_manifest(conn, name, facts->current, &current, &current_len);
    if (status == FDY_CTL_EXIT_OK)
        status = s_release_version(current, current_len, &facts->current_release_version);
    free(current);
    if (status == FDY_CTL_EXIT_OK)
        status = s_admin(conn, "model.log", argv, 1, &table);
    if (status == FDY_CTL_EXIT_OK) {
        facts->log_versions = calloc(table.row_count, sizeof *facts->log_versions);
        if (!facts->log_versions)
            status = fdy_output_fail("out of memory");
        for (size_t row = 0; status == FDY_CTL_EXIT_OK && row < table.row_count; row++)
            status = s_cell_u64(&table, row, "version", "model.log", &facts->log_versions[row]);
        facts->log_count = table.row_count;
    }
    if (status == FDY_CTL_EXIT_OK && to != facts->current)
        status = s_manifest(conn, name, to, &facts->base, &facts->base_len);
    fdy_ctl_conn_destroy(&conn);
    return status;
}

int
fdy_cmd_model_rollback(const fdy_ctl_args_t *args)
{
    const models_opts_t *o = args->opts;
    const char *name = args->pos[0];
    if (!fdy_model_name_ok(name))
        return fdy_output_usage("bad model name '%s': [a-z0-9][a-z0-9._-]*, at most %u", name,
                                FDY_MODEL_NAME_MAX);
    uint64_t to = 0;
    if (!o->to)
        return fdy_output_usage("model rollback: give --to VERSION");
    if (!fdy_ctl_args_parse_u64(o->to, 1, UINT64_MAX, &to))
        return fdy_output_usage("--to must be a version > 0, not %s", o->to);
    if (o->sign_count == 0)
        return fdy_output_usage("model rollback: give at least one --sign KEYFILE");
    foundry_model_push_opts_t opts;
    foundry_model_push_opts_init(&opts);
    int status = s_expires(o, &opts.expires_ms);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    rollback_facts_t facts = {0};
    status = s_facts(args, name, to, &facts);
    fdy_reason_t reason = {{0}};
    if (status == FDY_CTL_EXIT_OK &&
        fdy_ctl_rollback_plan(facts.log_versions, facts.log_count, facts.current,
                              facts.current_release_version, to, &opts.rollback_of,
                              &opts.release_version, &reason) != FOUNDRY_OK)
        status = fdy_output_fail("cannot roll %s back to %" PRIu64 ": %s", name, to, reason.text);
    if (status == FDY_CTL_EXIT_OK) {
        opts.name = name;
        opts.version = to;
        opts.rollback = 1;
        opts.base_manifest = facts.base;
        opts.base_manifest_len = facts.base_len;
        opts.sign_key_files = o->sign;
        opts.sign_key_count = o->sign_count;
        status = s_run_push(args, &opts, "rolled back to");
        if (status == FDY_CTL_EXIT_OK && !args->json)
            printf("replaces version %" PRIu64 "; release version %" PRIu64 "\n", opts.rollback_of,
                   opts.release_version);
    }
    free(facts.log_versions);
    free(facts.base);
    return status;
}
