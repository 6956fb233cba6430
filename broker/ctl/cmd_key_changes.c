/*  cmd_key_changes.c: `foundryctl key edit|rotate|rm`, which change a
 *  registered key in place (the broker's key.edit, key.rotate, key.rm), and
 *  the checks key add runs around registration: a partner key without
 *  grants, publish rights no stream captures (refused with the exact
 *  `stream add` to run, or --create-stream), a node key for a site no
 *  stream holds. Registration itself is cmd_keys.c's.
 */
#include "ctl.h"

#include "keys.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *site;
    const char *tenant;
    const char *allow[FDY_ALLOW_MAX]; /* "none" clears */
    size_t allow_count;
    const char *allow_sub[FDY_ALLOW_MAX];
    size_t allow_sub_count;
    const char *allow_jobs[FDY_ALLOW_MAX];
    size_t allow_jobs_count;
    const char *allow_models[FDY_ALLOW_MAX];
    size_t allow_models_count;
    const char *rate_msgs;
    const char *rate_bytes;
    const char *data_dir; /* rotate, rm: work offline on the store */
} key_changes_opts_t;

/* A list flag given as "none" alone clears the list: "allow=" on the wire. */
static foundry_err
s_add_list(fdy_ctl_argv_t *argv, const char *key, const char *const *values, size_t count)
{
    if (count == 1 && strcmp(values[0], "none") == 0)
        return fdy_ctl_argv_add(argv, key, "");
    foundry_err err = FOUNDRY_OK;
    for (size_t i = 0; err == FOUNDRY_OK && i < count; i++)
        err = fdy_ctl_argv_add(argv, key, values[i]);
    return err;
}

static int
s_check_list(const char *flag, const char *const *values, size_t count, bool filters)
{
    if (count == 1 && strcmp(values[0], "none") == 0)
        return FDY_CTL_EXIT_OK;
    for (size_t i = 0; i < count; i++) {
        if (strcmp(values[i], "none") == 0)
            return fdy_output_usage("%s none clears the list: give it alone", flag);
        int status = filters ? fdy_ctl_args_check_filter(flag, values[i]) : FDY_CTL_EXIT_OK;
        if (status != FDY_CTL_EXIT_OK)
            return status;
    }
    return FDY_CTL_EXIT_OK;
}

/* Copies cell (row, column name) of table into out; "" when absent. */
static void
s_cell_copy(const fdy_table_t *table, size_t row, const char *column, char *out, size_t size)
{
    out[0] = '\0';
    long col = fdy_output_column(table, column);
    if (col < 0)
        return;
    const fdy_slice_t *cell = &table->cells[row * table->column_count + (size_t) col];
    snprintf(out, size, "%.*s", (int) cell->len, (const char *) cell->data);
}

/* What key edit learns of the key from the broker's key table. */
typedef struct {
    bool partner;
    /* its allow_subscribe cell (filters joined by spaces), for read-back */
    char reads[FDY_ALLOW_MAX * (FOUNDRY_SUBJECT_MAX + 1)];
} edit_key_t;

/* New publish rights for a partner need a stream, as at key add: the role
 * and tenant come from the broker's key table. */
static int
s_edit_publish_check(const fdy_ctl_args_t *args, edit_key_t *key)
{
    const key_changes_opts_t *o = args->opts;
    if (o->allow_count == 0 || strcmp(o->allow[0], "none") == 0)
        return FDY_CTL_EXIT_OK;
    fdy_ctl_conn_t *conn = NULL;
    int status = fdy_ctl_conn_open(args, &conn);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    fdy_table_t table;
    fdy_reason_t reason = {{0}};
    foundry_err err = fdy_ctl_conn_admin(conn, "key.ls", NULL, 0, &table, &reason);
    fdy_principal_t p;
    memset(&p, 0, sizeof p);
    if (err != FOUNDRY_OK)
        status = fdy_ctl_conn_report(conn, err, &reason);
    for (size_t row = 0; status == FDY_CTL_EXIT_OK && row < table.row_count; row++) {
        char name[FDY_NAME_MAX], role[16];
        s_cell_copy(&table, row, "name", name, sizeof name);
        if (strcmp(name, args->pos[0]) != 0)
            continue;
        s_cell_copy(&table, row, "role", role, sizeof role);
        key->partner = strcmp(role, "partner") == 0;
        snprintf(p.name, sizeof p.name, "%s", name);
        s_cell_copy(&table, row, "tenant", p.tenant, sizeof p.tenant);
        s_cell_copy(&table, row, "allow_subscribe", key->reads, sizeof key->reads);
    }
    fdy_ctl_conn_destroy(&conn);
    if (status != FDY_CTL_EXIT_OK || !key->partner)
        return status; /* an unknown key: key.edit says so */
    if (o->tenant)
        snprintf(p.tenant, sizeof p.tenant, "%s", o->tenant);
    p.role = FDY_ROLE_PARTNER;
    /* borrowed, only read by the check; p is never cleared */
    for (size_t i = 0; i < o->allow_count; i++)
        p.allow_publish[i] = (char *) o->allow[i];
    p.allow_count = o->allow_count;
    return fdy_ctl_key_publish_check(args, &p, false, NULL);
}

