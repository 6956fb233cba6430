/*  model_trust.c: k-of-n trust policies over model signatures (declared in
 *  model_sign.h): checking a signed manifest against one policy, and a set
 *  of policies with its file format. Which set applies (the broker's store,
 *  an agent's model_trust_file) is the caller's choice.
 */
#include "model_sign.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A policy line is short; a longer one is not a policy file's. */
#define POLICY_LINE_MAX 4096
#define KEY_HEX_LEN     (2 * FDY_MODEL_KEY_LEN)

struct fdy_trust_set {
    fdy_trust_policy_t *policies;
    size_t count;
    size_t cap;
};

static void
s_hex8(const uint8_t key[FDY_MODEL_KEY_LEN], char out[9])
{
    sodium_bin2hex(out, 9, key, 4);
}

static bool
s_policy_has(const fdy_trust_policy_t *policy, const uint8_t key[FDY_MODEL_KEY_LEN])
{
    for (size_t i = 0; i < policy->key_count; i++)
        if (memcmp(policy->keys[i], key, FDY_MODEL_KEY_LEN) == 0)
            return true;
    return false;
}

foundry_err
fdy_trust_check(const fdy_trust_policy_t *policy, const fdy_model_signed_t *s, size_t *valid_out,
                fdy_reason_t *reason)
{
    if (valid_out)
        *valid_out = 0;
    if (policy->threshold == 0 || policy->threshold > policy->key_count)
        return fdy_reason_set(reason, FOUNDRY_EDENIED,
                              "trust policy of %s is invalid (threshold %" PRIu32 " of %zu keys)",
                              policy->name, policy->threshold, policy->key_count);
    if (s->signature_count == 0)
        return fdy_reason_set(reason, FOUNDRY_EDENIED, "no signature");
    /* Distinct trusted keys whose signature verified: a key that signs
     * twice is still one signer. */
    const uint8_t *counted[FDY_TRUST_KEYS_MAX];
    size_t valid = 0;
    const uint8_t *untrusted = NULL;
    const uint8_t *bad = NULL;
    for (size_t i = 0; i < s->signature_count; i++) {
        const fdy_model_signature_t *sig = &s->signatures[i];
        if (!s_policy_has(policy, sig->key)) {
            untrusted = untrusted ? untrusted : sig->key;
            continue;
        }
        bool seen = false;
        for (size_t j = 0; j < valid && !seen; j++)
            seen = memcmp(counted[j], sig->key, FDY_MODEL_KEY_LEN) == 0;
        if (seen)
            continue;
        if (!fdy_sign_verify(sig->key, s->manifest, s->manifest_len, sig->sig)) {
            bad = bad ? bad : sig->key;
            continue;
        }
        counted[valid++] = sig->key;
    }
    if (valid_out)
        *valid_out = valid;
    if (valid >= policy->threshold)
        return FOUNDRY_OK;
    char bad_hex[9] = "", untrusted_hex[9] = "";
    if (bad)
        s_hex8(bad, bad_hex);
    if (untrusted)
        s_hex8(untrusted, untrusted_hex);
    if (valid == 0 && bad)
        return fdy_reason_set(reason, FOUNDRY_EDENIED, "bad signature by %s", bad_hex);
    if (valid == 0 && untrusted)
        return fdy_reason_set(reason, FOUNDRY_EDENIED, "signature by an untrusted key %s",
                              untrusted_hex);
    return fdy_reason_set(reason, FOUNDRY_EDENIED, "%zu of %" PRIu32 " required signatures%s%s%s%s",
                          valid, policy->threshold, bad ? "; bad signature by " : "", bad_hex,
                          untrusted ? "; signature by an untrusted key " : "", untrusted_hex);
}

/* ---- sets of policies ---------------------------------------------------- */

fdy_trust_set_t *
fdy_trust_set_new(void)
{
    return calloc(1, sizeof(fdy_trust_set_t));
}

