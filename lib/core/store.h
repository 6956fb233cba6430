/*  store.h: the durable store, one LMDB environment in a data directory.
 *  Holds streams (messages by stream id and sequence), the dedupe index of
 *  producer message ids, the key store, and metadata. Not thread-safe: one
 *  thread owns a store (other processes may open the same directory, as
 *  LMDB allows, e.g. foundryctl's offline bootstrap).
 *
 *  Durability: every write transaction is committed with LMDB's default
 *  synchronous flags; a function that returns FOUNDRY_OK after writing has
 *  fsynced. Callers acknowledge only after that.
 *  Integrity: every message record carries a CRC-32C checked on read, and a
 *  stream's sequences are gap-free; a read that finds either problem
 *  returns FOUNDRY_ECORRUPT and serves nothing past it.
 *  Layout and record formats: docs/architecture.md.
 */
#ifndef FDY_STORE_H_INCLUDED
#define FDY_STORE_H_INCLUDED

#include "reason.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct fdy_store fdy_store_t;

typedef struct {
    const char *dir;           /* data directory; created (0700) if missing */
    uint64_t map_size;         /* initial LMDB map size, bytes */
    uint64_t map_size_max;     /* the map grows (doubling) up to this */
    uint64_t dedupe_window_ms; /* producer ids are remembered this long */
    bool read_only;            /* open for reading only (no growth, no writes) */
} fdy_store_opts_t;

/* Opens (creating if needed) the store. Clears stale reader slots.
 * Returns FOUNDRY_OK and *out (caller owns; fdy_store_close()), FOUNDRY_EIO
 * (directory), FOUNDRY_ESTORE (LMDB; reason has mdb_strerror), FOUNDRY_ECORRUPT
 * (metadata unreadable) or FOUNDRY_EINVAL, with reason. */
foundry_err fdy_store_open(const fdy_store_opts_t *opts, fdy_store_t **out, fdy_reason_t *reason);
void fdy_store_close(fdy_store_t **self_p);

/* ---- streams -------------------------------------------------------- */

#define FDY_STREAM_FILTERS_MAX 16

typedef struct {
    char name[FOUNDRY_STREAM_NAME_MAX + 1];
    uint32_t id;
    char *filters[FDY_STREAM_FILTERS_MAX]; /* malloc'd subject filters */
    size_t filter_count;
    uint64_t first_seq; /* 0 when empty */
    uint64_t last_seq;  /* 0 when nothing was ever stored */
    uint64_t messages;
    uint64_t bytes;
    uint64_t created_ns;
} fdy_stream_info_t;

/* Creates a stream capturing subjects that match any of the filters.
 * Name: [A-Za-z0-9_-]+, at most FOUNDRY_STREAM_NAME_MAX bytes.
 * Returns FOUNDRY_OK, FOUNDRY_EEXIST, FOUNDRY_EINVAL (name, filters),
 * FOUNDRY_EFULL or FOUNDRY_ESTORE, with reason. */
foundry_err fdy_store_stream_create(fdy_store_t *self, const char *name,
                                    const char *const *filters, size_t filter_count,
                                    fdy_reason_t *reason);

/* Returns the id of the first stream (by creation order) with a filter
 * matching subject, in *stream_id_out, and its name (borrowed, valid until
 * the stream is deleted) in *name_out (may be NULL). FOUNDRY_ENOSTREAM if
 * none. Served from memory: cheap enough for every message. */
foundry_err fdy_store_stream_route(fdy_store_t *self, const char *subject,
                                   uint32_t *stream_id_out, const char **name_out);

/* Returns a snapshot of every stream. Caller owns *infos_out; free with
 * fdy_store_stream_infos_free(). */
foundry_err fdy_store_stream_list(fdy_store_t *self, fdy_stream_info_t **infos_out,
                                  size_t *count_out);
void fdy_store_stream_infos_free(fdy_stream_info_t **infos_p, size_t count);

/* Name of a stream by id (borrowed), or NULL. */
const char *fdy_store_stream_name(fdy_store_t *self, uint32_t stream_id);

/* ---- appending (group commit) --------------------------------------- */

typedef struct {
    /* in */
    uint32_t stream_id;
    const uint8_t *msg_id;
    size_t msg_id_len;
    const char *publisher;   /* principal name, stored with the record */
    const uint8_t *data;     /* the encoded Message, stored as is */
    size_t data_len;
    const uint8_t *ext;      /* its external payload frame, or NULL */
    size_t ext_len;
    /* out */
    uint64_t seq;            /* the sequence it has in its stream */
    bool duplicate;          /* the id was in the dedupe window: not stored again */
} fdy_store_item_t;

