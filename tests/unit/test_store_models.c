/*  test_store_models.c: the models table on a real store: trust and upload
 *  records round-trip through their formats and the commit part, a removal
 *  removes, and the store check (store_check.c) names a damaged record: an
 *  upload whose hashes do not give its id, a trust record cut short, a log
 *  entry that does not decode.
 */
#include "artifact.h"
#include "commit.h"
#include "store_check.h"
#include "store_models.h"

#include "fixture_store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define CHUNK FDY_MODEL_CHUNK_MIN

static void
s_write(fdy_store_t *store, const fdy_store_model_write_t *items, size_t count)
{
    fdy_store_models_t writes = {.items = items, .count = count};
    fx_store_commit_one(store, &fdy_store_models_part, &writes);
}

typedef struct {
    size_t count;
    uint8_t first_key[64];
    size_t first_key_len;
    uint8_t have0;
} s_seen_t;

static foundry_err
s_seen(const uint8_t *key, size_t key_len, const uint8_t *value, size_t len, void *user,
       fdy_reason_t *reason)
{
    s_seen_t *seen = user;
    if (seen->count++ == 0 && key_len <= sizeof seen->first_key) {
        memcpy(seen->first_key, key, key_len);
        seen->first_key_len = key_len;
        fdy_store_model_upload_t up;
        if (fdy_store_model_upload_decode(value, len, &up, reason) == FOUNDRY_OK)
            seen->have0 = up.have[0];
    }
    return FOUNDRY_OK;
}

/* An upload of 2.5 chunks whose chunk hashes are made up (the store
 * checks the id against them, not the blobs). */
static void
s_upload(uint8_t hashes[3 * 32], uint8_t id[32], uint8_t have[1], fdy_store_model_upload_t *up)
{
    for (size_t i = 0; i < 3 * 32; i++)
        hashes[i] = (uint8_t) (i * 7 + 1);
    have[0] = 0x05;
    *up = (fdy_store_model_upload_t){.size = 2 * CHUNK + CHUNK / 2,
                                     .chunk_size = CHUNK,
                                     .created_ms = 1000,
                                     .touched_ms = 2000,
                                     .chunk_count = 3,
                                     .chunk_hashes = hashes,
                                     .have = have};
    fdy_artifact_id(up->size, up->chunk_size, hashes, 3, id);
}

static void
test_store_models_round_trip(void **state)
{
    (void) state;
    char dir[FX_STORE_DIR_LEN];
    fdy_store_t *store = NULL;
    fdy_reason_t reason = {{0}};
    fdy_store_opts_t opts = {.dedupe_window_ms = 60000};
    fx_store_open_tmp(dir, "fdy-store-models", &opts, &store, &reason);

    uint8_t hashes[3 * 32], id[32], have[1];
    fdy_store_model_upload_t up;
    s_upload(hashes, id, have, &up);
    uint8_t *rec = NULL;
    size_t rec_len = 0;
    assert_int_equal(fdy_store_model_upload_encode(&up, &rec, &rec_len, &reason), FOUNDRY_OK);
    fdy_trust_policy_t policy = {.name = "vision", .threshold = 2, .key_count = 2};
    memset(policy.keys[0], 0x11, 32);
    memset(policy.keys[1], 0x22, 32);
    uint8_t *trust = NULL;
    size_t trust_len = 0;
    assert_int_equal(fdy_store_model_trust_encode(&policy, &trust, &trust_len, &reason),
                     FOUNDRY_OK);
    fdy_store_model_write_t writes[] = {
        {FDY_STORE_MODEL_UPLOADS, id, 32, rec, rec_len},
        {FDY_STORE_MODEL_TRUST, (const uint8_t *) "vision", 6, trust, trust_len},
        {FDY_STORE_MODEL_TRUST, (const uint8_t *) "audio", 5, trust, trust_len},
    };
    s_write(store, writes, 3);
    fdy_store_model_write_t removal = {FDY_STORE_MODEL_TRUST, (const uint8_t *) "audio", 5, NULL,
                                       0};
    s_write(store, &removal, 1);

    s_seen_t uploads = {0};
    assert_int_equal(
        fdy_store_models_scan(store, FDY_STORE_MODEL_UPLOADS, s_seen, &uploads, &reason),
        FOUNDRY_OK);
    assert_int_equal(uploads.count, 1);
    assert_memory_equal(uploads.first_key, id, 32);
    assert_int_equal(uploads.have0, 0x05);
    s_seen_t policies = {0};
    assert_int_equal(
        fdy_store_models_scan(store, FDY_STORE_MODEL_TRUST, s_seen, &policies, &reason),
        FOUNDRY_OK);
    assert_int_equal(policies.count, 1);
    assert_memory_equal(policies.first_key, "vision", 6);
    fdy_trust_policy_t back;
    assert_int_equal(fdy_store_model_trust_decode("vision", trust, trust_len, &back, &reason),
                     FOUNDRY_OK);
    assert_int_equal(back.threshold, 2);
    assert_memory_equal(back.keys[1], policy.keys[1], 32);

    fdy_store_close(&store);
    assert_int_equal(fx_store_check(dir).verdict, FDY_STORE_CHECK_CLEAN);
    fx_store_rm(dir, &store);
    free(rec);
    free(trust);
}

