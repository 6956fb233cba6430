/*  test_model_sign.c: model-signing keys, signatures and trust policies
 *  (lib/daemon/model_sign.c, model_trust.c): key files and their modes, a
 *  secret readable by others refused, sign and verify, k-of-n checks with
 *  every way to fall short, and the policy file's round trip and errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "model_sign.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    char dir[64];
    fdy_sign_key_t *keys[4];
    uint8_t pubs[4][FDY_MODEL_KEY_LEN];
} fixture_t;

static int
s_setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_model_sign.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    fdy_reason_t reason;
    for (int i = 0; i < 4; i++) {
        char name[16], path[128];
        snprintf(name, sizeof name, "signer-%d", i);
        assert_int_equal(fdy_sign_keygen(f->dir, name, f->pubs[i], &reason), FOUNDRY_OK);
        snprintf(path, sizeof path, "%s/%s.sign", f->dir, name);
        assert_int_equal(fdy_sign_key_load(path, &f->keys[i], &reason), FOUNDRY_OK);
    }
    *state = f;
    return 0;
}

static int
s_teardown(void **state)
{
    fixture_t *f = *state;
    for (int i = 0; i < 4; i++)
        fdy_sign_key_destroy(&f->keys[i]);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void
s_expect(foundry_err got, foundry_err want, const fdy_reason_t *reason, const char *words)
{
    assert_int_equal(got, want);
    if (!strstr(reason->text, words))
        fail_msg("reason '%s' does not say '%s'", reason->text, words);
}

static void
test_model_sign_keygen_files_and_modes(void **state)
{
    fixture_t *f = *state;
    char path[128];
    struct stat st;
    snprintf(path, sizeof path, "%s/signer-0.sign", f->dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(path, sizeof path, "%s/signer-0.sign.pub", f->dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    /* The public file, the secret file and the loaded key agree. */
    uint8_t pub[FDY_MODEL_KEY_LEN], from_key[FDY_MODEL_KEY_LEN];
    fdy_reason_t reason;
    assert_int_equal(fdy_sign_public_load(path, pub, &reason), FOUNDRY_OK);
    assert_memory_equal(pub, f->pubs[0], sizeof pub);
    snprintf(path, sizeof path, "%s/signer-0.sign", f->dir);
    assert_int_equal(fdy_sign_public_load(path, pub, &reason), FOUNDRY_OK);
    assert_memory_equal(pub, f->pubs[0], sizeof pub);
    fdy_sign_key_public(f->keys[0], from_key);
    assert_memory_equal(from_key, f->pubs[0], sizeof pub);
    assert_memory_not_equal(f->pubs[0], f->pubs[1], sizeof pub);
    /* Nothing is overwritten. */
    s_expect(fdy_sign_keygen(f->dir, "signer-0", NULL, &reason), FOUNDRY_EEXIST, &reason,
             "already exists");
    s_expect(fdy_sign_keygen(f->dir, "../escape", NULL, &reason), FOUNDRY_EINVAL, &reason,
             "bad signing key name");
    /* A bare hex key works in place of a path. */
    char hex[2 * FDY_MODEL_KEY_LEN + 1];
    for (size_t i = 0; i < FDY_MODEL_KEY_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", f->pubs[2][i]);
    assert_int_equal(fdy_sign_public_load(hex, pub, &reason), FOUNDRY_OK);
    assert_memory_equal(pub, f->pubs[2], sizeof pub);
    s_expect(fdy_sign_public_load("/nonexistent.sign.pub", pub, &reason), FOUNDRY_EIO, &reason,
             "/nonexistent.sign.pub");
}

static void
test_model_sign_load_refuses_readable_secret(void **state)
{
    fixture_t *f = *state;
    char path[128];
    snprintf(path, sizeof path, "%s/signer-1.sign", f->dir);
    assert_int_equal(chmod(path, 0644), 0);
    fdy_sign_key_t *key = NULL;
    fdy_reason_t reason;
    s_expect(fdy_sign_key_load(path, &key, &reason), FOUNDRY_EAUTH, &reason, "chmod 600");
    assert_null(key);
    /* A public file is not a secret key. */
    snprintf(path, sizeof path, "%s/signer-1.sign.pub", f->dir);
    assert_int_equal(chmod(path, 0600), 0);
    s_expect(fdy_sign_key_load(path, &key, &reason), FOUNDRY_EINVAL, &reason,
             "not a signing key file");
    s_expect(fdy_sign_key_load("/nonexistent.sign", &key, &reason), FOUNDRY_EIO, &reason,
             "/nonexistent.sign");
}

