/*  cmd_keys.c: `foundryctl keygen`, `key add|ls|revoke` and `bootstrap`.
 *  Online the broker does the work (admin commands key.*); with --data-dir
 *  we open the store and registry ourselves, which is how the first admin
 *  key gets in before any broker runs. Both paths print the same table
 *  (the columns of the broker's key.ls). Keys themselves live in keys.c.
 */
#include "ctl.h"

#include "config.h"

#include "clock.h"
#include "codec_models.h"
#include "keys.h"
#include "registry.h"
#include "store.h"
#include "subject.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The store defaults of the broker (broker_config.c): offline we must open
 * the environment the way the broker does. */
#define KEYS_MAP_SIZE      (64ull * 1024 * 1024)
#define KEYS_MAP_SIZE_MAX  (16ull * 1024 * 1024 * 1024)
#define KEYS_DEDUPE_WINDOW (2u * 60u * 1000u)
#define KEYS_COLUMNS       13

/* The options of keygen, key add|ls|revoke and bootstrap. */
typedef struct {
    const char *out_dir;              /* keygen --out */
    const char *role;                 /* key add --role */
    const char *site;                 /* key add --site */
    const char *tenant;               /* key add --tenant */
    const char *name;                 /* key add, bootstrap --name */
    const char *data_dir;             /* key add|ls|revoke, bootstrap: work offline on the store */
    const char *allow[FDY_ALLOW_MAX]; /* key add --allow-publish, repeatable */
    size_t allow_count;
    const char *allow_sub[FDY_ALLOW_MAX]; /* key add --allow-subscribe, repeatable */
    size_t allow_sub_count;
    const char *allow_jobs[FDY_ALLOW_MAX]; /* key add --allow-jobs, repeatable */
    size_t allow_jobs_count;
    const char *allow_models[FDY_ALLOW_MAX]; /* key add --allow-models, repeatable */
    size_t allow_models_count;
    const char *rate_msgs;  /* key add --rate-msgs N */
    const char *rate_bytes; /* key add --rate-bytes SIZE */
    bool create_stream;     /* key add --create-stream (cmd_key_changes.c) */
} keys_opts_t;

/* As the broker's key.ls (broker/admin.c), so offline and online output
 * are the same. */
static const char *const s_key_columns[KEYS_COLUMNS] = {
    "name",    "role",       "site",       "tenant",    "allow_publish", "allow_subscribe",
    "revoked", "created_ns", "public_key", "rate_msgs", "rate_bytes", "allow_jobs",
    "allow_models",
};
static const fdy_col_type_t s_key_types[KEYS_COLUMNS] = {
    FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_TEXT,
    FDY_COL_INT,  FDY_COL_INT,  FDY_COL_TEXT, FDY_COL_INT,  FDY_COL_INT, FDY_COL_TEXT,
    FDY_COL_TEXT,
};

/* A table built from principals, owning its cells' text. */
typedef struct {
    fdy_table_t table;
    fdy_slice_t *cells;
    char **row_text;
    size_t rows;
} keys_table_t;

static void
s_keys_table_free(keys_table_t *self)
{
    for (size_t i = 0; i < self->rows; i++)
        free(self->row_text[i]);
    free(self->row_text);
    free(self->cells);
    memset(self, 0, sizeof *self);
}

static fdy_slice_t
s_slice(const char *text)
{
    return (fdy_slice_t){(const uint8_t *) text, strlen(text)};
}

static size_t
s_list_len(char *const *items, size_t count)
{
    size_t len = 1;
    for (size_t i = 0; i < count; i++)
        len += strlen(items[i]) + 1;
    return len;
}

/* Writes items space-separated into out (s_list_len bytes). */
static void
s_list_write(char *out, char *const *items, size_t count)
{
    out[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        if (i > 0)
            strcat(out, " ");
        strcat(out, items[i]);
    }
}

/* Lays out one principal's cells; text is allocated per row because the
 * allow lists and the numbers need room that the principal does not have. */
