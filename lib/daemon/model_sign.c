/*  model_sign.c: Ed25519 model-signing keys and signatures (model_sign.h).
 *  Key files are small "key = value" text; secrets only ever sit in
 *  sodium_malloc memory. Trust policies over these signatures are
 *  model_trust.c's; the CURVE transport keys are lib/core/keys.c's.
 */
#include "model_sign.h"

#include "files.h"
#include "names.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_FILE_MAX   (16u * 1024u)
#define PUBLIC_HEX_LEN (2 * FDY_MODEL_KEY_LEN)
#define SECRET_HEX_LEN (2 * crypto_sign_SECRETKEYBYTES)

struct fdy_sign_key {
    uint8_t *secret; /* sodium_malloc'd crypto_sign_SECRETKEYBYTES, read-only */
    uint8_t public_key[FDY_MODEL_KEY_LEN];
};

/* ---- small helpers ------------------------------------------------------- */

static bool
s_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t out_len)
{
    size_t got = 0;
    const char *end = NULL;
    if (hex_len != 2 * out_len)
        return false;
    return sodium_hex2bin(out, out_len, hex, hex_len, NULL, &got, &end) == 0 && got == out_len &&
           end == hex + hex_len;
}

static bool
s_key_name_ok(const char *name)
{
    size_t len = name ? strlen(name) : 0;
    return name && name[0] != '.' && fdy_name_ok(name, len, FDY_MODEL_NAME_MAX, true);
}

/* A key file's text: fdy_file_read_secret() plus a refusal of binary data,
 * which the text parsers below cannot see past a NUL. */
static foundry_err
s_read_text(const char *path, bool check_mode, char **text_out, fdy_reason_t *reason)
{
    size_t len = 0;
    foundry_err err = fdy_file_read_secret(path, check_mode, KEY_FILE_MAX, text_out, &len, reason);
    if (err == FOUNDRY_OK && strlen(*text_out) != len) {
        fdy_file_secret_free(*text_out);
        *text_out = NULL;
        err = fdy_reason_set(reason, FOUNDRY_EINVAL, "%s holds binary data", path);
    }
    return err;
}

/* Finds "key = value" in a key file's text: *value and *value_len, or
 * false. Comments ('#') and blank lines are skipped. */
static bool
s_key_value(const char *text, const char *key, const char **value, size_t *value_len)
{
    size_t key_len = strlen(key);
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t line_len = end ? (size_t) (end - line) : strlen(line);
        const char *p = line;
        const char *stop = line + line_len;
        while (p < stop && (*p == ' ' || *p == '\t'))
            p++;
        if (p < stop && *p != '#' && (size_t) (stop - p) > key_len &&
            strncmp(p, key, key_len) == 0) {
            const char *q = p + key_len;
            while (q < stop && (*q == ' ' || *q == '\t'))
                q++;
            if (q < stop && *q == '=') {
                q++;
                while (q < stop && (*q == ' ' || *q == '\t'))
                    q++;
                const char *v_end = stop;
                while (v_end > q && (v_end[-1] == ' ' || v_end[-1] == '\t' || v_end[-1] == '\r'))
                    v_end--;
                *value = q;
                *value_len = (size_t) (v_end - q);
                return true;
            }
        }
        line = end ? end + 1 : stop;
    }
    return false;
}

/* ---- keys ---------------------------------------------------------------- */

static foundry_err
s_sodium_ready(fdy_reason_t *reason)
{
    if (sodium_init() < 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "libsodium failed to initialise");
    return FOUNDRY_OK;
}