static void
test_model_sign_load_or_create(void **state)
{
    fixture_t *f = *state;
    char path[128];
    snprintf(path, sizeof path, "%s/release.sign", f->dir);
    fdy_sign_key_t *first = NULL, *again = NULL;
    fdy_reason_t reason;
    assert_int_equal(fdy_sign_key_load_or_create(path, &first, &reason), FOUNDRY_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(fdy_sign_key_load_or_create(path, &again, &reason), FOUNDRY_OK);
    uint8_t a[FDY_MODEL_KEY_LEN], b[FDY_MODEL_KEY_LEN];
    fdy_sign_key_public(first, a);
    fdy_sign_key_public(again, b);
    assert_memory_equal(a, b, sizeof a); /* the same key, not a new one */
    fdy_sign_key_destroy(&first);
    fdy_sign_key_destroy(&again);
    assert_null(first);
}

static void
test_model_sign_sign_and_verify(void **state)
{
    fixture_t *f = *state;
    const char msg[] = "manifest bytes";
    uint8_t sig[FDY_MODEL_SIG_LEN];
    fdy_sign(f->keys[0], msg, sizeof msg, sig);
    assert_true(fdy_sign_verify(f->pubs[0], msg, sizeof msg, sig));
    assert_false(fdy_sign_verify(f->pubs[1], msg, sizeof msg, sig));
    assert_false(fdy_sign_verify(f->pubs[0], msg, sizeof msg - 1, sig));
    sig[10] ^= 1;
    assert_false(fdy_sign_verify(f->pubs[0], msg, sizeof msg, sig));
}

/* A 2-of-3 policy over keys 0, 1, 2 (key 3 is untrusted). */
static fdy_trust_policy_t
s_policy(const fixture_t *f)
{
    fdy_trust_policy_t p = {.name = "defect-detector", .threshold = 2, .key_count = 3};
    for (int i = 0; i < 3; i++)
        memcpy(p.keys[i], f->pubs[i], FDY_MODEL_KEY_LEN);
    return p;
}

static const char s_manifest[] = "the encoded manifest";

static void
s_signature(const fixture_t *f, int key, fdy_model_signature_t *out)
{
    memcpy(out->key, f->pubs[key], FDY_MODEL_KEY_LEN);
    fdy_sign(f->keys[key], s_manifest, sizeof s_manifest, out->sig);
}

static foundry_err
s_check(const fdy_trust_policy_t *p, const fdy_model_signature_t *sigs, size_t n, size_t *valid,
        fdy_reason_t *reason)
{
    fdy_model_signed_t s = {(const uint8_t *) s_manifest, sizeof s_manifest, sigs, n};
    fdy_reason_clear(reason);
    return fdy_trust_check(p, &s, valid, reason);
}

static void
test_model_sign_trust_threshold(void **state)
{
    fixture_t *f = *state;
    fdy_trust_policy_t p = s_policy(f);
    fdy_model_signature_t sigs[4];
    fdy_reason_t reason;
    size_t valid = 99;
    s_signature(f, 0, &sigs[0]);
    s_signature(f, 2, &sigs[1]);
    assert_int_equal(s_check(&p, sigs, 2, &valid, &reason), FOUNDRY_OK);
    assert_int_equal(valid, 2);
    s_expect(s_check(&p, sigs, 1, &valid, &reason), FOUNDRY_EDENIED, &reason,
             "1 of 2 required signatures");
    assert_int_equal(valid, 1);
    s_expect(s_check(&p, sigs, 0, &valid, &reason), FOUNDRY_EDENIED, &reason, "no signature");
    /* The same key twice is one signer. */
    s_signature(f, 0, &sigs[1]);
    s_expect(s_check(&p, sigs, 2, &valid, &reason), FOUNDRY_EDENIED, &reason,
             "1 of 2 required signatures");
    assert_int_equal(valid, 1);
    /* An untrusted key counts for nothing, however good its signature. */
    s_signature(f, 3, &sigs[1]);
    s_expect(s_check(&p, sigs, 2, &valid, &reason), FOUNDRY_EDENIED, &reason, "untrusted key");
    s_expect(s_check(&p, &sigs[1], 1, &valid, &reason), FOUNDRY_EDENIED, &reason,
             "signature by an untrusted key");
    char hex8[9];
    snprintf(hex8, sizeof hex8, "%02x%02x%02x%02x", f->pubs[3][0], f->pubs[3][1], f->pubs[3][2],
             f->pubs[3][3]);
    assert_non_null(strstr(reason.text, hex8));
    /* A trusted key's bad signature counts for nothing either. */
    s_signature(f, 1, &sigs[1]);
    sigs[1].sig[0] ^= 1;
    s_expect(s_check(&p, &sigs[1], 1, &valid, &reason), FOUNDRY_EDENIED, &reason,
             "bad signature by");
    assert_int_equal(valid, 0);
    /* Three good ones of three: fine, and counted. */
    s_signature(f, 1, &sigs[1]);
    s_signature(f, 2, &sigs[2]);
    s_signature(f, 3, &sigs[3]);
    assert_int_equal(s_check(&p, sigs, 4, &valid, &reason), FOUNDRY_OK);
    assert_int_equal(valid, 3);
    /* A signature over other bytes does not verify. */
    fdy_model_signed_t other = {(const uint8_t *) "other", 5, sigs, 2};
    s_expect(fdy_trust_check(&p, &other, &valid, &reason), FOUNDRY_EDENIED, &reason,
             "bad signature by");
}

static void
test_model_sign_trust_set(void **state)
{
    fixture_t *f = *state;
    fdy_trust_set_t *set = fdy_trust_set_new();
    fdy_reason_t reason;
    fdy_trust_policy_t p = s_policy(f);
    assert_int_equal(fdy_trust_set_put(set, &p, &reason), FOUNDRY_OK);
    fdy_trust_policy_t any = {.name = "*", .threshold = 1, .key_count = 1};
    memcpy(any.keys[0], f->pubs[3], FDY_MODEL_KEY_LEN);
    assert_int_equal(fdy_trust_set_put(set, &any, &reason), FOUNDRY_OK);
    assert_int_equal(fdy_trust_set_find(set, "defect-detector")->threshold, 2);
    assert_string_equal(fdy_trust_set_find(set, "ocr")->name, "*");
    /* Replacing keeps one policy per name. */
    p.threshold = 3;
    assert_int_equal(fdy_trust_set_put(set, &p, &reason), FOUNDRY_OK);
    assert_int_equal(fdy_trust_set_find(set, "defect-detector")->threshold, 3);
    fdy_trust_policy_t bad = p;
    bad.threshold = 0;
    s_expect(fdy_trust_set_put(set, &bad, &reason), FOUNDRY_EINVAL, &reason, "threshold 0");
    bad.threshold = 4;
    s_expect(fdy_trust_set_put(set, &bad, &reason), FOUNDRY_EINVAL, &reason, "threshold 4");
    bad = p;
    memcpy(bad.keys[2], bad.keys[0], FDY_MODEL_KEY_LEN);
    s_expect(fdy_trust_set_put(set, &bad, &reason), FOUNDRY_EINVAL, &reason, "twice");
    bad = p;
    snprintf(bad.name, sizeof bad.name, "Bad");
    s_expect(fdy_trust_set_put(set, &bad, &reason), FOUNDRY_EINVAL, &reason, "'Bad'");

    /* Format, write, load: the same policies come back. */
    char *text = NULL;
    assert_int_equal(fdy_trust_set_format(set, &text), FOUNDRY_OK);
    char path[128];
    snprintf(path, sizeof path, "%s/trust.conf", f->dir);
    FILE *file = fopen(path, "w");
    fprintf(file, "# model trust\n\n%s", text);
    fclose(file);
    fdy_trust_set_t *loaded = NULL;
    assert_int_equal(fdy_trust_set_load(path, &loaded, &reason), FOUNDRY_OK);
    const fdy_trust_policy_t *back = fdy_trust_set_find(loaded, "defect-detector");
    assert_non_null(back);
    assert_int_equal(back->threshold, 3);
    assert_int_equal(back->key_count, 3);
    assert_memory_equal(back->keys, p.keys, 3 * FDY_MODEL_KEY_LEN);
    assert_string_equal(fdy_trust_set_find(loaded, "ocr")->name, "*");
    char *again = NULL;
    assert_int_equal(fdy_trust_set_format(loaded, &again), FOUNDRY_OK);
    assert_string_equal(again, text);
    free(again);
    free(text);
    fdy_trust_set_destroy(&loaded);
    fdy_trust_set_destroy(&set);
    assert_null(set);
}

static void
s_load_refused(const fixture_t *f, const char *content, const char *words)
{
    char path[128];
    snprintf(path, sizeof path, "%s/bad-trust.conf", f->dir);
    FILE *file = fopen(path, "w");
    fputs(content, file);
    fclose(file);
    fdy_trust_set_t *set = NULL;
    fdy_reason_t reason;
    s_expect(fdy_trust_set_load(path, &set, &reason), FOUNDRY_EINVAL, &reason, words);
    assert_non_null(strstr(reason.text, path));
    assert_null(set);
}

static void
test_model_sign_policy_file_errors_name_the_line(void **state)
{
    fixture_t *f = *state;
    char key[2 * FDY_MODEL_KEY_LEN + 1];
    for (size_t i = 0; i < FDY_MODEL_KEY_LEN; i++)
        snprintf(key + 2 * i, 3, "%02x", f->pubs[0][i]);
    char text[512];
    snprintf(text, sizeof text, "# header\nocr 1 %s\nocr 1 %s\n", key, key);
    s_load_refused(f, text, ":3: a second policy for ocr");
    snprintf(text, sizeof text, "ocr two %s\n", key);
    s_load_refused(f, text, ":1: expected NAME THRESHOLD KEYHEX");
    snprintf(text, sizeof text, "\n\nocr 1 %.60s\n", key);
    s_load_refused(f, text, ":3: key");
    snprintf(text, sizeof text, "ocr 2 %s\n", key);
    s_load_refused(f, text, ":1: policy of ocr: threshold 2");
    snprintf(text, sizeof text, "OCR 1 %s\n", key);
    s_load_refused(f, text, ":1: 'OCR' is neither a model name");
    s_load_refused(f, "ocr 1\n", ":1: policy of ocr: 0 keys");
    fdy_trust_set_t *set = NULL;
    fdy_reason_t reason;
    s_expect(fdy_trust_set_load("/nonexistent/trust.conf", &set, &reason), FOUNDRY_EIO, &reason,
             "/nonexistent/trust.conf");
}

static void
test_model_sign_load_refuses_mismatched_halves(void **state)
{
    fixture_t *f = *state;
    /* signer-0's secret with signer-1's public line: a damaged or spliced
     * file, refused rather than signing under a key nobody trusts. */
    char path[128], bad[128], line[512];
    snprintf(path, sizeof path, "%s/signer-0.sign", f->dir);
    snprintf(bad, sizeof bad, "%s/spliced.sign", f->dir);
    FILE *in = fopen(path, "r");
    FILE *out = fopen(bad, "w");
    assert_int_equal(chmod(bad, 0600), 0);
    while (fgets(line, sizeof line, in)) {
        if (strncmp(line, "public", 6) == 0) {
            fputs("public = ", out);
            for (size_t i = 0; i < FDY_MODEL_KEY_LEN; i++)
                fprintf(out, "%02x", f->pubs[1][i]);
            fputs("\n", out);
        } else {
            fputs(line, out);
        }
    }
    fclose(in);
    fclose(out);
    fdy_sign_key_t *key = NULL;
    fdy_reason_t reason;
    s_expect(fdy_sign_key_load(bad, &key, &reason), FOUNDRY_EINVAL, &reason, "do not match");
    assert_null(key);
    /* The broker's release key file is held to the same mode rule. */
    assert_int_equal(chmod(path, 0640), 0);
    s_expect(fdy_sign_key_load_or_create(path, &key, &reason), FOUNDRY_EAUTH, &reason, "chmod 600");
}

static void
test_model_sign_trust_invalid_policy_denies(void **state)
{
    fixture_t *f = *state;
    fdy_trust_policy_t p = s_policy(f);
    p.threshold = 0; /* would pass anything if it were counted */
    fdy_model_signature_t sig;
    s_signature(f, 0, &sig);
    fdy_reason_t reason;
    s_expect(s_check(&p, &sig, 1, NULL, &reason), FOUNDRY_EDENIED, &reason, "invalid");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_model_sign_keygen_files_and_modes, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_model_sign_load_refuses_readable_secret, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_model_sign_load_or_create, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_model_sign_sign_and_verify, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_model_sign_trust_threshold, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_model_sign_trust_set, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_model_sign_policy_file_errors_name_the_line, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_model_sign_load_refuses_mismatched_halves, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_model_sign_trust_invalid_policy_denies, s_setup,
                                        s_teardown),
    };
    return cmocka_run_group_tests_name("model_sign", tests, NULL, NULL);
}