static foundry_err
s_keys_table_row(keys_table_t *self, size_t row, const fdy_principal_t *p)
{
    size_t allow_len = s_list_len(p->allow_publish, p->allow_count);
    size_t sub_len = s_list_len(p->allow_subscribe, p->allow_subscribe_count);
    size_t jobs_len = s_list_len(p->allow_jobs, p->allow_jobs_count);
    size_t models_len = s_list_len(p->allow_models, p->allow_models_count);
    char *text = malloc(allow_len + 2 + 21 + sub_len + 21 + 21 + jobs_len + models_len);
    if (!text)
        return FOUNDRY_ENOMEM;
    self->row_text[row] = text;
    char *allow = text;
    s_list_write(allow, p->allow_publish, p->allow_count);
    char *revoked = allow + allow_len;
    strcpy(revoked, p->revoked ? "1" : "0");
    char *created = revoked + 2;
    snprintf(created, 21, "%" PRIu64, p->created_ns);
    char *allow_sub = created + 21;
    s_list_write(allow_sub, p->allow_subscribe, p->allow_subscribe_count);
    char *rate_msgs = allow_sub + sub_len;
    snprintf(rate_msgs, 21, "%" PRIu32, p->rate_msgs);
    char *rate_bytes = rate_msgs + 21;
    snprintf(rate_bytes, 21, "%" PRIu64, p->rate_bytes);
    char *allow_jobs = rate_bytes + 21;
    s_list_write(allow_jobs, p->allow_jobs, p->allow_jobs_count);
    char *allow_models = allow_jobs + jobs_len;
    s_list_write(allow_models, p->allow_models, p->allow_models_count);

    fdy_slice_t *cells = &self->cells[row * KEYS_COLUMNS];
    cells[0] = s_slice(p->name);
    cells[1] = s_slice(fdy_role_name(p->role));
    cells[2] = s_slice(p->site);
    cells[3] = s_slice(p->tenant);
    cells[4] = s_slice(allow);
    cells[5] = s_slice(allow_sub);
    cells[6] = s_slice(revoked);
    cells[7] = s_slice(created);
    cells[8] = s_slice(p->public_key);
    cells[9] = s_slice(rate_msgs);
    cells[10] = s_slice(rate_bytes);
    cells[11] = s_slice(allow_jobs);
    cells[12] = s_slice(allow_models);
    return FOUNDRY_OK;
}

static foundry_err
s_keys_table_build(keys_table_t *self, const fdy_principal_t *const *principals, size_t count)
{
    memset(self, 0, sizeof *self);
    self->cells = calloc(count ? count * KEYS_COLUMNS : 1, sizeof *self->cells);
    self->row_text = calloc(count ? count : 1, sizeof *self->row_text);
    if (!self->cells || !self->row_text) {
        s_keys_table_free(self);
        return FOUNDRY_ENOMEM;
    }
    self->rows = count;
    for (size_t row = 0; row < count; row++) {
        if (s_keys_table_row(self, row, principals[row]) != FOUNDRY_OK) {
            s_keys_table_free(self);
            return FOUNDRY_ENOMEM;
        }
    }
    self->table = (fdy_table_t){
        .column_count = KEYS_COLUMNS,
        .columns = s_key_columns,
        .types = s_key_types,
        .row_count = count,
        .cells = self->cells,
    };
    return FOUNDRY_OK;
}

/* ---- offline: the store in --data-dir ------------------------------------ */

typedef struct {
    fdy_store_t *store;
    fdy_registry_t *registry;
} offline_t;

static void
s_offline_close(offline_t *self)
{
    fdy_registry_destroy(&self->registry);
    fdy_store_close(&self->store);
}

/* Opens the store in dir. Only bootstrap may create it: for the other
 * commands a missing directory is far more likely a typo. */
static int
s_offline_open(const char *dir, bool create, bool read_only, offline_t *out)
{
    memset(out, 0, sizeof *out);
    struct stat st;
    if (!create && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)))
        return fdy_output_fail("no data directory %s", dir);
    fdy_store_opts_t opts = {
        .dir = dir,
        .map_size = KEYS_MAP_SIZE,
        .map_size_max = KEYS_MAP_SIZE_MAX,
        .dedupe_window_ms = KEYS_DEDUPE_WINDOW,
        .read_only = read_only,
    };
    fdy_reason_t reason = {{0}};
    foundry_err err = fdy_store_open(&opts, &out->store, &reason);
    if (err != FOUNDRY_OK)
        return fdy_output_fail("cannot open the store in %s: %s", dir,
                               reason.text[0] ? reason.text : foundry_strerror(err));
    err = fdy_registry_new(out->store, &out->registry, &reason);
    if (err != FOUNDRY_OK) {
        s_offline_close(out);
        return fdy_output_fail("cannot load the key store in %s: %s", dir, reason.text);
    }
    return FDY_CTL_EXIT_OK;
}

/* The change is in the store; a running broker must have it in memory
 * before we return, or a client of a revoked key could still get one
 * message in (ctl_confirm.c). --timeout bounds the wait. */
static int
s_confirm_in(const fdy_ctl_args_t *args, const char *data_dir, offline_t *off, const char *where,
             const char *verb, const char *name)
{
    char done[FDY_NAME_MAX + 64], pending[FDY_NAME_MAX + 64];
    snprintf(done, sizeof done, "key %.*s is %s the store", FDY_NAME_MAX, name, where);
    snprintf(pending, sizeof pending, "it %s the key at its next key store refresh", verb);
    return fdy_ctl_confirm_wait(off->store, data_dir, fdy_registry_generation(off->registry),
                                args->timeout_ms, done, pending);
}

