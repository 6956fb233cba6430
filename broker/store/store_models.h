/*  store_models.h: the models table, four databases of the models service
 *  (broker/models/): trust policies (by model name), accepted manifests and
 *  release-log entries (by name and log index, so a rollback that
 *  re-releases a version is its own record), and uploads in progress (by
 *  artifact id, with the chunk hashes and the bitmap of chunks held). The
 *  record formats of the trust and upload records are here; manifests and
 *  entries are stored as the exact protobuf bytes that were signed. Writes
 *  travel as fdy_store_models_part in the turn's commit, or (admin
 *  commands) in a transaction of their own.
 */
#ifndef FDY_STORE_MODELS_H_INCLUDED
#define FDY_STORE_MODELS_H_INCLUDED

#include "commit.h"
#include "model_sign.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    FDY_STORE_MODEL_TRUST = 0,     /* key: name ("*" too); value: trust record */
    FDY_STORE_MODEL_MANIFESTS = 1, /* key: log key; value: SignedManifest bytes */
    FDY_STORE_MODEL_LOG = 2,       /* key: log key; value: SignedReleaseEntry bytes */
    FDY_STORE_MODEL_UPLOADS = 3,   /* key: artifact id (32 bytes); value: upload record */
} fdy_store_model_db_t;

/* A log key: the model name, one zero byte, the log index big-endian (so
 * LMDB order is name, then index). */
#define FDY_STORE_MODEL_KEY_MAX (FDY_MODEL_NAME_MAX + 1 + 8)
size_t fdy_store_model_log_key(const char *name, uint64_t index,
                               uint8_t out[FDY_STORE_MODEL_KEY_MAX]);
/* Splits a log key: FOUNDRY_OK with name (NUL-terminated) and *index_out,
 * or FOUNDRY_ECORRUPT naming what is wrong. */
foundry_err fdy_store_model_log_key_parse(const uint8_t *key, size_t len,
                                          char name[FDY_MODEL_NAME_MAX + 1], uint64_t *index_out,
                                          fdy_reason_t *reason);

/* The trust record: u8 format (1), u32le threshold, u32le key count, the
 * keys (32 bytes each). Caller owns *buf_out (free()). */
foundry_err fdy_store_model_trust_encode(const fdy_trust_policy_t *policy, uint8_t **buf_out,
                                         size_t *len_out, fdy_reason_t *reason);
/* FOUNDRY_OK, or FOUNDRY_ECORRUPT naming what is wrong. The name is
 * copied from name. */
foundry_err fdy_store_model_trust_decode(const char *name, const uint8_t *buf, size_t len,
                                         fdy_trust_policy_t *out, fdy_reason_t *reason);

/* An upload in progress, as stored. Pointers borrow from the record (or,
 * when encoding, from the caller). */
typedef struct {
    uint64_t size;
    uint32_t chunk_size;
    uint64_t created_ms; /* wall clock */
    uint64_t touched_ms; /* wall clock: the last BEGIN or chunk */
    size_t chunk_count;
    const uint8_t *chunk_hashes; /* chunk_count * 32 */
    const uint8_t *have;         /* (chunk_count + 7) / 8 bytes, bit i = chunk i held */
    bool stream;                 /* a streamed push's: keyed by its stream id, and only the
                                  * hashes of held chunks mean anything */
} fdy_store_model_upload_t;

/* The upload record: u8 format (1; 2 for a stream), u64le size, u32le chunk_size, u64le
 * created, u64le touched, u32le chunk count, the hashes, the bitmap.
 * Caller owns *buf_out. */
foundry_err fdy_store_model_upload_encode(const fdy_store_model_upload_t *up, uint8_t **buf_out,
                                          size_t *len_out, fdy_reason_t *reason);
/* FOUNDRY_OK, or FOUNDRY_ECORRUPT (short, wrong format, chunk count that
 * does not match size and chunk size). */
foundry_err fdy_store_model_upload_decode(const uint8_t *buf, size_t len,
                                          fdy_store_model_upload_t *out, fdy_reason_t *reason);
/* FOUNDRY_OK when key (32 bytes) is the record's id: the artifact id of
 * its hashes, or for a stream the stream id of its size, chunk size and
 * chunk 0 (when held); else FOUNDRY_ECORRUPT. */
foundry_err fdy_store_model_upload_check_id(const fdy_store_model_upload_t *up,
                                            const uint8_t key[32], fdy_reason_t *reason);

/* One write: value NULL (len 0) removes the record. */
typedef struct {
    fdy_store_model_db_t db;
    const uint8_t *key; /* borrowed until the commit is done with */
    size_t key_len;
    const uint8_t *value;
    size_t len;
} fdy_store_model_write_t;

/* data of fdy_store_models_part. Not droppable: a chunk, an upload or a
 * publish is acknowledged only once stored. */
typedef struct {
    const fdy_store_model_write_t *items;
    size_t count;
} fdy_store_models_t;
extern const fdy_commit_part_t fdy_store_models_part;

/* The same writes in a synchronous transaction of their own (admin
 * commands, which run outside the turn's commit). FOUNDRY_OK, FOUNDRY_EFULL
 * or FOUNDRY_ESTORE, with reason. */
foundry_err fdy_store_models_write(fdy_store_t *store, const fdy_store_models_t *writes,
                                   fdy_reason_t *reason);

/* One stored record, borrowed for the call only. Return non-OK to stop. */
typedef foundry_err(fdy_store_model_fn)(const uint8_t *key, size_t key_len, const uint8_t *value,
                                        size_t len, void *user, fdy_reason_t *reason);

/* Calls fn for every record of db in key order, in one read transaction.
 * Returns FOUNDRY_OK, FOUNDRY_ESTORE or what fn returned. */
foundry_err fdy_store_models_scan(fdy_store_t *store, fdy_store_model_db_t db,
                                  fdy_store_model_fn *fn, void *user, fdy_reason_t *reason);

#endif
