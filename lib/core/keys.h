/*  keys.h: CURVE key files in czmq's zcert format (NAME.key holds the public
 *  key, NAME.key_secret both). Secret files are created mode 0600 and
 *  refused when group or others may read them. Secret keys live in
 *  sodium_malloc memory and are wiped on destroy.
 */
#ifndef FDY_KEYS_H_INCLUDED
#define FDY_KEYS_H_INCLUDED

#include "codec.h"
#include "reason.h"

typedef struct fdy_keypair fdy_keypair_t;

/* Generates a key pair and writes dir/NAME.key (0644) and
 * dir/NAME.key_secret (0600, created exclusively). Creates dir (0700) if
 * missing. Returns FOUNDRY_OK, FOUNDRY_EINVAL (bad name: [A-Za-z0-9_.-]+),
 * FOUNDRY_EEXIST (a file is already there: nothing is overwritten) or
 * FOUNDRY_EIO, with reason. */
foundry_err fdy_keys_generate(const char *dir, const char *name, fdy_reason_t *reason);

/* Reads the public key of a .key or .key_secret file into out (Z85, NUL
 * ended). Returns FOUNDRY_OK, FOUNDRY_EIO (missing, unreadable) or
 * FOUNDRY_EINVAL (not a zcert file / bad key), with reason. */
foundry_err fdy_keys_load_public(const char *path, char out[FDY_Z85_KEY_LEN + 1],
                                 fdy_reason_t *reason);

/* Reads a .key_secret file. Returns FOUNDRY_OK and *out (caller owns;
 * destroy with fdy_keypair_destroy()), FOUNDRY_EAUTH (the file is readable
 * by group or others: reason says chmod 600), FOUNDRY_EIO or FOUNDRY_EINVAL,
 * with reason. */
foundry_err fdy_keys_load_secret(const char *path, fdy_keypair_t **out, fdy_reason_t *reason);

void fdy_keypair_destroy(fdy_keypair_t **self_p);

/* Z85 public and secret keys, NUL ended. Borrowed, valid until destroy. */
const char *fdy_keypair_public(const fdy_keypair_t *self);
const char *fdy_keypair_secret(const fdy_keypair_t *self);

/* Writes a short fingerprint of a Z85 public key for logs: its first 8
 * characters. out must hold 9 bytes. */
void fdy_keys_fingerprint(const char *public_z85, char out[9]);

/* Returns the key name a key file path implies: basename without ".key" or
 * ".key_secret". Writes at most FDY_NAME_MAX bytes. FOUNDRY_EINVAL if the
 * result is empty or too long. */
foundry_err fdy_keys_name_from_path(const char *path, char out[FDY_NAME_MAX]);

#endif