static int
s_confirm(const fdy_ctl_args_t *args, offline_t *off, const char *where, const char *verb,
          const char *name)
{
    const keys_opts_t *opts = args->opts;
    return s_confirm_in(args, opts->data_dir, off, where, verb, name);
}

static int
s_print_one(const fdy_principal_t *p, bool json)
{
    keys_table_t table;
    if (s_keys_table_build(&table, &p, 1) != FOUNDRY_OK)
        return fdy_output_fail("out of memory");
    foundry_err err = fdy_output_record(stdout, &table.table, 0, false, json);
    s_keys_table_free(&table);
    return err == FOUNDRY_OK ? FDY_CTL_EXIT_OK : fdy_output_fail("out of memory");
}

/* ---- key add ------------------------------------------------------------ */

/* Checks filters given as flag and copies them into out. Returns an exit
 * status; *out_count counts the copies made, also on failure. */
static int
s_copy_filters(const char *flag, const char *const *filters, size_t count, char **out,
               size_t *out_count)
{
    for (size_t i = 0; i < count; i++) {
        fdy_reason_t reason = {{0}};
        if (fdy_filter_validate(filters[i], &reason) != FOUNDRY_OK)
            return fdy_output_usage("bad %s '%s': %s", flag, filters[i],
                                    reason.text[0] ? reason.text : "invalid filter");
        out[i] = strdup(filters[i]);
        if (!out[i])
            return fdy_output_fail("out of memory");
        *out_count = i + 1;
    }
    return FDY_CTL_EXIT_OK;
}

/* Builds the principal from the arguments and the key file. Caller clears
 * *p (fdy_principal_clear) whatever the result. */
static int
s_principal_from_args(const fdy_ctl_args_t *args, fdy_role_t role, fdy_principal_t *p)
{
    const keys_opts_t *opts = args->opts;
    const char *file = args->pos[0];
    memset(p, 0, sizeof *p);
    p->role = role;
    if (opts->name) {
        if (strlen(opts->name) >= sizeof p->name)
            return fdy_output_usage("--name is longer than %d bytes", FDY_NAME_MAX - 1);
        strcpy(p->name, opts->name);
    } else if (fdy_keys_name_from_path(file, p->name) != FOUNDRY_OK) {
        return fdy_output_usage("cannot take a key name from %s: give --name", file);
    }
    if (opts->site && strlen(opts->site) >= sizeof p->site)
        return fdy_output_usage("--site is longer than %d bytes", FDY_NAME_MAX - 1);
    if (opts->tenant && strlen(opts->tenant) >= sizeof p->tenant)
        return fdy_output_usage("--tenant is longer than %d bytes", FDY_NAME_MAX - 1);
    strcpy(p->site, opts->site ? opts->site : "");
    strcpy(p->tenant, opts->tenant ? opts->tenant : "");
    int status = s_copy_filters("--allow-publish", opts->allow, opts->allow_count, p->allow_publish,
                                &p->allow_count);
    if (status == FDY_CTL_EXIT_OK)
        status = s_copy_filters("--allow-subscribe", opts->allow_sub, opts->allow_sub_count,
                                p->allow_subscribe, &p->allow_subscribe_count);
    for (size_t i = 0; status == FDY_CTL_EXIT_OK && i < opts->allow_jobs_count; i++) {
        fdy_reason_t why = {{0}};
        if (strcmp(opts->allow_jobs[i], "*") != 0 &&
            fdy_site_validate(opts->allow_jobs[i], &why) != FOUNDRY_OK)
            return fdy_output_usage("bad --allow-jobs '%s': %s", opts->allow_jobs[i], why.text);
        p->allow_jobs[i] = strdup(opts->allow_jobs[i]);
        if (!p->allow_jobs[i])
            return fdy_output_fail("out of memory");
        p->allow_jobs_count = i + 1;
    }
    for (size_t i = 0; status == FDY_CTL_EXIT_OK && i < opts->allow_models_count; i++) {
        if (strcmp(opts->allow_models[i], "*") != 0 && !fdy_model_name_ok(opts->allow_models[i]))
            return fdy_output_usage("bad --allow-models '%s': not a model name "
                                    "([a-z0-9][a-z0-9._-]*, at most 64) or *",
                                    opts->allow_models[i]);
        p->allow_models[i] = strdup(opts->allow_models[i]);
        if (!p->allow_models[i])
            return fdy_output_fail("out of memory");
        p->allow_models_count = i + 1;
    }
    if (status != FDY_CTL_EXIT_OK)
        return status;
    fdy_reason_t reason = {{0}};
    uint64_t value = 0;
    if (opts->rate_msgs) {
        if (fdy_config_parse_uint(opts->rate_msgs, &value, &reason) != FOUNDRY_OK ||
            value > UINT32_MAX)
            return fdy_output_usage("--rate-msgs: '%s' is not a number of messages/s",
                                    opts->rate_msgs);
        p->rate_msgs = (uint32_t) value;
    }
    if (opts->rate_bytes) {
        if (fdy_config_parse_size(opts->rate_bytes, &value, &reason) != FOUNDRY_OK)
            return fdy_output_usage("--rate-bytes: %s", reason.text);
        p->rate_bytes = value;
    }
    foundry_err err = fdy_keys_load_public(file, p->public_key, &reason);
    if (err != FOUNDRY_OK) /* keys.c's reasons name the file */
        return reason.text[0]
                   ? fdy_output_fail("%s", reason.text)
                   : fdy_output_fail("cannot read public key %s: %s", file, foundry_strerror(err));
    p->created_ns = fdy_clock_wall_ns();
    return FDY_CTL_EXIT_OK;
}