/* A partner reads back what it may publish, as at key add: the read
 * filters sent are the given ones (or the key's, split out of key->reads)
 * plus every new publish filter none of them covers. *changed: whether
 * allow_sub must be sent at all. */
static int
s_edit_reads(const key_changes_opts_t *o, edit_key_t *key, const char **reads, size_t *count,
             bool *changed)
{
    *count = 0;
    *changed = o->allow_sub_count > 0;
    if (o->allow_sub_count && strcmp(o->allow_sub[0], "none") != 0) {
        for (size_t i = 0; i < o->allow_sub_count; i++)
            reads[(*count)++] = o->allow_sub[i];
    } else if (!o->allow_sub_count) {
        char *save = NULL;
        for (char *f = strtok_r(key->reads, " ", &save); f && *count < FDY_ALLOW_MAX;
             f = strtok_r(NULL, " ", &save))
            reads[(*count)++] = f;
    }
    if (!key->partner || o->allow_count == 0 || strcmp(o->allow[0], "none") == 0)
        return FDY_CTL_EXIT_OK;
    for (size_t i = 0; i < o->allow_count; i++) {
        bool covered = false;
        for (size_t k = 0; k < *count && !covered; k++)
            covered = fdy_ctl_filter_covers(reads[k], o->allow[i]);
        if (covered)
            continue;
        if (*count == FDY_ALLOW_MAX)
            return fdy_output_usage("at most %d --allow-subscribe filters, counting the "
                                    "--allow-publish ones a partner reads back",
                                    FDY_ALLOW_MAX);
        reads[(*count)++] = o->allow[i];
        *changed = true;
    }
    return FDY_CTL_EXIT_OK;
}

