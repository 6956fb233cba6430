/*  admin_keys.c: the key.* admin commands. Registry changes are written
 *  through the registry (which stores and reloads them) and each one is a
 *  NOTICE line naming the admin who made it. Authorisation, routing and the
 *  audit log entry of every command are admin.c's; argument checks the
 *  dispatcher's.
 */
#include "admin_keys.h"

#include "clock.h"
#include "config.h"
#include "keys.h"
#include "log.h"

#include <string.h>

/* rate_msgs, rate_bytes: the key's own publish limits (0: its role's). */
static const char *const s_key_columns[] = {
    "name",    "role",       "site",       "tenant",    "allow_publish", "allow_subscribe",
    "revoked", "created_ns", "public_key", "rate_msgs", "rate_bytes", "allow_jobs",
    "allow_models",
};
static const fdy_col_type_t s_key_types[] = {
    FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_TEXT,
    FDY_COL_INT,  FDY_COL_INT,  FDY_COL_TEXT, FDY_COL_INT,  FDY_COL_INT, FDY_COL_TEXT,
    FDY_COL_TEXT,
};
#define KEY_COLUMN_COUNT (sizeof s_key_columns / sizeof s_key_columns[0])

static bool
s_key_row(fdy_admin_table_t *table, const fdy_principal_t *p)
{
    fdy_slice_t *row = fdy_admin_row_add(table);
    if (!row)
        return false;
    bool ok = fdy_admin_cell_text(table, &row[0], p->name);
    ok = ok && fdy_admin_cell_text(table, &row[1], fdy_role_name(p->role));
    ok = ok && fdy_admin_cell_text(table, &row[2], p->site);
    ok = ok && fdy_admin_cell_text(table, &row[3], p->tenant);
    ok = ok && fdy_admin_cell_join(table, &row[4], (const char *const *) p->allow_publish,
                                   p->allow_count);
    ok = ok && fdy_admin_cell_join(table, &row[5], (const char *const *) p->allow_subscribe,
                                   p->allow_subscribe_count);
    ok = ok && fdy_admin_cell_int(table, &row[6], p->revoked ? 1 : 0);
    ok = ok && fdy_admin_cell_int(table, &row[7], p->created_ns);
    ok = ok && fdy_admin_cell_text(table, &row[8], p->public_key);
    ok = ok && fdy_admin_cell_int(table, &row[9], p->rate_msgs);
    ok = ok && fdy_admin_cell_int(table, &row[10], p->rate_bytes);
    ok = ok && fdy_admin_cell_join(table, &row[11], (const char *const *) p->allow_jobs,
                                   p->allow_jobs_count);
    ok = ok && fdy_admin_cell_join(table, &row[12], (const char *const *) p->allow_models,
                                   p->allow_models_count);
    return ok;
}

/* The key's row as the registry holds it now, after any reload. */
foundry_err
fdy_admin_keys_rates(const fdy_admin_call_t *call, fdy_principal_t *p, fdy_reason_t *reason)
{
    const char *rate_msgs = fdy_admin_arg(call, "rate_msgs");
    const char *rate_bytes = fdy_admin_arg(call, "rate_bytes");
    fdy_reason_t why;
    uint64_t value = 0;
    if (rate_msgs) {
        if (fdy_config_parse_uint(rate_msgs, &value, &why) != FOUNDRY_OK || value > UINT32_MAX)
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "arg 'rate_msgs': '%.32s' is not a number of messages/s",
                                  rate_msgs);
        p->rate_msgs = (uint32_t) value;
    }
    if (rate_bytes) {
        if (fdy_config_parse_size(rate_bytes, &value, &why) != FOUNDRY_OK)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "arg 'rate_bytes': %s", why.text);
        p->rate_bytes = value;
    }
    return FOUNDRY_OK;
}

