/*  cmd_models.c: `foundryctl model keygen|trust|release-key|ls|show|log`
 *  and the model group's options and command table (push and rollback,
 *  which go through libfoundry, are cmd_model_push.c's). keygen works
 *  offline; the others are the models service's admin commands
 *  (docs/models.md). `model log` does not take the broker's word
 *  for the release log: it verifies every entry's signature and hash
 *  chain itself and fails naming the first bad entry.
 */
#include "cmd_models.h"

#include "arena.h"
#include "codec_models.h"
#include "ctl_model_args.h"
#include "model_sign.h"
#include "release_log.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* The key files live in sodium_malloc memory, which needs sodium_init(). */
static int
s_sodium(void)
{
    if (sodium_init() < 0)
        return fdy_output_fail("libsodium cannot be initialised");
    return FDY_CTL_EXIT_OK;
}

static int
s_check_name(const char *name)
{
    if (!fdy_model_name_ok(name))
        return fdy_output_usage("bad model name '%s': [a-z0-9][a-z0-9._-]*, at most %u", name,
                                FDY_MODEL_NAME_MAX);
    return FDY_CTL_EXIT_OK;
}

/* ---- keygen -------------------------------------------------------------- */

static int
s_keygen(const fdy_ctl_args_t *args)
{
    const models_opts_t *o = args->opts;
    const char *name = args->pos[0];
    int status = s_check_name(name);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    status = s_sodium();
    if (status != FDY_CTL_EXIT_OK)
        return status;
    const char *dir = o->dir ? o->dir : ".";
    uint8_t pub[FDY_MODEL_KEY_LEN];
    fdy_reason_t reason = {{0}};
    foundry_err err = fdy_sign_keygen(dir, name, pub, &reason);
    if (err != FOUNDRY_OK)
        return fdy_output_fail("%s", reason.text[0] ? reason.text : foundry_strerror(err));
    char hex[2 * FDY_MODEL_KEY_LEN + 1];
    sodium_bin2hex(hex, sizeof hex, pub, sizeof pub);
    if (args->json) {
        printf("{\"name\":");
        fdy_output_json_string(stdout, name, strlen(name));
        printf(",\"dir\":");
        fdy_output_json_string(stdout, dir, strlen(dir));
        printf(",\"public_key\":\"%s\"}\n", hex);
    } else {
        printf("wrote %s/%s.sign (secret: keep it off the broker) and %s/%s.sign.pub\n", dir, name,
               dir, name);
        printf("public key %s\n", hex);
    }
    return FDY_CTL_EXIT_OK;
}

/* ---- trust --------------------------------------------------------------- */

/* One model.trust.ls row as a policy. */
static int
s_policy_of_row(const fdy_table_t *table, size_t row, fdy_trust_policy_t *policy)
{
    memset(policy, 0, sizeof *policy);
    long cols[3] = {fdy_output_column(table, "name"), fdy_output_column(table, "threshold"),
                    fdy_output_column(table, "keys")};
    if (cols[0] < 0 || cols[1] < 0 || cols[2] < 0)
        return fdy_output_fail("the broker's model.trust.ls reply lacks name, threshold or keys");
    const fdy_slice_t *cells = &table->cells[row * table->column_count];
    const fdy_slice_t *name = &cells[cols[0]], *keys = &cells[cols[2]];
    uint64_t threshold = 0;
    if (name->len == 0 || name->len > FDY_MODEL_NAME_MAX ||
        fdy_output_parse_u64(cells[cols[1]].data, cells[cols[1]].len, &threshold) != FOUNDRY_OK)
        return fdy_output_fail("the broker's model.trust.ls row %zu is malformed", row + 1);
    memcpy(policy->name, name->data, name->len);
    policy->threshold = (uint32_t) threshold;
    for (size_t at = 0; at < keys->len;) {
        while (at < keys->len && keys->data[at] == ' ')
            at++;
        size_t end = at;
        while (end < keys->len && keys->data[end] != ' ')
            end++;
        if (end == at)
            break;
        size_t bin_len = 0;
        if (policy->key_count == FDY_TRUST_KEYS_MAX ||
            sodium_hex2bin(policy->keys[policy->key_count], FDY_MODEL_KEY_LEN,
                           (const char *) keys->data + at, end - at, NULL, &bin_len, NULL) != 0 ||
            bin_len != FDY_MODEL_KEY_LEN)
            return fdy_output_fail("the broker's policy for %s has a bad key", policy->name);
        policy->key_count++;
        at = end;
    }
    return FDY_CTL_EXIT_OK;
}

