/*  test_model_manifest.c: how libfoundry builds a model manifest from push
 *  options (lib/client/model_manifest.c): bad options are refused naming
 *  the option; the manifest carries every option and the artifact; each
 *  key signs the exact encoded bytes, so a 2-of-2 trust policy accepts
 *  the result and one key alone does not; a key given twice is refused;
 *  a rollback reuses its base manifest's artifact and targets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "artifact.h"
#include "model_manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char dir[64];
    char key_a[128];
    char key_b[128];
    uint8_t pub_a[FDY_MODEL_KEY_LEN];
    uint8_t pub_b[FDY_MODEL_KEY_LEN];
} fixture_t;

static int
s_setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_model_manifest.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    fdy_reason_t reason = {{0}};
    assert_int_equal(fdy_sign_keygen(f->dir, "alice", f->pub_a, &reason), FOUNDRY_OK);
    assert_int_equal(fdy_sign_keygen(f->dir, "bob", f->pub_b, &reason), FOUNDRY_OK);
    snprintf(f->key_a, sizeof f->key_a, "%s/alice.sign", f->dir);
    snprintf(f->key_b, sizeof f->key_b, "%s/bob.sign", f->dir);
    *state = f;
    return 0;
}

static int
s_teardown(void **state)
{
    fixture_t *f = *state;
    char path[192];
    const char *files[] = {"alice.sign", "alice.sign.pub", "bob.sign", "bob.sign.pub"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", f->dir, files[i]);
        unlink(path);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static const char *const s_sites[] = {"siheung", "pangyo"};
static const char *const s_labels[] = {"line=3"};
static const char *const s_meta[] = {"framework=onnx", "trained=2026-11-30"};

static foundry_model_push_opts_t
s_opts(const char *const *keys, size_t key_count)
{
    foundry_model_push_opts_t o;
    foundry_model_push_opts_init(&o);
    o.file = "detector.onnx";
    o.name = "detector";
    o.version = 7;
    o.sign_key_files = keys;
    o.sign_key_count = key_count;
    o.sites = s_sites;
    o.site_count = 2;
    o.labels = s_labels;
    o.label_count = 1;
    o.metadata = s_meta;
    o.metadata_count = 2;
    o.expires_ms = 1900000000000ull;
    return o;
}

static void
assert_refused(const foundry_model_push_opts_t *o, const char *needle)
{
    fdy_reason_t reason = {{0}};
    assert_int_equal(fdy_model_opts_check(o, &reason), FOUNDRY_EINVAL);
    if (!strstr(reason.text, needle))
        fail_msg("reason '%s' does not mention '%s'", reason.text, needle);
}

static void
test_model_manifest_refuses_bad_options(void **state)
{
    fixture_t *f = *state;
    const char *keys[] = {f->key_a};
    foundry_model_push_opts_t o = s_opts(keys, 1);
    fdy_reason_t reason = {{0}};
    assert_int_equal(fdy_model_opts_check(&o, &reason), FOUNDRY_OK);

    o = s_opts(keys, 1), o.name = "Detector";
    assert_refused(&o, "bad model name 'Detector'");
    o = s_opts(keys, 1), o.version = 0;
    assert_refused(&o, "version must be above 0");
    o = s_opts(keys, 1), o.chunk_size = 1000;
    assert_refused(&o, "chunk size 1000");
    o = s_opts(keys, 1), o.window = FOUNDRY_MODEL_WINDOW_MAX + 1;
    assert_refused(&o, "window");
    o = s_opts(keys, 0);
    assert_refused(&o, "no signing key");
    const char *bad_labels[] = {"gpu"};
    o = s_opts(keys, 1), o.labels = bad_labels;
    assert_refused(&o, "labels 'gpu' is not key=value");
    const char *bad_meta[] = {"=x"};
    o = s_opts(keys, 1), o.metadata = bad_meta, o.metadata_count = 1;
    assert_refused(&o, "metadata items '=x'");
    o = s_opts(keys, 1), o.file = NULL;
    assert_refused(&o, "no file");
    o = s_opts(keys, 1), o.rollback = 1;
    assert_refused(&o, "needs the base manifest");
    o = s_opts(keys, 1), o.base_manifest = "x", o.base_manifest_len = 1;
    assert_refused(&o, "only for a rollback");
    o = s_opts(keys, 1), o.file = NULL, o.rollback = 1, o.base_manifest = "x",
    o.base_manifest_len = 1, o.rollback_of = 9, o.release_version = 9;
    assert_refused(&o, "release_version 9 must be above");
    o.rollback_of = 7, o.release_version = 9;
    assert_refused(&o, "7 is not below rollback_of 7");
}

/* A signed manifest of the test artifact, as a publisher would send it. */
static void
s_build(const foundry_model_push_opts_t *o, const fdy_model_manifest_t *base,
        fdy_model_signed_buf_t *out)
{
    static uint8_t hashes[3 * FDY_MODEL_HASH_LEN];
    for (size_t i = 0; i < sizeof hashes; i++)
        hashes[i] = (uint8_t) i;
    fdy_model_artifact_t artifact = {.size = 2 * FDY_MODEL_CHUNK_MIN + 10,
                                     .chunk_size = FDY_MODEL_CHUNK_MIN,
                                     .chunk_hashes = hashes,
                                     .chunk_count = 3};
    fdy_artifact_id(artifact.size, artifact.chunk_size, hashes, 3, artifact.id);
    fdy_model_manifest_t m;
    fdy_model_manifest_fill(o, &artifact, base, 1700000000000ull, &m);
    fdy_reason_t reason = {{0}};
    fdy_sign_key_t **keys = NULL;
    assert_int_equal(fdy_model_keys_load(o, &keys, &reason), FOUNDRY_OK);
    foundry_err err = fdy_model_manifest_sign(&m, (const fdy_sign_key_t *const *) keys,
                                              o->sign_key_count, out, &reason);
    if (err != FOUNDRY_OK)
        fail_msg("sign: %s", reason.text);
    fdy_model_keys_free(&keys, o->sign_key_count);
}