foundry_err
fdy_admin_keys_one_table(fdy_admin_keys_t *self, const fdy_admin_call_t *call, const char *name,
                         fdy_admin_table_t *table, fdy_reason_t *reason)
{
    const fdy_principal_t *p = fdy_registry_by_name(self->registry, name);
    if (!p)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no key named '%s'", name);
    foundry_err err = fdy_admin_table_begin(table, call->arena, s_key_columns, s_key_types,
                                            KEY_COLUMN_COUNT, 1, reason);
    if (err == FOUNDRY_OK && !s_key_row(table, p))
        err = fdy_reason_set(reason, FOUNDRY_ENOMEM, "reply too large");
    return err;
}

static foundry_err
s_key_ls(void *ctx, const fdy_admin_call_t *call, fdy_admin_table_t *table, fdy_reason_t *reason)
{
    fdy_admin_keys_t *self = ctx;
    size_t count = fdy_registry_count(self->registry);
    foundry_err err = fdy_admin_table_begin(table, call->arena, s_key_columns, s_key_types,
                                            KEY_COLUMN_COUNT, count, reason);
    for (size_t i = 0; err == FOUNDRY_OK && i < count; i++) {
        if (!s_key_row(table, fdy_registry_at(self->registry, i)))
            err = fdy_reason_set(reason, FOUNDRY_ENOMEM, "reply too large");
    }
    return err;
}

static foundry_err
s_copy_field(char *out, size_t out_size, const char *value, const char *arg, fdy_reason_t *reason)
{
    if (!value)
        value = "";
    if (strlen(value) >= out_size)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "arg '%s' is longer than %zu bytes", arg,
                              out_size - 1);
    memcpy(out, value, strlen(value) + 1);
    return FOUNDRY_OK;
}

static foundry_err
s_key_add(void *ctx, const fdy_admin_call_t *call, fdy_admin_table_t *table, fdy_reason_t *reason)
{
    fdy_admin_keys_t *self = ctx;
    fdy_principal_t p;
    memset(&p, 0, sizeof p);
    foundry_err err =
        s_copy_field(p.name, sizeof p.name, fdy_admin_arg(call, "name"), "name", reason);
    if (err == FOUNDRY_OK)
        err = s_copy_field(p.public_key, sizeof p.public_key, fdy_admin_arg(call, "key"), "key",
                           reason);
    if (err == FOUNDRY_OK)
        err = s_copy_field(p.site, sizeof p.site, fdy_admin_arg(call, "site"), "site", reason);
    if (err == FOUNDRY_OK)
        err = s_copy_field(p.tenant, sizeof p.tenant, fdy_admin_arg(call, "tenant"), "tenant",
                           reason);
    if (err != FOUNDRY_OK)
        return err;
    if (fdy_role_parse(fdy_admin_arg(call, "role"), &p.role) != FOUNDRY_OK)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "arg 'role': '%.32s' is not node, partner, admin or link",
                              fdy_admin_arg(call, "role"));
    for (size_t i = 0; i < call->arg_count; i++) {
        const char *arg = call->args[i];
        bool publish = strncmp(arg, "allow=", 6) == 0;
        bool subscribe = strncmp(arg, "allow_sub=", 10) == 0;
        if (strncmp(arg, "allow_models=", 13) == 0) {
            if (p.allow_models_count == FDY_ALLOW_MAX)
                return fdy_reason_set(reason, FOUNDRY_EINVAL, "arg 'allow_models': more than %d",
                                      FDY_ALLOW_MAX);
            char *name = fdy_arena_alloc(call->arena, strlen(arg + 13) + 1);
            if (!name)
                return fdy_reason_set(reason, FOUNDRY_ENOMEM, "request too large");
            memcpy(name, arg + 13, strlen(arg + 13) + 1);
            p.allow_models[p.allow_models_count++] = name;
            continue;
        }
        if (strncmp(arg, "allow_jobs=", 11) == 0) {
            if (p.allow_jobs_count == FDY_ALLOW_MAX)
                return fdy_reason_set(reason, FOUNDRY_EINVAL, "arg 'allow_jobs': more than %d",
                                      FDY_ALLOW_MAX);
            p.allow_jobs[p.allow_jobs_count] = fdy_arena_alloc(call->arena, strlen(arg + 11) + 1);
            if (!p.allow_jobs[p.allow_jobs_count])
                return fdy_reason_set(reason, FOUNDRY_ENOMEM, "request too large");
            memcpy(p.allow_jobs[p.allow_jobs_count++], arg + 11, strlen(arg + 11) + 1);
            continue;
        }
        if (!publish && !subscribe)
            continue;
        size_t *count = publish ? &p.allow_count : &p.allow_subscribe_count;
        if (*count == FDY_ALLOW_MAX)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "arg '%s': more than %d filters",
                                  publish ? "allow" : "allow_sub", FDY_ALLOW_MAX);
        /* The registry copies them; the encoder only reads. */
        const char *value = arg + (publish ? 6 : 10);
        char *filter = fdy_arena_alloc(call->arena, strlen(value) + 1);
        if (!filter)
            return fdy_reason_set(reason, FOUNDRY_ENOMEM, "request too large");
        memcpy(filter, value, strlen(value) + 1);
        if (publish)
            p.allow_publish[(*count)++] = filter;
        else
            p.allow_subscribe[(*count)++] = filter;
    }
    err = fdy_admin_keys_rates(call, &p, reason);
    if (err != FOUNDRY_OK)
        return err;
    p.created_ns = fdy_clock_wall_ns();
    err = fdy_registry_add(self->registry, &p, reason);
    if (err != FOUNDRY_OK)
        return err;
    char fingerprint[9];
    fdy_keys_fingerprint(p.public_key, fingerprint);
    fdy_log_notice("ADMIN-KEY-ADD", "%s added key '%s' (%s, role %s, site '%s', tenant '%s')",
                   call->caller->name, p.name, fingerprint, fdy_role_name(p.role), p.site,
                   p.tenant);
    return fdy_admin_keys_one_table(self, call, p.name, table, reason);
}

