/*  fuzz_keys.c: the key file loaders (fdy_keys_load_public and
 *  fdy_keys_load_secret, lib/core/keys.c) on untrusted file contents, as
 *  the broker, foundryctl, the node and libfoundry read them. The input is
 *  written to a 0600 temporary file because the loaders take a path.
 */
#include "keys.h"
#include "temp_file.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A loaded key is 40 Z85 characters, NUL ended. */
static void
s_check_key(const char *key)
{
    if (strlen(key) != FDY_Z85_KEY_LEN)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[FUZZ_PATH_MAX];
    if (fuzz_temp_file_write("fuzz_keys", data, size, 0600, path) != 0)
        return 0;
    fdy_reason_t reason;
    fdy_reason_clear(&reason);
    char public_key[FDY_Z85_KEY_LEN + 1];
    foundry_err err = fdy_keys_load_public(path, public_key, &reason);
    if (err != FOUNDRY_OK && (reason.text[0] == '\0' || public_key[0] != '\0'))
        abort(); /* a refusal names its reason and leaves no key behind */
    if (err == FOUNDRY_OK)
        s_check_key(public_key);

    fdy_reason_clear(&reason);
    fdy_keypair_t *pair = NULL;
    err = fdy_keys_load_secret(path, &pair, &reason);
    if (err != FOUNDRY_OK && (reason.text[0] == '\0' || pair))
        abort();
    if (err == FOUNDRY_OK) {
        s_check_key(fdy_keypair_public(pair));
        s_check_key(fdy_keypair_secret(pair));
        fdy_keypair_destroy(&pair);
    }
    unlink(path);
    return 0;
}
