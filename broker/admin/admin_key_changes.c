/*  admin_key_changes.c: the admin commands that change a registered key in
 *  place: key.edit (grants, site, tenant, rate limits; no new key pair),
 *  key.rotate (a new public key under the same name and grants) and key.rm
 *  (forgets a revoked key). Registration itself (key.add, key.ls,
 *  key.revoke) is admin_keys.c's.
 */
#include "admin_keys.h"

#include "arena.h"
#include "config.h"
#include "keys.h"
#include "log.h"

#include <string.h>

/* Replaces one list of p when the call gives it: every "<prefix>VALUE"
 * argument, in order; a single empty value clears the list. Values live in
 * the call's arena, which outlives the registry write. */
static foundry_err
s_replace_list(const fdy_admin_call_t *call, const char *prefix, char **list, size_t *count,
               fdy_reason_t *reason)
{
    size_t prefix_len = strlen(prefix);
    bool given = false;
    size_t n = 0;
    for (size_t i = 0; i < call->arg_count; i++) {
        const char *arg = call->args[i];
        if (strncmp(arg, prefix, prefix_len) != 0)
            continue;
        if (!given)
            *count = 0;
        given = true;
        const char *value = arg + prefix_len;
        if (!*value)
            continue; /* "allow=": clear */
        if (n == FDY_ALLOW_MAX)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "arg '%.*s': more than %d",
                                  (int) prefix_len - 1, prefix, FDY_ALLOW_MAX);
        list[n] = fdy_arena_alloc(call->arena, strlen(value) + 1);
        if (!list[n])
            return fdy_reason_set(reason, FOUNDRY_ENOMEM, "request too large");
        memcpy(list[n], value, strlen(value) + 1);
        *count = ++n;
    }
    return FOUNDRY_OK;
}

static foundry_err
s_copy_word(char *out, size_t size, const char *value, const char *arg, fdy_reason_t *reason)
{
    if (!value)
        return FOUNDRY_OK; /* not given: unchanged */
    if (strlen(value) >= size)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "arg '%s' is longer than %zu bytes", arg,
                              size - 1);
    memcpy(out, value, strlen(value) + 1);
    return FOUNDRY_OK;
}

