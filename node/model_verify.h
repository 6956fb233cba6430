/*  model_verify.h: the checks an agent makes on a model notice before it
 *  fetches a byte (docs/models.md, "What an agent verifies"), in this order,
 *  each refusal with its reason: the manifest decodes; it targets this
 *  node's site and labels; the agent's own trust policy for the name (k of
 *  n signatures); expiry; the release-log entries verify against the
 *  agent's release key, extend the head it holds (entries up to the head
 *  are skipped, the one at the head must be the one held), and the last names this
 *  manifest (hash, version, rollback); anti-rollback. Pure: no files, no
 *  network, the clock passed in, so every attack is a unit test.
 */
#ifndef FDY_MODEL_VERIFY_H_INCLUDED
#define FDY_MODEL_VERIFY_H_INCLUDED

#include "arena.h"
#include "codec_models.h"
#include "model_sign.h"
#include "model_state.h"
#include "reason.h"
#include "release_log.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the agent brings. Everything borrowed for the call. */
typedef struct {
    const char *site;
    const char *const *labels; /* "key=value" */
    size_t label_count;
    const fdy_trust_set_t *trust; /* NULL: no model_trust_file (refuse all) */
    const uint8_t *release_key;   /* 32 bytes; NULL: no model_release_key (refuse all) */
    uint64_t now_ms;              /* wall clock */
} fdy_model_verify_ctx_t;

/* The state held for a manifest's name, or NULL (nothing held). The
 * returned pointer is borrowed for the call. */
typedef const fdy_model_held_t *(fdy_model_lookup_fn) (const char *name, void *user);

typedef struct {
    fdy_model_manifest_t manifest; /* decoded into the arena */
    uint8_t manifest_hash[FDY_MODEL_HASH_LEN];
    fdy_release_head_t head; /* the held head extended by the notice's entries */
    /* The manifest is the one installed already (a notice repeated after a
     * restart between install and the health report): nothing to fetch,
     * the caller goes on from the health check. */
    bool installed_already;
} fdy_model_verified_t;

/* Verifies notice (decoded, borrowed). FOUNDRY_OK and *out, or
 * FOUNDRY_EDENIED (FOUNDRY_EINVAL for a manifest that does not decode)
 * with the reason to report. *out's pointers borrow from arena and from
 * notice's bytes. */
foundry_err fdy_model_verify_notice(const fdy_model_verify_ctx_t *ctx,
                                    const fdy_model_notice_t *notice, fdy_model_lookup_fn *held,
                                    void *user, fdy_arena_t *arena, fdy_model_verified_t *out,
                                    fdy_reason_t *reason);

/* True when the label list (space-free "key=value" items) holds label. */
bool fdy_model_verify_has_label(const char *const *labels, size_t count, const char *label);

#endif
