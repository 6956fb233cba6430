/*  release_log.c: building and verifying a model's hash-chained, signed
 *  release log (release_log.h). Storage of the entries is the caller's (the
 *  broker's store, an agent's state file); here only the chain rules.
 */
#include "release_log.h"

#include <assert.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* One decoded entry needs about its size plus protobuf-c's structs. */
#define ENTRY_BUDGET(len) FDY_DECODE_BUDGET(len)

void
fdy_release_hash(const void *bytes, size_t len, uint8_t out[FDY_MODEL_HASH_LEN])
{
    crypto_generichash(out, FDY_MODEL_HASH_LEN, bytes, len, NULL, 0);
}

foundry_err
fdy_release_append(const fdy_sign_key_t *release_key, const char *name, uint64_t head_index,
                   const uint8_t head_hash[FDY_MODEL_HASH_LEN], uint64_t version,
                   const uint8_t *manifest, size_t manifest_len, bool rollback, uint64_t time_ms,
                   fdy_model_signed_entry_t *out, fdy_reason_t *reason)
{
    assert(release_key && out);
    memset(out, 0, sizeof *out);
    if (head_index > 0 && !head_hash)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "release log of %s: entry %" PRIu64 " without its hash",
                              name ? name : "", head_index);
    if (!manifest || manifest_len == 0)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "release entry without a manifest");
    fdy_model_entry_t entry = {.name = name,
                               .index = head_index + 1,
                               .version = version,
                               .rollback = rollback,
                               .time_ms = time_ms};
    if (head_index > 0)
        memcpy(entry.prev_hash, head_hash, FDY_MODEL_HASH_LEN);
    fdy_release_hash(manifest, manifest_len, entry.manifest_hash);
    uint8_t *buf = NULL;
    size_t len = 0;
    foundry_err err = fdy_codec_model_entry_encode(&entry, &buf, &len, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_sign(release_key, buf, len, out->sig);
    out->entry = buf;
    out->entry_len = len;
    return FOUNDRY_OK;
}

/* Checks one entry against the head it must extend; on success *cur is
 * advanced past it. */
static foundry_err
s_verify_one(const uint8_t release_key[FDY_MODEL_KEY_LEN], const char *name,
             const fdy_model_signed_entry_t *signed_entry, size_t position, fdy_arena_t *arena,
             fdy_release_head_t *cur, fdy_model_entry_t *decoded, fdy_reason_t *reason)
{
    fdy_reason_t why;
    fdy_reason_clear(&why);
    if (fdy_codec_model_entry_decode(signed_entry->entry, signed_entry->entry_len, arena, decoded,
                                     &why) != FOUNDRY_OK)
        return fdy_reason_set(reason, FOUNDRY_EPROTO, "release entry %zu of %s does not decode: %s",
                              position + 1, name, why.text);
    uint64_t index = decoded->index;
    if (!fdy_sign_verify(release_key, signed_entry->entry, signed_entry->entry_len,
                         signed_entry->sig))
        return fdy_reason_set(reason, FOUNDRY_EDENIED, "entry %" PRIu64 ": bad release signature",
                              index);
    if (strcmp(decoded->name, name) != 0)
        return fdy_reason_set(reason, FOUNDRY_EDENIED,
                              "entry %" PRIu64 " is of model %.80s, not %s", index, decoded->name,
                              name);
    if (index <= cur->index)
        return fdy_reason_set(reason, FOUNDRY_EDENIED,
                              "entry %" PRIu64 " does not extend the log held at %" PRIu64
                              " (replayed or reordered?)",
                              index, cur->index);
    if (index != cur->index + 1)
        return fdy_reason_set(reason, FOUNDRY_EDENIED,
                              "entry %" PRIu64 " follows the log held at %" PRIu64
                              ": entries missing (dropped?)",
                              index, cur->index);
    /* cur->hash is zeros before the first entry, as entry 1's prev_hash. */
    if (sodium_memcmp(decoded->prev_hash, cur->hash, FDY_MODEL_HASH_LEN) != 0)
        return fdy_reason_set(reason, FOUNDRY_EDENIED,
                              "entry %" PRIu64 " does not extend the log held at %" PRIu64
                              " (rewritten?)",
                              index, cur->index);
    cur->index = index;
    fdy_release_hash(signed_entry->entry, signed_entry->entry_len, cur->hash);
    cur->version = decoded->version;
    /* A rollback's own release number is in its manifest, which the caller
     * checks; the entry only says which version is current again. */
    if (!decoded->rollback && decoded->version > cur->release_version)
        cur->release_version = decoded->version;
    return FOUNDRY_OK;
}

foundry_err
fdy_release_verify(const uint8_t release_key[FDY_MODEL_KEY_LEN], const char *name,
                   const fdy_model_signed_entry_t *entries, size_t count, fdy_release_head_t *head,
                   fdy_arena_t *arena, fdy_model_entry_t *decoded_out, fdy_reason_t *reason)
{
    assert(release_key && name && head);
    assert(!decoded_out || arena);
    if (count > 0 && !entries)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "entry count without entries");
    if (count == 0)
        return FOUNDRY_OK;
    fdy_release_head_t cur = *head;
    if (cur.index == 0)
        memset(cur.hash, 0, sizeof cur.hash);
    /* Each entry is decoded in a scratch arena, reset between entries, so
     * a long log costs one entry's memory; the last one is decoded again
     * into the caller's arena for *decoded_out. */
    fdy_arena_t *scratch = fdy_arena_new(ENTRY_BUDGET(0));
    if (!scratch)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "verifying the release log: out of memory");
    foundry_err err = FOUNDRY_OK;
    for (size_t i = 0; i < count && err == FOUNDRY_OK; i++) {
        fdy_arena_reset(scratch, ENTRY_BUDGET(entries[i].entry_len));
        fdy_model_entry_t decoded;
        err = s_verify_one(release_key, name, &entries[i], i, scratch, &cur, &decoded, reason);
    }
    fdy_arena_destroy(&scratch);
    if (err == FOUNDRY_OK && decoded_out) {
        const fdy_model_signed_entry_t *last = &entries[count - 1];
        fdy_reason_t why;
        fdy_reason_clear(&why);
        err = fdy_codec_model_entry_decode(last->entry, last->entry_len, arena, decoded_out, &why);
        if (err != FOUNDRY_OK)
            err = fdy_reason_set(reason, err, "the last release entry of %s: %s", name, why.text);
    }
    if (err == FOUNDRY_OK)
        *head = cur;
    return err;
}