/* Makes a fresh key pair and writes the secret file at path (0600). */
static foundry_err
s_write_secret(const char *path, uint8_t pub_out[FDY_MODEL_KEY_LEN], fdy_reason_t *reason)
{
    enum { TEXT_MAX = 512 };
    uint8_t *secret = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    char *text = sodium_malloc(TEXT_MAX);
    foundry_err err = FOUNDRY_OK;
    if (!secret || !text) {
        err = fdy_reason_set(reason, FOUNDRY_ENOMEM, "cannot allocate secure memory");
        goto out;
    }
    crypto_sign_keypair(pub_out, secret);
    char pub_hex[PUBLIC_HEX_LEN + 1];
    sodium_bin2hex(pub_hex, sizeof pub_hex, pub_out, FDY_MODEL_KEY_LEN);
    int len = snprintf(text, TEXT_MAX,
                       "# Foundry model-signing key (Ed25519). Keep this file secret.\n"
                       "public = %s\n"
                       "secret = ",
                       pub_hex);
    sodium_bin2hex(text + len, (size_t) (TEXT_MAX - len), secret, crypto_sign_SECRETKEYBYTES);
    len += SECRET_HEX_LEN;
    text[len++] = '\n';
    err = fdy_file_create(path, 0600, text, (size_t) len, reason);
out:
    sodium_free(secret);
    sodium_free(text);
    return err;
}

foundry_err
fdy_sign_keygen(const char *dir, const char *name, uint8_t pub_out[FDY_MODEL_KEY_LEN],
                fdy_reason_t *reason)
{
    if (!dir || !s_key_name_ok(name))
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "bad signing key name '%.80s': use 1..%u of [A-Za-z0-9_.-], not "
                              "starting with '.'",
                              name ? name : "", FDY_MODEL_NAME_MAX);
    foundry_err err = s_sodium_ready(reason);
    if (err != FOUNDRY_OK)
        return err;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return fdy_reason_set(reason, FOUNDRY_EIO, "cannot create directory %s: %s", dir,
                              strerror(errno));
    char secret_path[PATH_MAX];
    char public_path[PATH_MAX];
    int n = snprintf(public_path, sizeof public_path, "%s/%s.sign.pub", dir, name);
    snprintf(secret_path, sizeof secret_path, "%s/%s.sign", dir, name);
    if (n < 0 || (size_t) n >= sizeof public_path)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "key path too long");
    /* Checked first so a stray public file does not cost a secret file we
     * would have to remove again. */
    struct stat st;
    if (lstat(public_path, &st) == 0)
        return fdy_reason_set(reason, FOUNDRY_EEXIST, "%s already exists; not overwriting",
                              public_path);
    uint8_t pub[FDY_MODEL_KEY_LEN];
    err = s_write_secret(secret_path, pub, reason);
    if (err != FOUNDRY_OK)
        return err;
    char text[128 + PUBLIC_HEX_LEN];
    char pub_hex[PUBLIC_HEX_LEN + 1];
    sodium_bin2hex(pub_hex, sizeof pub_hex, pub, sizeof pub);
    int len = snprintf(text, sizeof text,
                       "# Foundry model-signing public key (Ed25519) of %s.\npublic = %s\n", name,
                       pub_hex);
    err = fdy_file_create(public_path, 0644, text, (size_t) len, reason);
    if (err != FOUNDRY_OK) {
        unlink(secret_path); /* never leave half a key pair */
        return err;
    }
    (void) fdy_dir_fsync_parent(public_path);
    if (pub_out)
        memcpy(pub_out, pub, sizeof pub);
    return FOUNDRY_OK;
}