/* `model trust ls --export FILE`: the policies in the agents'
 * model_trust_file format ("-": stdout). */
static int
s_trust_export(const fdy_ctl_args_t *args, const char *path)
{
    fdy_ctl_conn_t *conn = NULL;
    int status = fdy_ctl_conn_open(args, &conn);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    fdy_table_t table;
    fdy_reason_t reason = {{0}};
    foundry_err err = fdy_ctl_conn_admin(conn, "model.trust.ls", NULL, 0, &table, &reason);
    if (err != FOUNDRY_OK) {
        status = fdy_ctl_conn_report(conn, err, &reason);
        fdy_ctl_conn_destroy(&conn);
        return status;
    }
    fdy_trust_set_t *set = fdy_trust_set_new();
    if (!set)
        status = fdy_output_fail("out of memory");
    for (size_t row = 0; status == FDY_CTL_EXIT_OK && row < table.row_count; row++) {
        fdy_trust_policy_t policy;
        status = s_policy_of_row(&table, row, &policy);
        if (status == FDY_CTL_EXIT_OK && fdy_trust_set_put(set, &policy, &reason) != FOUNDRY_OK)
            status = fdy_output_fail("policy of %s: %s", policy.name, reason.text);
    }
    char *text = NULL;
    if (status == FDY_CTL_EXIT_OK && fdy_trust_set_format(set, &text) != FOUNDRY_OK)
        status = fdy_output_fail("out of memory");
    if (status == FDY_CTL_EXIT_OK) {
        bool to_stdout = strcmp(path, "-") == 0;
        FILE *out = to_stdout ? stdout : fopen(path, "w");
        if (!out || fputs(text, out) < 0 || (!to_stdout && fclose(out) != 0))
            status = fdy_output_fail("%s: cannot write it", path);
        else if (!to_stdout)
            fprintf(stderr, "wrote %zu trust policies to %s\n", table.row_count, path);
    }
    free(text);
    fdy_trust_set_destroy(&set);
    fdy_ctl_conn_destroy(&conn);
    return status;
}

static int
s_trust_ls(const fdy_ctl_args_t *args)
{
    const models_opts_t *o = args->opts;
    if (o->export_file) {
        int status = s_sodium();
        return status == FDY_CTL_EXIT_OK ? s_trust_export(args, o->export_file) : status;
    }
    return fdy_ctl_conn_run(args, "model.trust.ls", NULL, FDY_CTL_SHOW_TABLE, NULL);
}