static void
test_model_manifest_signed_by_every_key(void **state)
{
    fixture_t *f = *state;
    const char *keys[] = {f->key_a, f->key_b};
    foundry_model_push_opts_t o = s_opts(keys, 2);
    fdy_model_signed_buf_t buf;
    s_build(&o, NULL, &buf);
    assert_int_equal(buf.signature_count, 2);

    fdy_model_signed_t view = fdy_model_signed_view(&buf);
    fdy_trust_policy_t policy = {.name = "detector", .threshold = 2, .key_count = 2};
    memcpy(policy.keys[0], f->pub_a, FDY_MODEL_KEY_LEN);
    memcpy(policy.keys[1], f->pub_b, FDY_MODEL_KEY_LEN);
    fdy_reason_t reason = {{0}};
    size_t valid = 0;
    assert_int_equal(fdy_trust_check(&policy, &view, &valid, &reason), FOUNDRY_OK);
    assert_int_equal(valid, 2);

    /* One key alone does not make 2 of 2. */
    fdy_model_signed_buf_t one;
    foundry_model_push_opts_t single = s_opts(keys, 1);
    s_build(&single, NULL, &one);
    fdy_model_signed_t one_view = fdy_model_signed_view(&one);
    assert_int_equal(fdy_trust_check(&policy, &one_view, &valid, &reason), FOUNDRY_EDENIED);

    /* What travels decodes to what was asked for. */
    fdy_arena_t *arena = fdy_arena_new(FDY_DECODE_BUDGET(buf.manifest_len));
    fdy_model_manifest_t m;
    assert_int_equal(
        fdy_codec_model_manifest_decode(buf.manifest, buf.manifest_len, arena, &m, &reason),
        FOUNDRY_OK);
    assert_string_equal(m.name, "detector");
    assert_int_equal(m.version, 7);
    assert_int_equal(m.size, 2 * FDY_MODEL_CHUNK_MIN + 10);
    assert_int_equal(m.chunk_count, 3);
    assert_int_equal(m.site_count, 2);
    assert_string_equal(m.sites[1], "pangyo");
    assert_int_equal(m.label_count, 1);
    assert_string_equal(m.labels[0], "line=3");
    assert_int_equal(m.metadata_count, 2);
    assert_int_equal(m.expires_ms, 1900000000000ull);
    assert_int_equal(m.created_ms, 1700000000000ull);
    assert_false(m.rollback);
    fdy_arena_destroy(&arena);
    fdy_model_signed_buf_free(&one);
    fdy_model_signed_buf_free(&buf);
}