static int
s_edit(const fdy_ctl_args_t *args)
{
    const key_changes_opts_t *o = args->opts;
    if (!o->site && !o->tenant && !o->allow_count && !o->allow_sub_count && !o->allow_jobs_count &&
        !o->allow_models_count && !o->rate_msgs && !o->rate_bytes)
        return fdy_output_usage("key edit needs something to change: --allow-publish, "
                                "--allow-subscribe, --allow-jobs, --allow-models, --site, "
                                "--tenant, --rate-msgs or --rate-bytes");
    int status = s_check_list("--allow-publish", o->allow, o->allow_count, true);
    if (status == FDY_CTL_EXIT_OK)
        status = s_check_list("--allow-subscribe", o->allow_sub, o->allow_sub_count, true);
    if (status == FDY_CTL_EXIT_OK)
        status = s_check_list("--allow-jobs", o->allow_jobs, o->allow_jobs_count, false);
    if (status == FDY_CTL_EXIT_OK)
        status = s_check_list("--allow-models", o->allow_models, o->allow_models_count, false);
    edit_key_t key;
    memset(&key, 0, sizeof key);
    if (status == FDY_CTL_EXIT_OK)
        status = s_edit_publish_check(args, &key);
    const char *reads[FDY_ALLOW_MAX];
    size_t read_count = 0;
    bool reads_changed = false;
    if (status == FDY_CTL_EXIT_OK)
        status = s_edit_reads(o, &key, reads, &read_count, &reads_changed);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    fdy_ctl_argv_t argv = {0};
    foundry_err err = fdy_ctl_argv_add(&argv, "name", args->pos[0]);
    if (err == FOUNDRY_OK)
        err = fdy_ctl_argv_add(&argv, "site", o->site);
    if (err == FOUNDRY_OK)
        err = fdy_ctl_argv_add(&argv, "tenant", o->tenant);
    if (err == FOUNDRY_OK)
        err = s_add_list(&argv, "allow", o->allow, o->allow_count);
    if (err == FOUNDRY_OK && reads_changed)
        err = read_count ? s_add_list(&argv, "allow_sub", reads, read_count)
                         : fdy_ctl_argv_add(&argv, "allow_sub", "");
    if (err == FOUNDRY_OK)
        err = s_add_list(&argv, "allow_jobs", o->allow_jobs, o->allow_jobs_count);
    if (err == FOUNDRY_OK)
        err = s_add_list(&argv, "allow_models", o->allow_models, o->allow_models_count);
    if (err == FOUNDRY_OK)
        err = fdy_ctl_argv_add(&argv, "rate_msgs", o->rate_msgs);
    if (err == FOUNDRY_OK)
        err = fdy_ctl_argv_add(&argv, "rate_bytes", o->rate_bytes);
    status = err == FOUNDRY_OK ? fdy_ctl_conn_run(args, "key.edit", &argv, FDY_CTL_SHOW_ROW, NULL)
                               : fdy_output_fail("out of memory");
    fdy_ctl_argv_free(&argv);
    return status;
}

static int
s_rotate(const fdy_ctl_args_t *args)
{
    char public_key[FDY_Z85_KEY_LEN + 1];
    fdy_reason_t reason = {{0}};
    foundry_err err = fdy_keys_load_public(args->pos[1], public_key, &reason);
    if (err != FOUNDRY_OK)
        return reason.text[0] ? fdy_output_fail("%s", reason.text)
                              : fdy_output_fail("cannot read public key %s: %s", args->pos[1],
                                                foundry_strerror(err));
    const key_changes_opts_t *o = args->opts;
    if (o->data_dir)
        return fdy_ctl_key_rotate_offline(args, o->data_dir, args->pos[0], public_key);
    fdy_ctl_argv_t argv = {0};
    err = fdy_ctl_argv_add(&argv, "name", args->pos[0]);
    if (err == FOUNDRY_OK)
        err = fdy_ctl_argv_add(&argv, "key", public_key);
    int status = err == FOUNDRY_OK
                     ? fdy_ctl_conn_run(args, "key.rotate", &argv, FDY_CTL_SHOW_ROW, NULL)
                     : fdy_output_fail("out of memory");
    fdy_ctl_argv_free(&argv);
    return status;
}

static int
s_rm(const fdy_ctl_args_t *args)
{
    int status = fdy_ctl_prompt_confirm(args, "forget revoked key %s for good?", args->pos[0]);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    const key_changes_opts_t *o = args->opts;
    if (o->data_dir)
        return fdy_ctl_key_rm_offline(args, o->data_dir, args->pos[0]);
    fdy_ctl_argv_t argv = {0};
    status = fdy_ctl_argv_add(&argv, "name", args->pos[0]) == FOUNDRY_OK
                 ? fdy_ctl_conn_run(args, "key.rm", &argv, FDY_CTL_SHOW_ROW, NULL)
                 : fdy_output_fail("out of memory");
    fdy_ctl_argv_free(&argv);
    return status;
}

/* ---- the checks around key add ---------------------------------------- */

/* The stream a tenant's publish rights get: "tenant-<tenant>", or
 * "tenant-<key name>" for a partner without a tenant. */
static void
s_tenant_stream(const fdy_principal_t *p, char *out, size_t size)
{
    /* cut to a stream name's length: tenant names may be longer */
    const char *who = p->tenant[0] ? p->tenant : p->name;
    int room = (int) size - 1 - (int) strlen("tenant-");
    snprintf(out, size, "tenant-%.*s", room > 0 ? room : 0, who);
}