static foundry_err
s_key_edit(void *ctx, const fdy_admin_call_t *call, fdy_admin_table_t *table, fdy_reason_t *reason)
{
    fdy_admin_keys_t *self = ctx;
    const char *name = fdy_admin_arg(call, "name");
    /* Reload now, so the lists p borrows from old stay valid through the
     * replace (which reloads only if the store changed meanwhile). */
    if (fdy_registry_refresh(self->registry) != FOUNDRY_OK)
        return fdy_reason_set(reason, FOUNDRY_ESTORE, "reading the key store failed");
    const fdy_principal_t *old = fdy_registry_by_name(self->registry, name);
    if (!old)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no key named '%.64s'", name);
    fdy_principal_t p = *old; /* lists borrowed from the registry until replaced */
    foundry_err err =
        s_copy_word(p.site, sizeof p.site, fdy_admin_arg(call, "site"), "site", reason);
    if (err == FOUNDRY_OK)
        err =
            s_copy_word(p.tenant, sizeof p.tenant, fdy_admin_arg(call, "tenant"), "tenant", reason);
    if (err == FOUNDRY_OK)
        err = s_replace_list(call, "allow=", p.allow_publish, &p.allow_count, reason);
    if (err == FOUNDRY_OK)
        err =
            s_replace_list(call, "allow_sub=", p.allow_subscribe, &p.allow_subscribe_count, reason);
    if (err == FOUNDRY_OK)
        err = s_replace_list(call, "allow_jobs=", p.allow_jobs, &p.allow_jobs_count, reason);
    if (err == FOUNDRY_OK)
        err = s_replace_list(call, "allow_models=", p.allow_models, &p.allow_models_count, reason);
    if (err != FOUNDRY_OK)
        return err;
    err = fdy_admin_keys_rates(call, &p, reason);
    if (err != FOUNDRY_OK)
        return err;
    char key_name[FDY_NAME_MAX];
    snprintf(key_name, sizeof key_name, "%s", p.name);
    err = fdy_registry_replace(self->registry, &p, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_log_notice("ADMIN-KEY-EDIT", "%s edited key '%s'", call->caller->name, key_name);
    return fdy_admin_keys_one_table(self, call, key_name, table, reason);
}

static foundry_err
s_key_rotate(void *ctx, const fdy_admin_call_t *call, fdy_admin_table_t *table,
             fdy_reason_t *reason)
{
    fdy_admin_keys_t *self = ctx;
    const char *name = fdy_admin_arg(call, "name");
    /* Reload now, so the lists p borrows from old stay valid through the
     * replace (which reloads only if the store changed meanwhile). */
    if (fdy_registry_refresh(self->registry) != FOUNDRY_OK)
        return fdy_reason_set(reason, FOUNDRY_ESTORE, "reading the key store failed");
    const fdy_principal_t *old = fdy_registry_by_name(self->registry, name);
    if (!old)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no key named '%.64s'", name);
    fdy_principal_t p = *old;
    foundry_err err =
        s_copy_word(p.public_key, sizeof p.public_key, fdy_admin_arg(call, "key"), "key", reason);
    if (err != FOUNDRY_OK)
        return err;
    if (strcmp(p.public_key, old->public_key) == 0)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "key '%.64s' already has that public key: rotate to a new one", name);
    char old_fingerprint[9], new_fingerprint[9], key_name[FDY_NAME_MAX];
    fdy_keys_fingerprint(old->public_key, old_fingerprint);
    fdy_keys_fingerprint(p.public_key, new_fingerprint);
    snprintf(key_name, sizeof key_name, "%s", p.name);
    err = fdy_registry_replace(self->registry, &p, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_log_notice("ADMIN-KEY-ROTATE", "%s rotated key '%s' from %s to %s", call->caller->name,
                   key_name, old_fingerprint, new_fingerprint);
    return fdy_admin_keys_one_table(self, call, key_name, table, reason);
}

static foundry_err
s_key_rm(void *ctx, const fdy_admin_call_t *call, fdy_admin_table_t *table, fdy_reason_t *reason)
{
    fdy_admin_keys_t *self = ctx;
    const char *name = fdy_admin_arg(call, "name");
    /* The row first: after the removal there is nothing to show. */
    foundry_err err = fdy_admin_keys_one_table(self, call, name, table, reason);
    if (err != FOUNDRY_OK)
        return err;
    err = fdy_registry_remove(self->registry, name, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_log_notice("ADMIN-KEY-RM", "%s removed revoked key '%.64s'", call->caller->name, name);
    return FOUNDRY_OK;
}

static const fdy_admin_arg_spec_t s_key_edit_args[] = {
    {"name", true, false},         {"site", false, false},      {"tenant", false, false},
    {"allow", false, true},        {"allow_sub", false, true},  {"allow_jobs", false, true},
    {"allow_models", false, true}, {"rate_msgs", false, false}, {"rate_bytes", false, false},
};
static const fdy_admin_arg_spec_t s_key_rotate_args[] = {{"name", true, false},
                                                         {"key", true, false}};
static const fdy_admin_arg_spec_t s_name_arg[] = {{"name", true, false}};
#define ARG_COUNT(specs) (sizeof specs / sizeof specs[0])

const fdy_admin_command_t fdy_admin_key_changes_commands[] = {
    {"key.edit", s_key_edit_args, ARG_COUNT(s_key_edit_args), s_key_edit},
    {"key.rotate", s_key_rotate_args, ARG_COUNT(s_key_rotate_args), s_key_rotate},
    {"key.rm", s_name_arg, ARG_COUNT(s_name_arg), s_key_rm},
};
const size_t fdy_admin_key_changes_command_count =
    sizeof fdy_admin_key_changes_commands / sizeof fdy_admin_key_changes_commands[0];
