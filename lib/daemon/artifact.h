/*  artifact.h: how an artifact (a model file of any size) is cut into
 *  chunks and named. Chunk i is bytes [i*chunk_size, min(size,
 *  (i+1)*chunk_size)); its hash is BLAKE2b-256 of its bytes. The artifact
 *  id is BLAKE2b-256 over a fixed header and the chunk hashes:
 *      "foundry-artifact-v1" || u64le(size) || u32le(chunk_size) || h0 || h1 ...
 *  so every byte is hashed exactly once (for its chunk) and the id still
 *  names the content. Used by foundryctl (push), the broker (upload
 *  check) and the agent (download check).
 */
#ifndef FDY_ARTIFACT_H_INCLUDED
#define FDY_ARTIFACT_H_INCLUDED

#include "codec.h"
#include "reason.h"

#include <stddef.h>
#include <stdint.h>

#define FDY_ARTIFACT_HASH_LEN 32u

/* Number of chunks of an artifact of size bytes (0 bytes: 0 chunks). */
size_t fdy_artifact_chunk_count(uint64_t size, uint32_t chunk_size);
/* Length of chunk index. */
size_t fdy_artifact_chunk_len(uint64_t size, uint32_t chunk_size, size_t index);

/* BLAKE2b-256 of one chunk. */
void fdy_artifact_hash_chunk(const void *data, size_t len, uint8_t out[FDY_ARTIFACT_HASH_LEN]);

/* The artifact id from its size, chunk size and chunk hashes
 * (chunk_count * 32 bytes). */
void fdy_artifact_id(uint64_t size, uint32_t chunk_size, const uint8_t *chunk_hashes,
                     size_t chunk_count, uint8_t out[FDY_ARTIFACT_HASH_LEN]);

/* A streamed push's id (docs/models.md "Streamed push"): what a push knows
 * before it has hashed the whole file, from the size, chunk size and the
 * hash of chunk 0, so running the same push again finds its stream. */
void fdy_artifact_stream_id(uint64_t size, uint32_t chunk_size,
                            const uint8_t first[FDY_ARTIFACT_HASH_LEN],
                            uint8_t out[FDY_ARTIFACT_HASH_LEN]);

/* Reads the file at path once, hashing each chunk. Returns FOUNDRY_OK with
 * *size_out, *hashes_out (malloc'd chunk_count * 32 bytes, caller frees),
 * *count_out and id; FOUNDRY_EIO (unreadable, names path),
 * FOUNDRY_EINVAL (chunk_size out of FDY_MODEL_CHUNK_MIN..MAX),
 * FOUNDRY_ETOOBIG (more than FDY_MODEL_CHUNKS_MAX chunks) or
 * FOUNDRY_ENOMEM. progress
 * (may be NULL) is called after each chunk with bytes done so far. */
typedef void(fdy_artifact_progress_fn)(uint64_t done, uint64_t total, void *user);
foundry_err fdy_artifact_hash_file(const char *path, uint32_t chunk_size, uint64_t *size_out,
                                   uint8_t **hashes_out, size_t *count_out,
                                   uint8_t id_out[FDY_ARTIFACT_HASH_LEN],
                                   fdy_artifact_progress_fn *progress, void *user,
                                   fdy_reason_t *reason);

#endif