void
fdy_trust_set_destroy(fdy_trust_set_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->policies);
    free(*self_p);
    *self_p = NULL;
}

static foundry_err
s_policy_check(const fdy_trust_policy_t *policy, fdy_reason_t *reason)
{
    if (strcmp(policy->name, "*") != 0 && !fdy_model_name_ok(policy->name))
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "'%.80s' is neither a model name ([a-z0-9][a-z0-9._-]*, at most "
                              "%u) nor '*'",
                              policy->name, FDY_MODEL_NAME_MAX);
    if (policy->key_count == 0 || policy->key_count > FDY_TRUST_KEYS_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "policy of %s: %zu keys (1..%u allowed)",
                              policy->name, policy->key_count, FDY_TRUST_KEYS_MAX);
    if (policy->threshold == 0 || policy->threshold > policy->key_count)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "policy of %s: threshold %" PRIu32 " must be 1..%zu (its keys)",
                              policy->name, policy->threshold, policy->key_count);
    /* A key listed twice would count once, so the policy could never be met
     * the way it reads. */
    for (size_t i = 0; i < policy->key_count; i++)
        for (size_t j = i + 1; j < policy->key_count; j++)
            if (memcmp(policy->keys[i], policy->keys[j], FDY_MODEL_KEY_LEN) == 0) {
                char hex[9];
                s_hex8(policy->keys[i], hex);
                return fdy_reason_set(reason, FOUNDRY_EINVAL, "policy of %s lists key %s twice",
                                      policy->name, hex);
            }
    return FOUNDRY_OK;
}

static fdy_trust_policy_t *
s_find_exact(const fdy_trust_set_t *self, const char *name)
{
    for (size_t i = 0; i < self->count; i++)
        if (strcmp(self->policies[i].name, name) == 0)
            return &self->policies[i];
    return NULL;
}

foundry_err
fdy_trust_set_put(fdy_trust_set_t *self, const fdy_trust_policy_t *policy, fdy_reason_t *reason)
{
    foundry_err err = s_policy_check(policy, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_trust_policy_t *slot = s_find_exact(self, policy->name);
    if (!slot) {
        if (self->count == self->cap) {
            size_t cap = self->cap ? 2 * self->cap : 8;
            fdy_trust_policy_t *grown = realloc(self->policies, cap * sizeof *grown);
            if (!grown)
                return fdy_reason_set(reason, FOUNDRY_ENOMEM, "trust policies: out of memory");
            self->policies = grown;
            self->cap = cap;
        }
        slot = &self->policies[self->count++];
    }
    *slot = *policy;
    return FOUNDRY_OK;
}

const fdy_trust_policy_t *
fdy_trust_set_find(const fdy_trust_set_t *self, const char *name)
{
    const fdy_trust_policy_t *policy = name ? s_find_exact(self, name) : NULL;
    return policy ? policy : s_find_exact(self, "*");
}

/* One line: NAME THRESHOLD KEYHEX [KEYHEX...]. Blank and '#' lines give
 * FOUNDRY_OK with *empty. */
static foundry_err
s_parse_line(char *line, fdy_trust_policy_t *policy, bool *empty, fdy_reason_t *reason)
{
    memset(policy, 0, sizeof *policy);
    char *hash = strchr(line, '#');
    if (hash)
        *hash = '\0';
    char *save = NULL;
    const char *sep = " \t\r\n";
    char *name = strtok_r(line, sep, &save);
    *empty = !name;
    if (!name)
        return FOUNDRY_OK;
    if (strlen(name) > FDY_MODEL_NAME_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "model name '%.80s' is too long", name);
    snprintf(policy->name, sizeof policy->name, "%s", name);
    char *threshold = strtok_r(NULL, sep, &save);
    char *end = NULL;
    unsigned long k = threshold ? strtoul(threshold, &end, 10) : 0;
    if (!threshold || *end != '\0' || threshold[0] == '-' || k > UINT32_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "expected NAME THRESHOLD KEYHEX..., got no number after %s", name);
    policy->threshold = (uint32_t) k;
    for (char *hex; (hex = strtok_r(NULL, sep, &save));) {
        if (policy->key_count == FDY_TRUST_KEYS_MAX)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "more than %u keys for %s",
                                  FDY_TRUST_KEYS_MAX, name);
        size_t got = 0;
        if (strlen(hex) != KEY_HEX_LEN ||
            sodium_hex2bin(policy->keys[policy->key_count], FDY_MODEL_KEY_LEN, hex, KEY_HEX_LEN,
                           NULL, &got, NULL) != 0 ||
            got != FDY_MODEL_KEY_LEN)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "key '%.80s' is not %u hex digits", hex,
                                  KEY_HEX_LEN);
        policy->key_count++;
    }
    return s_policy_check(policy, reason);
}