static int
s_trust(const fdy_ctl_args_t *args)
{
    const models_opts_t *o = args->opts;
    const char *name = args->pos[0];
    /* `model trust ls` lists; a model called "ls" still gets a policy
     * when --signer is given. */
    if (strcmp(name, "ls") == 0 && o->signer_count == 0 && !o->threshold)
        return s_trust_ls(args);
    if (o->export_file)
        return fdy_output_usage("--export is for `model trust ls`");
    int status = strcmp(name, "*") == 0 ? FDY_CTL_EXIT_OK : s_check_name(name);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    if (o->signer_count == 0)
        return fdy_output_usage("model trust: give at least one --signer PUBFILE|HEX");
    uint64_t threshold = 0;
    if (!o->threshold)
        return fdy_output_usage("model trust: give --threshold K (signatures needed, 1..%zu)",
                                o->signer_count);
    if (!fdy_ctl_args_parse_u64(o->threshold, 1, o->signer_count, &threshold))
        return fdy_output_usage("--threshold must be 1..%zu (the number of --signer), not %s",
                                o->signer_count, o->threshold);
    status = s_sodium();
    if (status != FDY_CTL_EXIT_OK)
        return status;
    fdy_ctl_argv_t argv = {0};
    char text[24];
    snprintf(text, sizeof text, "%" PRIu64, threshold);
    foundry_err err = fdy_ctl_argv_add(&argv, "name", name);
    if (err == FOUNDRY_OK)
        err = fdy_ctl_argv_add(&argv, "threshold", text);
    for (size_t i = 0; err == FOUNDRY_OK && i < o->signer_count; i++) {
        uint8_t key[FDY_MODEL_KEY_LEN];
        fdy_reason_t reason = {{0}};
        if (fdy_sign_public_load(o->signers[i], key, &reason) != FOUNDRY_OK) {
            fdy_ctl_argv_free(&argv);
            return fdy_output_fail("--signer %s: %s", o->signers[i],
                                   reason.text[0] ? reason.text : "not a public key");
        }
        char hex[2 * FDY_MODEL_KEY_LEN + 1];
        sodium_bin2hex(hex, sizeof hex, key, sizeof key);
        for (size_t j = 2; j < argv.argc; j++)
            if (strcmp(argv.argv[j] + 4, hex) == 0) { /* "key=HEX" */
                fdy_ctl_argv_free(&argv);
                return fdy_output_usage("--signer %s: the same key is given twice", o->signers[i]);
            }
        err = fdy_ctl_argv_add(&argv, "key", hex);
    }
    if (err != FOUNDRY_OK) {
        fdy_ctl_argv_free(&argv);
        return fdy_output_fail("out of memory");
    }
    status = fdy_ctl_conn_run(args, "model.trust", &argv, FDY_CTL_SHOW_ROW, NULL);
    fdy_ctl_argv_free(&argv);
    return status;
}

/* ---- release-key, ls, show ----------------------------------------------- */

static int
s_release_key(const fdy_ctl_args_t *args)
{
    return fdy_ctl_conn_run(args, "model.release-key", NULL, FDY_CTL_SHOW_RECORD, NULL);
}

static int
s_ls(const fdy_ctl_args_t *args)
{
    return fdy_ctl_conn_run(args, "model.ls", NULL, FDY_CTL_SHOW_TABLE, NULL);
}

static int
s_show(const fdy_ctl_args_t *args)
{
    char name[FDY_MODEL_NAME_MAX + 1];
    uint64_t version = 0;
    fdy_reason_t reason = {{0}};
    if (fdy_ctl_model_ref_parse(args->pos[0], false, name, &version, &reason) != FOUNDRY_OK)
        return fdy_output_usage("%s", reason.text);
    fdy_ctl_argv_t argv = {0};
    char text[24];
    snprintf(text, sizeof text, "%" PRIu64, version);
    foundry_err err = fdy_ctl_argv_add(&argv, "name", name);
    if (err == FOUNDRY_OK && version)
        err = fdy_ctl_argv_add(&argv, "version", text);
    if (err != FOUNDRY_OK) {
        fdy_ctl_argv_free(&argv);
        return fdy_output_fail("out of memory");
    }
    int status = fdy_ctl_conn_run(args, "model.show", &argv, FDY_CTL_SHOW_RECORD, NULL);
    fdy_ctl_argv_free(&argv);
    return status;
}

/* ---- log: fetched, verified, printed ------------------------------------- */

static const char *const s_log_columns[] = {"index", "version", "rollback", "time_ms",
                                            "manifest_hash"};
static const fdy_col_type_t s_log_types[] = {FDY_COL_INT, FDY_COL_INT, FDY_COL_INT, FDY_COL_INT,
                                             FDY_COL_TEXT};
#define LOG_COLUMNS 5
#define LOG_CELL    72 /* the longest cell: 64 hex digits */

/* The release key to verify with: --release-key, else the broker's own
 * (which only proves the log is self-consistent: say so). */
