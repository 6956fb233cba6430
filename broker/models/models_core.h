/*  models_core.h: the state the models service's modules share (private to
 *  broker/models/): trust policies, every model's accepted manifests and
 *  release log, uploads in progress, the chunk references that decide
 *  which blobs are kept, watching nodes, and what the turn's commit must
 *  write and then answer. models.c is the service (requests, commit),
 *  model_upload.c uploads and the blob collector, model_publish.c the
 *  publish checks and the release log, model_nodes.c what nodes do
 *  (fetch, watch, report, notices), models_admin.c the model.* commands.
 */
#ifndef FDY_MODELS_CORE_H_INCLUDED
#define FDY_MODELS_CORE_H_INCLUDED

#include "codec_models.h"
#include "model_blobs.h"
#include "model_sign.h"
#include "models.h"
#include "service.h"
#include "store_models.h"
#include "traffic.h"

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#define FDY_MODELS_PEER_MAX 256

/* One accepted manifest: the SignedManifest as accepted and its decoded
 * form (borrowing from signed_bytes and arena). */
typedef struct {
    uint8_t *signed_bytes;
    size_t signed_len;
    fdy_arena_t *arena;
    fdy_model_signed_t signed_manifest;
    fdy_model_manifest_t manifest;
    uint64_t log_index; /* its release-log entry */
} fdy_model_accepted_t;

/* One release-log entry: the SignedReleaseEntry's bytes, and what the
 * service reads of it. */
typedef struct {
    uint8_t *bytes; /* encoded SignedReleaseEntry */
    size_t len;
    uint8_t *entry; /* encoded ReleaseEntry (what is signed and hashed) */
    size_t entry_len;
    uint8_t sig[FDY_MODEL_SIG_LEN];
    uint64_t version;
    bool rollback;
    uint64_t time_ms;
    uint8_t manifest_hash[FDY_MODEL_HASH_LEN];
} fdy_model_log_entry_t;

/* A model name: its log (entries[i] is index i + 1) and the manifest each
 * entry released (accepted[i] likewise). */
typedef struct {
    char name[FDY_MODEL_NAME_MAX + 1];
    fdy_model_log_entry_t *entries;
    fdy_model_accepted_t **accepted;
    size_t count, capacity;
    uint8_t head_hash[FDY_MODEL_HASH_LEN]; /* of the last entry; zeros when none */
    uint64_t max_version;                  /* highest version ever accepted */
    uint64_t release_version;              /* highest version / rollback release_version */
} fdy_model_t;

/* An upload in progress (or durable and waiting for its publish). */
typedef struct {
    uint8_t id[FDY_MODEL_HASH_LEN];
    uint64_t size;
    uint32_t chunk_size;
    size_t chunk_count;
    uint8_t *hashes; /* chunk_count * 32 */
    uint8_t *have;   /* durable bits: chunk i is stored and fsynced */
    size_t have_len;
    size_t held;                     /* bits set */
    uint64_t created_ms, touched_ms; /* wall clock */
    bool durable;                    /* its record is committed */
    bool dirty;                      /* its record must be written by the next commit */
    bool removed;                    /* the next commit deletes it, then it is freed */
    bool stream;                     /* a streamed push's (model_stream.c): keyed by its stream
                                      * id; hashes[i] means something only while bit i is held */
} fdy_model_upload_t;

/* A node key that WATCHes. */
typedef struct {
    char name[FDY_NAME_MAX];
    char site[FDY_NAME_MAX];
    uint8_t peer[FDY_MODELS_PEER_MAX];
    size_t peer_len;
    bool connected;
    zhashx_t *log_index; /* model name -> (uintptr) last log index it verified */
} fdy_model_node_t;

typedef enum {
    FDY_MODELS_PARK_BEGIN,
    FDY_MODELS_PARK_CHUNK,
    FDY_MODELS_PARK_PUBLISH,
} fdy_models_park_kind_t;

/* A reply that waits for the turn's commit. */
typedef struct {
    fdy_models_park_kind_t kind;
    uint8_t peer[FDY_MODELS_PEER_MAX];
    size_t peer_len;
    uint64_t request_id;
    uint8_t upload[FDY_MODEL_HASH_LEN]; /* BEGIN, CHUNK */
    uint32_t index;                     /* CHUNK: chunk; PUBLISH: log index */
    bool created;                       /* BEGIN made the upload; PUBLISH appended */
    bool newly_held;                    /* CHUNK set a bit (undone if the commit fails) */
    bool first_known;                   /* stream BEGIN: chunk 0 is held for another artifact */
    uint8_t hash[FDY_MODEL_HASH_LEN];   /* CHUNK: the chunk's hash, recorded at the commit */
    fdy_model_t *model;                 /* PUBLISH */
    uint64_t version;                   /* PUBLISH */
} fdy_models_parked_t;