static int
s_add_offline(const fdy_ctl_args_t *args, const fdy_principal_t *p, bool create)
{
    const keys_opts_t *opts = args->opts;
    offline_t off;
    int status = s_offline_open(opts->data_dir, create, false, &off);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    fdy_reason_t reason = {{0}};
    foundry_err err = fdy_registry_add(off.registry, p, &reason);
    const char *why = reason.text[0] ? reason.text : foundry_strerror(err);
    if (err == FOUNDRY_EEXIST)
        status = reason.text[0] ? fdy_output_fail("%s", why)
                                : fdy_output_fail("key %s is already registered", p->name);
    else if (err == FOUNDRY_EINVAL)
        status = fdy_output_usage("cannot add key %s: %s", p->name, why);
    else if (err != FOUNDRY_OK)
        status = fdy_output_fail("cannot add key %s: %s", p->name, why);
    else {
        const fdy_principal_t *added = fdy_registry_by_name(off.registry, p->name);
        status = s_print_one(added ? added : p, args->json);
    }
    if (status == FDY_CTL_EXIT_OK)
        status = s_confirm(args, &off, "added to", "accepts", p->name);
    s_offline_close(&off);
    return status;
}

static int
s_add_online(const fdy_ctl_args_t *args, const fdy_principal_t *p)
{
    fdy_ctl_argv_t argv = {0};
    foundry_err err = fdy_ctl_argv_add(&argv, "name", p->name);
    if (err == FOUNDRY_OK)
        err = fdy_ctl_argv_add(&argv, "key", p->public_key);
    if (err == FOUNDRY_OK)
        err = fdy_ctl_argv_add(&argv, "role", fdy_role_name(p->role));
    /* An absent site or tenant is left out: the broker's default. */
    if (err == FOUNDRY_OK)
        err = fdy_ctl_argv_add(&argv, "site", p->site[0] ? p->site : NULL);
    if (err == FOUNDRY_OK)
        err = fdy_ctl_argv_add(&argv, "tenant", p->tenant[0] ? p->tenant : NULL);
    for (size_t i = 0; err == FOUNDRY_OK && i < p->allow_count; i++)
        err = fdy_ctl_argv_add(&argv, "allow", p->allow_publish[i]);
    for (size_t i = 0; err == FOUNDRY_OK && i < p->allow_subscribe_count; i++)
        err = fdy_ctl_argv_add(&argv, "allow_sub", p->allow_subscribe[i]);
    for (size_t i = 0; err == FOUNDRY_OK && i < p->allow_jobs_count; i++)
        err = fdy_ctl_argv_add(&argv, "allow_jobs", p->allow_jobs[i]);
    for (size_t i = 0; err == FOUNDRY_OK && i < p->allow_models_count; i++)
        err = fdy_ctl_argv_add(&argv, "allow_models", p->allow_models[i]);
    char number[24];
    if (err == FOUNDRY_OK && p->rate_msgs) {
        snprintf(number, sizeof number, "%" PRIu32, p->rate_msgs);
        err = fdy_ctl_argv_add(&argv, "rate_msgs", number);
    }
    if (err == FOUNDRY_OK && p->rate_bytes) {
        snprintf(number, sizeof number, "%" PRIu64, p->rate_bytes);
        err = fdy_ctl_argv_add(&argv, "rate_bytes", number);
    }
    /* EEXIST: the broker's reason names the key. */
    int status = err == FOUNDRY_OK
                     ? fdy_ctl_conn_run(args, "key.add", &argv, FDY_CTL_SHOW_ROW, NULL)
                     : fdy_output_fail("out of memory");
    fdy_ctl_argv_free(&argv);
    return status;
}

