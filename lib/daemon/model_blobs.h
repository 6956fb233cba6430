/*  model_blobs.h: the content-addressed blob directory beside an LMDB
 *  store (the broker's <data_dir>/blobs, an agent's <models_dir>/.blobs).
 *  A blob is named by the BLAKE2b-256 of its bytes, stored once as
 *  DIR/ab/abcdef...(64 hex), written to a temporary name, fsynced, renamed
 *  and the directory fsynced, so a name that exists always holds exactly
 *  the bytes it names. Model chunks are blobs; an artifact is the list of
 *  its chunks (artifact.h). Used by the broker, the agent and foundryctl.
 */
#ifndef FDY_MODEL_BLOBS_H_INCLUDED
#define FDY_MODEL_BLOBS_H_INCLUDED

#include "codec.h"
#include "reason.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FDY_BLOB_HASH_LEN 32u

typedef struct fdy_blobs fdy_blobs_t;

/* Opens (creating, mode 0700) the blob directory dir. Returns FOUNDRY_OK
 * and *out, or FOUNDRY_EIO with reason naming dir. */
foundry_err fdy_blobs_open(const char *dir, fdy_blobs_t **out, fdy_reason_t *reason);
void fdy_blobs_close(fdy_blobs_t **self_p);

/* The directory, borrowed. */
const char *fdy_blobs_dir(const fdy_blobs_t *self);

/* True when the blob named hash is stored. */
bool fdy_blobs_has(const fdy_blobs_t *self, const uint8_t hash[FDY_BLOB_HASH_LEN]);

/* Stores len bytes as the blob named hash, after checking that
 * BLAKE2b-256(data) == hash (FOUNDRY_EINVAL "chunk hash mismatch" if not;
 * nothing is written). Already stored: FOUNDRY_OK without writing.
 * With sync false the file is written and renamed but neither it nor the
 * directory is fsynced: call fdy_blobs_sync() before saying it is durable
 * (so a batch of chunks costs one round of fsyncs). FOUNDRY_ENOSPC on a
 * full disk (the temporary file is removed), FOUNDRY_EIO otherwise. */
foundry_err fdy_blobs_put(fdy_blobs_t *self, const uint8_t hash[FDY_BLOB_HASH_LEN],
                          const void *data, size_t len, bool sync, fdy_reason_t *reason);

/* The same, for bytes whose hash the caller has already checked (it
 * hashed them once on arrival; never hash a chunk twice). */
foundry_err fdy_blobs_put_trusted(fdy_blobs_t *self, const uint8_t hash[FDY_BLOB_HASH_LEN],
                                  const void *data, size_t len, bool sync,
                                  fdy_reason_t *reason);

/* Makes every put since the last sync durable (fdatasync of each file
 * written, then of the directories). FOUNDRY_OK, FOUNDRY_ENOSPC or
 * FOUNDRY_EIO; a blob whose fsync failed is removed (it may not hold its
 * bytes after a crash), so the caller sends it again. */
foundry_err fdy_blobs_sync(fdy_blobs_t *self, fdy_reason_t *reason);

/* Reads the whole blob into buf (capacity cap); *len_out its length.
 * FOUNDRY_ENOTFOUND, FOUNDRY_ETOOBIG (longer than cap) or FOUNDRY_EIO.
 * Does not re-hash: callers that do not trust the disk verify. */
foundry_err fdy_blobs_read(const fdy_blobs_t *self, const uint8_t hash[FDY_BLOB_HASH_LEN],
                           void *buf, size_t cap, size_t *len_out, fdy_reason_t *reason);

/* Opens the blob for reading (O_RDONLY | O_CLOEXEC); caller closes.
 * FOUNDRY_ENOTFOUND or FOUNDRY_EIO. */
foundry_err fdy_blobs_open_fd(const fdy_blobs_t *self, const uint8_t hash[FDY_BLOB_HASH_LEN],
                              int *fd_out, fdy_reason_t *reason);

/* Removes a blob (absent: FOUNDRY_OK). */
foundry_err fdy_blobs_remove(fdy_blobs_t *self, const uint8_t hash[FDY_BLOB_HASH_LEN],
                             fdy_reason_t *reason);

/* Calls fn for every stored blob whose mtime is older than older_than_s
 * seconds (the garbage collector decides with keep()): a blob for which
 * keep returns false is removed. Leftover temporary files of a crashed
 * put are removed too. *removed_out (may be NULL) counts removals, bytes
 * too. Bounded by max_visit files per call (0: no bound) so a loop can
 * call it from tick(). Returns FOUNDRY_OK or FOUNDRY_EIO. */
typedef bool(fdy_blobs_keep_fn)(const uint8_t hash[FDY_BLOB_HASH_LEN], void *user);
foundry_err fdy_blobs_gc(fdy_blobs_t *self, int64_t older_than_s, fdy_blobs_keep_fn *keep,
                         void *user, size_t max_visit, uint64_t *removed_out,
                         uint64_t *bytes_out, fdy_reason_t *reason);

/* Writes the 64-char lower-case hex of hash plus NUL to out. */
void fdy_blobs_hex(const uint8_t hash[FDY_BLOB_HASH_LEN], char out[2 * FDY_BLOB_HASH_LEN + 1]);
/* Parses 64 hex chars. FOUNDRY_OK or FOUNDRY_EINVAL. */
foundry_err fdy_blobs_parse_hex(const char *hex, uint8_t out[FDY_BLOB_HASH_LEN]);

#endif