static void
test_store_models_check_names_damaged_records(void **state)
{
    (void) state;
    char dir[FX_STORE_DIR_LEN];
    fdy_store_t *store = NULL;
    fdy_reason_t reason = {{0}};
    fdy_store_opts_t opts = {.dedupe_window_ms = 60000};
    fx_store_open_tmp(dir, "fdy-store-models-bad", &opts, &store, &reason);

    uint8_t hashes[3 * 32], id[32], have[1];
    fdy_store_model_upload_t up;
    s_upload(hashes, id, have, &up);
    uint8_t *rec = NULL;
    size_t rec_len = 0;
    assert_int_equal(fdy_store_model_upload_encode(&up, &rec, &rec_len, &reason), FOUNDRY_OK);
    /* Stored under another id: its hashes no longer name it. */
    uint8_t other[32];
    memset(other, 0xab, sizeof other);
    static const uint8_t short_trust[] = {1, 2, 0, 0};
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0x07, 0x01};
    uint8_t log_key[FDY_STORE_MODEL_KEY_MAX];
    size_t log_key_len = fdy_store_model_log_key("vision", 1, log_key);
    fdy_store_model_write_t bad[] = {
        {FDY_STORE_MODEL_UPLOADS, other, 32, rec, rec_len},
        {FDY_STORE_MODEL_TRUST, (const uint8_t *) "vision", 6, short_trust, sizeof short_trust},
        {FDY_STORE_MODEL_LOG, log_key, log_key_len, garbage, sizeof garbage},
    };
    s_write(store, bad, 3);
    fdy_store_close(&store);
    fdy_store_check_result_t damaged = fx_store_check(dir);
    assert_int_equal(damaged.verdict, FDY_STORE_CHECK_DAMAGED);
    assert_int_equal(damaged.damaged, 3);
    assert_non_null(strstr(damaged.reason, "trust vision: not a trust record"));
    fx_store_rm(dir, &store);
    free(rec);
}

static void
test_store_models_log_key_round_trip(void **state)
{
    (void) state;
    uint8_t key[FDY_STORE_MODEL_KEY_MAX];
    size_t len = fdy_store_model_log_key("vision.v2", 258, key);
    char name[FDY_MODEL_NAME_MAX + 1];
    uint64_t index = 0;
    fdy_reason_t reason = {{0}};
    assert_int_equal(fdy_store_model_log_key_parse(key, len, name, &index, &reason), FOUNDRY_OK);
    assert_string_equal(name, "vision.v2");
    assert_int_equal(index, 258);
    assert_int_equal(fdy_store_model_log_key_parse(key, len - 1, name, &index, &reason),
                     FOUNDRY_ECORRUPT);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_models_round_trip),
        cmocka_unit_test(test_store_models_check_names_damaged_records),
        cmocka_unit_test(test_store_models_log_key_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