int
fdy_ctl_key_publish_check(const fdy_ctl_args_t *args, const fdy_principal_t *p, bool create_stream,
                          const char *alternative)
{
    if (p->role != FDY_ROLE_PARTNER || p->allow_count == 0)
        return FDY_CTL_EXIT_OK;
    fdy_ctl_conn_t *conn = NULL;
    int status = fdy_ctl_conn_open(args, &conn);
    const char *missing[FDY_ALLOW_MAX];
    size_t missing_count = 0;
    for (size_t i = 0; status == FDY_CTL_EXIT_OK && i < p->allow_count; i++) {
        char stream[FOUNDRY_STREAM_NAME_MAX + 1], filter[FOUNDRY_SUBJECT_MAX + 1];
        bool found = false;
        status = fdy_ctl_streams_capturing(conn, p->allow_publish[i], stream, sizeof stream, filter,
                                           sizeof filter, &found);
        if (status == FDY_CTL_EXIT_OK && !found)
            missing[missing_count++] = p->allow_publish[i];
    }
    if (status != FDY_CTL_EXIT_OK || missing_count == 0) {
        fdy_ctl_conn_destroy(&conn);
        return status;
    }
    char name[FOUNDRY_STREAM_NAME_MAX + 1 + FDY_NAME_MAX];
    s_tenant_stream(p, name, FOUNDRY_STREAM_NAME_MAX + 1);
    if (!create_stream) {
        char command[2048];
        size_t used = (size_t) snprintf(command, sizeof command, "foundryctl stream add %s", name);
        for (size_t i = 0; i < missing_count && used < sizeof command; i++)
            used += (size_t) snprintf(command + used, sizeof command - used, " --subject '%s'",
                                      missing[i]);
        fdy_ctl_conn_destroy(&conn);
        return fdy_output_fail("no stream captures %s, so key %s could publish nothing there; "
                               "run `%s` first%s",
                               missing[0], p->name, command, alternative ? alternative : "");
    }
    fdy_ctl_argv_t argv = {0};
    foundry_err err = fdy_ctl_argv_add(&argv, "name", name);
    for (size_t i = 0; err == FOUNDRY_OK && i < missing_count; i++)
        err = fdy_ctl_argv_add(&argv, "filter", missing[i]);
    fdy_table_t table;
    fdy_reason_t reason = {{0}};
    if (err != FOUNDRY_OK)
        status = fdy_output_fail("out of memory");
    else if ((err = fdy_ctl_conn_admin(conn, "stream.add", (const char *const *) argv.argv,
                                       argv.argc, &table, &reason)) != FOUNDRY_OK)
        status = fdy_output_fail("creating stream %s for key %s: %s", name, p->name,
                                 reason.text[0] ? reason.text : foundry_strerror(err));
    else
        fdy_output_note("created stream %s for %s's publish rights", name, p->name);
    fdy_ctl_argv_free(&argv);
    /* and a durable consumer the partner reads it back through (creating
     * consumers is for admins; binding to one is not) */
    fdy_ctl_argv_t consumer = {0};
    err = status == FDY_CTL_EXIT_OK ? fdy_ctl_argv_add(&consumer, "stream", name) : FOUNDRY_OK;
    if (status == FDY_CTL_EXIT_OK && err == FOUNDRY_OK)
        err = fdy_ctl_argv_add(&consumer, "name", p->name);
    if (status == FDY_CTL_EXIT_OK && err != FOUNDRY_OK)
        status = fdy_output_fail("out of memory");
    else if (status == FDY_CTL_EXIT_OK &&
             (err = fdy_ctl_conn_admin(conn, "consumer.add", (const char *const *) consumer.argv,
                                       consumer.argc, &table, &reason)) != FOUNDRY_OK)
        status = fdy_output_fail("creating consumer %s on stream %s: %s", p->name, name,
                                 reason.text[0] ? reason.text : foundry_strerror(err));
    else if (status == FDY_CTL_EXIT_OK)
        fdy_output_note("created consumer %s on %s: the partner reads back with `sub --stream "
                        "%s --consumer %s`",
                        p->name, name, name, p->name);
    fdy_ctl_argv_free(&consumer);
    fdy_ctl_conn_destroy(&conn);
    return status;
}

