/*  keys.c: CURVE key files in czmq's zcert format (ZPL, rfc.zeromq.org/spec:4),
 *  read and written here without czmq so the library installs no signal
 *  handlers and secret bytes only ever sit in sodium_malloc memory. Not a
 *  key store: which keys are trusted is the broker registry's business.
 */
#include "keys.h"

#include "files.h"
#include "names.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

/* A key file is a few hundred bytes; anything much larger is not one, and
 * refusing it bounds the memory an odd path can make us read. */
#define KEY_FILE_MAX (64u * 1024u)

struct fdy_keypair {
    /* sodium_malloc'd, read-only after load: public[41] then secret[41]. */
    char *keys;
};

static bool
s_name_valid(const char *name)
{
    return fdy_name_ok(name, strlen(name), FDY_NAME_MAX - 1, true);
}

/* A Z85 CURVE key: 40 characters of the Z85 alphabet that decode. */
static bool
s_z85_key_valid(const char *text, size_t len)
{
    static const char alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   ".-:+=^!/*?&<>()[]{}@%$#";
    if (len != FDY_Z85_KEY_LEN)
        return false;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\0' || !strchr(alphabet, text[i]))
            return false;
    /* Some strings of valid characters still overflow a 32-bit group. */
    char copy[FDY_Z85_KEY_LEN + 1];
    uint8_t key[32];
    memcpy(copy, text, len);
    copy[len] = '\0';
    bool ok = zmq_z85_decode(key, copy) != NULL;
    sodium_memzero(copy, sizeof copy); /* may be a secret key */
    sodium_memzero(key, sizeof key);
    return ok;
}

/* The zcert header czmq writes, so the files look like any other zcert. */
static int
s_format_cert(char *out, size_t size, const char *public_z85, const char *secret_z85)
{
    char date[32] = "";
    time_t now = time(NULL);
    struct tm tm;
    if (localtime_r(&now, &tm))
        strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm);
    if (secret_z85)
        return snprintf(out, size,
                        "#   ****  Generated on %s by Foundry  ****\n"
                        "#   ZeroMQ CURVE **Secret** Certificate\n"
                        "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its "
                        "permissions.\n\n"
                        "metadata\n"
                        "curve\n"
                        "    public-key = \"%s\"\n"
                        "    secret-key = \"%s\"\n",
                        date, public_z85, secret_z85);
    return snprintf(out, size,
                    "#   ****  Generated on %s by Foundry  ****\n"
                    "#   ZeroMQ CURVE Public Certificate\n"
                    "#   Exchange securely, or use a secure mechanism to verify the contents\n"
                    "#   of this file after exchange.\n\n"
                    "metadata\n"
                    "curve\n"
                    "    public-key = \"%s\"\n",
                    date, public_z85);
}

foundry_err
fdy_keys_generate(const char *dir, const char *name, fdy_reason_t *reason)
{
    if (!dir || !name || !s_name_valid(name))
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "bad key name '%s': use 1-%d of [A-Za-z0-9_.-]",
                              name ? name : "(null)", FDY_NAME_MAX - 1);
    if (sodium_init() < 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "libsodium failed to initialise");
    foundry_err err = fdy_dirs_make(dir, reason);
    if (err != FOUNDRY_OK)
        return err;

    char public_path[PATH_MAX];
    char secret_path[PATH_MAX];
    int n1 = snprintf(public_path, sizeof public_path, "%s/%s.key", dir, name);
    int n2 = snprintf(secret_path, sizeof secret_path, "%s/%s.key_secret", dir, name);
    if (n1 < 0 || n2 < 0 || (size_t) n2 >= sizeof secret_path)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "key path too long");
    /* Checked up front so a stray public file does not cost us a secret
     * file we would then have to remove again. */
    struct stat st;
    if (lstat(public_path, &st) == 0)
        return fdy_reason_set(reason, FOUNDRY_EEXIST, "%s already exists; not overwriting",
                              public_path);

    enum { TEXT_MAX = 1024 };
    char *secret_text = sodium_malloc(TEXT_MAX);
    char *keys = sodium_malloc(2 * (FDY_Z85_KEY_LEN + 1));
    if (!secret_text || !keys) {
        err = fdy_reason_set(reason, FOUNDRY_ENOMEM, "cannot allocate secure memory");
        goto out;
    }
    char *public_z85 = keys;
    char *secret_z85 = keys + FDY_Z85_KEY_LEN + 1;
    if (zmq_curve_keypair(public_z85, secret_z85) != 0) {
        err = fdy_reason_set(reason, FOUNDRY_EIO, "zmq_curve_keypair failed: %s",
                             zmq_strerror(zmq_errno()));
        goto out;
    }
    int len = s_format_cert(secret_text, TEXT_MAX, public_z85, secret_z85);
    err = fdy_file_create(secret_path, 0600, secret_text, (size_t) len, reason);
    if (err != FOUNDRY_OK)
        goto out;
    char public_text[TEXT_MAX];
    len = s_format_cert(public_text, sizeof public_text, public_z85, NULL);
    err = fdy_file_create(public_path, 0644, public_text, (size_t) len, reason);
    if (err != FOUNDRY_OK) {
        unlink(secret_path); /* never leave half a key pair */
        goto out;
    }
    (void) fdy_dir_fsync(dir); /* best effort: the files are already synced */