static int
s_add(const fdy_ctl_args_t *args)
{
    const keys_opts_t *opts = args->opts;
    if (!opts->role)
        return fdy_output_usage("key add needs --role (node, partner, admin or link)");
    fdy_role_t role;
    if (fdy_role_parse(opts->role, &role) != FOUNDRY_OK)
        return fdy_output_usage("unknown role %s (node, partner, admin or link)", opts->role);
    fdy_principal_t p;
    int status = s_principal_from_args(args, role, &p);
    if (status == FDY_CTL_EXIT_OK)
        status = fdy_ctl_key_read_back(&p);
    /* Online only: the checks ask the broker which streams it has. */
    if (status == FDY_CTL_EXIT_OK && !opts->data_dir)
        status = fdy_ctl_key_publish_check(args, &p, opts->create_stream,
                                           ", or add the key with --create-stream");
    if (status == FDY_CTL_EXIT_OK)
        status = opts->data_dir ? s_add_offline(args, &p, false) : s_add_online(args, &p);
    if (status == FDY_CTL_EXIT_OK && !opts->data_dir)
        fdy_ctl_key_added_notes(args, &p);
    fdy_principal_clear(&p);
    return status;
}

static int
s_bootstrap(const fdy_ctl_args_t *args)
{
    const keys_opts_t *opts = args->opts;
    if (!opts->data_dir)
        return fdy_output_usage("bootstrap needs --data-dir DIR (the broker's data directory)");
    fdy_principal_t p;
    int status = s_principal_from_args(args, FDY_ROLE_ADMIN, &p);
    if (status == FDY_CTL_EXIT_OK)
        status = s_add_offline(args, &p, true);
    fdy_principal_clear(&p);
    return status;
}

/* ---- key ls, key revoke ------------------------------------------------- */

static int
s_ls_offline(const fdy_ctl_args_t *args)
{
    const keys_opts_t *opts = args->opts;
    offline_t off;
    int status = s_offline_open(opts->data_dir, false, true, &off);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    size_t count = fdy_registry_count(off.registry);
    const fdy_principal_t **principals = calloc(count ? count : 1, sizeof *principals);
    keys_table_t table;
    if (!principals) {
        status = fdy_output_fail("out of memory");
        goto out;
    }
    for (size_t i = 0; i < count; i++)
        principals[i] = fdy_registry_at(off.registry, i);
    if (s_keys_table_build(&table, principals, count) != FOUNDRY_OK) {
        status = fdy_output_fail("out of memory");
        goto out;
    }
    if (fdy_output_table(stdout, &table.table, args->json) != FOUNDRY_OK)
        status = fdy_output_fail("out of memory");
    s_keys_table_free(&table);
out:
    free(principals);
    s_offline_close(&off);
    return status;
}

static int
s_ls(const fdy_ctl_args_t *args)
{
    const keys_opts_t *opts = args->opts;
    if (opts->data_dir)
        return s_ls_offline(args);
    return fdy_ctl_conn_run(args, "key.ls", NULL, FDY_CTL_SHOW_TABLE, NULL);
}

static int
s_revoke_offline(const fdy_ctl_args_t *args, const char *name)
{
    const keys_opts_t *opts = args->opts;
    offline_t off;
    int status = s_offline_open(opts->data_dir, false, false, &off);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    fdy_reason_t reason = {{0}};
    foundry_err err = fdy_registry_revoke(off.registry, name, &reason);
    const fdy_principal_t *p = fdy_registry_by_name(off.registry, name);
    if (err == FOUNDRY_ENOTFOUND)
        status = fdy_output_fail("no key named %s", name);
    else if (err != FOUNDRY_OK)
        status = fdy_output_fail("cannot revoke key %s: %s", name,
                                 reason.text[0] ? reason.text : foundry_strerror(err));
    else if (!p)
        status = fdy_output_fail("key %s vanished while revoking it", name);
    else
        status = s_print_one(p, args->json);
    if (status == FDY_CTL_EXIT_OK)
        status = s_confirm(args, &off, "revoked in", "refuses", name);
    s_offline_close(&off);
    return status;
}

/* key rotate --data-dir: the broker's key.rotate on the store itself. */
int
fdy_ctl_key_rotate_offline(const fdy_ctl_args_t *args, const char *data_dir, const char *name,
                           const char *public_key)
{
    offline_t off;
    int status = s_offline_open(data_dir, false, false, &off);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    fdy_reason_t reason = {{0}};
    const fdy_principal_t *old = fdy_registry_by_name(off.registry, name);
    foundry_err err = FOUNDRY_OK;
    if (!old) {
        status = fdy_output_fail("no key named %s", name);
    } else if (strcmp(old->public_key, public_key) == 0) {
        status = fdy_output_fail("key %s already has that public key: rotate to a new one", name);
    } else {
        fdy_principal_t p = *old; /* lists borrowed from the registry through the replace */
        snprintf(p.public_key, sizeof p.public_key, "%s", public_key);
        err = fdy_registry_replace(off.registry, &p, &reason);
        if (err != FOUNDRY_OK)
            status = fdy_output_fail("cannot rotate key %s: %s", name,
                                     reason.text[0] ? reason.text : foundry_strerror(err));
    }
    const fdy_principal_t *now = fdy_registry_by_name(off.registry, name);
    if (status == FDY_CTL_EXIT_OK)
        status = now ? s_print_one(now, args->json)
                     : fdy_output_fail("key %s vanished while rotating it", name);
    if (status == FDY_CTL_EXIT_OK)
        status = s_confirm_in(args, data_dir, &off, "rotated in", "refuses the old public of",
                              name);
    s_offline_close(&off);
    return status;
}