/* A record the next commit writes (publishes); buffers owned. */
typedef struct {
    fdy_store_model_db_t db;
    uint8_t key[FDY_STORE_MODEL_KEY_MAX];
    size_t key_len;
    uint8_t *value; /* owned; NULL removes */
    size_t len;
} fdy_models_staged_t;

struct fdy_models {
    fdy_service_deps_t deps;
    fdy_blobs_t *blobs;
    fdy_sign_key_t *release_key;
    uint8_t release_public[FDY_MODEL_KEY_LEN];
    zhashx_t *trust;   /* name -> fdy_trust_policy_t* (owned) */
    zhashx_t *models;  /* name -> fdy_model_t* (owned) */
    zhashx_t *uploads; /* hex id -> fdy_model_upload_t* (owned) */
    zhashx_t *chunks;  /* hex hash -> fdy_model_chunk_ref_t* (owned): durable references */
    zhashx_t *nodes;   /* key name -> fdy_model_node_t* (owned) */
    fdy_models_hooks_t hooks;
    fdy_arena_t *arena; /* request decoding */
    /* The turn: parked replies, staged publish records, whether blobs were
     * written since the last fdy_blobs_sync. */
    fdy_models_parked_t *parked;
    size_t parked_count, parked_capacity, parked_committing;
    fdy_models_staged_t *staged;
    size_t staged_count, staged_capacity;
    bool blobs_unsynced;
    /* The commit in flight. */
    fdy_store_model_write_t *writes;
    uint8_t **write_bufs;
    size_t write_count, write_capacity, buf_count;
    fdy_model_upload_t **written; /* uploads whose record is in writes */
    size_t written_count;
    fdy_store_models_t part;
    bool added;
    foundry_err sync_err;
    char sync_reason[256];
    int64_t gc_next_ms;
    fdy_labeled_t traffic; /* upload chunks in, download chunks out, by site */
    /* counters */
    uint64_t chunks_received, publishes, publishes_refused, uploads_expired, blobs_removed,
        manifest_count;
};

/* Bytes of the durable chunks (for stats) and how many reference each. */
typedef struct {
    uint64_t refs;
    uint64_t len;
} fdy_model_chunk_ref_t;

/* ---- models.c ---- */
uint64_t fdy_models_wall_ms(void);
/* Parks a reply until the turn's commit. Returns it (zeroed but for peer
 * and request id). */
fdy_models_parked_t *fdy_models_park(fdy_models_t *self, const fdy_request_t *req,
                                     fdy_models_park_kind_t kind);
/* Sends a MODEL_REPLY (and, with frame, one body frame taken as by
 * fdy_reply_send_frame). */
void fdy_models_send_reply(fdy_models_t *self, const fdy_peer_t *to, uint64_t request_id,
                           const fdy_model_reply_t *reply, uint8_t *frame, size_t frame_len);
/* True when who may upload and publish name (NULL: any name it holds a
 * grant for). */
bool fdy_models_granted(const fdy_principal_t *who, const char *name);
/* The model name's state, created when create is true (else NULL). */
fdy_model_t *fdy_models_model(fdy_models_t *self, const char *name, bool create);
/* The newest accepted manifest of name whose version is version, or NULL. */
fdy_model_accepted_t *fdy_models_accepted(fdy_models_t *self, const char *name, uint64_t version);

/* ---- model_upload.c ---- */
foundry_err fdy_model_upload_begin(fdy_models_t *self, const fdy_request_t *req,
                                   const fdy_model_request_t *mr, fdy_reason_t *reason);
foundry_err fdy_model_upload_chunk(fdy_models_t *self, const fdy_request_t *req,
                                   const fdy_model_request_t *mr, fdy_reason_t *reason);
fdy_model_upload_t *fdy_model_upload_find(fdy_models_t *self, const uint8_t id[32]);
/* A new upload record in memory, nothing held; hashes NULL: all zero (a
 * stream's). Caller owns it until fdy_model_upload_insert(). */
fdy_model_upload_t *fdy_model_upload_new(const uint8_t id[32], uint64_t size, uint32_t chunk_size,
                                         const uint8_t *hashes, size_t chunk_count);
/* Takes ownership: the upload is in self->uploads under its id. */
void fdy_model_upload_insert(fdy_models_t *self, fdy_model_upload_t *up);
/* FOUNDRY_ENOSPC (reason says how much) when the blob disk cannot take
 * the chunks up does not hold. */
foundry_err fdy_model_upload_disk_check(fdy_models_t *self, const fdy_model_upload_t *up,
                                        fdy_reason_t *reason);
/* True when some durable record (an upload's held bit, an accepted
 * manifest) names the chunk: its blob is fsynced and trusted. */
