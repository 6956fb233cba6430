/*  model_sign.h: Ed25519 model-signing keys (separate from CURVE transport
 *  keys), signatures over manifests, and trust policies (which keys may
 *  sign a model name and how many must: k of n, as TUF thresholds). One
 *  module for the broker (accepting a publish), the agent (before it
 *  installs) and foundryctl (keygen, push --sign).
 *
 *  Key files (text, one "key = value" a line, '#' comments):
 *      NAME.sign      public = <64 hex>   secret = <128 hex>   mode 0600
 *      NAME.sign.pub  public = <64 hex>                        mode 0644
 *  A policy file (agents' model_trust_file, `foundryctl model trust
 *  --export`): one line a model name ('*' any name without a line of its
 *  own):
 *      NAME THRESHOLD KEYHEX [KEYHEX...]
 */
#ifndef FDY_MODEL_SIGN_H_INCLUDED
#define FDY_MODEL_SIGN_H_INCLUDED

#include "codec.h"
#include "codec_models.h"
#include "reason.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fdy_sign_key fdy_sign_key_t; /* a secret key, in sodium_malloc memory */

/* Writes dir/NAME.sign (0600, created exclusively) and dir/NAME.sign.pub.
 * FOUNDRY_EINVAL (bad name), FOUNDRY_EEXIST (nothing overwritten) or
 * FOUNDRY_EIO, with reason. pub_out (may be NULL) gets the public key. */
foundry_err fdy_sign_keygen(const char *dir, const char *name,
                            uint8_t pub_out[FDY_MODEL_KEY_LEN], fdy_reason_t *reason);

/* Loads a .sign file. FOUNDRY_EAUTH when group or others may read it
 * (reason says chmod 600), FOUNDRY_EIO, FOUNDRY_EINVAL. */
foundry_err fdy_sign_key_load(const char *path, fdy_sign_key_t **out, fdy_reason_t *reason);
/* Creates path (0600) with a fresh key when it does not exist, then loads
 * it: the broker's release key. */
foundry_err fdy_sign_key_load_or_create(const char *path, fdy_sign_key_t **out,
                                        fdy_reason_t *reason);
void fdy_sign_key_destroy(fdy_sign_key_t **self_p);
void fdy_sign_key_public(const fdy_sign_key_t *self, uint8_t out[FDY_MODEL_KEY_LEN]);

/* Reads the public key of a .sign or .sign.pub file, or a bare 64-hex
 * string given instead of a path. FOUNDRY_EIO or FOUNDRY_EINVAL. */
foundry_err fdy_sign_public_load(const char *path_or_hex, uint8_t out[FDY_MODEL_KEY_LEN],
                                 fdy_reason_t *reason);

/* Detached signature over msg. */
void fdy_sign(const fdy_sign_key_t *key, const void *msg, size_t len,
              uint8_t sig_out[FDY_MODEL_SIG_LEN]);
bool fdy_sign_verify(const uint8_t key[FDY_MODEL_KEY_LEN], const void *msg, size_t len,
                     const uint8_t sig[FDY_MODEL_SIG_LEN]);

/* A trust policy of one model name. */
#define FDY_TRUST_KEYS_MAX 16u
typedef struct {
    char name[FDY_MODEL_NAME_MAX + 1]; /* or "*" */
    uint32_t threshold;                /* 1..key_count */
    uint8_t keys[FDY_TRUST_KEYS_MAX][FDY_MODEL_KEY_LEN];
    size_t key_count;
} fdy_trust_policy_t;

/* Counts the distinct trusted keys among s's signatures whose signature
 * verifies over s->manifest; a key listed twice counts once, an untrusted
 * or bad signature counts zero. FOUNDRY_OK when the count reaches
 * policy->threshold; otherwise FOUNDRY_EDENIED with a reason that says
 * which: "no signature", "signature by an untrusted key <hex8>", "bad
 * signature by <hex8>", "1 of 2 required signatures". *valid_out (may be
 * NULL) gets the count. */
foundry_err fdy_trust_check(const fdy_trust_policy_t *policy, const fdy_model_signed_t *s,
                            size_t *valid_out, fdy_reason_t *reason);

/* A set of policies (a policy file). */
typedef struct fdy_trust_set fdy_trust_set_t;
/* Parses a policy file. FOUNDRY_EIO, or FOUNDRY_EINVAL naming the line. */
foundry_err fdy_trust_set_load(const char *path, fdy_trust_set_t **out, fdy_reason_t *reason);
fdy_trust_set_t *fdy_trust_set_new(void);
void fdy_trust_set_destroy(fdy_trust_set_t **self_p);
/* Adds or replaces name's policy. FOUNDRY_EINVAL (threshold 0 or above
 * key_count, bad name). */
foundry_err fdy_trust_set_put(fdy_trust_set_t *self, const fdy_trust_policy_t *policy,
                              fdy_reason_t *reason);
/* name's policy, else "*"'s, else NULL. Borrowed. */
const fdy_trust_policy_t *fdy_trust_set_find(const fdy_trust_set_t *self, const char *name);
/* Writes the set in the file format; caller frees *text_out. */
foundry_err fdy_trust_set_format(const fdy_trust_set_t *self, char **text_out);

#endif