static void
test_model_manifest_key_twice_refused(void **state)
{
    fixture_t *f = *state;
    const char *keys[] = {f->key_a, f->key_a};
    foundry_model_push_opts_t o = s_opts(keys, 2);
    fdy_sign_key_t **loaded = NULL;
    fdy_reason_t reason = {{0}};
    assert_int_equal(fdy_model_keys_load(&o, &loaded, &reason), FOUNDRY_EINVAL);
    assert_non_null(strstr(reason.text, "same key"));
    assert_null(loaded);
    const char *missing[] = {"/nonexistent/x.sign"};
    o = s_opts(missing, 1);
    assert_int_not_equal(fdy_model_keys_load(&o, &loaded, &reason), FOUNDRY_OK);
    assert_non_null(strstr(reason.text, "/nonexistent/x.sign"));
}

static void
test_model_manifest_rollback_reuses_base(void **state)
{
    fixture_t *f = *state;
    const char *keys[] = {f->key_a};
    foundry_model_push_opts_t first = s_opts(keys, 1);
    first.version = 3;
    fdy_model_signed_buf_t base_buf;
    s_build(&first, NULL, &base_buf);
    fdy_model_signed_t base_view = fdy_model_signed_view(&base_buf);
    uint8_t *base_bytes = NULL;
    size_t base_len = 0;
    fdy_reason_t reason = {{0}};
    assert_int_equal(fdy_codec_model_signed_encode(&base_view, &base_bytes, &base_len, &reason),
                     FOUNDRY_OK);

    foundry_model_push_opts_t o;
    foundry_model_push_opts_init(&o);
    o.name = "detector";
    o.version = 3;
    o.sign_key_files = keys;
    o.sign_key_count = 1;
    o.rollback = 1;
    o.rollback_of = 7;
    o.release_version = 8;
    o.base_manifest = base_bytes;
    o.base_manifest_len = base_len;
    assert_int_equal(fdy_model_opts_check(&o, &reason), FOUNDRY_OK);
    fdy_arena_t *arena = fdy_arena_new(FDY_DECODE_BUDGET(base_len));
    fdy_model_manifest_t base;
    fdy_model_artifact_t artifact;
    assert_int_equal(fdy_model_base_decode(&o, arena, &base, &artifact, &reason), FOUNDRY_OK);
    assert_int_equal(artifact.chunk_count, 3);
    uint8_t id[FDY_MODEL_HASH_LEN];
    fdy_artifact_id(artifact.size, artifact.chunk_size, artifact.chunk_hashes, 3, id);
    assert_memory_equal(artifact.id, id, sizeof id);
    assert_int_equal(artifact.size, 2 * FDY_MODEL_CHUNK_MIN + 10);

    fdy_model_manifest_t m;
    fdy_model_manifest_fill(&o, &artifact, &base, 1800000000000ull, &m);
    assert_true(m.rollback);
    assert_int_equal(m.rollback_of, 7);
    assert_int_equal(m.release_version, 8);
    assert_int_equal(m.version, 3);
    assert_int_equal(m.site_count, 2); /* the base's targets */
    assert_string_equal(m.sites[0], "siheung");
    assert_int_equal(m.label_count, 1);
    assert_int_equal(m.metadata_count, 2);
    assert_int_equal(m.expires_ms, 0); /* the caller's, not the base's */
    assert_memory_equal(m.chunk_hashes, artifact.chunk_hashes, 3 * FDY_MODEL_HASH_LEN);

    /* A base of another version is not the artifact asked for. */
    o.version = 2;
    o.release_version = 9;
    assert_int_equal(fdy_model_base_decode(&o, arena, &base, &artifact, &reason), FOUNDRY_EINVAL);
    assert_non_null(strstr(reason.text, "version 3, not 2"));
    fdy_arena_destroy(&arena);
    free(base_bytes);
    fdy_model_signed_buf_free(&base_buf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_model_manifest_refuses_bad_options, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_model_manifest_signed_by_every_key, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_model_manifest_key_twice_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_model_manifest_rollback_reuses_base, s_setup,
                                        s_teardown),
    };
    return cmocka_run_group_tests_name("model_manifest", tests, NULL, NULL);
}