static int
s_release_key_get(const fdy_ctl_args_t *args, fdy_ctl_conn_t *conn, uint8_t key[FDY_MODEL_KEY_LEN])
{
    const models_opts_t *o = args->opts;
    fdy_reason_t reason = {{0}};
    if (o->release_key) {
        if (fdy_sign_public_load(o->release_key, key, &reason) != FOUNDRY_OK)
            return fdy_output_fail("--release-key %s: %s", o->release_key,
                                   reason.text[0] ? reason.text : "not a public key");
        return FDY_CTL_EXIT_OK;
    }
    fdy_table_t table;
    foundry_err err = fdy_ctl_conn_admin(conn, "model.release-key", NULL, 0, &table, &reason);
    if (err != FOUNDRY_OK)
        return fdy_ctl_conn_report(conn, err, &reason);
    long col = fdy_output_column(&table, "key");
    char hex[2 * FDY_MODEL_KEY_LEN + 1];
    size_t bin_len = 0;
    if (col < 0 || table.row_count != 1 || table.cells[col].len != 2 * FDY_MODEL_KEY_LEN)
        return fdy_output_fail("the broker's model.release-key reply has no key");
    memcpy(hex, table.cells[col].data, 2 * FDY_MODEL_KEY_LEN);
    hex[2 * FDY_MODEL_KEY_LEN] = '\0';
    if (sodium_hex2bin(key, FDY_MODEL_KEY_LEN, hex, strlen(hex), NULL, &bin_len, NULL) != 0 ||
        bin_len != FDY_MODEL_KEY_LEN)
        return fdy_output_fail("the broker's release key '%s' is not hex", hex);
    fdy_output_note("verifying against the broker's own release key; give --release-key FILE "
                    "(the key agents trust) for an independent check");
    return FDY_CTL_EXIT_OK;
}

/* Verifies the rows of a model.log table one entry at a time, writing
 * each verified entry's cells. Returns how many verified; *bad_reason
 * says why the next did not (empty when all did). */
static size_t
s_log_verify(const fdy_table_t *table, const char *name, const uint8_t key[FDY_MODEL_KEY_LEN],
             fdy_arena_t *arena, char (*cells)[LOG_CELL], fdy_reason_t *bad_reason)
{
    long col = fdy_output_column(table, "entry");
    if (col < 0) {
        fdy_reason_set(bad_reason, FOUNDRY_EPROTO, "the broker's model.log reply has no entry");
        return 0;
    }
    fdy_release_head_t head;
    memset(&head, 0, sizeof head);
    for (size_t row = 0; row < table->row_count; row++) {
        const fdy_slice_t *cell = &table->cells[row * table->column_count + (size_t) col];
        fdy_model_signed_entry_t signed_entry;
        fdy_reason_t why = {{0}};
        if (fdy_codec_model_signed_entry_decode(cell->data, cell->len, arena, &signed_entry,
                                                &why) != FOUNDRY_OK) {
            fdy_reason_set(bad_reason, FOUNDRY_EPROTO, "row %zu does not decode: %s", row + 1,
                           why.text);
            return row;
        }
        fdy_model_entry_t entry;
        if (fdy_release_verify(key, name, &signed_entry, 1, &head, arena, &entry, &why) !=
            FOUNDRY_OK) {
            fdy_reason_set(bad_reason, FOUNDRY_EDENIED, "%s", why.text);
            return row;
        }
        char(*c)[LOG_CELL] = cells + row * LOG_COLUMNS;
        snprintf(c[0], LOG_CELL, "%" PRIu64, entry.index);
        snprintf(c[1], LOG_CELL, "%" PRIu64, entry.version);
        snprintf(c[2], LOG_CELL, "%d", entry.rollback ? 1 : 0);
        snprintf(c[3], LOG_CELL, "%" PRIu64, entry.time_ms);
        sodium_bin2hex(c[4], LOG_CELL, entry.manifest_hash, FDY_MODEL_HASH_LEN);
    }
    return table->row_count;
}

