/*  test_release_log.c: the hash-chained release log (lib/daemon/
 *  release_log.c): a chain of five verifies whole and from a held head;
 *  a rewritten, dropped or reordered entry, the wrong release key and
 *  another model's entries are each refused with the reason, and the head
 *  a verifier holds is left as it was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "release_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHAIN 5

typedef struct {
    char dir[64];
    fdy_sign_key_t *key;
    fdy_sign_key_t *other_key;
    uint8_t pub[FDY_MODEL_KEY_LEN];
    uint8_t other_pub[FDY_MODEL_KEY_LEN];
    fdy_model_signed_entry_t entries[CHAIN];
    uint8_t hashes[CHAIN][FDY_MODEL_HASH_LEN];
    fdy_arena_t *arena;
} fixture_t;

static int
s_setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_release_log.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char path[128];
    fdy_reason_t reason;
    snprintf(path, sizeof path, "%s/release.sign", f->dir);
    assert_int_equal(fdy_sign_key_load_or_create(path, &f->key, &reason), FOUNDRY_OK);
    snprintf(path, sizeof path, "%s/other.sign", f->dir);
    assert_int_equal(fdy_sign_key_load_or_create(path, &f->other_key, &reason), FOUNDRY_OK);
    fdy_sign_key_public(f->key, f->pub);
    fdy_sign_key_public(f->other_key, f->other_pub);
    /* Versions 1..4, then a rollback to 3. */
    uint64_t index = 0;
    uint8_t head[FDY_MODEL_HASH_LEN] = {0};
    for (int i = 0; i < CHAIN; i++) {
        char manifest[32];
        int len = snprintf(manifest, sizeof manifest, "manifest %d", i);
        bool rollback = i == CHAIN - 1;
        uint64_t version = rollback ? 3 : (uint64_t) i + 1;
        assert_int_equal(fdy_release_append(f->key, "defect-detector", index, index ? head : NULL,
                                            version, (const uint8_t *) manifest, (size_t) len,
                                            rollback, 1000 + (uint64_t) i, &f->entries[i], &reason),
                         FOUNDRY_OK);
        fdy_release_hash(f->entries[i].entry, f->entries[i].entry_len, head);
        memcpy(f->hashes[i], head, sizeof head);
        index++;
    }
    f->arena = fdy_arena_new(1u << 16);
    *state = f;
    return 0;
}

