/*  models_absent.c: weak stand-ins for broker/models/models.h while the
 *  models service is not linked in (it is built in parallel). The real
 *  definitions override these at link time; with these, fdy_models_find()
 *  answers NULL and the rollouts service refuses model rollouts with a
 *  reason. Delete this file once broker/models/models.c is in the build.
 */
#include "models.h"

__attribute__((weak)) fdy_models_t *
fdy_models_find(const fdy_service_deps_t *deps)
{
    (void) deps;
    return NULL;
}

__attribute__((weak)) foundry_err
fdy_models_release(fdy_models_t *self, const char *name, uint64_t version,
                   fdy_models_release_t *out, fdy_reason_t *reason)
{
    (void) self;
    (void) out;
    return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "model %s has no version %llu", name,
                          (unsigned long long) version);
}

__attribute__((weak)) bool
fdy_models_notify(fdy_models_t *self, const char *node, uint64_t rollout_id, const char *name,
                  uint64_t version, bool cancel)
{
    (void) self, (void) node, (void) rollout_id, (void) name, (void) version, (void) cancel;
    return false;
}

__attribute__((weak)) bool
fdy_models_node_connected(const fdy_models_t *self, const char *node)
{
    (void) self, (void) node;
    return false;
}

__attribute__((weak)) void
fdy_models_set_hooks(fdy_models_t *self, const fdy_models_hooks_t *hooks)
{
    (void) self, (void) hooks;
}