foundry_err
fdy_trust_set_load(const char *path, fdy_trust_set_t **out, fdy_reason_t *reason)
{
    *out = NULL;
    FILE *file = fopen(path, "re");
    if (!file)
        return fdy_reason_set(reason, FOUNDRY_EIO, "cannot open %s: %s", path, strerror(errno));
    fdy_trust_set_t *set = fdy_trust_set_new();
    foundry_err err = set ? FOUNDRY_OK : fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
    char line[POLICY_LINE_MAX];
    for (unsigned number = 1; err == FOUNDRY_OK && fgets(line, sizeof line, file); number++) {
        if (!strchr(line, '\n') && !feof(file)) {
            err = fdy_reason_set(reason, FOUNDRY_EINVAL, "%s:%u: line longer than %d bytes", path,
                                 number, POLICY_LINE_MAX - 2);
            break;
        }
        fdy_trust_policy_t policy;
        bool empty = false;
        fdy_reason_t why;
        fdy_reason_clear(&why);
        err = s_parse_line(line, &policy, &empty, &why);
        if (err == FOUNDRY_OK && !empty && s_find_exact(set, policy.name))
            err = fdy_reason_set(&why, FOUNDRY_EINVAL, "a second policy for %s", policy.name);
        if (err == FOUNDRY_OK && !empty)
            err = fdy_trust_set_put(set, &policy, &why);
        if (err != FOUNDRY_OK)
            fdy_reason_set(reason, err, "%s:%u: %s", path, number, why.text);
    }
    if (err == FOUNDRY_OK && ferror(file))
        err = fdy_reason_set(reason, FOUNDRY_EIO, "cannot read %s", path);
    fclose(file);
    if (err != FOUNDRY_OK) {
        fdy_trust_set_destroy(&set);
        return err;
    }
    *out = set;
    return FOUNDRY_OK;
}

foundry_err
fdy_trust_set_format(const fdy_trust_set_t *self, char **text_out)
{
    *text_out = NULL;
    /* Each line: name, threshold, keys as space-separated hex. */
    size_t line_max = FDY_MODEL_NAME_MAX + 12 + FDY_TRUST_KEYS_MAX * (KEY_HEX_LEN + 1) + 2;
    char *text = malloc(self->count * line_max + 1);
    if (!text)
        return FOUNDRY_ENOMEM;
    size_t len = 0;
    for (size_t i = 0; i < self->count; i++) {
        const fdy_trust_policy_t *p = &self->policies[i];
        len += (size_t) snprintf(text + len, line_max, "%s %" PRIu32, p->name, p->threshold);
        for (size_t k = 0; k < p->key_count; k++) {
            text[len++] = ' ';
            sodium_bin2hex(text + len, KEY_HEX_LEN + 1, p->keys[k], FDY_MODEL_KEY_LEN);
            len += KEY_HEX_LEN;
        }
        text[len++] = '\n';
    }
    text[len] = '\0';
    *text_out = text;
    return FOUNDRY_OK;
}