bool fdy_model_chunk_referenced(fdy_models_t *self, const uint8_t hash[32]);
/* A chunk's bytes (req's frame 2) for slot index of up: length checked,
 * hashed and stored unless held or stored already, then parked until the
 * turn's commit holds it. streamed picks the stream's refusal texts. */
foundry_err fdy_model_upload_take(fdy_models_t *self, const fdy_request_t *req,
                                  fdy_model_upload_t *up, uint32_t index, const uint8_t hash[32],
                                  bool streamed, fdy_reason_t *reason);
/* Writes a chunk that no durable record names yet as an unsynced blob
 * (the turn's commit fsyncs it). bytes were checked against hash. */
foundry_err fdy_model_upload_store(fdy_models_t *self, const uint8_t hash[32], uint32_t index,
                                   const fdy_slice_t *bytes, fdy_reason_t *reason);
/* Adds (delta 1) or drops (delta -1) a durable reference to a chunk. */
void fdy_model_chunk_ref(fdy_models_t *self, const uint8_t hash[32], uint64_t len, int delta);
/* Loads an upload record at start. */
foundry_err fdy_model_upload_load(fdy_models_t *self, const uint8_t *key, size_t key_len,
                                  const uint8_t *value, size_t len, fdy_reason_t *reason);
/* Expires idle uploads and collects unreferenced blobs, bounded. */
int64_t fdy_model_upload_tick(fdy_models_t *self, int64_t now_ms);
void fdy_model_upload_free(fdy_model_upload_t **self_p);

/* ---- model_stream.c: a push that sends chunks while it hashes them ---- */
foundry_err fdy_model_stream_begin(fdy_models_t *self, const fdy_request_t *req,
                                   const fdy_model_request_t *mr, fdy_reason_t *reason);
foundry_err fdy_model_stream_chunk(fdy_models_t *self, const fdy_request_t *req,
                                   const fdy_model_request_t *mr, fdy_reason_t *reason);

/* ---- model_publish.c ---- */
foundry_err fdy_model_publish(fdy_models_t *self, const fdy_request_t *req,
                              const fdy_model_request_t *mr, fdy_reason_t *reason);
/* Appends an accepted manifest and its entry to model (load and publish). */
void fdy_model_append(fdy_model_t *model, fdy_model_accepted_t *accepted,
                      fdy_model_log_entry_t *entry);
/* Undoes the last append (a publish whose commit failed; with counted
 * false, a record dropped at load before references were counted). */
void fdy_model_pop(fdy_models_t *self, fdy_model_t *model, bool counted);
/* Decodes a stored manifest / entry (load). */
foundry_err fdy_model_accepted_new(const uint8_t *signed_bytes, size_t len, uint64_t log_index,
                                   fdy_model_accepted_t **out, fdy_reason_t *reason);
foundry_err fdy_model_entry_init(const uint8_t *bytes, size_t len, fdy_model_log_entry_t *out,
                                 fdy_reason_t *reason);
void fdy_model_accepted_destroy(fdy_model_accepted_t **self_p);
void fdy_model_destroy(fdy_model_t **self_p);

/* ---- model_nodes.c ---- */
foundry_err fdy_model_fetch(fdy_models_t *self, const fdy_request_t *req,
                            const fdy_model_request_t *mr, fdy_reason_t *reason);
foundry_err fdy_model_watch(fdy_models_t *self, const fdy_request_t *req,
                            const fdy_model_request_t *mr, fdy_reason_t *reason);
foundry_err fdy_model_report(fdy_models_t *self, const fdy_request_t *req,
                             const fdy_model_request_t *mr, fdy_reason_t *reason);
foundry_err fdy_model_log(fdy_models_t *self, const fdy_request_t *req,
                          const fdy_model_request_t *mr, fdy_reason_t *reason);
void fdy_model_nodes_gone(fdy_models_t *self, const fdy_peer_t *peer);
void fdy_model_node_destroy(fdy_model_node_t **self_p);
/* True when a manifest targets site (no sites: every one). */
bool fdy_model_targets_site(const fdy_model_manifest_t *m, const char *site);

/* ---- models_admin.c ---- */
extern const char *const fdy_models_admin_prefixes[];
foundry_err fdy_models_admin(void *self, const fdy_admin_call_t *call, fdy_admin_table_t *out,
                             fdy_reason_t *reason);
/* Loads a trust record at start. */
foundry_err fdy_models_trust_load(fdy_models_t *self, const uint8_t *key, size_t key_len,
                                  const uint8_t *value, size_t len, fdy_reason_t *reason);
/* name's policy, else "*"'s, else NULL. */
const fdy_trust_policy_t *fdy_models_trust_find(fdy_models_t *self, const char *name);

#endif