static int
s_log(const fdy_ctl_args_t *args)
{
    const char *name = args->pos[0];
    int status = s_check_name(name);
    if (status == FDY_CTL_EXIT_OK)
        status = s_sodium();
    if (status != FDY_CTL_EXIT_OK)
        return status;
    fdy_ctl_conn_t *conn = NULL;
    status = fdy_ctl_conn_open(args, &conn);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    uint8_t key[FDY_MODEL_KEY_LEN];
    status = s_release_key_get(args, conn, key);
    fdy_table_t table;
    fdy_reason_t reason = {{0}};
    foundry_err err = FOUNDRY_OK;
    if (status == FDY_CTL_EXIT_OK) {
        char arg[FDY_MODEL_NAME_MAX + 8];
        snprintf(arg, sizeof arg, "name=%s", name);
        const char *argv[] = {arg};
        err = fdy_ctl_conn_admin(conn, "model.log", argv, 1, &table, &reason);
        if (err == FOUNDRY_ENOTFOUND)
            status = fdy_output_fail("%s", reason.text[0] ? reason.text : "no such model");
        else if (err != FOUNDRY_OK)
            status = fdy_ctl_conn_report(conn, err, &reason);
    }
    fdy_arena_t *arena = NULL;
    char(*cells)[LOG_CELL] = NULL;
    fdy_slice_t *slices = NULL;
    if (status == FDY_CTL_EXIT_OK) {
        size_t rows = table.row_count;
        arena = fdy_arena_new(FDY_DECODE_BUDGET(4096) * (rows + 1));
        cells = calloc(rows * LOG_COLUMNS + 1, sizeof *cells);
        slices = calloc(rows * LOG_COLUMNS + 1, sizeof *slices);
        if (!arena || !cells || !slices)
            status = fdy_output_fail("out of memory");
    }
    if (status == FDY_CTL_EXIT_OK) {
        fdy_reason_t bad = {{0}};
        size_t good = s_log_verify(&table, name, key, arena, cells, &bad);
        for (size_t i = 0; i < good * LOG_COLUMNS; i++)
            slices[i] = (fdy_slice_t){(const uint8_t *) cells[i], strlen(cells[i])};
        /* What verified is printed either way: the operator sees where the
         * log stops being trustworthy. */
        fdy_table_t out = {LOG_COLUMNS, s_log_columns, s_log_types, good, slices};
        if (fdy_output_table(stdout, &out, args->json) != FOUNDRY_OK)
            status = fdy_output_fail("out of memory");
        else if (bad.text[0])
            status = fdy_output_fail("release log of %s does not verify: %s", name, bad.text);
        else if (!args->json)
            fprintf(stderr, "release log of %s: %zu entries verified\n", name, good);
    }
    free(slices);
    free(cells);
    fdy_arena_destroy(&arena);
    fdy_ctl_conn_destroy(&conn);
    return status;
}

/* ---- the group ------------------------------------------------------------ */

enum {
    MODELS_DIR = 1,
    MODELS_SIGNER,
    MODELS_THRESHOLD,
    MODELS_NAME,
    MODELS_VERSION,
    MODELS_SIGN,
    MODELS_SITE,
    MODELS_LABEL,
    MODELS_META,
    MODELS_EXPIRES,
    MODELS_CHUNK_SIZE,
    MODELS_WINDOW,
    MODELS_RELEASE_KEY,
    MODELS_TO,
    MODELS_EXPORT,
};

