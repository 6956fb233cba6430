/*  models.h: what other broker services (the rollouts service) use of the
 *  models service (broker/models/): accepted releases, notices to node
 *  agents, and the hooks through which node WATCH and REPORT requests
 *  (MODEL kind, served here) reach the rollout engine. The rollouts
 *  service is created after this one, finds it with fdy_models_find() and
 *  registers its hooks at create time, so neither includes the other's
 *  internals.
 */
#ifndef FDY_MODELS_H_INCLUDED
#define FDY_MODELS_H_INCLUDED

#include "codec_models.h"
#include "service.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fdy_models fdy_models_t;

/* The models service among deps->services (created before the caller), or
 * NULL when it is not in the table. */
fdy_models_t *fdy_models_find(const fdy_service_deps_t *deps);

/* An accepted release: the newest accepted manifest of name whose version
 * is `version` (a rollback re-releases an earlier version). Borrowed until
 * the next models call. */
typedef struct {
    const fdy_model_manifest_t *manifest;
    const uint8_t *signed_bytes; /* the SignedManifest as accepted */
    size_t signed_len;
    uint64_t log_index;          /* its release-log entry */
} fdy_models_release_t;

/* FOUNDRY_OK and *out, or FOUNDRY_ENOTFOUND ("model NAME has no version V"). */
foundry_err fdy_models_release(fdy_models_t *self, const char *name, uint64_t version,
                               fdy_models_release_t *out, fdy_reason_t *reason);

/* Sends node (a key name) a MODEL_NOTICE for that release, with the
 * release-log entries after the log index its last WATCH reported, when it
 * is connected and watching. Returns false when it is not (the notice goes
 * in its next WATCH reply instead, through the pending hook). */
bool fdy_models_notify(fdy_models_t *self, const char *node, uint64_t rollout_id,
                       const char *name, uint64_t version, bool cancel);

/* True while node has a watching connection. */
bool fdy_models_node_connected(const fdy_models_t *self, const char *node);

/* One notice a WATCH reply must carry. */
typedef struct {
    uint64_t rollout_id;
    const char *name; /* borrowed from the hook's owner until the reply is sent */
    uint64_t version;
    bool cancel;
} fdy_models_pending_t;

/* What the rollouts service registers. All may be NULL. self is theirs. */
typedef struct {
    void *self;
    /* A node's REPORT, identity from its key (node = key name, site = key's
     * site). The request is borrowed for the call. */
    void (*report)(void *self, const char *node, const char *site,
                   const fdy_model_request_t *req, int64_t now_ms);
    /* A node WATCHed (labels borrowed for the call) or its connection went
     * (connected false, labels NULL). */
    void (*node_seen)(void *self, const char *node, const char *site,
                      const char *const *labels, size_t label_count, bool connected,
                      int64_t now_ms);
    /* The notices node must get in its WATCH reply; fills at most max. */
    size_t (*pending)(void *self, const char *node, fdy_models_pending_t *out, size_t max);
} fdy_models_hooks_t;

/* Registers hooks (copied). A second call replaces them. */
void fdy_models_set_hooks(fdy_models_t *self, const fdy_models_hooks_t *hooks);

#endif