foundry_err
fdy_sign_key_load(const char *path, fdy_sign_key_t **out, fdy_reason_t *reason)
{
    *out = NULL;
    foundry_err err = s_sodium_ready(reason);
    if (err != FOUNDRY_OK)
        return err;
    char *text = NULL;
    err = s_read_text(path, true, &text, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_sign_key_t *self = calloc(1, sizeof *self);
    uint8_t *secret = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    const char *pub_hex, *secret_hex;
    size_t pub_len, secret_len;
    uint8_t derived[FDY_MODEL_KEY_LEN];
    if (!self || !secret) {
        err = fdy_reason_set(reason, FOUNDRY_ENOMEM, "cannot allocate secure memory");
        goto out;
    }
    if (!s_key_value(text, "secret", &secret_hex, &secret_len) ||
        !s_hex_decode(secret_hex, secret_len, secret, crypto_sign_SECRETKEYBYTES)) {
        err = fdy_reason_set(reason, FOUNDRY_EINVAL,
                             "%s: no 'secret = <%u hex digits>' line: not a signing key file", path,
                             (unsigned) SECRET_HEX_LEN);
        goto out;
    }
    if (!s_key_value(text, "public", &pub_hex, &pub_len) ||
        !s_hex_decode(pub_hex, pub_len, self->public_key, FDY_MODEL_KEY_LEN)) {
        err = fdy_reason_set(reason, FOUNDRY_EINVAL, "%s: no 'public = <%u hex digits>' line", path,
                             (unsigned) PUBLIC_HEX_LEN);
        goto out;
    }
    crypto_sign_ed25519_sk_to_pk(derived, secret);
    if (sodium_memcmp(derived, self->public_key, FDY_MODEL_KEY_LEN) != 0) {
        err =
            fdy_reason_set(reason, FOUNDRY_EINVAL, "%s: public and secret keys do not match", path);
        goto out;
    }
    sodium_mprotect_readonly(secret);
    self->secret = secret;
    secret = NULL;
    *out = self;
    self = NULL;
out:
    sodium_free(secret);
    sodium_free(text);
    free(self);
    return err;
}

foundry_err
fdy_sign_key_load_or_create(const char *path, fdy_sign_key_t **out, fdy_reason_t *reason)
{
    *out = NULL;
    foundry_err err = s_sodium_ready(reason);
    if (err != FOUNDRY_OK)
        return err;
    struct stat st;
    if (lstat(path, &st) != 0 && errno == ENOENT) {
        uint8_t pub[FDY_MODEL_KEY_LEN];
        err = s_write_secret(path, pub, reason);
        /* Someone else created it first: load theirs. */
        if (err != FOUNDRY_OK && err != FOUNDRY_EEXIST)
            return err;
        if (err == FOUNDRY_OK)
            (void) fdy_dir_fsync_parent(path);
    }
    return fdy_sign_key_load(path, out, reason);
}

void
fdy_sign_key_destroy(fdy_sign_key_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fdy_sign_key_t *self = *self_p;
    sodium_free(self->secret); /* wipes before freeing */
    free(self);
    *self_p = NULL;
}

void
fdy_sign_key_public(const fdy_sign_key_t *self, uint8_t out[FDY_MODEL_KEY_LEN])
{
    memcpy(out, self->public_key, FDY_MODEL_KEY_LEN);
}

foundry_err
fdy_sign_public_load(const char *path_or_hex, uint8_t out[FDY_MODEL_KEY_LEN], fdy_reason_t *reason)
{
    if (!path_or_hex || !*path_or_hex)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "empty signing key");
    size_t len = strlen(path_or_hex);
    if (len == PUBLIC_HEX_LEN && s_hex_decode(path_or_hex, len, out, FDY_MODEL_KEY_LEN))
        return FOUNDRY_OK;
    char *text = NULL;
    foundry_err err = s_read_text(path_or_hex, false, &text, reason);
    if (err != FOUNDRY_OK)
        return err;
    const char *hex;
    size_t hex_len;
    if (!s_key_value(text, "public", &hex, &hex_len) ||
        !s_hex_decode(hex, hex_len, out, FDY_MODEL_KEY_LEN))
        err = fdy_reason_set(reason, FOUNDRY_EINVAL,
                             "%s: no 'public = <%u hex digits>' line: not a signing key file",
                             path_or_hex, (unsigned) PUBLIC_HEX_LEN);
    sodium_free(text);
    return err;
}

/* ---- signatures ---------------------------------------------------------- */

void
fdy_sign(const fdy_sign_key_t *key, const void *msg, size_t len, uint8_t sig_out[FDY_MODEL_SIG_LEN])
{
    crypto_sign_detached(sig_out, NULL, msg, len, key->secret);
}

bool
fdy_sign_verify(const uint8_t key[FDY_MODEL_KEY_LEN], const void *msg, size_t len,
                const uint8_t sig[FDY_MODEL_SIG_LEN])
{
    return crypto_sign_verify_detached(sig, msg, len, key) == 0;
}