static int
s_teardown(void **state)
{
    fixture_t *f = *state;
    for (int i = 0; i < CHAIN; i++)
        free((void *) f->entries[i].entry);
    fdy_sign_key_destroy(&f->key);
    fdy_sign_key_destroy(&f->other_key);
    fdy_arena_destroy(&f->arena);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void
test_release_log_chain_verifies(void **state)
{
    fixture_t *f = *state;
    fdy_release_head_t head = {0};
    fdy_model_entry_t last;
    fdy_reason_t reason;
    assert_int_equal(fdy_release_verify(f->pub, "defect-detector", f->entries, CHAIN, &head,
                                        f->arena, &last, &reason),
                     FOUNDRY_OK);
    assert_int_equal(head.index, CHAIN);
    assert_memory_equal(head.hash, f->hashes[CHAIN - 1], FDY_MODEL_HASH_LEN);
    assert_int_equal(head.version, 3);         /* rolled back to 3 */
    assert_int_equal(head.release_version, 4); /* the highest version seen */
    assert_int_equal(last.index, CHAIN);
    assert_true(last.rollback);
    assert_int_equal(last.time_ms, 1004);
    /* The entry names its manifest by hash. */
    uint8_t mh[FDY_MODEL_HASH_LEN];
    fdy_release_hash("manifest 4", 10, mh);
    assert_memory_equal(last.manifest_hash, mh, sizeof mh);
    /* Entry 1's prev_hash is zeros; entry 2's is entry 1's hash. */
    fdy_model_entry_t e;
    assert_int_equal(fdy_codec_model_entry_decode(f->entries[1].entry, f->entries[1].entry_len,
                                                  f->arena, &e, &reason),
                     FOUNDRY_OK);
    assert_memory_equal(e.prev_hash, f->hashes[0], FDY_MODEL_HASH_LEN);
    /* Nothing new: fine, and the head is as it was. */
    assert_int_equal(
        fdy_release_verify(f->pub, "defect-detector", NULL, 0, &head, NULL, NULL, &reason),
        FOUNDRY_OK);
    assert_int_equal(head.index, CHAIN);
}

static void
test_release_log_verify_from_held_head(void **state)
{
    fixture_t *f = *state;
    fdy_release_head_t head = {0};
    fdy_reason_t reason;
    assert_int_equal(
        fdy_release_verify(f->pub, "defect-detector", f->entries, 2, &head, NULL, NULL, &reason),
        FOUNDRY_OK);
    assert_int_equal(head.index, 2);
    assert_int_equal(head.version, 2);
    assert_int_equal(fdy_release_verify(f->pub, "defect-detector", &f->entries[2], CHAIN - 2, &head,
                                        NULL, NULL, &reason),
                     FOUNDRY_OK);
    assert_int_equal(head.index, CHAIN);
    assert_memory_equal(head.hash, f->hashes[CHAIN - 1], FDY_MODEL_HASH_LEN);
}

/* Verifies entries from a head at index `at` and expects a refusal whose
 * reason holds words, with the head unchanged. */
static void
s_refused(fixture_t *f, const uint8_t *key, const char *name, const fdy_model_signed_entry_t *e,
          size_t n, uint64_t at, foundry_err want, const char *words)
{
    fdy_release_head_t head = {0};
    fdy_reason_t reason;
    if (at > 0)
        assert_int_equal(fdy_release_verify(f->pub, "defect-detector", f->entries, at, &head, NULL,
                                            NULL, &reason),
                         FOUNDRY_OK);
    fdy_release_head_t before = head;
    fdy_reason_clear(&reason);
    assert_int_equal(fdy_release_verify(key, name, e, n, &head, f->arena, NULL, &reason), want);
    if (!strstr(reason.text, words))
        fail_msg("reason '%s' does not say '%s'", reason.text, words);
    assert_memory_equal(&head, &before, sizeof head);
}

static void
test_release_log_rewritten_entry_refused(void **state)
{
    fixture_t *f = *state;
    fdy_reason_t reason;
    /* The broker's own key signs a different entry 3 (a rewrite of
     * history): it does not extend entry 2 as held... */
    uint8_t wrong_prev[FDY_MODEL_HASH_LEN];
    memset(wrong_prev, 0x77, sizeof wrong_prev);
    fdy_model_signed_entry_t forged;
    assert_int_equal(fdy_release_append(f->key, "defect-detector", 2, wrong_prev, 9,
                                        (const uint8_t *) "evil", 4, false, 1, &forged, &reason),
                     FOUNDRY_OK);
    s_refused(f, f->pub, "defect-detector", &forged, 1, 2, FOUNDRY_EDENIED,
              "entry 3 does not extend the log held at 2 (rewritten?)");
    free((void *) forged.entry);
    /* ...and bytes changed after signing fail the signature. */
    uint8_t copy[256];
    memcpy(copy, f->entries[2].entry, f->entries[2].entry_len);
    copy[f->entries[2].entry_len - 1] ^= 1; /* time_ms's last byte */
    fdy_model_signed_entry_t tampered = f->entries[2];
    tampered.entry = copy;
    s_refused(f, f->pub, "defect-detector", &tampered, 1, 2, FOUNDRY_EDENIED,
              "bad release signature");
}

static void
test_release_log_dropped_entry_refused(void **state)
{
    fixture_t *f = *state;
    fdy_model_signed_entry_t skip[2] = {f->entries[0], f->entries[2]};
    s_refused(f, f->pub, "defect-detector", skip, 2, 0, FOUNDRY_EDENIED,
              "entry 3 follows the log held at 1: entries missing");
    s_refused(f, f->pub, "defect-detector", &f->entries[3], 2, 2, FOUNDRY_EDENIED,
              "entries missing");
}

static void
test_release_log_reordered_entries_refused(void **state)
{
    fixture_t *f = *state;
    fdy_model_signed_entry_t swapped[3] = {f->entries[0], f->entries[2], f->entries[1]};
    s_refused(f, f->pub, "defect-detector", swapped, 3, 0, FOUNDRY_EDENIED, "entry 3");
    /* A replay of what is already held does not extend it either. */
    s_refused(f, f->pub, "defect-detector", &f->entries[1], 1, 3, FOUNDRY_EDENIED,
              "entry 2 does not extend the log held at 3");
}

static void
test_release_log_wrong_key_refused(void **state)
{
    fixture_t *f = *state;
    s_refused(f, f->other_pub, "defect-detector", f->entries, CHAIN, 0, FOUNDRY_EDENIED,
              "entry 1: bad release signature");
    /* Entries signed by another key, chained correctly, are refused too. */
    fdy_model_signed_entry_t other;
    fdy_reason_t reason;
    assert_int_equal(fdy_release_append(f->other_key, "defect-detector", 0, NULL, 1,
                                        (const uint8_t *) "m", 1, false, 1, &other, &reason),
                     FOUNDRY_OK);
    s_refused(f, f->pub, "defect-detector", &other, 1, 0, FOUNDRY_EDENIED, "bad release signature");
    free((void *) other.entry);
}

static void
test_release_log_other_name_refused(void **state)
{
    fixture_t *f = *state;
    s_refused(f, f->pub, "ocr", f->entries, CHAIN, 0, FOUNDRY_EDENIED,
              "entry 1 is of model defect-detector, not ocr");
    fdy_model_signed_entry_t garbage = {(const uint8_t *) "\xff\xff", 2, {0}};
    s_refused(f, f->pub, "defect-detector", &garbage, 1, 0, FOUNDRY_EPROTO, "does not decode");
}

static void
test_release_log_append_refusals(void **state)
{
    fixture_t *f = *state;
    fdy_model_signed_entry_t out;
    fdy_reason_t reason;
    assert_int_equal(fdy_release_append(f->key, "Bad Name", 0, NULL, 1, (const uint8_t *) "m", 1,
                                        false, 1, &out, &reason),
                     FOUNDRY_EINVAL);
    assert_null(out.entry);
    assert_int_equal(fdy_release_append(f->key, "ocr", 0, NULL, 0, (const uint8_t *) "m", 1, false,
                                        1, &out, &reason),
                     FOUNDRY_EINVAL);
    assert_int_equal(fdy_release_append(f->key, "ocr", 3, NULL, 1, (const uint8_t *) "m", 1, false,
                                        1, &out, &reason),
                     FOUNDRY_EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_release_log_chain_verifies, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_release_log_verify_from_held_head, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_release_log_rewritten_entry_refused, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_release_log_dropped_entry_refused, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_release_log_reordered_entries_refused, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_release_log_wrong_key_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_release_log_other_name_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_release_log_append_refusals, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("release_log", tests, NULL, NULL);
}