out:
    sodium_free(secret_text); /* wipes before freeing */
    sodium_free(keys);
    return err;
}

/* Parses the ZPL subset zcert uses: `curve` at depth 0 with `public-key`
 * and `secret-key` children, values quoted with " or ' or bare. Other
 * sections (metadata) are skipped. Copies the keys into public_out and
 * secret_out (either may be NULL); a missing key leaves its output empty. */
static foundry_err
s_parse_cert(const char *path, char *text, size_t len, char *public_out, char *secret_out,
             fdy_reason_t *reason)
{
    if (strlen(text) != len)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%s is not a key file (binary data)", path);
    if (public_out)
        public_out[0] = '\0';
    if (secret_out)
        secret_out[0] = '\0';
    bool in_curve = false;
    bool seen_curve = false;
    unsigned lineno = 0;
    char *line = text;
    while (line && *line) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        lineno++;
        size_t line_len = strlen(line);
        if (line_len > 0 && line[line_len - 1] == '\r')
            line[--line_len] = '\0';
        size_t indent = strspn(line, " ");
        char *item = line + indent;
        if (*item == '\0' || *item == '#') {
            line = next;
            continue;
        }
        if (indent == 0) {
            size_t name_len = strcspn(item, " \t=#");
            in_curve = name_len == 5 && memcmp(item, "curve", 5) == 0;
            seen_curve |= in_curve;
            line = next;
            continue;
        }
        if (!in_curve || indent != 4) {
            line = next; /* metadata or deeper levels */
            continue;
        }
        size_t name_len = strcspn(item, " \t=");
        char *value = item + name_len;
        value += strspn(value, " \t");
        if (*value != '=')
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "%s:%u: expected 'name = value'", path,
                                  lineno);
        value++;
        value += strspn(value, " \t");
        size_t value_len;
        if (*value == '"' || *value == '\'') {
            char *end = strchr(value + 1, *value);
            if (!end)
                return fdy_reason_set(reason, FOUNDRY_EINVAL, "%s:%u: unterminated quote", path,
                                      lineno);
            value++;
            value_len = (size_t) (end - value);
        } else {
            value_len = strcspn(value, " \t#");
        }
        char *target = NULL;
        if (name_len == 10 && memcmp(item, "public-key", 10) == 0)
            target = public_out;
        else if (name_len == 10 && memcmp(item, "secret-key", 10) == 0)
            target = secret_out;
        if (target) {
            if (!s_z85_key_valid(value, value_len))
                return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                      "%s:%u: %.10s is not a 40-character Z85 key", path, lineno,
                                      item);
            memcpy(target, value, FDY_Z85_KEY_LEN);
            target[FDY_Z85_KEY_LEN] = '\0';
        }
        line = next;
    }
    if (!seen_curve)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "%s is not a zcert key file (no 'curve' section)", path);
    if (public_out && public_out[0] == '\0')
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%s has no curve/public-key", path);
    if (secret_out && secret_out[0] == '\0')
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "%s has no curve/secret-key (a public key file?)", path);
    return FOUNDRY_OK;
}