/* key rm --data-dir: the broker's key.rm on the store itself. */
int
fdy_ctl_key_rm_offline(const fdy_ctl_args_t *args, const char *data_dir, const char *name)
{
    offline_t off;
    int status = s_offline_open(data_dir, false, false, &off);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    /* The row as it was, built from a copy before the removal frees the
     * record (the lists are rendered into the table's own text). */
    const fdy_principal_t *p = fdy_registry_by_name(off.registry, name);
    fdy_principal_t copy;
    const fdy_principal_t *row = &copy;
    keys_table_t table;
    bool built = false;
    if (p)
        copy = *p;
    if (!p)
        status = fdy_output_fail("no key named %s", name);
    else if (s_keys_table_build(&table, &row, 1) != FOUNDRY_OK)
        status = fdy_output_fail("out of memory");
    else
        built = true;
    fdy_reason_t reason = {{0}};
    foundry_err err =
        status == FDY_CTL_EXIT_OK ? fdy_registry_remove(off.registry, name, &reason) : FOUNDRY_OK;
    if (err != FOUNDRY_OK)
        status = fdy_output_fail("cannot remove key %s: %s", name,
                                 reason.text[0] ? reason.text : foundry_strerror(err));
    if (status == FDY_CTL_EXIT_OK &&
        fdy_output_record(stdout, &table.table, 0, false, args->json) != FOUNDRY_OK)
        status = fdy_output_fail("out of memory");
    if (built)
        s_keys_table_free(&table);
    if (status == FDY_CTL_EXIT_OK)
        status = s_confirm_in(args, data_dir, &off, "removed from", "forgets", name);
    s_offline_close(&off);
    return status;
}

static int
s_revoke(const fdy_ctl_args_t *args)
{
    const keys_opts_t *opts = args->opts;
    const char *name = args->pos[0];
    if (opts->data_dir)
        return s_revoke_offline(args, name);
    /* Our own message rather than the broker's reason (which quotes the
     * name): the same as the offline path's. */
    size_t len = strlen(name) + sizeof "no key named ";
    char *not_found = malloc(len);
    fdy_ctl_argv_t argv = {0};
    int status;
    if (!not_found || fdy_ctl_argv_add(&argv, "name", name) != FOUNDRY_OK) {
        status = fdy_output_fail("out of memory");
    } else {
        snprintf(not_found, len, "no key named %s", name);
        status = fdy_ctl_conn_run(args, "key.revoke", &argv, FDY_CTL_SHOW_ROW, not_found);
    }
    free(not_found);
    fdy_ctl_argv_free(&argv);
    return status;
}

/* ---- keygen ------------------------------------------------------------- */

static int
s_keygen(const fdy_ctl_args_t *args)
{
    const keys_opts_t *opts = args->opts;
    const char *name = args->pos[0];
    const char *dir = opts->out_dir ? opts->out_dir : ".";
    fdy_reason_t reason = {{0}};
    foundry_err err = fdy_keys_generate(dir, name, &reason);
    const char *why = reason.text[0] ? reason.text : foundry_strerror(err);
    if (err == FOUNDRY_EINVAL)
        return reason.text[0] ? fdy_output_usage("%s", why)
                              : fdy_output_usage("bad key name '%s'", name);
    if (err == FOUNDRY_EEXIST)
        return fdy_output_fail("%s", reason.text[0] ? why : "key files exist; not overwriting");
    if (err != FOUNDRY_OK)
        return fdy_output_fail("cannot write keys for %s in %s: %s", name, dir, why);

    size_t len = strlen(dir) + strlen(name) + sizeof "/.key_secret";
    char *public_path = malloc(len);
    char *secret_path = malloc(len);
    int status = FDY_CTL_EXIT_OK;
    if (!public_path || !secret_path) {
        status = fdy_output_fail("out of memory");
        goto out;
    }
    snprintf(public_path, len, "%s/%s.key", dir, name);
    snprintf(secret_path, len, "%s/%s.key_secret", dir, name);
    if (args->json) {
        fputs("{\"public\":", stdout);
        fdy_output_json_string(stdout, public_path, strlen(public_path));
        fputs(",\"secret\":", stdout);
        fdy_output_json_string(stdout, secret_path, strlen(secret_path));
        fputs("}\n", stdout);
    } else {
        printf("%s\n%s\n", public_path, secret_path);
    }
out:
    free(public_path);
    free(secret_path);
    return status;
}

