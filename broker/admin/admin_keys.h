/*  admin_keys.h: the key.* admin commands (key.add, key.ls, key.revoke)
 *  over the principal registry, as a command table for fdy_admin_dispatch().
 *  admin.c authorises the caller and routes "key." commands here.
 */
#ifndef FDY_ADMIN_KEYS_H_INCLUDED
#define FDY_ADMIN_KEYS_H_INCLUDED

#include "admin_table.h"
#include "registry.h"

/* The context every row's fn takes as self. */
typedef struct {
    fdy_registry_t *registry; /* borrowed; must outlive every call */
} fdy_admin_keys_t;

/* key.add name= key= role= [site=] [tenant=] [allow=]... [allow_sub=]...,
 * key.ls, key.revoke name=. Each answers with the key table (one row, or
 * every key for key.ls) and logs key changes (NOTICE). Besides
 * the dispatcher's errors: FOUNDRY_EINVAL (a field too long, bad role, too
 * many filters), FOUNDRY_ENOTFOUND, FOUNDRY_EEXIST, FOUNDRY_ESTORE or
 * FOUNDRY_ENOMEM, with reason. */
extern const fdy_admin_command_t fdy_admin_keys_commands[];
extern const size_t fdy_admin_keys_command_count;

/* Answers with the one-row key table of `name` as the registry holds it
 * now. FOUNDRY_ENOTFOUND or FOUNDRY_ENOMEM, with reason. */
foundry_err fdy_admin_keys_one_table(fdy_admin_keys_t *self, const fdy_admin_call_t *call,
                                     const char *name, fdy_admin_table_t *table,
                                     fdy_reason_t *reason);

/* Reads the optional rate_msgs= (messages/s) and rate_bytes= (a size) of
 * key.add and key.edit into p; an absent argument leaves p's value. Returns
 * FOUNDRY_OK or FOUNDRY_EINVAL naming the argument. */
foundry_err fdy_admin_keys_rates(const fdy_admin_call_t *call, fdy_principal_t *p,
                                 fdy_reason_t *reason);

/* admin_key_changes.c: key.edit name= [site=] [tenant=] [allow=]...
 * [allow_sub=]... [allow_jobs=]... [rate_msgs=] [rate_bytes=] (a list that
 * is given replaces the key's list; one empty value clears it), key.rotate
 * name= key= (a new public key, same name and grants: the old key is
 * refused at once, also on open connections), key.rm name= (a revoked
 * key's record). Each answers with the key's row (key.rm: as it was). */
extern const fdy_admin_command_t fdy_admin_key_changes_commands[];
extern const size_t fdy_admin_key_changes_command_count;

#endif