static const fdy_ctl_flag_t s_flags[] = {
    {"--dir", "DIR", MODELS_DIR, false, "where to write the key files (default: here)"},
    {"--signer", "PUB", MODELS_SIGNER, true,
     "a trusted signing key: NAME.sign.pub file or 64 hex digits; repeatable"},
    {"--threshold", "K", MODELS_THRESHOLD, false, "signatures by trusted keys a manifest needs"},
    {"--name", "NAME", MODELS_NAME, false, "the model name (required)"},
    {"--model-version", "V", MODELS_VERSION, false,
     "the model version, > the newest pushed (required)"},
    {"--sign", "KEYFILE", MODELS_SIGN, true, "sign with this NAME.sign key; repeatable"},
    {"--site", "SITE", MODELS_SITE, true, "target site; repeatable (none: every site)"},
    {"--label", "K=V", MODELS_LABEL, true, "a label target nodes must carry; repeatable"},
    {"--meta", "K=V", MODELS_META, true, "free-form metadata in the manifest; repeatable"},
    {"--expires", "DURATION", MODELS_EXPIRES, false,
     "refuse the manifest after DURATION from now, e.g. 30d (default: never)"},
    {"--chunk-size", "SIZE", MODELS_CHUNK_SIZE, false, "chunk size, 64KiB..16MiB (default 1MiB)"},
    {"--window", "N", MODELS_WINDOW, false, "chunks in flight, 1..64 (default: 32 MiB of chunks)"},
    {"--release-key", "PUB", MODELS_RELEASE_KEY, false,
     "verify with this release key (file or hex), not the broker's word"},
    {"--to", "VERSION", MODELS_TO, false, "the earlier version to release again (required)"},
    {"--export", "FILE", MODELS_EXPORT, false,
     "trust ls: write the policies as an agent's model_trust_file (- for stdout)"},
};

static int
s_opts_set(void *opts, const fdy_ctl_flag_t *flag, const char *value)
{
    models_opts_t *self = opts;
    fdy_reason_t reason = {{0}};
    switch (flag->id) {
    case MODELS_DIR: self->dir = value; break;
    case MODELS_SIGNER:
        return fdy_ctl_args_list_add(self->signers, &self->signer_count, MODELS_LIST_MAX,
                                     flag->name, value);
    case MODELS_THRESHOLD: self->threshold = value; break;
    case MODELS_NAME: self->name = value; break;
    case MODELS_VERSION: self->version = value; break;
    case MODELS_SIGN:
        return fdy_ctl_args_list_add(self->sign, &self->sign_count, MODELS_LIST_MAX, flag->name,
                                     value);
    case MODELS_SITE:
        return fdy_ctl_args_list_add(self->sites, &self->site_count, MODELS_LIST_MAX, flag->name,
                                     value);
    case MODELS_LABEL:
        if (fdy_ctl_pair_check("--label", value, &reason) != FOUNDRY_OK)
            return fdy_output_usage("%s", reason.text);
        return fdy_ctl_args_list_add(self->labels, &self->label_count, MODELS_LIST_MAX, flag->name,
                                     value);
    case MODELS_META:
        if (fdy_ctl_pair_check("--meta", value, &reason) != FOUNDRY_OK)
            return fdy_output_usage("%s", reason.text);
        return fdy_ctl_args_list_add(self->meta, &self->meta_count, MODELS_META_MAX, flag->name,
                                     value);
    case MODELS_EXPIRES:
        self->expires = value;
        return FDY_CTL_EXIT_OK; /* checked by s_expires: a bare number is ms */
    case MODELS_CHUNK_SIZE: self->chunk_size = value; break;
    case MODELS_WINDOW: self->window = value; break;
    case MODELS_RELEASE_KEY: self->release_key = value; break;
    case MODELS_TO: self->to = value; break;
    case MODELS_EXPORT: self->export_file = value; break;
    default: break;
    }
    return FDY_CTL_EXIT_OK;
}