/* ---- the group ---------------------------------------------------------- */

enum {
    KEYS_OUT = 1,
    KEYS_ROLE,
    KEYS_SITE,
    KEYS_TENANT,
    KEYS_ALLOW,
    KEYS_ALLOW_SUB,
    KEYS_NAME,
    KEYS_DATA_DIR,
    KEYS_RATE_MSGS,
    KEYS_RATE_BYTES,
    KEYS_ALLOW_JOBS,
    KEYS_ALLOW_MODELS,
    KEYS_CREATE_STREAM,
};

static const fdy_ctl_flag_t s_flags[] = {
    {"--out", "DIR", KEYS_OUT, false, "directory for the key files (default: the current one)"},
    {"--role", "ROLE", KEYS_ROLE, false, "node, partner, admin or link (required)"},
    {"--site", "SITE", KEYS_SITE, false, "the site of a node key, e.g. pangyo"},
    {"--tenant", "TENANT", KEYS_TENANT, false, "the tenant (company) of a partner key"},
    {"--allow-publish", "FILTER", KEYS_ALLOW, true,
     "subject filter it may publish to (* a token, > the rest); repeatable"},
    {"--allow-subscribe", "FILTER", KEYS_ALLOW_SUB, true,
     "subject filter it may read (subscribe to); repeatable"},
    {"--allow-jobs", "SITE", KEYS_ALLOW_JOBS, true,
     "site it may submit jobs to (* any site); repeatable; none: no job submits"},
    {"--allow-models", "NAME", KEYS_ALLOW_MODELS, true,
     "model name it may upload and publish (* any name); repeatable; none: no models"},
    {"--name", "NAME", KEYS_NAME, false, "key name (default: the file name without .key)"},
    {"--rate-msgs", "N", KEYS_RATE_MSGS, false,
     "messages/s it may publish (default: its role's rate_msgs_<role>)"},
    {"--rate-bytes", "SIZE", KEYS_RATE_BYTES, false,
     "bytes/s it may publish, e.g. 8MiB (default: its role's rate_bytes_<role>)"},
    {"--data-dir", "DIR", KEYS_DATA_DIR, false,
     "offline: work on the store in DIR, no broker needed"},
    {"--create-stream", NULL, KEYS_CREATE_STREAM, false,
     "partner: create stream tenant-<tenant> for publish filters no stream captures"},
};

/* Filters are checked when the principal is built (s_copy_filters), after
 * the role: a missing --role is the first thing to hear about. */
static int
s_opts_set(void *opts, const fdy_ctl_flag_t *flag, const char *value)
{
    keys_opts_t *self = opts;
    switch (flag->id) {
    case KEYS_OUT: self->out_dir = value; break;
    case KEYS_ROLE: self->role = value; break;
    case KEYS_SITE: self->site = value; break;
    case KEYS_TENANT: self->tenant = value; break;
    case KEYS_NAME: self->name = value; break;
    case KEYS_DATA_DIR: self->data_dir = value; break;
    case KEYS_RATE_MSGS: self->rate_msgs = value; break;
    case KEYS_RATE_BYTES: self->rate_bytes = value; break;
    case KEYS_CREATE_STREAM: self->create_stream = true; break;
    case KEYS_ALLOW:
        if (self->allow_count == FDY_ALLOW_MAX)
            return fdy_output_usage("at most %d --allow-publish filters", FDY_ALLOW_MAX);
        self->allow[self->allow_count++] = value;
        break;
    case KEYS_ALLOW_JOBS:
        if (self->allow_jobs_count == FDY_ALLOW_MAX)
            return fdy_output_usage("at most %d --allow-jobs sites", FDY_ALLOW_MAX);
        self->allow_jobs[self->allow_jobs_count++] = value;
        break;
    case KEYS_ALLOW_MODELS:
        if (self->allow_models_count == FDY_ALLOW_MAX)
            return fdy_output_usage("at most %d --allow-models names", FDY_ALLOW_MAX);
        self->allow_models[self->allow_models_count++] = value;
        break;
    case KEYS_ALLOW_SUB:
        if (self->allow_sub_count == FDY_ALLOW_MAX)
            return fdy_output_usage("at most %d --allow-subscribe filters", FDY_ALLOW_MAX);
        self->allow_sub[self->allow_sub_count++] = value;
        break;
    default: break;
    }
    return FDY_CTL_EXIT_OK;
}