foundry_err
fdy_keys_load_public(const char *path, char out[FDY_Z85_KEY_LEN + 1], fdy_reason_t *reason)
{
    out[0] = '\0';
    if (sodium_init() < 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "libsodium failed to initialise");
    char *text = NULL;
    size_t len = 0;
    foundry_err err = fdy_file_read_secret(path, false, KEY_FILE_MAX, &text, &len, reason);
    if (err == FOUNDRY_OK)
        err = s_parse_cert(path, text, len, out, NULL, reason);
    sodium_free(text);
    if (err != FOUNDRY_OK)
        out[0] = '\0';
    return err;
}

foundry_err
fdy_keys_load_secret(const char *path, fdy_keypair_t **out, fdy_reason_t *reason)
{
    *out = NULL;
    if (sodium_init() < 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "libsodium failed to initialise");
    char *text = NULL;
    size_t len = 0;
    fdy_keypair_t *self = NULL;
    foundry_err err = fdy_file_read_secret(path, true, KEY_FILE_MAX, &text, &len, reason);
    if (err != FOUNDRY_OK)
        goto out;
    self = calloc(1, sizeof *self);
    if (self)
        self->keys = sodium_malloc(2 * (FDY_Z85_KEY_LEN + 1));
    if (!self || !self->keys) {
        err = fdy_reason_set(reason, FOUNDRY_ENOMEM, "cannot allocate secure memory");
        goto out;
    }
    char *public_z85 = self->keys;
    char *secret_z85 = self->keys + FDY_Z85_KEY_LEN + 1;
    err = s_parse_cert(path, text, len, public_z85, secret_z85, reason);
    if (err != FOUNDRY_OK)
        goto out;
    /* A pair that does not belong together would fail every handshake with
     * no useful error; catch it here where we can name the file. */
    char derived[FDY_Z85_KEY_LEN + 1];
    if (zmq_curve_public(derived, secret_z85) != 0 || strcmp(derived, public_z85) != 0) {
        err = fdy_reason_set(reason, FOUNDRY_EINVAL, "%s: public-key does not belong to secret-key",
                             path);
        goto out;
    }
    sodium_mprotect_readonly(self->keys);
    *out = self;
    self = NULL;
out:
    sodium_free(text);
    fdy_keypair_destroy(&self);
    return err;
}

void
fdy_keypair_destroy(fdy_keypair_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fdy_keypair_t *self = *self_p;
    if (self->keys) {
        sodium_mprotect_readwrite(self->keys);
        sodium_memzero(self->keys, 2 * (FDY_Z85_KEY_LEN + 1));
        sodium_free(self->keys);
    }
    free(self);
    *self_p = NULL;
}

const char *
fdy_keypair_public(const fdy_keypair_t *self)
{
    return self->keys;
}

const char *
fdy_keypair_secret(const fdy_keypair_t *self)
{
    return self->keys + FDY_Z85_KEY_LEN + 1;
}

void
fdy_keys_fingerprint(const char *public_z85, char out[9])
{
    size_t i = 0;
    for (; public_z85 && i < 8 && public_z85[i]; i++)
        out[i] = public_z85[i];
    out[i] = '\0';
}

foundry_err
fdy_keys_name_from_path(const char *path, char out[FDY_NAME_MAX])
{
    out[0] = '\0';
    if (!path)
        return FOUNDRY_EINVAL;
    size_t len = strlen(path);
    while (len > 0 && path[len - 1] == '/')
        len--; /* "dir/" names the dir */
    size_t start = len;
    while (start > 0 && path[start - 1] != '/')
        start--;
    const char *base = path + start;
    size_t base_len = len - start;
    static const char *const suffixes[] = {".key_secret", ".key"};
    for (size_t i = 0; i < 2; i++) {
        size_t suffix_len = strlen(suffixes[i]);
        if (base_len >= suffix_len &&
            memcmp(base + base_len - suffix_len, suffixes[i], suffix_len) == 0) {
            base_len -= suffix_len;
            break;
        }
    }
    if (base_len == 0 || base_len >= FDY_NAME_MAX)
        return FOUNDRY_EINVAL;
    memcpy(out, base, base_len);
    out[base_len] = '\0';
    return FOUNDRY_OK;
}