static const fdy_ctl_cmd_t s_commands[] = {
    {
        .words = "model keygen",
        .synopsis = "NAME [--dir D]",
        .summary = "make a model-signing key pair: NAME.sign (secret) and NAME.sign.pub",
        .notes = "Model-signing keys (Ed25519) are not CURVE keys. Keep NAME.sign where the\n"
                 "models are built and signed; give NAME.sign.pub to `model trust --signer`.",
        .pos_names = {"NAME"},
        .min_pos = 1,
        .max_pos = 1,
        .flags = (const int[]){MODELS_DIR, 0},
        .reach = FDY_CTL_REACH_LOCAL,
        .run = s_keygen,
    },
    {
        .words = "model trust",
        .synopsis = "NAME --signer PUB... --threshold K | ls [--export FILE]",
        .summary = "set which keys may sign a model and how many must (k of n), or list",
        .notes = "NAME '*' sets the policy of every model without one of its own.\n"
                 "`model trust ls` lists every policy: name, threshold, keys; with --export\n"
                 "FILE it writes them in the format of the agents' model_trust_file.",
        .pos_names = {"NAME"},
        .min_pos = 1,
        .max_pos = 1,
        .flags = (const int[]){MODELS_SIGNER, MODELS_THRESHOLD, MODELS_EXPORT, 0},
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_trust,
    },
    {
        .words = "model release-key",
        .synopsis = "",
        .summary = "print the broker's release-log public key (for the agents' config)",
        .notes = "Copy it into each agent's model_release_key.",
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_release_key,
    },
    {
        .words = "model push",
        .synopsis = "FILE --name N --model-version V --sign KEY... [--site S]... [--label K=V]...\n"
                    "                          [--meta K=V]... [--expires D] [--chunk-size B]\n"
                    "                          [--window N]",
        .summary = "upload a model file, sign its manifest and publish it",
        .notes = "Only the chunks the broker lacks are sent: after an interrupted push, run the\n"
                 "same command again and it continues. Progress goes to stderr (a bar on a\n"
                 "terminal, plain lines otherwise); the result to stdout.",
        .pos_names = {"FILE"},
        .min_pos = 1,
        .max_pos = 1,
        .flags = (const int[]){MODELS_NAME, MODELS_VERSION, MODELS_SIGN, MODELS_SITE, MODELS_LABEL,
                               MODELS_META, MODELS_EXPIRES, MODELS_CHUNK_SIZE, MODELS_WINDOW, 0},
        .reach = FDY_CTL_REACH_BROKER,
        .run = fdy_cmd_model_push,
    },
    {
        .words = "model ls",
        .synopsis = "",
        .summary = "list models: newest version, size, targets, release-log index",
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_ls,
    },
    {
        .words = "model show",
        .synopsis = "NAME[@VERSION]",
        .summary = "show a model's manifest (the newest, or VERSION)",
        .pos_names = {"NAME[@VERSION]"},
        .min_pos = 1,
        .max_pos = 1,
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_show,
    },
    {
        .words = "model log",
        .synopsis = "NAME [--release-key PUB]",
        .summary = "print a model's release log after verifying its signatures and hash chain",
        .notes = "Exit status 1, naming the entry, when an entry is not signed by the release\n"
                 "key or does not extend the one before it (the verified entries are printed).",
        .pos_names = {"NAME"},
        .min_pos = 1,
        .max_pos = 1,
        .flags = (const int[]){MODELS_RELEASE_KEY, 0},
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_log,
    },
    {
        .words = "model rollback",
        .synopsis = "NAME --to VERSION --sign KEY... [--expires D]",
        .summary = "release an earlier version again, as a signed rollback",
        .notes = "The rollback manifest reuses VERSION's artifact and targets; rollback_of is\n"
                 "the current version and its release version is above every one seen, so\n"
                 "agents accept it once and a replay is refused.",
        .pos_names = {"NAME"},
        .min_pos = 1,
        .max_pos = 1,
        .flags = (const int[]){MODELS_TO, MODELS_SIGN, MODELS_EXPIRES, 0},
        .reach = FDY_CTL_REACH_BROKER,
        .run = fdy_cmd_model_rollback,
    },
};

const fdy_ctl_group_t fdy_cmd_models_group = {
    .commands = s_commands,
    .command_count = sizeof s_commands / sizeof s_commands[0],
    .flags = s_flags,
    .flag_count = sizeof s_flags / sizeof s_flags[0],
    .opts_size = sizeof(models_opts_t),
    .opts_set = s_opts_set,
};
