/*  release_log.h: a model's hash-chained release log. Entry n holds the
 *  BLAKE2b-256 of entry n-1's encoded bytes (entry 1 holds 32 zero bytes)
 *  and is signed by the broker's release key. The broker appends (every
 *  accepted manifest and every rollback); agents and foundryctl keep or
 *  fetch a copy and verify that what they are given extends what they
 *  hold, so a rewritten, dropped or reordered entry (a freeze or rollback
 *  attack) is refused.
 */
#ifndef FDY_RELEASE_LOG_H_INCLUDED
#define FDY_RELEASE_LOG_H_INCLUDED

#include "codec.h"
#include "codec_models.h"
#include "model_sign.h"
#include "reason.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* BLAKE2b-256 of bytes (an encoded entry or manifest). */
void fdy_release_hash(const void *bytes, size_t len, uint8_t out[FDY_MODEL_HASH_LEN]);

/* Builds, encodes and signs the entry that follows head (NULL for the
 * first; head_hash its hash): name, index head+1, version, the manifest's
 * hash, rollback, time_ms. *out's entry bytes are malloc'd: free
 * out->entry with free(). FOUNDRY_OK, FOUNDRY_EINVAL or FOUNDRY_ENOMEM. */
foundry_err fdy_release_append(const fdy_sign_key_t *release_key, const char *name,
                               uint64_t head_index, const uint8_t head_hash[FDY_MODEL_HASH_LEN],
                               uint64_t version, const uint8_t *manifest, size_t manifest_len,
                               bool rollback, uint64_t time_ms, fdy_model_signed_entry_t *out,
                               fdy_reason_t *reason);

/* What a verifier holds of one model's log: the last verified entry. */
typedef struct {
    uint64_t index;                       /* 0: nothing yet */
    uint8_t hash[FDY_MODEL_HASH_LEN];     /* of entry `index`; zeros when 0 */
    uint64_t version;                     /* the newest version it names */
    uint64_t release_version;             /* highest manifest version or rollback
                                             release_version seen */
} fdy_release_head_t;

/* Verifies entries (in order) against release_key and head: each
 * signature, each index = previous + 1, each prev_hash = previous hash,
 * name the same. On FOUNDRY_OK *head is advanced to the last entry (and
 * *decoded_out, when not NULL, receives the last entry decoded into arena;
 * arena may be NULL when decoded_out is). head->release_version rises to
 * each non-rollback entry's version; a rollback's release_version is in
 * its manifest, not its entry, so the caller raises it.
 * FOUNDRY_EDENIED with a reason naming the index ("entry 4: bad release
 * signature", "entry 5 does not extend the log held at 4 (rewritten?)"),
 * FOUNDRY_EPROTO for an entry that does not decode; *head unchanged. */
foundry_err fdy_release_verify(const uint8_t release_key[FDY_MODEL_KEY_LEN], const char *name,
                               const fdy_model_signed_entry_t *entries, size_t count,
                               fdy_release_head_t *head, fdy_arena_t *arena,
                               fdy_model_entry_t *decoded_out, fdy_reason_t *reason);

#endif