/* Appends every item in ONE write transaction and ONE synchronous commit.
 * An item whose msg_id is in the dedupe index (also from earlier in this
 * call) gets the original seq and duplicate = true. On MDB_MAP_FULL the map
 * is doubled (up to map_size_max) and the whole call retried.
 * Returns FOUNDRY_OK (all items stored or deduplicated, durably),
 * FOUNDRY_EFULL (map_size_max reached: nothing stored), FOUNDRY_ENOTFOUND
 * (unknown stream id: nothing stored) or FOUNDRY_ESTORE, with reason. */
foundry_err fdy_store_append(fdy_store_t *self, fdy_store_item_t *items, size_t count,
                             fdy_reason_t *reason);

/* ---- reading -------------------------------------------------------- */

/* One stored record. Pointers are borrowed, valid only during the
 * callback (LMDB values die with their transaction). */
typedef struct {
    const char *stream;
    uint64_t seq;
    uint64_t stored_ns;
    const char *publisher;
    const uint8_t *msg_id;
    size_t msg_id_len;
    const uint8_t *data;
    size_t data_len;
    const uint8_t *ext;
    size_t ext_len;
} fdy_stored_t;

/* Returns FOUNDRY_OK to continue; anything else stops the read and is
 * returned by fdy_store_read(). */
typedef foundry_err(fdy_store_read_fn)(const fdy_stored_t *rec, void *user);

/* Calls fn for up to max_count records of stream, from max(from_seq,
 * first_seq) on, in sequence order, inside one short read transaction
 * (callers page through long ranges). Each record's checksum and the
 * sequence continuity are verified before fn sees it.
 * Returns FOUNDRY_OK, FOUNDRY_ENOTFOUND (no such stream), FOUNDRY_ECORRUPT
 * (checksum mismatch or gap; reason names stream and seq), FOUNDRY_ESTORE,
 * or what fn returned. */
foundry_err fdy_store_read(fdy_store_t *self, const char *stream, uint64_t from_seq,
                           size_t max_count, fdy_store_read_fn *fn, void *user,
                           fdy_reason_t *reason);

/* ---- maintenance ---------------------------------------------------- */

/* Forgets dedupe ids older than the window, at most max_work of them per
 * call (bounded work per loop turn). *pruned_out (may be NULL) gets the
 * number removed. Returns FOUNDRY_OK, FOUNDRY_ESTORE or FOUNDRY_EFULL. */
foundry_err fdy_store_prune_dedupe(fdy_store_t *self, uint64_t now_ns, size_t max_work,
                                   size_t *pruned_out);

/* Clears stale reader slots (mdb_reader_check). */
void fdy_store_check_readers(fdy_store_t *self);

typedef struct {
    uint64_t map_size;      /* current LMDB map size */
    uint64_t map_size_max;
    uint64_t used_bytes;    /* pages in use * page size */
    uint64_t messages;      /* across streams */
    uint64_t streams;
    uint64_t dedupe_entries;
    uint64_t commits;       /* write transactions committed since open */
} fdy_store_stats_t;

foundry_err fdy_store_stats(fdy_store_t *self, fdy_store_stats_t *out);

/* ---- key store (opaque records, encoded by the registry) ------------- */

/* Writes (or replaces) the record of a key name and bumps the key
 * generation, in one synchronous transaction. Returns FOUNDRY_OK,
 * FOUNDRY_EFULL or FOUNDRY_ESTORE. */
foundry_err fdy_store_key_put(fdy_store_t *self, const char *name, const uint8_t *rec,
                              size_t len, fdy_reason_t *reason);

typedef foundry_err(fdy_store_key_fn)(const char *name, const uint8_t *rec, size_t len,
                                      void *user);

/* Calls fn for every key record, by name order, in one read transaction.
 * Returns FOUNDRY_OK, FOUNDRY_ESTORE or what fn returned. */
foundry_err fdy_store_key_list(fdy_store_t *self, fdy_store_key_fn *fn, void *user);

/* Returns the key generation: it changes whenever any process writes a key
 * record. 0 if never written. */
uint64_t fdy_store_key_generation(fdy_store_t *self);

#endif