int
fdy_ctl_key_read_back(fdy_principal_t *p)
{
    if (p->role != FDY_ROLE_PARTNER)
        return FDY_CTL_EXIT_OK;
    for (size_t i = 0; i < p->allow_count; i++) {
        bool covered = false;
        for (size_t k = 0; k < p->allow_subscribe_count && !covered; k++)
            covered = fdy_ctl_filter_covers(p->allow_subscribe[k], p->allow_publish[i]);
        if (covered)
            continue;
        if (p->allow_subscribe_count == FDY_ALLOW_MAX)
            return fdy_output_usage("at most %d --allow-subscribe filters, counting the "
                                    "--allow-publish ones a partner reads back",
                                    FDY_ALLOW_MAX);
        p->allow_subscribe[p->allow_subscribe_count] = strdup(p->allow_publish[i]);
        if (!p->allow_subscribe[p->allow_subscribe_count])
            return fdy_output_fail("out of memory");
        p->allow_subscribe_count++;
    }
    return FDY_CTL_EXIT_OK;
}

void
fdy_ctl_key_added_notes(const fdy_ctl_args_t *args, const fdy_principal_t *p)
{
    if (p->role == FDY_ROLE_PARTNER && p->allow_count == 0 && p->allow_subscribe_count == 0 &&
        p->allow_jobs_count == 0)
        fdy_output_note("partner key %s has no grants: it can connect but neither publish, "
                        "read nor submit jobs (key edit %s --allow-publish ... adds some)",
                        p->name, p->name);
    if (p->role != FDY_ROLE_NODE || !p->site[0])
        return;
    /* A node publishes telemetry.<site>.<metric>: a site no stream holds
     * is usually a misspelt one. */
    char subject[FOUNDRY_SUBJECT_MAX + 1];
    snprintf(subject, sizeof subject, "telemetry.%s.>", p->site);
    fdy_ctl_conn_t *conn = NULL;
    if (fdy_ctl_conn_open(args, &conn) != FDY_CTL_EXIT_OK)
        return;
    char stream[FOUNDRY_STREAM_NAME_MAX + 1], filter[FOUNDRY_SUBJECT_MAX + 1];
    bool found = false;
    if (fdy_ctl_streams_capturing(conn, subject, stream, sizeof stream, filter, sizeof filter,
                                  &found) == FDY_CTL_EXIT_OK &&
        !found)
        fdy_output_note("site %s is not configured on the broker (no stream captures %s): is "
                        "it spelt right? Its telemetry waits in the node's outbox until "
                        "`foundryctl stream add telemetry-%s --subject '%s'` or the site is "
                        "added to the broker's sites",
                        p->site, subject, p->site, subject);
    fdy_ctl_conn_destroy(&conn);
}

/* ---- the group ---------------------------------------------------------- */

enum {
    KC_SITE = 1,
    KC_TENANT,
    KC_ALLOW,
    KC_ALLOW_SUB,
    KC_ALLOW_JOBS,
    KC_ALLOW_MODELS,
    KC_RATE_MSGS,
    KC_RATE_BYTES,
    KC_DATA_DIR,
};

static const fdy_ctl_flag_t s_flags[] = {
    {"--site", "SITE", KC_SITE, false, "the site of a node key, e.g. pangyo"},
    {"--tenant", "TENANT", KC_TENANT, false, "the tenant (company) of a partner key"},
    {"--allow-publish", "FILTER", KC_ALLOW, true,
     "edit: the new publish filters (replace the old; none: no publish); repeatable"},
    {"--allow-subscribe", "FILTER", KC_ALLOW_SUB, true,
     "edit: the new read filters (replace the old; none: no reads); repeatable"},
    {"--allow-jobs", "SITE", KC_ALLOW_JOBS, true,
     "edit: the new job sites (replace the old; none: no job submits); repeatable"},
    {"--allow-models", "NAME", KC_ALLOW_MODELS, true,
     "edit: the new model names (replace the old; none: no models); repeatable"},
    {"--rate-msgs", "N", KC_RATE_MSGS, false, "messages/s it may publish (0: its role's)"},
    {"--rate-bytes", "SIZE", KC_RATE_BYTES, false, "bytes/s it may publish (0: its role's)"},
    {"--data-dir", "DIR", KC_DATA_DIR, false,
     "rotate, rm: offline: work on the store in DIR, no broker needed"},
};

