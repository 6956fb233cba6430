/*  artifact.c: cutting an artifact into chunks and naming it (artifact.h).
 *  Pure arithmetic and hashing over bytes or one file read once; storing
 *  chunks is model_blobs.c's, and what a manifest may say is the codec's.
 */
#include "artifact.h"

#include "codec_models.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ARTIFACT_DOMAIN "foundry-artifact-v1"
#define STREAM_DOMAIN   "foundry-stream-v1"

size_t
fdy_artifact_chunk_count(uint64_t size, uint32_t chunk_size)
{
    if (size == 0 || chunk_size == 0)
        return 0;
    uint64_t count = (size - 1) / chunk_size + 1;
    return count > SIZE_MAX ? SIZE_MAX : (size_t) count;
}

size_t
fdy_artifact_chunk_len(uint64_t size, uint32_t chunk_size, size_t index)
{
    if (chunk_size == 0)
        return 0;
    uint64_t start = (uint64_t) index * chunk_size;
    if (index > UINT64_MAX / chunk_size || start >= size)
        return 0;
    uint64_t left = size - start;
    return left < chunk_size ? (size_t) left : chunk_size;
}

void
fdy_artifact_hash_chunk(const void *data, size_t len, uint8_t out[FDY_ARTIFACT_HASH_LEN])
{
    crypto_generichash(out, FDY_ARTIFACT_HASH_LEN, data, len, NULL, 0);
}

/* BLAKE2b over domain, u64le size, u32le chunk size, then the hashes. */
static void
s_named(const char *domain, uint64_t size, uint32_t chunk_size, const uint8_t *chunk_hashes,
        size_t chunk_count, uint8_t out[FDY_ARTIFACT_HASH_LEN])
{
    size_t domain_len = strlen(domain);
    uint8_t header[32 + 8 + 4];
    memcpy(header, domain, domain_len);
    uint8_t *p = header + domain_len;
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t) (size >> (8 * i));
    for (int i = 0; i < 4; i++)
        p[8 + i] = (uint8_t) (chunk_size >> (8 * i));
    crypto_generichash_state state;
    crypto_generichash_init(&state, NULL, 0, FDY_ARTIFACT_HASH_LEN);
    crypto_generichash_update(&state, header, domain_len + 8 + 4);
    if (chunk_count > 0)
        crypto_generichash_update(&state, chunk_hashes,
                                  (unsigned long long) chunk_count * FDY_ARTIFACT_HASH_LEN);
    crypto_generichash_final(&state, out, FDY_ARTIFACT_HASH_LEN);
}

void
fdy_artifact_id(uint64_t size, uint32_t chunk_size, const uint8_t *chunk_hashes, size_t chunk_count,
                uint8_t out[FDY_ARTIFACT_HASH_LEN])
{
    s_named(ARTIFACT_DOMAIN, size, chunk_size, chunk_hashes, chunk_count, out);
}

void
fdy_artifact_stream_id(uint64_t size, uint32_t chunk_size,
                       const uint8_t first[FDY_ARTIFACT_HASH_LEN],
                       uint8_t out[FDY_ARTIFACT_HASH_LEN])
{
    s_named(STREAM_DOMAIN, size, chunk_size, first, 1, out);
}

/* Fills buf with up to len bytes, short only at the end of the file. */
static ssize_t
s_read_full(int fd, uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t) n;
    }
    return (ssize_t) got;
}

foundry_err
fdy_artifact_hash_file(const char *path, uint32_t chunk_size, uint64_t *size_out,
                       uint8_t **hashes_out, size_t *count_out,
                       uint8_t id_out[FDY_ARTIFACT_HASH_LEN], fdy_artifact_progress_fn *progress,
                       void *user, fdy_reason_t *reason)
{
    *size_out = 0;
    *hashes_out = NULL;
    *count_out = 0;
    if (chunk_size < FDY_MODEL_CHUNK_MIN || chunk_size > FDY_MODEL_CHUNK_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "chunk size %" PRIu32 " is outside %u..%u",
                              chunk_size, FDY_MODEL_CHUNK_MIN, FDY_MODEL_CHUNK_MAX);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "cannot open %s: %s", path, strerror(errno));
    foundry_err err = FOUNDRY_OK;
    uint8_t *buf = NULL;
    uint8_t *hashes = NULL;
    size_t count = 0;
    uint64_t size = 0;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        err = fdy_reason_set(reason, FOUNDRY_EIO, "%s is not a readable regular file", path);
        goto out;
    }
    /* Sized from fstat, grown if the file grows while we read it: what is
     * hashed is what was read, never what stat said. */
    uint64_t total = (uint64_t) st.st_size;
    size_t cap = fdy_artifact_chunk_count(total, chunk_size);
    if (cap > FDY_MODEL_CHUNKS_MAX) {
        err = fdy_reason_set(reason, FOUNDRY_ETOOBIG,
                             "%s: %" PRIu64 " bytes in chunks of %" PRIu32
                             " make more than %u chunks; use a larger chunk size",
                             path, total, chunk_size, FDY_MODEL_CHUNKS_MAX);
        goto out;
    }
    cap = cap ? cap : 1;
    buf = malloc(chunk_size);
    hashes = malloc(cap * FDY_ARTIFACT_HASH_LEN);
    if (!buf || !hashes) {
        err = fdy_reason_set(reason, FOUNDRY_ENOMEM, "hashing %s: out of memory", path);
        goto out;
    }
    for (;;) {
        ssize_t n = s_read_full(fd, buf, chunk_size);
        if (n < 0) {
            err = fdy_reason_set(reason, FOUNDRY_EIO, "cannot read %s: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        if (count == FDY_MODEL_CHUNKS_MAX) {
            err = fdy_reason_set(reason, FOUNDRY_ETOOBIG, "%s grew past %u chunks", path,
                                 FDY_MODEL_CHUNKS_MAX);
            goto out;
        }
        if (count == cap) {
            size_t grown_cap = cap * 2 > FDY_MODEL_CHUNKS_MAX ? FDY_MODEL_CHUNKS_MAX : cap * 2;
            uint8_t *grown = realloc(hashes, grown_cap * FDY_ARTIFACT_HASH_LEN);
            if (!grown) {
                err = fdy_reason_set(reason, FOUNDRY_ENOMEM, "hashing %s: out of memory", path);
                goto out;
            }
            hashes = grown;
            cap = grown_cap;
        }
        fdy_artifact_hash_chunk(buf, (size_t) n, hashes + count * FDY_ARTIFACT_HASH_LEN);
        count++;
        size += (uint64_t) n;
        if (progress)
            progress(size, total > size ? total : size, user);
        if ((size_t) n < chunk_size)
            break;
    }
    fdy_artifact_id(size, chunk_size, hashes, count, id_out);
    *size_out = size;
    *count_out = count;
    *hashes_out = hashes;
    hashes = NULL;
out:
    free(buf);
    free(hashes);
    close(fd);
    return err;
}
