/*  registry.h: the principals the broker knows, by public key (for the ZAP
 *  handler) and by name (for every message). Backed by the store's key
 *  records; reloads when another process (foundryctl's offline commands)
 *  changed them, and the broker confirms each reload in the store, so an
 *  offline revocation can wait until it is in force.
 */
#ifndef FDY_REGISTRY_H_INCLUDED
#define FDY_REGISTRY_H_INCLUDED

#include "codec.h"
#include "store.h"

typedef struct fdy_registry fdy_registry_t;

/* Makes a registry over store (borrowed: must outlive the registry) and
 * loads every key record. Returns FOUNDRY_OK and *out (caller owns;
 * fdy_registry_destroy()), FOUNDRY_ECORRUPT (a key record that does not
 * decode or names another principal: the reason names the record),
 * FOUNDRY_ENOMEM or FOUNDRY_ESTORE, with reason; *out is NULL on error.
 * Logs nothing: the caller reports. */
foundry_err fdy_registry_new(fdy_store_t *store, fdy_registry_t **out, fdy_reason_t *reason);
void fdy_registry_destroy(fdy_registry_t **self_p);

/* Reloads from the store if its key generation changed. Cheap when it did
 * not. Returns FOUNDRY_OK or FOUNDRY_ESTORE. Invalidates borrowed pointers
 * when it reloads. */
foundry_err fdy_registry_refresh(fdy_registry_t *self);

/* The key generation of the set in memory: every key record written up to
 * it is loaded (the generation is read before the records). */
uint64_t fdy_registry_generation(const fdy_registry_t *self);

/* Records in the store (fdy_store_key_applied_set) that this registry
 * applies its generation, when that differs from what it recorded last;
 * otherwise does nothing. Only the process that enforces keys (the broker)
 * calls it, after fdy_registry_refresh(), so foundryctl's offline commands
 * can wait until their change is in force: the lookups of this registry
 * already answer with it. Returns FOUNDRY_OK, FOUNDRY_EFULL or
 * FOUNDRY_ESTORE, with reason; after a failure the next call tries again.
 * Logs nothing. */
foundry_err fdy_registry_confirm(fdy_registry_t *self, fdy_reason_t *reason);

/* Lookups. Return the principal (borrowed, valid until the next refresh,
 * add or revoke) including revoked ones (check ->revoked), or NULL. */
const fdy_principal_t *fdy_registry_by_key(const fdy_registry_t *self, const char *public_z85);
const fdy_principal_t *fdy_registry_by_name(const fdy_registry_t *self, const char *name);

/* Registers p (copied). Validates name ([A-Za-z0-9_.-]+), key (Z85, 40
 * chars), role, site/tenant and every allow filter. Returns FOUNDRY_OK,
 * FOUNDRY_EEXIST (name or public key already registered), FOUNDRY_EINVAL,
 * FOUNDRY_EFULL or FOUNDRY_ESTORE, with reason. */
foundry_err fdy_registry_add(fdy_registry_t *self, const fdy_principal_t *p,
                             fdy_reason_t *reason);

/* Marks the key of `name` revoked (kept for audit; refused from now on).
 * Returns FOUNDRY_OK, FOUNDRY_ENOTFOUND, FOUNDRY_EFULL or FOUNDRY_ESTORE. */
foundry_err fdy_registry_revoke(fdy_registry_t *self, const char *name, fdy_reason_t *reason);

/* Replaces the record of p->name (copied) with p, keeping its creation
 * time: new grants (key edit) or a new public key (key rotate; the old
 * key is refused at its next handshake and request). Validates as add.
 * Returns FOUNDRY_OK, FOUNDRY_ENOTFOUND, FOUNDRY_EINVAL (also for a revoked
 * key), FOUNDRY_EEXIST (the public key belongs to another name),
 * FOUNDRY_EFULL or FOUNDRY_ESTORE, with reason. */
foundry_err fdy_registry_replace(fdy_registry_t *self, const fdy_principal_t *p,
                                 fdy_reason_t *reason);

/* Deletes the record of a revoked key (key rm). Returns FOUNDRY_OK,
 * FOUNDRY_ENOTFOUND, FOUNDRY_EINVAL (not revoked), FOUNDRY_EFULL or
 * FOUNDRY_ESTORE, with reason. */
foundry_err fdy_registry_remove(fdy_registry_t *self, const char *name, fdy_reason_t *reason);

/* Iteration, by name order: count and the i-th principal (borrowed). */
size_t fdy_registry_count(const fdy_registry_t *self);
const fdy_principal_t *fdy_registry_at(const fdy_registry_t *self, size_t index);

#endif