static const fdy_ctl_cmd_t s_commands[] = {
    {
        .words = "keygen",
        .synopsis = "NAME [--out DIR]",
        .summary = "generate a CURVE key pair: DIR/NAME.key, DIR/NAME.key_secret",
        .notes = "Prints the two paths written. Refuses to overwrite existing files.\n"
                 "The secret file is created with mode 0600.",
        .pos_names = {"NAME"},
        .min_pos = 1,
        .max_pos = 1,
        .flags = (const int[]){KEYS_OUT, 0},
        .reach = FDY_CTL_REACH_LOCAL,
        .run = s_keygen,
    },
    {
        .words = "key add",
        .synopsis = "PUBFILE --role ROLE [--site SITE] [--tenant TENANT]\n"
                    "                          [--allow-publish FILTER]... "
                    "[--allow-subscribe FILTER]...\n"
                    "                          [--allow-jobs SITE]... "
                    "[--allow-models NAME]...\n"
                    "                          "
                    "[--rate-msgs N] [--rate-bytes SIZE]\n"
                    "                          [--name NAME] [--data-dir DIR] [--create-stream]",
        .summary = "register a public key (NAME.key) with a role",
        .notes = "The key's name is the file name without .key unless --name is given.\n"
                 "With --data-dir the key is written to the store directly (no broker needed);\n"
                 "a broker running on DIR must confirm it within --timeout, else exit 1.\n"
                 "Reading: admin and link keys may read everything, a node key\n"
                 "telemetry.<site>.> and its --allow-subscribe filters, a partner key only\n"
                 "its --allow-subscribe filters.\n"
                 "Jobs: admins may submit anywhere, partner and node keys only to the\n"
                 "sites of their --allow-jobs (* for any site).\n"
                 "Models: admins may publish any model, partner keys only the names of\n"
                 "their --allow-models (* for any name); node keys never.\n"
                 "A partner key's publish filters must be captured by a stream: else it is\n"
                 "refused with the `stream add` to run, or --create-stream creates\n"
                 "tenant-<tenant>. A partner key without grants and a node key for a site\n"
                 "no stream holds get a note on stderr.\n"
                 "Prints the key's row, as key ls does.",
        .pos_names = {"PUBFILE"},
        .min_pos = 1,
        .max_pos = 1,
        .flags = (const int[]){KEYS_ROLE, KEYS_SITE, KEYS_TENANT, KEYS_ALLOW, KEYS_ALLOW_SUB,
                               KEYS_ALLOW_JOBS, KEYS_ALLOW_MODELS, KEYS_RATE_MSGS,
                               KEYS_RATE_BYTES, KEYS_NAME, KEYS_DATA_DIR, KEYS_CREATE_STREAM, 0},
        .reach = FDY_CTL_REACH_DATA_DIR,
        .run = s_add,
    },
    {
        .words = "key ls",
        .synopsis = "[--data-dir DIR]",
        .summary = "list registered keys, revoked ones included",
        .notes = "Columns: name role site tenant allow_publish allow_subscribe revoked\n"
                 "created_ns public_key.",
        .flags = (const int[]){KEYS_DATA_DIR, 0},
        .reach = FDY_CTL_REACH_DATA_DIR,
        .run = s_ls,
    },
    {
        .words = "key revoke",
        .synopsis = "NAME [--data-dir DIR]",
        .summary = "revoke a key: its next message is refused",
        .notes = "Prints the key's row (revoked 1). A running broker refuses the key at once.\n"
                 "With --data-dir the store is changed directly; if a broker runs on DIR the\n"
                 "command returns only once that broker confirms it refuses the key, and\n"
                 "exits 1 if it does not confirm within --timeout (the key stays revoked).",
        .pos_names = {"NAME"},
        .min_pos = 1,
        .max_pos = 1,
        .flags = (const int[]){KEYS_DATA_DIR, 0},
        .reach = FDY_CTL_REACH_DATA_DIR,
        .run = s_revoke,
    },
    {
        .words = "bootstrap",
        .synopsis = "--data-dir DIR ADMIN_PUBFILE [--name NAME]",
        .summary = "register the first admin key in a broker's data directory, offline",
        .notes = "Same as: key add ADMIN_PUBFILE --role admin --data-dir DIR. Creates the\n"
                 "store if it does not exist yet; works while the broker runs, too (and then\n"
                 "returns once the broker confirms it, within --timeout).",
        .pos_names = {"ADMIN_PUBFILE"},
        .min_pos = 1,
        .max_pos = 1,
        .flags = (const int[]){KEYS_NAME, KEYS_DATA_DIR, 0},
        .reach = FDY_CTL_REACH_LOCAL,
        .run = s_bootstrap,
    },
};

const fdy_ctl_group_t fdy_cmd_keys_group = {
    .commands = s_commands,
    .command_count = sizeof s_commands / sizeof s_commands[0],
    .flags = s_flags,
    .flag_count = sizeof s_flags / sizeof s_flags[0],
    .opts_size = sizeof(keys_opts_t),
    .opts_set = s_opts_set,
};