static foundry_err
s_key_revoke(void *ctx, const fdy_admin_call_t *call, fdy_admin_table_t *table,
             fdy_reason_t *reason)
{
    fdy_admin_keys_t *self = ctx;
    const char *name = fdy_admin_arg(call, "name");
    foundry_err err = fdy_registry_revoke(self->registry, name, reason);
    if (err == FOUNDRY_ENOTFOUND)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no key named '%.64s'", name);
    if (err != FOUNDRY_OK)
        return err;
    fdy_log_notice("ADMIN-KEY-REVOKE", "%s revoked key '%.64s'", call->caller->name, name);
    return fdy_admin_keys_one_table(self, call, name, table, reason);
}

/* fdy_admin_dispatch() checks these before a row's fn runs, so the fns read
 * required args without testing for NULL. */
static const fdy_admin_arg_spec_t s_key_add_args[] = {
    {"name", true, false},      {"key", true, false},     {"role", true, false},
    {"site", false, false},     {"tenant", false, false}, {"allow", false, true},
    {"allow_sub", false, true}, {"allow_jobs", false, true}, {"allow_models", false, true},
    {"rate_msgs", false, false}, {"rate_bytes", false, false},
};
static const fdy_admin_arg_spec_t s_name_arg[] = {{"name", true, false}};
#define ARG_COUNT(specs) (sizeof specs / sizeof specs[0])

const fdy_admin_command_t fdy_admin_keys_commands[] = {
    {"key.add", s_key_add_args, ARG_COUNT(s_key_add_args), s_key_add},
    {"key.ls", NULL, 0, s_key_ls},
    {"key.revoke", s_name_arg, ARG_COUNT(s_name_arg), s_key_revoke},
};
const size_t fdy_admin_keys_command_count =
    sizeof fdy_admin_keys_commands / sizeof fdy_admin_keys_commands[0];