static int
s_opts_set(void *opts, const fdy_ctl_flag_t *flag, const char *value)
{
    key_changes_opts_t *self = opts;
    switch (flag->id) {
    case KC_SITE: self->site = value; break;
    case KC_TENANT: self->tenant = value; break;
    case KC_ALLOW:
        return fdy_ctl_args_list_add(self->allow, &self->allow_count, FDY_ALLOW_MAX, flag->name,
                                     value);
    case KC_ALLOW_SUB:
        return fdy_ctl_args_list_add(self->allow_sub, &self->allow_sub_count, FDY_ALLOW_MAX,
                                     flag->name, value);
    case KC_ALLOW_JOBS:
        return fdy_ctl_args_list_add(self->allow_jobs, &self->allow_jobs_count, FDY_ALLOW_MAX,
                                     flag->name, value);
    case KC_ALLOW_MODELS:
        return fdy_ctl_args_list_add(self->allow_models, &self->allow_models_count, FDY_ALLOW_MAX,
                                     flag->name, value);
    case KC_RATE_MSGS: self->rate_msgs = value; break;
    case KC_RATE_BYTES: self->rate_bytes = value; break;
    case KC_DATA_DIR: self->data_dir = value; break;
    default: break;
    }
    return FDY_CTL_EXIT_OK;
}

static const fdy_ctl_cmd_t s_commands[] = {
    {
        .words = "key edit",
        .synopsis = "NAME [--allow-publish FILTER|none]... [--allow-subscribe FILTER|none]...\n"
                    "                          [--allow-jobs SITE|none]... "
                    "[--allow-models NAME|none]... [--site SITE] "
                    "[--tenant TENANT]\n"
                    "                          [--rate-msgs N] [--rate-bytes SIZE]",
        .summary = "change a key's grants, site, tenant or rates, keeping its key pair",
        .notes = "A list flag that is given replaces that list (none alone empties it); what\n"
                 "is not given stays. A partner may also read what --allow-publish gives it\n"
                 "(as at key add). In force at the key's next request. Prints the row.",
        .pos_names = {"NAME"},
        .min_pos = 1,
        .max_pos = 1,
        .flags = (const int[]){KC_SITE, KC_TENANT, KC_ALLOW, KC_ALLOW_SUB, KC_ALLOW_JOBS,
                               KC_ALLOW_MODELS, KC_RATE_MSGS, KC_RATE_BYTES, 0},
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_edit,
    },
    {
        .words = "key rotate",
        .synopsis = "NAME NEWPUBFILE",
        .summary = "give a key a new public key, keeping its name and grants",
        .notes = "The old public key is refused at once: new handshakes, and the next\n"
                 "request of connections made with it. Prints the row. With --data-dir the\n"
                 "store is changed directly (no broker needed, or an admin key that is\n"
                 "lost); a running broker applies it before the command returns.",
        .pos_names = {"NAME", "NEWPUBFILE"},
        .min_pos = 2,
        .max_pos = 2,
        .flags = (const int[]){KC_DATA_DIR, 0},
        .reach = FDY_CTL_REACH_DATA_DIR,
        .run = s_rotate,
    },
    {
        .words = "key rm",
        .synopsis = "NAME",
        .summary = "forget a revoked key (its name may then be registered again)",
        .notes = "Only a revoked key: revoke it first. On a terminal it asks first; --yes\n"
                 "does not. Prints the row as it was. --data-dir: on the store directly.",
        .pos_names = {"NAME"},
        .min_pos = 1,
        .max_pos = 1,
        .flags = (const int[]){KC_DATA_DIR, 0},
        .reach = FDY_CTL_REACH_DATA_DIR,
        .run = s_rm,
    },
};

const fdy_ctl_group_t fdy_cmd_key_changes_group = {
    .commands = s_commands,
    .command_count = sizeof s_commands / sizeof s_commands[0],
    .flags = s_flags,
    .flag_count = sizeof s_flags / sizeof s_flags[0],
    .opts_size = sizeof(key_changes_opts_t),
    .opts_set = s_opts_set,
};
